// devchild: a development child for versiond that follows Gonka's child contract
// (docs/versiond.md, "The development child").
//
//   devchild --port N --data-dir DIR        serve until SIGTERM
//   devchild --print-storage-mode           print `postgres` or `sqlite`, exit
//   devchild --make-variant OUT --label L [--mode M]
//                                           copy this binary to OUT with a trailer naming
//                                           label L (and mode M): a "different binary" for
//                                           the version oracle (another sha256)
//
// Identity: every response carries `X-Devchild-Version: <label>` and `X-Devchild-Sha256:
// <sha256 of the running executable>`, and every JSON body the same as "version"/"sha256"
// fields, so a test can prove which binary answered. The label comes from the trailer of the
// executable (`--make-variant`), else $DEVCHILD_VERSION, else "dev".
//
// Public port N: GET /healthz, GET /version[?delay_ms=M], POST
// /v1/escrows/<id>/requests[?delay_ms=M], GET /v1/escrows/<id>/stream?n=K&interval_ms=M (SSE: K
// events, then `event: end` and the stream closes), the same under /sessions/<id>/ (Gonka's session
// paths), GET /metrics. Admin (port N, or $DEVSHARD_ADMIN_ADDR = 127.0.0.1:<p>): GET /ready, POST
// /drain, GET /drain/status {"ready","draining","inflight"}.
//
// Modes (trailer, --mode or $DEVCHILD_MODE): `normal`, `never-ready` (/ready is always 503),
// `crash-at-start` (exits 3 before binding). Storage mode: `postgres` when --pg-url-file /
// $DEVCHILD_PG_URL_FILE is set (every served request is then recorded in Postgres), else
// $DEVCHILD_STORAGE_MODE (`postgres` claims shared storage without a server, for tests), else
// `sqlite`.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/base/secret_file.h"
#include "gonka/crypto/hash.h"
#include "gonka/net/http_server.h"
#include "gonka/pg/pg.h"

namespace {

using gonka::net::HttpRequest;
using gonka::net::HttpResponse;
using gonka::net::HttpServer;
using gonka::net::ResponseStream;

// The trailer `--make-variant` appends after the ELF image (the loader ignores trailing bytes).
constexpr absl::string_view kTrailerMagic = "\n#devchild-variant ";

std::string Env(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

int IntParam(const HttpRequest& req, absl::string_view name, int fallback) {
  int v = fallback;
  if (auto s = req.QueryParam(name)) {
    if (!absl::SimpleAtoi(*s, &v)) v = fallback;
  }
  return v;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

struct Identity {
  std::string label = "dev";
  std::string mode = "normal";
  std::string sha256;
};

// Label and mode from the executable's trailer ("label=v2 mode=never-ready"), if any.
Identity ReadIdentity(const std::string& image) {
  Identity id;
  id.sha256 = gonka::crypto::HexEncode(gonka::crypto::Sha256(image));
  const std::string env_label = Env("DEVCHILD_VERSION");
  if (!env_label.empty()) id.label = env_label;
  size_t at = absl::string_view(image).rfind(kTrailerMagic);
  if (at != std::string::npos && image.size() - at < 512) {
    absl::string_view rest = absl::string_view(image).substr(at + kTrailerMagic.size());
    rest = absl::StripTrailingAsciiWhitespace(rest);
    for (absl::string_view kv : absl::StrSplit(rest, ' ', absl::SkipEmpty())) {
      if (absl::ConsumePrefix(&kv, "label=")) id.label = std::string(kv);
      if (absl::ConsumePrefix(&kv, "mode=")) id.mode = std::string(kv);
    }
  }
  return id;
}

int MakeVariant(const std::string& self, const std::string& out, const std::string& label,
                const std::string& mode) {
  std::string image;
  if (!ReadFile(self, &image)) {
    std::fprintf(stderr, "devchild: cannot read %s\n", self.c_str());
    return 1;
  }
  // A variant of a variant replaces the trailer instead of stacking them.
  size_t at = absl::string_view(image).rfind(kTrailerMagic);
  if (at != std::string::npos && image.size() - at < 512) image.resize(at);
  absl::StrAppend(&image, kTrailerMagic, "label=", label, " mode=", mode, "\n");
  const std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(image.data(), static_cast<std::streamsize>(image.size()));
    if (!f) {
      std::fprintf(stderr, "devchild: cannot write %s\n", tmp.c_str());
      return 1;
    }
  }
  if (chmod(tmp.c_str(), 0755) != 0 || rename(tmp.c_str(), out.c_str()) != 0) {
    std::fprintf(stderr, "devchild: cannot install %s\n", out.c_str());
    return 1;
  }
  std::printf("%s\n", gonka::crypto::HexEncode(gonka::crypto::Sha256(image)).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int port = -1;
  std::string data_dir, pg_url_file = Env("DEVCHILD_PG_URL_FILE");
  std::string variant_out, variant_label, mode_flag;
  bool print_storage = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "devchild: a development child for versiond (Gonka's child contract)\n"
          "usage: devchild --port N --data-dir DIR [--pg-url-file F] [--mode M]\n"
          "       devchild --print-storage-mode\n"
          "       devchild --make-variant OUT --label L [--mode M]\n"
          "  --port N              public port (/healthz, escrow routes)\n"
          "  --data-dir DIR        the child's data directory\n"
          "  --pg-url-file F       record served requests in PostgreSQL (storage mode postgres)\n"
          "  --mode M              normal | never-ready | crash-at-start (also DEVCHILD_MODE)\n"
          "  --print-storage-mode  print postgres or sqlite (DEVCHILD_STORAGE_MODE) and exit\n"
          "  --make-variant OUT    write a copy of this binary with another label and sha256\n"
          "  --label L             the variant's label\n"
          "Admin /ready, POST /drain and /drain/status on DEVSHARD_ADMIN_ADDR when set.\n");
      return 0;
    }
    if (arg == "--print-storage-mode") {
      print_storage = true;
    } else if (arg == "--port" && value(&v)) {
      if (!absl::SimpleAtoi(v, &port)) port = -1;
    } else if (arg == "--data-dir" && value(&data_dir)) {
    } else if (arg == "--pg-url-file" && value(&pg_url_file)) {
    } else if (arg == "--mode" && value(&mode_flag)) {
    } else if (arg == "--make-variant" && value(&variant_out)) {
    } else if (arg == "--label" && value(&variant_label)) {
    } else {
      std::fprintf(stderr, "devchild: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  std::string storage = !pg_url_file.empty() ? "postgres" : Env("DEVCHILD_STORAGE_MODE", "sqlite");
  if (print_storage) {  // before reading our own image: the probe should be cheap
    std::printf("%s\n", storage.c_str());
    return 0;
  }
  std::string image;
  if (!ReadFile("/proc/self/exe", &image)) {
    std::fprintf(stderr, "devchild: cannot read /proc/self/exe\n");
    return 1;
  }
  Identity id = ReadIdentity(image);
  image.clear();
  image.shrink_to_fit();
  if (!variant_out.empty()) {
    if (variant_label.empty()) {
      std::fprintf(stderr, "devchild: --make-variant needs --label\n");
      return 2;
    }
    return MakeVariant("/proc/self/exe", variant_out, variant_label,
                       mode_flag.empty() ? "normal" : mode_flag);
  }
  if (!mode_flag.empty()) id.mode = mode_flag;
  if (std::string m = Env("DEVCHILD_MODE"); !m.empty()) id.mode = m;
  if (id.mode != "normal" && id.mode != "never-ready" && id.mode != "crash-at-start") {
    std::fprintf(stderr, "devchild: bad mode %s (normal|never-ready|crash-at-start)\n",
                 id.mode.c_str());
    return 2;
  }
  if (port < 0 || data_dir.empty()) {
    std::fprintf(stderr, "usage: devchild --port N --data-dir DIR\n");
    return 2;
  }
  if (id.mode == "crash-at-start") {
    std::fprintf(stderr, "devchild %s: crash-at-start\n", id.label.c_str());
    return 3;
  }

  // Block SIGTERM/SIGINT before any thread starts, so sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  // Postgres mode: every served escrow request is recorded (version, escrow, seq), so a test
  // can check afterwards which binary served what even when the children are gone.
  std::unique_ptr<gonka::pg::Pool> pg;
  if (!pg_url_file.empty()) {
    absl::StatusOr<std::string> url = gonka::ReadSecretFile(pg_url_file, "--pg-url-file");
    if (!url.ok()) {
      std::fprintf(stderr, "devchild: %s\n", url.status().ToString().c_str());
      return 2;
    }
    auto pool = gonka::pg::Pool::Open({.conninfo = std::string(absl::StripAsciiWhitespace(*url)),
                                       .application_name = "devchild"});
    if (!pool.ok()) {
      std::fprintf(stderr, "devchild: postgres: %s\n", pool.status().ToString().c_str());
      return 1;
    }
    pg = std::move(*pool);
    auto created = pg->Exec(
        "CREATE TABLE IF NOT EXISTS devchild_requests (id BIGSERIAL PRIMARY KEY, version TEXT "
        "NOT NULL, sha256 TEXT NOT NULL, escrow TEXT NOT NULL, seq BIGINT NOT NULL, "
        "served_at TIMESTAMPTZ NOT NULL DEFAULT now())");
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) {
      std::fprintf(stderr, "devchild: postgres: %s\n", created.status().ToString().c_str());
      return 1;
    }
  }

  const bool never_ready = id.mode == "never-ready";
  std::atomic<bool> draining{false};
  std::atomic<int> inflight{0};
  absl::Mutex mu;
  std::map<std::string, int64_t> escrow_requests;  // guarded by mu

  auto& served_family = prometheus::BuildCounter()
                            .Name("devchild_requests_total")
                            .Help("Requests served, by route")
                            .Register(gonka::metrics::Registry());
  prometheus::Counter& served_requests = served_family.Add({{"route", "requests"}});
  prometheus::Counter& served_streams = served_family.Add({{"route", "stream"}});

  HttpServer pub({.name = "devchild", .port = port, .threads = 1, .handler_threads = 16});
  std::unique_ptr<HttpServer> admin_server;
  HttpServer* admin = &pub;
  const std::string admin_addr = Env("DEVSHARD_ADMIN_ADDR");
  if (!admin_addr.empty()) {
    int admin_port = 0;
    size_t colon = admin_addr.rfind(':');
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(admin_addr.substr(colon + 1), &admin_port)) {
      std::fprintf(stderr, "devchild: bad DEVSHARD_ADMIN_ADDR %s\n", admin_addr.c_str());
      return 2;
    }
    admin_server = std::make_unique<HttpServer>(gonka::net::HttpServerOptions{
        .name = "devchild_admin", .bind_address = "127.0.0.1", .port = admin_port, .threads = 1});
    admin = admin_server.get();
  }
  const std::string pid = absl::StrCat(getpid());
  auto stamp = [&](HttpResponse res) {
    res.headers.Set("X-Devchild-Version", id.label);
    res.headers.Set("X-Devchild-Sha256", id.sha256);
    res.headers.Set("X-Devchild-Pid", pid);
    return res;
  };
  auto base_json = [&](gonka::JsonWriter& w) {
    w.BeginObject().Key("version").String(id.label).Key("sha256").String(id.sha256);
    w.Key("pid").Int(getpid());
  };

  // Every public request counts as in flight until its response (or stream) ends.
  pub.SetAdmission([&]() -> std::shared_ptr<void> {
    if (draining.load()) return nullptr;
    inflight.fetch_add(1);
    return std::shared_ptr<void>(new int(0), [&](void* p) {
      delete static_cast<int*>(p);
      inflight.fetch_sub(1);
    });
  });
  HttpServer::RouteOptions no_admission{.admission = false};
  pub.Handle(
      "GET", "/healthz", [&](const HttpRequest&) { return stamp(HttpResponse::Text(200, "ok")); },
      no_admission);
  pub.Handle(
      "GET", "/metrics",
      [&](const HttpRequest&) {
        HttpResponse res = HttpResponse::Text(200, gonka::metrics::ExposeText());
        res.headers.Set("Content-Type", gonka::metrics::kContentType);
        return res;
      },
      no_admission);
  pub.Handle("GET", "/version", [&](const HttpRequest& req) {
    if (int delay = IntParam(req, "delay_ms", 0); delay > 0) {
      absl::SleepFor(absl::Milliseconds(delay));  // stands in for a request's real work
    }
    gonka::JsonWriter w;
    base_json(w);
    w.Key("mode").String(id.mode).Key("storage").String(storage).EndObject();
    return stamp(HttpResponse::Json(200, w.Take()));
  });
  // /v1/escrows/<id>/requests (POST) and /v1/escrows/<id>/stream (GET, SSE).
  auto escrow_of = [](const HttpRequest& req, absl::string_view suffix, std::string* escrow) {
    absl::string_view path = req.target;
    path = path.substr(0, path.find('?'));
    // Also /sessions/<id>/...: Gonka's devshard session paths, which versiond-router hashes on.
    if (!(absl::ConsumePrefix(&path, "/v1/escrows/") || absl::ConsumePrefix(&path, "/sessions/")) ||
        !absl::ConsumeSuffix(&path, suffix) || path.empty() || absl::StrContains(path, "/")) {
      return false;
    }
    *escrow = std::string(path);
    return true;
  };
  auto escrow_request = [&](const HttpRequest& req) {
    std::string escrow;
    if (!escrow_of(req, "/requests", &escrow)) {
      return stamp(HttpResponse::Text(404, "want POST /v1/escrows/<id>/requests"));
    }
    if (int delay = IntParam(req, "delay_ms", 0); delay > 0) {
      absl::SleepFor(absl::Milliseconds(delay));
    }
    int64_t seq;
    {
      absl::MutexLock lock(&mu);
      seq = ++escrow_requests[escrow];
    }
    served_requests.Increment();
    if (pg != nullptr) {
      auto recorded = pg->Exec(
          "INSERT INTO devchild_requests (version, sha256, escrow, seq) VALUES ($1,$2,$3,$4)",
          {id.label, id.sha256, escrow, absl::StrCat(seq)});
      if (!recorded.ok()) {
        return stamp(
            HttpResponse::Text(503, absl::StrCat("postgres: ", recorded.status().message())));
      }
    }
    gonka::JsonWriter w;
    base_json(w);
    w.Key("escrow").String(escrow).Key("seq").Int(seq).Key("bytes").Int(
        static_cast<int64_t>(req.body.size()));
    w.EndObject();
    return stamp(HttpResponse::Json(200, w.Take()));
  };
  pub.Handle("POST", "/v1/escrows/*", escrow_request);
  pub.Handle("POST", "/sessions/*", escrow_request);
  auto escrow_stream = [&](const HttpRequest& req, std::shared_ptr<ResponseStream> s) {
    std::string escrow;
    if (!escrow_of(req, "/stream", &escrow)) {
      s->SetStatus(404);
      s->Write("want GET /v1/escrows/<id>/stream");
      s->Close();
      return;
    }
    const int n = IntParam(req, "n", 5);
    const int interval_ms = IntParam(req, "interval_ms", 100);
    served_streams.Increment();
    s->SetHeader("Content-Type", "text/event-stream");
    s->SetHeader("Cache-Control", "no-cache");
    s->SetHeader("X-Devchild-Version", id.label);
    s->SetHeader("X-Devchild-Sha256", id.sha256);
    s->SetHeader("X-Devchild-Pid", pid);
    // The stream's work runs on its own thread; the stream (and with it the
    // admission guard, i.e. the in-flight count) lives until Close.
    std::thread([s, n, interval_ms, escrow, label = id.label] {
      for (int i = 0; i < n; ++i) {
        gonka::JsonWriter w;
        w.BeginObject().Key("version").String(label);
        w.Key("pid").Int(getpid()).Key("escrow").String(escrow);
        w.Key("i").Int(i).EndObject();
        if (!s->Write(absl::StrCat("id: ", i, "\ndata: ", w.str(), "\n\n"))) {
          return;
        }
        absl::SleepFor(absl::Milliseconds(interval_ms));
      }
      s->Write(absl::StrCat("event: end\ndata: ", n, "\n\n"));
      s->Close();
    }).detach();
  };
  pub.HandleStream("GET", "/v1/escrows/*", escrow_stream);
  pub.HandleStream("GET", "/sessions/*", escrow_stream);

  admin->Handle(
      "GET", "/ready",
      [&](const HttpRequest&) {
        bool ready = !never_ready && !draining.load();
        return stamp(HttpResponse::Text(ready ? 200 : 503, ready ? "ready" : "not ready"));
      },
      no_admission);
  admin->Handle(
      "POST", "/drain",
      [&](const HttpRequest&) {
        draining.store(true);
        return stamp(HttpResponse::Json(202, "{\"draining\":true}"));
      },
      no_admission);
  admin->Handle(
      "GET", "/drain/status",
      [&](const HttpRequest&) {
        gonka::JsonWriter w;
        w.BeginObject()
            .Key("ready")
            .Bool(!never_ready && !draining.load())
            .Key("draining")
            .Bool(draining.load())
            .Key("inflight")
            .Int(inflight.load())
            .Key("version")
            .String(id.label)
            .EndObject();
        return stamp(HttpResponse::Json(200, w.Take()));
      },
      no_admission);

  if (auto s = pub.Start(); !s.ok()) {
    std::fprintf(stderr, "devchild: %s\n", s.ToString().c_str());
    return 1;
  }
  if (admin_server != nullptr) {
    if (auto s = admin_server->Start(); !s.ok()) {
      std::fprintf(stderr, "devchild admin: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  GONKA_LOG_INFO("devchild serving", {"version", id.label}, {"mode", id.mode}, {"storage", storage},
                 {"port", pub.port()}, {"admin", admin_addr});
  int sig = 0;
  sigwait(&set, &sig);
  // SIGTERM: refuse new work, let admitted requests and streams finish.
  draining.store(true);
  pub.Stop(absl::Now() + absl::Seconds(60));
  if (admin_server != nullptr) admin_server->Stop(absl::Now() + absl::Seconds(1));
  return 0;
}

#include "daemons/devchild/devchild.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gonka/base/json.h"
#include "gonka/base/metrics.h"
#include "gonka/base/secret_file.h"
#include "gonka/crypto/hash.h"
#include "gonka/supervisor/child_contract.h"

namespace gonka {
namespace devchild {

using net::HttpRequest;
using net::HttpResponse;
using net::HttpServer;
using net::ResponseStream;
using supervisor::EnvOr;
using supervisor::IntParam;

namespace {

// The trailer MakeVariant appends after the ELF image (the loader ignores trailing bytes).
constexpr absl::string_view kTrailerMagic = "\n#devchild-variant ";

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

Identity ReadIdentity(const std::string& image, bool hash) {
  Identity id;
  if (hash) id.sha256 = crypto::HexEncode(crypto::Sha256(image));
  const std::string env_label = EnvOr("DEVCHILD_VERSION");
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

absl::StatusOr<Identity> SelfIdentity(bool hash) {
  std::string image;
  if (hash) {
    if (!ReadFile("/proc/self/exe", &image)) {
      return absl::InternalError("cannot read /proc/self/exe");
    }
    return ReadIdentity(image, true);
  }
  // The trailer is in the last bytes: no need to read (or hash) the whole image.
  std::ifstream in("/proc/self/exe", std::ios::binary | std::ios::ate);
  if (!in) return absl::InternalError("cannot read /proc/self/exe");
  const std::streamoff size = in.tellg();
  const std::streamoff tail = std::min<std::streamoff>(size, 512);
  image.resize(static_cast<size_t>(tail));
  in.seekg(size - tail);
  in.read(image.data(), tail);
  if (!in) return absl::InternalError("cannot read /proc/self/exe");
  return ReadIdentity(image, false);
}

bool UnreadyFileSays(const std::string& word) {
  const char* path = std::getenv("DEVCHILD_UNREADY_FILE");
  if (path == nullptr || *path == '\0') return false;
  std::ifstream in(path);
  std::string first;
  return static_cast<bool>(in >> first) && first == word;
}

bool ValidMode(const std::string& mode) {
  return mode == "normal" || mode == "never-ready" || mode == "crash-at-start" ||
         mode == "ready-late" || mode == "always-starting" || mode == "recovers-late" ||
         mode == "never-recovers" || mode == "no-admin-api";
}

int AnswerProbe(const std::string& flag, const Identity& id) {
  std::string answer;
  if (flag == "--print-binary-version") {
    answer = absl::StrCat("devchild-", id.label);
  } else if (flag == "--print-admin-api-version" && id.mode != "no-admin-api") {
    answer = "1";
  } else if (flag == "--print-protocol-version") {
    answer = EnvOr("DEVCHILD_PROTOCOL_VERSION");
  }
  if (answer.empty()) {
    // "unknown flag": the words versiond looks for to tell an older child from a broken one.
    std::fprintf(stderr, "devchild: unknown flag %s\n", flag.c_str());
    return 2;
  }
  std::printf("%s\n", answer.c_str());
  return 0;
}

absl::StatusOr<std::string> MakeVariant(const std::string& self, const std::string& out,
                                        const std::string& label, const std::string& mode) {
  std::string image;
  if (!ReadFile(self, &image)) return absl::InternalError(absl::StrCat("cannot read ", self));
  // A variant of a variant replaces the trailer instead of stacking them.
  size_t at = absl::string_view(image).rfind(kTrailerMagic);
  if (at != std::string::npos && image.size() - at < 512) image.resize(at);
  absl::StrAppend(&image, kTrailerMagic, "label=", label, " mode=", mode, "\n");
  const std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(image.data(), static_cast<std::streamsize>(image.size()));
    if (!f) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (chmod(tmp.c_str(), 0755) != 0 || rename(tmp.c_str(), out.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot install ", out));
  }
  return crypto::HexEncode(crypto::Sha256(image));
}

absl::StatusOr<std::unique_ptr<pg::Pool>> OpenRecord(const std::string& url_file) {
  absl::StatusOr<std::string> url = ReadSecretFile(url_file, "--pg-url-file");
  if (!url.ok()) return url.status();
  auto pool = pg::Pool::Open(
      {.conninfo = std::string(absl::StripAsciiWhitespace(*url)), .application_name = "devchild"});
  if (!pool.ok())
    return absl::Status(pool.status().code(), absl::StrCat("postgres: ", pool.status().message()));
  auto created = (*pool)->Exec(
      "CREATE TABLE IF NOT EXISTS devchild_requests (id BIGSERIAL PRIMARY KEY, version TEXT "
      "NOT NULL, sha256 TEXT NOT NULL, escrow TEXT NOT NULL, seq BIGINT NOT NULL, "
      "served_at TIMESTAMPTZ NOT NULL DEFAULT now())");
  if (!created.ok() && !absl::IsAlreadyExists(created.status())) {
    return absl::Status(created.status().code(),
                        absl::StrCat("postgres: ", created.status().message()));
  }
  return std::move(*pool);
}

HttpResponse Stamp(const Identity& id, HttpResponse res) {
  res.headers.Set("X-Devchild-Version", id.label);
  res.headers.Set("X-Devchild-Sha256", id.sha256);
  res.headers.Set("X-Devchild-Pid", absl::StrCat(getpid()));
  return res;
}

namespace {

// /v1/escrows/<id><suffix> or /sessions/<id><suffix> (Gonka's devshard session paths, which
// versiond-router hashes on) → <id>.
bool EscrowOf(const HttpRequest& req, absl::string_view suffix, std::string* escrow) {
  absl::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  if (!(absl::ConsumePrefix(&path, "/v1/escrows/") || absl::ConsumePrefix(&path, "/sessions/")) ||
      !absl::ConsumeSuffix(&path, suffix) || path.empty() || absl::StrContains(path, "/")) {
    return false;
  }
  *escrow = std::string(path);
  return true;
}

void BaseJson(const Identity& id, JsonWriter& w) {
  w.BeginObject().Key("version").String(id.label).Key("sha256").String(id.sha256);
  w.Key("pid").Int(getpid());
}

struct Counters {
  absl::Mutex mu;
  std::map<std::string, int64_t> escrow_requests ABSL_GUARDED_BY(mu);
};

}  // namespace

void AddRoutes(HttpServer* pub, const RouteOptions* o) {
  auto counters = std::make_shared<Counters>();
  auto& served_family = prometheus::BuildCounter()
                            .Name("devchild_requests_total")
                            .Help("Requests served, by route")
                            .Register(metrics::Registry());
  prometheus::Counter* served_requests = &served_family.Add({{"route", "requests"}});
  prometheus::Counter* served_streams = &served_family.Add({{"route", "stream"}});
  HttpServer::RouteOptions no_admission{.admission = false};
  pub->Handle(
      "GET", "/metrics",
      [](const HttpRequest&) {
        HttpResponse res = HttpResponse::Text(200, metrics::ExposeText());
        res.headers.Set("Content-Type", metrics::kContentType);
        return res;
      },
      no_admission);
  pub->Handle("GET", "/version", [o](const HttpRequest& req) {
    if (int delay = IntParam(req, "delay_ms", 0); delay > 0) {
      absl::SleepFor(absl::Milliseconds(delay));  // stands in for a request's real work
    }
    JsonWriter w;
    BaseJson(o->id, w);
    w.Key("mode").String(o->id.mode).Key("storage").String(o->storage);
    // What versiond told the child about HA routing (Gonka's GONKA_HA), for tests.
    const char* ha = std::getenv("GONKA_HA");
    w.Key("gonka_ha").String(ha == nullptr ? "" : ha).EndObject();
    return Stamp(o->id, HttpResponse::Json(200, w.Take()));
  });
  auto escrow_request = [o, counters, served_requests](const HttpRequest& req) {
    std::string escrow;
    if (!EscrowOf(req, "/requests", &escrow)) {
      return Stamp(o->id, HttpResponse::Text(404, "want POST /v1/escrows/<id>/requests"));
    }
    if (int delay = IntParam(req, "delay_ms", 0); delay > 0) {
      absl::SleepFor(absl::Milliseconds(delay));
    }
    int64_t seq;
    {
      absl::MutexLock lock(&counters->mu);
      seq = ++counters->escrow_requests[escrow];
    }
    served_requests->Increment();
    if (o->record != nullptr) {
      auto recorded = o->record->Exec(
          "INSERT INTO devchild_requests (version, sha256, escrow, seq) VALUES ($1,$2,$3,$4)",
          {o->id.label, o->id.sha256, escrow, absl::StrCat(seq)});
      if (!recorded.ok()) {
        return Stamp(o->id, HttpResponse::Text(
                                503, absl::StrCat("postgres: ", recorded.status().message())));
      }
    }
    JsonWriter w;
    BaseJson(o->id, w);
    w.Key("escrow").String(escrow).Key("seq").Int(seq).Key("bytes").Int(
        static_cast<int64_t>(req.body.size()));
    w.EndObject();
    return Stamp(o->id, HttpResponse::Json(200, w.Take()));
  };
  pub->Handle("POST", "/v1/escrows/*", escrow_request);
  pub->Handle("POST", "/sessions/*", escrow_request);
  auto escrow_stream = [o, served_streams](const HttpRequest& req,
                                           std::shared_ptr<ResponseStream> s) {
    std::string escrow;
    if (!EscrowOf(req, "/stream", &escrow)) {
      s->SetStatus(404);
      s->Write("want GET /v1/escrows/<id>/stream");
      s->Close();
      return;
    }
    const int n = IntParam(req, "n", 5);
    const int interval_ms = IntParam(req, "interval_ms", 100);
    served_streams->Increment();
    s->SetHeader("Content-Type", "text/event-stream");
    s->SetHeader("Cache-Control", "no-cache");
    s->SetHeader("X-Devchild-Version", o->id.label);
    s->SetHeader("X-Devchild-Sha256", o->id.sha256);
    s->SetHeader("X-Devchild-Pid", absl::StrCat(getpid()));
    // The stream's work runs on its own thread; the stream (and with it the admission guard,
    // i.e. the in-flight count) lives until Close.
    std::thread([s, n, interval_ms, escrow, label = o->id.label] {
      for (int i = 0; i < n; ++i) {
        JsonWriter w;
        w.BeginObject().Key("version").String(label);
        w.Key("pid").Int(getpid()).Key("escrow").String(escrow);
        w.Key("i").Int(i).EndObject();
        if (!s->Write(absl::StrCat("id: ", i, "\ndata: ", w.str(), "\n\n"))) return;
        absl::SleepFor(absl::Milliseconds(interval_ms));
      }
      s->Write(absl::StrCat("event: end\ndata: ", n, "\n\n"));
      s->Close();
    }).detach();
  };
  pub->HandleStream("GET", "/v1/escrows/*", escrow_stream);
  pub->HandleStream("GET", "/sessions/*", escrow_stream);
}

}  // namespace devchild
}  // namespace gonka

// edge-api: the chain-facing tier. N replicas follow the chain; the one holding the Redis lease
// emits each block once, in order, into the JetStream block stream (gonka/eventhub); every
// replica serves that stream to dashboards as Server-Sent Events. See docs/eventhub.md.
//
//   edge-api --chain-id=gonka-mainnet --chain-rpc-url=http://node:26657
//            --nats-url=nats://nats:4222 --redis-host=redis --port=8080
#include <unistd.h>

#include <google/protobuf/util/json_util.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/comet_subscriber.h"
#include "gonka/drain/daemon.h"
#include "gonka/election/redis_elector.h"
#include "gonka/eventhub/emitter.h"
#include "gonka/eventhub/event_views.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/sse.h"

namespace {

using gonka::net::HttpRequest;
using gonka::net::HttpResponse;
using gonka::net::ResponseStream;

// Open SSE streams and their subscribers. A drain ends the streams cleanly (clients reconnect
// elsewhere with Last-Event-ID and lose nothing); subscribers are stopped on a reaper thread,
// never on an I/O thread, and all of them before the process exits.
class Streams {
 public:
  Streams() : reaper_([this] { Reap(); }) {}
  ~Streams() { Shutdown(); }

  void Add(std::shared_ptr<ResponseStream> s, std::shared_ptr<gonka::eventhub::Subscriber> sub) {
    absl::MutexLock lock(&mu_);
    open_[std::move(s)] = std::move(sub);
  }
  // From the stream's OnClose (an I/O thread): hand its subscriber to the reaper.
  void Closed(const std::shared_ptr<ResponseStream>& s) {
    absl::MutexLock lock(&mu_);
    auto it = open_.find(s);
    if (it == open_.end()) return;
    to_stop_.push_back(std::move(it->second));
    open_.erase(it);
  }
  // Drain: end every stream (each one's OnClose hands its subscriber to the reaper).
  void CloseAll() {
    std::vector<std::shared_ptr<ResponseStream>> all;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [s, sub] : open_) all.push_back(s);
    }
    for (auto& s : all) {
      s->Write(gonka::net::SseComment("draining: reconnect with Last-Event-ID"));
      s->Close();
    }
  }
  void Shutdown() {
    CloseAll();
    {
      absl::MutexLock lock(&mu_);
      for (auto& [s, sub] : open_) to_stop_.push_back(sub);
      open_.clear();
      done_ = true;
    }
    if (reaper_.joinable()) reaper_.join();
  }

 private:
  void Reap() {
    while (true) {
      std::vector<std::shared_ptr<gonka::eventhub::Subscriber>> batch;
      bool done;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ || !to_stop_.empty(); };
        mu_.Await(absl::Condition(&ready));
        batch.swap(to_stop_);
        done = done_;
      }
      for (auto& sub : batch) sub->Stop();
      if (done) {
        absl::MutexLock lock(&mu_);
        if (to_stop_.empty()) return;
      }
    }
  }

  absl::Mutex mu_;
  std::map<std::shared_ptr<ResponseStream>, std::shared_ptr<gonka::eventhub::Subscriber>> open_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<gonka::eventhub::Subscriber>> to_stop_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reaper_;
};

std::string RandomSuffix() {
  std::random_device rd;
  return absl::StrCat(absl::Hex(rd(), absl::kZeroPad8), absl::Hex(rd(), absl::kZeroPad8));
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "edge-api", .default_port = 8080});
  gonka::Config& config = daemon.config();
  std::string chain_id, rpc_url, ws_url, nats_urls, redis_host, identity, stream;
  int redis_port = 6379;
  int64_t start_height = 0;
  gonka::chain::EpochParams epochs;
  config.AddString("chain-id", &chain_id, "", "the chain's id (every block is checked)").Required();
  config.AddString("chain-rpc-url", &rpc_url, "http://127.0.0.1:26657", "CometBFT RPC URL");
  config.AddString("chain-ws-url", &ws_url, "",
                   "CometBFT WebSocket URL (default: the RPC URL's /websocket)");
  config.AddString("nats-url", &nats_urls, "nats://127.0.0.1:4222",
                   "NATS JetStream URLs, comma-separated");
  config.AddString("redis-host", &redis_host, "127.0.0.1", "Redis for the lease and the cursor");
  config.AddPort("redis-port", &redis_port, 6379, "Redis port");
  config.AddString("identity", &identity, "", "this replica's name (default host:pid)");
  config.AddString("stream", &stream, "BLOCKS", "JetStream stream of BlockEvents");
  int stream_replicas = 1;
  config.AddInt("stream-replicas", &stream_replicas, 1, "replicas of the stream (3 in a cluster)")
      .Range(1, 5);
  config
      .AddInt("start-height", &start_height, 0,
              "first height when the stream is empty (0 = the chain's current height)")
      .NonNegative();
  config.AddInt("epoch-length", &epochs.epoch_length, 0, "Gonka epoch length in blocks (0 = off)")
      .NonNegative();
  std::string archive_url;
  config.AddString("archive-rpc-url", &archive_url, "",
                   "CometBFT RPC of an archive node: heights the chain node pruned are fetched "
                   "there instead of stalling (empty = none)");
  int fetch_batch = 4, max_inflight = 16;
  config
      .AddInt("fetch-batch", &fetch_batch, 4,
              "heights per JSON-RPC batch request while catching up (1 = plain GETs)")
      .Range(1, 100);
  config.AddInt("max-inflight", &max_inflight, 16, "block publishes awaiting their JetStream ack")
      .Range(1, 1024);
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
  if (ws_url.empty()) {
    ws_url = absl::StrCat(absl::StrReplaceAll(rpc_url, {{"http://", "ws://"}}), "/websocket");
  }
  if (identity.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    identity = absl::StrCat(host, ":", getpid());
  }

  gonka::chain::CometClient comet({.rpc_url = rpc_url});
  std::optional<gonka::chain::CometClient> archive;
  if (!archive_url.empty())
    archive.emplace(gonka::chain::CometClientOptions{.rpc_url = archive_url});
  gonka::nats::NatsOptions nats_options;
  nats_options.urls = absl::StrSplit(nats_urls, ',', absl::SkipEmpty());
  nats_options.name = absl::StrCat("edge-api ", identity);
  absl::StatusOr<std::unique_ptr<gonka::nats::JetStream>> js =
      gonka::nats::JetStream::Connect(nats_options);
  if (!js.ok()) return daemon.Fail(js.status());
  gonka::redis::RedisOptions redis_options;
  redis_options.host = redis_host;
  redis_options.port = redis_port;
  gonka::redis::RedisClient redis(redis_options);
  gonka::election::RedisFence fence(&redis, absl::StrCat("edge-api/", chain_id));
  gonka::election::LeaderElectorOptions elector_options;
  elector_options.identity = identity;
  elector_options.on_elected = [](gonka::election::FencingToken token) {
    GLOG_INFO("edge-api elected: emitting", {"token", static_cast<int64_t>(token)});
  };
  elector_options.on_revoked = [](absl::string_view reason) {
    GLOG_WARN("edge-api leadership revoked", {"reason", std::string(reason)});
  };
  absl::StatusOr<std::unique_ptr<gonka::election::LeaderElector>> elector =
      gonka::election::NewRedisLeaderElector(redis_options, absl::StrCat("edge-api/", chain_id),
                                             elector_options);
  if (!elector.ok()) return daemon.Fail(elector.status());

  gonka::eventhub::EmitterOptions emitter_options;
  emitter_options.chain_id = chain_id;
  emitter_options.stream = stream;
  emitter_options.stream_replicas = stream_replicas;
  emitter_options.epochs = epochs;
  emitter_options.start_height = start_height;
  emitter_options.fetch_batch = fetch_batch;
  emitter_options.max_inflight = max_inflight;
  if (archive.has_value()) emitter_options.archive = &*archive;
  gonka::eventhub::Emitter emitter(emitter_options, &comet, js->get(), &redis, &fence,
                                   elector->get());
  gonka::chain::CometSubscriber wake({.ws_url = ws_url}, [&emitter](int64_t) { emitter.Wake(); });

  // The per-event-type subjects (events.<type>) are derived on the leader, for strict order.
  gonka::eventhub::EventViewsOptions views_options;
  views_options.chain_id = chain_id;
  views_options.block_stream = stream;
  views_options.replicas = stream_replicas;
  gonka::eventhub::EventViews views(views_options, js->get());
  std::atomic<bool> stopping{false};
  std::thread views_watcher([&] {
    while (!stopping.load()) {
      bool leader = (*elector)->IsLeader();
      if (leader && !views.running()) {
        if (absl::Status s = views.Start(); !s.ok()) {
          GLOG_WARN("event views not started", {"error", s.ToString()});
        }
      } else if (!leader && views.running()) {
        views.Stop();
      }
      absl::SleepFor(absl::Milliseconds(500));
    }
    views.Stop();
  });

  gonka::DrainController& drain = daemon.drain();
  drain.AddReadinessProbe("chain", [&comet]() { return comet.Status().status(); });
  drain.AddReadinessProbe("nats", [&]() { return (*js)->GetStreamInfo(stream).status(); });
  drain.AddReadinessProbe("eventhub", [&emitter]() { return emitter.health(); });

  // Dashboards: GET /v1/blocks/stream?from=H (or Last-Event-ID) → SSE, one event per block.
  Streams streams;
  daemon.server().HandleStream(
      "GET", "/v1/blocks/stream",
      [&](const HttpRequest& request, std::shared_ptr<ResponseStream> out) {
        int64_t from = 0;
        if (auto last = request.headers.Get("Last-Event-ID"); !last.empty()) {
          if (absl::SimpleAtoi(last, &from)) ++from;
        } else if (auto f = request.QueryParam("from")) {
          absl::SimpleAtoi(*f, &from);
        }
        gonka::eventhub::SubscriberOptions options;
        options.stream = stream;
        options.durable = absl::StrCat("sse-", RandomSuffix());
        options.start_height = from;
        options.inactive_threshold = absl::Seconds(30);
        auto sub = std::make_shared<gonka::eventhub::Subscriber>(options, js->get());
        std::weak_ptr<ResponseStream> weak = out;
        sub->OnBlock([weak](const gonka::chain::v1::BlockEvents& block) -> absl::Status {
          auto stream = weak.lock();
          if (!stream || stream->closed()) return absl::CancelledError("client gone");
          std::string json;
          google::protobuf::util::JsonPrintOptions print;
          print.preserve_proto_field_names = true;
          if (!google::protobuf::util::MessageToJsonString(block, &json, print).ok()) {
            return absl::InternalError("cannot render block");
          }
          if (!stream->Write(gonka::net::SseEvent(json, "block", absl::StrCat(block.height())))) {
            return absl::CancelledError("client gone");
          }
          return absl::OkStatus();
        });
        if (absl::Status s = sub->Start(); !s.ok()) {
          out->SetStatus(503);
          out->Write(gonka::net::SseComment(std::string(s.message())));
          out->Close();
          return;
        }
        streams.Add(out, sub);
        out->OnClose([out_weak = weak, &streams]() {
          if (auto o = out_weak.lock()) streams.Closed(o);
        });
      });
  daemon.server().Handle("GET", "/v1/status", [&](const HttpRequest&) {
    gonka::JsonWriter w;
    w.BeginObject()
        .Key("chain_id")
        .String(chain_id)
        .Key("identity")
        .String(identity)
        .Key("leader")
        .Bool((*elector)->IsLeader())
        .Key("last_emitted_height")
        .String(absl::StrCat(emitter.last_emitted()))
        .Key("chain_height")
        .String(absl::StrCat(emitter.chain_height()))
        .Key("healthy")
        .Bool(emitter.health().ok())
        .EndObject();
    return HttpResponse::Json(200, w.Take());
  });

  drain.OnStateChange([&streams](gonka::DrainController::State state) {
    if (state == gonka::DrainController::State::kDraining) streams.CloseAll();
  });
  // Leadership goes first so a standby takes over at once, then the loops stop.
  drain.AddShutdownHook("release leadership", [&] { (*elector)->Stop(); });
  drain.AddShutdownHook("event hub", [&] {
    stopping = true;
    if (views_watcher.joinable()) views_watcher.join();
    streams.Shutdown();
    emitter.Stop();
    wake.Stop();
  });

  auto fail = [&](const absl::Status& s) {
    stopping = true;
    if (views_watcher.joinable()) views_watcher.join();
    return daemon.Fail(s);
  };
  if (absl::Status s = emitter.Start(); !s.ok()) return fail(s);
  if (absl::Status s = wake.Start(); !s.ok()) return fail(s);
  if (absl::Status s = (*elector)->Start(); !s.ok()) return fail(s);
  if (absl::Status s = daemon.Start(); !s.ok()) return fail(s);
  int code = daemon.Run();
  stopping = true;
  if (views_watcher.joinable()) views_watcher.join();
  return code;
}

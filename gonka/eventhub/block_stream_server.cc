#include "gonka/eventhub/block_stream_server.h"

#include <google/protobuf/util/json_util.h>

#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/net/sse.h"

namespace gonka {
namespace eventhub {
namespace {

std::string RandomSuffix() {
  std::random_device rd;
  return absl::StrCat(absl::Hex(rd(), absl::kZeroPad8), absl::Hex(rd(), absl::kZeroPad8));
}

void Refuse(net::ResponseStream& out, int status, absl::string_view why) {
  out.SetStatus(status);
  out.Write(net::SseComment(why));
  out.Close();
}

}  // namespace

BlockStreamServer::BlockStreamServer(BlockStreamServerOptions options, nats::JetStream* js)
    : options_(std::move(options)), js_(js), reaper_([this] { Reap(); }) {}

BlockStreamServer::~BlockStreamServer() { Shutdown(); }

void BlockStreamServer::AddRoutes(net::HttpServer* server) {
  server->HandleStream("GET", options_.path,
                       [this](const net::HttpRequest& request,
                              std::shared_ptr<net::ResponseStream> out) { Serve(request, out); });
}

void BlockStreamServer::Serve(const net::HttpRequest& request,
                              std::shared_ptr<net::ResponseStream> out) {
  int64_t from = 0;
  if (std::string last = request.headers.Get("Last-Event-ID"); !last.empty()) {
    if (!absl::SimpleAtoi(last, &from) || from < 0) {
      return Refuse(*out, 400, absl::StrCat("Last-Event-ID \"", last, "\": want a height"));
    }
    ++from;  // the client has `last`
  } else if (std::optional<std::string> f = request.QueryParam("from"); f.has_value()) {
    if (!absl::SimpleAtoi(*f, &from) || from < 0) {
      return Refuse(*out, 400, absl::StrCat("from \"", *f, "\": want a height (0 = next block)"));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (done_) return Refuse(*out, 503, "shutting down");
  }
  SubscriberOptions options;
  options.stream = options_.stream;
  options.subject = options_.subject;
  options.durable = absl::StrCat("sse-", RandomSuffix());
  options.start_height = from;
  options.inactive_threshold = options_.inactive_threshold;
  auto sub = std::make_shared<Subscriber>(options, js_);
  std::weak_ptr<net::ResponseStream> weak = out;
  sub->OnBlock([weak](const chain::v1::BlockEvents& block) -> absl::Status {
    std::shared_ptr<net::ResponseStream> stream = weak.lock();
    if (!stream || stream->closed()) return absl::CancelledError("client gone");
    std::string json;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    if (!google::protobuf::util::MessageToJsonString(block, &json, print).ok()) {
      return absl::InternalError(absl::StrCat("block ", block.height(), ": cannot render JSON"));
    }
    if (!stream->Write(net::SseEvent(json, "block", absl::StrCat(block.height())))) {
      return absl::CancelledError("client gone");
    }
    return absl::OkStatus();
  });
  if (absl::Status s = sub->Start(); !s.ok()) return Refuse(*out, 503, s.message());
  {
    absl::MutexLock lock(&mu_);
    if (done_) {
      to_stop_.push_back(sub);
      return Refuse(*out, 503, "shutting down");
    }
    open_[out] = sub;
  }
  out->OnClose([this, weak] {
    if (std::shared_ptr<net::ResponseStream> o = weak.lock()) Closed(o);
  });
}

void BlockStreamServer::Closed(const std::shared_ptr<net::ResponseStream>& stream) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(stream);
  if (it == open_.end()) return;
  to_stop_.push_back(std::move(it->second));
  open_.erase(it);
}

void BlockStreamServer::CloseAll() {
  std::vector<std::shared_ptr<net::ResponseStream>> all;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [stream, sub] : open_) all.push_back(stream);
  }
  for (auto& stream : all) {
    stream->Write(net::SseComment("draining: reconnect with Last-Event-ID"));
    stream->Close();
  }
}

void BlockStreamServer::Shutdown() {
  CloseAll();
  {
    absl::MutexLock lock(&mu_);
    for (auto& [stream, sub] : open_) to_stop_.push_back(sub);
    open_.clear();
    done_ = true;
  }
  if (reaper_.joinable()) reaper_.join();
}

size_t BlockStreamServer::open_streams() const {
  absl::MutexLock lock(&mu_);
  return open_.size();
}

void BlockStreamServer::Reap() {
  while (true) {
    std::vector<std::shared_ptr<Subscriber>> batch;
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

}  // namespace eventhub
}  // namespace gonka

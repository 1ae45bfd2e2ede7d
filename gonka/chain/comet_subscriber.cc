#include "gonka/chain/comet_subscriber.h"

#include <simdjson.h>

#include "absl/strings/numbers.h"
#include "gonka/base/log.h"

namespace gonka {
namespace chain {
namespace {

constexpr char kSubscribe[] =
    R"({"jsonrpc":"2.0","method":"subscribe","id":"gonka-newblock","params":{"query":"tm.event='NewBlock'"}})";

}  // namespace

int64_t CometSubscriber::ParseNewBlockHeight(absl::string_view message) {
  namespace od = simdjson::ondemand;
  od::parser parser;
  simdjson::padded_string padded(message.data(), message.size());
  od::document doc;
  if (parser.iterate(padded).get(doc)) return 0;
  std::string_view type, height_text;
  // result.data.type == "tendermint/event/NewBlock", result.data.value.block.header.height
  od::value data;
  if (doc["result"]["data"].get(data)) return 0;
  if (data["type"].get_string().get(type) || type != "tendermint/event/NewBlock") return 0;
  if (data["value"]["block"]["header"]["height"].get_string().get(height_text)) return 0;
  int64_t height = 0;
  if (!absl::SimpleAtoi(absl::string_view(height_text.data(), height_text.size()), &height)) {
    return 0;
  }
  return height;
}

CometSubscriber::CometSubscriber(CometSubscriberOptions options, OnNewBlock on_new_block)
    : options_(std::move(options)), on_new_block_(std::move(on_new_block)) {}

CometSubscriber::~CometSubscriber() { Stop(); }

absl::Status CometSubscriber::Start() {
  net::WebSocketClientOptions ws;
  ws.name = "comet";
  ws.url = options_.ws_url;
  ws.tls = options_.tls;
  ws.idle_timeout = options_.idle_timeout;
  // Runs on the client's I/O thread only: the last error needs no lock.
  ws.on_connect_error = [this, last = std::string()](const absl::Status& error) mutable {
    std::string text = error.ToString();
    if (text == last) return;
    last = text;
    GONKA_LOG_WARN("comet websocket connection failed; retrying", {"url", options_.ws_url},
                   {"error", text});
  };
  ws.on_connect = [this] {
    // Every new connection needs its subscription again.
    absl::Status s = client_->SendText(kSubscribe);
    if (!s.ok()) {
      GONKA_LOG_WARN("comet subscribe failed", {"url", options_.ws_url}, {"error", s.ToString()});
      return;
    }
    subscriptions_++;
  };
  ws.on_message = [this](absl::string_view message) {
    int64_t height = ParseNewBlockHeight(message);
    if (height <= 0) return;
    int64_t previous = latest_.load();
    while (height > previous && !latest_.compare_exchange_weak(previous, height)) {
    }
    on_new_block_(height);
  };
  ws.on_disconnect = [this](const absl::Status& reason) {
    GONKA_LOG_WARN("comet websocket disconnected; reconnecting", {"url", options_.ws_url},
                   {"reason", reason.ToString()});
  };
  client_ = std::make_unique<net::WebSocketClient>(ws);
  return client_->Start();
}

void CometSubscriber::Stop() {
  if (client_) client_->Close();
}

bool CometSubscriber::connected() const { return client_ && client_->connected(); }

}  // namespace chain
}  // namespace gonka

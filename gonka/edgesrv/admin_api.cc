#include "gonka/edgesrv/admin_api.h"

#include <limits>
#include <memory>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/net/http_server.h"
#include "gonka/proto/inference/inference/tx.pb.h"
#include "simdjson.h"

namespace gonka {
namespace edgesrv {
namespace {

net::HttpResponse JsonError(int status, absl::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  return net::HttpResponse::Json(status, w.Take());
}

// Runs `route` for an authenticated request, or answers the refusal.
net::HttpResponse Guarded(const HttpAuthenticator& authenticate, const net::HttpRequest& request,
                          const std::function<net::HttpResponse()>& route) {
  absl::StatusOr<std::string> who =
      authenticate ? authenticate(request)
                   : absl::PermissionDeniedError(
                         "the admin API is off: start edge-srv with --admin-token-file");
  if (who.ok()) return route();
  const absl::StatusCode code = who.status().code();
  const int http = code == absl::StatusCode::kUnauthenticated    ? 401
                   : code == absl::StatusCode::kPermissionDenied ? 403
                                                                 : 503;
  net::HttpResponse refusal = JsonError(http, who.status().message());
  if (http == 401) refusal.headers.Set("WWW-Authenticate", "Bearer");
  GONKA_LOG_INFO("edge-srv admin: request refused", {"path", request.path},
                 {"peer", request.remote_address}, {"status", http});
  return refusal;
}

}  // namespace

absl::StatusOr<uint64_t> NanoPrice(uint64_t price, absl::string_view denom) {
  uint64_t factor = 0;
  if (denom == "ngonka") {
    factor = 1;
  } else if (denom == "ugonka") {
    factor = 1'000;
  } else if (denom == "mgonka") {
    factor = 1'000'000;
  } else if (denom == "gonka") {
    factor = 1'000'000'000;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("denom: \"", denom, "\" is not one of ngonka, ugonka, mgonka, gonka"));
  }
  if (price > std::numeric_limits<uint64_t>::max() / factor) {
    return absl::InvalidArgumentError(
        absl::StrCat("price: ", price, " ", denom, " does not fit in uint64 ngonka"));
  }
  return price * factor;
}

absl::StatusOr<txqueue::ChainTx> PriceProposalTx(const std::string& creator, uint64_t nano_price,
                                                 const std::string& idempotency_key) {
  if (creator.empty()) return absl::InvalidArgumentError("creator: required");
  if (idempotency_key.empty()) return absl::InvalidArgumentError("idempotency_key: required");
  ::inference::inference::MsgSubmitUnitOfComputePriceProposal msg;
  msg.set_creator(creator);
  msg.set_price(nano_price);
  txqueue::ChainTx tx;
  tx.set_idempotency_key(idempotency_key);
  tx.set_producer("edge-srv");
  google::protobuf::Any* any = tx.add_messages();
  any->set_type_url(kMsgSubmitUnitOfComputePriceProposal);
  any->set_value(msg.SerializeAsString());
  return tx;
}

void AddEdgeAdminRoutes(net::HttpServer* server, EdgeAdminOptions options) {
  auto o = std::make_shared<EdgeAdminOptions>(std::move(options));
  server->Handle(
      "POST", "/admin/v1/unit-of-compute-price-proposal", [o](const net::HttpRequest& request) {
        return Guarded(o->authenticate, request, [&]() -> net::HttpResponse {
          simdjson::dom::parser parser;
          simdjson::dom::element doc;
          if (parser.parse(request.body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
            return JsonError(400, "body: not a JSON object");
          }
          uint64_t price = 0;
          if (doc["price"].get_uint64().get(price) != simdjson::SUCCESS || price == 0) {
            return JsonError(400, "price: required, a positive integer");
          }
          std::string_view denom;
          if (doc["denom"].get_string().get(denom) != simdjson::SUCCESS) {
            return JsonError(400, "denom: required string");
          }
          absl::StatusOr<uint64_t> nano =
              NanoPrice(price, absl::string_view(denom.data(), denom.size()));
          if (!nano.ok()) return JsonError(400, nano.status().message());
          std::string request_key = request.headers.Get("X-Gonka-Idempotency-Key");
          if (request_key.empty()) {
            absl::BitGen gen;
            request_key = absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen),
                                          absl::Uniform<uint64_t>(gen));
          }
          absl::StatusOr<txqueue::ChainTx> tx = PriceProposalTx(
              o->creator, *nano,
              absl::StrCat("price_proposal/", o->creator, "/", request_key.substr(0, 128)));
          if (!tx.ok()) return JsonError(400, tx.status().message());
          const std::string key = tx->idempotency_key();
          absl::StatusOr<txqueue::EnqueueResult> r = o->enqueue(*std::move(tx));
          if (!r.ok()) {
            return JsonError(absl::IsInvalidArgument(r.status()) ? 400 : 503,
                             absl::StrCat("tx queue: ", r.status().message()));
          }
          JsonWriter w;
          w.BeginObject()
              .Key("idempotency_key")
              .String(key)
              .Key("duplicate")
              .Bool(r->duplicate)
              .Key("price")
              .Uint(*nano)
              .EndObject();
          return net::HttpResponse::Json(200, w.Take());
        });
      });
}

}  // namespace edgesrv
}  // namespace gonka

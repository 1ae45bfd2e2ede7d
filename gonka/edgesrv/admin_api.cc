#include "gonka/edgesrv/admin_api.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/net/http_server.h"
#include "gonka/proto/cosmos/gov/v1/gov.pb.h"
#include "gonka/proto/cosmos/tx/v1beta1/tx.pb.h"
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

std::string RandomHex() {
  absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

// gonka_edgesrv_admin_requests_total{route, status}: the served admin routes' answers.
void CountRequest(absl::string_view route, int status) {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_edgesrv_admin_requests_total")
                            .Help("edge-srv admin REST answers, by served route and HTTP status")
                            .Register(metrics::Registry());
  family.Add({{"route", std::string(route)}, {"status", absl::StrCat(status)}}).Increment();
}

net::HttpResponse Unserved(int status, absl::string_view why, absl::string_view served_by) {
  JsonWriter w;
  w.BeginObject().Key("error").String(why).Key("served_by").String(served_by).EndObject();
  return net::HttpResponse::Json(status, w.Take());
}

// POST /admin/v1/claim-reward/recover (see the header).
net::HttpResponse ClaimRewardRecover(const EdgeAdminOptions& o, const net::HttpRequest& request) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string body = request.body.empty() ? "{}" : request.body;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return JsonError(400, "body: not a JSON object");
  }
  uint64_t epoch = 0;
  simdjson::dom::element field;
  if (doc["epoch_index"].get(field) == simdjson::SUCCESS && !field.is_null()) {
    if (field.get_uint64().get(epoch) != simdjson::SUCCESS || epoch == 0) {
      return JsonError(400, "epoch_index: a positive integer");
    }
  }
  bool force = false;
  if (doc["force_claim"].get(field) == simdjson::SUCCESS && !field.is_null() &&
      field.get_bool().get(force) != simdjson::SUCCESS) {
    return JsonError(400, "force_claim: a bool");
  }
  int64_t seed = 0;
  bool seed_given = false;
  if (doc["seed"].get(field) == simdjson::SUCCESS && !field.is_null()) {
    if (field.get_int64().get(seed) != simdjson::SUCCESS || seed <= 0) {
      return JsonError(400, "seed: a positive int64");
    }
    seed_given = true;
  }
  if (epoch == 0) {
    // Gonka claims the previous epoch by default (the one the node-manager claims at ClaimMoney).
    absl::StatusOr<StageWindow> now =
        o.stage ? o.stage() : absl::UnavailableError("edge-srv follows no block stream");
    if (!now.ok() || now->epoch_index < 2) {
      return JsonError(
          400,
          absl::StrCat("epoch_index: required (no previous epoch known: ",
                       now.ok() ? "the chain is in its first epoch" : now.status().message(), ")"));
    }
    epoch = static_cast<uint64_t>(now->epoch_index - 1);
  }
  if (!seed_given) {
    if (!o.seed) return JsonError(400, "seed: required (edge-srv has no seed store)");
    absl::StatusOr<nodemanager::SeedInfo> stored = o.seed(epoch);
    if (absl::IsNotFound(stored.status())) {
      return JsonError(400, absl::StrCat("epoch_index: no seed stored for epoch ", epoch,
                                         " (the node-manager stores each seed it submits)"));
    }
    if (!stored.ok()) {
      return JsonError(503, absl::StrCat("seed store: ", stored.status().message()));
    }
    seed = stored->seed;
  }
  // The node-manager's key for this claim: a claim it sent (or a retried recover) is not sent
  // again unless forced.
  std::string key = absl::StrCat("claim/", epoch, "/", o.creator);
  if (force) absl::StrAppend(&key, "/recover/", RandomHex());
  ::inference::inference::MsgClaimRewards msg;
  msg.set_creator(o.creator);
  msg.set_seed(seed);
  msg.set_epoch_index(epoch);
  txqueue::ChainTx tx;
  tx.set_idempotency_key(key);
  tx.set_producer("edge-srv");
  google::protobuf::Any* any = tx.add_messages();
  any->set_type_url(nodemanager::kMsgClaimRewards);
  any->set_value(msg.SerializeAsString());
  absl::StatusOr<txqueue::EnqueueResult> r = o.enqueue(std::move(tx));
  if (!r.ok()) {
    return JsonError(absl::IsInvalidArgument(r.status()) ? 400 : 503,
                     absl::StrCat("tx queue: ", r.status().message()));
  }
  const bool executed = !r->duplicate;
  JsonWriter w;
  w.BeginObject()
      .Key("success")
      .Bool(true)
      .Key("message")
      .String(executed ? "reward claim sent to the tx queue"
                       : "the claim for this epoch was sent already (force_claim sends another)")
      .Key("epoch_index")
      .Uint(epoch)
      .Key("seed")
      .Int(seed)
      .Key("missed_validations")
      .Int(0)
      .Key("already_claimed")
      .Bool(!executed)
      .Key("claim_executed")
      .Bool(executed)
      .EndObject();
  return net::HttpResponse::Json(200, w.Take());
}

// GET /admin/v1/poc/timing (see the header).
net::HttpResponse PocTimingRoute(const EdgeAdminOptions& o) {
  if (o.epoch_length <= 0) {
    return Unserved(501,
                    "the PoC countdown needs the epoch length: start edge-srv with --epoch-length "
                    "or --chain-grpc-address",
                    "edge-srv with --epoch-length");
  }
  absl::StatusOr<StageWindow> now =
      o.stage ? o.stage() : absl::UnavailableError("edge-srv follows no block stream");
  std::optional<PocTiming> timing;
  if (now.ok()) timing = ComputePocTiming(*now, o.epoch_length, o.epoch_shift);
  JsonWriter w;
  w.BeginObject().Key("available").Bool(timing.has_value());
  if (!timing.has_value()) {
    // Not in Gonka's answer (it has only "available"); says why for an operator.
    w.Key("reason").String(now.ok() ? "epoch_shift is not below epoch_length"
                                    : now.status().message());
  }
  if (timing.has_value()) {
    w.Key("timing")
        .BeginObject()
        .Key("current_phase")
        .String(timing->current_phase)
        .Key("blocks_until_next_poc")
        .Int(timing->blocks_until_next_poc)
        .Key("seconds_until_next_poc")
        .Int(timing->seconds_until_next_poc)
        .Key("should_be_online")
        .Bool(timing->should_be_online)
        .EndObject();
  }
  w.EndObject();
  return net::HttpResponse::Json(200, w.Take());
}

// The ML-node routes: every /admin/v1/nodes* route is the node-manager's (including
// upgrade-status, version-status, <id>/test and <id>/launch-plan).
net::HttpResponse NodeRoute(const EdgeAdminOptions& o, const net::HttpRequest& request) {
  if (o.node_manager_url.empty()) {
    return Unserved(404, "ML nodes are managed by the node-manager's admin API, not edge-srv",
                    "node-manager");
  }
  net::HttpResponse redirect;
  redirect.status = 307;  // the same method and body at the node-manager
  redirect.headers.Set("Location", absl::StrCat(o.node_manager_url, request.target));
  return redirect;
}

// GET /admin/v1/unit-of-compute-price-proposal (see the header).
net::HttpResponse GetPriceProposal(const EdgeAdminOptions& o) {
  if (!o.price_query) {
    return Unserved(501,
                    "a chain query (Query/GetUnitOfComputePriceProposal): start edge-srv with "
                    "--chain-grpc-address or --chain-rpc-url",
                    "the chain's query API");
  }
  absl::StatusOr<::inference::inference::QueryGetUnitOfComputePriceProposalResponse> answer =
      o.price_query(o.creator);
  if (!answer.ok()) {
    return JsonError(absl::IsUnavailable(answer.status()) ? 503 : 502,
                     absl::StrCat("chain query: ", answer.status().message()));
  }
  // Gonka answers its Go struct through encoding/json: omitempty on every field.
  JsonWriter w;
  w.BeginObject();
  if (answer->has_proposal()) {
    const ::inference::inference::UnitOfComputePriceProposal& p = answer->proposal();
    w.Key("proposal").BeginObject();
    if (!p.participant().empty()) w.Key("participant").String(p.participant());
    if (p.price() != 0) w.Key("price").Uint(p.price());
    if (p.proposed_at_block_height() != 0) {
      w.Key("proposed_at_block_height").Uint(p.proposed_at_block_height());
    }
    if (p.proposed_at_epoch() != 0) w.Key("proposed_at_epoch").Uint(p.proposed_at_epoch());
    w.EndObject();
  }
  if (answer->default_() != 0) w.Key("default").Uint(answer->default_());
  w.EndObject();
  return net::HttpResponse::Json(200, w.Take());
}

net::HttpResponse EnqueueAndAnswer(const EdgeAdminOptions& o, txqueue::ChainTx chain_tx);

// POST /admin/v1/tx/send (see the header).
net::HttpResponse TxSend(const EdgeAdminOptions& o, const net::HttpRequest& request) {
  // Cosmos type URLs have no host part: resolve them with an empty prefix against the message
  // types linked into this process (the Cosmos SDK subset and Gonka's inference messages).
  static google::protobuf::util::TypeResolver* const resolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          "", google::protobuf::DescriptorPool::generated_pool());
  std::string binary;
  auto parsed = google::protobuf::util::JsonToBinaryString(
      resolver, "/" + ::cosmos::tx::v1beta1::Tx::descriptor()->full_name(), request.body, &binary);
  ::cosmos::tx::v1beta1::Tx tx;
  if (!parsed.ok() || !tx.ParseFromString(binary)) {
    return JsonError(400, absl::StrCat("body: not a Cosmos Tx in JSON: ",
                                       std::string(parsed.message()).substr(0, 200)));
  }
  // Gonka's handler sends the first message only.
  if (tx.body().messages_size() == 0)
    return JsonError(400, "body.messages: no messages found in tx");
  const google::protobuf::Any& msg = tx.body().messages(0);
  std::string request_key = request.headers.Get("X-Gonka-Idempotency-Key");
  if (request_key.empty()) {
    request_key =
        crypto::HexEncode(crypto::Sha256(absl::StrCat(msg.type_url(), "\n", msg.value())));
  }
  const std::string key = absl::StrCat("tx_send/", o.creator, "/", request_key.substr(0, 128));
  txqueue::ChainTx chain_tx;
  chain_tx.set_idempotency_key(key);
  chain_tx.set_producer("edge-srv");
  *chain_tx.add_messages() = msg;
  return EnqueueAndAnswer(o, std::move(chain_tx));
}

// Enqueues `chain_tx` (recorded in the signer ledger first), waits up to `tx_wait` for the
// signer's outcome and answers as tx/send does (see the header).
net::HttpResponse EnqueueAndAnswer(const EdgeAdminOptions& o, txqueue::ChainTx chain_tx) {
  const std::string key = chain_tx.idempotency_key();
  const std::string type_url =
      chain_tx.messages_size() > 0 ? chain_tx.messages(0).type_url() : std::string();
  absl::StatusOr<txqueue::EnqueueResult> r = o.enqueue(std::move(chain_tx));
  if (!r.ok()) {
    return JsonError(absl::IsInvalidArgument(r.status()) ? 400 : 503,
                     absl::StrCat("tx queue: ", r.status().message()));
  }
  // Wait (bounded) for the signer to sign and broadcast it, or to refuse it, so the answer can
  // carry the tx hash or the allowlist's refusal.
  signer::LedgerEntry entry;
  entry.key = key;
  const absl::Time deadline = absl::Now() + o.tx_wait;
  bool settled = false;
  while (o.lookup) {
    absl::StatusOr<signer::LedgerEntry> e = o.lookup(key);
    if (e.ok()) {
      entry = *e;
      if (!entry.tx_hash.empty() || entry.state == signer::TxState::kFailed) {
        settled = true;
        break;
      }
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (settled && entry.state == signer::TxState::kFailed) {
    const bool refused = absl::StartsWith(entry.last_error, txqueue::kReasonTypeNotAllowed);
    JsonWriter w;
    w.BeginObject()
        .Key("error")
        .String(refused ? absl::StrCat("message type ", type_url,
                                       " is not allowed by the signer (--allowed-msg-types)")
                        : absl::StrCat("the signer did not send the tx: ", entry.last_error))
        .Key("idempotency_key")
        .String(key)
        .EndObject();
    return net::HttpResponse::Json(refused ? 403 : 502, w.Take());
  }
  // Gonka (@2310c22e) answers 200 with no body; an earlier Gonka answered the broadcast's
  // sdk.TxResponse, whose field names (encoding/json) this body keeps, with libgonka's key and
  // state.
  JsonWriter w;
  w.BeginObject()
      .Key("height")
      .Int(entry.height)
      .Key("txhash")
      .String(entry.tx_hash)
      .Key("codespace")
      .String("")
      .Key("code")
      .Int(0)
      .Key("data")
      .String("")
      .Key("raw_log")
      .String("")
      .Key("info")
      .String("")
      .Key("gas_wanted")
      .Int(0)
      .Key("gas_used")
      .Int(0)
      .Key("timestamp")
      .String("")
      .Key("idempotency_key")
      .String(key)
      .Key("duplicate")
      .Bool(r->duplicate)
      .Key("state")
      .String(settled ? signer::TxStateName(entry.state) : "queued")
      .EndObject();
  // 200 also while still queued: Gonka's 200 means the message was accepted for sending.
  return net::HttpResponse::Json(200, w.Take());
}

// POST /admin/v1/models (see the header).
net::HttpResponse RegisterModel(const EdgeAdminOptions& o, const net::HttpRequest& request) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(request.body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return JsonError(400, "body: not a JSON object");
  }
  std::string_view id;
  if (doc["id"].get_string().get(id) != simdjson::SUCCESS || id.empty()) {
    return JsonError(400, "id: required, a non-empty string (the model id)");
  }
  uint64_t units = 0;
  if (doc["units_of_compute_per_token"].get_uint64().get(units) != simdjson::SUCCESS ||
      units == 0) {
    return JsonError(400, "units_of_compute_per_token: required, a positive integer");
  }
  const std::string model_id(id);
  std::string request_key = request.headers.Get("X-Gonka-Idempotency-Key");
  if (request_key.empty()) {
    // The same proposal (model and units) asked again, on any replica, is sent once.
    request_key = crypto::HexEncode(crypto::Sha256(absl::StrCat(model_id, "\n", units)));
  }
  absl::StatusOr<txqueue::ChainTx> tx =
      RegisterModelProposalTx(o.creator, model_id, units,
                              absl::StrCat("models/", o.creator, "/", request_key.substr(0, 128)));
  if (!tx.ok()) return JsonError(400, tx.status().message());
  return EnqueueAndAnswer(o, *std::move(tx));
}

// POST /admin/v1/bridge/block (see the header).
net::HttpResponse BridgeBlock(const EdgeAdminOptions& o, const net::HttpRequest& request) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(request.body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return JsonError(400, "body: not a JSON object");
  }
  BridgeBlockData block;
  for (auto [name, out] : {std::pair<const char*, std::string*>{"blockNumber", &block.block_number},
                           {"receiptsRoot", &block.receipts_root},
                           {"originChain", &block.origin_chain}}) {
    std::string_view v;
    if (doc[name].get_string().get(v) != simdjson::SUCCESS || v.empty()) {
      return JsonError(400, absl::StrCat(name, ": required, a non-empty string"));
    }
    out->assign(v.data(), v.size());
  }
  simdjson::dom::element receipts;
  if (doc["receipts"].get(receipts) == simdjson::SUCCESS && !receipts.is_null()) {
    simdjson::dom::array list;
    if (receipts.get_array().get(list) != simdjson::SUCCESS) {
      return JsonError(400, "receipts: an array");
    }
    size_t i = 0;
    for (simdjson::dom::element r : list) {
      BridgeReceiptData receipt;
      for (auto [name, out] : {std::pair<const char*, std::string*>{"contract", &receipt.contract},
                               {"owner", &receipt.owner},
                               {"publicKey", &receipt.public_key},
                               {"amount", &receipt.amount},
                               {"receiptIndex", &receipt.receipt_index}}) {
        std::string_view v;
        simdjson::dom::element field;
        if (r[name].get(field) != simdjson::SUCCESS || field.is_null()) continue;  // Go: ""
        if (field.get_string().get(v) != simdjson::SUCCESS) {
          return JsonError(400, absl::StrCat("receipts[", i, "].", name, ": a string"));
        }
        out->assign(v.data(), v.size());
      }
      block.receipts.push_back(std::move(receipt));
      ++i;
    }
  }
  absl::StatusOr<std::vector<txqueue::ChainTx>> txs = BridgeExchangeTxs(o.creator, block);
  if (!txs.ok()) return JsonError(400, txs.status().message());
  int duplicates = 0;
  for (txqueue::ChainTx& tx : *txs) {
    absl::StatusOr<txqueue::EnqueueResult> r = o.enqueue(std::move(tx));
    if (!r.ok()) {
      // Earlier receipts of the block may be queued: a retry of the block sends each receipt
      // once (its key is the receipt's).
      return JsonError(absl::IsInvalidArgument(r.status()) ? 400 : 503,
                       absl::StrCat("tx queue: ", r.status().message()));
    }
    if (r->duplicate) ++duplicates;
  }
  JsonWriter w;
  w.BeginObject()
      .Key("status")
      .String("success")
      .Key("message")
      .String("Block processed")
      .Key("blockNumber")
      .String(block.block_number)
      .Key("receiptsCount")
      .Int(static_cast<int64_t>(block.receipts.size()))
      .Key("queueSize")
      .Int(0)
      .Key("duplicates")
      .Int(duplicates)
      .EndObject();
  return net::HttpResponse::Json(200, w.Take());
}

}  // namespace

absl::StatusOr<std::vector<txqueue::ChainTx>> BridgeExchangeTxs(const std::string& creator,
                                                                const BridgeBlockData& block) {
  if (creator.empty()) return absl::InvalidArgumentError("creator: required");
  absl::StatusOr<crypto::Bech32Decoded> address = crypto::Bech32Decode(creator);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("creator: not a bech32 address: ", address.status().message()));
  }
  std::vector<txqueue::ChainTx> txs;
  for (size_t i = 0; i < block.receipts.size(); ++i) {
    const BridgeReceiptData& r = block.receipts[i];
    // Gonka: the owner's Gonka address from the receipt's public key (hex; RIPEMD-160 of
    // SHA-256, bech32), and the key itself sent with a 0x prefix.
    absl::string_view hex = r.public_key;
    std::string key;
    if (hex.empty() || !crypto::HexDecode(hex, "publicKey", &key).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("receipts[", i, "].publicKey: not a hex public key"));
    }
    absl::StatusOr<std::string> owner = crypto::EncodeAddress(address->hrp, crypto::Hash160(key));
    if (!owner.ok()) return owner.status();
    if (r.receipt_index.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("receipts[", i, "].receiptIndex: required"));
    }
    ::inference::inference::MsgBridgeExchange msg;
    msg.set_validator(creator);
    msg.set_originchain(block.origin_chain);
    msg.set_contractaddress(r.contract);
    msg.set_owneraddress(*owner);
    msg.set_ownerpubkey(absl::StartsWith(r.public_key, "0x") ? r.public_key
                                                             : absl::StrCat("0x", r.public_key));
    msg.set_amount(r.amount);
    msg.set_blocknumber(block.block_number);
    msg.set_receiptindex(r.receipt_index);
    msg.set_receiptsroot(block.receipts_root);
    txqueue::ChainTx tx;
    // The chain's own id of a bridge transaction is originChain_blockNumber_receiptIndex.
    tx.set_idempotency_key(absl::StrCat("bridge/", creator, "/", block.origin_chain, "/",
                                        block.block_number, "/", r.receipt_index)
                               .substr(0, 256));
    tx.set_producer("edge-srv");
    google::protobuf::Any* any = tx.add_messages();
    any->set_type_url(kMsgBridgeExchange);
    any->set_value(msg.SerializeAsString());
    txs.push_back(std::move(tx));
  }
  return txs;
}

absl::StatusOr<std::string> GovModuleAddress(absl::string_view prefix) {
  // The SDK's authtypes.NewModuleAddress("gov"): the first 20 bytes of SHA-256 of the name.
  const crypto::Sha256Digest digest = crypto::Sha256("gov");
  return crypto::EncodeAddress(prefix,
                               absl::string_view(reinterpret_cast<const char*>(digest.data()), 20));
}

absl::StatusOr<txqueue::ChainTx> RegisterModelProposalTx(const std::string& creator,
                                                         const std::string& model_id,
                                                         uint64_t units_of_compute_per_token,
                                                         const std::string& idempotency_key) {
  if (creator.empty()) return absl::InvalidArgumentError("creator: required");
  if (idempotency_key.empty()) return absl::InvalidArgumentError("idempotency_key: required");
  absl::StatusOr<crypto::Bech32Decoded> address = crypto::Bech32Decode(creator);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("creator: not a bech32 address: ", address.status().message()));
  }
  absl::StatusOr<std::string> gov = GovModuleAddress(address->hrp);
  if (!gov.ok()) return gov.status();
  // Gonka's registerModel handler: the gov account as authority, the participant as proposer.
  ::inference::inference::MsgRegisterModel model;
  model.set_authority(*gov);
  model.set_proposed_by(creator);
  model.set_id(model_id);
  model.set_units_of_compute_per_token(units_of_compute_per_token);
  ::cosmos::gov::v1::MsgSubmitProposal proposal;
  google::protobuf::Any* inner = proposal.add_messages();
  inner->set_type_url(kMsgRegisterModel);
  inner->set_value(model.SerializeAsString());
  ::cosmos::base::v1beta1::Coin* deposit = proposal.add_initial_deposit();
  deposit->set_denom("ngonka");
  deposit->set_amount("100000000");  // Gonka's fixed deposit (types.GetCoins(100000000))
  proposal.set_proposer(creator);
  proposal.set_metadata("Created via decentralized-api");
  proposal.set_title(absl::StrCat(model_id, " model proposal"));
  proposal.set_summary(absl::StrCat("This proposal suggests to serve a model ", model_id,
                                    " and estimates it will take ", units_of_compute_per_token,
                                    " units of compute per token"));
  proposal.set_expedited(false);
  txqueue::ChainTx tx;
  tx.set_idempotency_key(idempotency_key);
  tx.set_producer("edge-srv");
  google::protobuf::Any* any = tx.add_messages();
  any->set_type_url(kMsgSubmitProposal);
  any->set_value(proposal.SerializeAsString());
  return tx;
}

std::optional<PocTiming> ComputePocTiming(const StageWindow& window, int64_t epoch_length,
                                          int64_t epoch_shift) {
  if (epoch_length <= 0 || epoch_shift < 0 || epoch_shift >= epoch_length) return std::nullopt;
  // Gonka: the latest epoch's NextPoCStart. Epoch 0 (no PoC yet: the window has no PoC start)
  // counts down to the first one, epoch_length - epoch_shift, whatever the height; later epochs
  // to their PoC start plus the epoch length. The window's PoC start is the latest at or before
  // its height, so the next is one epoch later.
  int64_t next = window.poc_start > 0 ? window.poc_start : epoch_length - epoch_shift;
  if (window.poc_start > 0 && window.height >= next) next += epoch_length;
  PocTiming t;
  t.current_phase = window.phase;
  t.blocks_until_next_poc = std::max<int64_t>(0, next - window.height);
  constexpr double kGonkaBlockSeconds = 6.0;        // dapi apiconfig.DefaultBlockTimeSeconds
  constexpr int64_t kGonkaOnlineLeadSeconds = 600;  // dapi apiconfig.OnlineAlertLeadSeconds
  t.seconds_until_next_poc =
      static_cast<int64_t>(static_cast<double>(t.blocks_until_next_poc) * kGonkaBlockSeconds);
  const bool in_poc = window.phase == "PoCGenerate" || window.phase == "PoCGenerateWindDown" ||
                      window.phase == "PoCValidate" || window.phase == "PoCValidateWindDown";
  t.should_be_online = in_poc || t.seconds_until_next_poc <= kGonkaOnlineLeadSeconds;
  return t;
}

const std::vector<UnservedRoute>& UnservedRoutes() {
  static const auto* routes = new std::vector<UnservedRoute>{
      {"GET", "epoch-fee-budget", 501,
       "not implemented in edge-srv yet: Gonka prices it with the inference Params' FeeParams "
       "(the epoch fee group's min gas price, the MsgPoCV2StoreCommit rule's period base and "
       "per-count gas), whose wire format libgonka does not have; it also needs the stage's "
       "PoC store commits of every participant and the fee payer's spendable balance",
       "the chain's query API"},
      {"POST", "bls/request", 410, "deprecated in Gonka", "the chain's bls module"},
      {"GET", "export/db", 404, "Gonka exports dapi's local SQLite; libgonka has no local database",
       "PostgreSQL (pg_dump of the node's database)"},
      {"GET", "config", 404, "libgonka has no single process configuration",
       "each daemon's flags (--help, its start log)"},
      {"POST", "payloads", 404,
       "a test hook into dapi's payload storage (testermint); libgonka has no such store",
       "not served"},
  };
  return *routes;
}

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
          if (request_key.empty()) request_key = RandomHex();
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
  server->Handle("GET", "/admin/v1/unit-of-compute-price-proposal",
                 [o](const net::HttpRequest& request) {
                   net::HttpResponse response =
                       Guarded(o->authenticate, request, [&] { return GetPriceProposal(*o); });
                   CountRequest("unit-of-compute-price-proposal", response.status);
                   return response;
                 });
  server->Handle("POST", "/admin/v1/tx/send", [o](const net::HttpRequest& request) {
    net::HttpResponse response =
        Guarded(o->authenticate, request, [&] { return TxSend(*o, request); });
    CountRequest("tx/send", response.status);
    return response;
  });
  server->Handle("POST", "/admin/v1/models", [o](const net::HttpRequest& request) {
    net::HttpResponse response =
        Guarded(o->authenticate, request, [&] { return RegisterModel(*o, request); });
    CountRequest("models", response.status);
    return response;
  });
  // setup/report: one report a minute (Gonka's cache), then the cached one.
  struct ReportCache {
    absl::Mutex mu;
    std::string json ABSL_GUARDED_BY(mu);
    absl::Time until ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  };
  auto cache = std::make_shared<ReportCache>();
  server->Handle("GET", "/admin/v1/setup/report", [o, cache](const net::HttpRequest& request) {
    net::HttpResponse response = Guarded(o->authenticate, request, [&]() -> net::HttpResponse {
      if (!o->setup_report) {
        return Unserved(501, "no setup report configured", "each daemon's /ready");
      }
      absl::MutexLock lock(&cache->mu);
      const absl::Time now = absl::Now();
      if (now >= cache->until) {
        cache->json = o->setup_report(now);
        cache->until = now + absl::Minutes(1);
      }
      return net::HttpResponse::Json(200, cache->json);
    });
    CountRequest("setup/report", response.status);
    return response;
  });
  server->Handle("POST", "/admin/v1/bridge/block", [o](const net::HttpRequest& request) {
    net::HttpResponse response =
        Guarded(o->authenticate, request, [&] { return BridgeBlock(*o, request); });
    CountRequest("bridge/block", response.status);
    return response;
  });
  server->Handle("GET", "/admin/v1/poc/timing", [o](const net::HttpRequest& request) {
    return Guarded(o->authenticate, request, [&] { return PocTimingRoute(*o); });
  });
  server->Handle("POST", "/admin/v1/claim-reward/recover", [o](const net::HttpRequest& request) {
    return Guarded(o->authenticate, request, [&] { return ClaimRewardRecover(*o, request); });
  });
  for (const UnservedRoute& route : UnservedRoutes()) {
    const UnservedRoute r = route;
    server->Handle(r.method, absl::StrCat("/admin/v1/", r.path),
                   [o, r](const net::HttpRequest& request) {
                     return Guarded(o->authenticate, request,
                                    [&] { return Unserved(r.status, r.why, r.served_by); });
                   });
  }
  for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
    for (const char* path : {"/admin/v1/nodes", "/admin/v1/nodes/*"}) {
      server->Handle(method, path, [o](const net::HttpRequest& request) {
        return Guarded(o->authenticate, request, [&] { return NodeRoute(*o, request); });
      });
    }
  }
}

}  // namespace edgesrv
}  // namespace gonka

// The restrictions, BLS, /v1/versions and /v1/epochs/{n}/participants routes on a real edge-api
// process against a real devchain (gRPC on, 20-block epochs of 100 ms blocks) whose genesis
// holds restriction params, BLS epoch data and signing requests (docs/cache.md, "Gonka's public
// routes"): each route's JSON shape, the status codes of Gonka's handlers (400 naming the
// parameter, 404, BLS's 500 and {}), and that repeated requests are cache hits.
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gonka/base/version.h"
#include "gonka/chain/epoch.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/route_client.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace cache {
namespace {

constexpr absl::Duration kWait = absl::Seconds(60);

std::string Address(char fill) { return *crypto::EncodeAddress("gonka", std::string(20, fill)); }
// A participant's Ed25519 consensus key (32 bytes) and its CometBFT hex address.
std::string ValidatorKey(char fill) { return std::string(32, fill); }
std::string HexAddress(char fill) {
  std::string hex =
      crypto::HexEncode(crypto::AsStringView(crypto::Sha256(ValidatorKey(fill))).substr(0, 20));
  for (char& c : hex) c = static_cast<char>(toupper(c));
  return hex;
}

// Epoch e starts PoC at 20e, writes its ActiveParticipants (and starts its DKG) at the end of
// PoC validation, 20e + 8, and is effective from 20e + 10.
chain::EpochParams Params() {
  return {.epoch_length = 20,
          .poc_stage_duration = 4,
          .poc_exchange_duration = 1,
          .poc_validation_delay = 1,
          .poc_validation_duration = 3,
          .set_new_validators_delay = 2};
}
int64_t EffectiveEpoch(int64_t height) { return chain::ScheduleAt(Params(), height).epoch_index; }

// BLS12-381 points (ZCash compressed encoding) and their uncompressed coordinates: the G2 and
// G1 generators (IETF pairing-friendly-curves draft / RFC 9380) and -G1 (the sign flag 0x20 set,
// y = p - y(G1)). docs/cache.md describes the layout.
constexpr char kG2Compressed[] =
    "93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b"
    "7e024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121"
    "bdb8";
constexpr const char* kG2Coordinates[] = {  // x.c0, x.c1, y.c0, y.c1
    "024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bd"
    "b8",
    "13e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b"
    "7e",
    "0ce5d527727d6e118cc9cdc6da2e351aadfd9baa8cbdd3a76d429a695160d12c923ac9cc3baca289e193548608b828"
    "01",
    "0606c4a02ea734cc32acd2b02bc28b99cb3e287e85a763af267492ab572e99ab3f370d275cec1da1aaa9075ff05f79"
    "be"};
constexpr char kG1Compressed[] =
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6"
    "bb";
constexpr char kG1NegatedCompressed[] =
    "b7f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6"
    "bb";
constexpr char kG1X[] =
    "17f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6"
    "bb";
constexpr char kG1Y[] =
    "08b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7"
    "e1";
constexpr char kG1NegatedY[] =
    "114d1d6855d545a8aa7d76c8cf2e21f267816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2"
    "ca";

std::string Unhex(absl::string_view hex) { return absl::HexStringToBytes(hex); }
// Gonka's uncompressed layout: each coordinate right-aligned in a 64-byte big-endian limb.
std::string Limbs(std::initializer_list<const char*> coordinates) {
  std::string out;
  for (const char* hex : coordinates) out += std::string(16, '\0') + Unhex(hex);
  return out;
}

// A base64 field of `doc`, decoded, in hex (so a mismatch shows the limb that differs).
std::string DecodedHex(simdjson::dom::element doc, const char* key) {
  std::string bytes;
  if (!absl::Base64Unescape(testing::StringField(doc, key), &bytes)) return "<not base64>";
  return crypto::HexEncode(bytes);
}

std::string Genesis() {
  auto b64 = [](const std::string& bytes) { return absl::Base64Escape(bytes); };
  return absl::StrCat(R"({
    "block_interval": "100ms",
    "epoch": {"epoch_length": "20", "poc_stage_duration": "4", "poc_exchange_duration": "1",
              "poc_validation_delay": "1", "poc_validation_duration": "3",
              "set_new_validators_delay": "2"},
    "accounts": [{"address": ")",
                      Address(1), R"(", "balances": {"ngonka": "1000"}}],
    "inference": {
      "models": [{"id": "Qwen/Qwen3-8B"}],
      "participants": [
        {"address": ")",
                      Address(1), R"(", "inference_url": "http://p1", "weight": 10,
         "validator_key": ")",
                      b64(ValidatorKey(1)), R"("},
        {"address": ")",
                      Address(2), R"(", "inference_url": "http://p2", "weight": 20,
         "validator_key": ")",
                      b64(ValidatorKey(2)), R"("}],
      "excluded_participants": [{"address": ")",
                      Address(2), R"(", "epoch_index": "1", "reason": "missed"}],
      "restrictions": {
        "restriction_end_block": "1000000",
        "emergency_transfer_exemptions": [
          {"exemption_id": "old", "from_address": "*", "to_address": "*", "max_amount": "5",
           "usage_limit": "1", "expiry_block": "3", "justification": "expired"},
          {"exemption_id": "e1", "from_address": ")",
                      Address(1), R"(", "to_address": "*", "max_amount": "100",
           "usage_limit": "3", "expiry_block": "1000000", "justification": "refund"}],
        "exemption_usage_tracking": [
          {"exemption_id": "e1", "account_address": ")",
                      Address(1), R"(", "usage_count": "2"}]},
      "bls": {
        "epochs": [{"epoch_id": "1", "i_total_slots": 100, "t_slots_degree": 50,
                    "dkg_phase": "DKG_PHASE_SIGNED",
                    "participants": [{"address": ")",
                      Address(1), R"(", "percentage_weight": "0.5",
                                      "slot_start_index": 0, "slot_end_index": 49}],
                    "group_public_key": ")",
                      b64(Unhex(kG2Compressed)), R"(",
                    "validation_signature": ")",
                      b64(Unhex(kG1NegatedCompressed)), R"("},
                   {"epoch_id": "2", "dkg_phase": "DKG_PHASE_SIGNED",
                    "group_public_key": ")",
                      b64(std::string(96, '\x11')), R"(",
                    "validation_signature": ")",
                      b64(std::string(48, '\x22')), R"("}],
        "signing_requests": [{"request_id": ")",
                      b64("\x0a\x0b"), R"(", "current_epoch_id": "1",
                              "status": "THRESHOLD_SIGNING_STATUS_COMPLETED",
                              "final_signature": ")",
                      b64(Unhex(kG1Compressed)), R"(",
                              "created_block_height": "2"},
                             {"request_id": ")",
                      b64("\x0c\x0d"), R"(", "current_epoch_id": "1",
                              "status": "THRESHOLD_SIGNING_STATUS_COLLECTING_SIGNATURES",
                              "final_signature": ")",
                      b64(Unhex(kG1Compressed)), R"(",
                              "created_block_height": "2"},
                             {"request_id": ")",
                      b64("\x0e\x0f"), R"(", "current_epoch_id": "1",
                              "status": "THRESHOLD_SIGNING_STATUS_COMPLETED",
                              "final_signature": ")",
                      b64(std::string(48, '\x33')), R"(",
                              "created_block_height": "2"}]}
    }})");
}

// devchain (gRPC on) + nats-server + one edge-api with the optional routes, once per suite.
testing::ChainHubOptions HubOptions() {
  return {
      .edge_api_args = {"--start-height=1", "--cache-height-poll=50ms", "--expose-optional-routes"},
      .chain_id = "routes-state-test",
      .genesis_json = Genesis(),
      .grpc = true};
}

using Env = testing::ChainHub;
using Answer = testing::RouteAnswer;
using testing::GetRoute;
using testing::IntField;
using testing::StringField;

// `field` ("hits", "misses") of `route` in /v1/cache/stats.
int64_t RouteStat(net::HttpClient& client, const Env& env, const std::string& route,
                  const char* field) {
  absl::StatusOr<Answer> a = GetRoute(client, env.url("/v1/cache/stats"));
  if (!a.ok() || a->status != 200) return -1;
  simdjson::dom::parser parser;
  simdjson::dom::element doc = testing::ParseJson(parser, a->body);
  simdjson::dom::array routes;
  if (doc["routes"].get_array().get(routes) != simdjson::SUCCESS) return -1;
  for (simdjson::dom::element r : routes) {
    std::string_view name;
    if (r["route"].get_string().get(name) == simdjson::SUCCESS && name == route) {
      int64_t v = -1;
      if (r[field].get_int64().get(v) != simdjson::SUCCESS) return -1;
      return v;
    }
  }
  return -1;
}

// Asks `path` until one answer is a cache hit of `route` (kBlock entries live one 100 ms block,
// so a burst of requests lands several on one height); true when hits grew.
bool RepeatsHit(net::HttpClient& client, const Env& env, const std::string& path,
                const std::string& route) {
  const int64_t before = RouteStat(client, env, route, "hits");
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<Answer> a = GetRoute(client, env.url(path));
    if (!a.ok()) return false;
  }
  return RouteStat(client, env, route, "hits") > before;
}

class ChainRoutesStateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env(HubOptions());
    absl::Status s = env_->Start();
    ASSERT_TRUE(s.ok()) << s << "\n" << env_->Logs();
    // Epoch 2 effective (height >= 50): epoch 1 is finished.
    net::HttpClient client;
    s = testing::WaitFor(
        [&] {
          absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/restrictions/status"));
          return a.ok() && a->status == 200 && a->height >= 52;
        },
        kWait);
    ASSERT_TRUE(s.ok()) << s << "\n" << env_->Logs();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  static Env* env_;
};
Env* ChainRoutesStateTest::env_ = nullptr;

TEST_F(ChainRoutesStateTest, RestrictionsAnswerGoJsonAtTheirHeight) {
  net::HttpClient client;
  simdjson::dom::parser parser;
  absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/restrictions/status"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : a.status().ToString());
  EXPECT_EQ(a->cache_control, "public, max-age=1");  // kBlock
  simdjson::dom::element doc = testing::ParseJson(parser, a->body);
  bool active = false;
  EXPECT_EQ(doc["is_active"].get_bool().get(active), simdjson::SUCCESS) << a->body;
  EXPECT_TRUE(active);
  // Go's encoding/json: uint64 as numbers.
  EXPECT_EQ(IntField(doc, "restriction_end_block"), 1000000);
  EXPECT_EQ(IntField(doc, "current_block_height"), a->height);
  EXPECT_EQ(IntField(doc, "remaining_blocks"), 1000000 - a->height);

  // Only the unexpired exemption; the page answers its total.
  a = GetRoute(client, env_->url("/v1/restrictions/exemptions"));
  ASSERT_TRUE(a.ok() && a->status == 200);
  doc = testing::ParseJson(parser, a->body);
  simdjson::dom::array list;
  ASSERT_EQ(doc["exemptions"].get_array().get(list), simdjson::SUCCESS) << a->body;
  ASSERT_EQ(list.size(), 1u) << a->body;
  EXPECT_EQ(StringField(list.at(0), "exemption_id"), "e1");
  EXPECT_EQ(StringField(list.at(0), "max_amount"), "100");
  EXPECT_EQ(IntField(list.at(0), "usage_limit"), 3);
  EXPECT_EQ(IntField(list.at(0), "expiry_block"), 1000000);
  EXPECT_EQ(IntField(doc["pagination"], "total"), 1);

  a = GetRoute(client, env_->url("/v1/restrictions/exemptions/e1/usage/" + Address(1)));
  ASSERT_TRUE(a.ok() && a->status == 200);
  doc = testing::ParseJson(parser, a->body);
  ASSERT_EQ(doc["usage_entries"].get_array().get(list), simdjson::SUCCESS) << a->body;
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(StringField(list.at(0), "account_address"), Address(1));
  EXPECT_EQ(IntField(list.at(0), "usage_count"), 2);
  // No usage for another account: omitempty leaves the list out.
  a = GetRoute(client, env_->url("/v1/restrictions/exemptions/e1/usage/" + Address(2)));
  ASSERT_TRUE(a.ok() && a->status == 200);
  EXPECT_EQ(a->body, "{\"pagination\":{}}");
  // The chain's InvalidArgument → 400 naming the account.
  a = GetRoute(client, env_->url("/v1/restrictions/exemptions/e1/usage/notanaddress"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 400) << a->body;
  EXPECT_NE(a->body.find("invalid account address"), std::string::npos) << a->body;
  a = GetRoute(client, env_->url("/v1/restrictions/exemptions/e1/other/" + Address(1)));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 404) << a->body;

  EXPECT_TRUE(RepeatsHit(client, *env_, "/v1/restrictions/status", "restrictions_status"));
  EXPECT_TRUE(RepeatsHit(client, *env_, "/v1/restrictions/exemptions", "restrictions_exemptions"));
}

TEST_F(ChainRoutesStateTest, BlsEpochAndSignatures) {
  net::HttpClient client;
  simdjson::dom::parser parser;
  absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/bls/epoch/1"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : a.status().ToString());
  simdjson::dom::element doc = testing::ParseJson(parser, a->body);
  simdjson::dom::element data = doc["epoch_data"];
  // Cosmos ProtoMarshalJSON: every field, uint64 as strings, enums by name, bytes base64.
  EXPECT_EQ(StringField(data, "epoch_id"), "1");
  EXPECT_EQ(IntField(data, "i_total_slots"), 100);
  EXPECT_EQ(StringField(data, "dkg_phase"), "DKG_PHASE_SIGNED");
  EXPECT_EQ(StringField(data, "group_public_key"), absl::Base64Escape(Unhex(kG2Compressed)));
  EXPECT_EQ(StringField(data, "dealing_phase_deadline_block"), "0");  // a default, printed
  EXPECT_EQ(StringField(data["participants"].at(0), "percentage_weight"), "0.500000000000000000");
  // The G2 group key and the G1 validation signature decompressed, base64 of the limb layout.
  EXPECT_EQ(DecodedHex(doc, "group_public_key_uncompressed_256"),
            crypto::HexEncode(Limbs(
                {kG2Coordinates[0], kG2Coordinates[1], kG2Coordinates[2], kG2Coordinates[3]})))
      << a->body;
  EXPECT_EQ(DecodedHex(doc, "validation_signature_uncompressed_128"),
            crypto::HexEncode(Limbs({kG1X, kG1NegatedY})))
      << a->body;
  absl::StatusOr<Answer> alias = GetRoute(client, env_->url("/v1/bls/epochs/1"));
  ASSERT_TRUE(alias.ok() && alias->status == 200);
  EXPECT_EQ(alias->body, a->body);
  // Bytes that are no curve point: both fields null, as Gonka (the decompression error ignored).
  a = GetRoute(client, env_->url("/v1/bls/epoch/2"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : a.status().ToString());
  doc = testing::ParseJson(parser, a->body);
  EXPECT_TRUE(doc["group_public_key_uncompressed_256"].is_null()) << a->body;
  EXPECT_TRUE(doc["validation_signature_uncompressed_128"].is_null()) << a->body;
  // Gonka's BLS handler: every upstream error (here NotFound, and epoch 0's InvalidArgument)
  // is 500 with its own text; a non-integer id 400 naming the parameter.
  for (const char* path : {"/v1/bls/epoch/7", "/v1/bls/epoch/0"}) {
    a = GetRoute(client, env_->url(path));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 500) << path << " " << a->body;
    EXPECT_NE(a->body.find("Failed to query BLS epoch data"), std::string::npos) << a->body;
  }
  a = GetRoute(client, env_->url("/v1/bls/epoch/abc"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 400) << a->body;
  EXPECT_NE(a->body.find("parameter id"), std::string::npos) << a->body;

  a = GetRoute(client, env_->url("/v1/bls/signatures/0a0b"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : "");
  doc = testing::ParseJson(parser, a->body);
  EXPECT_EQ(StringField(doc["signing_request"], "status"), "THRESHOLD_SIGNING_STATUS_COMPLETED");
  EXPECT_EQ(StringField(doc["signing_request"], "request_id"), absl::Base64Escape("\x0a\x0b"));
  EXPECT_EQ(StringField(doc["signing_request"], "current_epoch_id"), "1");
  // COMPLETED with a valid G1 final_signature: its uncompressed form (X | Y limbs), base64.
  EXPECT_EQ(DecodedHex(doc, "uncompressed_signature_128"), crypto::HexEncode(Limbs({kG1X, kG1Y})))
      << a->body;
  // Not COMPLETED (even with a valid signature), or COMPLETED with junk bytes: left out.
  for (const char* path : {"/v1/bls/signatures/0c0d", "/v1/bls/signatures/0e0f"}) {
    a = GetRoute(client, env_->url(path));
    ASSERT_TRUE(a.ok() && a->status == 200) << path << (a.ok() ? a->body : "");
    doc = testing::ParseJson(parser, a->body);
    EXPECT_TRUE(doc["signing_request"].is_object()) << a->body;
    EXPECT_EQ(doc["uncompressed_signature_128"].error(), simdjson::NO_SUCH_FIELD) << a->body;
  }
  // Unknown → 200 {}; not hex → 400.
  a = GetRoute(client, env_->url("/v1/bls/signatures/ffff"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "{}");
  a = GetRoute(client, env_->url("/v1/bls/signatures/zz"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 400) << a->body;
  EXPECT_NE(a->body.find("hex"), std::string::npos) << a->body;

  EXPECT_TRUE(RepeatsHit(client, *env_, "/v1/bls/epoch/1", "bls_epoch"));
  EXPECT_TRUE(RepeatsHit(client, *env_, "/v1/bls/signatures/0a0b", "bls_signature"));
}

TEST_F(ChainRoutesStateTest, VersionsFromGetNodeInfo) {
  net::HttpClient client;
  simdjson::dom::parser parser;
  absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/versions"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : a.status().ToString());
  simdjson::dom::element doc = testing::ParseJson(parser, a->body);
  EXPECT_EQ(StringField(doc["node_version"], "application_name"), "devchain");
  EXPECT_EQ(StringField(doc["node_version"], "version"), "0.1.0");
  EXPECT_EQ(StringField(doc["node_version"], "commit"), "devchain");
  EXPECT_EQ(StringField(doc["api_version"], "application_name"), "edge-api");
  EXPECT_EQ(StringField(doc["api_version"], "version"), kVersion);
  absl::Time stamp;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, StringField(doc, "timestamp"), &stamp, &error))
      << error;
  EXPECT_TRUE(RepeatsHit(client, *env_, "/v1/versions", "versions"));
}

TEST_F(ChainRoutesStateTest, EpochParticipants) {
  net::HttpClient client;
  simdjson::dom::parser parser;
  // Epoch 1 is finished: immutable, cached for good (kNever).
  absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/epochs/1/participants"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : a.status().ToString());
  EXPECT_EQ(a->cache_control, "public, max-age=31536000, immutable");
  simdjson::dom::element doc = testing::ParseJson(parser, a->body);
  simdjson::dom::element active = doc["active_participants"];
  EXPECT_EQ(StringField(active, "epoch_id"), "1");
  EXPECT_EQ(StringField(active, "created_at_block_height"), "28");
  EXPECT_EQ(StringField(active, "effective_block_height"), "30");
  EXPECT_EQ(StringField(active, "poc_start_block_height"), "20");
  simdjson::dom::array list;
  ASSERT_EQ(active["participants"].get_array().get(list), simdjson::SUCCESS) << a->body;
  ASSERT_EQ(list.size(), 2u);
  // Sorted by address as devchain keys them; each with its epoch-1 weight and the hex address
  // of its validator key at the same position in `addresses`.
  simdjson::dom::array addresses;
  ASSERT_EQ(doc["addresses"].get_array().get(addresses), simdjson::SUCCESS);
  ASSERT_EQ(addresses.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const bool first = StringField(list.at(i), "index") == Address(1);
    EXPECT_EQ(StringField(list.at(i), "index"), first ? Address(1) : Address(2));
    EXPECT_EQ(StringField(list.at(i), "weight"), first ? "11" : "21");
    std::string_view address;
    EXPECT_EQ(addresses.at(i).get_string().get(address), simdjson::SUCCESS);
    EXPECT_EQ(address, HexAddress(first ? 1 : 2));
  }
  EXPECT_FALSE(StringField(doc, "active_participants_bytes").empty());
  // devchain answers ICS-23 proof ops (checked by proof_routes_integration_test).
  EXPECT_EQ(doc["proof_ops"]["ops"].error(), simdjson::SUCCESS) << a->body;
  ASSERT_EQ(doc["validators"].get_array().get(list), simdjson::SUCCESS);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(IntField(list.at(0), "voting_power"), 10);
  EXPECT_EQ(StringField(list.at(0), "address").size(), 40u);
  EXPECT_EQ(StringField(doc["block"]["header"], "height"), "29");  // created + 1
  ASSERT_EQ(doc["excluded_participants"].get_array().get(list), simdjson::SUCCESS);
  ASSERT_EQ(list.size(), 1u) << a->body;
  EXPECT_EQ(StringField(list.at(0), "address"), Address(2));
  EXPECT_EQ(StringField(list.at(0), "reason"), "missed");
  EXPECT_EQ(IntField(list.at(0), "exclusion_block_height"), 30);

  const int64_t hits = RouteStat(client, *env_, "epoch_participants", "hits");
  const int64_t misses = RouteStat(client, *env_, "epoch_participants", "misses");
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Answer> again = GetRoute(client, env_->url("/v1/epochs/1/participants"));
    ASSERT_TRUE(again.ok() && again->status == 200);
    EXPECT_EQ(again->body, a->body);
  }
  EXPECT_EQ(RouteStat(client, *env_, "epoch_participants", "hits"), hits + 5);
  EXPECT_EQ(RouteStat(client, *env_, "epoch_participants", "misses"), misses);

  // "current" is the effective epoch, served live (kBlock).
  a = GetRoute(client, env_->url("/v1/epochs/current/participants"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : "");
  EXPECT_EQ(a->cache_control, "public, max-age=1");
  doc = testing::ParseJson(parser, a->body);
  int64_t epoch = 0;
  ASSERT_TRUE(absl::SimpleAtoi(StringField(doc["active_participants"], "epoch_id"), &epoch));
  EXPECT_EQ(epoch, EffectiveEpoch(a->height));

  // Epoch 2 is served live while it is the effective epoch, and for good once epoch 3 is.
  a = GetRoute(client, env_->url("/v1/epochs/2/participants"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : "");
  const std::string live_class = a->cache_control;
  EXPECT_EQ(live_class, EffectiveEpoch(a->height) <= 2 ? "public, max-age=1"
                                                       : "public, max-age=31536000, immutable");
  std::string live_active =
      simdjson::to_string(testing::ParseJson(parser, a->body)["active_participants"]);
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    absl::StatusOr<Answer> c = GetRoute(client, env_->url("/v1/epochs/latest"));
                    return c.ok() && c->status == 200 && EffectiveEpoch(c->height) >= 3;
                  },
                  kWait)
                  .ok());
  a = GetRoute(client, env_->url("/v1/epochs/2/participants"));
  ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : "");
  EXPECT_EQ(a->cache_control, "public, max-age=31536000, immutable");
  EXPECT_EQ(simdjson::to_string(testing::ParseJson(parser, a->body)["active_participants"]),
            live_active);

  // Gonka's errors: 0 and non-numbers 400, an epoch without participants yet 404.
  a = GetRoute(client, env_->url("/v1/epochs/0/participants"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 400) << a->body;
  EXPECT_NE(a->body.find("starts with 1"), std::string::npos) << a->body;
  a = GetRoute(client, env_->url("/v1/epochs/abc/participants"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 400) << a->body;
  EXPECT_NE(a->body.find("Invalid epoch id"), std::string::npos) << a->body;
  a = GetRoute(client, env_->url("/v1/epochs/99/participants"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 404) << a->body;
  EXPECT_NE(a->body.find("active participants not found"), std::string::npos) << a->body;
}

TEST_F(ChainRoutesStateTest, OptionalRoutesBehindTheFlag) {
  net::HttpClient client;
  // Gonka's test vector (common/queryapi/tests/debug_test.go).
  absl::StatusOr<Answer> a = GetRoute(
      client, env_->url("/v1/debug/pubkey-to-addr/Au5ZQav3E36PZpGta2xUa8r9xEEo9Biph3fG5i3qaeSG"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 200) << a->body;
  EXPECT_EQ(a->body, "gonka1jwrv4q8hpxc354pr87pt0pkulaep67e9s4z0ym");
  a = GetRoute(client, env_->url("/v1/debug/pubkey-to-addr/notvalid!!!"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 400) << a->body;
  EXPECT_NE(a->body.find("invalid pubkey"), std::string::npos) << a->body;
  // Commit verification against devchain's signed commits (verify_routes_integration_test).
  a = GetRoute(client, env_->url("/v1/debug/verify/10"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 200) << a->body;
  EXPECT_EQ(a->body, "Block signatures verified");
  net::HttpCallOptions options;
  options.timeout = absl::Seconds(10);
  absl::StatusOr<net::HttpResponse> post =
      client.Post(env_->url("/v1/verify-proof"), "{}", "application/json", options);
  ASSERT_TRUE(post.ok()) << post.status();
  // Served (proof_routes_integration_test): an empty request proves nothing.
  EXPECT_EQ(post->status, 500) << post->body;
}

}  // namespace
}  // namespace cache
}  // namespace gonka

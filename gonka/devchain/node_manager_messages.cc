#include "gonka/devchain/node_manager_messages.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/secp256k1.h"
#include "gonka/proto/inference/inference/query_nodemanager.pb.h"
#include "gonka/proto/inference/inference/tx.pb.h"

namespace gonka {
namespace devchain {
namespace {

namespace infpb = ::inference::inference;

constexpr char kSubmitSeed[] = "/inference.inference.MsgSubmitSeed";
constexpr char kClaimRewards[] = "/inference.inference.MsgClaimRewards";
constexpr char kWeightDistribution[] = "/inference.inference.MsgMLNodeWeightDistribution";
constexpr char kStoreCommit[] = "/inference.inference.MsgPoCV2StoreCommit";

constexpr char kListRandomSeeds[] = "/inference.inference.Query/ListRandomSeeds";
constexpr char kQueryWeights[] = "/inference.inference.Query/MLNodeWeightDistribution";
constexpr char kQueryCommit[] = "/inference.inference.Query/PoCV2StoreCommit";

// Gonka's registered inference errors (x/inference/types/errors.go).
constexpr uint32_t kErrClaimSignatureInvalid = 1116;
constexpr uint32_t kErrIllegalState = 1137;
constexpr uint32_t kErrEpochIndexOutOfRange = 1174;

TxResult Refuse(uint32_t code, absl::string_view codespace, std::string log) {
  TxResult r;
  r.code = code;
  r.codespace = std::string(codespace);
  r.log = std::move(log);
  return r;
}

TxResult IllegalState(const std::string& why) {
  return Refuse(kErrIllegalState, "inference",
                absl::StrCat(why, ": illegal state for the operation requested"));
}

TxResult ParseError(absl::string_view what) {
  return Refuse(2, "sdk", absl::StrCat(what, ": tx parse error"));
}

uint64_t EffectiveEpoch(const EpochParams& schedule, int64_t height) {
  return static_cast<uint64_t>(chain::ScheduleAt(schedule, height).epoch_index);
}

std::string BigEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, value >>= 8) out[i] = static_cast<char>(value & 0xff);
  return out;
}

// The stage must be an epoch's PoC start at or before `height`.
std::optional<TxResult> CheckStage(const EpochParams& schedule, int64_t stage, int64_t height) {
  int64_t epoch = stage > 0 ? chain::LatestEpochAt(schedule, stage) : 0;
  if (epoch < 1 || chain::PocStartHeight(schedule, epoch) != stage || stage > height) {
    return IllegalState(absl::StrCat("poc_stage_start_block_height ", stage,
                                     " is not the PoC start of an epoch started by height ",
                                     height));
  }
  return std::nullopt;
}

std::optional<TxResult> SubmitSeed(const google::protobuf::Any& any, const EpochParams& schedule,
                                   int64_t height, NodeManagerState* state) {
  infpb::MsgSubmitSeed m;
  if (!m.ParseFromString(any.value())) return ParseError("MsgSubmitSeed");
  uint64_t effective = EffectiveEpoch(schedule, height);
  if (m.epoch_index() < effective || m.epoch_index() > effective + 1) {
    return Refuse(kErrEpochIndexOutOfRange, "inference",
                  absl::StrCat("seed epoch ", m.epoch_index(), " at effective epoch ", effective,
                               ": epoch index can only be current or upcoming epoch"));
  }
  auto [it, inserted] =
      state->random_seeds.emplace(std::make_pair(m.epoch_index(), m.creator()), m.signature());
  if (!inserted) {
    return IllegalState(
        absl::StrCat("seed of epoch ", m.epoch_index(), " by ", m.creator(), " already submitted"));
  }
  return std::nullopt;
}

std::optional<TxResult> ClaimRewards(const google::protobuf::Any& any, const EpochParams& schedule,
                                     int64_t height,
                                     const std::vector<std::string>& signer_pub_keys,
                                     NodeManagerState* state) {
  infpb::MsgClaimRewards m;
  if (!m.ParseFromString(any.value())) return ParseError("MsgClaimRewards");
  uint64_t effective = EffectiveEpoch(schedule, height);
  if (m.epoch_index() >= effective) {
    return IllegalState(absl::StrCat("epoch ", m.epoch_index(), " has not ended (effective epoch ",
                                     effective, " at height ", height, ")"));
  }
  auto seed = state->random_seeds.find({m.epoch_index(), m.creator()});
  bool verified = false;
  if (seed != state->random_seeds.end() && m.seed() > 0) {
    std::string signature;
    if (crypto::HexDecode(seed->second, "seed signature", &signature).ok()) {
      crypto::Sha256Digest digest = crypto::Sha256(BigEndian64(static_cast<uint64_t>(m.seed())));
      for (const std::string& key : signer_pub_keys) {
        if (crypto::VerifySignature(key, crypto::AsStringView(digest), signature).ok()) {
          verified = true;
          break;
        }
      }
    }
  }
  if (!verified) {
    return Refuse(kErrClaimSignatureInvalid, "inference",
                  absl::StrCat(seed == state->random_seeds.end()
                                   ? absl::StrCat("no seed submitted for epoch ", m.epoch_index(),
                                                  " by ", m.creator())
                                   : absl::StrCat("seed ", m.seed(),
                                                  " does not match the "
                                                  "signature submitted for epoch ",
                                                  m.epoch_index()),
                               ": claim signature invalid"));
  }
  if (!state->claims.emplace(m.epoch_index(), m.creator()).second) {
    return IllegalState(
        absl::StrCat("rewards of epoch ", m.epoch_index(), " already claimed by ", m.creator()));
  }
  return std::nullopt;
}

std::optional<TxResult> WeightDistribution(const google::protobuf::Any& any,
                                           const EpochParams& schedule, int64_t height,
                                           NodeManagerState* state) {
  infpb::MsgMLNodeWeightDistribution m;
  if (!m.ParseFromString(any.value())) return ParseError("MsgMLNodeWeightDistribution");
  if (auto bad = CheckStage(schedule, m.poc_stage_start_block_height(), height)) return bad;
  if (m.entries_size() == 0) {
    return Refuse(18, "sdk", "MsgMLNodeWeightDistribution: no entries: invalid request");
  }
  for (int i = 0; i < m.entries_size(); ++i) {
    if (m.entries(i).model_id().empty()) {
      return Refuse(18, "sdk",
                    absl::StrCat("MsgMLNodeWeightDistribution: entries[", i,
                                 "].model_id is empty: invalid request"));
    }
  }
  for (const auto& e : m.entries()) {
    state->weight_distributions[{m.poc_stage_start_block_height(), m.creator(), e.model_id()}] =
        cosmos::SerializeDeterministic(e);
  }
  return std::nullopt;
}

std::optional<TxResult> StoreCommit(const google::protobuf::Any& any, const EpochParams& schedule,
                                    int64_t height, NodeManagerState* state) {
  infpb::MsgPoCV2StoreCommit m;
  if (!m.ParseFromString(any.value())) return ParseError("MsgPoCV2StoreCommit");
  if (auto bad = CheckStage(schedule, m.poc_stage_start_block_height(), height)) return bad;
  if (m.entries_size() == 0) {
    return Refuse(18, "sdk", "MsgPoCV2StoreCommit: no entries: invalid request");
  }
  for (int i = 0; i < m.entries_size(); ++i) {
    const auto& e = m.entries(i);
    if (e.model_id().empty() || e.root_hash().size() != 32) {
      return Refuse(18, "sdk",
                    absl::StrCat("MsgPoCV2StoreCommit: entries[", i,
                                 "] needs a model_id and a 32-byte root_hash: invalid request"));
    }
  }
  for (const auto& e : m.entries()) {
    state->store_commits[{m.poc_stage_start_block_height(), m.creator(), e.model_id()}] =
        cosmos::SerializeDeterministic(e);
  }
  return std::nullopt;
}

TxExecutor::QueryResult Answer(const google::protobuf::Message& response) {
  return {0, "", "", cosmos::SerializeDeterministic(response)};
}

TxExecutor::QueryResult Undecodable(absl::string_view what) {
  return {18, "sdk", absl::StrCat("invalid request: cannot decode ", what), ""};
}

}  // namespace

bool IsNodeManagerMsg(absl::string_view t) {
  return t == kSubmitSeed || t == kClaimRewards || t == kWeightDistribution || t == kStoreCommit;
}

std::optional<TxResult> ApplyNodeManagerMsg(const google::protobuf::Any& msg,
                                            const EpochParams& schedule, int64_t height,
                                            const std::vector<std::string>& signer_pub_keys,
                                            NodeManagerState* state, std::vector<Event>* events) {
  const std::string& t = msg.type_url();
  std::optional<TxResult> refused;
  if (t == kSubmitSeed) refused = SubmitSeed(msg, schedule, height, state);
  if (t == kClaimRewards) refused = ClaimRewards(msg, schedule, height, signer_pub_keys, state);
  if (t == kWeightDistribution) refused = WeightDistribution(msg, schedule, height, state);
  if (t == kStoreCommit) refused = StoreCommit(msg, schedule, height, state);
  (void)events;
  return refused;
}

bool HandlesNodeManagerQuery(absl::string_view path) {
  return path == kListRandomSeeds || path == kQueryWeights || path == kQueryCommit;
}

TxExecutor::QueryResult QueryNodeManager(absl::string_view path, absl::string_view data,
                                         const NodeManagerState& state) {
  if (path == kListRandomSeeds) {
    infpb::QueryRandomSeedsRequest request;
    if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      return Undecodable("QueryRandomSeedsRequest");
    }
    infpb::QueryRandomSeedsResponse response;
    for (auto it = state.random_seeds.lower_bound({request.epoch_index(), ""});
         it != state.random_seeds.end() && it->first.first == request.epoch_index(); ++it) {
      infpb::RandomSeed* seed = response.add_seeds();
      seed->set_participant(it->first.second);
      seed->set_epoch_index(it->first.first);
      seed->set_signature(it->second);
    }
    return Answer(response);
  }
  if (path == kQueryWeights) {
    infpb::QueryMLNodeWeightDistributionRequest request;
    if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      return Undecodable("QueryMLNodeWeightDistributionRequest");
    }
    infpb::QueryMLNodeWeightDistributionResponse response;
    auto it = state.weight_distributions.find({request.poc_stage_start_block_height(),
                                               request.participant_address(), request.model_id()});
    if (it != state.weight_distributions.end()) {
      infpb::MLNodeDistributionEntry entry;
      entry.ParseFromString(it->second);
      *response.mutable_weights() = entry.weights();
      response.set_found(true);
    }
    return Answer(response);
  }
  infpb::QueryPoCV2StoreCommitRequest request;
  if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return Undecodable("QueryPoCV2StoreCommitRequest");
  }
  infpb::QueryPoCV2StoreCommitResponse response;
  auto it = state.store_commits.find(
      {request.poc_stage_start_block_height(), request.participant_address(), request.model_id()});
  if (it != state.store_commits.end()) {
    infpb::PoCV2CommitEntry entry;
    entry.ParseFromString(it->second);
    response.set_count(entry.count());
    response.set_root_hash(entry.root_hash());
    response.set_found(true);
  }
  return Answer(response);
}

}  // namespace devchain
}  // namespace gonka

#include "gonka/chain/ics23.h"

#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/status_macros.h"
#include "gonka/crypto/hash.h"
#include "gonka/proto/cosmos/ics23/v1/proofs.pb.h"

namespace gonka {
namespace chain {
namespace {

namespace ics = ::cosmos::ics23::v1;

// A proof spec as cosmos/ics23 defines IavlSpec and TendermintSpec (go/proof.go): the leaf op
// every proof must use, and the shape of the inner ops. Both specs have two children per inner
// node (child order {0, 1}), SHA-256 everywhere, depth 0..128 (0 = ICS-23's default bound).
struct SpecRules {
  absl::string_view leaf_prefix;
  int min_prefix_length;
  int max_prefix_length;
  int child_size;  // bytes per sibling in a prefix or suffix
  bool iavl;
  bool tendermint;
};

constexpr int kChildren = 2;
constexpr int kDefaultMaxDepth = 128;

const SpecRules& Rules(Ics23Spec spec) {
  // IAVL: a sibling is a length byte (0x20) and its 32-byte hash; the node header (height,
  // size, version varints) makes the prefix 4..12 bytes before any left sibling.
  static const SpecRules kIavl{absl::string_view("\0", 1), 4, 12, 33, true, false};
  // Tendermint's simple Merkle tree: inner prefix 0x01, siblings are bare 32-byte hashes.
  static const SpecRules kTendermint{absl::string_view("\0", 1), 1, 1, 32, false, true};
  return spec == Ics23Spec::kIavl ? kIavl : kTendermint;
}

absl::StatusOr<std::string> DoHash(int hash_op, absl::string_view data) {
  if (hash_op == ics::SHA256) return std::string(crypto::AsStringView(crypto::Sha256(data)));
  return absl::UnimplementedError(
      absl::StrCat("unsupported hashop: ", hash_op, " (libgonka computes SHA-256 only)"));
}

absl::StatusOr<std::string> DoHashOrNoop(int hash_op, absl::string_view data) {
  if (hash_op == ics::NO_HASH) return std::string(data);
  return DoHash(hash_op, data);
}

void AppendUvarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

std::string FixedLength(uint64_t length, int bytes, bool big_endian) {
  std::string out(bytes, '\0');
  for (int i = 0; i < bytes; ++i) {
    const char byte = static_cast<char>((length >> (8 * i)) & 0xff);
    out[big_endian ? bytes - 1 - i : i] = byte;
  }
  return out;
}

absl::StatusOr<std::string> DoLengthOp(int length_op, std::string data) {
  switch (length_op) {
    case ics::NO_PREFIX:
      return data;
    case ics::VAR_PROTO: {
      std::string out;
      AppendUvarint(data.size(), &out);
      return out + data;
    }
    case ics::REQUIRE_32_BYTES:
    case ics::REQUIRE_64_BYTES: {
      const size_t want = length_op == ics::REQUIRE_32_BYTES ? 32 : 64;
      if (data.size() != want) {
        return absl::InvalidArgumentError(
            absl::StrCat("data was ", data.size(), " bytes, not ", want));
      }
      return data;
    }
    case ics::FIXED32_BIG:
      return FixedLength(data.size(), 4, true) + data;
    case ics::FIXED32_LITTLE:
      return FixedLength(data.size(), 4, false) + data;
    case ics::FIXED64_BIG:
      return FixedLength(data.size(), 8, true) + data;
    case ics::FIXED64_LITTLE:
      return FixedLength(data.size(), 8, false) + data;
    default:
      return absl::UnimplementedError(absl::StrCat("unsupported lengthop: ", length_op));
  }
}

// LeafOp.Apply: hash(prefix || length(prehash(key)) || length(prehash(value))).
absl::StatusOr<std::string> ApplyLeaf(const ics::LeafOp& op, absl::string_view key,
                                      absl::string_view value) {
  if (key.empty()) return absl::InvalidArgumentError("leaf op needs key");
  if (value.empty()) return absl::InvalidArgumentError("leaf op needs value");
  absl::StatusOr<std::string> hashed_key = DoHashOrNoop(op.prehash_key(), key);
  if (hashed_key.ok()) hashed_key = DoLengthOp(op.length(), *std::move(hashed_key));
  if (!hashed_key.ok()) return Annotate(hashed_key.status(), "prehash key");
  absl::StatusOr<std::string> hashed_value = DoHashOrNoop(op.prehash_value(), value);
  if (hashed_value.ok()) hashed_value = DoLengthOp(op.length(), *std::move(hashed_value));
  if (!hashed_value.ok()) return Annotate(hashed_value.status(), "prehash value");
  return DoHash(op.hash(), absl::StrCat(op.prefix(), *hashed_key, *hashed_value));
}

// InnerOp.Apply: hash(prefix || child || suffix).
absl::StatusOr<std::string> ApplyInner(const ics::InnerOp& op, absl::string_view child) {
  if (child.empty()) return absl::InvalidArgumentError("inner op needs child value");
  return DoHash(op.hash(), absl::StrCat(op.prefix(), child, op.suffix()));
}

// ExistenceProof.calculate: the leaf, then each inner op upwards. With a spec, an intermediate
// hash longer than a (>= 32-byte) child is refused.
absl::StatusOr<std::string> CalculateExistence(const ics::ExistenceProof& proof,
                                               const SpecRules* spec) {
  if (!proof.has_leaf()) return absl::InvalidArgumentError("existence Proof needs defined LeafOp");
  absl::StatusOr<std::string> hash = ApplyLeaf(proof.leaf(), proof.key(), proof.value());
  if (!hash.ok()) return Annotate(hash.status(), "leaf");
  for (const ics::InnerOp& step : proof.path()) {
    hash = ApplyInner(step, *hash);
    if (!hash.ok()) return Annotate(hash.status(), "inner");
    if (spec != nullptr && spec->child_size >= 32 &&
        hash->size() > static_cast<size_t>(spec->child_size)) {
      return absl::InvalidArgumentError("inner: hash longer than a child");
    }
  }
  return hash;
}

// Go's binary.ReadVarint (zigzag): false on a truncated or overflowing varint.
bool ReadVarint(absl::string_view* in, int64_t* out) {
  uint64_t value = 0;
  for (int i = 0, shift = 0; i < 10; ++i, shift += 7) {
    if (in->empty()) return false;
    const uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    if (byte < 0x80) {
      if (i == 9 && byte > 1) return false;
      value |= static_cast<uint64_t>(byte) << shift;
      *out = static_cast<int64_t>(value >> 1);
      if (value & 1) *out = ~*out;
      return true;
    }
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
  }
  return false;
}

// cosmos/ics23's validateIavlOps: an IAVL op's prefix starts with the node's height, size and
// version (zigzag varints). A leaf (layer 0) has height 0, size 1 and nothing after; an inner
// node at layer n has height >= n and then either one length byte (the proven child is on the
// left) or a length byte, the left sibling's hash and a length byte (34 bytes, on the right).
absl::Status ValidateIavlOp(absl::string_view prefix, int layer, int hash_op) {
  int64_t height = 0, size = 0, version = 0;
  if (!ReadVarint(&prefix, &height)) {
    return absl::InvalidArgumentError("failed to read IAVL height varint");
  }
  if (height < 0 || height < layer) {
    return absl::InvalidArgumentError(absl::StrCat(
        "IAVL height (", height,
        ") must be non-negative and greater than or equal to the layer number (", layer, ")"));
  }
  if (!ReadVarint(&prefix, &size)) {
    return absl::InvalidArgumentError("failed to read IAVL size varint");
  }
  if (size < 0) return absl::InvalidArgumentError("IAVL size must be non-negative");
  if (!ReadVarint(&prefix, &version)) {
    return absl::InvalidArgumentError("failed to read IAVL version varint");
  }
  if (version < 0) return absl::InvalidArgumentError("IAVL version must be non-negative");
  if (layer == 0) {
    if (!prefix.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected remaining prefix length to be 0, got: ", prefix.size()));
    }
    if (height != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected leaf node height to be 0, got: ", height));
    }
    if (size != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected leaf node size to be 1, got: ", size));
    }
    return absl::OkStatus();
  }
  if (prefix.size() != 1 && prefix.size() != 34) {
    return absl::InvalidArgumentError(
        absl::StrCat("remainder of prefix must be of length 1 or 34, got: ", prefix.size()));
  }
  if (hash_op != ics::SHA256) return absl::InvalidArgumentError("IAVL hash op must be SHA256");
  return absl::OkStatus();
}

// cosmos/ics23's validateTendermintOps: inner prefixes start with 0x01 and are exactly 0x01
// when a right sibling follows in the suffix.
absl::Status ValidateTendermintOp(const ics::InnerOp& op) {
  if (op.prefix().empty()) return absl::InvalidArgumentError("inner op prefix must not be empty");
  if (!op.suffix().empty() && op.prefix() != "\x01") {
    return absl::InvalidArgumentError("expected inner op prefix: [1]");
  }
  if (op.prefix()[0] != '\x01') {
    return absl::InvalidArgumentError("expected inner op prefix to begin with: [1]");
  }
  return absl::OkStatus();
}

absl::Status CheckLeaf(const SpecRules& spec, const ics::LeafOp& op) {
  if (spec.iavl) RETURN_IF_ERROR(ValidateIavlOp(op.prefix(), 0, op.hash()));
  // Both specs' leaf: SHA-256, key as is, value SHA-256'd, both VAR_PROTO length-prefixed.
  if (op.hash() != ics::SHA256) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected HashOp: ", op.hash()));
  }
  if (op.prehash_key() != ics::NO_HASH) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected PrehashKey: ", op.prehash_key()));
  }
  if (op.prehash_value() != ics::SHA256) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected PrehashValue: ", op.prehash_value()));
  }
  if (op.length() != ics::VAR_PROTO) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected LengthOp: ", op.length()));
  }
  if (!absl::StartsWith(op.prefix(), spec.leaf_prefix)) {
    return absl::InvalidArgumentError("leaf Prefix doesn't start with 00");
  }
  return absl::OkStatus();
}

absl::Status CheckInner(const SpecRules& spec, const ics::InnerOp& op, int layer) {
  if (op.hash() != ics::SHA256) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected HashOp: ", op.hash()));
  }
  if (spec.iavl) RETURN_IF_ERROR(ValidateIavlOp(op.prefix(), layer, op.hash()));
  if (spec.tendermint) RETURN_IF_ERROR(ValidateTendermintOp(op));
  // A leaf-looking inner node would let a proof pass an inner node off as a leaf.
  if (absl::StartsWith(op.prefix(), spec.leaf_prefix)) {
    return absl::InvalidArgumentError("inner Prefix starts with 00");
  }
  const int prefix_length = static_cast<int>(op.prefix().size());
  if (prefix_length < spec.min_prefix_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("innerOp prefix too short (", prefix_length, ")"));
  }
  if (prefix_length > spec.max_prefix_length + (kChildren - 1) * spec.child_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("innerOp prefix too long (", prefix_length, ")"));
  }
  if (op.suffix().size() % spec.child_size != 0) {
    return absl::InvalidArgumentError("InnerOp suffix malformed");
  }
  return absl::OkStatus();
}

// ExistenceProof.CheckAgainstSpec.
absl::Status CheckAgainstSpec(const SpecRules& spec, const ics::ExistenceProof& proof) {
  if (!proof.has_leaf()) return absl::InvalidArgumentError("existence Proof needs defined LeafOp");
  if (absl::Status s = CheckLeaf(spec, proof.leaf()); !s.ok()) return Annotate(s, "leaf");
  if (proof.path_size() > kDefaultMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat("innerOps depth too long: ", proof.path_size()));
  }
  int layer = 1;
  for (const ics::InnerOp& inner : proof.path()) {
    if (absl::Status s = CheckInner(spec, inner, layer); !s.ok()) {
      return Annotate(s, "inner");
    }
    ++layer;
  }
  return absl::OkStatus();
}

absl::StatusOr<ics::CommitmentProof> DecodeProof(absl::string_view data) {
  ics::CommitmentProof proof;
  if (!proof.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::InvalidArgumentError("could not unmarshal proof op into CommitmentProof");
  }
  return proof;
}

absl::StatusOr<std::string> CalculateRoot(const ics::CommitmentProof& proof) {
  switch (proof.proof_case()) {
    case ics::CommitmentProof::kExist:
      return CalculateExistence(proof.exist(), nullptr);
    case ics::CommitmentProof::kNonexist:
      // ICS-23 computes a non-existence proof's root from its left (else right) neighbour.
      if (proof.nonexist().has_left()) return CalculateExistence(proof.nonexist().left(), nullptr);
      if (proof.nonexist().has_right()) {
        return CalculateExistence(proof.nonexist().right(), nullptr);
      }
      return absl::InvalidArgumentError("nonexistence proof has empty Left and Right proof");
    default:
      return absl::UnimplementedError("unrecognized proof type (batch proofs are not supported)");
  }
}

absl::Status VerifyMembership(const SpecRules& spec, absl::string_view root,
                              const ics::CommitmentProof& proof, absl::string_view key,
                              absl::string_view value) {
  if (proof.proof_case() != ics::CommitmentProof::kExist) {
    return absl::InvalidArgumentError("not an existence proof");
  }
  const ics::ExistenceProof& exist = proof.exist();
  if (exist.key() != key) return absl::InvalidArgumentError("provided key doesn't match proof");
  RETURN_IF_ERROR(CheckAgainstSpec(spec, exist));
  if (exist.value() != value) {
    return absl::InvalidArgumentError("provided value doesn't match proof");
  }
  absl::StatusOr<std::string> calculated = CalculateExistence(exist, &spec);
  if (!calculated.ok()) return Annotate(calculated.status(), "error calculating root");
  if (*calculated != root) {
    return absl::InvalidArgumentError("calculated root doesn't match provided root");
  }
  return absl::OkStatus();
}

bool IsHex(char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return (absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a') + 10;
}

// Go's url.PathUnescape: "%XX" is a byte; a '%' without two hex digits is an error.
absl::StatusOr<std::string> PathUnescape(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !IsHex(in[i + 1]) || !IsHex(in[i + 2])) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid URL escape \"", in.substr(i, 3), "\""));
    }
    out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
    i += 2;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> Ics23CalculateRoot(absl::string_view commitment_proof) {
  ASSIGN_OR_RETURN(ics::CommitmentProof proof, DecodeProof(commitment_proof));
  return CalculateRoot(proof);
}

absl::Status Ics23VerifyMembership(Ics23Spec spec, absl::string_view root,
                                   absl::string_view commitment_proof, absl::string_view key,
                                   absl::string_view value) {
  ASSIGN_OR_RETURN(ics::CommitmentProof proof, DecodeProof(commitment_proof));
  return VerifyMembership(Rules(spec), root, proof, key, value);
}

absl::StatusOr<std::vector<std::string>> ParseKeyPath(absl::string_view path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError("key path string must start with a forward slash '/'");
  }
  std::vector<std::string> keys;
  int index = 0;
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    std::string key;
    if (absl::StartsWith(part, "x:")) {
      absl::Status s = crypto::HexDecode(part.substr(2), "key path part", &key);
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("decoding hex-encoded part #", index, ": ", s.message()));
      }
    } else {
      absl::StatusOr<std::string> unescaped = PathUnescape(part);
      if (!unescaped.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("decoding url-encoded part #", index, ": ", unescaped.status().message()));
      }
      key = *std::move(unescaped);
    }
    keys.push_back(std::move(key));
    ++index;
  }
  return keys;
}

std::string PathEscape(absl::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(byte) || absl::StrContains("-_.~$&+:=@", c)) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0f]);
    }
  }
  return out;
}

absl::Status VerifyProofOps(const std::vector<ProofOp>& ops, absl::string_view root,
                            absl::string_view keypath, absl::string_view value) {
  // CometBFT's ProofRuntime decodes every op first, then runs them.
  std::vector<std::pair<const SpecRules*, ics::CommitmentProof>> decoded;
  for (size_t i = 0; i < ops.size(); ++i) {
    const ProofOp& op = ops[i];
    const SpecRules* spec = nullptr;
    if (op.type == kProofOpIavl) {
      spec = &Rules(Ics23Spec::kIavl);
    } else if (op.type == kProofOpSimpleMerkle) {
      spec = &Rules(Ics23Spec::kTendermint);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("decoding proof op #", i, ": unrecognized proof type ", op.type));
    }
    absl::StatusOr<ics::CommitmentProof> proof = DecodeProof(op.data);
    if (!proof.ok()) return Annotate(proof.status(), absl::StrCat("decoding proof op #", i));
    decoded.emplace_back(spec, *std::move(proof));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> keys, ParseKeyPath(keypath));
  std::string arg(value);
  for (size_t i = 0; i < ops.size(); ++i) {
    const std::string& key = ops[i].key;
    if (!key.empty()) {
      if (keys.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("key path has insufficient # of parts: expected no more keys but got ",
                         absl::CHexEscape(key)));
      }
      if (keys.back() != key) {
        return absl::InvalidArgumentError(absl::StrCat("key mismatch on operation #", i,
                                                       ": expected ", absl::CHexEscape(keys.back()),
                                                       " but got ", absl::CHexEscape(key)));
      }
      keys.pop_back();
    }
    // The SDK's CommitmentOp.Run: the proof's own root, then membership of (key, arg) in it.
    absl::StatusOr<std::string> op_root = CalculateRoot(decoded[i].second);
    if (!op_root.ok()) {
      return Annotate(op_root.status(),
                      absl::StrCat("op #", i, ": could not calculate root for proof"));
    }
    absl::Status member =
        VerifyMembership(*decoded[i].first, *op_root, decoded[i].second, key, arg);
    if (!member.ok()) {
      return absl::Status(
          member.code(),
          absl::StrCat("op #", i, ": proof did not verify existence of key ", absl::CHexEscape(key),
                       " with given value ", crypto::HexEncode(arg), ": ", member.message()));
    }
    arg = *std::move(op_root);
  }
  if (arg != root) {
    return absl::InvalidArgumentError(absl::StrCat("calculated root hash is invalid: expected ",
                                                   crypto::HexEncodeUpper(root), " but got ",
                                                   crypto::HexEncodeUpper(arg)));
  }
  if (!keys.empty()) return absl::InvalidArgumentError("keypath not consumed all");
  return absl::OkStatus();
}

}  // namespace chain
}  // namespace gonka

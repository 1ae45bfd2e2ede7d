#include "gonka/chain/ics23.h"

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gonka/crypto/hash.h"
#include "gonka/proto/cosmos/ics23/v1/proofs.pb.h"
#include "gtest/gtest.h"

namespace gonka {
namespace chain {
namespace {

namespace ics = ::cosmos::ics23::v1;
using ::testing::HasSubstr;

// The trees are built here from the rules (docs/cache.md, "Proof verification"), not from
// devchain's builder, so the two are checked against each other only through the rules.

std::string Sha(absl::string_view data) {
  return std::string(crypto::AsStringView(crypto::Sha256(data)));
}

std::string Uvarint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

std::string Varint(int64_t v) {  // zigzag, as Go's binary.PutVarint
  return Uvarint(static_cast<uint64_t>(v) << 1 ^ static_cast<uint64_t>(v >> 63));
}

std::string LengthPrefixed(absl::string_view data) {
  return absl::StrCat(Uvarint(data.size()), data);
}

// IAVL: a node's header is varint(height) varint(size) varint(version).
std::string IavlHeader(int64_t height, int64_t size, int64_t version) {
  return absl::StrCat(Varint(height), Varint(size), Varint(version));
}

std::string IavlLeafHash(absl::string_view key, absl::string_view value, int64_t version) {
  return Sha(
      absl::StrCat(IavlHeader(0, 1, version), LengthPrefixed(key), LengthPrefixed(Sha(value))));
}

std::string IavlInnerHash(int64_t height, int64_t size, int64_t version, absl::string_view left,
                          absl::string_view right) {
  return Sha(
      absl::StrCat(IavlHeader(height, size, version), LengthPrefixed(left), LengthPrefixed(right)));
}

ics::LeafOp LeafSpec(absl::string_view prefix) {
  ics::LeafOp leaf;
  leaf.set_hash(ics::SHA256);
  leaf.set_prehash_key(ics::NO_HASH);
  leaf.set_prehash_value(ics::SHA256);
  leaf.set_length(ics::VAR_PROTO);
  leaf.set_prefix(std::string(prefix));
  return leaf;
}

ics::InnerOp Inner(absl::string_view prefix, absl::string_view suffix) {
  ics::InnerOp op;
  op.set_hash(ics::SHA256);
  op.set_prefix(std::string(prefix));
  op.set_suffix(std::string(suffix));
  return op;
}

// Tendermint's simple Merkle tree: leaf = SHA256(0x00 || item), inner = SHA256(0x01 || l || r).
std::string SimpleLeaf(absl::string_view item) {
  return Sha(absl::StrCat(std::string(1, '\0'), item));
}
std::string SimpleInner(absl::string_view l, absl::string_view r) {
  return Sha(absl::StrCat("\x01", l, r));
}
// The multistore's item for a store: uvarint-length-prefixed name and SHA-256 of its root.
std::string StoreItem(absl::string_view name, absl::string_view root) {
  return absl::StrCat(LengthPrefixed(name), LengthPrefixed(Sha(root)));
}

// An "inference" IAVL tree of three leaves, root (h2, size 3) = inner(h1: A, B), C, and a
// multistore {bank, inference, params} whose root is inner(inner(bank, inference), params).
// The proven key is B (right child of the lower inner node, left subtree of the root).
class Ics23Test : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = std::string("ActiveParticipants/value/\0\0\0\0\0\0\0\x2f/", 34);
    value_ = "the stored value";
    const std::string a = IavlLeafHash("A", "va", 3);
    const std::string b = IavlLeafHash(key_, value_, 5);
    const std::string c = IavlLeafHash("Z", "vc", 4);
    const std::string ab = IavlInnerHash(1, 2, 5, a, b);
    iavl_root_ = IavlInnerHash(2, 3, 5, ab, c);

    ics::CommitmentProof iavl;
    ics::ExistenceProof* e = iavl.mutable_exist();
    e->set_key(key_);
    e->set_value(value_);
    *e->mutable_leaf() = LeafSpec(IavlHeader(0, 1, 5));
    // B is the right child: the left sibling goes in the prefix.
    *e->add_path() = Inner(absl::StrCat(IavlHeader(1, 2, 5), "\x20", a, "\x20"), "");
    // ab is the left child: the right sibling goes in the suffix.
    *e->add_path() = Inner(absl::StrCat(IavlHeader(2, 3, 5), "\x20"), absl::StrCat("\x20", c));

    const std::string bank = SimpleLeaf(StoreItem("bank", Sha("bank-root")));
    const std::string inference = SimpleLeaf(StoreItem("inference", iavl_root_));
    const std::string params = SimpleLeaf(StoreItem("params", Sha("params-root")));
    app_hash_ = SimpleInner(SimpleInner(bank, inference), params);

    ics::CommitmentProof simple;
    ics::ExistenceProof* s = simple.mutable_exist();
    s->set_key("inference");
    s->set_value(iavl_root_);
    *s->mutable_leaf() = LeafSpec(std::string(1, '\0'));
    *s->add_path() = Inner(absl::StrCat("\x01", bank), "");
    *s->add_path() = Inner("\x01", params);

    ops_ = {{std::string(kProofOpIavl), key_, iavl.SerializeAsString()},
            {std::string(kProofOpSimpleMerkle), "inference", simple.SerializeAsString()}};
    iavl_proof_ = iavl;
    simple_proof_ = simple;
  }

  std::string KeyPath() const { return "/inference/" + PathEscape(key_); }

  std::string key_, value_, iavl_root_, app_hash_;
  std::vector<ProofOp> ops_;
  ics::CommitmentProof iavl_proof_, simple_proof_;
};

TEST_F(Ics23Test, HandBuiltProofVerifies) {
  EXPECT_EQ(*Ics23CalculateRoot(ops_[0].data), iavl_root_);
  EXPECT_EQ(*Ics23CalculateRoot(ops_[1].data), app_hash_);
  EXPECT_TRUE(Ics23VerifyMembership(Ics23Spec::kIavl, iavl_root_, ops_[0].data, key_, value_).ok());
  EXPECT_TRUE(Ics23VerifyMembership(Ics23Spec::kTendermint, app_hash_, ops_[1].data, "inference",
                                    iavl_root_)
                  .ok());
  absl::Status s = VerifyProofOps(ops_, app_hash_, KeyPath(), value_);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(Ics23Test, PrintsVerificationTime) {
  constexpr int kRuns = 2000;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kRuns; ++i)
    ASSERT_TRUE(VerifyProofOps(ops_, app_hash_, KeyPath(), value_).ok());
  std::printf("VerifyProofOps (2 ops, 4 inner steps): %.2f us per proof\n",
              absl::ToDoubleMicroseconds(absl::Now() - start) / kRuns);
}

TEST_F(Ics23Test, TamperedValueFails) {
  absl::Status s = VerifyProofOps(ops_, app_hash_, KeyPath(), "another value");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("provided value doesn't match proof"));
  EXPECT_THAT(s.message(), HasSubstr("op #0"));
}

TEST_F(Ics23Test, TamperedRootFails) {
  std::string root = app_hash_;
  root[5] ^= 1;
  absl::Status s = VerifyProofOps(ops_, root, KeyPath(), value_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("calculated root hash is invalid"));
}

TEST_F(Ics23Test, TamperedOpFails) {
  // A sibling hash changed: the op's own root changes, so the multistore op no longer proves
  // the IAVL root it is handed.
  ics::CommitmentProof tampered = iavl_proof_;
  (*tampered.mutable_exist()->mutable_path(1)->mutable_suffix())[7] ^= 1;
  std::vector<ProofOp> ops = ops_;
  ops[0].data = tampered.SerializeAsString();
  absl::Status s = VerifyProofOps(ops, app_hash_, KeyPath(), value_);
  EXPECT_THAT(s.message(), HasSubstr("op #1: proof did not verify existence of key inference"));

  // Bytes that do not decode.
  ops = ops_;
  ops[1].data = "\xff\xff";
  s = VerifyProofOps(ops, app_hash_, KeyPath(), value_);
  EXPECT_THAT(s.message(), HasSubstr("decoding proof op #1"));

  ops = ops_;
  ops[0].type = "ics23:smt";
  s = VerifyProofOps(ops, app_hash_, KeyPath(), value_);
  EXPECT_THAT(s.message(), HasSubstr("unrecognized proof type ics23:smt"));

  // Ops in the wrong order, or one missing.
  ops = {ops_[1], ops_[0]};
  EXPECT_FALSE(VerifyProofOps(ops, app_hash_, KeyPath(), value_).ok());
  ops = {ops_[0]};
  s = VerifyProofOps(ops, app_hash_, KeyPath(), value_);
  EXPECT_THAT(s.message(), HasSubstr("calculated root hash is invalid"));
  ops = {ops_[0]};
  s = VerifyProofOps(ops, iavl_root_, KeyPath(), value_);
  EXPECT_THAT(s.message(), HasSubstr("keypath not consumed all"));
}

TEST_F(Ics23Test, WrongKeyFails) {
  std::string other = key_;
  other[32] = '\x30';
  absl::Status s = VerifyProofOps(ops_, app_hash_, "/inference/" + PathEscape(other), value_);
  EXPECT_THAT(s.message(), HasSubstr("key mismatch on operation #0"));
  s = VerifyProofOps(ops_, app_hash_, "/bank/" + PathEscape(key_), value_);
  EXPECT_THAT(s.message(), HasSubstr("key mismatch on operation #1"));
  s = VerifyProofOps(ops_, app_hash_, "/" + PathEscape(key_), value_);
  EXPECT_THAT(s.message(), HasSubstr("insufficient # of parts"));
  // The op's key differs from the proof's own key.
  std::vector<ProofOp> ops = ops_;
  ops[1].key = "bank";
  s = VerifyProofOps(ops, app_hash_, "/bank/" + PathEscape(key_), value_);
  EXPECT_THAT(s.message(), HasSubstr("provided key doesn't match proof"));
}

TEST_F(Ics23Test, SpecViolationsFail) {
  auto verify_iavl = [&](const ics::CommitmentProof& proof) {
    std::vector<ProofOp> ops = ops_;
    ops[0].data = proof.SerializeAsString();
    // The root the altered proof computes, so only the spec check can refuse it.
    return Ics23VerifyMembership(Ics23Spec::kIavl, *Ics23CalculateRoot(ops[0].data), ops[0].data,
                                 key_, value_);
  };
  ics::CommitmentProof p = iavl_proof_;
  p.mutable_exist()->mutable_leaf()->set_prefix(IavlHeader(1, 1, 5));
  EXPECT_THAT(verify_iavl(p).message(), HasSubstr("expected leaf node height to be 0"));

  p = iavl_proof_;
  p.mutable_exist()->mutable_leaf()->set_prehash_value(ics::NO_HASH);
  EXPECT_THAT(verify_iavl(p).message(), HasSubstr("unexpected PrehashValue"));

  p = iavl_proof_;  // the lower inner node claims height 0 at layer 1
  p.mutable_exist()->mutable_path(0)->set_prefix(
      absl::StrCat(IavlHeader(0, 2, 5), "\x20", std::string(32, 'a'), "\x20"));
  EXPECT_THAT(verify_iavl(p).message(), HasSubstr("greater than or equal to the layer number"));

  p = iavl_proof_;  // a remainder that is neither 1 nor 34 bytes
  p.mutable_exist()->mutable_path(1)->set_prefix(absl::StrCat(IavlHeader(2, 3, 5), "\x20\x20"));
  EXPECT_THAT(verify_iavl(p).message(), HasSubstr("remainder of prefix must be of length 1 or 34"));

  p = iavl_proof_;
  p.mutable_exist()->mutable_path(1)->set_suffix(absl::StrCat("\x20", std::string(31, 'c')));
  EXPECT_THAT(verify_iavl(p).message(), HasSubstr("InnerOp suffix malformed"));

  p = iavl_proof_;  // a hash libgonka does not compute is refused, not skipped
  p.mutable_exist()->mutable_leaf()->set_hash(ics::SHA512);
  EXPECT_EQ(Ics23CalculateRoot(p.SerializeAsString()).status().code(),
            absl::StatusCode::kUnimplemented);

  // The simple-Merkle op: an inner prefix other than 0x01 before a right sibling.
  ics::CommitmentProof s = simple_proof_;
  s.mutable_exist()->mutable_path(1)->set_prefix("\x02");
  const std::string data = s.SerializeAsString();
  EXPECT_THAT(Ics23VerifyMembership(Ics23Spec::kTendermint, *Ics23CalculateRoot(data), data,
                                    "inference", iavl_root_)
                  .message(),
              HasSubstr("expected inner op prefix"));
  // An IAVL proof is not a simple-Merkle proof.
  EXPECT_FALSE(
      Ics23VerifyMembership(Ics23Spec::kTendermint, iavl_root_, ops_[0].data, key_, value_).ok());

  // A non-existence proof proves no value.
  ics::CommitmentProof absent;
  *absent.mutable_nonexist()->mutable_left() = iavl_proof_.exist();
  EXPECT_THAT(
      Ics23VerifyMembership(Ics23Spec::kIavl, iavl_root_, absent.SerializeAsString(), key_, value_)
          .message(),
      HasSubstr("not an existence proof"));
}

TEST(KeyPathTest, ParsesAsCometBft) {
  const std::string key("a/b%\0c", 6);
  EXPECT_EQ(PathEscape(key), "a%2Fb%25%00c");
  EXPECT_EQ(PathEscape("AZaz09-_.~$&+:=@ ?"), "AZaz09-_.~$&+:=@%20%3F");
  absl::StatusOr<std::vector<std::string>> keys =
      ParseKeyPath("/inference/" + PathEscape(key) + "/x:0aff");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(*keys, (std::vector<std::string>{"inference", key, "\x0a\xff"}));
  EXPECT_THAT(ParseKeyPath("inference/k").status().message(), HasSubstr("forward slash"));
  EXPECT_THAT(ParseKeyPath("/inference/%zz").status().message(),
              HasSubstr("decoding url-encoded part #1: invalid URL escape \"%zz\""));
  EXPECT_THAT(ParseKeyPath("/x:0g").status().message(), HasSubstr("decoding hex-encoded part #0"));
}

}  // namespace
}  // namespace chain
}  // namespace gonka

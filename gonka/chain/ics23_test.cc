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

// Vectors from cosmos/ics23's own test data (testdata/iavl/exist_middle.json and
// testdata/tendermint/exist_middle.json): an existence proof from a real IAVL tree and one from
// Tendermint's simple Merkle tree, each with its key, value and root (hex).
struct Vector {
  Ics23Spec spec;
  const char* key;
  const char* value;
  const char* root;
  const char* proof;
};
const Vector kVectors[] = {
    {Ics23Spec::kIavl, "367a757a4f7845416530357967617a57634b6b70",
     "76616c75655f666f725f367a757a4f7845416530357967617a57634b6b70",
     "ce93fb31420cca24940fd7e8742ca1061b51c5d3c5438b68bf0526bc93e45274",
     "0ad7030a14367a757a4f7845416530357967617a57634b6b70121e76616c75655f666f725f367a757a4f784541"
     "6530357967617a57634b6b701a0b0801180120012a03000202222b08011204040602201a2120e573ba32e4d487"
     "52f750145e8f49272d81e5f4d81f418c6c8e01e2bd2bb03e92222b08011204060e02201a21202f7453b9df6afe"
     "cefcecd464d557701685ceeddcf82e2064f5d6a751fe6f448c222b08011204081a02201a21200a6025a49f3aff"
     "53a9fd7bd60e0f241897bdff7ff5b0386de6e582fa60a2ff642229080112250a3402209bae0613f7ecad99b5b4"
     "48714f1b66929f06ca05e92dad7a7fc9c6243475135020222a080112260e80010220e508b7f979ad0f1601b344"
     "2603f928b3aba91287a4c988045a88fa1bf26df17120222a0801122610cc0102201abeb41c3a4ec85c07a77af6"
     "017dcb2171a1d5c278b300cc361d7b51c593b7cf20222c0801120512fa0202201a212055337b4192edc05ba1ca"
     "4c51b110aa56feb46b5830ba19ee682c9c88a48cdfee222c08011205149c0602201a212092fdf4836b2561fb01"
     "8c29660262b102761f25920ed43ae46bc4153a55fd161b222c0801120516d80c02201a212004ddd20b8bd3c146"
     "1293922bb3f9404eecaa2d1869d651f1a304a4757bd5f646"},
    {Ics23Spec::kTendermint, "513334656d766f39447145585735325257523835",
     "76616c75655f666f725f513334656d766f39447145585735325257523835",
     "494b16e3a64a85df143b2881bdd3ec94c3f8e18b343e8ff9c2d61afd05d040c8",
     "0ad1030a14513334656d766f39447145585735325257523835121e76616c75655f666f725f513334656d766f39"
     "4471455857353252575238351a090801180120012a010022250801122101e231d775380f2d663651e213cc7266"
     "60e2ce0a2f2e9ee12cbb7df32294104a8c222708011201011a2014af194c63500236e52cc290ab24244fab39a5"
     "20ece7e20fa93f4c9ff80c6626222508011221017966d2ead34418db2eaa04c0dffb9316805e8a0d421d1270c8"
     "954c35ee3221382225080112210172339e20a49bb16795a99bd905b47f99c45e5e5a9e6b7fb223dc8fe6751e1b"
     "da222708011201011a2053dd1ecc25ff906a0ef4db37ee068f3d8ad6d1d49913eefb847a675a681c5ffa222708"
     "011201011a20de90f9951a19497be7e389e02aa79e26faf77080e740e8743249a17a537f287d22250801122101"
     "ad4e53e981afc5a71e34ab0c4ffbccf1b468414d9d0939bd08edbd2461bc944a222708011201011a209b4cf89c"
     "3995b9dd66d58ab088846b2c6b59c52c6d10ec1d759ca9e9aa5eef5c222508011221013928a078bd66ab3949f5"
     "b1846b6d354dbdc1968a416607c7d91555ca26716667222708011201011a20d2d82cf8915b9ae6f92c7eae343e"
     "37d312ace05e654ce47acdf57d0a5490b873"},
};

std::string Unhex(absl::string_view hex) {
  std::string out;
  EXPECT_TRUE(crypto::HexDecode(hex, "vector", &out).ok());
  return out;
}

TEST(Ics23VectorsTest, ReferenceProofsVerify) {
  for (const Vector& v : kVectors) {
    const std::string proof = Unhex(v.proof);
    EXPECT_EQ(crypto::HexEncode(*Ics23CalculateRoot(proof)), v.root);
    absl::Status s =
        Ics23VerifyMembership(v.spec, Unhex(v.root), proof, Unhex(v.key), Unhex(v.value));
    EXPECT_TRUE(s.ok()) << v.key << ": " << s;
    EXPECT_FALSE(
        Ics23VerifyMembership(v.spec, Unhex(v.root), proof, Unhex(v.key), "another value").ok());
    // Each tree's proof fails the other tree's spec.
    const Ics23Spec other = v.spec == Ics23Spec::kIavl ? Ics23Spec::kTendermint : Ics23Spec::kIavl;
    EXPECT_FALSE(
        Ics23VerifyMembership(other, Unhex(v.root), proof, Unhex(v.key), Unhex(v.value)).ok());
  }
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

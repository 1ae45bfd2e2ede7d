// The signer ledger against a real PostgreSQL: the legal transitions, idempotent repeats, refused
// illegal transitions naming the key and states, and concurrent claims of one key.
#include "gonka/signer/ledger.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class LedgerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testing::PostgresServer();
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    pg::PgOptions o;
    o.conninfo = server_->url();
    o.max_connections = 8;
    auto pool = pg::Pool::Open(o);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    auto ledger = Ledger::Open(pool_.get());
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = std::move(*ledger);
  }
  // A key unique to the running test.
  std::string Key(const std::string& suffix = "") {
    return absl::StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name(), "/",
                        suffix);
  }

  static testing::PostgresServer* server_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<Ledger> ledger_;
};
testing::PostgresServer* LedgerTest::server_ = nullptr;

TEST_F(LedgerTest, HappyPathKeepsBytesHashAndNanosecondTimeout) {
  const std::string key = Key();
  auto e = ledger_->Claim(key);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->state, TxState::kQueued);
  EXPECT_EQ(e->attempts, 0);

  const std::string bytes("\x0a\x00\xff\x10 raw tx", 11);
  const absl::Time now = absl::Now();
  const absl::Time timeout = absl::FromUnixNanos(1790000000123456789);
  ASSERT_TRUE(ledger_->RecordSigned(key, bytes, "ABCD01", timeout, now).ok());
  ASSERT_TRUE(ledger_->MarkBroadcast(key, "ABCD01").ok());
  ASSERT_TRUE(ledger_->RecordError(key, "observe: not found yet").ok());
  ASSERT_TRUE(ledger_->MarkIncluded(key, "ABCD01", 42).ok());

  auto got = ledger_->Get(key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, TxState::kIncluded);
  EXPECT_EQ(got->signed_tx, bytes);
  EXPECT_EQ(got->tx_hash, "ABCD01");
  EXPECT_EQ(got->timeout, timeout);
  EXPECT_EQ(got->height, 42);
  EXPECT_EQ(got->attempts, 1);
  EXPECT_EQ(got->last_error, "");
  EXPECT_LT(absl::AbsDuration(got->updated_at - absl::Now()), absl::Minutes(1));

  // Claim of an included key returns it unchanged (the signer acks and skips); Claim never
  // reads the signed bytes (SignedTx does).
  auto again = ledger_->Claim(key);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state, TxState::kIncluded);
  EXPECT_EQ(again->tx_hash, "ABCD01");
  EXPECT_EQ(again->signed_tx, "");
  EXPECT_EQ(*ledger_->SignedTx(key, "ABCD01"), bytes);
}

TEST_F(LedgerTest, RepeatsAreNoOps) {
  const std::string key = Key();
  ASSERT_TRUE(ledger_->Claim(key).ok());
  absl::Time timeout = absl::Now() + absl::Minutes(1);
  ASSERT_TRUE(ledger_->RecordSigned(key, "tx", "H1", timeout, absl::Now()).ok());
  ASSERT_TRUE(ledger_->RecordSigned(key, "tx", "H1", timeout, absl::Now()).ok());
  ASSERT_TRUE(ledger_->MarkBroadcast(key, "H1").ok());
  ASSERT_TRUE(ledger_->MarkBroadcast(key, "H1").ok());
  ASSERT_TRUE(ledger_->RecordSigned(key, "tx", "H1", timeout, absl::Now()).ok());
  ASSERT_TRUE(ledger_->MarkIncluded(key, "H1", 7).ok());
  ASSERT_TRUE(ledger_->MarkIncluded(key, "H1", 7).ok());
  ASSERT_TRUE(ledger_->MarkBroadcast(key, "H1").ok());
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kIncluded);
  EXPECT_EQ(e->attempts, 1);

  const std::string failed = Key("failed");
  ASSERT_TRUE(ledger_->Claim(failed).ok());
  ASSERT_TRUE(ledger_->MarkFailed(failed, "rejected: code 4").ok());
  ASSERT_TRUE(ledger_->MarkFailed(failed, "rejected: code 4").ok());
  e = ledger_->Get(failed);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kFailed);
  EXPECT_EQ(e->last_error, "rejected: code 4");
}

TEST_F(LedgerTest, IllegalTransitionsNameKeyAndStates) {
  const std::string key = Key();
  ASSERT_TRUE(ledger_->Claim(key).ok());
  absl::Status s = ledger_->MarkBroadcast(key, "H1");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr(key), HasSubstr("queued"), HasSubstr("broadcast")));
  s = ledger_->MarkIncluded(key, "H1", 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), AllOf(HasSubstr("queued"), HasSubstr("included")));

  absl::Time timeout = absl::Now() + absl::Minutes(1);
  ASSERT_TRUE(ledger_->RecordSigned(key, "tx1", "H1", timeout, absl::Now()).ok());
  // A different tx while the first may still land.
  s = ledger_->RecordSigned(key, "tx2", "H2", timeout + absl::Seconds(1), absl::Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), AllOf(HasSubstr(key), HasSubstr("may still land")));
  // The wrong hash.
  s = ledger_->MarkIncluded(key, "H2", 5);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("H2"));
  ASSERT_TRUE(ledger_->MarkIncluded(key, "H1", 5).ok());
  // Terminal.
  s = ledger_->MarkFailed(key, "late");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), AllOf(HasSubstr("included"), HasSubstr("failed")));
  s = ledger_->RecordSigned(key, "tx3", "H3", timeout, timeout + absl::Hours(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(ledger_->Get(Key("never")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger_->MarkBroadcast(Key("never"), "H").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger_->RecordError(Key("never"), "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(LedgerTest, NewTxOnlyAfterTheStoredTimeoutPassed) {
  const std::string key = Key();
  ASSERT_TRUE(ledger_->Claim(key).ok());
  absl::Time t0 = absl::Now();
  absl::Time timeout = t0 + absl::Seconds(60);
  ASSERT_TRUE(ledger_->RecordSigned(key, "tx1", "H1", timeout, t0).ok());
  ASSERT_TRUE(ledger_->MarkBroadcast(key, "H1").ok());
  // At the timeout exactly the old tx may still be included: refused.
  EXPECT_EQ(ledger_->RecordSigned(key, "tx2", "H2", timeout + absl::Seconds(60), timeout).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(
      ledger_
          ->RecordSigned(key, "tx2", "H2", timeout + absl::Seconds(60), timeout + absl::Seconds(1))
          .ok());
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kSigned);
  EXPECT_EQ(e->tx_hash, "H2");
  EXPECT_EQ(e->signed_tx, "tx2");
  EXPECT_EQ(e->attempts, 2);
  // The old hash can no longer be marked.
  EXPECT_EQ(ledger_->MarkIncluded(key, "H1", 3).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(LedgerTest, ConcurrentClaimsAndSignsOfOneKeyAgree) {
  const std::string key = Key();
  absl::Time timeout = absl::Now() + absl::Minutes(1);
  std::atomic<int> signed_ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto e = ledger_->Claim(key);
      ASSERT_TRUE(e.ok()) << e.status();
      absl::Status s = ledger_->RecordSigned(key, absl::StrCat("tx", i), absl::StrCat("H", i),
                                             timeout, absl::Now());
      if (s.ok()) {
        signed_ok++;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
        refused++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(signed_ok.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->attempts, 1);
  // Migrations are idempotent: a second Open is fine.
  EXPECT_TRUE(Ledger::Open(pool_.get()).ok());
}

TEST_F(LedgerTest, BatchIsRecordedAllOrNoneAndCanBeRequeued) {
  const std::string a = Key("a"), b = Key("b"), c = Key("c");
  for (const auto& k : {a, b, c}) ASSERT_TRUE(ledger_->Claim(k).ok());
  absl::Time timeout = absl::Now() + absl::Minutes(1);
  ASSERT_TRUE(ledger_->RecordSigned(c, "txc", "HC", timeout, absl::Now()).ok());
  // c is in flight elsewhere: the batch {a, b, c} is refused and nothing is recorded.
  absl::Status s = ledger_->RecordSignedBatch({a, b, c}, "txabc", "HABC", timeout, absl::Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr(c));
  EXPECT_EQ(ledger_->Get(a)->state, TxState::kQueued);
  EXPECT_EQ(ledger_->Get(b)->state, TxState::kQueued);

  ASSERT_TRUE(ledger_->RecordSignedBatch({b, a}, "txab", "HAB", timeout, absl::Now()).ok());
  ASSERT_TRUE(ledger_->RecordSignedBatch({b, a}, "txab", "HAB", timeout, absl::Now()).ok());
  for (const auto& k : {a, b}) {
    auto e = ledger_->Get(k);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->state, TxState::kSigned);
    EXPECT_EQ(e->tx_hash, "HAB");
    EXPECT_EQ(e->signed_tx, "txab");
    EXPECT_EQ(e->batch_size, 2);
    EXPECT_EQ(e->attempts, 1);
  }
  // The batch failed on chain: each key goes back to queued, alone next time.
  EXPECT_EQ(ledger_->Requeue(a, "HX", "x").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ledger_->Requeue(a, "HAB", "batch failed: deliver code 2").ok());
  ASSERT_TRUE(ledger_->Requeue(a, "HAB", "batch failed: deliver code 2").ok());
  auto e = ledger_->Get(a);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kQueued);
  EXPECT_EQ(e->attempts, 1);
  EXPECT_EQ(e->last_error, "batch failed: deliver code 2");
  ASSERT_TRUE(ledger_->RecordSigned(a, "txa", "HA", timeout, absl::Now()).ok());
  EXPECT_EQ(ledger_->Get(a)->batch_size, 1);
  EXPECT_EQ(ledger_->Get(a)->attempts, 2);
  ASSERT_TRUE(ledger_->MarkIncluded(a, "HA", 9).ok());
  EXPECT_EQ(ledger_->Requeue(a, "HA", "x").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(LedgerTest, ClaimBatchClaimsAllKeysInOneCallInTheirOrder) {
  const std::string a = Key("a"), b = Key("b\"quoted\\"), c = Key("c,{x}");
  ASSERT_TRUE(ledger_->Claim(a).ok());
  absl::Time timeout = absl::Now() + absl::Minutes(1);
  ASSERT_TRUE(ledger_->RecordSigned(a, "txa", "CB-HA", timeout, absl::Now()).ok());
  // Keys with quotes, backslashes, commas and braces survive the text[] parameter.
  auto entries = ledger_->ClaimBatch({c, a, b, c});
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].key, c);
  EXPECT_EQ((*entries)[0].state, TxState::kQueued);
  EXPECT_EQ((*entries)[1].key, a);
  EXPECT_EQ((*entries)[1].state, TxState::kSigned);
  EXPECT_EQ((*entries)[1].tx_hash, "CB-HA");
  EXPECT_EQ((*entries)[1].signed_tx, "");  // never read on the hot path
  EXPECT_EQ((*entries)[2].key, b);
  EXPECT_EQ((*entries)[3].key, c);
  EXPECT_EQ(ledger_->Get(b)->state, TxState::kQueued);
  // A repeat changes nothing.
  auto repeat = ledger_->ClaimBatch({a, b});
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ((*repeat)[0].state, TxState::kSigned);
  EXPECT_EQ(ledger_->ClaimBatch({a, ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ledger_->ClaimBatch({})->empty());
}

TEST_F(LedgerTest, ConcurrentClaimBatchesOfOverlappingKeysAgree) {
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) keys.push_back(Key(absl::StrCat(i)));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string> mine = keys;
      if (t % 2 == 1) std::reverse(mine.begin(), mine.end());
      auto e = ledger_->ClaimBatch(mine);
      if (!e.ok() || e->size() != mine.size()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto n =
      pool_->Exec("SELECT count(*) FROM signer_ledger WHERE idempotency_key LIKE $1", {Key("%")});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->Get(0, 0).value_or(""), "50");
}

// A batch tx's bytes are stored once (signer_txs), not in every key's row.
TEST_F(LedgerTest, BatchTxBytesAreStoredOncePerTx) {
  const std::string a = Key("a"), b = Key("b"), c = Key("c");
  ASSERT_TRUE(ledger_->ClaimBatch({a, b, c}).ok());
  const std::string bytes(3000, 'x');
  absl::Time timeout = absl::FromUnixNanos(1790000000987654321);
  ASSERT_TRUE(ledger_->RecordSignedBatch({a, b, c}, bytes, "ONCE-H", timeout, absl::Now()).ok());
  auto txs = pool_->Exec(
      "SELECT count(*), max(length(signed_tx)), max(batch_size), max(timeout_timestamp_ns) FROM "
      "signer_txs WHERE tx_hash = 'ONCE-H'");
  ASSERT_TRUE(txs.ok()) << txs.status();
  EXPECT_EQ(txs->Get(0, 0).value_or(""), "1");
  EXPECT_EQ(txs->Get(0, 1).value_or(""), "3000");
  EXPECT_EQ(txs->Get(0, 2).value_or(""), "3");
  EXPECT_EQ(txs->Get(0, 3).value_or(""), "1790000000987654321");
  auto inline_rows = pool_->Exec(
      "SELECT count(*) FROM signer_ledger WHERE tx_hash = 'ONCE-H' AND signed_tx IS NOT NULL");
  ASSERT_TRUE(inline_rows.ok());
  EXPECT_EQ(inline_rows->Get(0, 0).value_or(""), "0");
  for (const auto& k : {a, b, c}) {
    auto e = ledger_->Get(k);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->signed_tx, bytes);
    EXPECT_EQ(e->timeout, timeout);
    EXPECT_EQ(e->batch_size, 3);
    EXPECT_EQ(*ledger_->SignedTx(k, "ONCE-H"), bytes);
  }
  EXPECT_EQ(ledger_->SignedTx(a, "OTHER").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger_->SignedTx(Key("never"), "ONCE-H").status().code(), absl::StatusCode::kNotFound);
  // Never claimed: the whole batch is refused, naming the key.
  absl::Status s =
      ledger_->RecordSignedBatch({a, Key("never")}, "t", "ONCE-H2", timeout, absl::Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr(Key("never")));
}

// Rows written before migration 4 carry the bytes inline: still read, re-broadcast and moved on.
TEST_F(LedgerTest, RowsWithInlineBytesFromTheOldSchemaStayReadable) {
  const std::string key = Key(), next = Key("next");
  const std::string bytes("\x01\x00\x02 old", 7);
  auto ins = pool_->Exec(
      "INSERT INTO signer_ledger (idempotency_key, state, tx_hash, signed_tx, "
      "timeout_timestamp_ns, attempts, batch_size) VALUES ($1, 'broadcast', 'OLD-H', "
      "decode($2, 'hex'), $3, 1, 2), ($4, 'broadcast', 'OLD-H', decode($2, 'hex'), $3, 1, 2)",
      {key, absl::BytesToHexString(bytes), absl::StrCat(absl::ToUnixNanos(absl::Now()) - 1000),
       next});
  ASSERT_TRUE(ins.ok()) << ins.status();
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->signed_tx, bytes);
  EXPECT_EQ(*ledger_->SignedTx(key, "OLD-H"), bytes);
  ASSERT_TRUE(ledger_->MarkIncludedBatch({next}, "OLD-H", 3).ok());
  EXPECT_EQ(ledger_->Get(next)->state, TxState::kIncluded);
  // Its timeout passed unincluded: a new tx replaces it and the inline bytes go.
  ASSERT_TRUE(
      ledger_->RecordSigned(key, "new", "OLD-H2", absl::Now() + absl::Minutes(1), absl::Now())
          .ok());
  e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->signed_tx, "new");
  EXPECT_EQ(e->attempts, 2);
  auto inline_bytes =
      pool_->Exec("SELECT signed_tx IS NULL FROM signer_ledger WHERE idempotency_key = $1", {key});
  ASSERT_TRUE(inline_bytes.ok());
  EXPECT_EQ(inline_bytes->Get(0, 0).value_or(""), "t");
}

// The group marks move every key with one statement; a key another signer changed meanwhile
// falls back to the per-key transition, which names it, while the others are moved.
TEST_F(LedgerTest, GroupMarksFallBackPerKeyWhenAKeyChangedConcurrently) {
  const std::string a = Key("a"), b = Key("b"), c = Key("c");
  ASSERT_TRUE(ledger_->ClaimBatch({a, b, c}).ok());
  absl::Time timeout = absl::Now() + absl::Minutes(1);
  ASSERT_TRUE(ledger_->RecordSignedBatch({a, b, c}, "txabc", "GM-H", timeout, absl::Now()).ok());
  ASSERT_TRUE(ledger_->MarkBroadcastBatch({a, b, c}, "GM-H").ok());
  ASSERT_TRUE(ledger_->MarkBroadcastBatch({a, b, c}, "GM-H").ok());  // repeat: per-key no-ops
  for (const auto& k : {a, b, c}) EXPECT_EQ(ledger_->Get(k)->state, TxState::kBroadcast);

  // Meanwhile c was split off and recorded in another tx (as another signer would).
  ASSERT_TRUE(ledger_->Requeue(c, "GM-H", "split").ok());
  ASSERT_TRUE(ledger_->RecordSigned(c, "txc", "GM-HC", timeout, absl::Now()).ok());
  absl::Status s = ledger_->MarkIncludedBatch({a, b, c}, "GM-H", 11);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), AllOf(HasSubstr(c), HasSubstr("GM-HC")));
  for (const auto& k : {a, b}) {
    auto e = ledger_->Get(k);
    EXPECT_EQ(e->state, TxState::kIncluded);
    EXPECT_EQ(e->height, 11);
  }
  EXPECT_EQ(ledger_->Get(c)->state, TxState::kSigned);
  EXPECT_EQ(ledger_->Get(c)->tx_hash, "GM-HC");
  // Repeats of the moved keys are no-ops; broadcast after included too.
  EXPECT_TRUE(ledger_->MarkIncludedBatch({a, b}, "GM-H", 11).ok());
  EXPECT_TRUE(ledger_->MarkBroadcastBatch({a, b}, "GM-H").ok());
  s = ledger_->MarkBroadcastBatch({a, c}, "GM-H");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr(c));
  EXPECT_EQ(ledger_->MarkIncludedBatch({Key("never")}, "GM-H", 1).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(ledger_->MarkIncludedBatch({}, "GM-H", 1).ok());
}

// Two signers marking overlapping groups at once (a redelivered request observed twice): every
// key ends included once, no call fails.
TEST_F(LedgerTest, ConcurrentGroupMarksOfOverlappingKeysAllSucceed) {
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) keys.push_back(Key(absl::StrCat(i)));
  ASSERT_TRUE(ledger_->ClaimBatch(keys).ok());
  absl::Time timeout = absl::Now() + absl::Minutes(1);
  ASSERT_TRUE(ledger_->RecordSignedBatch(keys, "tx", "CG-H", timeout, absl::Now()).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string> mine = keys;
      if (t % 2 == 1) std::reverse(mine.begin(), mine.end());
      if (!ledger_->MarkBroadcastBatch(mine, "CG-H").ok()) ++failures;
      if (!ledger_->MarkIncludedBatch(mine, "CG-H", 21).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (const auto& k : keys) EXPECT_EQ(ledger_->Get(k)->state, TxState::kIncluded);
}

// Sequenced mode: the fence refuses an older lease token (nothing written), an equal one is the
// holder, a newer one raises it; RaiseFence alone already shuts the older holder out.
TEST_F(LedgerTest, SequencedRecordsAreFencedByTheLeaseToken) {
  const std::string account = Key("account");
  const std::string k1 = Key("1"), k2 = Key("2"), k3 = Key("3");
  for (const auto& k : {k1, k2, k3}) ASSERT_TRUE(ledger_->Claim(k).ok());
  SequencedTx tx{"raw1", "AA01", account, 7, 100, 5};
  ASSERT_TRUE(ledger_->RecordSignedSequenced({k1}, tx, {}).ok());
  EXPECT_EQ(*ledger_->Fence(account), 5);
  auto e = ledger_->Get(k1);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->state, TxState::kSigned);
  EXPECT_TRUE(e->sequenced());
  EXPECT_EQ(e->sequence, 7);
  EXPECT_EQ(e->timeout_height, 100);
  EXPECT_EQ(e->fencing_token, 5);
  EXPECT_EQ(e->account, account);
  EXPECT_NE(e->signed_at, absl::InfinitePast());
  EXPECT_EQ(e->timeout, absl::InfinitePast());
  // Repeat: no-op.
  ASSERT_TRUE(ledger_->RecordSignedSequenced({k1}, tx, {}).ok());
  EXPECT_EQ(ledger_->Get(k1)->attempts, 1);

  // A new holder (token 9) raises the fence before it reads the sequence: token 5 is out.
  ASSERT_TRUE(ledger_->RaiseFence(account, 9).ok());
  absl::Status zombie =
      ledger_->RecordSignedSequenced({k2}, {"raw2", "AA02", account, 8, 100, 5}, {});
  EXPECT_EQ(zombie.code(), absl::StatusCode::kAborted) << zombie;
  EXPECT_THAT(std::string(zombie.message()),
              AllOf(HasSubstr(account), HasSubstr("token 5"), HasSubstr("newer token 9")));
  EXPECT_EQ(ledger_->Get(k2)->state, TxState::kQueued);  // nothing written
  EXPECT_EQ(ledger_->RaiseFence(account, 8).code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(ledger_->RaiseFence(account, 9).ok());  // the holder again: fine
  ASSERT_TRUE(
      ledger_->RecordSignedSequenced({k2, k3}, {"raw2", "AA02", account, 7, 100, 9}, {}).ok());
  EXPECT_EQ(ledger_->Get(k3)->batch_size, 2);
  EXPECT_EQ(ledger_->Get(k3)->fencing_token, 9);
  // Bad arguments.
  EXPECT_EQ(ledger_->RecordSignedSequenced({k2}, {"raw", "AA03", account, 1, 1, 0}, {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->RaiseFence(account, 0).code(), absl::StatusCode::kInvalidArgument);
  // The unordered path never replaces a sequenced tx.
  absl::Status unordered =
      ledger_->RecordSigned(k1, "raw9", "AA09", absl::Now(), absl::Now() + absl::Hours(1));
  EXPECT_EQ(unordered.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(unordered.message()), HasSubstr("sequenced"));
}

// A recorded sequenced tx is replaced only with proof it can never land: its timeout height
// reached, or the account's sequence moved past it.
TEST_F(LedgerTest, SequencedTxIsReplacedOnlyWhenItCanNoLongerLand) {
  const std::string account = Key("account");
  const std::string key = Key("k");
  ASSERT_TRUE(ledger_->Claim(key).ok());
  ASSERT_TRUE(ledger_->RecordSignedSequenced({key}, {"raw1", "BB01", account, 7, 100, 1}, {}).ok());
  SequencedTx next{"raw2", "BB02", account, 8, 130, 1};
  // Height 99 < 100, sequence 7 not consumed: it may still land.
  absl::Status s = ledger_->RecordSignedSequenced({key}, next, {99, absl::Now(), 7});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), AllOf(HasSubstr(key), HasSubstr("may still land")));
  // Another account's sequence proves nothing about this tx.
  SequencedTx other_account{"raw2", "BB02", Key("other account"), 8, 130, 1};
  EXPECT_EQ(ledger_->RecordSignedSequenced({key}, other_account, {99, absl::Now(), 50}).code(),
            absl::StatusCode::kFailedPrecondition);
  // Sequence consumed (the account is at 8 > 7).
  ASSERT_TRUE(ledger_->RecordSignedSequenced({key}, next, {99, absl::Now(), 8}).ok());
  auto e = ledger_->Get(key);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->tx_hash, "BB02");
  EXPECT_EQ(e->attempts, 2);
  // Timeout height reached (130): replaceable even though sequence 8 is not consumed.
  SequencedTx third{"raw3", "BB03", account, 8, 160, 1};
  EXPECT_EQ(ledger_->RecordSignedSequenced({key}, third, {129, absl::Now(), 8}).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ledger_->RecordSignedSequenced({key}, third, {130, absl::Now(), 8}).ok());
  EXPECT_EQ(ledger_->Get(key)->attempts, 3);
  ASSERT_TRUE(ledger_->MarkIncluded(key, "BB03", 131).ok());
  EXPECT_EQ(ledger_
                ->RecordSignedSequenced({key}, {"raw4", "BB04", account, 9, 200, 1},
                                        {500, absl::Now(), 99})
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

// Concurrent holders: only records under the newest token survive once it raised the fence.
TEST_F(LedgerTest, ConcurrentFencedRecordsNeverLetAnOlderTokenInAfterANewerOne) {
  const std::string account = Key("account");
  constexpr int kKeys = 40;
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(ledger_->Claim(Key(absl::StrCat(i))).ok());
  std::atomic<bool> newer_raised{false};
  std::atomic<int> old_after_raise{0};
  std::thread old_holder([&] {
    for (int i = 0; i < kKeys; i += 2) {
      bool raised_before = newer_raised.load();
      absl::Status s = ledger_->RecordSignedSequenced(
          {Key(absl::StrCat(i))}, {"raw", absl::StrCat("CC", i), account, 1, 10, 3}, {});
      if (s.ok() && raised_before) ++old_after_raise;
    }
  });
  std::thread new_holder([&] {
    ASSERT_TRUE(ledger_->RaiseFence(account, 4).ok());
    newer_raised = true;
    for (int i = 1; i < kKeys; i += 2) {
      ASSERT_TRUE(ledger_
                      ->RecordSignedSequenced({Key(absl::StrCat(i))},
                                              {"raw", absl::StrCat("CC", i), account, 1, 10, 4}, {})
                      .ok());
    }
  });
  old_holder.join();
  new_holder.join();
  EXPECT_EQ(old_after_raise.load(), 0);
  EXPECT_EQ(*ledger_->Fence(account), 4);
}

TEST_F(LedgerTest, TakeStaleHandsBackUnsettledRequestsOnceEachPeriod) {
  const std::string queued = Key("queued"), broadcast = Key("broadcast"), done = Key("done");
  const std::string legacy = Key("legacy"), batched = Key("batched");
  ASSERT_TRUE(ledger_->Claim(queued, std::string("req\0q", 5)).ok());
  ASSERT_TRUE(ledger_->Claim(broadcast, "req-b").ok());
  ASSERT_TRUE(ledger_->Claim(done, "req-d").ok());
  ASSERT_TRUE(ledger_->Claim(legacy).ok());  // no request kept: cannot be re-enqueued
  ASSERT_TRUE(ledger_->ClaimBatch({batched}, {"req-batch"}).ok());
  const absl::Time timeout = absl::Now() + absl::Minutes(1);
  ASSERT_TRUE(ledger_->RecordSigned(broadcast, "tx-b", "B0", timeout, absl::Now()).ok());
  ASSERT_TRUE(ledger_->MarkBroadcast(broadcast, "B0").ok());
  ASSERT_TRUE(ledger_->RecordSigned(done, "tx-d", "D0", timeout, absl::Now()).ok());
  ASSERT_TRUE(ledger_->MarkIncluded(done, "D0", 7).ok());
  // A later claim does not replace a kept request.
  ASSERT_TRUE(ledger_->Claim(queued, "another").ok());

  auto mine = [&](const std::vector<StaleRequest>& all) {
    std::vector<StaleRequest> out;
    for (const StaleRequest& s : all) {
      if (absl::StartsWith(s.key, Key())) out.push_back(s);
    }
    return out;
  };
  // Staleness is judged at times this test passes (TakeStale's `now`), not at whatever moment
  // each statement happens to run, so no outcome depends on how fast the test is scheduled.
  // Every row above was written at or before `written` (the database's now() and absl::Now()
  // read the same clock).
  const absl::Duration period = absl::Milliseconds(200);
  const absl::Time written = absl::Now();
  // Nothing is stale for an hour.
  auto none = ledger_->TakeStale(absl::Hours(1), 100, true, written);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(mine(*none).empty());

  // One period (and a millisecond) later, every unsettled row with a request is stale.
  const absl::Time first = written + period + absl::Milliseconds(1);
  auto stale = ledger_->TakeStale(period, 100, true, first);
  ASSERT_TRUE(stale.ok()) << stale.status();
  std::vector<StaleRequest> got = mine(*stale);
  ASSERT_EQ(got.size(), 3u);  // not the included row, not the row without a request
  std::map<std::string, StaleRequest> by_key;
  for (const StaleRequest& s : got) by_key[s.key] = s;
  EXPECT_EQ(by_key.at(queued).request, std::string("req\0q", 5));
  EXPECT_EQ(by_key.at(queued).state, TxState::kQueued);
  EXPECT_EQ(by_key.at(broadcast).request, "req-b");
  EXPECT_EQ(by_key.at(broadcast).state, TxState::kBroadcast);
  EXPECT_EQ(by_key.at(batched).request, "req-batch");
  for (const StaleRequest& s : got) EXPECT_EQ(s.reenqueues, 1) << s.key;

  // Taken rows are stamped with `first`: not stale again at that time, and their state is
  // unchanged.
  auto again = ledger_->TakeStale(period, 100, true, first);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(mine(*again).empty());
  auto e = ledger_->Get(broadcast);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, TxState::kBroadcast);
  EXPECT_EQ(e->tx_hash, "B0");

  // Progress on one row, stamped by the database once real time is past `first` (+5 ms); then,
  // judged a period after first + 2 ms: the rows stamped `first` are stale again (the second
  // copy), the row that made progress is not.
  absl::SleepFor(first + absl::Milliseconds(5) - absl::Now());
  ASSERT_TRUE(ledger_->RecordError(queued, "still trying").ok());
  auto second = ledger_->TakeStale(period, 100, true, first + absl::Milliseconds(2) + period);
  ASSERT_TRUE(second.ok());
  got = mine(*second);
  ASSERT_EQ(got.size(), 2u);
  for (const StaleRequest& s : got) {
    EXPECT_NE(s.key, queued);
    EXPECT_EQ(s.reenqueues, 2) << s.key;
  }
}

TEST_F(LedgerTest, ConcurrentTakeStaleCallersNeverTakeTheSameRow) {
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) keys.push_back(Key(absl::StrCat(i)));
  std::vector<std::string> requests(keys.size(), "r");
  ASSERT_TRUE(ledger_->ClaimBatch(keys, requests).ok());
  // Every caller judges at the same time `at`, when all the rows are stale; a row taken is
  // stamped `at` and so is fresh for the rest of the test, however slowly the rounds run.
  const absl::Time at = absl::Now() + absl::Seconds(1);
  std::vector<std::vector<StaleRequest>> taken(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        auto r = ledger_->TakeStale(absl::Milliseconds(700), 7, true, at);
        if (r.ok()) taken[t].insert(taken[t].end(), r->begin(), r->end());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::map<std::string, int> count;
  for (const auto& v : taken) {
    for (const StaleRequest& s : v) {
      if (absl::StartsWith(s.key, Key())) ++count[s.key];
    }
  }
  EXPECT_EQ(count.size(), keys.size());
  for (const auto& [key, n] : count) EXPECT_EQ(n, 1) << key;
}

TEST_F(LedgerTest, ProducerRecordsWaitForAnEmptyBacklogAndAreDeliveredByTheFirstClaim) {
  const std::string waiting = Key("waiting"), claimed = Key("claimed");
  auto r = ledger_->Record(waiting, "req-w");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->state, TxState::kQueued);
  EXPECT_FALSE(r->delivered);
  ASSERT_TRUE(ledger_->Record(claimed, "req-c").ok());
  EXPECT_EQ(ledger_->Record(claimed, "other").value().delivered, false);  // unchanged
  EXPECT_EQ(ledger_->Record("", "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Record(Key("empty"), "").status().code(), absl::StatusCode::kInvalidArgument);

  // Both rows were written at or before `written`; the claim below is stamped at least 5 ms
  // later, and staleness is judged with the cutoff in between (written + 2 ms).
  const absl::Time written = absl::Now();
  const absl::Duration period = absl::Milliseconds(200);
  const absl::Time judged_at = written + absl::Milliseconds(2) + period;
  absl::SleepFor(absl::Milliseconds(5));
  // The first claim by a signer: delivered, and that counts as progress (not stale).
  auto c = ledger_->Claim(claimed, "req-c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->delivered);
  auto mine = [&](const absl::StatusOr<std::vector<StaleRequest>>& all) {
    std::set<std::string> out;
    if (all.ok()) {
      for (const StaleRequest& s : *all) {
        if (absl::StartsWith(s.key, Key())) out.insert(s.key);
      }
    }
    return out;
  };
  // With a backlog (include_undelivered = false) the producer's row is left alone.
  EXPECT_TRUE(mine(ledger_->TakeStale(period, 100, false, judged_at)).empty());
  std::set<std::string> taken = mine(ledger_->TakeStale(period, 100, true, judged_at));
  EXPECT_EQ(taken, std::set<std::string>{waiting});
}

}  // namespace
}  // namespace signer
}  // namespace gonka

// Test helpers shared by the CosmJS oracle tests: reads the oracle's JSON (testdata/cosmjs/
// oracle.js), builds each tx spec with TxBuilder and compares every stage with CosmJS's bytes.
#ifndef GONKA_COSMOS_COSMJS_ORACLE_TESTUTIL_H_
#define GONKA_COSMOS_COSMJS_ORACLE_TESTUTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gonka::cosmos::testing {

// Counts of what CheckOracleDocument compared.
struct OracleCounts {
  int keys = 0;
  int txs = 0;
};

// Parses an oracle JSON document and checks every key vector (mnemonic -> seed, private key,
// public key, address) and tx vector (body, auth info, sign bytes, signature, TxRaw, hash)
// byte for byte. FailedPrecondition naming the vector and the first differing field otherwise.
absl::StatusOr<OracleCounts> CheckOracleDocument(const std::string& json);

// Reads a file into a string.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Absolute path of testdata/cosmjs in the source tree, found through the runfiles symlink of
// oracle.js (so node resolves node_modules there). NotFound if it cannot be resolved.
absl::StatusOr<std::string> CosmjsSourceDir();

// Whether `dir`/node_modules/@cosmjs/proto-signing exists (installed by tools/test).
bool NodeModulesInstalled(const std::string& dir);

// Runs `command` through /bin/sh and returns its stdout; Internal if it exits non-zero.
absl::StatusOr<std::string> RunCommand(const std::string& command);

}  // namespace gonka::cosmos::testing

#endif  // GONKA_COSMOS_COSMJS_ORACLE_TESTUTIL_H_

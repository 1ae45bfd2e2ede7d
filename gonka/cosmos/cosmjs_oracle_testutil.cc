#include "gonka/cosmos/cosmjs_oracle_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <climits>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/bip32.h"
#include "gonka/crypto/bip39.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"

namespace gonka::cosmos::testing {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

std::string Str(element e) { return std::string(std::string_view(e)); }

uint64_t U64(element e) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(Str(e), &v)) throw std::runtime_error("bad u64");
  return v;
}

std::vector<Coin> Coins(element e) {
  std::vector<Coin> out;
  for (element c : array(e)) out.push_back({Str(c["denom"]), Str(c["amount"])});
  return out;
}

std::optional<absl::Time> Timestamp(element e) {
  if (e.is_null()) return std::nullopt;
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(Str(e["seconds"]), &seconds)) {
    throw std::runtime_error("bad seconds");
  }
  return absl::FromUnixSeconds(seconds) + absl::Nanoseconds(int64_t(e["nanos"]));
}

absl::Status Compare(const std::string& vector, const char* field, const std::string& want,
                     const std::string& got) {
  if (want == got) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("vector \"", vector, "\" ", field, ": CosmJS ", want, " != libgonka ", got));
}

absl::Status CheckKey(element k) {
  const std::string name = Str(k["name"]);
  absl::StatusOr<crypto::SecretBytes> seed = crypto::MnemonicToSeed(Str(k["mnemonic"]));
  if (!seed.ok()) return seed.status();
  absl::Status st = Compare(name, "seed", Str(k["seed"]), crypto::HexEncode(seed->view()));
  if (!st.ok()) return st;
  crypto::KeyOptions options;
  options.prefix = Str(k["prefix"]);
  options.hd_path = Str(k["hd_path"]);
  absl::StatusOr<crypto::SigningKey> key = crypto::KeyFromMnemonic(Str(k["mnemonic"]), options);
  if (!key.ok()) return key.status();
  st = Compare(name, "private_key", Str(k["private_key"]),
               crypto::HexEncode(key->private_key().secret_bytes()));
  if (!st.ok()) return st;
  st = Compare(name, "public_key", Str(k["public_key"]),
               crypto::HexEncode(key->public_key().view()));
  if (!st.ok()) return st;
  return Compare(name, "address", Str(k["address"]), key->address());
}

absl::Status CheckTx(element t) {
  const std::string name = Str(t["name"]);
  element spec = t["spec"];
  element expected = t["expected"];
  crypto::KeyOptions options;
  options.prefix = Str(spec["prefix"]);
  absl::StatusOr<crypto::SigningKey> key = crypto::KeyFromHex(Str(spec["key_hex"]), options);
  if (!key.ok()) return key.status();
  absl::Status st = Compare(name, "address", Str(expected["address"]), key->address());
  if (!st.ok()) return st;

  TxBuilder tx;
  for (element m : array(spec["messages"])) {
    const std::string type = Str(m["type"]);
    if (type == "send") {
      tx.AddMessage(MakeMsgSend(Str(m["from"]), Str(m["to"]), Coins(m["amount"])));
    } else if (type == "grant_generic") {
      tx.AddMessage(MakeGenericGrant(Str(m["granter"]), Str(m["grantee"]), Str(m["msg"]),
                                     Timestamp(m["expiration"])));
    } else if (type == "grant_allowance") {
      std::vector<std::string> allowed;
      for (element a : array(m["allowed_messages"])) allowed.push_back(Str(a));
      tx.AddMessage(MakeFeeAllowance(Str(m["granter"]), Str(m["grantee"]), Coins(m["spend_limit"]),
                                     allowed, Timestamp(m["expiration"])));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("vector ", name, ": message type ", type));
    }
  }
  tx.WrapInExec(Str(spec["exec_grantee"]));
  tx.SetMemo(Str(spec["memo"]));
  element fee = spec["fee"];
  tx.SetFee({Coins(fee["amount"]), U64(fee["gas_limit"]), Str(fee["payer"]), Str(fee["granter"])});
  tx.SetTimeoutHeight(U64(spec["timeout_height"]));
  const std::optional<absl::Time> timeout = Timestamp(spec["timeout_timestamp"]);
  if (bool(spec["unordered"])) {
    tx.SetUnordered(*timeout);
  } else if (timeout.has_value()) {
    tx.SetTimeoutTimestamp(*timeout);
  }
  tx.SetChainId(Str(spec["chain_id"]));
  tx.SetAccountNumber(U64(spec["account_number"]));
  tx.SetSequence(U64(spec["sequence"]));
  absl::StatusOr<SignedTx> s = tx.Sign(*key);
  if (!s.ok()) {
    return absl::Status(s.status().code(),
                        absl::StrCat("vector \"", name, "\": ", s.status().message()));
  }
  const std::pair<const char*, std::string> fields[] = {
      {"body_bytes", crypto::HexEncode(s->body_bytes)},
      {"auth_info_bytes", crypto::HexEncode(s->auth_info_bytes)},
      {"sign_bytes", crypto::HexEncode(s->sign_bytes)},
      {"signature", crypto::HexEncode(s->signature)},
      {"tx_raw", crypto::HexEncode(s->tx_raw)},
      {"hash", s->hash},
  };
  for (const auto& [field, got] : fields) {
    st = Compare(name, field, Str(expected[field]), got);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OracleCounts> CheckOracleDocument(const std::string& json) {
  simdjson::dom::parser parser;
  OracleCounts counts;
  try {
    element doc = parser.parse(json);
    for (element k : array(doc["keys"])) {
      absl::Status st = CheckKey(k);
      if (!st.ok()) return st;
      ++counts.keys;
    }
    for (element t : array(doc["txs"])) {
      absl::Status st = CheckTx(t);
      if (!st.ok()) return st;
      ++counts.txs;
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("oracle JSON: ", e.what()));
  }
  return counts;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::StatusOr<std::string> CosmjsSourceDir() {
  char resolved[PATH_MAX];
  if (realpath("testdata/cosmjs/oracle.js", resolved) == nullptr) {
    return absl::NotFoundError("cannot resolve testdata/cosmjs/oracle.js from the runfiles");
  }
  std::string dir(resolved);
  return dir.substr(0, dir.rfind('/'));
}

bool NodeModulesInstalled(const std::string& dir) {
  struct stat st;
  return stat((dir + "/node_modules/@cosmjs/proto-signing/package.json").c_str(), &st) == 0;
}

absl::StatusOr<std::string> RunCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("popen: ", command));
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  if (status != 0) {
    return absl::InternalError(absl::StrCat("command failed (status ", status, "): ", command));
  }
  return out;
}

}  // namespace gonka::cosmos::testing

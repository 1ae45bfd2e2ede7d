// CometClient: the CometBFT 0.38 JSON-RPC calls libgonka needs (`/status`, `/block`,
// `/block_results`, `/tx`, `/broadcast_tx_sync`, `/abci_query`) over gonka::net::HttpClient, with
// CometBFT's errors mapped to absl::Status.
//
//   CometClient comet({.rpc_url = "http://127.0.0.1:26657"});   // or https://, see `tls`
//   ASSIGN_OR_RETURN(CometStatus s, comet.Status());
//   ASSIGN_OR_RETURN(v1::BlockEvents b, comet.FetchBlockEvents(s.latest_height, normalize));
//
// Errors: transport failures as HttpClient reports them (Unavailable, DeadlineExceeded);
// a height above the tip → OutOfRange; a pruned height → NotFound with "is not available";
// an unknown tx → NotFound; other JSON-RPC errors → Unavailable carrying the code and data;
// a malformed answer → Internal naming the method. Every message names the method and URL.
// Thread-safe.
#ifndef GONKA_CHAIN_COMET_CLIENT_H_
#define GONKA_CHAIN_COMET_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/chain/ics23.h"
#include "gonka/chain/normalize.h"
#include "gonka/net/http_client.h"
#include "gonka/net/tls.h"

namespace gonka {
namespace chain {

struct CometClientOptions {
  std::string rpc_url = "http://127.0.0.1:26657";
  absl::Duration timeout = absl::Seconds(10);
  // Largest accepted answer (a /block_results of a heavy block can be several MB).
  size_t max_response_bytes = 64 << 20;
  // Whom to trust when `rpc_url` is https:// (gonka/net/tls.h: the system's CAs by default, and
  // the certificate must name the URL's host). Used only by the client's own HttpClient: a
  // shared `http` passed to the constructor brings its own.
  net::TlsClientOptions tls;
};

struct CometStatus {
  std::string chain_id;
  int64_t latest_height = 0;
  absl::Time latest_time;
  int64_t earliest_height = 0;
  bool catching_up = false;
};

struct BroadcastResponse {
  uint32_t code = 0;
  std::string codespace;
  std::string log;
  std::string hash;  // uppercase hex
};

struct TxInfo {
  std::string hash;  // uppercase hex
  int64_t height = 0;
  uint32_t index = 0;
  uint32_t code = 0;
  std::string codespace;
  std::string log;
  int64_t gas_used = 0;
  int64_t gas_wanted = 0;
};

struct AbciQueryResponse {
  uint32_t code = 0;
  std::string codespace;
  std::string log;
  std::string value;  // raw bytes
  int64_t height = 0;
  // With `prove`: the node's proof ops (CometBFT's "proofOps"; ICS-23 ops on a Cosmos node,
  // verified by chain::VerifyProofOps in ics23.h), empty when it gives none.
  std::vector<ProofOp> proof_ops;
};

class CometClient {
 public:
  // `http` may be shared (it pools connections); nullptr → an own client.
  explicit CometClient(CometClientOptions options, net::HttpClient* http = nullptr);
  ~CometClient();

  absl::StatusOr<CometStatus> Status();
  // The raw JSON-RPC answers (envelope included) of /block and /block_results: NormalizeBlock
  // reads them as they are.
  absl::StatusOr<std::string> BlockJson(int64_t height);
  absl::StatusOr<std::string> BlockResultsJson(int64_t height);
  // The raw /validators answer at `height` (1-based `page` of `per_page`, CometBFT caps it at
  // 100); chain::ParseValidatorsAnswer reads it.
  absl::StatusOr<std::string> ValidatorsJson(int64_t height, int page, int per_page);
  // Both, normalised.
  absl::StatusOr<v1::BlockEvents> FetchBlockEvents(int64_t height, const NormalizeOptions& options);
  // Heights [from, from + count) in ONE JSON-RPC batch request (POST of /block and
  // /block_results for each height; CometBFT answers batches with an array), normalised.
  // `fn(height, status, events)` runs once per height, in order, on the calling thread; `events`
  // is valid (and reused) only during the call and only when `status` is OK. A height the node
  // answers with an error gets that error mapped as for single calls (e.g. NotFound for a
  // pruned height) while the other heights still succeed. The return value is the error of the
  // whole request (transport, HTTP status, an answer that is not a batch of the right size);
  // `fn` is then not called. Much cheaper per height than two GETs: the catch-up path.
  absl::Status FetchBlockEventsBatch(
      int64_t from, int count, const NormalizeOptions& options,
      const std::function<void(int64_t height, const absl::Status& status,
                               v1::BlockEvents* events)>& fn);
  absl::StatusOr<BroadcastResponse> BroadcastTxSync(absl::string_view tx_bytes);
  // `hash`: 32 raw bytes.
  absl::StatusOr<TxInfo> Tx(absl::string_view hash);
  // At `height` (0 = latest); `prove` asks for proof ops. An application error is not a Status
  // error: it is the answer's code, codespace and log.
  absl::StatusOr<AbciQueryResponse> AbciQuery(absl::string_view path, absl::string_view data,
                                              int64_t height = 0, bool prove = false);

  const std::string& url() const { return options_.rpc_url; }

 private:
  // GET <rpc_url>/<method>?<query>; the raw body of a successful answer.
  absl::StatusOr<std::string> Call(absl::string_view method, absl::string_view query);
  // POST of one JSON-RPC request with `params_json` (an object); errors as for Call.
  absl::StatusOr<std::string> PostCall(absl::string_view method, absl::string_view params_json,
                                       bool idempotent);

  const CometClientOptions options_;
  std::unique_ptr<net::HttpClient> own_http_;
  net::HttpClient* http_;
};

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_COMET_CLIENT_H_

// Fuzz target: signerd's POST /v1/txs body parse (signer::internal::ParseChainTx, what the
// handler runs before the ledger and the queue), JSON and serialized protobuf. Anyone who can
// reach the port can send any body: it must become a ChainTx or a 400 reason, never a crash.
// A parsed request is validated and serialized as TxQueue::Prepare does.
// Input: one byte choosing the Content-Type ('p': application/x-protobuf, anything else:
// application/json), then the body. Seeds: testdata/fuzz/chain_tx_body_fuzz.
#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "gonka/net/http_message.h"
#include "gonka/signer/internal/chain_tx_body.h"
#include "gonka/txqueue/txqueue.h"

// Protobuf logs every invalid UTF-8 string it parses; a fuzzer makes millions.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  gonka::net::HttpRequest request;
  request.method = "POST";
  request.target = request.path = "/v1/txs";
  request.headers.Add("Content-Type",
                      data[0] == 'p' ? "application/x-protobuf" : "application/json");
  request.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  absl::StatusOr<gonka::txqueue::ChainTx> tx = gonka::signer::internal::ParseChainTx(request);
  if (!tx.ok()) return 0;
  if (!gonka::txqueue::Validate(*tx).ok()) return 0;
  std::string bytes;
  tx->SerializeToString(&bytes);
  return 0;
}

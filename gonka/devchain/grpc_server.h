// CosmosGrpcServer: the Cosmos SDK gRPC services devchain serves (docs/reference/protocol.md,
// "gRPC methods and ABCI query paths"), dispatched by full method name through gRPC's generic
// callback API:
//   /cosmos.auth.v1beta1.Query/Account, /cosmos.auth.v1beta1.Query/AccountInfo,
//   /cosmos.bank.v1beta1.Query/Balance,
//   /cosmos.tx.v1beta1.Service/Simulate, /cosmos.tx.v1beta1.Service/GetTx,
//   /cosmos.tx.v1beta1.Service/BroadcastTx (modes SYNC and ASYNC; BLOCK is refused as since
//   SDK 0.47),
//   /inference.inference.Query/*, /inference.restrictions.Query/*, /inference.bls.Query/*
//   (gonka/devchain/inference_module.h),
//   /cosmos.base.tendermint.v1beta1.Service/{GetNodeInfo, GetBlockByHeight,
//   GetValidatorSetByHeight, ABCIQuery} (cmtservice: the node's version, a block as the SDK's
//   sdk_block, devchain's one validator, and any abci_query path without proof ops).
// Queries are pinned to the height in the request header x-cosmos-block-height (absent = latest),
// and the answer carries the height it is from in the response header of the same name, as the
// SDK's gRPC server does.
// Status codes as the SDK's gRPC layer: an unknown account or tx → NOT_FOUND, a malformed request
// → INVALID_ARGUMENT (and a height above the latest), an unknown method → status 12 (its
// canonical code). A CheckTx rejection is
// not a gRPC error: it is the TxResponse's code, codespace and raw_log (and a tx already in the
// mempool is code 19, as the SDK reports it).
//
//   CosmosGrpcServer grpc(&chain);
//   RETURN_IF_ERROR(grpc.Start("127.0.0.1:9090"));
//
// Thread-safe.
#ifndef GONKA_DEVCHAIN_GRPC_SERVER_H_
#define GONKA_DEVCHAIN_GRPC_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/devchain/chain.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace gonka {
namespace devchain {

class CosmosGrpcServer {
 public:
  // What GetNodeInfo answers as application_version (name, version, git_commit).
  static constexpr char kAppName[] = "devchain";
  static constexpr char kAppVersion[] = "0.1.0";
  static constexpr char kAppCommit[] = "devchain";

  explicit CosmosGrpcServer(Chain* chain);
  ~CosmosGrpcServer();

  // Binds `address` ("127.0.0.1:0" picks a port). Unavailable naming it if it cannot be bound.
  absl::Status Start(const std::string& address);
  int port() const { return port_; }
  void Stop(absl::Time deadline);

  // One call: the serialized response, or the status the gRPC call ends with. Queries answer
  // at `height` (0 = latest; the SDK's x-cosmos-block-height request header) and set
  // `*answered_height` to the height answered (the x-cosmos-block-height response header).
  absl::StatusOr<std::string> Call(absl::string_view method, absl::string_view request,
                                   int64_t height = 0, int64_t* answered_height = nullptr);

 private:
  absl::StatusOr<std::string> CallCmtService(absl::string_view method, absl::string_view request,
                                             int64_t* answered_height);

  class Service;
  Chain* const chain_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_GRPC_SERVER_H_

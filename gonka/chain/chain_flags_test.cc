#include "gonka/chain/chain_flags.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace gonka {
namespace chain {
namespace {

TEST(ChainFlags, DefaultsAndValuesReachTheClients) {
  std::map<std::string, std::string> env = {{"GONKA_CHAIN_GRPC_ADDRESS", "node:9090"}};
  Config config("test");
  ChainFlags chain;
  chain.Register(&config);
  const char* argv[] = {"test", "--chain-rpc-url=https://node:26657",
                        "--chain-tls-server-name=rpc.example"};
  ASSERT_TRUE(config.Parse(3, argv, MapEnv(&env)).ok());
  EXPECT_EQ(chain.rpc_url(), "https://node:26657");
  EXPECT_EQ(chain.grpc_address(), "node:9090");
  CometClientOptions comet = chain.Comet();
  EXPECT_EQ(comet.rpc_url, "https://node:26657");
  EXPECT_EQ(comet.tls.server_name, "rpc.example");
  InferenceQueryClientOptions queries = chain.Queries(absl::Seconds(3));
  EXPECT_EQ(queries.grpc_address, "node:9090");
  EXPECT_EQ(queries.rpc_url, "https://node:26657");
  EXPECT_EQ(queries.rpc_tls.server_name, "rpc.example");
  EXPECT_EQ(queries.timeout, absl::Seconds(3));
}

TEST(ChainFlags, WithoutGrpcTheFlagIsNotRegistered) {
  std::map<std::string, std::string> env;
  Config config("test");
  ChainFlags chain;
  chain.Register(&config, {.grpc = ""});
  const char* ok[] = {"test"};
  ASSERT_TRUE(config.Parse(1, ok, MapEnv(&env)).ok());
  EXPECT_EQ(chain.rpc_url(), "http://127.0.0.1:26657");
  EXPECT_TRUE(chain.Queries(absl::Seconds(1)).grpc_address.empty());
  Config again("test");
  ChainFlags other;
  other.Register(&again, {.grpc = ""});
  const char* bad[] = {"test", "--chain-grpc-address=node:9090"};
  EXPECT_FALSE(again.Parse(2, bad, MapEnv(&env)).ok());
}

}  // namespace
}  // namespace chain
}  // namespace gonka

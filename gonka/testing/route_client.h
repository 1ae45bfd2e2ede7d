// What the route tests read from edge-api's read surface: one GET's status, the height it
// claims (X-Cosmos-Block-Height) and its cache headers, and gtest-checked JSON field reads.
// Shared by the cache's route tests and the multi-replica cache test. Test-only.
//
//   net::HttpClient client;
//   absl::StatusOr<testing::RouteAnswer> a = testing::GetRoute(client, base + "/v1/epochs/latest");
//   ASSERT_TRUE(a.ok()) << a.status();
//   simdjson::dom::parser parser;
//   int64_t index = testing::IntField(testing::ParseJson(parser, a->body), "index");
#ifndef GONKA_TESTING_ROUTE_CLIENT_H_
#define GONKA_TESTING_ROUTE_CLIENT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/net/http_client.h"
#include "simdjson.h"

namespace gonka {
namespace testing {

struct RouteAnswer {
  int status = 0;
  int64_t height = 0;  // X-Cosmos-Block-Height; 0 when absent
  std::string etag;
  std::string cache_control;
  std::string age;
  std::string warning;
  std::string body;
};

// GET `url` (with If-None-Match when given). A transport failure is the error; so is a height
// header that is not a number.
absl::StatusOr<RouteAnswer> GetRoute(net::HttpClient& client, const std::string& url,
                                     const std::string& if_none_match = "",
                                     absl::Duration timeout = absl::Seconds(15));

// Parses `body` with `parser`; a non-JSON body fails the current test (the element is then
// null). `parser` owns the result.
simdjson::dom::element ParseJson(simdjson::dom::parser& parser, const std::string& body);

// e[key] as an integer (-1) or string (""); a missing or mistyped field fails the current test.
int64_t IntField(simdjson::dom::element e, const char* key);
std::string StringField(simdjson::dom::element e, const char* key);

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_ROUTE_CLIENT_H_

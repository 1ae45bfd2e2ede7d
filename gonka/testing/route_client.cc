#include "gonka/testing/route_client.h"

#include <string_view>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gonka {
namespace testing {

absl::StatusOr<RouteAnswer> GetRoute(net::HttpClient& client, const std::string& url,
                                     const std::string& if_none_match, absl::Duration timeout) {
  net::HttpCallOptions options;
  options.timeout = timeout;
  if (!if_none_match.empty()) options.headers.Add("If-None-Match", if_none_match);
  absl::StatusOr<net::HttpResponse> r = client.Get(url, options);
  if (!r.ok()) return r.status();
  RouteAnswer a;
  a.status = r->status;
  if (r->headers.Has("X-Cosmos-Block-Height") &&
      !absl::SimpleAtoi(r->headers.Get("X-Cosmos-Block-Height"), &a.height)) {
    return absl::DataLossError(absl::StrCat(url, ": bad X-Cosmos-Block-Height"));
  }
  a.etag = r->headers.Get("ETag");
  a.cache_control = r->headers.Get("Cache-Control");
  a.age = r->headers.Get("Age");
  a.warning = r->headers.Get("Warning");
  a.body = std::move(r->body);
  return a;
}

simdjson::dom::element ParseJson(simdjson::dom::parser& parser, const std::string& body) {
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(body).get(doc), simdjson::SUCCESS) << body;
  return doc;
}

int64_t IntField(simdjson::dom::element e, const char* key) {
  int64_t v = -1;
  EXPECT_EQ(e[key].get_int64().get(v), simdjson::SUCCESS)
      << key << " in " << simdjson::to_string(e);
  return v;
}

std::string StringField(simdjson::dom::element e, const char* key) {
  std::string_view v;
  EXPECT_EQ(e[key].get_string().get(v), simdjson::SUCCESS)
      << key << " in " << simdjson::to_string(e);
  return std::string(v);
}

}  // namespace testing
}  // namespace gonka

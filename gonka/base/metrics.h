// Metrics: prometheus-cpp's registry plus the text exposition served at `/metrics`.
//
//   auto& elected = prometheus::BuildCounter().Name("gonka_election_transitions_total")
//                       .Help("Leadership changes").Register(gonka::metrics::Registry());
//   elected.Add({{"to", "leader"}}).Increment();
//   std::string body = gonka::metrics::ExposeText();   // text format 0.0.4
//
// All libgonka components register into the process-wide registry unless given another one.
// Thread-safe (prometheus-cpp metrics are atomic).
#ifndef GONKA_BASE_METRICS_H_
#define GONKA_BASE_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace gonka {
namespace metrics {

// The process-wide registry.
prometheus::Registry& Registry();
std::shared_ptr<prometheus::Registry> RegistryPtr();

// Prometheus text exposition of `registry` (default: the process-wide one).
std::string ExposeText(const prometheus::Registry& registry);
std::string ExposeText();

// The `Content-Type` to serve ExposeText() with.
inline constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Latency buckets in seconds, 1 ms .. 10 s, for request/RPC histograms.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

}  // namespace metrics
}  // namespace gonka

#endif  // GONKA_BASE_METRICS_H_

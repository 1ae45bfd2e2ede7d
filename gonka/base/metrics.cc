#include "gonka/base/metrics.h"

#include <prometheus/text_serializer.h>

namespace gonka {
namespace metrics {

std::shared_ptr<prometheus::Registry> RegistryPtr() {
  static auto* registry =
      new std::shared_ptr<prometheus::Registry>(std::make_shared<prometheus::Registry>());
  return *registry;
}

prometheus::Registry& Registry() { return *RegistryPtr(); }

std::string ExposeText(const prometheus::Registry& registry) {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry.Collect());
}

std::string ExposeText() { return ExposeText(Registry()); }

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace metrics
}  // namespace gonka

// The libgonka release this build belongs to, reported by every daemon (`/version`,
// `gonka_build_info`, the start-up log line).
#ifndef GONKA_BASE_VERSION_H_
#define GONKA_BASE_VERSION_H_

namespace gonka {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace gonka

#endif  // GONKA_BASE_VERSION_H_

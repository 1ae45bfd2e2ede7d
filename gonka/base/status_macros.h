// Status propagation macros. Debian's Abseil 20220623 has no status_macros.h, so libgonka keeps
// its own two, with the semantics of the internal Google ones:
//
//   absl::StatusOr<Block> FetchBlock(int64_t height) {
//     RETURN_IF_ERROR(CheckHeight(height));
//     ASSIGN_OR_RETURN(std::string body, http.Get(url));
//     return ParseBlock(body);
//   }
//
// Both evaluate their argument exactly once and return the failed status unchanged.
#ifndef GONKA_BASE_STATUS_MACROS_H_
#define GONKA_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define GONKA_STATUS_CONCAT_INNER_(a, b) a##b
#define GONKA_STATUS_CONCAT_(a, b) GONKA_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                                                \
  do {                                                                       \
    ::absl::Status gonka_status_macro_status_ = (expr);                      \
    if (!gonka_status_macro_status_.ok()) return gonka_status_macro_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(lhs, rexpr)`: evaluates `rexpr` (an absl::StatusOr<T>); on error returns its
// status, otherwise move-assigns the value to `lhs` (which may be a declaration).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  GONKA_ASSIGN_OR_RETURN_IMPL_(GONKA_STATUS_CONCAT_(gonka_statusor_, __LINE__), lhs, rexpr)

#define GONKA_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

namespace gonka {

// Returns `status` with `context` prepended to its message ("context: message"), same code.
// OK stays OK.
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace gonka

#endif  // GONKA_BASE_STATUS_MACROS_H_

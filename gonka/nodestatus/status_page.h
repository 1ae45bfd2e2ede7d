// The status page's static files (web/index.html, web/app.js, web/app.css), compiled into the
// binary so edge-api serves the page with no directory to deploy and nothing fetched from the
// internet. The bytes are generated at build time from gonka/nodestatus/web/ (embed_assets.py).
//
//   if (const StatusPageAsset* a = FindStatusPageAsset("app.js")) Serve(a->content_type, a->body);
//
// Thread-safety: immutable data.
#ifndef GONKA_NODESTATUS_STATUS_PAGE_H_
#define GONKA_NODESTATUS_STATUS_PAGE_H_

#include "absl/strings/string_view.h"

namespace gonka {
namespace nodestatus {

struct StatusPageAsset {
  absl::string_view name;          // "index.html", "app.js", "app.css"
  absl::string_view content_type;  // e.g. "text/html; charset=utf-8"
  absl::string_view body;
};

// The asset named `name`, or nullptr.
const StatusPageAsset* FindStatusPageAsset(absl::string_view name);

}  // namespace nodestatus
}  // namespace gonka

#endif  // GONKA_NODESTATUS_STATUS_PAGE_H_

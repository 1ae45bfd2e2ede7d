// Server-Sent Events (text/event-stream, WHATWG HTML §9.2): formatting on the server side and an
// incremental parser on the client side. HTTP chunking is Beast's; this is only the event format.
//
//   // server, inside a stream handler:
//   stream->Write(SseEvent("{\"height\":7}", "block", "7"));   // event: block / id: 7 / data: ...
//   // client:
//   SseReader reader([&](const SseMessage& m) { Use(m.event, m.data); return true; });
//   client.Stream(url, [&](absl::string_view chunk) { return reader.Feed(chunk); });
//
// SseReader follows the spec's dispatch rules: lines end in CRLF, LF or CR; a blank line
// dispatches; several `data:` lines join with '\n'; an event without data is not dispatched;
// the event type defaults to "message"; the last `id:` persists across events; `:comment` lines
// and unknown fields are ignored. Thread-compatible.
#ifndef GONKA_NET_SSE_H_
#define GONKA_NET_SSE_H_

#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace gonka {
namespace net {

// One event block. Multi-line `data` becomes several `data:` lines; empty `event`/`id` are
// omitted. `event` and `id` must not contain line breaks (they are stripped if they do).
std::string SseEvent(absl::string_view data, absl::string_view event = "",
                     absl::string_view id = "");
// A comment block (": text\n\n"): clients ignore it; useful as a keep-alive through proxies.
std::string SseComment(absl::string_view text);

struct SseMessage {
  std::string event;  // "message" when the block had no `event:` line
  std::string data;
  std::string id;  // the last event id seen on the stream ("" if none yet)
};

class SseReader {
 public:
  // `on_event` returns false to stop; Feed() then returns false and ignores further input.
  explicit SseReader(std::function<bool(const SseMessage&)> on_event);

  // Consumes the next bytes of the stream (any split, e.g. straight from HttpClient::Stream).
  bool Feed(absl::string_view bytes);
  bool stopped() const { return stopped_; }

 private:
  void ProcessLine(absl::string_view line);

  std::function<bool(const SseMessage&)> on_event_;
  std::string partial_line_;
  bool last_was_cr_ = false;
  bool stopped_ = false;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  std::string last_id_;
};

}  // namespace net
}  // namespace gonka

#endif  // GONKA_NET_SSE_H_

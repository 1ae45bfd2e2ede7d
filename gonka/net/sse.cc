#include "gonka/net/sse.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace gonka {
namespace net {
namespace {

std::string OneLine(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"\r", ""}, {"\n", ""}});
}

}  // namespace

std::string SseEvent(absl::string_view data, absl::string_view event, absl::string_view id) {
  std::string out;
  if (!event.empty()) absl::StrAppend(&out, "event: ", OneLine(event), "\n");
  if (!id.empty()) absl::StrAppend(&out, "id: ", OneLine(id), "\n");
  // A CRLF or CR inside data would end the line early on the reader; normalise to LF first.
  std::string normalized = absl::StrReplaceAll(data, {{"\r\n", "\n"}, {"\r", "\n"}});
  for (absl::string_view line : absl::StrSplit(normalized, '\n')) {
    absl::StrAppend(&out, "data: ", line, "\n");
  }
  out.push_back('\n');
  return out;
}

std::string SseComment(absl::string_view text) { return absl::StrCat(": ", OneLine(text), "\n\n"); }

SseReader::SseReader(std::function<bool(const SseMessage&)> on_event)
    : on_event_(std::move(on_event)) {}

bool SseReader::Feed(absl::string_view bytes) {
  for (char c : bytes) {
    if (stopped_) return false;
    if (c == '\n' && last_was_cr_) {  // the LF of a CRLF already ended the line
      last_was_cr_ = false;
      continue;
    }
    last_was_cr_ = (c == '\r');
    if (c == '\r' || c == '\n') {
      ProcessLine(partial_line_);
      partial_line_.clear();
    } else {
      partial_line_.push_back(c);
    }
  }
  return !stopped_;
}

void SseReader::ProcessLine(absl::string_view line) {
  if (line.empty()) {
    if (has_data_) {
      SseMessage message;
      message.event = event_.empty() ? "message" : event_;
      message.data = std::move(data_);
      message.id = last_id_;
      if (!on_event_(message)) stopped_ = true;
    }
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment
  absl::string_view field = line;
  absl::string_view value;
  if (size_t colon = line.find(':'); colon != absl::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value.data(), value.size());
    has_data_ = true;
  } else if (field == "event") {
    event_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == absl::string_view::npos) last_id_ = std::string(value);
  }
  // "retry" and unknown fields: ignored (reconnection policy belongs to the caller).
}

}  // namespace net
}  // namespace gonka

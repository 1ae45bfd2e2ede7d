#include "gonka/net/url.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gonka {
namespace net {
namespace {

absl::Status Bad(absl::string_view url, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid URL '", url, "': ", why));
}

bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::string Url::HostPort() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string Url::ToString() const { return absl::StrCat(scheme, "://", HostPort(), target); }

absl::StatusOr<Url> ParseUrl(absl::string_view url) {
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Bad(url, "contains whitespace or a control character");
    }
  }
  Url out;
  size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos || scheme_end == 0) {
    return Bad(url, "missing scheme (expected http://, https://, ws:// or wss://)");
  }
  out.scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
  if (out.scheme != "http" && out.scheme != "https" && out.scheme != "ws" && out.scheme != "wss") {
    return Bad(url,
               absl::StrCat("unsupported scheme '", out.scheme, "' (only http, https, ws, wss)"));
  }
  absl::string_view rest = url.substr(scheme_end + 3);
  if (size_t hash = rest.find('#'); hash != absl::string_view::npos) rest = rest.substr(0, hash);

  size_t authority_end = rest.find_first_of("/?");
  absl::string_view authority = rest.substr(0, authority_end);
  absl::string_view target =
      authority_end == absl::string_view::npos ? absl::string_view() : rest.substr(authority_end);
  if (authority.find('@') != absl::string_view::npos) {
    return Bad(url, "userinfo (user@host) is not supported");
  }

  absl::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return Bad(url, "unterminated IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad(url, "junk after IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return Bad(url, "empty port");
    }
    if (out.host.empty()) return Bad(url, "empty host");
    for (char c : out.host) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return Bad(url, "malformed IPv6 address");
      }
    }
  } else {
    size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return Bad(url, "empty port");
    }
    if (out.host.empty()) return Bad(url, "empty host");
    for (char c : out.host) {
      if (!IsHostChar(c)) return Bad(url, "malformed host");
    }
  }

  if (port_text.empty()) {
    out.port = out.tls() ? 443 : 80;
  } else {
    int port = 0;
    for (char c : port_text) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return Bad(url, "non-numeric port");
    }
    if (port_text.size() > 5 || !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
      return Bad(url, "port out of range 1..65535");
    }
    out.port = static_cast<uint16_t>(port);
  }

  if (target.empty()) {
    out.target = "/";
  } else if (target.front() == '?') {
    out.target = absl::StrCat("/", target);
  } else {
    out.target = std::string(target);
  }
  return out;
}

}  // namespace net
}  // namespace gonka

#include "gonka/supervisor/oracle.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gonka/base/json.h"
#include "gonka/crypto/hash.h"
#include "gonka/net/http_client.h"
#include "simdjson.h"

namespace gonka {
namespace supervisor {
namespace {

bool SafeName(absl::string_view name) {
  // No leading dot: versiond keeps its own files under dot-names in the data dir.
  if (name.empty() || name[0] == '.' || name.size() > 128) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

bool IsSha256Hex(absl::string_view hex) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > max_bytes) {
    return absl::UnavailableError(absl::StrCat(path, ": larger than ", max_bytes, " bytes"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string HashHex(absl::string_view bytes) {
  return crypto::HexEncode(crypto::Sha256(bytes));
}

}  // namespace

std::string RedactUrl(absl::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == absl::string_view::npos) return std::string(url);
  size_t host_start = scheme + 3;
  size_t path = url.find('/', host_start);
  size_t at = url.substr(0, path).rfind('@');
  if (at == absl::string_view::npos || at < host_start) return std::string(url);
  return absl::StrCat(url.substr(0, host_start), url.substr(at + 1));
}

absl::StatusOr<std::vector<OracleVersion>> ParseOracle(absl::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("oracle: not JSON");
  }
  simdjson::dom::array versions;
  if (doc["versions"].get(versions) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("oracle: no \"versions\" array");
  }
  std::vector<OracleVersion> out;
  std::set<std::string> seen;
  size_t index = 0;
  for (simdjson::dom::element entry : versions) {
    OracleVersion v;
    std::string_view raw_name, raw_binary, raw_sha;
    const std::string where = absl::StrCat("oracle: versions[", index++, "]");
    if (entry["name"].get(raw_name) != simdjson::SUCCESS || raw_name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": missing \"name\""));
    }
    const std::string name(raw_name);
    if (!SafeName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": name ", JsonQuote(name), " is not [A-Za-z0-9._-]+"));
    }
    if (entry["binary"].get(raw_binary) != simdjson::SUCCESS || raw_binary.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " (", name, "): missing \"binary\""));
    }
    const std::string sha = entry["sha256"].get(raw_sha) == simdjson::SUCCESS
                                ? std::string(raw_sha)
                                : std::string();
    if (!IsSha256Hex(sha)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", name, "): \"sha256\" is not 64 hex digits"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": name ", name, " listed twice"));
    }
    v.name = name;
    v.binary = std::string(raw_binary);
    v.sha256 = absl::AsciiStrToLower(sha);
    out.push_back(std::move(v));
  }
  return out;
}

BinaryInstaller::BinaryInstaller(InstallerOptions options)
    : options_(std::move(options)),
      http_(std::make_unique<net::HttpClient>(net::HttpClientOptions{
          .name = "versiond_install", .user_agent = "versiond"})) {}

BinaryInstaller::~BinaryInstaller() = default;

std::string BinaryInstaller::PathFor(const OracleVersion& version) const {
  return absl::StrCat(options_.bin_dir, "/", version.name, "/", version.sha256, "/",
                      options_.binary_name);
}

absl::StatusOr<std::string> BinaryInstaller::Fetch(const std::string& source) {
  if (absl::StartsWith(source, "http://") || absl::StartsWith(source, "https://")) {
    net::HttpCallOptions call = net::HttpCallOptions::Timeout(options_.download_timeout);
    call.max_body_bytes = options_.max_binary_bytes;
    absl::StatusOr<net::HttpResponse> res = http_->Get(source, call);
    if (!res.ok()) {
      return absl::UnavailableError(
          absl::StrCat("download ", RedactUrl(source), ": ", res.status().message()));
    }
    if (res->status != 200) {
      return absl::UnavailableError(
          absl::StrCat("download ", RedactUrl(source), ": HTTP ", res->status));
    }
    return std::move(res->body);
  }
  absl::string_view path = source;
  absl::ConsumePrefix(&path, "file://");
  if (!absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "binary ", RedactUrl(source), ": want an http(s):// or file:// URL or an absolute path"));
  }
  return ReadWholeFile(std::string(path), options_.max_binary_bytes);
}

absl::StatusOr<std::string> BinaryInstaller::Install(const OracleVersion& version) {
  const std::string target = PathFor(version);
  const std::string dir = target.substr(0, target.rfind('/'));
  const std::string marker = dir + "/install.json";
  std::error_code ec;
  if (std::filesystem::exists(marker, ec) && std::filesystem::exists(target, ec)) {
    absl::StatusOr<std::string> bytes = ReadWholeFile(target, options_.max_binary_bytes);
    if (bytes.ok() && HashHex(*bytes) == version.sha256) return target;
    // A damaged install: remove and fetch again.
    std::filesystem::remove(marker, ec);
    std::filesystem::remove(target, ec);
  }
  absl::StatusOr<std::string> bytes = Fetch(version.binary);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("version ", version.name, ": ", bytes.status().message()));
  }
  const std::string actual = HashHex(*bytes);
  if (actual != version.sha256) {
    return absl::FailedPreconditionError(
        absl::StrCat("version ", version.name, ": sha256 mismatch: oracle says ", version.sha256,
                     ", ", RedactUrl(version.binary), " has ", actual, " (refused, not installed)"));
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("version ", version.name, ": mkdir ", dir, ": ",
                                            ec.message()));
  }
  const std::string tmp = target + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return absl::InternalError(absl::StrCat("version ", version.name, ": write ", tmp));
    }
  }
  bytes->clear();
  bytes->shrink_to_fit();
  if (chmod(tmp.c_str(), 0755) != 0 || std::rename(tmp.c_str(), target.c_str()) != 0) {
    std::filesystem::remove(tmp, ec);
    return absl::InternalError(absl::StrCat("version ", version.name, ": install ", target));
  }
  JsonWriter w;
  w.BeginObject()
      .Key("name")
      .String(version.name)
      .Key("sha256")
      .String(version.sha256)
      .Key("source")
      .String(RedactUrl(version.binary))
      .EndObject();
  std::ofstream m(marker, std::ios::trunc);
  m << w.str() << "\n";
  if (!m) return absl::InternalError(absl::StrCat("version ", version.name, ": write ", marker));
  return target;
}

}  // namespace supervisor
}  // namespace gonka

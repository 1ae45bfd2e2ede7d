#include "gonka/supervisor/oracle.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
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

}  // namespace

absl::StatusOr<std::string> HashFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  crypto::Sha256Hasher hasher;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    hasher.Update(absl::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  return crypto::HexEncode(hasher.Finish());
}

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
    const std::string sha =
        entry["sha256"].get(raw_sha) == simdjson::SUCCESS ? std::string(raw_sha) : std::string();
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
      http_(std::make_unique<net::HttpClient>(
          net::HttpClientOptions{.name = "versiond_install", .user_agent = "versiond"})) {}

BinaryInstaller::~BinaryInstaller() = default;

std::string BinaryInstaller::PathFor(const OracleVersion& version) const {
  return absl::StrCat(options_.bin_dir, "/", version.name, "/", version.sha256, "/",
                      options_.binary_name);
}

absl::StatusOr<std::string> BinaryInstaller::FetchTo(const std::string& source,
                                                     const std::string& out_path) {
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", out_path));
  crypto::Sha256Hasher hasher;
  size_t total = 0;
  bool too_large = false;
  // Each piece goes to the file and the hash as it arrives: memory stays flat whatever the
  // binary's size.
  auto take = [&](absl::string_view bytes) {
    total += bytes.size();
    if (total > options_.max_binary_bytes) {
      too_large = true;
      return false;
    }
    hasher.Update(bytes);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return static_cast<bool>(out);
  };
  if (absl::StartsWith(source, "http://") || absl::StartsWith(source, "https://")) {
    net::HttpCallOptions call = net::HttpCallOptions::Timeout(options_.download_timeout);
    absl::StatusOr<net::HttpResponse> res = http_->Stream(source, take, call);
    if (!res.ok()) {
      return absl::UnavailableError(
          absl::StrCat("download ", RedactUrl(source), ": ", res.status().message()));
    }
    if (res->status != 200) {
      return absl::UnavailableError(
          absl::StrCat("download ", RedactUrl(source), ": HTTP ", res->status));
    }
  } else {
    absl::string_view path = source;
    absl::ConsumePrefix(&path, "file://");
    if (!absl::StartsWith(path, "/")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "binary ", RedactUrl(source), ": want an http(s):// or file:// URL or an absolute path"));
    }
    std::ifstream in(std::string(path), std::ios::binary);
    if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
    std::string buf(1 << 20, '\0');
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (!take(absl::string_view(buf.data(), static_cast<size_t>(in.gcount())))) break;
    }
    if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  }
  if (too_large) {
    return absl::UnavailableError(
        absl::StrCat(RedactUrl(source), ": larger than ", options_.max_binary_bytes, " bytes"));
  }
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", out_path));
  return crypto::HexEncode(hasher.Finish());
}

absl::StatusOr<std::string> BinaryInstaller::Install(const OracleVersion& version) {
  const std::string target = PathFor(version);
  const std::string dir = target.substr(0, target.rfind('/'));
  const std::string marker = dir + "/install.json";
  std::error_code ec;
  if (std::filesystem::exists(marker, ec) && std::filesystem::exists(target, ec)) {
    absl::StatusOr<std::string> hash = HashFile(target);
    if (hash.ok() && *hash == version.sha256) return target;
    // A damaged install: remove and fetch again.
    std::filesystem::remove(marker, ec);
    std::filesystem::remove(target, ec);
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("version ", version.name, ": mkdir ", dir, ": ", ec.message()));
  }
  const std::string tmp = target + ".partial";
  absl::StatusOr<std::string> actual = FetchTo(version.binary, tmp);
  if (!actual.ok()) {
    std::filesystem::remove(tmp, ec);
    return absl::Status(actual.status().code(),
                        absl::StrCat("version ", version.name, ": ", actual.status().message()));
  }
  if (*actual != version.sha256) {
    std::filesystem::remove(tmp, ec);
    // The directory was made for this sha256; leave nothing that looks installed.
    std::filesystem::remove(dir, ec);
    return absl::FailedPreconditionError(absl::StrCat(
        "version ", version.name, ": sha256 mismatch: oracle says ", version.sha256, ", ",
        RedactUrl(version.binary), " has ", *actual, " (refused, not installed)"));
  }
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

absl::StatusOr<VersionPins> ParseVersionPins(const std::vector<std::string>& environment) {
  static constexpr absl::string_view kOverride = "VERSIOND_OVERRIDE_";
  VersionPins pins;
  std::string force_list;
  for (const std::string& entry : environment) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const absl::string_view var = absl::string_view(entry).substr(0, eq);
    const std::string value = entry.substr(eq + 1);
    if (var == "VERSIOND_FORCE") {
      force_list = value;
      continue;
    }
    if (var == "GONKA_HA") {
      const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
      if (v == "1" || v == "t" || v == "true" || v == "yes" || v == "on") {
        pins.ha = true;
      } else if (!(v.empty() || v == "0" || v == "f" || v == "false" || v == "no" || v == "off")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "GONKA_HA=\"", value, "\": not a boolean (1/t/true/yes/on or empty/0/f/false/no/off)"));
      }
      continue;
    }
    if (var == "VERSIOND_NON_HA_VERSIONS") {
      for (absl::string_view item : absl::StrSplit(value, absl::ByAnyChar(",; \t\n\r"))) {
        if (item.empty()) continue;
        if (!SafeName(std::string(item))) {
          return absl::InvalidArgumentError(
              absl::StrCat("VERSIOND_NON_HA_VERSIONS: \"", item,
                           "\" is not a version name (letters, digits, '.', '-')"));
        }
        pins.non_ha_versions.emplace_back(item);
      }
      continue;
    }
    if (!absl::StartsWith(var, kOverride) || value.empty()) continue;
    std::string name(var.substr(kOverride.size()));
    std::replace(name.begin(), name.end(), '_', '.');
    if (!SafeName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(var, ": \"", name,
                       "\" is not a version name (letters, digits, '.', '-'; '_' reads as '.')"));
    }
    struct stat st {};
    if (value[0] != '/' || stat(value.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        access(value.c_str(), X_OK) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(var, "=", value, ": want the absolute path of an executable file"));
    }
    if (!pins.overrides.emplace(name, value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(var, ": version ", name, " is overridden twice"));
    }
  }
  for (absl::string_view item : absl::StrSplit(force_list, ',')) {
    std::string name(absl::StripAsciiWhitespace(item));
    if (name.empty()) continue;
    if (pins.overrides.count(name) == 0) {
      std::string suffix = name;
      std::replace(suffix.begin(), suffix.end(), '.', '_');
      return absl::InvalidArgumentError(absl::StrCat(
          "VERSIOND_FORCE: version ", name, " has no override (set VERSIOND_OVERRIDE_", suffix,
          "=/path/to/binary): a forced version the oracle does not list has nothing to run"));
    }
    if (std::find(pins.force.begin(), pins.force.end(), name) == pins.force.end()) {
      pins.force.push_back(name);
    }
  }
  return pins;
}

}  // namespace supervisor
}  // namespace gonka

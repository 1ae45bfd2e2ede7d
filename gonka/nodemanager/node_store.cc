#include "gonka/nodemanager/node_store.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"
#include "simdjson.h"

namespace gonka {
namespace nodemanager {
namespace {

const std::vector<pg::Migration>& Migrations() {
  // `models` and `hardware` are JSON text, not jsonb: jsonb reorders object keys, and the first
  // model key is the node's model.
  static const auto* m = new std::vector<pg::Migration>{
      {1, "create nodemanager_ml_nodes", R"sql(
CREATE TABLE nodemanager_ml_nodes (
  id                text PRIMARY KEY,
  node_num          bigserial NOT NULL,
  host              text NOT NULL,
  inference_segment text NOT NULL DEFAULT '',
  inference_port    integer NOT NULL CHECK (inference_port BETWEEN 1 AND 65535),
  poc_segment       text NOT NULL DEFAULT '',
  poc_port          integer NOT NULL CHECK (poc_port BETWEEN 1 AND 65535),
  models            text NOT NULL,
  max_concurrent    integer NOT NULL DEFAULT 0,
  hardware          text NOT NULL DEFAULT '[]',
  version           text NOT NULL DEFAULT '',
  seq_len           bigint NOT NULL DEFAULT 256 CHECK (seq_len > 0),
  auth_token_file   text NOT NULL DEFAULT '',
  enabled           boolean NOT NULL DEFAULT true,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE nodemanager_ml_nodes_version (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version   bigint NOT NULL
);
INSERT INTO nodemanager_ml_nodes_version (singleton, version) VALUES (true, 0);
)sql"},
  };
  return *m;
}

constexpr char kColumns[] =
    "id, node_num, host, inference_segment, inference_port, poc_segment, poc_port, models, "
    "max_concurrent, hardware, version, seq_len, auth_token_file, enabled";

absl::Status Bad(absl::string_view where, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, field, ": ", what));
}

bool ValidId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

bool HasUrlBreakingChar(absl::string_view text, absl::string_view extra) {
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || extra.find(c) != absl::string_view::npos) return true;
  }
  return false;
}

absl::Status ValidSegment(absl::string_view where, absl::string_view field,
                          absl::string_view segment) {
  if (segment.empty()) return absl::OkStatus();
  if (segment[0] != '/') return Bad(where, field, "must be empty or start with '/'");
  if (HasUrlBreakingChar(segment, "?#")) {
    return Bad(where, field, "must be a URL path (no spaces, '?' or '#')");
  }
  return absl::OkStatus();
}

// --- JSON reading (simdjson DOM) ---

using simdjson::dom::element;
using simdjson::dom::object;

// Looks `key` up; false when absent or null (the field keeps its default).
bool Lookup(const object& obj, absl::string_view key, element* out) {
  if (obj.at_key(std::string_view(key.data(), key.size())).get(*out) != simdjson::SUCCESS) {
    return false;
  }
  return !out->is_null();
}

absl::Status ReadString(const object& obj, absl::string_view where, absl::string_view key,
                        std::string* out) {
  element e;
  if (!Lookup(obj, key, &e)) return absl::OkStatus();
  std::string_view v;
  if (e.get_string().get(v) != simdjson::SUCCESS) return Bad(where, key, "must be a string");
  *out = std::string(v);
  return absl::OkStatus();
}

template <typename Int>
absl::Status ReadInt(const object& obj, absl::string_view where, absl::string_view key, int64_t min,
                     int64_t max, Int* out) {
  element e;
  if (!Lookup(obj, key, &e)) return absl::OkStatus();
  int64_t v = 0;
  if (e.get_int64().get(v) != simdjson::SUCCESS || v < min || v > max) {
    return Bad(where, key, absl::StrCat("must be an integer in ", min, "..", max));
  }
  *out = static_cast<Int>(v);
  return absl::OkStatus();
}

// `models`: {"<model>": {"args": ["--x", ...]}, ...}, in document order.
absl::Status ReadModels(const element& e, absl::string_view where,
                        std::vector<AdminModel>* models) {
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) {
    return Bad(where, "models", "must be an object {\"<model>\": {\"args\": [...]}}");
  }
  models->clear();
  for (auto field : obj) {
    AdminModel model;
    model.name = std::string(field.key);
    const std::string name = absl::StrCat("models.", model.name);
    if (!field.value.is_null()) {
      object config;
      if (field.value.get_object().get(config) != simdjson::SUCCESS) {
        return Bad(where, name, "must be an object {\"args\": [...]}");
      }
      element args;
      if (Lookup(config, "args", &args)) {
        simdjson::dom::array array;
        if (args.get_array().get(array) != simdjson::SUCCESS) {
          return Bad(where, absl::StrCat(name, ".args"), "must be an array of strings");
        }
        size_t i = 0;
        for (element arg : array) {
          std::string_view v;
          if (arg.get_string().get(v) != simdjson::SUCCESS) {
            return Bad(where, absl::StrCat(name, ".args[", i, "]"), "must be a string");
          }
          model.args.emplace_back(v);
          ++i;
        }
      }
    }
    models->push_back(std::move(model));
  }
  return absl::OkStatus();
}

absl::Status ReadHardware(const element& e, absl::string_view where,
                          std::vector<AdminHardware>* hardware) {
  simdjson::dom::array array;
  if (e.get_array().get(array) != simdjson::SUCCESS) {
    return Bad(where, "hardware", "must be an array of {\"type\", \"count\"}");
  }
  hardware->clear();
  size_t i = 0;
  for (element item : array) {
    object obj;
    const std::string prefix = absl::StrCat(where, "hardware[", i, "].");
    if (item.get_object().get(obj) != simdjson::SUCCESS) {
      return Bad(where, absl::StrCat("hardware[", i, "]"), "must be an object {type, count}");
    }
    AdminHardware h;
    RETURN_IF_ERROR(ReadString(obj, prefix, "type", &h.type));
    RETURN_IF_ERROR(ReadInt(obj, prefix, "count", 0, UINT32_MAX, &h.count));
    hardware->push_back(std::move(h));
    ++i;
  }
  return absl::OkStatus();
}

absl::StatusOr<AdminNode> ReadNode(const element& e, absl::string_view where,
                                   absl::string_view path_id = "") {
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(
        where.empty() ? "body" : where.substr(0, where.size() - 1), ": must be a JSON object"));
  }
  AdminNode node;
  RETURN_IF_ERROR(ReadString(obj, where, "id", &node.id));
  if (!path_id.empty()) {
    if (node.id.empty()) node.id = std::string(path_id);
    if (node.id != path_id) {
      return Bad(where, "id",
                 absl::StrCat("\"", node.id, "\" differs from the path's \"", path_id,
                              "\" (a node's id cannot change)"));
    }
  }
  RETURN_IF_ERROR(ReadString(obj, where, "host", &node.host));
  RETURN_IF_ERROR(ReadString(obj, where, "inference_segment", &node.inference_segment));
  RETURN_IF_ERROR(ReadInt(obj, where, "inference_port", 1, 65535, &node.inference_port));
  RETURN_IF_ERROR(ReadString(obj, where, "poc_segment", &node.poc_segment));
  RETURN_IF_ERROR(ReadInt(obj, where, "poc_port", 1, 65535, &node.poc_port));
  element value;
  if (Lookup(obj, "models", &value)) RETURN_IF_ERROR(ReadModels(value, where, &node.models));
  RETURN_IF_ERROR(ReadInt(obj, where, "max_concurrent", 0, INT32_MAX, &node.max_concurrent));
  if (Lookup(obj, "hardware", &value)) RETURN_IF_ERROR(ReadHardware(value, where, &node.hardware));
  RETURN_IF_ERROR(ReadString(obj, where, "version", &node.version));
  RETURN_IF_ERROR(ReadInt(obj, where, "seq_len", 1, INT64_MAX, &node.seq_len));
  RETURN_IF_ERROR(ReadString(obj, where, "auth_token_file", &node.auth_token_file));
  RETURN_IF_ERROR(ValidateAdminNode(node, where));
  return node;
}

// --- JSON writing ---

void WriteModels(JsonWriter& w, const std::vector<AdminModel>& models) {
  w.BeginObject();
  for (const AdminModel& model : models) {
    w.Key(model.name).BeginObject().Key("args").BeginArray();
    for (const std::string& arg : model.args) w.String(arg);
    w.EndArray().EndObject();
  }
  w.EndObject();
}

void WriteHardware(JsonWriter& w, const std::vector<AdminHardware>& hardware) {
  w.BeginArray();
  for (const AdminHardware& h : hardware) {
    w.BeginObject().Key("type").String(h.type).Key("count").Uint(h.count).EndObject();
  }
  w.EndArray();
}

// --- rows ---

std::vector<pg::Param> Params(const AdminNode& node) {
  JsonWriter models;
  WriteModels(models, node.models);
  JsonWriter hardware;
  WriteHardware(hardware, node.hardware);
  return {node.id,
          node.host,
          node.inference_segment,
          absl::StrCat(node.inference_port),
          node.poc_segment,
          absl::StrCat(node.poc_port),
          models.Take(),
          absl::StrCat(node.max_concurrent),
          hardware.Take(),
          node.version,
          absl::StrCat(node.seq_len),
          node.auth_token_file};
}

absl::StatusOr<AdminNode> RowToNode(const pg::Result& r, int row) {
  AdminNode node;
  auto text = [&](int column) { return r.Get(row, column).value_or(""); };
  node.id = text(0);
  auto bad = [&](absl::string_view column) {
    return absl::InternalError(
        absl::StrCat("ml node store: node ", node.id, ": bad column ", column));
  };
  if (!absl::SimpleAtoi(text(1), &node.node_num)) return bad("node_num");
  node.host = text(2);
  node.inference_segment = text(3);
  if (!absl::SimpleAtoi(text(4), &node.inference_port)) return bad("inference_port");
  node.poc_segment = text(5);
  if (!absl::SimpleAtoi(text(6), &node.poc_port)) return bad("poc_port");
  simdjson::dom::parser parser;
  element e;
  const std::string models = text(7);
  if (parser.parse(models).get(e) != simdjson::SUCCESS || !ReadModels(e, "", &node.models).ok()) {
    return bad("models");
  }
  if (!absl::SimpleAtoi(text(8), &node.max_concurrent)) return bad("max_concurrent");
  const std::string hardware = text(9);
  if (parser.parse(hardware).get(e) != simdjson::SUCCESS ||
      !ReadHardware(e, "", &node.hardware).ok()) {
    return bad("hardware");
  }
  node.version = text(10);
  if (!absl::SimpleAtoi(text(11), &node.seq_len)) return bad("seq_len");
  node.auth_token_file = text(12);
  node.enabled = text(13) == "t";
  return node;
}

absl::Status BumpVersion(pg::Connection& tx) {
  ASSIGN_OR_RETURN(pg::Result r,
                   tx.Exec("UPDATE nodemanager_ml_nodes_version SET version = version + 1"));
  if (r.affected() != 1) {
    return absl::InternalError("ml node store: nodemanager_ml_nodes_version has no row");
  }
  return absl::OkStatus();
}

absl::Status NotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("node not found: ", id));
}

bool SameConfig(const MlNodeConfig& a, const MlNodeConfig& b) {
  return a.id == b.id && a.api_url == b.api_url && a.inference_url == b.inference_url &&
         a.model == b.model && a.seq_len == b.seq_len && a.auth_token_file == b.auth_token_file;
}

bool SameConfigs(const std::vector<MlNodeConfig>& a, const std::vector<MlNodeConfig>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameConfig(a[i], b[i])) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateAdminNode(const AdminNode& node, absl::string_view where) {
  if (node.id.empty()) return Bad(where, "id", "required");
  if (!ValidId(node.id)) return Bad(where, "id", "must be 1-128 characters of [A-Za-z0-9_.-]");
  if (node.host.empty()) return Bad(where, "host", "required");
  if (HasUrlBreakingChar(node.host, "/?#@")) {
    return Bad(where, "host", "must be a host name or address (no spaces, '/', '?', '#', '@')");
  }
  if (node.inference_port < 1 || node.inference_port > 65535) {
    return Bad(where, "inference_port", "required, an integer in 1..65535");
  }
  RETURN_IF_ERROR(ValidSegment(where, "inference_segment", node.inference_segment));
  if (node.poc_port < 1 || node.poc_port > 65535) {
    return Bad(where, "poc_port", "required, an integer in 1..65535");
  }
  RETURN_IF_ERROR(ValidSegment(where, "poc_segment", node.poc_segment));
  if (node.models.empty()) {
    return Bad(where, "models", "required: at least one model {\"<model>\": {\"args\": []}}");
  }
  std::set<std::string> names;
  for (const AdminModel& model : node.models) {
    if (model.name.empty()) return Bad(where, "models", "a model name is empty");
    if (!names.insert(model.name).second) {
      return Bad(where, absl::StrCat("models.", model.name), "given twice");
    }
  }
  if (node.max_concurrent < 0) return Bad(where, "max_concurrent", "must be >= 0");
  for (size_t i = 0; i < node.hardware.size(); ++i) {
    if (node.hardware[i].type.empty()) {
      return Bad(where, absl::StrCat("hardware[", i, "].type"), "required");
    }
  }
  if (node.seq_len <= 0) return Bad(where, "seq_len", "must be > 0");
  return absl::OkStatus();
}

absl::StatusOr<AdminNode> ParseAdminNode(absl::string_view json, absl::string_view path_id) {
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("body: not JSON");
  }
  return ReadNode(root, "", path_id);
}

absl::StatusOr<std::vector<AdminNode>> ParseAdminNodes(absl::string_view json) {
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("body: not JSON");
  }
  simdjson::dom::array array;
  if (root.get_array().get(array) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("body: must be a JSON array of nodes");
  }
  std::vector<AdminNode> nodes;
  for (element e : array) {
    ASSIGN_OR_RETURN(AdminNode node, ReadNode(e, absl::StrCat("[", nodes.size(), "].")));
    nodes.push_back(std::move(node));
  }
  return nodes;
}

std::string AdminNodeJson(const AdminNode& node) {
  JsonWriter w;
  w.BeginObject()
      .Key("id")
      .String(node.id)
      .Key("host")
      .String(node.host)
      .Key("inference_segment")
      .String(node.inference_segment)
      .Key("inference_port")
      .Int(node.inference_port)
      .Key("poc_segment")
      .String(node.poc_segment)
      .Key("poc_port")
      .Int(node.poc_port)
      .Key("models");
  WriteModels(w, node.models);
  w.Key("max_concurrent").Int(node.max_concurrent).Key("hardware");
  WriteHardware(w, node.hardware);
  w.Key("version")
      .String(node.version)
      .Key("node_num")
      .Int(node.node_num)
      .Key("seq_len")
      .Int(node.seq_len)
      .Key("auth_token_file")
      .String(node.auth_token_file)
      .EndObject();
  return w.Take();
}

MlNodeConfig ToMlNodeConfig(const AdminNode& node) {
  MlNodeConfig config;
  config.id = node.id;
  config.api_url = absl::StrCat("http://", node.host, ":", node.poc_port, node.poc_segment);
  config.inference_url =
      absl::StrCat("http://", node.host, ":", node.inference_port, node.inference_segment);
  if (!node.models.empty()) config.model = node.models.front().name;
  config.seq_len = node.seq_len;
  config.auth_token_file = node.auth_token_file;
  return config;
}

std::vector<MlNodeConfig> EnabledMlNodes(const NodeSnapshot& snapshot) {
  std::vector<MlNodeConfig> out;
  for (const AdminNode& node : snapshot.nodes) {
    if (node.enabled) out.push_back(ToMlNodeConfig(node));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<NodeStore>> NodeStore::Open(pg::Pool* pool) {
  RETURN_IF_ERROR(pg::Migrate(*pool, "nodemanager_ml_nodes", Migrations()));
  return std::unique_ptr<NodeStore>(new NodeStore(pool));
}

absl::StatusOr<std::vector<AdminNode>> NodeStore::List() {
  ASSIGN_OR_RETURN(NodeSnapshot snapshot, Snapshot());
  return std::move(snapshot.nodes);
}

absl::StatusOr<AdminNode> NodeStore::Get(absl::string_view id) {
  ASSIGN_OR_RETURN(
      pg::Result r,
      pool_->Exec(absl::StrCat("SELECT ", kColumns, " FROM nodemanager_ml_nodes WHERE id = $1"),
                  {std::string(id)}));
  if (r.rows() == 0) return NotFound(id);
  return RowToNode(r, 0);
}

absl::StatusOr<AdminNode> NodeStore::Create(const AdminNode& node) {
  RETURN_IF_ERROR(ValidateAdminNode(node));
  AdminNode out;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(
        pg::Result r,
        tx.Exec(absl::StrCat("INSERT INTO nodemanager_ml_nodes (id, host, inference_segment, "
                             "inference_port, poc_segment, poc_port, models, max_concurrent, "
                             "hardware, version, seq_len, auth_token_file) VALUES ($1, $2, $3, "
                             "$4::integer, $5, $6::integer, $7, $8::integer, $9, $10, "
                             "$11::bigint, $12) ON CONFLICT (id) DO NOTHING RETURNING ",
                             kColumns),
                Params(node)));
    if (r.rows() == 0) {
      return absl::AlreadyExistsError(absl::StrCat("node already exists: ", node.id));
    }
    ASSIGN_OR_RETURN(out, RowToNode(r, 0));
    return BumpVersion(tx);
  }));
  return out;
}

absl::StatusOr<AdminNode> NodeStore::Update(const AdminNode& node) {
  RETURN_IF_ERROR(ValidateAdminNode(node));
  AdminNode out;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(
        pg::Result r,
        tx.Exec(absl::StrCat("UPDATE nodemanager_ml_nodes SET host = $2, inference_segment = $3, "
                             "inference_port = $4::integer, poc_segment = $5, poc_port = "
                             "$6::integer, models = $7, max_concurrent = $8::integer, hardware = "
                             "$9, version = $10, seq_len = $11::bigint, auth_token_file = $12, "
                             "updated_at = now() WHERE id = $1 RETURNING ",
                             kColumns),
                Params(node)));
    if (r.rows() == 0) return NotFound(node.id);
    ASSIGN_OR_RETURN(out, RowToNode(r, 0));
    return BumpVersion(tx);
  }));
  return out;
}

absl::Status NodeStore::Delete(absl::string_view id) {
  return pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(pg::Result r,
                     tx.Exec("DELETE FROM nodemanager_ml_nodes WHERE id = $1", {std::string(id)}));
    if (r.affected() == 0) return NotFound(id);
    return BumpVersion(tx);
  });
}

absl::StatusOr<AdminNode> NodeStore::SetEnabled(absl::string_view id, bool enabled) {
  AdminNode out;
  RETURN_IF_ERROR(pool_->Transaction([&](pg::Connection& tx) -> absl::Status {
    ASSIGN_OR_RETURN(pg::Result r,
                     tx.Exec(absl::StrCat("UPDATE nodemanager_ml_nodes SET enabled = $2::boolean, "
                                          "updated_at = now() WHERE id = $1 RETURNING ",
                                          kColumns),
                             {std::string(id), enabled ? "true" : "false"}));
    if (r.rows() == 0) return NotFound(id);
    ASSIGN_OR_RETURN(out, RowToNode(r, 0));
    return BumpVersion(tx);
  }));
  return out;
}

absl::StatusOr<int64_t> NodeStore::Version() {
  ASSIGN_OR_RETURN(pg::Result r,
                   pool_->ExecPrepared("ml_nodes_version",
                                       "SELECT version FROM nodemanager_ml_nodes_version", {}));
  int64_t version = 0;
  if (r.rows() != 1 || !absl::SimpleAtoi(r.Get(0, 0).value_or(""), &version)) {
    return absl::InternalError("ml node store: nodemanager_ml_nodes_version has no valid row");
  }
  return version;
}

absl::StatusOr<NodeSnapshot> NodeStore::Snapshot() {
  NodeSnapshot out;
  RETURN_IF_ERROR(pool_->Transaction(
      [&](pg::Connection& tx) -> absl::Status {
        out = NodeSnapshot();
        ASSIGN_OR_RETURN(pg::Result v, tx.Exec("SELECT version FROM nodemanager_ml_nodes_version"));
        if (v.rows() != 1 || !absl::SimpleAtoi(v.Get(0, 0).value_or(""), &out.version)) {
          return absl::InternalError(
              "ml node store: nodemanager_ml_nodes_version has no valid row");
        }
        ASSIGN_OR_RETURN(pg::Result r, tx.Exec(absl::StrCat("SELECT ", kColumns,
                                                            " FROM nodemanager_ml_nodes ORDER "
                                                            "BY node_num")));
        for (int i = 0; i < r.rows(); ++i) {
          ASSIGN_OR_RETURN(AdminNode node, RowToNode(r, i));
          out.nodes.push_back(std::move(node));
        }
        return absl::OkStatus();
      },
      "REPEATABLE READ"));
  return out;
}

NodeStoreWatcher::NodeStoreWatcher(NodeStore* store, Callback callback,
                                   NodeStoreWatcherOptions options)
    : store_(store), callback_(std::move(callback)), options_(options) {}

NodeStoreWatcher::~NodeStoreWatcher() { Stop(); }

absl::Status NodeStoreWatcher::PollOnce() {
  ASSIGN_OR_RETURN(int64_t version, store_->Version());
  if (version == seen_version_) return absl::OkStatus();
  ASSIGN_OR_RETURN(NodeSnapshot snapshot, store_->Snapshot());
  seen_version_ = snapshot.version;
  std::vector<MlNodeConfig> enabled = EnabledMlNodes(snapshot);
  if (delivered_ && SameConfigs(enabled, last_delivered_)) return absl::OkStatus();
  absl::Status s = callback_(enabled);
  if (!s.ok() && !absl::IsInvalidArgument(s)) {
    // Transient (e.g. SetNodes' "a reconciliation is in flight; retry"): poll this set again.
    seen_version_ = -1;
    return absl::Status(s.code(), absl::StrCat("ml nodes of store version ", snapshot.version,
                                               " (retried): ", s.message()));
  }
  delivered_ = true;
  last_delivered_ = std::move(enabled);
  GONKA_LOG_INFO("ml nodes from the store", {"version", snapshot.version},
                 {"enabled", static_cast<int64_t>(last_delivered_.size())},
                 {"total", static_cast<int64_t>(snapshot.nodes.size())},
                 {"result", s.ok() ? std::string("applied") : std::string(s.message())});
  if (!s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("ml nodes of store version ", snapshot.version, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status NodeStoreWatcher::Start() {
  if (thread_.joinable() || stop_.HasBeenNotified()) {
    return absl::FailedPreconditionError("NodeStoreWatcher: started twice");
  }
  absl::Status first = PollOnce();
  thread_ = std::thread([this, last_error = first] {
    std::string logged = last_error.ok() ? "" : std::string(last_error.message());
    while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) {
      absl::Status s = PollOnce();
      // A store that stays unreachable is logged once per distinct error, not every second.
      std::string message = s.ok() ? "" : std::string(s.message());
      if (message != logged && !s.ok()) {
        GONKA_LOG_WARN("ml node store poll failed", {"error", message});
      }
      logged = message;
    }
  });
  return first;
}

void NodeStoreWatcher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace nodemanager
}  // namespace gonka

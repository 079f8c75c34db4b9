#include <podlens/kube/policy_status.hpp>

#include <ctime>

namespace podlens::kube {
namespace {

using nlohmann::json;

const json& field(const json& object, const char* name) {
  static const json kNull;
  return object.is_object() && object.contains(name) ? object[name] : kNull;
}

const json* findByKey(const json& list, const char* key, const std::string& value) {
  if (!list.is_array()) {
    return nullptr;
  }
  for (const json& item : list) {
    if (field(item, key).is_string() && field(item, key).get<std::string>() == value) {
      return &item;
    }
  }
  return nullptr;
}

int64_t integer(const json& value) {
  return value.is_number_integer() ? value.get<int64_t>() : 0;
}

json entryJson(const std::string& node, const NodeStatus& entry) {
  json out = {{"node", node},
              {"observedGeneration", entry.observedGeneration},
              {"matchedPods", entry.matchedPods},
              {"observedPorts", entry.observedPorts}};
  if (!entry.pods.empty()) {
    out["pods"] = entry.pods;
  }
  if (!entry.conflicts.empty()) {
    out["conflicts"] = entry.conflicts;
  }
  return out;
}

// The observed entry says the same as the desired one (fields the API may omit count as empty).
bool sameEntry(const json* observed, const std::optional<NodeStatus>& desired,
               const std::string& node) {
  if (!observed || !desired) {
    return !observed && !desired;
  }
  json want = entryJson(node, *desired);
  for (const char* name : {"observedGeneration", "matchedPods", "observedPorts"}) {
    if (integer(field(*observed, name)) != want[name].get<int64_t>()) {
      return false;
    }
  }
  for (const char* name : {"pods", "conflicts"}) {
    json have = field(*observed, name).is_array() ? field(*observed, name) : json::array();
    json expect = want.contains(name) ? want[name] : json::array();
    if (have != expect) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string portsSummary(const json& policy) {
  std::string out;
  const json& ports = field(field(policy, "spec"), "ports");
  if (!ports.is_array()) {
    return out;
  }
  for (const json& port : ports) {
    std::string item = std::to_string(integer(field(port, "port")));
    const json& direction = field(port, "direction");
    if (direction.is_string() && direction.get<std::string>() == "Outbound") {
      item += "/Outbound";
    }
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

std::optional<json> statusApplyBody(const json& observed, const DesiredStatus& desired,
                                    const std::string& now) {
  const json& status = field(observed, "status");
  const json& meta = field(observed, "metadata");
  // Total over nodes: the others as observed, this node as desired.
  int64_t total = desired.entry ? desired.entry->matchedPods : 0;
  if (field(status, "nodes").is_array()) {
    for (const json& entry : field(status, "nodes")) {
      if (field(entry, "node") != desired.node) {
        total += integer(field(entry, "matchedPods"));
      }
    }
  }
  bool accepted = desired.rejection.empty();
  json condition = {{"type", "Accepted"},
                    {"status", accepted ? "True" : "False"},
                    {"reason", accepted ? "Valid" : "InvalidSpec"},
                    {"message", accepted ? "the spec is valid" : desired.rejection},
                    {"observedGeneration", desired.generation},
                    {"lastTransitionTime", now}};
  const json* seen = findByKey(field(status, "conditions"), "type", "Accepted");
  bool sameCondition = false;
  if (seen) {
    if (field(*seen, "status") == condition["status"] &&
        field(*seen, "lastTransitionTime").is_string()) {
      condition["lastTransitionTime"] = field(*seen, "lastTransitionTime");
    }
    sameCondition = field(*seen, "status") == condition["status"] &&
                    field(*seen, "reason") == condition["reason"] &&
                    field(*seen, "message") == condition["message"] &&
                    integer(field(*seen, "observedGeneration")) == desired.generation;
  }
  std::string ports = portsSummary(observed);
  const json* mine = findByKey(field(status, "nodes"), "node", desired.node);
  if (sameCondition && field(status, "ports") == ports &&
      integer(field(status, "matchedPods")) == total && field(status, "matchedPods").is_number() &&
      sameEntry(mine, desired.entry, desired.node)) {
    return std::nullopt;
  }
  json body = {{"apiVersion", field(observed, "apiVersion")},
               {"kind", field(observed, "kind")},
               {"metadata", {{"name", field(meta, "name")}, {"namespace", field(meta, "namespace")}}},
               {"status",
                {{"ports", ports}, {"matchedPods", total}, {"conditions", json::array({condition})}}}};
  if (desired.entry) {
    body["status"]["nodes"] = json::array({entryJson(desired.node, *desired.entry)});
  }
  return body;
}

std::string rfc3339Now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace podlens::kube

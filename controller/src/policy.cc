// TelemetryPolicy parsing: strict, CRD-exact, every error names file, document and field.
#include <podlens/controller/policy.hpp>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <optional>

namespace podlens::controller {
namespace {

enum class ScalarKind { String, Int, Float, Bool, Null };

bool allDigits(std::string_view s, size_t from = 0) {
  return s.size() > from && std::all_of(s.begin() + from, s.end(), [](char c) {
           return c >= '0' && c <= '9';
         });
}

bool looksInt(std::string_view s) {
  size_t sign = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (s.substr(sign).starts_with("0x") || s.substr(sign).starts_with("0o")) {
    return s.size() > sign + 2;
  }
  return allDigits(s, sign);
}

bool looksFloat(std::string_view s) {
  static constexpr std::string_view kSpecial[] = {".inf", ".Inf", ".INF", "+.inf", "-.inf",
                                                  ".nan", ".NaN", ".NAN"};
  if (std::find(std::begin(kSpecial), std::end(kSpecial), s) != std::end(kSpecial)) {
    return true;
  }
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    ++i, ++digits;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ++i, ++digits;
    }
  }
  if (digits == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
      ++i;
    }
    return allDigits(s, i);
  }
  return i == s.size();
}

// How Kubernetes (sigs.k8s.io/yaml, YAML 1.1 resolution) reads a scalar: `on` is a boolean.
ScalarKind classify(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string& s = node.Scalar();
  if (tag == "!") {
    return ScalarKind::String;  // quoted
  }
  if (tag.starts_with("tag:yaml.org,2002:")) {
    std::string_view t = std::string_view(tag).substr(18);
    return t == "int"     ? ScalarKind::Int
           : t == "float" ? ScalarKind::Float
           : t == "bool"  ? ScalarKind::Bool
           : t == "null"  ? ScalarKind::Null
                          : ScalarKind::String;
  }
  static constexpr std::string_view kNull[] = {"", "~", "null", "Null", "NULL"};
  static constexpr std::string_view kBool[] = {
      "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No",
      "NO",   "on",   "On",   "ON",    "off",   "Off",   "OFF", "y",   "Y",   "n",  "N"};
  if (std::find(std::begin(kNull), std::end(kNull), s) != std::end(kNull)) {
    return ScalarKind::Null;
  }
  if (std::find(std::begin(kBool), std::end(kBool), s) != std::end(kBool)) {
    return ScalarKind::Bool;
  }
  if (looksInt(s)) {
    return ScalarKind::Int;
  }
  return looksFloat(s) ? ScalarKind::Float : ScalarKind::String;
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) {
    return "null";
  }
  if (node.IsMap()) {
    return "a map";
  }
  if (node.IsSequence()) {
    return "a list";
  }
  switch (classify(node)) {
    case ScalarKind::String:
      return "string \"" + node.Scalar() + "\"";
    case ScalarKind::Int:
    case ScalarKind::Float:
      return "number " + node.Scalar();
    case ScalarKind::Bool:
      return "boolean " + node.Scalar();
    case ScalarKind::Null:
      return "null";
  }
  return "?";
}

std::string join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    out += (out.empty() ? "" : ", ") + std::string(n);
  }
  return out;
}

std::string field(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}

std::string item(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

struct Metadata {
  std::string namespace_ = "default";
  std::string name;
  Labels labels;
};

// Parses one document (or one item of a List), appending errors with its context.
class DocumentParser {
 public:
  DocumentParser(std::string_view file, size_t index, std::string base, ParsedFile& out)
      : file_(file), index_(index), base_(std::move(base)), out_(out) {}

  void parse(const YAML::Node& doc);

 private:
  void fail(const std::string& path, const std::string& message) {
    std::string line = std::string(file_) + ": document " + std::to_string(index_);
    line += object_.empty() ? "" : " (" + object_ + ")";
    std::string full = field(base_, path);
    line += ": " + (full.empty() ? "" : full + ": ") + message;
    out_.errors.push_back(std::move(line));
    ++errors_;
  }

  bool isMap(const YAML::Node& node, const std::string& path) {
    if (!node.IsMap()) {
      fail(path, "expected a map, got " + describe(node));
      return false;
    }
    return true;
  }

  // Unknown keys are errors (the CRD schema is structural, kubectl --validate=strict).
  void knownFields(const YAML::Node& map, const std::string& path,
                   std::initializer_list<std::string_view> known) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string& key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        fail(field(path, key), "unknown field \"" + key + "\" (known: " + join(known) + ")");
      }
    }
  }

  std::optional<std::string> string(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar() || classify(node) != ScalarKind::String) {
      fail(path, "expected a string, got " + describe(node) +
                     (node.IsScalar() ? " (quote it to make it a string)" : ""));
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<int64_t> integer(const YAML::Node& node, const std::string& path) {
    int64_t value = 0;
    const std::string& s = node.IsScalar() ? node.Scalar() : "";
    if (!node.IsScalar() || classify(node) != ScalarKind::Int || s.empty() ||
        !allDigits(s, s[0] == '-')) {
      fail(path, "expected an integer, got " + describe(node));
      return std::nullopt;
    }
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) {
      value = s[0] == '-' ? INT64_MIN : INT64_MAX;
    }
    return value;
  }

  std::optional<bool> boolean(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar() || classify(node) != ScalarKind::Bool) {
      fail(path, "expected a boolean (true or false), got " + describe(node));
      return std::nullopt;
    }
    std::string_view s = node.Scalar();
    return s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "Yes" ||
           s == "YES" || s == "on" || s == "On" || s == "ON" || s == "y" || s == "Y";
  }

  template <typename F>
  void list(const YAML::Node& node, const std::string& path, F&& each) {
    if (!node.IsSequence()) {
      fail(path, "expected a list, got " + describe(node));
      return;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      each(node[i], item(path, i), i);
    }
  }

  Labels labels(const YAML::Node& node, const std::string& path);
  std::optional<Metadata> metadata(const YAML::Node& doc, bool pod);
  void policy(const YAML::Node& doc);
  void pod(const YAML::Node& doc);
  void spec(const YAML::Node& node, TelemetryPolicy& policy);
  void selector(const YAML::Node& node, const std::string& path, LabelSelector& out);
  void ports(const YAML::Node& node, const std::string& path, std::vector<PortRule>& out);
  void routes(const YAML::Node& node, const std::string& path, std::vector<std::string>& out);

  std::string_view file_;
  size_t index_;
  std::string base_;  // "items[3]" inside a List, else ""
  ParsedFile& out_;
  std::string object_;  // "TelemetryPolicy default/web" once known
  size_t errors_ = 0;
};

void DocumentParser::parse(const YAML::Node& doc) {
  if (!doc.IsMap()) {
    fail("", "expected a map (an object with apiVersion and kind), got " + describe(doc));
    return;
  }
  std::optional<std::string> kind, apiVersion;
  if (!doc["kind"] || doc["kind"].IsNull()) {
    fail("kind", "required");
  } else {
    kind = string(doc["kind"], "kind");
  }
  if (!doc["apiVersion"] || doc["apiVersion"].IsNull()) {
    fail("apiVersion", "required");
  } else {
    apiVersion = string(doc["apiVersion"], "apiVersion");
  }
  if (!kind || !apiVersion) {
    return;
  }
  auto wantVersion = [&](std::string_view want) {
    if (*apiVersion != want) {
      object_ = *kind;
      fail("apiVersion", "\"" + *apiVersion + "\" is not supported for kind " + *kind +
                             " (expected " + std::string(want) + ")");
      return false;
    }
    return true;
  };
  if (*kind == kPolicyKind) {
    if (wantVersion(kPolicyApiVersion)) {
      policy(doc);
    }
  } else if (*kind == "Pod") {
    if (wantVersion("v1")) {
      pod(doc);
    }
  } else if (*kind == "List") {
    if (wantVersion("v1")) {
      knownFields(doc, "", {"apiVersion", "kind", "metadata", "items"});
      list(doc["items"] ? doc["items"] : YAML::Node(YAML::NodeType::Sequence), "items",
           [&](const YAML::Node& node, const std::string& path, size_t) {
             DocumentParser(file_, index_, field(base_, path), out_).parse(node);
           });
    }
  } else {
    fail("kind", "unknown kind \"" + *kind +
                     "\" (expected TelemetryPolicy, or Pod for standalone pod labels)");
  }
}

Labels DocumentParser::labels(const YAML::Node& node, const std::string& path) {
  Labels out;
  if (!node || node.IsNull() || !isMap(node, path)) {
    return out;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    std::string keyPath = field(path, key);
    if (std::string why = checkLabelKey(key); !why.empty()) {
      fail(keyPath, "invalid label key \"" + key + "\": " + why);
      continue;
    }
    std::optional<std::string> value = string(it->second, keyPath);
    if (!value) {
      continue;
    }
    if (std::string why = checkLabelValue(*value); !why.empty()) {
      fail(keyPath, "invalid label value \"" + *value + "\": " + why);
      continue;
    }
    out.emplace(key, *value);
  }
  return out;
}

std::optional<Metadata> DocumentParser::metadata(const YAML::Node& doc, bool pod) {
  const YAML::Node node = doc["metadata"];
  if (!node || node.IsNull()) {
    fail("metadata.name", "required");
    return std::nullopt;
  }
  if (!isMap(node, "metadata")) {
    return std::nullopt;
  }
  if (!pod) {
    // ObjectMeta as `kubectl get -o yaml` prints it; server-owned fields are ignored.
    knownFields(node, "metadata",
                {"name", "namespace", "labels", "annotations", "uid", "resourceVersion",
                 "generation", "creationTimestamp", "managedFields", "finalizers",
                 "ownerReferences", "generateName", "deletionTimestamp",
                 "deletionGracePeriodSeconds", "selfLink"});
  }
  size_t before = errors_;
  Metadata meta;
  if (!node["name"] || node["name"].IsNull()) {
    fail("metadata.name", "required");
  } else if (auto name = string(node["name"], "metadata.name")) {
    meta.name = *name;
    if (std::string why = checkDnsSubdomain(meta.name); !why.empty()) {
      fail("metadata.name", "\"" + meta.name + "\" " + why);
    }
  }
  if (node["namespace"] && !node["namespace"].IsNull()) {
    if (auto ns = string(node["namespace"], "metadata.namespace")) {
      meta.namespace_ = *ns;
      if (std::string why = checkDnsLabel(meta.namespace_); !why.empty()) {
        fail("metadata.namespace", "\"" + meta.namespace_ + "\" " + why);
      }
    }
  }
  if (errors_ == before) {
    object_ = (pod ? "Pod " : "TelemetryPolicy ") + meta.namespace_ + "/" + meta.name;
  }
  meta.labels = labels(node["labels"], "metadata.labels");
  if (node["annotations"] && !node["annotations"].IsNull() &&
      isMap(node["annotations"], "metadata.annotations")) {
    for (auto it = node["annotations"].begin(); it != node["annotations"].end(); ++it) {
      string(it->second, field("metadata.annotations", it->first.Scalar()));
    }
  }
  return errors_ == before ? std::optional<Metadata>(std::move(meta)) : std::nullopt;
}

void DocumentParser::policy(const YAML::Node& doc) {
  object_ = "TelemetryPolicy";
  knownFields(doc, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  size_t before = errors_;
  std::optional<Metadata> meta = metadata(doc, false);
  TelemetryPolicy policy;
  if (meta) {
    policy.namespace_ = meta->namespace_;
    policy.name = meta->name;
  }
  const YAML::Node specNode = doc["spec"];
  if (!specNode || specNode.IsNull()) {
    fail("spec", "required (spec.ports lists the ports to observe)");
  } else if (isMap(specNode, "spec")) {
    spec(specNode, policy);
  }
  if (errors_ == before) {
    policy.source = std::string(file_) + " document " + std::to_string(index_);
    out_.policies.push_back(std::move(policy));
  }
}

void DocumentParser::pod(const YAML::Node& doc) {
  object_ = "Pod";
  size_t before = errors_;
  std::optional<Metadata> meta = metadata(doc, true);
  if (meta && errors_ == before) {
    PodLabels pod;
    pod.namespace_ = meta->namespace_;
    pod.name = meta->name;
    pod.labels = std::move(meta->labels);
    pod.source = std::string(file_) + " document " + std::to_string(index_);
    out_.pods.push_back(std::move(pod));
  }
}

void DocumentParser::spec(const YAML::Node& node, TelemetryPolicy& policy) {
  knownFields(node, "spec", {"podSelector", "ports", "routes", "capture"});
  if (node["podSelector"] && !node["podSelector"].IsNull()) {
    selector(node["podSelector"], "spec.podSelector", policy.podSelector);
  }
  if (!node["ports"] || node["ports"].IsNull()) {
    fail("spec.ports", "required: at least one port");
  } else {
    ports(node["ports"], "spec.ports", policy.ports);
  }
  if (node["routes"] && !node["routes"].IsNull()) {
    routes(node["routes"], "spec.routes", policy.routes);
  }
  const YAML::Node capture = node["capture"];
  if (capture && !capture.IsNull() && isMap(capture, "spec.capture")) {
    knownFields(capture, "spec.capture", {"keepQuery"});
    if (capture["keepQuery"] && !capture["keepQuery"].IsNull()) {
      policy.capture.keepQuery = boolean(capture["keepQuery"], "spec.capture.keepQuery")
                                     .value_or(false);
    }
  }
}

void DocumentParser::selector(const YAML::Node& node, const std::string& path,
                              LabelSelector& out) {
  if (!isMap(node, path)) {
    return;
  }
  knownFields(node, path, {"matchLabels", "matchExpressions"});
  out.matchLabels = labels(node["matchLabels"], field(path, "matchLabels"));
  const YAML::Node exprs = node["matchExpressions"];
  if (!exprs || exprs.IsNull()) {
    return;
  }
  list(exprs, field(path, "matchExpressions"),
       [&](const YAML::Node& e, const std::string& at, size_t) {
         if (!isMap(e, at)) {
           return;
         }
         knownFields(e, at, {"key", "operator", "values"});
         LabelRequirement req;
         size_t before = errors_;
         if (!e["key"] || e["key"].IsNull()) {
           fail(field(at, "key"), "required");
         } else if (auto key = string(e["key"], field(at, "key"))) {
           req.key = *key;
           if (std::string why = checkLabelKey(req.key); !why.empty()) {
             fail(field(at, "key"), "invalid label key \"" + req.key + "\": " + why);
           }
         }
         std::optional<std::string> op;
         if (!e["operator"] || e["operator"].IsNull()) {
           fail(field(at, "operator"), "required (In, NotIn, Exists or DoesNotExist)");
         } else if ((op = string(e["operator"], field(at, "operator")))) {
           if (*op == "In") {
             req.op = SelectorOperator::In;
           } else if (*op == "NotIn") {
             req.op = SelectorOperator::NotIn;
           } else if (*op == "Exists") {
             req.op = SelectorOperator::Exists;
           } else if (*op == "DoesNotExist") {
             req.op = SelectorOperator::DoesNotExist;
           } else {
             fail(field(at, "operator"),
                  "unknown operator \"" + *op + "\" (expected In, NotIn, Exists or DoesNotExist)");
             op.reset();
           }
         }
         if (e["values"] && !e["values"].IsNull()) {
           list(e["values"], field(at, "values"),
                [&](const YAML::Node& v, const std::string& vat, size_t) {
                  if (auto value = string(v, vat)) {
                    if (std::string why = checkLabelValue(*value); !why.empty()) {
                      fail(vat, "invalid label value \"" + *value + "\": " + why);
                    }
                    req.values.push_back(*value);
                  }
                });
         }
         if (op) {
           bool wantsValues = req.op == SelectorOperator::In || req.op == SelectorOperator::NotIn;
           if (wantsValues && req.values.empty()) {
             fail(field(at, "values"), "must be non-empty when operator is " + *op);
           } else if (!wantsValues && !req.values.empty()) {
             fail(field(at, "values"), "must be empty when operator is " + *op);
           }
         }
         if (errors_ == before) {
           out.matchExpressions.push_back(std::move(req));
         }
       });
}

void DocumentParser::ports(const YAML::Node& node, const std::string& path,
                           std::vector<PortRule>& out) {
  if (node.IsSequence() && node.size() == 0) {
    fail(path, "must list at least one port");
  } else if (node.IsSequence() && node.size() > kMaxPortsPerPolicy) {
    fail(path, "at most " + std::to_string(kMaxPortsPerPolicy) + " ports, got " +
                   std::to_string(node.size()));
    return;
  }
  list(node, path, [&](const YAML::Node& p, const std::string& at, size_t) {
    if (!isMap(p, at)) {
      return;
    }
    knownFields(p, at, {"port", "protocol", "direction"});
    size_t before = errors_;
    PortRule rule;
    if (!p["port"] || p["port"].IsNull()) {
      fail(field(at, "port"), "required");
    } else if (auto port = integer(p["port"], field(at, "port"))) {
      if (*port < 1 || *port > 65535) {
        fail(field(at, "port"), p["port"].Scalar() + " is out of range 1-65535");
      }
      rule.port = static_cast<uint16_t>(*port);
    }
    if (p["protocol"] && !p["protocol"].IsNull()) {
      if (auto proto = string(p["protocol"], field(at, "protocol")); proto && *proto != "HTTP") {
        fail(field(at, "protocol"), "unknown protocol \"" + *proto + "\" (supported: HTTP)");
      }
    }
    if (p["direction"] && !p["direction"].IsNull()) {
      if (auto dir = string(p["direction"], field(at, "direction"))) {
        if (*dir == "Inbound" || *dir == "Outbound") {
          rule.direction = *dir == "Inbound" ? Direction::Inbound : Direction::Outbound;
        } else {
          fail(field(at, "direction"),
               "unknown direction \"" + *dir + "\" (expected Inbound or Outbound)");
        }
      }
    }
    if (errors_ != before) {
      return;
    }
    auto same = std::find_if(out.begin(), out.end(), [&](const PortRule& r) {
      return r.port == rule.port && r.direction == rule.direction;
    });
    if (same != out.end()) {
      fail(at, "duplicate of " + item(path, same - out.begin()) + " (port " +
                   std::to_string(rule.port) + " " + std::string(directionName(rule.direction)) +
                   ")");
      return;
    }
    out.push_back(rule);
  });
}

void DocumentParser::routes(const YAML::Node& node, const std::string& path,
                            std::vector<std::string>& out) {
  if (node.IsSequence() && node.size() > kMaxRoutesPerPolicy) {
    fail(path, "at most " + std::to_string(kMaxRoutesPerPolicy) + " routes, got " +
                   std::to_string(node.size()));
    return;
  }
  list(node, path, [&](const YAML::Node& r, const std::string& at, size_t) {
    std::optional<std::string> route = string(r, at);
    if (!route) {
      return;
    }
    if (std::string why = checkRouteTemplate(*route); !why.empty()) {
      fail(at, "\"" + *route + "\" " + why);
      return;
    }
    auto same = std::find(out.begin(), out.end(), *route);
    if (same != out.end()) {
      fail(at, "duplicate of " + item(path, same - out.begin()) + " (\"" + *route + "\")");
      return;
    }
    out.push_back(*route);
  });
}

bool isParamName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
  });
}

}  // namespace

std::string_view protocolName(Protocol) { return "HTTP"; }

std::string_view directionName(Direction direction) {
  return direction == Direction::Outbound ? "Outbound" : "Inbound";
}

uint8_t TelemetryPolicy::captureFlags() const {
  return capture.keepQuery ? PODLENS_CAPTURE_KEEP_QUERY : 0;
}

bool TelemetryPolicy::selects(std::string_view podNamespace, const Labels& podLabels) const {
  return podNamespace == namespace_ && podSelector.matches(podLabels);
}

std::string checkRouteTemplate(std::string_view route) {
  if (route.empty() || route[0] != '/') {
    return "must start with '/'";
  }
  if (route.size() > kMaxRouteLength) {
    return "must be no more than " + std::to_string(kMaxRouteLength) + " characters";
  }
  for (char c : route) {
    if (c == '?' || c == '#' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return "must not contain '?', '#', spaces or control characters";
    }
  }
  size_t start = 1;
  while (start <= route.size()) {
    size_t slash = route.find('/', start);
    size_t end = slash == std::string_view::npos ? route.size() : slash;
    std::string_view segment = route.substr(start, end - start);
    bool last = slash == std::string_view::npos;
    if (segment == "*") {
      if (!last) {
        return "'*' may only be the last segment";
      }
    } else if (segment.find('*') != std::string_view::npos) {
      return "'*' must be a whole segment (\"/static/*\")";
    } else if (!segment.empty() && segment.front() == '{') {
      if (segment.back() != '}' || !isParamName(segment.substr(1, segment.size() - 2))) {
        return "has a bad parameter segment \"" + std::string(segment) +
               "\": use {name}, name = letters, digits, '_'";
      }
    } else if (segment.find_first_of("{}") != std::string_view::npos) {
      return "has '{' or '}' inside segment \"" + std::string(segment) +
             "\": a parameter is a whole segment";
    }
    if (last) {
      break;
    }
    start = slash + 1;
  }
  return "";
}

ParsedFile parsePolicyText(std::string_view text, std::string_view fileName) {
  ParsedFile out;
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    out.errors.push_back(std::string(fileName) + ": line " + std::to_string(e.mark.line + 1) +
                         ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
    return out;
  }
  for (size_t i = 0; i < docs.size(); ++i) {
    if (docs[i].IsNull()) {
      continue;  // an empty document ("---" at the end, comments only)
    }
    try {
      DocumentParser(fileName, i + 1, "", out).parse(docs[i]);
    } catch (const YAML::Exception& e) {  // cannot happen on checked nodes; never crash
      out.errors.push_back(std::string(fileName) + ": document " + std::to_string(i + 1) +
                           ": " + e.what());
    }
  }
  return out;
}

}  // namespace podlens::controller

// The TelemetryPolicy model and its parser (YAML or JSON, one or many documents a file).
//
// The schema is exactly the CRD's (podlens.io/v1alpha1, docs/policies.md):
//   apiVersion: podlens.io/v1alpha1
//   kind: TelemetryPolicy
//   metadata: {name: web, namespace: shop}        # name required; namespace "default"
//   spec:
//     podSelector: {matchLabels: {...}, matchExpressions: [...]}   # absent/null/{} = all
//     ports: [{port: 8080, protocol: HTTP, direction: Inbound}]    # 1..64 entries
//     routes: ["/users/{id}", "/static/*"]                         # 0..64 templates
//     capture: {keepQuery: false}
// Standalone pod labels: documents `apiVersion: v1, kind: Pod` whose metadata.{namespace,
// name, labels} label the pods podlens-cni recorded; every other Pod field is ignored.
// `apiVersion: v1, kind: List` documents are unwrapped (what `kubectl get -o yaml` prints).
#pragma once

#include <podlens/abi.h>
#include <podlens/controller/labels.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace podlens::controller {

inline constexpr std::string_view kPolicyApiVersion = "podlens.io/v1alpha1";
inline constexpr std::string_view kPolicyKind = "TelemetryPolicy";
inline constexpr size_t kMaxPortsPerPolicy = 64;
inline constexpr size_t kMaxRoutesPerPolicy = 64;
inline constexpr size_t kMaxRouteLength = 256;

enum class Protocol : uint8_t { HTTP = PODLENS_PROTO_HTTP1 };
enum class Direction : uint8_t { Inbound = PODLENS_DIR_INBOUND, Outbound = PODLENS_DIR_OUTBOUND };

std::string_view protocolName(Protocol protocol);     // "HTTP"
std::string_view directionName(Direction direction);  // "Inbound" | "Outbound" (CRD spelling)

struct PortRule {
  uint16_t port = 0;  // the flow's server port: the pod's own port when Inbound, the
                      // peer's port when Outbound
  Protocol protocol = Protocol::HTTP;
  Direction direction = Direction::Inbound;

  bool operator==(const PortRule&) const = default;
};

struct CaptureOptions {
  // The kernel keeps "?query" in the captured path (PODLENS_CAPTURE_KEEP_QUERY). Metrics
  // strip it regardless: the query never becomes a label.
  bool keepQuery = false;

  bool operator==(const CaptureOptions&) const = default;
};

struct TelemetryPolicy {
  std::string namespace_ = "default";
  std::string name;
  LabelSelector podSelector;
  std::vector<PortRule> ports;
  std::vector<std::string> routes;  // templates, validated (see route.hpp); first match wins
  CaptureOptions capture;
  // Where it came from, for messages: "web.yaml document 2".
  std::string source;

  std::string key() const { return namespace_ + "/" + name; }  // "shop/web"
  uint8_t captureFlags() const;  // podlens_capture_flags bits
  // Same namespace and the selector matches (a policy never selects across namespaces).
  bool selects(std::string_view podNamespace, const Labels& podLabels) const;
};

// A standalone `kind: Pod` document: labels for a pod that podlens-cni recorded.
struct PodLabels {
  std::string namespace_ = "default";
  std::string name;
  Labels labels;
  std::string source;
  std::string uid;  // Kubernetes mode: metadata.uid, joined with podlens-cni's K8S_POD_UID

  std::string key() const { return namespace_ + "/" + name; }
};

// What one file holds. When errors is non-empty the file is rejected as a whole (like a
// failed kubectl apply): policies and pods then hold only the documents that were valid, for
// diagnostics; PolicyDirectory keeps the file's last good content in effect instead.
struct ParsedFile {
  std::vector<TelemetryPolicy> policies;
  std::vector<PodLabels> pods;
  // One line each: "web.yaml: document 2 (TelemetryPolicy default/web): spec.ports[1].port:
  // 70000 is out of range 1-65535". Syntax errors: "web.yaml: line 3, column 7: ...".
  std::vector<std::string> errors;

  bool ok() const { return errors.empty(); }
};

// Parses every document of `text`; `fileName` only labels messages. Never throws.
ParsedFile parsePolicyText(std::string_view text, std::string_view fileName);

// Checks one route template; "" when valid, else the reason. Rules: starts with '/', at most
// kMaxRouteLength bytes, no '?', '#', whitespace or control bytes; a segment is literal text,
// exactly "{name}" (name = [A-Za-z_][A-Za-z0-9_]*), or "*" as the last segment only.
std::string checkRouteTemplate(std::string_view route);

}  // namespace podlens::controller

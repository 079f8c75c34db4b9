#include <gtest/gtest.h>

#include <podlens/controller/policy.hpp>

namespace podlens::controller {
namespace {

constexpr const char* kFull = R"(# a complete policy
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata:
  name: web
  namespace: shop
  labels: {team: checkout}
spec:
  podSelector:
    matchLabels: {app: web}
    matchExpressions:
      - {key: tier, operator: In, values: [front, edge]}
      - {key: canary, operator: DoesNotExist}
  ports:
    - port: 8080
    - {port: 443, protocol: HTTP, direction: Outbound}
  routes: ["/users/{id}", "/api/v1/orders/{orderId}/items", "/static/*"]
  capture: {keepQuery: true}
)";

TEST(PolicyParse, FullDocument) {
  ParsedFile f = parsePolicyText(kFull, "web.yaml");
  ASSERT_TRUE(f.ok()) << f.errors[0];
  ASSERT_EQ(f.policies.size(), 1u);
  const TelemetryPolicy& p = f.policies[0];
  EXPECT_EQ(p.key(), "shop/web");
  EXPECT_EQ(p.source, "web.yaml document 1");
  EXPECT_EQ(p.podSelector.toString(), "app=web,tier in (front,edge),!canary");
  ASSERT_EQ(p.ports.size(), 2u);
  EXPECT_EQ(p.ports[0], (PortRule{8080, Protocol::HTTP, Direction::Inbound}));
  EXPECT_EQ(p.ports[1], (PortRule{443, Protocol::HTTP, Direction::Outbound}));
  EXPECT_EQ(p.routes.size(), 3u);
  EXPECT_TRUE(p.capture.keepQuery);
  EXPECT_EQ(p.captureFlags(), PODLENS_CAPTURE_KEEP_QUERY);
}

TEST(PolicyParse, DefaultsAndNullSelector) {
  ParsedFile f = parsePolicyText(R"(
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {name: all}
spec:
  podSelector:
  ports: [{port: 80}]
)",
                                 "a.yaml");
  ASSERT_TRUE(f.ok()) << f.errors[0];
  const TelemetryPolicy& p = f.policies[0];
  EXPECT_EQ(p.namespace_, "default");
  EXPECT_TRUE(p.podSelector.empty());
  EXPECT_EQ(p.ports[0], (PortRule{80, Protocol::HTTP, Direction::Inbound}));
  EXPECT_TRUE(p.routes.empty());
  EXPECT_FALSE(p.capture.keepQuery);
  EXPECT_EQ(p.captureFlags(), 0);
}

TEST(PolicyParse, MultiDocumentWithPodsEmptyDocsAndList) {
  ParsedFile f = parsePolicyText(R"(---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  labels: {app: web}
spec: {containers: [{name: x, image: nginx}]}
---
# nothing here
---
apiVersion: v1
kind: List
items:
- apiVersion: podlens.io/v1alpha1
  kind: TelemetryPolicy
  metadata: {name: a, namespace: shop, uid: 123-abc, resourceVersion: "7"}
  spec: {ports: [{port: 80}]}
  status: {whatever: 1}
---
)",
                                 "multi.yaml");
  ASSERT_TRUE(f.ok()) << f.errors[0];
  ASSERT_EQ(f.pods.size(), 1u);
  EXPECT_EQ(f.pods[0].key(), "shop/web-1");
  EXPECT_EQ(f.pods[0].labels.at("app"), "web");
  ASSERT_EQ(f.policies.size(), 1u);
  EXPECT_EQ(f.policies[0].key(), "shop/a");
  EXPECT_EQ(f.policies[0].source, "multi.yaml document 3");
}

TEST(PolicyParse, JsonIsYaml) {
  ParsedFile f = parsePolicyText(
      R"({"apiVersion": "podlens.io/v1alpha1", "kind": "TelemetryPolicy",
          "metadata": {"name": "j"}, "spec": {"ports": [{"port": 9090, "direction": "Outbound"}],
          "capture": {"keepQuery": false}}})",
      "j.json");
  ASSERT_TRUE(f.ok()) << f.errors[0];
  EXPECT_EQ(f.policies[0].ports[0].direction, Direction::Outbound);
}

std::string policyWith(const std::string& specBody) {
  return "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {name: web}\n"
         "spec:\n" +
         specBody;
}

struct ErrorRow {
  const char* name;
  std::string text;
  std::string error;  // the whole first error line
};

TEST(PolicyParse, EveryErrorClassNamesFileDocumentAndField) {
  const std::string ctx = "web.yaml: document 1 (TelemetryPolicy default/web): ";
  const ErrorRow rows[] = {
      {"PortOutOfRange", policyWith("  ports: [{port: 80}, {port: 70000}]"),
       ctx + "spec.ports[1].port: 70000 is out of range 1-65535"},
      {"PortZero", policyWith("  ports: [{port: 0}]"),
       ctx + "spec.ports[0].port: 0 is out of range 1-65535"},
      {"PortHuge", policyWith("  ports: [{port: 99999999999999999999999}]"),
       ctx + "spec.ports[0].port: 99999999999999999999999 is out of range 1-65535"},
      {"PortQuoted", policyWith("  ports: [{port: \"80\"}]"),
       ctx + "spec.ports[0].port: expected an integer, got string \"80\""},
      {"PortFloat", policyWith("  ports: [{port: 80.5}]"),
       ctx + "spec.ports[0].port: expected an integer, got number 80.5"},
      {"PortMissing", policyWith("  ports: [{protocol: HTTP}]"),
       ctx + "spec.ports[0].port: required"},
      {"PortsMissing", policyWith("  routes: []"), ctx + "spec.ports: required: at least one port"},
      {"PortsEmpty", policyWith("  ports: []"), ctx + "spec.ports: must list at least one port"},
      {"PortsNotList", policyWith("  ports: {port: 80}"),
       ctx + "spec.ports: expected a list, got a map"},
      {"PortDuplicate", policyWith("  ports: [{port: 80}, {port: 80, direction: Inbound}]"),
       ctx + "spec.ports[1]: duplicate of spec.ports[0] (port 80 Inbound)"},
      {"UnknownProtocol", policyWith("  ports: [{port: 80, protocol: GRPC}]"),
       ctx + "spec.ports[0].protocol: unknown protocol \"GRPC\" (supported: HTTP)"},
      {"UnknownDirection", policyWith("  ports: [{port: 80, direction: inbound}]"),
       ctx + "spec.ports[0].direction: unknown direction \"inbound\" (expected Inbound or "
             "Outbound)"},
      {"UnknownSpecField", policyWith("  ports: [{port: 80}]\n  prots: []"),
       ctx + "spec.prots: unknown field \"prots\" (known: podSelector, ports, routes, capture)"},
      {"UnknownPortField", policyWith("  ports: [{port: 80, tls: true}]"),
       ctx + "spec.ports[0].tls: unknown field \"tls\" (known: port, protocol, direction)"},
      {"UnknownOperator",
       policyWith("  ports: [{port: 80}]\n  podSelector:\n    matchExpressions: [{key: a, "
                  "operator: Equals, values: [x]}]"),
       ctx + "spec.podSelector.matchExpressions[0].operator: unknown operator \"Equals\" "
             "(expected In, NotIn, Exists or DoesNotExist)"},
      {"InWithoutValues",
       policyWith("  ports: [{port: 80}]\n  podSelector:\n    matchExpressions: [{key: a, "
                  "operator: In}]"),
       ctx + "spec.podSelector.matchExpressions[0].values: must be non-empty when operator is In"},
      {"NotInEmptyValues",
       policyWith("  ports: [{port: 80}]\n  podSelector:\n    matchExpressions: [{key: a, "
                  "operator: NotIn, values: []}]"),
       ctx + "spec.podSelector.matchExpressions[0].values: must be non-empty when operator is "
             "NotIn"},
      {"ExistsWithValues",
       policyWith("  ports: [{port: 80}]\n  podSelector:\n    matchExpressions: [{key: a, "
                  "operator: Exists, values: [x]}]"),
       ctx + "spec.podSelector.matchExpressions[0].values: must be empty when operator is Exists"},
      {"BoolLabelValue",
       policyWith("  ports: [{port: 80}]\n  podSelector:\n    matchLabels: {canary: on}"),
       ctx + "spec.podSelector.matchLabels.canary: expected a string, got boolean on (quote it "
             "to make it a string)"},
      {"BadLabelKey",
       policyWith("  ports: [{port: 80}]\n  podSelector:\n    matchLabels: {\"a b\": x}"),
       ctx + "spec.podSelector.matchLabels.a b: invalid label key \"a b\": name part must consist "
             "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character"},
      {"SelectorNotMap", policyWith("  ports: [{port: 80}]\n  podSelector: [a]"),
       ctx + "spec.podSelector: expected a map, got a list"},
      {"BadRoute", policyWith("  ports: [{port: 80}]\n  routes: [\"/users/{id\"]"),
       ctx + "spec.routes[0]: \"/users/{id\" has a bad parameter segment \"{id\": use {name}, "
             "name = letters, digits, '_'"},
      {"RouteNoSlash", policyWith("  ports: [{port: 80}]\n  routes: [users]"),
       ctx + "spec.routes[0]: \"users\" must start with '/'"},
      {"RouteWildcardMiddle", policyWith("  ports: [{port: 80}]\n  routes: [\"/a/*/b\"]"),
       ctx + "spec.routes[0]: \"/a/*/b\" '*' may only be the last segment"},
      {"RouteQuery", policyWith("  ports: [{port: 80}]\n  routes: [\"/a?b=1\"]"),
       ctx + "spec.routes[0]: \"/a?b=1\" must not contain '?', '#', spaces or control "
             "characters"},
      {"RouteDuplicate", policyWith("  ports: [{port: 80}]\n  routes: [/a, /a]"),
       ctx + "spec.routes[1]: duplicate of spec.routes[0] (\"/a\")"},
      {"KeepQueryNotBool", policyWith("  ports: [{port: 80}]\n  capture: {keepQuery: sometimes}"),
       ctx + "spec.capture.keepQuery: expected a boolean (true or false), got string "
             "\"sometimes\""},
      {"UnknownCaptureField", policyWith("  ports: [{port: 80}]\n  capture: {bodies: true}"),
       ctx + "spec.capture.bodies: unknown field \"bodies\" (known: keepQuery)"},
      {"SpecMissing",
       "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {name: web}\n",
       ctx + "spec: required (spec.ports lists the ports to observe)"},
      {"NameMissing", "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {}\n",
       "web.yaml: document 1 (TelemetryPolicy): metadata.name: required"},
      {"NameInvalid",
       "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {name: Web_1}\n",
       "web.yaml: document 1 (TelemetryPolicy): metadata.name: \"Web_1\" must be a lowercase RFC "
       "1123 subdomain: lowercase alphanumeric characters, '-' or '.', starting and ending with "
       "an alphanumeric character"},
      {"NamespaceInvalid",
       "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {name: w, namespace: "
       "a.b}\n",
       "web.yaml: document 1 (TelemetryPolicy): metadata.namespace: \"a.b\" must be a lowercase "
       "RFC 1123 label: lowercase alphanumeric characters or '-', starting and ending with an "
       "alphanumeric character"},
      {"UnknownMetadataField",
       "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {name: web, nmae: x}\n"
       "spec: {ports: [{port: 1}]}\n",
       "web.yaml: document 1 (TelemetryPolicy): metadata.nmae: unknown field \"nmae\" (known: "
       "name, namespace, labels, annotations, uid, resourceVersion, generation, "
       "creationTimestamp, managedFields, finalizers, ownerReferences, generateName, "
       "deletionTimestamp, deletionGracePeriodSeconds, selfLink)"},
      {"WrongApiVersion", "apiVersion: podlens.io/v1\nkind: TelemetryPolicy\n",
       "web.yaml: document 1 (TelemetryPolicy): apiVersion: \"podlens.io/v1\" is not supported "
       "for kind TelemetryPolicy (expected podlens.io/v1alpha1)"},
      {"UnknownKind", "apiVersion: v1\nkind: Service\n",
       "web.yaml: document 1: kind: unknown kind \"Service\" (expected TelemetryPolicy, or Pod "
       "for standalone pod labels)"},
      {"KindMissing", "apiVersion: v1\n", "web.yaml: document 1: kind: required"},
      {"NotAMap", "- a\n- b\n",
       "web.yaml: document 1: expected a map (an object with apiVersion and kind), got a list"},
      {"YamlSyntax", "apiVersion: [unclosed\n", "web.yaml: line 2, column 1: end of sequence "
                                                "flow not found"},
  };
  for (const ErrorRow& row : rows) {
    SCOPED_TRACE(row.name);
    ParsedFile f = parsePolicyText(row.text, "web.yaml");
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.errors[0], row.error);
    EXPECT_TRUE(f.policies.empty());
  }
}

TEST(PolicyParse, ErrorsInLaterDocumentsNameTheirIndexAndKeepGoodOnes) {
  ParsedFile f = parsePolicyText(policyWith("  ports: [{port: 80}]\n") + "---\n" +
                                     "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\n"
                                     "metadata: {name: api}\nspec:\n  ports: [{port: 1}, "
                                     "{port: 70000}, {port: abc}]\n",
                                 "web.yaml");
  ASSERT_EQ(f.errors.size(), 2u);
  EXPECT_EQ(f.errors[0],
            "web.yaml: document 2 (TelemetryPolicy default/api): spec.ports[1].port: 70000 is "
            "out of range 1-65535");
  EXPECT_EQ(f.errors[1],
            "web.yaml: document 2 (TelemetryPolicy default/api): spec.ports[2].port: expected an "
            "integer, got string \"abc\"");
  ASSERT_EQ(f.policies.size(), 1u);  // for diagnostics; the file as a whole is rejected
}

TEST(PolicyParse, PodDocumentErrors) {
  ParsedFile f = parsePolicyText(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: [x]}}\n", "pods.yaml");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0],
            "pods.yaml: document 1 (Pod default/p): metadata.labels.app: expected a string, got "
            "a list");
  f = parsePolicyText("apiVersion: apps/v1\nkind: Pod\nmetadata: {name: p}\n", "pods.yaml");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0],
            "pods.yaml: document 1 (Pod): apiVersion: \"apps/v1\" is not supported for kind Pod "
            "(expected v1)");
}

TEST(RouteTemplate, Syntax) {
  for (const char* good : {"/", "/users/{id}", "/static/*", "/*", "/a/{b_2}/c", "/v1//x"}) {
    EXPECT_EQ(checkRouteTemplate(good), "") << good;
  }
  for (const char* bad : {"", "x", "/a*", "/{1x}", "/{}", "/a/{id}x", "/a b", "/*/x", "/a#b"}) {
    EXPECT_NE(checkRouteTemplate(bad), "") << bad;
  }
  EXPECT_NE(checkRouteTemplate("/" + std::string(kMaxRouteLength, 'a')), "");
}

}  // namespace
}  // namespace podlens::controller

// Kubernetes labels and LabelSelectors (metav1.LabelSelector semantics), plus the name and
// label syntax checks the policy parser shares. Pure logic: no I/O, no allocation on match.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace podlens::controller {

using Labels = std::map<std::string, std::string, std::less<>>;

enum class SelectorOperator { In, NotIn, Exists, DoesNotExist };

std::string_view operatorName(SelectorOperator op);  // "In", "NotIn", ...

// One matchExpressions entry. In/NotIn carry a non-empty value list; Exists/DoesNotExist none
// (the parser enforces it).
struct LabelRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::Exists;
  std::vector<std::string> values;

  bool matches(const Labels& labels) const;
};

// matchLabels AND every matchExpressions entry. An empty selector matches every label set
// (a null or absent podSelector parses to the empty selector).
struct LabelSelector {
  Labels matchLabels;
  std::vector<LabelRequirement> matchExpressions;

  bool empty() const { return matchLabels.empty() && matchExpressions.empty(); }
  bool matches(const Labels& labels) const;
  // kubectl's text form: "app=web,tier in (a,b),!canary"; "" for the empty selector.
  std::string toString() const;
};

// ---- Syntax checks (Kubernetes apimachinery validation). Each returns "" when valid, else
// the reason ("must be no more than 63 characters", ...). ----

// DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 (namespaces).
std::string checkDnsLabel(std::string_view value);
// DNS-1123 subdomain: dot-separated labels, at most 253 (object names).
std::string checkDnsSubdomain(std::string_view value);
// Label key: [prefix/]name; prefix a DNS subdomain, name a qualified name (63 max,
// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?).
std::string checkLabelKey(std::string_view key);
// Label value: empty, or a qualified name of at most 63 characters.
std::string checkLabelValue(std::string_view value);

}  // namespace podlens::controller

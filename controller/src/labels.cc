#include <podlens/controller/labels.hpp>

#include <algorithm>

namespace podlens::controller {
namespace {

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAlnum(char c) { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// A token of at most `max` characters, each accepted by `inner`, first and last by `edge`;
// `shape` describes the rule in the message.
template <typename Inner, typename Edge>
std::string checkToken(std::string_view value, size_t max, Inner inner, Edge edge,
                       const char* shape) {
  if (value.empty()) {
    return "must not be empty";
  }
  if (value.size() > max) {
    return "must be no more than " + std::to_string(max) + " characters";
  }
  if (!std::all_of(value.begin(), value.end(), inner) || !edge(value.front()) ||
      !edge(value.back())) {
    return shape;
  }
  return "";
}

bool isDnsChar(char c) { return isLowerAlnum(c) || c == '-'; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, 1..63
std::string checkQualifiedName(std::string_view value) {
  return checkToken(
      value, 63, [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; }, isAlnum,
      "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character");
}

}  // namespace

std::string_view operatorName(SelectorOperator op) {
  switch (op) {
    case SelectorOperator::In:
      return "In";
    case SelectorOperator::NotIn:
      return "NotIn";
    case SelectorOperator::Exists:
      return "Exists";
    case SelectorOperator::DoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

bool LabelRequirement::matches(const Labels& labels) const {
  auto it = labels.find(key);
  bool has = it != labels.end();
  auto listed = [&] {
    return std::find(values.begin(), values.end(), it->second) != values.end();
  };
  switch (op) {
    case SelectorOperator::In:
      return has && listed();
    case SelectorOperator::NotIn:
      return !has || !listed();
    case SelectorOperator::Exists:
      return has;
    case SelectorOperator::DoesNotExist:
      return !has;
  }
  return false;
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& [key, value] : matchLabels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) {
      return false;
    }
  }
  return std::all_of(matchExpressions.begin(), matchExpressions.end(),
                     [&](const LabelRequirement& r) { return r.matches(labels); });
}

std::string LabelSelector::toString() const {
  std::string out;
  auto sep = [&] {
    if (!out.empty()) {
      out += ',';
    }
  };
  for (const auto& [key, value] : matchLabels) {
    sep();
    out += key + "=" + value;
  }
  for (const auto& r : matchExpressions) {
    sep();
    switch (r.op) {
      case SelectorOperator::Exists:
        out += r.key;
        break;
      case SelectorOperator::DoesNotExist:
        out += "!" + r.key;
        break;
      default: {
        out += r.key + (r.op == SelectorOperator::In ? " in (" : " notin (");
        for (size_t i = 0; i < r.values.size(); ++i) {
          out += (i ? "," : "") + r.values[i];
        }
        out += ')';
      }
    }
  }
  return out;
}

std::string checkDnsLabel(std::string_view value) {
  return checkToken(value, 63, isDnsChar, isLowerAlnum,
                    "must be a lowercase RFC 1123 label: lowercase alphanumeric characters or "
                    "'-', starting and ending with an alphanumeric character");
}

std::string checkDnsSubdomain(std::string_view value) {
  if (value.size() > 253) {
    return "must be no more than 253 characters";
  }
  size_t start = 0;
  while (true) {
    size_t dot = value.find('.', start);
    std::string_view part = value.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (std::string why = checkToken(part, 253, isDnsChar, isLowerAlnum, "bad"); !why.empty()) {
      return value.empty() ? why
                           : "must be a lowercase RFC 1123 subdomain: lowercase alphanumeric "
                             "characters, '-' or '.', starting and ending with an alphanumeric "
                             "character";
    }
    if (dot == std::string_view::npos) {
      return "";
    }
    start = dot + 1;
  }
}

std::string checkLabelKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    if (std::string why = checkDnsSubdomain(key.substr(0, slash)); !why.empty()) {
      return "prefix " + why;
    }
    key = key.substr(slash + 1);
  }
  if (std::string why = checkQualifiedName(key); !why.empty()) {
    return "name part " + why;
  }
  return "";
}

std::string checkLabelValue(std::string_view value) {
  return value.empty() ? "" : checkQualifiedName(value);
}

}  // namespace podlens::controller

#include "prometheus_text.hpp"

#include <cmath>
#include <cstdlib>
#include <set>

namespace podlens::testing {
namespace {

bool isNameStart(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool isNameChar(char c, bool colon) { return isNameStart(c, colon) || (c >= '0' && c <= '9'); }

class LineParser {
 public:
  explicit LineParser(std::string_view line) : s_(line) {}

  bool name(std::string& out, bool colon) {
    size_t start = i_;
    if (i_ >= s_.size() || !isNameStart(s_[i_], colon)) {
      return false;
    }
    while (i_ < s_.size() && isNameChar(s_[i_], colon)) {
      ++i_;
    }
    out.assign(s_.substr(start, i_ - start));
    return true;
  }

  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  // Quoted label value with \\ \" \n escapes. Empty string on success, else the problem.
  std::string quoted(std::string& out) {
    if (!eat('"')) {
      return "expected '\"'";
    }
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) {
          return "dangling backslash";
        }
        char e = s_[i_++];
        if (e == 'n') {
          out += '\n';
        } else if (e == '\\' || e == '"') {
          out += e;
        } else {
          return std::string("unknown escape \\") + e;
        }
      } else {
        out += c;
      }
    }
    return eat('"') ? "" : "unterminated label value";
  }

  std::string_view rest() const { return s_.substr(i_); }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

std::optional<double> parseValue(std::string_view text) {
  if (text == "+Inf" || text == "Inf") {
    return INFINITY;
  }
  if (text == "-Inf") {
    return -INFINITY;
  }
  if (text == "NaN") {
    return NAN;
  }
  std::string copy(text);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) {
    return std::nullopt;
  }
  return v;
}

std::string familyOf(const std::string& name, const std::map<std::string, PromFamily>& families) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      std::string base = name.substr(0, name.size() - suffix.size());
      auto it = families.find(base);
      if (it != families.end() && (it->second.type == "histogram" || it->second.type == "summary")) {
        return base;
      }
    }
  }
  return name;
}

Status checkHistograms(const Exposition& e) {
  for (const auto& [family, meta] : e.families) {
    if (meta.type != "histogram") {
      continue;
    }
    // Group buckets by their labels without le.
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;
    for (const PromSample& s : e.samples) {
      if (s.name != family + "_bucket") {
        continue;
      }
      auto le = s.labels.find("le");
      if (le == s.labels.end()) {
        return Error{family + "_bucket without le"};
      }
      std::optional<double> bound = parseValue(le->second);
      if (!bound) {
        return Error{family + "_bucket: le=\"" + le->second + "\" is not a number"};
      }
      LabelMap rest = s.labels;
      rest.erase("le");
      buckets[seriesKey(family, rest)].emplace_back(*bound, s.value);
    }
    for (const auto& [key, list] : buckets) {
      for (size_t i = 1; i < list.size(); ++i) {
        if (!(list[i].first > list[i - 1].first)) {
          return Error{key + ": le bounds not increasing"};
        }
        if (list[i].second < list[i - 1].second) {
          return Error{key + ": bucket counts not cumulative at le=" +
                       std::to_string(list[i].first)};
        }
      }
      if (list.empty() || !std::isinf(list.back().first)) {
        return Error{key + ": no le=\"+Inf\" bucket"};
      }
      std::string countKey = key;
      countKey.replace(0, family.size(), family + "_count");
      std::string sumKey = key;
      sumKey.replace(0, family.size(), family + "_sum");
      auto count = e.series.find(countKey);
      if (count == e.series.end() || count->second != list.back().second) {
        return Error{key + ": _count missing or not equal to the +Inf bucket"};
      }
      if (e.series.find(sumKey) == e.series.end()) {
        return Error{key + ": _sum missing"};
      }
    }
  }
  return ok();
}

}  // namespace

std::string seriesKey(std::string_view name, const LabelMap& labels) {
  std::string out(name);
  if (labels.empty()) {
    return out;
  }
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + v + "\"";
    first = false;
  }
  return out + "}";
}

std::optional<double> Exposition::value(std::string_view name, const LabelMap& labels) const {
  auto it = series.find(seriesKey(name, labels));
  return it == series.end() ? std::nullopt : std::optional<double>(it->second);
}

std::vector<const PromSample*> Exposition::select(std::string_view name,
                                                  const LabelMap& subset) const {
  std::vector<const PromSample*> out;
  for (const PromSample& s : samples) {
    if (s.name != name) {
      continue;
    }
    bool all = true;
    for (const auto& [k, v] : subset) {
      auto it = s.labels.find(k);
      all &= it != s.labels.end() && it->second == v;
    }
    if (all) {
      out.push_back(&s);
    }
  }
  return out;
}

double Exposition::sum(std::string_view name, const LabelMap& subset) const {
  double total = 0;
  for (const PromSample* s : select(name, subset)) {
    total += s->value;
  }
  return total;
}

Result<Exposition> parsePrometheusText(std::string_view text) {
  Exposition e;
  std::set<std::string> closed;  // families whose samples ended
  std::string current;           // family of the previous sample
  size_t lineNo = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      return Error{"line " + std::to_string(lineNo + 1) + ": missing final newline"};
    }
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++lineNo;
    auto fail = [&](const std::string& why) {
      return Error{"line " + std::to_string(lineNo) + ": " + why + ": " + std::string(line)};
    };
    if (line.empty()) {
      continue;
    }
    if (line[0] == '#') {
      LineParser p(line.substr(1));
      std::string word, name;
      if (!p.eat(' ') || !p.name(word, false) || (word != "HELP" && word != "TYPE")) {
        continue;  // a plain comment
      }
      if (!p.eat(' ') || !p.name(name, true) || !p.eat(' ')) {
        return fail("malformed # " + word);
      }
      if (closed.count(name) || current == name) {
        return fail(word + " after samples of " + name);
      }
      PromFamily& f = e.families[name];
      if (word == "TYPE") {
        std::string type(p.rest());
        if (!f.type.empty()) {
          return fail("second TYPE for " + name);
        }
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
            type != "untyped") {
          return fail("unknown type " + type);
        }
        f.type = type;
      } else {
        f.help.assign(p.rest());
      }
      continue;
    }
    LineParser p(line);
    PromSample s;
    if (!p.name(s.name, true)) {
      return fail("bad metric name");
    }
    if (p.eat('{')) {
      while (!p.eat('}')) {
        std::string label, value;
        if (!p.name(label, false) || !p.eat('=')) {
          return fail("bad label name");
        }
        if (std::string why = p.quoted(value); !why.empty()) {
          return fail("label " + label + ": " + why);
        }
        if (!s.labels.emplace(label, value).second) {
          return fail("duplicate label " + label);
        }
        if (!p.eat(',') && p.rest().substr(0, 1) != "}") {
          return fail("expected ',' or '}'");
        }
      }
    }
    if (!p.eat(' ')) {
      return fail("expected a space before the value");
    }
    std::string_view rest = p.rest();
    std::string_view valueText = rest.substr(0, rest.find(' '));
    std::optional<double> value = parseValue(valueText);
    if (!value) {
      return fail("bad value");
    }
    s.value = *value;
    std::string family = familyOf(s.name, e.families);
    if (family != current) {
      if (closed.count(family)) {
        return fail("samples of " + family + " are not contiguous");
      }
      if (!current.empty()) {
        closed.insert(current);
      }
      current = family;
    }
    std::string key = seriesKey(s.name, s.labels);
    if (!e.series.emplace(key, s.value).second) {
      return fail("duplicate series " + key);
    }
    e.samples.push_back(std::move(s));
  }
  if (Status st = checkHistograms(e); !st.ok()) {
    return st.error();
  }
  return e;
}

}  // namespace podlens::testing

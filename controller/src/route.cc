// Route templates and the id-collapsing heuristic. No regex, no allocation per event.
#include <podlens/controller/route.hpp>

#include <podlens/controller/policy.hpp>

#include <array>
#include <cstring>

namespace podlens::controller {
namespace {

constexpr size_t kMaxSegments = PODLENS_PATH_MAX;

struct Span {
  uint16_t offset;
  uint16_t length;
};

// Splits "/a/b/c" into segments; one trailing '/' is ignored. Returns the count, or -1 when
// there are more than kMaxSegments.
int splitPath(std::string_view path, std::array<Span, kMaxSegments>& out) {
  if (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  if (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  if (path.empty()) {
    return 0;
  }
  size_t base = 1;  // offsets are into the original path
  int n = 0;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (n == static_cast<int>(kMaxSegments)) {
      return -1;
    }
    out[n++] = Span{static_cast<uint16_t>(base + start), static_cast<uint16_t>(end - start)};
    if (slash == std::string_view::npos) {
      return n;
    }
    start = slash + 1;
  }
}

// Segments known whole: a truncated path's last segment is partial unless the cut fell
// right after a '/'.
size_t completeSegments(std::string_view path, int n, bool truncated) {
  if (n <= 0) {
    return 0;
  }
  bool partialLast = truncated && !path.ends_with('/');
  return partialLast ? n - 1 : n;
}

enum CharClass : uint8_t { kDigit = 1, kHexLetter = 2, kLetter = 4, kToken = 8 };

constexpr std::array<uint8_t, 256> makeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    if (c >= '0' && c <= '9') {
      v |= kDigit | kToken;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      v |= kLetter | kToken;
    }
    if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
      v |= kHexLetter;
    }
    if (c == '-' || c == '_' || c == '+' || c == '=') {
      v |= kToken;
    }
    t[c] = v;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = makeClasses();

bool isUuid(std::string_view s) {
  if (s.size() != 36) {
    return false;
  }
  for (size_t i = 0; i < 36; ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    uint8_t c = kClasses[static_cast<unsigned char>(s[i])];
    if (dash ? s[i] != '-' : !(c & (kDigit | kHexLetter))) {
      return false;
    }
  }
  return true;
}

bool isIdLike(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  bool allDigits = true, allHex = true, allToken = true, hasDigit = false, hasLetter = false;
  for (char ch : s) {
    uint8_t c = kClasses[static_cast<unsigned char>(ch)];
    allDigits &= (c & kDigit) != 0;
    allHex &= (c & (kDigit | kHexLetter)) != 0;
    allToken &= (c & kToken) != 0;
    hasDigit |= (c & kDigit) != 0;
    hasLetter |= (c & kLetter) != 0;
  }
  if (allDigits || (allHex && hasDigit && s.size() >= 8)) {
    return true;
  }
  if (allToken && hasDigit && hasLetter && s.size() >= 16) {
    return true;
  }
  return isUuid(s);
}

}  // namespace

RouteMatcher::RouteMatcher(const std::vector<std::string>& templates) {
  for (const std::string& text : templates) {
    if (!checkRouteTemplate(text).empty()) {
      continue;
    }
    Template t;
    t.text = text;
    std::array<Span, kMaxSegments> spans;
    int n = splitPath(text, spans);
    if (n < 0) {
      continue;
    }
    for (int i = 0; i < n; ++i) {
      std::string_view seg = std::string_view(text).substr(spans[i].offset, spans[i].length);
      if (i == n - 1 && seg == "*") {
        t.tailWildcard = true;
      } else {
        bool param = seg.size() >= 2 && seg.front() == '{';
        t.segments.push_back({param ? Segment::Param : Segment::Literal, spans[i].offset,
                              spans[i].length});
      }
    }
    templates_.push_back(std::move(t));
  }
}

int RouteMatcher::match(std::string_view path, bool truncated) const {
  std::array<Span, kMaxSegments> spans;
  int n = splitPath(path, spans);
  if (n < 0) {
    return -1;
  }
  size_t complete = completeSegments(path, n, truncated);
  for (size_t t = 0; t < templates_.size(); ++t) {
    const Template& tpl = templates_[t];
    size_t need = tpl.segments.size();
    if (tpl.tailWildcard ? complete < need : (truncated || complete != need)) {
      continue;
    }
    bool ok = true;
    for (size_t i = 0; i < need && ok; ++i) {
      const Segment& seg = tpl.segments[i];
      const Span& got = spans[i];
      if (seg.kind == Segment::Param) {
        ok = got.length > 0;
      } else {
        ok = got.length == seg.length &&
             std::memcmp(path.data() + got.offset, tpl.text.data() + seg.offset, seg.length) == 0;
      }
    }
    if (ok) {
      return static_cast<int>(t);
    }
  }
  return -1;
}

std::string_view heuristicRoute(std::string_view path, bool truncated, RouteBuffer& buffer) {
  if (path.size() > PODLENS_PATH_MAX) {
    path = path.substr(0, PODLENS_PATH_MAX);  // keeps the output within the buffer
    truncated = true;
  }
  std::array<Span, kMaxSegments> spans;
  int n = splitPath(path, spans);
  size_t complete = completeSegments(path, n, truncated);
  char* out = buffer.bytes;
  for (size_t i = 0; i < complete; ++i) {
    std::string_view seg = path.substr(spans[i].offset, spans[i].length);
    if (seg.empty()) {
      continue;  // "a//b" is "a/b"
    }
    *out++ = '/';
    if (isIdLike(seg)) {
      std::memcpy(out, "{id}", 4);
      out += 4;
    } else {
      std::memcpy(out, seg.data(), seg.size());
      out += seg.size();
    }
  }
  if (truncated) {
    std::memcpy(out, "/*", 2);
    out += 2;
  }
  if (out == buffer.bytes) {
    *out++ = '/';
  }
  return {buffer.bytes, static_cast<size_t>(out - buffer.bytes)};
}

std::string_view resolveRoute(std::string_view path, uint8_t eventFlags,
                              const RouteMatcher* routes, RouteBuffer& buffer) {
  if (eventFlags & PODLENS_EVENT_NOT_ORIGIN_FORM) {
    return {};
  }
  bool truncated = (eventFlags & PODLENS_EVENT_PATH_TRUNCATED) != 0;
  size_t cut = path.find_first_of("?#");
  if (cut != std::string_view::npos) {
    path = path.substr(0, cut);
    truncated = false;  // the cut fell in the query: the path itself is whole
  }
  if (routes != nullptr && routes->size() > 0) {
    int index = routes->match(path, truncated);
    if (index >= 0) {
      return routes->templateText(index);
    }
  }
  return heuristicRoute(path, truncated, buffer);
}

std::string_view resolveRoute(const podlens_http_event& event, const RouteMatcher* routes,
                              RouteBuffer& buffer) {
  size_t len = event.path_len < PODLENS_PATH_MAX ? event.path_len : PODLENS_PATH_MAX;
  return resolveRoute({reinterpret_cast<const char*>(event.path), len}, event.flags, routes,
                      buffer);
}

}  // namespace podlens::controller

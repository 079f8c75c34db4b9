// http_route: a low-cardinality route for a captured path. Never the raw path, never a query.
//
// Templates (spec.routes, list order, first match wins; the route is the template text):
//   "/users/{id}"      {name} matches exactly one non-empty segment
//   "/static/*"        a trailing * matches the rest: zero or more segments
//   "/healthz"         literal segments match byte for byte (no decoding, case-sensitive)
// One trailing '/' of a path is ignored when matching ("/users/42/" matches "/users/{id}").
//
// Heuristic (no template matched, or no policy): each segment that looks like an id becomes
// "{id}": all digits; a UUID (8-4-4-4-12 hex); hex of >= 8 characters with a digit; a token
// of >= 16 characters from [A-Za-z0-9_-+=] with both a digit and a letter (base64-ish).
//
// Special paths:
//   - the query ("?...") and fragment ("#...") are stripped first, whatever the kernel sent;
//   - an empty path is "/";
//   - PODLENS_EVENT_PATH_TRUNCATED: the last (partial) segment is unknown, so only templates
//     ending in "*" whose fixed part lies within the complete segments can match; otherwise
//     the heuristic route of the complete segments followed by "/*";
//   - PODLENS_EVENT_NOT_ORIGIN_FORM (absolute URI, authority or "*" target): nothing was
//     captured; the route is "" (an empty label, which PromQL treats as absent; OTel leaves
//     http.route unset when it is unknown).
#pragma once

#include <podlens/abi.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace podlens::controller {

// Room for the longest route produced from a PODLENS_PATH_MAX path ("/1/2/..." grows 2.5x).
inline constexpr size_t kRouteBufferSize = PODLENS_PATH_MAX * 3 + 8;

struct RouteBuffer {
  char bytes[kRouteBufferSize];
};

class RouteMatcher {
 public:
  RouteMatcher() = default;
  // Templates must be valid (checkRouteTemplate); invalid ones are ignored.
  explicit RouteMatcher(const std::vector<std::string>& templates);

  // Index of the first template matching `path` (query already stripped), or -1.
  // `truncated`: the last segment of `path` is partial.
  int match(std::string_view path, bool truncated = false) const;
  const std::string& templateText(int index) const { return templates_[index].text; }
  size_t size() const { return templates_.size(); }

 private:
  struct Segment {
    enum Kind : uint8_t { Literal, Param } kind;
    uint16_t offset;  // of the literal within Template::text
    uint16_t length;
  };
  struct Template {
    std::string text;
    std::vector<Segment> segments;  // without the trailing wildcard
    bool tailWildcard = false;
  };
  std::vector<Template> templates_;
};

// The heuristic on a query-free path; writes into `buffer`, returns a view of it.
std::string_view heuristicRoute(std::string_view path, bool truncated, RouteBuffer& buffer);

// The http_route of an event: templates of `routes` (may be nullptr), else the heuristic.
// The result views the template text or `buffer`.
std::string_view resolveRoute(const podlens_http_event& event, const RouteMatcher* routes,
                              RouteBuffer& buffer);
// Same on a bare path and event flags (podlens_event_flags), for tests and tools.
std::string_view resolveRoute(std::string_view path, uint8_t eventFlags,
                              const RouteMatcher* routes, RouteBuffer& buffer);

}  // namespace podlens::controller

#include <gtest/gtest.h>

#include <podlens/controller/route.hpp>

#include <cstring>

namespace podlens::controller {
namespace {

struct RouteRow {
  const char* path;
  uint8_t flags;
  const char* route;
};

std::string route(const RouteMatcher* m, std::string_view path, uint8_t flags = 0) {
  RouteBuffer buffer;
  return std::string(resolveRoute(path, flags, m, buffer));
}

TEST(RouteMatcher, TemplatesFirstMatchWins) {
  RouteMatcher m({"/users/{id}", "/users/me", "/api/v1/orders/{orderId}/items", "/static/*",
                  "/", "/{tenant}/dashboard"});
  const RouteRow rows[] = {
      {"/users/42", 0, "/users/{id}"},
      {"/users/me", 0, "/users/{id}"},  // list order, not specificity
      {"/users/42/", 0, "/users/{id}"},  // one trailing slash ignored
      {"/users/42/x", 0, "/users/{id}/x"},  // heuristic fallback
      {"/users", 0, "/users"},
      {"/api/v1/orders/9f8e/items", 0, "/api/v1/orders/{orderId}/items"},
      {"/api/v1/orders//items", 0, "/api/v1/orders/items"},  // {name} needs a non-empty segment
      {"/static", 0, "/static/*"},
      {"/static/css/a.css", 0, "/static/*"},
      {"/", 0, "/"},
      {"", 0, "/"},
      {"/acme/dashboard", 0, "/{tenant}/dashboard"},
      {"/users/42?token=secret", 0, "/users/{id}"},
      {"/users/42#frag", 0, "/users/{id}"},
      {"/STATIC/x", 0, "/STATIC/x"},  // case-sensitive
  };
  for (const RouteRow& row : rows) {
    EXPECT_EQ(route(&m, row.path, row.flags), row.route) << row.path;
  }
  EXPECT_EQ(m.match("/users/7"), 0);
  EXPECT_EQ(m.match("/nope"), -1);
}

TEST(RouteMatcher, InvalidTemplatesAreIgnored) {
  RouteMatcher m({"no-slash", "/a/{b", "/ok"});
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.templateText(0), "/ok");
}

TEST(RouteHeuristic, Table) {
  const RouteRow rows[] = {
      {"/users/12345", 0, "/users/{id}"},
      {"/users/0/orders/7", 0, "/users/{id}/orders/{id}"},
      {"/o/3fa85f64-5717-4562-b3fc-2c963f66afa6", 0, "/o/{id}"},
      {"/o/3FA85F64-5717-4562-B3FC-2C963F66AFA6/x", 0, "/o/{id}/x"},
      {"/commit/a1b2c3d4", 0, "/commit/{id}"},  // hex >= 8 with a digit
      {"/commit/a1b2c3d", 0, "/commit/a1b2c3d"},  // 7: too short
      {"/word/deadbeefcafe", 0, "/word/deadbeefcafe"},  // hex without a digit is a word
      {"/t/eyJhbGciOiJIUzI1NiJ9", 0, "/t/{id}"},  // base64-ish, 20 chars
      {"/t/session_Ab12-xy_Z9", 0, "/t/{id}"},  // 16+ token with digit and letter
      {"/docs/getting-started-guide", 0, "/docs/getting-started-guide"},  // no digit
      {"/v1/health", 0, "/v1/health"},
      {"/assets/app-2024.min.js", 0, "/assets/app-2024.min.js"},  // '.' is not token-ish
      {"/a/b/", 0, "/a/b"},
      {"/", 0, "/"},
      {"", 0, "/"},
      {"/search?q=secret", 0, "/search"},
      {"/search?q=" "1234567890123456789012345678901234567890", PODLENS_EVENT_PATH_TRUNCATED,
       "/search"},  // truncated inside the query: the path is whole
      {"/files/abc/partialsegm", PODLENS_EVENT_PATH_TRUNCATED, "/files/abc/*"},
      {"/files/123/", PODLENS_EVENT_PATH_TRUNCATED, "/files/{id}/*"},
      {"/partial", PODLENS_EVENT_PATH_TRUNCATED, "/*"},
      {"http://example.com/x", PODLENS_EVENT_NOT_ORIGIN_FORM, ""},
      {"", PODLENS_EVENT_NOT_ORIGIN_FORM, ""},
  };
  for (const RouteRow& row : rows) {
    EXPECT_EQ(route(nullptr, row.path, row.flags), row.route) << row.path;
  }
}

TEST(RouteHeuristic, TruncatedPathsOnlyMatchWildcards) {
  RouteMatcher m({"/files/{name}", "/static/*", "/a/b/c/*"});
  EXPECT_EQ(route(&m, "/files/partia", PODLENS_EVENT_PATH_TRUNCATED), "/files/*");
  EXPECT_EQ(route(&m, "/static/js/verylongna", PODLENS_EVENT_PATH_TRUNCATED), "/static/*");
  EXPECT_EQ(route(&m, "/static", PODLENS_EVENT_PATH_TRUNCATED), "/*");  // "static" may be partial
  EXPECT_EQ(route(&m, "/a/b/c", PODLENS_EVENT_PATH_TRUNCATED), "/a/b/*");
}

TEST(RouteHeuristic, WorstCaseFitsTheBuffer) {
  std::string path;
  while (path.size() + 2 <= PODLENS_PATH_MAX) {
    path += "/1";
  }
  std::string out = route(nullptr, path);
  EXPECT_EQ(out.size(), path.size() / 2 * 5);
  std::string huge(4 * PODLENS_PATH_MAX, '/');  // longer than the kernel ever sends
  EXPECT_EQ(route(nullptr, huge + "5"), "/*");
}

TEST(RouteHeuristic, FromAnEvent) {
  podlens_http_event e{};
  const char path[] = "/users/42?x=1";
  std::memcpy(e.path, path, sizeof(path) - 1);
  e.path_len = sizeof(path) - 1;
  RouteBuffer buffer;
  EXPECT_EQ(resolveRoute(e, nullptr, buffer), "/users/{id}");
  e.path_len = 60000;  // a corrupt length is clamped to PODLENS_PATH_MAX
  EXPECT_EQ(resolveRoute(e, nullptr, buffer), "/users/{id}");
}

}  // namespace
}  // namespace podlens::controller

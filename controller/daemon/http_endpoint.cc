#include "http_endpoint.hpp"

// spdlog (fmt 9) before cpprestsdk: the other order breaks fmt's format_as lookup.
#include <spdlog/spdlog.h>
// clang-format off
#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>
// clang-format on

namespace podlens::daemon {
namespace {

using web::http::http_request;
using web::http::methods;
using web::http::status_codes;

constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kPlainText = "text/plain; charset=utf-8";

void reply(http_request& request, web::http::status_code code, const std::string& body,
           const char* contentType) {
  request.reply(code, body, contentType).then([](pplx::task<void> sent) {
    try {
      sent.get();
    } catch (const std::exception& e) {
      spdlog::debug("http: reply not sent: {}", e.what());  // client went away
    }
  });
}

void route(const HttpHandlers& handlers, http_request request) {
  const std::string path = request.relative_uri().path();
  if (path == "/metrics") {
    reply(request, status_codes::OK, handlers.renderMetrics(), kPrometheusText);
  } else if (path == "/healthz") {
    reply(request, status_codes::OK, "ok\n", kPlainText);
  } else if (path == "/readyz") {
    bool ready = handlers.ready();
    reply(request, ready ? status_codes::OK : status_codes::ServiceUnavailable,
          ready ? "ready\n" : "not ready: pins or first policy sync pending\n", kPlainText);
  } else {
    reply(request, status_codes::NotFound, "not found: try /metrics, /healthz, /readyz\n",
          kPlainText);
  }
}

}  // namespace

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::start(const std::string& uri,
                                                          HttpHandlers handlers) {
  // cpprestsdk starts 40 threads by default; a node agent needs two.
  static const bool sized = [] {
    crossplat::threadpool::initialize_with_threads(2);
    return true;
  }();
  (void)sized;
  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  endpoint->handlers_ = std::move(handlers);
  try {
    endpoint->listener_ =
        std::make_unique<web::http::experimental::listener::http_listener>(uri);
    const HttpHandlers* bound = &endpoint->handlers_;
    endpoint->listener_->support(methods::GET,
                                 [bound](http_request request) { route(*bound, request); });
    endpoint->listener_->open().wait();
  } catch (const std::exception& e) {
    return Error{"listening on " + uri + ": " + e.what() +
                 " (is another controller running? choose one with --metrics-addr)"};
  }
  return endpoint;
}

HttpEndpoint::~HttpEndpoint() {
  if (listener_) {
    try {
      listener_->close().wait();
    } catch (const std::exception& e) {
      spdlog::warn("http: closing the listener: {}", e.what());
    }
  }
}

}  // namespace podlens::daemon

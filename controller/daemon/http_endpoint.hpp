// The controller's HTTP face: GET /metrics, /healthz, /readyz on one cpprestsdk listener.
// Handlers run on cpprestsdk's thread pool; the callbacks given here must be thread-safe.
#pragma once

#include <podlens/result.hpp>

#include <functional>
#include <memory>
#include <string>

namespace web::http::experimental::listener {
class http_listener;
}

namespace podlens::daemon {

struct HttpHandlers {
  std::function<std::string()> renderMetrics;  // Prometheus text format 0.0.4
  std::function<bool()> ready;                 // /readyz answers 200 only when true
};

class HttpEndpoint {
 public:
  // Binds uri ("http://0.0.0.0:9464") and starts serving.
  static Result<std::unique_ptr<HttpEndpoint>> start(const std::string& uri,
                                                     HttpHandlers handlers);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

 private:
  HttpEndpoint() = default;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  HttpHandlers handlers_;
};

}  // namespace podlens::daemon

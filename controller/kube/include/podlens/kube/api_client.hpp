// A small Kubernetes API client over cpprestsdk: GET, PATCH and streamed watches, with TLS from
// the ClusterConfig (CA, client certificate) and a bearer token re-read from its file as the
// kubelet rotates it. Thread-safe; every call blocks the calling thread only.
#pragma once

#include <podlens/kube/cluster_config.hpp>
#include <podlens/result.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace podlens::kube {

struct ApiResponse {
  int status = 0;    // HTTP status
  std::string body;  // JSON (a Status object on errors)

  bool ok() const { return status >= 200 && status < 300; }
  // The Status object's message when the body is one, else the first 200 bytes.
  std::string message() const;
};

class ApiClient {
 public:
  // Checks the TLS material at once, so a bad kubeconfig fails at start with its reason.
  static Result<std::unique_ptr<ApiClient>> create(ClusterConfig config);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // An Error means no HTTP answer (connection refused, TLS, timeout, cancelled) and says only
  // the cause; HTTP errors are responses.
  Result<ApiResponse> get(const std::string& pathAndQuery, const std::string& accept = "");
  Result<ApiResponse> patch(const std::string& pathAndQuery, const std::string& contentType,
                            const std::string& body);

  // GET with a streamed body (watch=1): calls onLine for each line as it arrives until the
  // server ends the stream, onLine returns false, or cancel(). Returns the response with an
  // empty body for 2xx (the stream ended), or the whole error response otherwise.
  Result<ApiResponse> stream(const std::string& pathAndQuery, const std::string& accept,
                             std::chrono::seconds idleTimeout,
                             const std::function<bool(const std::string&)>& onLine);

  // Aborts every call in flight and makes later ones fail at once (used when stopping).
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  const ClusterConfig& config() const { return config_; }

 private:
  struct Impl;
  explicit ApiClient(ClusterConfig config);
  std::string bearerToken();

  ClusterConfig config_;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> cancelled_{false};
  std::mutex tokenMutex_;
  std::string token_;
  int64_t tokenMtimeNs_ = -1;
};

// Percent-encodes a query parameter value ("spec.nodeName=n1" -> "spec.nodeName%3Dn1").
std::string urlEncode(const std::string& value);

}  // namespace podlens::kube

#include <podlens/kube/api_client.hpp>

// spdlog (fmt 9) before cpprestsdk: the other order breaks fmt's format_as lookup.
#include <spdlog/spdlog.h>
// clang-format off
#include <boost/asio/ssl.hpp>
#include <cpprest/http_client.h>
#include <cpprest/rawptrstream.h>
#include <cpprest/containerstream.h>
// clang-format on
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>

namespace podlens::kube {
namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::methods;
using web::http::client::http_client;
using web::http::client::http_client_config;

constexpr std::chrono::seconds kRequestTimeout{30};

http_client_config clientConfig(const ClusterConfig& config, std::chrono::seconds timeout) {
  http_client_config result;
  result.set_timeout(timeout);
  result.set_validate_certificates(!config.insecureSkipVerify);
  std::string ca = config.caPem, cert = config.clientCertPem, key = config.clientKeyPem;
  result.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
    if (!ca.empty()) {
      ctx.add_certificate_authority(boost::asio::buffer(ca));
    }
    if (!cert.empty()) {
      ctx.use_certificate_chain(boost::asio::buffer(cert));
      ctx.use_private_key(boost::asio::buffer(key), boost::asio::ssl::context::pem);
    }
  });
  return result;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

// The http_client is made at the first request: making it starts cpprestsdk's thread pool,
// whose size the daemon sets once when its HTTP endpoint starts.
struct ApiClient::Impl {
  explicit Impl(const ClusterConfig& config) : config(config) {}
  http_client& shared() {
    std::call_once(made, [this] {
      client = std::make_unique<http_client>(config.server, clientConfig(config, kRequestTimeout));
    });
    return *client;
  }
  const ClusterConfig& config;
  std::once_flag made;
  std::unique_ptr<http_client> client;
  pplx::cancellation_token_source cancel;
};

std::string ApiResponse::message() const {
  try {
    auto json = nlohmann::json::parse(body);
    if (json.is_object() && json.value("kind", "") == "Status") {
      return json.value("message", "");
    }
  } catch (const nlohmann::json::exception&) {
  }
  return body.substr(0, 200);
}

ApiClient::ApiClient(ClusterConfig config) : config_(std::move(config)) {}

ApiClient::~ApiClient() { cancel(); }

Result<std::unique_ptr<ApiClient>> ApiClient::create(ClusterConfig config) {
  try {  // the same callback the connections will run, once now for its errors
    boost::asio::ssl::context ctx(boost::asio::ssl::context::sslv23_client);
    clientConfig(config, kRequestTimeout).get_ssl_context_callback()(ctx);
  } catch (const std::exception& e) {
    return Error{config.origin + ": the CA or client certificate/key is not usable PEM (" +
                 e.what() + ")"};
  }
  std::unique_ptr<ApiClient> client(new ApiClient(std::move(config)));
  try {
    client->impl_ = std::make_unique<Impl>(client->config_);
  } catch (const std::exception& e) {
    return Error{client->config_.origin + ": " + e.what()};
  }
  if (!client->config_.tokenFile.empty() && client->bearerToken().empty()) {
    return Error{client->config_.origin + ": token file " + client->config_.tokenFile +
                 " is empty or unreadable"};
  }
  return client;
}

void ApiClient::cancel() {
  if (!cancelled_.exchange(true) && impl_) {
    impl_->cancel.cancel();
  }
}

// The kubelet rewrites a projected token well before it expires; reading it again when its
// mtime changes is what client-go does (every minute) without the delay.
std::string ApiClient::bearerToken() {
  if (config_.tokenFile.empty()) {
    return config_.token;
  }
  std::lock_guard lock(tokenMutex_);
  struct stat st {};
  if (stat(config_.tokenFile.c_str(), &st) == 0) {
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (mtime != tokenMtimeNs_) {
      std::ifstream in(config_.tokenFile);
      std::stringstream text;
      text << in.rdbuf();
      if (std::string token = trimmed(text.str()); !token.empty()) {
        token_ = token;
        tokenMtimeNs_ = mtime;
      }
    }
  }
  return token_;
}

namespace {

http_request makeRequest(const web::http::method& method, const std::string& pathAndQuery,
                         const std::string& token, const std::string& accept) {
  http_request request(method);
  request.set_request_uri(pathAndQuery);
  request.headers().add("Accept", accept.empty() ? "application/json" : accept);
  request.headers().add("User-Agent", "podlens-controller");
  if (!token.empty()) {
    request.headers().add("Authorization", "Bearer " + token);
  }
  return request;
}

Result<ApiResponse> send(http_client& client, http_request request,
                         const pplx::cancellation_token& token) {
  try {
    http_response response = client.request(std::move(request), token).get();
    ApiResponse result{response.status_code(), response.extract_utf8string(true).get()};
    return result;
  } catch (const std::exception& e) {
    return Error{e.what()};  // the cause only: callers say what they were doing
  }
}

}  // namespace

Result<ApiResponse> ApiClient::get(const std::string& pathAndQuery, const std::string& accept) {
  if (cancelled()) {
    return Error{"cancelled"};
  }
  return send(impl_->shared(), makeRequest(methods::GET, pathAndQuery, bearerToken(), accept),
              impl_->cancel.get_token());
}

Result<ApiResponse> ApiClient::patch(const std::string& pathAndQuery,
                                     const std::string& contentType, const std::string& body) {
  if (cancelled()) {
    return Error{"cancelled"};
  }
  http_request request = makeRequest(methods::PATCH, pathAndQuery, bearerToken(), "");
  request.set_body(body, contentType);
  return send(impl_->shared(), std::move(request), impl_->cancel.get_token());
}

Result<ApiResponse> ApiClient::stream(const std::string& pathAndQuery, const std::string& accept,
                                      std::chrono::seconds idleTimeout,
                                      const std::function<bool(const std::string&)>& onLine) {
  if (cancelled()) {
    return Error{"cancelled"};
  }
  try {
    // A client of its own: the watch holds its connection, and its timeout is longer.
    http_client client(config_.server, clientConfig(config_, idleTimeout));
    http_response response =
        client.request(makeRequest(methods::GET, pathAndQuery, bearerToken(), accept),
                       impl_->cancel.get_token())
            .get();
    if (response.status_code() < 200 || response.status_code() >= 300) {
      return ApiResponse{response.status_code(), response.extract_utf8string(true).get()};
    }
    concurrency::streams::istream body = response.body();
    while (!cancelled()) {
      concurrency::streams::container_buffer<std::string> line;
      size_t read = body.read_line(line).get();
      if (read == 0 && body.is_eof()) {
        break;
      }
      if (!line.collection().empty() && !onLine(line.collection())) {
        break;
      }
    }
    if (cancelled()) {
      return Error{"cancelled"};
    }
    return ApiResponse{response.status_code(), ""};
  } catch (const std::exception& e) {
    return Error{e.what()};
  }
}

std::string urlEncode(const std::string& value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace podlens::kube

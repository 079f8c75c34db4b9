#include <podlens/kube/cluster_config.hpp>

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

extern char** environ;

namespace podlens::kube {
namespace {

Result<std::string> readFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{what + ": cannot read " + path};
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<std::string> base64Decode(const std::string& text, const std::string& what) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') {
      continue;
    }
    size_t value = kAlphabet.find(c);
    if (value == std::string::npos) {
      return Error{what + ": not base64"};
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

std::string scalar(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  return value && value.IsScalar() ? value.Scalar() : "";
}

// "<key>-data" (base64) or "<key>" (a file), as kubeconfig spells them.
Result<std::string> material(const YAML::Node& node, const std::string& key,
                             const std::filesystem::path& base, const std::string& where) {
  if (std::string data = scalar(node, (key + "-data").c_str()); !data.empty()) {
    return base64Decode(data, where + "." + key + "-data");
  }
  if (std::string file = scalar(node, key.c_str()); !file.empty()) {
    std::filesystem::path path(file);
    return readFile((path.is_absolute() ? path : base / path).string(), where + "." + key);
  }
  return std::string();
}

std::optional<YAML::Node> findNamed(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) {
    return std::nullopt;
  }
  for (YAML::Node entry : list) {
    if (scalar(entry, "name") == name) {
      return entry;
    }
  }
  return std::nullopt;
}

Result<ClusterConfig> fromKubeconfig(const YAML::Node& root, const std::string& path) {
  std::filesystem::path base = std::filesystem::path(path).parent_path();
  std::string contextName = scalar(root, "current-context");
  if (contextName.empty()) {
    return Error{"has no current-context"};
  }
  YAML::Node contexts = root["contexts"], clusters = root["clusters"], users = root["users"];
  std::optional<YAML::Node> context = findNamed(contexts, contextName);
  if (!context || !(*context)["context"].IsMap()) {
    return Error{"current-context \"" + contextName + "\" is not in contexts"};
  }
  YAML::Node ctx = (*context)["context"];
  std::optional<YAML::Node> cluster = findNamed(clusters, scalar(ctx, "cluster"));
  if (!cluster || !(*cluster)["cluster"].IsMap()) {
    return Error{"context \"" + contextName + "\" names cluster \"" + scalar(ctx, "cluster") +
                 "\", which is not in clusters"};
  }
  ClusterConfig config;
  config.origin = "kubeconfig " + path + " (context " + contextName + ")";
  config.namespace_ = scalar(ctx, "namespace");
  YAML::Node c = (*cluster)["cluster"];
  config.server = scalar(c, "server");
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return Error{"cluster \"" + scalar(ctx, "cluster") + "\": server \"" + config.server +
                 "\" is not an http(s) URL"};
  }
  while (!config.server.empty() && config.server.back() == '/') {
    config.server.pop_back();
  }
  config.insecureSkipVerify = scalar(c, "insecure-skip-tls-verify") == "true";
  auto ca = material(c, "certificate-authority", base, "cluster");
  if (!ca) {
    return ca.error();
  }
  config.caPem = *ca;
  std::string userName = scalar(ctx, "user");
  std::optional<YAML::Node> user = findNamed(users, userName);
  if (!user) {
    return config;  // no user: anonymous (works where the API allows it)
  }
  YAML::Node u = (*user)["user"];
  if (!u || !u.IsMap()) {
    return config;
  }
  for (const char* plugin : {"exec", "auth-provider", "username"}) {
    if (u[plugin]) {
      return Error{"user \"" + userName + "\" authenticates with " + plugin +
                   ", which podlens does not run; give it a ServiceAccount token or a client "
                   "certificate"};
    }
  }
  auto cert = material(u, "client-certificate", base, "user");
  auto key = material(u, "client-key", base, "user");
  if (!cert) {
    return cert.error();
  }
  if (!key) {
    return key.error();
  }
  if (cert->empty() != key->empty()) {
    return Error{"user \"" + userName + "\" has a client certificate without its key, or the "
                 "other way round"};
  }
  config.clientCertPem = *cert;
  config.clientKeyPem = *key;
  config.token = scalar(u, "token");
  if (std::string file = scalar(u, "tokenFile"); !file.empty()) {
    std::filesystem::path p(file);
    config.tokenFile = (p.is_absolute() ? p : base / p).string();
  }
  return config;
}

}  // namespace

Result<ClusterConfig> loadKubeconfig(const std::string& path) {
  auto text = readFile(path, "kubeconfig");
  if (!text) {
    return text.error();
  }
  try {
    auto config = fromKubeconfig(YAML::Load(*text), path);
    if (!config) {
      return config.error().context("kubeconfig " + path);
    }
    return config;
  } catch (const YAML::Exception& e) {
    return Error{"kubeconfig " + path + ": line " + std::to_string(e.mark.line + 1) + ": " +
                 e.msg};
  }
}

Result<ClusterConfig> loadInClusterConfig(const std::map<std::string, std::string>& env,
                                          const std::string& secretsDir) {
  auto host = env.find("KUBERNETES_SERVICE_HOST");
  auto port = env.find("KUBERNETES_SERVICE_PORT");
  if (host == env.end() || host->second.empty() || port == env.end() || port->second.empty()) {
    return Error{"not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset "
                 "(give --kubeconfig)"};
  }
  ClusterConfig config;
  bool v6 = host->second.find(':') != std::string::npos;
  config.server = "https://" + (v6 ? "[" + host->second + "]" : host->second) + ":" +
                  port->second;
  config.tokenFile = secretsDir + "/token";
  auto token = readFile(config.tokenFile, "in-cluster config");
  if (!token) {
    return token.error();
  }
  auto ca = readFile(secretsDir + "/ca.crt", "in-cluster config");
  if (!ca) {
    return ca.error();
  }
  config.caPem = *ca;
  if (auto ns = readFile(secretsDir + "/namespace", "in-cluster config"); ns) {
    config.namespace_ = *ns;
  }
  config.origin = "in-cluster config (" + config.server + ", token " + config.tokenFile + ")";
  return config;
}

bool runningInCluster() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  return host != nullptr && *host != '\0';
}

std::map<std::string, std::string> processEnvironment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq != std::string_view::npos) {
      env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
    }
  }
  return env;
}

}  // namespace podlens::kube

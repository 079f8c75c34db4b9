// Where the Kubernetes API is and how to authenticate: from a kubeconfig file (--kubeconfig) or
// from inside a pod (the ServiceAccount's mounted token and CA, KUBERNETES_SERVICE_HOST/PORT).
#pragma once

#include <podlens/result.hpp>

#include <map>
#include <string>

namespace podlens::kube {

struct ClusterConfig {
  std::string server;         // "https://10.0.0.1:443", no trailing '/'
  std::string caPem;          // trusted CAs; empty = the system's
  bool insecureSkipVerify = false;
  std::string clientCertPem;  // client certificate authentication (both or neither)
  std::string clientKeyPem;
  std::string token;          // a bearer token given inline
  std::string tokenFile;      // a bearer token re-read as it rotates (wins over token)
  std::string namespace_;     // the context's or the pod's namespace, "" when unknown
  std::string origin;         // "kubeconfig /root/.kube/config (context kind-kind)", for logs
};

// Reads a kubeconfig: its current context's cluster and user. Relative file paths are relative
// to the kubeconfig's directory. exec and auth-provider plugins and basic auth are refused with
// the reason (podlens is a daemon: use a ServiceAccount token or a client certificate).
Result<ClusterConfig> loadKubeconfig(const std::string& path);

// Inside a pod: env KUBERNETES_SERVICE_HOST/PORT, token and CA under `secretsDir`. `env` is the
// process environment in production; tests pass their own.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
Result<ClusterConfig> loadInClusterConfig(const std::map<std::string, std::string>& env,
                                          const std::string& secretsDir = kServiceAccountDir);
// True when KUBERNETES_SERVICE_HOST is set (the process runs in a pod).
bool runningInCluster();
std::map<std::string, std::string> processEnvironment();

}  // namespace podlens::kube

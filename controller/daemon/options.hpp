// Command-line options of podlens-controller: parsed and validated in one pure function so
// that every mistake is reported with the flag it concerns, before anything touches the kernel.
#pragma once

#include <podlens/result.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace podlens::daemon {

struct ListenAddress {
  std::string host;  // "0.0.0.0" when the flag gave only ":port"
  uint16_t port = 0;
  // "http://host:port" for the listener.
  std::string uri() const;
};

struct Options {
  std::string policyDir;  // standalone mode: TelemetryPolicy (and Pod label) YAML files
  // Kubernetes mode: --kubeconfig, or in-cluster when KUBERNETES_SERVICE_HOST is set.
  std::string kubeconfig;
  std::string nodeName;  // --node-name, else env NODE_NAME, else the host name
  bool kubernetes() const { return !kubeconfig.empty() || inCluster; }
  bool inCluster = false;  // set by parseOptions when no --kubeconfig and in a pod
  ListenAddress metricsAddr{"0.0.0.0", 9464};
  std::string bpffsRoot = "/sys/fs/bpf/podlens";
  std::string stateDir = "/run/podlens";
  std::chrono::milliseconds resyncInterval{250};  // policy dir and pod records rescanned
  std::chrono::seconds podGracePeriod{30};  // series of a deleted pod live this long
  uint32_t seriesPerPod = 500;              // then the overflow series takes the rest
  std::vector<double> durationBuckets;      // empty: the OpenTelemetry HTTP defaults
  std::string logLevel = "info";
  uint32_t maxConnections = 16384;     // only when this instance loads the programs
  uint32_t ringBufferBytes = 4u << 20;  // likewise
  bool showHelp = false;
  bool showVersion = false;
};

// Parses argv[1..]. Errors name the flag: "--metrics-addr: port 70000 is out of range".
Result<Options> parseOptions(const std::vector<std::string>& args);

std::string usage();

}  // namespace podlens::daemon

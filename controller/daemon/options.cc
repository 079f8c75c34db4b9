#include "options.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <charconv>
#include <functional>
#include <map>
#include <sstream>

namespace podlens::daemon {
namespace {

Error flagError(const std::string& flag, const std::string& message) {
  return Error{"--" + flag + ": " + message};
}

Result<uint64_t> parseUnsigned(const std::string& flag, const std::string& text, uint64_t min,
                               uint64_t max) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return flagError(flag, "'" + text + "' is not a whole number");
  }
  if (value < min || value > max) {
    return flagError(flag, text + " is out of range " + std::to_string(min) + "-" +
                               std::to_string(max));
  }
  return value;
}

Result<ListenAddress> parseListenAddress(const std::string& flag, const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return flagError(flag, "'" + text + "' is not HOST:PORT or :PORT");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto port = parseUnsigned(flag, text.substr(colon + 1), 1, 65535);
  if (!port) {
    return port.error();
  }
  return ListenAddress{host.empty() ? "0.0.0.0" : host, static_cast<uint16_t>(*port)};
}

Result<std::vector<double>> parseBuckets(const std::string& flag, const std::string& text) {
  std::vector<double> buckets;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    try {
      size_t used = 0;
      double bound = std::stod(item, &used);
      if (used != item.size() || !(bound > 0)) {
        throw std::invalid_argument(item);
      }
      buckets.push_back(bound);
    } catch (const std::exception&) {
      return flagError(flag, "'" + item + "' is not a positive number of seconds");
    }
  }
  if (buckets.empty() || !std::is_sorted(buckets.begin(), buckets.end()) ||
      std::adjacent_find(buckets.begin(), buckets.end()) != buckets.end()) {
    return flagError(flag, "give strictly increasing bounds in seconds, e.g. 0.01,0.1,1");
  }
  return buckets;
}

// One setter per flag; each validates its value and names the flag in its error.
using Setter = std::function<Status(Options&, const std::string& flag, const std::string&)>;

Setter number(uint64_t min, uint64_t max, std::function<void(Options&, uint64_t)> assign) {
  return [=](Options& options, const std::string& flag, const std::string& text) -> Status {
    auto value = parseUnsigned(flag, text, min, max);
    if (!value) {
      return value.error();
    }
    assign(options, *value);
    return ok();
  };
}

Setter text(std::string Options::*field) {
  return [=](Options& options, const std::string& flag, const std::string& value) -> Status {
    if (value.empty()) {
      return flagError(flag, "needs a value");
    }
    options.*field = value;
    return ok();
  };
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"policy-dir", text(&Options::policyDir)},
      {"kubeconfig", text(&Options::kubeconfig)},
      {"node-name", text(&Options::nodeName)},
      {"bpffs-root", text(&Options::bpffsRoot)},
      {"state-dir", text(&Options::stateDir)},
      {"metrics-addr",
       [](Options& o, const std::string& flag, const std::string& value) -> Status {
         auto address = parseListenAddress(flag, value);
         if (!address) {
           return address.error();
         }
         o.metricsAddr = *address;
         return ok();
       }},
      {"duration-buckets",
       [](Options& o, const std::string& flag, const std::string& value) -> Status {
         auto buckets = parseBuckets(flag, value);
         if (!buckets) {
           return buckets.error();
         }
         o.durationBuckets = *buckets;
         return ok();
       }},
      {"log-level",
       [](Options& o, const std::string& flag, const std::string& value) -> Status {
         static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
         if (std::find(std::begin(kLevels), std::end(kLevels), value) == std::end(kLevels)) {
           return flagError(flag, "'" + value + "' is not one of trace, debug, info, warn, "
                                                "error, off");
         }
         o.logLevel = value;
         return ok();
       }},
      {"resync-interval-ms", number(10, 60000, [](Options& o, uint64_t v) {
         o.resyncInterval = std::chrono::milliseconds(v);
       })},
      {"pod-grace-period", number(0, 86400, [](Options& o, uint64_t v) {
         o.podGracePeriod = std::chrono::seconds(v);
       })},
      {"series-per-pod", number(1, 1000000, [](Options& o, uint64_t v) {
         o.seriesPerPod = static_cast<uint32_t>(v);
       })},
      {"max-connections", number(1024, 1u << 24, [](Options& o, uint64_t v) {
         o.maxConnections = static_cast<uint32_t>(v);
       })},
      {"ring-buffer-bytes", number(1u << 16, 1u << 30, [](Options& o, uint64_t v) {
         o.ringBufferBytes = static_cast<uint32_t>(v);
       })},
  };
  return table;
}

Status checkRingBufferSize(const Options& options) {
  uint32_t size = options.ringBufferBytes;
  if ((size & (size - 1)) != 0) {
    return flagError("ring-buffer-bytes", std::to_string(size) + " is not a power of two");
  }
  return ok();
}

}  // namespace

std::string ListenAddress::uri() const {
  bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Options> parseOptions(const std::vector<std::string>& args) {
  Options options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      options.showHelp = true;
      continue;
    }
    if (arg == "--version") {
      options.showVersion = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      return Error{"unexpected argument '" + arg + "' (flags start with --; see --help)"};
    }
    std::string flag = arg.substr(2);
    std::string value;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return flagError(flag, "needs a value");
    }
    auto setter = setters().find(flag);
    if (setter == setters().end()) {
      return Error{"unknown flag --" + flag + " (see --help)"};
    }
    if (auto status = setter->second(options, flag, value); !status) {
      return status.error();
    }
  }
  if (auto status = checkRingBufferSize(options); !status) {
    return status.error();
  }
  const char* serviceHost = std::getenv("KUBERNETES_SERVICE_HOST");
  options.inCluster = options.kubeconfig.empty() && serviceHost && *serviceHost;
  if (options.nodeName.empty()) {
    const char* node = std::getenv("NODE_NAME");
    char host[256] = {};
    options.nodeName = node && *node ? node : (gethostname(host, sizeof host - 1) == 0 ? host : "");
  }
  if (!options.kubernetes() && options.policyDir.empty() && !options.showHelp &&
      !options.showVersion) {
    return Error{"--policy-dir is required in standalone mode (or give --kubeconfig FILE for "
                 "Kubernetes mode; in a pod the in-cluster config is used)"};
  }
  if (options.kubernetes() && !options.policyDir.empty()) {
    return Error{"--policy-dir: not with Kubernetes mode (policies come from the API)"};
  }
  return options;
}

std::string usage() {
  return R"(podlens-controller: per-node HTTP telemetry from eBPF, exported to Prometheus.

Standalone mode (no cluster):
  podlens-controller --policy-dir DIR [flags]
Kubernetes mode (TelemetryPolicies and this node's Pods from the API, docs/kubernetes.md):
  podlens-controller --kubeconfig FILE [--node-name NODE] [flags]    (in a pod: no flag needed)

Flags:
  --policy-dir DIR           TelemetryPolicy and Pod-label YAML files (rescanned live)
  --kubeconfig FILE          Kubernetes API credentials (default: in-cluster when in a pod)
  --node-name NODE           this node in the API (default: env NODE_NAME, else the host name)
  --metrics-addr [HOST]:PORT listen address of /metrics, /healthz, /readyz (default :9464)
  --bpffs-root DIR           pinned programs, maps and links (default /sys/fs/bpf/podlens)
  --state-dir DIR            pod records written by podlens-cni (default /run/podlens)
  --resync-interval-ms N     how often policies and pod records are rescanned (default 250)
  --pod-grace-period S       seconds a deleted pod's series stay exported (default 30)
  --series-per-pod N         series cap per pod before the overflow series (default 500)
  --duration-buckets A,B,..  histogram bounds in seconds (default: OpenTelemetry's)
  --log-level LEVEL          trace, debug, info, warn, error, off (default info)
  --max-connections N        connection-state slots, when this instance loads: sets of 4, a
                             power of two of them (16384)
  --ring-buffer-bytes N      event ring buffer, power of two, when it loads (4194304)
  --version, --help
)";
}

}  // namespace podlens::daemon

#include <podlens/kube/kubernetes_policy_source.hpp>

#include <spdlog/spdlog.h>

#include <random>

namespace podlens::kube {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::seconds kResendAfter{5};  // an apply the watch has not shown yet
constexpr std::chrono::milliseconds kSharedFieldJitter{2000};

std::string metaString(const json& object, const char* name) {
  const json& meta = object.contains("metadata") ? object["metadata"] : json();
  return meta.is_object() && meta.contains(name) && meta[name].is_string()
             ? meta[name].get<std::string>()
             : "";
}

int64_t metaGeneration(const json& object) {
  const json& meta = object.contains("metadata") ? object["metadata"] : json();
  return meta.is_object() && meta.contains("generation") && meta["generation"].is_number_integer()
             ? meta["generation"].get<int64_t>()
             : 0;
}

// "TelemetryPolicy a/b: document 1 (TelemetryPolicy a/b): spec.ports[0].port: ..." → the part
// after the object, which names the field.
std::string fieldMessage(const std::string& line) {
  auto object = line.find("): ");
  if (object != std::string::npos) {
    return line.substr(object + 3);
  }
  auto file = line.find(": ");
  return file == std::string::npos ? line : line.substr(file + 2);
}

std::string fieldManager(const std::string& node) {
  std::string manager = "podlens-controller/" + node;
  return manager.size() > 128 ? manager.substr(0, 128) : manager;  // the API's limit
}

}  // namespace

ConvertedPolicy convertPolicy(const json& object) {
  ConvertedPolicy out;
  std::string name = metaString(object, "name"), ns = metaString(object, "namespace");
  json trimmed = {{"apiVersion", object.value("apiVersion", "")},
                  {"kind", object.value("kind", "")},
                  {"metadata", {{"name", name}, {"namespace", ns}}}};
  if (object.contains("spec")) {
    trimmed["spec"] = object["spec"];
  }
  std::string tag = "TelemetryPolicy " + ns + "/" + name;
  controller::ParsedFile parsed = controller::parsePolicyText(trimmed.dump(), tag);
  if (!parsed.ok() || parsed.policies.size() != 1) {
    for (const std::string& error : parsed.errors) {
      out.rejection += (out.rejection.empty() ? "" : "; ") + fieldMessage(error);
    }
    if (out.rejection.empty()) {
      out.rejection = "not a TelemetryPolicy";
    }
    return out;
  }
  out.policy = std::move(parsed.policies.front());
  out.policy->source = tag;
  return out;
}

controller::PodLabels convertPod(const json& object) {
  controller::PodLabels pod;
  pod.namespace_ = metaString(object, "namespace");
  pod.name = metaString(object, "name");
  pod.uid = metaString(object, "uid");
  pod.source = "Pod " + pod.namespace_ + "/" + pod.name;
  const json& meta = object.contains("metadata") ? object["metadata"] : json();
  if (meta.is_object() && meta.contains("labels") && meta["labels"].is_object()) {
    for (const auto& [key, value] : meta["labels"].items()) {
      if (value.is_string()) {
        pod.labels.emplace(key, value.get<std::string>());
      }
    }
  }
  return pod;
}

KubernetesPolicySource::KubernetesPolicySource(std::unique_ptr<ApiClient> client,
                                               KubernetesSourceOptions options)
    : client_(std::move(client)), options_(std::move(options)) {
  InformerOptions& policies = options_.policies;
  if (policies.path.empty()) {
    policies.path = kPoliciesPath;
  }
  if (policies.name.empty()) {
    policies.name = "TelemetryPolicies";
  }
  InformerOptions& pods = options_.pods;
  if (pods.path.empty()) {
    pods.path = "/api/v1/pods";
    pods.metadataOnly = true;
  }
  if (pods.name.empty()) {
    pods.name = "Pods of node " + options_.nodeName;
  }
  if (pods.query.empty()) {
    pods.query = "fieldSelector=" + urlEncode("spec.nodeName=" + options_.nodeName);
  }
  policyInformer_ = std::make_unique<Informer>(
      *client_, policies, [this](const ObjectStore& store) { onPolicies(store); });
  podInformer_ = std::make_unique<Informer>(*client_, pods,
                                            [this](const ObjectStore& store) { onPods(store); });
}

KubernetesPolicySource::~KubernetesPolicySource() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  statusWake_.notify_all();
  client_->cancel();  // aborts watches in flight
  policyInformer_->stop();
  podInformer_->stop();
  if (statusThread_.joinable()) {
    statusThread_.join();
  }
}

void KubernetesPolicySource::start() {
  spdlog::info("Kubernetes mode: {}, node {}", client_->config().origin, options_.nodeName);
  policyInformer_->start();
  podInformer_->start();
  if (options_.writeStatus) {
    statusThread_ = std::thread([this] { statusLoop(); });
  }
}

bool KubernetesPolicySource::synced() const {
  return policyInformer_->synced() && podInformer_->synced();
}

std::string KubernetesPolicySource::describe() const {
  return "Kubernetes API " + client_->config().server + " (node " + options_.nodeName + ")";
}

uint64_t KubernetesPolicySource::statusWrites() const {
  std::lock_guard lock(mutex_);
  return statusWrites_;
}

void KubernetesPolicySource::onPolicies(const ObjectStore& store) {
  std::lock_guard lock(mutex_);
  std::map<std::string, PolicyEntry> next;
  for (const auto& [key, object] : store) {
    PolicyEntry entry;
    entry.object = object;
    entry.generation = metaGeneration(object);
    auto old = policies_.find(key);
    if (old != policies_.end() && old->second.generation == entry.generation &&
        metaString(old->second.object, "uid") == metaString(object, "uid")) {
      entry.converted = old->second.converted;  // status changes do not touch the spec
    } else {
      entry.converted = convertPolicy(object);
    }
    next.emplace(key, std::move(entry));
  }
  policies_ = std::move(next);
  statusDirty_ = true;
  statusWake_.notify_all();
}

void KubernetesPolicySource::onPods(const ObjectStore& store) {
  std::lock_guard lock(mutex_);
  pods_.clear();
  for (const auto& [key, object] : store) {
    pods_.emplace(key, convertPod(object));
  }
}

controller::PolicySnapshot KubernetesPolicySource::snapshot() {
  controller::PolicySnapshot next;
  std::map<std::string, int64_t> generations;
  std::lock_guard lock(mutex_);
  for (const auto& [key, entry] : policies_) {
    if (entry.converted.policy) {
      next.policies.push_back(*entry.converted.policy);
      generations[key] = entry.generation;
    } else {
      next.errors.push_back("TelemetryPolicy " + key + ": " + entry.converted.rejection);
    }
  }
  for (const auto& [key, pod] : pods_) {
    next.pods.push_back(pod);
  }
  for (const Informer* informer : {policyInformer_.get(), podInformer_.get()}) {
    if (std::string problem = informer->problem(); !problem.empty()) {
      next.errors.push_back("Kubernetes API: " + problem);
    }
  }
  snapshotGenerations_ = std::move(generations);
  // Status writes change the objects, not what the reconciler acts on: compare that only.
  std::string fingerprint;
  for (const auto& [key, entry] : policies_) {
    fingerprint += key + "#" + std::to_string(entry.generation) + "\n";
  }
  for (const auto& [key, pod] : pods_) {
    fingerprint += key + "#" + pod.uid;
    for (const auto& [label, value] : pod.labels) {
      fingerprint += "," + label + "=" + value;
    }
    fingerprint += "\n";
  }
  for (const auto& error : next.errors) {
    fingerprint += error + "\n";
  }
  bool same = fingerprint == fingerprint_ && last_.generation != 0;
  fingerprint_ = std::move(fingerprint);
  next.generation = same ? last_.generation : last_.generation + 1;
  next.changed = !same;
  last_ = next;
  return next;
}

void KubernetesPolicySource::publishSelection(const controller::SelectorPlan& plan) {
  std::map<std::string, std::optional<NodeStatus>> selection;
  std::map<std::string, std::vector<std::string>> lost;
  for (const auto& conflict : plan.conflicts) {
    for (const auto& loser : conflict.losers) {
      lost[loser].push_back(conflict.message());
    }
  }
  std::lock_guard lock(mutex_);
  std::map<std::string, int64_t> generations;
  for (const auto& chosen : plan.policies) {
    NodeStatus status;
    auto generation = snapshotGenerations_.find(chosen.policy);
    status.observedGeneration = generation == snapshotGenerations_.end() ? 0 : generation->second;
    generations[chosen.policy] = status.observedGeneration;
    status.matchedPods = static_cast<uint32_t>(chosen.pods.size());
    for (const auto& pod : chosen.pods) {
      if (status.pods.size() == kMaxStatusPods) {
        break;
      }
      status.pods.push_back(pod.substr(pod.find('/') + 1));
    }
    status.observedPorts = static_cast<uint32_t>(chosen.selectors);
    auto conflicts = lost.find(chosen.policy);
    if (conflicts != lost.end()) {
      for (const auto& message : conflicts->second) {
        if (status.conflicts.size() < kMaxStatusConflicts) {
          status.conflicts.push_back(message);
        }
      }
    }
    bool empty = status.matchedPods == 0 && status.conflicts.empty();
    selection[chosen.policy] = empty ? std::nullopt : std::optional<NodeStatus>(status);
  }
  if (selection != selection_ || generations != selectionGenerations_) {
    selection_ = std::move(selection);
    selectionGenerations_ = std::move(generations);
    statusDirty_ = true;
    statusWake_.notify_all();
  }
}

void KubernetesPolicySource::statusLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    statusWake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_ || statusDirty_; });
    if (stopping_) {
      break;
    }
    statusDirty_ = false;
    lock.unlock();
    writeDueStatus();
    lock.lock();
  }
}

void KubernetesPolicySource::writeDueStatus() {
  struct Write {
    std::string key, path;
    json body;
  };
  static thread_local std::mt19937_64 random(std::random_device{}());
  static thread_local std::map<std::string, Clock::time_point> notBefore;  // jittered writes
  std::vector<Write> writes;
  const auto now = Clock::now();
  const std::string timestamp = rfc3339Now();
  {
    std::lock_guard lock(mutex_);
    if (!policyInformer_->synced()) {
      return;
    }
    for (const auto& [key, entry] : policies_) {
      DesiredStatus desired;
      desired.node = options_.nodeName;
      desired.generation = entry.generation;
      desired.rejection = entry.converted.rejection;
      if (entry.converted.policy) {
        auto chosen = selection_.find(key);
        auto generation = selectionGenerations_.find(key);
        if (chosen == selection_.end() || generation == selectionGenerations_.end() ||
            generation->second != entry.generation) {
          continue;  // the reconciler has not acted on this generation yet
        }
        desired.entry = chosen->second;
      }
      auto body = statusApplyBody(entry.object, desired, timestamp);
      if (!body) {
        sent_.erase(key);
        notBefore.erase(key);
        continue;
      }
      // Fields every node shares (Accepted, ports, total) but no entry of this node's own:
      // wait a random moment, so one node's write answers for the others.
      if (!desired.entry && !(*body)["status"].contains("nodes")) {
        const json& observedNodes = entry.object.contains("status")
                                        ? entry.object["status"].value("nodes", json::array())
                                        : json::array();
        bool ownEntry = false;
        for (const auto& item : observedNodes) {
          ownEntry = ownEntry || item.value("node", "") == options_.nodeName;
        }
        if (!ownEntry) {
          auto [it, fresh] = notBefore.emplace(key, now);
          if (fresh) {
            std::uniform_int_distribution<int64_t> pick(0, kSharedFieldJitter.count());
            it->second = now + std::chrono::milliseconds(pick(random));
          }
          if (now < it->second) {
            statusDirty_ = true;  // look again at the next tick
            continue;
          }
        }
      }
      std::string text = body->dump();
      auto sent = sent_.find(key);
      if (sent != sent_.end() && sent->second.first == text && now - sent->second.second < kResendAfter) {
        continue;  // in flight: the watch has not shown it yet
      }
      sent_[key] = {text, now};
      std::string ns = metaString(entry.object, "namespace"), name = metaString(entry.object, "name");
      writes.push_back({key,
                        "/apis/podlens.io/v1alpha1/namespaces/" + ns + "/telemetrypolicies/" +
                            name + "/status?fieldManager=" +
                            urlEncode(fieldManager(options_.nodeName)) + "&force=true",
                        std::move(*body)});
    }
  }
  for (const Write& write : writes) {
    auto response = client_->patch(write.path, "application/apply-patch+yaml", write.body.dump());
    if (!response) {
      spdlog::warn("status of TelemetryPolicy {}: cannot reach the API server: {}", write.key,
                   response.error().message);
      continue;
    }
    if (response->status == 404) {
      continue;  // deleted meanwhile
    }
    if (!response->ok()) {
      spdlog::warn("status of TelemetryPolicy {}: the API answered {}: {}", write.key,
                   response->status, response->message());
      continue;
    }
    std::lock_guard lock(mutex_);
    ++statusWrites_;
    spdlog::debug("status of TelemetryPolicy {} written", write.key);
  }
}

}  // namespace podlens::kube

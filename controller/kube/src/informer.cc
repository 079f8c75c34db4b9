#include <podlens/kube/informer.hpp>

#include <spdlog/spdlog.h>

namespace podlens::kube {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kMetadataListAccept =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
constexpr const char* kMetadataWatchAccept =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

std::string metadataString(const json& object, const char* field) {
  const json* meta = object.is_object() && object.contains("metadata") ? &object["metadata"]
                                                                        : nullptr;
  if (meta && meta->is_object() && meta->contains(field) && (*meta)[field].is_string()) {
    return (*meta)[field].get<std::string>();
  }
  return "";
}

}  // namespace

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, uint64_t seed)
    : base_(base), max_(max), random_(seed) {}

std::chrono::milliseconds Backoff::next() {
  int64_t ceiling = base_.count();
  for (uint32_t i = 0; i < failures_ && ceiling < max_.count(); ++i) {
    ceiling *= 2;
  }
  ceiling = std::min<int64_t>(ceiling, max_.count());
  ++failures_;
  std::uniform_int_distribution<int64_t> pick(ceiling / 2, ceiling);
  return std::chrono::milliseconds(pick(random_));
}

std::string objectKey(const json& object) {
  std::string ns = metadataString(object, "namespace");
  std::string name = metadataString(object, "name");
  return ns.empty() ? name : ns + "/" + name;
}

WatchStep applyWatchLine(const std::string& line, ObjectStore& store) {
  WatchStep step;
  json event;
  try {
    event = json::parse(line);
  } catch (const json::exception& e) {
    step.message = std::string("not JSON: ") + e.what();
    return step;
  }
  if (!event.is_object() || !event.contains("type") || !event["type"].is_string() ||
      !event.contains("object") || !event["object"].is_object()) {
    step.message = "not a watch event (no type or object)";
    return step;
  }
  const std::string type = event["type"].get<std::string>();
  json& object = event["object"];
  if (type == "ERROR") {
    int code = object.contains("code") && object["code"].is_number_integer()
                   ? object["code"].get<int>()
                   : 0;
    step.kind = code == 410 ? WatchStep::Kind::Gone : WatchStep::Kind::Error;
    step.message = object.value("message", "watch error " + std::to_string(code));
    return step;
  }
  std::string version = metadataString(object, "resourceVersion");
  if (type == "BOOKMARK") {
    step.kind = WatchStep::Kind::Bookmark;
    step.resourceVersion = version;
    return step;
  }
  std::string key = objectKey(object);
  if (key.empty()) {
    step.message = type + " event without metadata.name";
    return step;
  }
  if (type == "ADDED" || type == "MODIFIED") {
    store[key] = std::move(object);
  } else if (type == "DELETED") {
    store.erase(key);
  } else {
    step.message = "unknown event type " + type;
    return step;
  }
  step.kind = WatchStep::Kind::Changed;
  step.resourceVersion = version;
  return step;
}

Informer::Informer(ApiClient& client, InformerOptions options, OnChange onChange)
    : client_(client),
      options_(std::move(options)),
      onChange_(std::move(onChange)),
      backoff_(options_.backoffBase, options_.backoffMax,
               static_cast<uint64_t>(Clock::now().time_since_epoch().count())) {}

Informer::~Informer() { stop(); }

void Informer::start() { thread_ = std::thread([this] { run(); }); }

void Informer::stop() {
  stopping_ = true;
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::string Informer::problem() const {
  std::lock_guard lock(mutex_);
  return problem_;
}

InformerStats Informer::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::string Informer::resourceVersion() const {
  std::lock_guard lock(mutex_);
  return resourceVersion_;
}

std::string Informer::url(const std::string& extra) const {
  std::string out = options_.path + "?" + extra;
  if (!options_.query.empty()) {
    out += "&" + options_.query;
  }
  return out;
}

void Informer::fail(const std::string& problem) {
  if (stopping_ || client_.cancelled()) {
    return;  // a call aborted because we are stopping: nothing to report or wait for
  }
  bool changed;
  {
    std::lock_guard lock(mutex_);
    ++stats_.errors;
    changed = problem_ != options_.name + ": " + problem;
    problem_ = options_.name + ": " + problem;
  }
  auto delay = backoff_.next();
  if (changed || backoff_.failures() % 10 == 1) {
    spdlog::warn("{}: {}; retrying in {} ms", options_.name, problem, delay.count());
  }
  sleepFor(delay);
}

void Informer::sleepFor(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

void Informer::run() {
  bool needList = true;
  while (!stopping_ && !client_.cancelled()) {
    if (needList) {
      needList = !list();
    } else {
      needList = !watch();
    }
  }
}

bool Informer::list() {
  ObjectStore fresh;
  std::string continueToken, version;
  do {
    std::string query = "limit=" + std::to_string(options_.pageSize);
    if (!continueToken.empty()) {
      query += "&continue=" + urlEncode(continueToken);
    }
    auto response = client_.get(url(query), options_.metadataOnly ? kMetadataListAccept : "");
    if (!response) {
      fail("cannot reach the API server: " + response.error().message);
      return false;
    }
    if (response->status == 410 && !continueToken.empty()) {
      // The continue token expired between pages: list again from the start.
      std::lock_guard lock(mutex_);
      ++stats_.gone;
      fresh.clear();
      continueToken.clear();
      continue;
    }
    if (!response->ok()) {
      fail("list answered " + std::to_string(response->status) + ": " + response->message());
      return false;
    }
    try {
      json page = json::parse(response->body);
      for (auto& item : page.at("items")) {
        if (std::string key = objectKey(item); !key.empty()) {
          fresh[key] = std::move(item);
        }
      }
      const json& meta = page.at("metadata");
      version = meta.value("resourceVersion", "");
      continueToken = meta.value("continue", "");
    } catch (const json::exception& e) {
      fail(std::string("list answered something not a list: ") + e.what());
      return false;
    }
  } while (!continueToken.empty() && !stopping_);
  if (stopping_) {
    return false;
  }
  store_ = std::move(fresh);
  bool first = !synced_.exchange(true);
  {
    std::lock_guard lock(mutex_);
    ++stats_.lists;
    resourceVersion_ = version;
    if (!problem_.empty()) {
      spdlog::info("{}: listed again, {} objects at version {}", options_.name, store_.size(),
                   version);
    }
    problem_.clear();
  }
  if (first) {
    spdlog::info("{}: listed {} objects at version {}", options_.name, store_.size(), version);
  }
  backoff_.reset();
  onChange_(store_);
  return true;
}

bool Informer::watch() {
  std::string version = resourceVersion();
  std::string query = "watch=1&allowWatchBookmarks=true&resourceVersion=" + urlEncode(version) +
                      "&timeoutSeconds=" + std::to_string(options_.watchTimeout.count());
  {
    std::lock_guard lock(mutex_);
    ++stats_.watches;
  }
  bool gone = false, progressed = false;
  std::string streamError;
  auto started = Clock::now();
  auto response = client_.stream(
      url(query), options_.metadataOnly ? kMetadataWatchAccept : "",
      options_.watchTimeout + std::chrono::seconds(30), [&](const std::string& line) {
        WatchStep step = applyWatchLine(line, store_);
        std::lock_guard lock(mutex_);
        switch (step.kind) {
          case WatchStep::Kind::Changed:
            ++stats_.events;
            break;
          case WatchStep::Kind::Bookmark:
            ++stats_.bookmarks;
            break;
          case WatchStep::Kind::Gone:
            ++stats_.gone;
            gone = true;
            streamError = step.message;
            return false;
          case WatchStep::Kind::Error:
            streamError = step.message;
            return false;
          case WatchStep::Kind::Ignored:
            spdlog::debug("{}: watch line ignored: {}", options_.name, step.message);
            return true;
        }
        progressed = true;
        if (!step.resourceVersion.empty()) {
          resourceVersion_ = step.resourceVersion;
        }
        problem_.clear();
        if (step.kind == WatchStep::Kind::Changed) {
          // onChange_ may take its own locks; never under mutex_.
          mutex_.unlock();
          onChange_(store_);
          mutex_.lock();
        }
        return true;
      });
  if (stopping_) {
    return true;
  }
  if (!response) {
    fail("cannot reach the API server: " + response.error().message);
    return true;  // watch again from the same version (410 then tells us to relist)
  }
  if (response->status == 410 || gone) {
    spdlog::info("{}: version {} is gone ({}); listing again", options_.name, version,
                 gone ? streamError : response->message());
    return false;
  }
  if (!response->ok()) {
    fail("watch answered " + std::to_string(response->status) + ": " + response->message());
    return true;
  }
  if (!streamError.empty()) {
    fail("watch error: " + streamError);
    return true;
  }
  if (progressed) {
    backoff_.reset();
  } else if (Clock::now() - started < std::chrono::seconds(1)) {
    fail("the watch ended at once");  // never spin on a server that closes every stream
  }
  return true;
}

}  // namespace podlens::kube

// List + watch of one collection, the state machine of client-go's Reflector, on a thread of
// its own:
//
//   LIST (paged: limit/continue) ──▶ replace the whole store, remember its resourceVersion
//     └─▶ WATCH from that version (allowWatchBookmarks, timeoutSeconds)
//           ADDED/MODIFIED/DELETED ──▶ store, version moves on
//           BOOKMARK ──▶ version moves on (nothing else changes)
//           stream ends (server timeout, API server restart) ──▶ WATCH again from the version
//           410 Gone (as status or ERROR event: the version was compacted away) ──▶ LIST again
//           connection or server error ──▶ backoff with jitter, then WATCH (or LIST) again
//
// The store holds each object (as the API sent it, or the metadata only: PartialObject-
// Metadata) keyed by namespace/name. Every change calls `onChange` with the whole store; the
// consumer copies what it needs.
#pragma once

#include <podlens/kube/api_client.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

namespace podlens::kube {

// Exponential backoff with full jitter: the n-th consecutive failure waits a uniformly random
// time in [base*2^n / 2, base*2^n], capped at max. Reset on success.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, uint64_t seed);
  std::chrono::milliseconds next();
  void reset() { failures_ = 0; }
  uint32_t failures() const { return failures_; }

 private:
  std::chrono::milliseconds base_, max_;
  uint32_t failures_ = 0;
  std::mt19937_64 random_;
};

using ObjectStore = std::map<std::string, nlohmann::json>;  // "namespace/name" → object

// What one line of a watch stream does to the store. Pure: the informer's state transitions
// are tested through it without a server.
struct WatchStep {
  enum class Kind { Changed, Bookmark, Gone, Error, Ignored } kind = Kind::Ignored;
  std::string resourceVersion;  // the new version when Changed or Bookmark
  std::string message;          // Error/Gone: the Status message; Ignored: why
};
WatchStep applyWatchLine(const std::string& line, ObjectStore& store);
std::string objectKey(const nlohmann::json& object);  // "ns/name" (or "name" when cluster-scoped)

struct InformerOptions {
  std::string name;         // "TelemetryPolicies", for logs and errors
  std::string path;         // "/apis/podlens.io/v1alpha1/telemetrypolicies"
  std::string query;        // extra "k=v&..." (fieldSelector=...), urlencoded
  bool metadataOnly = false;  // PartialObjectMetadata: labels, uid; no spec/status
  uint32_t pageSize = 500;
  std::chrono::seconds watchTimeout{300};  // timeoutSeconds the server ends the watch at
  std::chrono::milliseconds backoffBase{200};
  std::chrono::milliseconds backoffMax{30000};
};

struct InformerStats {
  uint64_t lists = 0;      // complete LISTs (the first and every relist)
  uint64_t watches = 0;    // WATCH requests started
  uint64_t gone = 0;       // 410 Gone answers (relists they caused)
  uint64_t errors = 0;     // failed requests
  uint64_t bookmarks = 0;
  uint64_t events = 0;     // ADDED/MODIFIED/DELETED applied
};

class Informer {
 public:
  using OnChange = std::function<void(const ObjectStore&)>;

  Informer(ApiClient& client, InformerOptions options, OnChange onChange);
  ~Informer();  // stops the thread (the client must be cancelled first to abort a watch)
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void start();
  void stop();
  bool synced() const { return synced_.load(); }  // the first LIST completed
  // The current problem ("cannot reach the API server: ..."), "" when the last request worked.
  std::string problem() const;
  InformerStats stats() const;
  std::string resourceVersion() const;

 private:
  void run();
  bool list();   // false on failure (backoff already chosen)
  bool watch();  // false when a relist is needed
  void fail(const std::string& problem);
  void sleepFor(std::chrono::milliseconds delay);
  std::string url(const std::string& extra) const;

  ApiClient& client_;
  InformerOptions options_;
  OnChange onChange_;
  Backoff backoff_;
  ObjectStore store_;  // run() thread only
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  mutable std::mutex mutex_;  // guards resourceVersion_, problem_, stats_
  std::condition_variable wake_;
  std::string resourceVersion_;
  std::string problem_;
  InformerStats stats_;
};

}  // namespace podlens::kube

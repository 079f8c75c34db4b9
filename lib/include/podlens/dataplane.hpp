// The loader layer: the only code that touches libbpf for the TC data plane. Everything above
// it (CNI plugin, controller, tests) sees file descriptors and typed operations.
#pragma once

#include <podlens/abi.hpp>
#include <podlens/result.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

struct podlens_tc;  // the generated skeleton
struct ring_buffer;

namespace podlens {

struct DataPlaneOptions {
  uint32_t maxConnections = 16384;     // pl_conns entries (LRU)
  uint32_t ringBufferBytes = 4u << 20;  // pl_events size, a power of two >= page size
};

using LossCounters = std::array<uint64_t, PODLENS_LOSS__COUNT>;

// The loaded programs and maps of bpf/podlens_tc.bpf.c. Not copyable, not movable: it owns
// the skeleton; hold it by unique_ptr.
class DataPlane {
 public:
  static Result<std::unique_ptr<DataPlane>> load(const DataPlaneOptions& options);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  int ingressProgramFd() const;
  int egressProgramFd() const;
  int selectorsFd() const;
  int connsFd() const;
  int eventsFd() const;
  int lossesFd() const;
  int portsFd() const;

  // Selectors and the port filter in front of them are kept consistent here: every port in
  // pl_selectors has its bit set in pl_ports.
  Status putSelector(const podlens_selector_key& key, const podlens_selector_value& value);
  Status deleteSelector(const podlens_selector_key& key);
  // Recomputes pl_ports from pl_selectors (after deletions, or when reusing pinned maps).
  Status rebuildPortFilter();
  // Loss counters summed over CPUs, indexed by podlens_loss_reason.
  Result<LossCounters> readLosses() const;
  // Number of entries in pl_conns (walks the map; for tests and self-metrics).
  size_t countConnections() const;
  // The state of one connection, if present.
  Result<podlens_conn_state> lookupConnection(const podlens_conn_key& key) const;

 private:
  explicit DataPlane(podlens_tc* skeleton);
  podlens_tc* skeleton_;
};

// Reads podlens_http_event records from the pl_events ring buffer.
class EventReader {
 public:
  using Handler = std::function<void(const podlens_http_event&)>;
  static Result<std::unique_ptr<EventReader>> open(int ringBufferFd, Handler handler);
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Handles every event ready now; returns how many.
  Result<int> drain();
  // Waits up to timeoutMs for events, then handles them; returns how many.
  Result<int> poll(int timeoutMs);
  // Records that were not a whole podlens_http_event (a user-space drop, counted).
  uint64_t malformedRecords() const { return malformed_; }

 private:
  explicit EventReader(Handler handler) : handler_(std::move(handler)) {}
  static int onRecord(void* ctx, void* data, size_t size);

  Handler handler_;
  ring_buffer* ring_ = nullptr;
  uint64_t malformed_ = 0;
};

}  // namespace podlens

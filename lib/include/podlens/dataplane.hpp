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
#include <utility>
#include <vector>

struct podlens_tc;  // the generated skeleton
struct ring_buffer;

namespace podlens {

struct DataPlaneOptions {
  uint32_t maxConnections = 16384;     // pl_conns slots (DataPlane::connectionSets)
  uint32_t ringBufferBytes = 4u << 20;  // pl_events size, a power of two >= page size
};

using LossCounters = std::array<uint64_t, PODLENS_LOSS__COUNT>;

// Pin layout under a bpffs root (default kDefaultBpffsRoot):
//   <root>/dataplane/prog_ingress, prog_egress     the programs
//   <root>/dataplane/pl_selectors, pl_ports, ...   every map of the object, by its name
//   <root>/links/<containerId>-<ifname>-ingress|egress   tcx links (see attach.hpp)
// <root>/dataplane appears whole or not at all: loaders pin into <root>/staging-<pid> and
// rename() it, holding flock() on the <root> directory. (bpffs refuses names containing a dot,
// so the staging directory cannot be a hidden ".staging-<pid>", and map ".rodata" is pinned as
// "rodata".)
inline constexpr const char* kDefaultBpffsRoot = "/sys/fs/bpf/podlens";
std::string dataplanePinDir(const std::string& bpffsRoot);  // <root>/dataplane
std::string linksPinDir(const std::string& bpffsRoot);      // <root>/links

// Mounts bpffs at mountPoint (creating the directory) unless a bpffs is mounted there already.
Status ensureBpffs(const std::string& mountPoint);
// Creates bpffsRoot (and its links/ directory) and checks it lives on a bpffs; when it is
// below /sys/fs/bpf, mounts bpffs there first if needed.
Status ensurePinRoot(const std::string& bpffsRoot);

// The loaded programs and maps of bpf/podlens_tc.bpf.c: either a skeleton this process loaded
// (load) or file descriptors of pinned objects (openPinned). Not copyable, not movable; hold it
// by unique_ptr.
// Error::code of openPinned when the pins come from a podlens build with another ABI (the
// PODLENS_ABI_VERSION in their read-only data, map types or sizes, program names): an upgrade
// or a rollback; the controller replaces them.
inline constexpr int kPinsOfAnotherAbi = -2;

class DataPlane {
 public:
  // Loads the object embedded in this binary (the podlens_tc skeleton). Not pinned.
  static Result<std::unique_ptr<DataPlane>> load(const DataPlaneOptions& options);
  // Opens the programs and maps pinned under <bpffsRoot>/dataplane. Fails with a clear error if
  // they are missing, or if their ABI version, a map's type or key/value sizes do not match
  // this build's.
  static Result<std::unique_ptr<DataPlane>> openPinned(const std::string& bpffsRoot);
  // openPinned if <bpffsRoot>/dataplane exists; else loads the embedded object ("the installed
  // object" is the one compiled into this binary) and pins it there atomically, under the root's
  // lock. *loadedNow (if given) tells which happened. bpffsRoot must exist (ensurePinRoot).
  static Result<std::unique_ptr<DataPlane>> openOrLoadPinned(const std::string& bpffsRoot,
                                                             const DataPlaneOptions& options,
                                                             bool* loadedNow);
  // Whether the object embedded in this binary can be opened (parsed, not loaded): what STATUS
  // needs to know before any pin exists.
  static Status probeEmbeddedObject();
  // Pins the programs and every map of a loaded skeleton into dir (which must exist).
  Status pinAll(const std::string& dir) const;
  // Publishes `fresh` (loaded by this process, not pinned) under <bpffsRoot>/dataplane in place
  // of the pins there (another build's: an upgrade or a rollback). Under the root's lock: pins
  // fresh in a staging directory, calls repoint() to move every attachment onto fresh's
  // programs, then swaps the directories. The retired programs and maps go when their last
  // user does: connections in flight resynchronise, events still queued in the retired ring
  // buffer are not read. When repoint fails nothing is published (attachments it moved keep
  // running fresh's programs, which stay alive through their links).
  static Status replacePinned(const std::string& bpffsRoot, const DataPlane& fresh,
                              const std::function<Status()>& repoint);
  // The kernel's tags (hash of the instructions, map references left out) of the two programs:
  // equal for the same build whatever the maps, so a pinned data plane from another build,
  // even of the same ABI, is told apart.
  Result<std::string> programTags() const;
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  int ingressProgramFd() const;
  int egressProgramFd() const;
  int selectorsFd() const;
  int connsFd() const;
  int eventsFd() const;
  int lossesFd() const;
  int memosFd() const;  // pl_memos: each CPU's response header memos
  int portsFd() const;

  // Selectors and the port filter in front of them are kept consistent here: every (ifindex,
  // port) in pl_selectors has its bit (podlens_port_filter_bit) set in pl_ports.
  Status putSelector(const podlens_selector_key& key, const podlens_selector_value& value);
  Status deleteSelector(const podlens_selector_key& key);
  // Recomputes pl_ports from pl_selectors (after deletions, or when reusing pinned maps).
  Status rebuildPortFilter();
  // Each change above ends by adding 1 to pl_ports' selectors_generation, which makes open
  // connections look their selector up again. When that last write failed, this retries it
  // (callers run it before their next round of changes). One writer of selectors per node.
  Status publishUnpublishedSelectorChange();
  // Loss counters summed over CPUs, indexed by podlens_loss_reason.
  Result<LossCounters> readLosses() const;
  // Writes out the events of answers that no packet has come for since (podlens_sweep,
  // bpf/lib/answers.h): a connection's last response, when it stays open and idle. Run it every
  // PODLENS_SWEEP_INTERVAL_MS; the event thread does.
  Status sweepAnswers();
  // Connections pl_conns holds (reads the whole table; for tests and self-metrics).
  size_t countConnections() const;
  // The seed of pl_conns' hash (podlens_conn_hash): drawn at random by load(), read back from
  // the pinned programs' read-only data by openPinned().
  uint64_t connectionHashSeed() const { return connHashSeed_; }
  // The index in pl_conns of the slot that holds a connection, if one does.
  Result<uint32_t> findConnectionSlot(const podlens_conn_key& key) const;
  // The state of one connection, if present.
  Result<podlens_conn_state> lookupConnection(const podlens_conn_key& key) const;
  // The sets of PODLENS_CONN_WAYS slots pl_conns gets for a maximum of connections: the
  // largest power of two that fits, at least one.
  static uint32_t connectionSets(uint32_t maxConnections);
  // Every selector, in map order.
  Result<std::vector<std::pair<podlens_selector_key, podlens_selector_value>>> listSelectors()
      const;

 private:
  Result<uint32_t> connectionSlots() const;  // pl_conns' max_entries
  // The index and contents of the slot that holds a connection, if one does.
  Result<std::pair<uint32_t, podlens_conn_slot>> readConnectionSlot(
      const podlens_conn_key& key) const;
  struct Fds {
    int ingress = -1;
    int egress = -1;
    int sweep = -1;  // podlens_sweep
    int selectors = -1;
    int ports = -1;
    int conns = -1;
    int events = -1;
    int losses = -1;
    int tail = -1;  // pl_tail: the entry programs' way to podlens_parse
    int memos = -1;
  };
  DataPlane(podlens_tc* skeleton, Fds fds, bool ownsFds);
  static Fds skeletonFds(const podlens_tc* skeleton);
  Result<std::unique_ptr<podlens_port_filter>> readPortFilter() const;
  Status writePortFilter(podlens_port_filter& filter);  // stamps its bit_layout
  Status publishSelectorChange(std::unique_ptr<podlens_port_filter> filter);

  podlens_tc* skeleton_;  // null when opened from pins
  Fds fds_;
  bool ownsFds_;  // true for pinned objects: the fds are closed on destruction
  bool selectorChangeUnpublished_ = false;  // the last generation bump failed
  uint64_t connHashSeed_ = 0;  // pl_conn_hash_seed of the programs and their pl_conns
};

// Hands handler each event of a pl_events record (events back to back, each its first
// PODLENS_EVENT_BYTES(path_len) bytes; the programs write one a record), whole, its path zero
// past path_len. False when the record does not end where an event ends (the events before
// that are handled).
bool forEachEventInRecord(const void* data, size_t size,
                          const std::function<void(const podlens_http_event&)>& handler);

// Reads podlens_http_event records from the pl_events ring buffer.
class EventReader {
 public:
  using Handler = std::function<void(const podlens_http_event&)>;
  static Result<std::unique_ptr<EventReader>> open(int ringBufferFd, Handler handler);
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Handles every event ready now; returns how many. (A record is one event, written when the
  // request stream's next packet, a closing packet or the sweep emits it: bpf/lib/answers.h.)
  Result<int> drain();
  // Waits up to timeoutMs for events, then handles them; returns how many.
  // Events are not announced one by one (see PODLENS_EVENTS_WAKEUP_BYTES): poll() always
  // drains what is there when it returns, so a reader that polls every T ms sees each event
  // within T ms of its writing.
  Result<int> poll(int timeoutMs);
  // Records that did not end where an event ends (a user-space drop, counted).
  uint64_t malformedRecords() const { return malformed_; }

 private:
  explicit EventReader(Handler handler) : handler_(std::move(handler)) {}
  static int onRecord(void* ctx, void* data, size_t size);

  Handler handler_;
  ring_buffer* ring_ = nullptr;
  uint64_t malformed_ = 0;
  int handled_ = 0;  // events handled by the current drain or poll
};

}  // namespace podlens

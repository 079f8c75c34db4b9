#include <podlens/dataplane.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "errors.hpp"
#include "podlens_tc.skel.h"

namespace podlens {

DataPlane::DataPlane(podlens_tc* skeleton, Fds fds, bool ownsFds)
    : skeleton_(skeleton), fds_(fds), ownsFds_(ownsFds) {}

DataPlane::~DataPlane() {
  if (ownsFds_) {
    for (int fd : {fds_.ingress, fds_.egress, fds_.sweep, fds_.selectors, fds_.ports, fds_.conns,
                   fds_.events, fds_.losses, fds_.tail, fds_.memos}) {
      if (fd >= 0) {
        close(fd);
      }
    }
  }
  if (skeleton_ != nullptr) {
    podlens_tc__destroy(skeleton_);
  }
}

DataPlane::Fds DataPlane::skeletonFds(const podlens_tc* skel) {
  Fds fds;
  fds.ingress = bpf_program__fd(skel->progs.podlens_ingress);
  fds.egress = bpf_program__fd(skel->progs.podlens_egress);
  fds.sweep = bpf_program__fd(skel->progs.podlens_sweep);
  fds.selectors = bpf_map__fd(skel->maps.pl_selectors);
  fds.ports = bpf_map__fd(skel->maps.pl_ports);
  fds.conns = bpf_map__fd(skel->maps.pl_conns);
  fds.events = bpf_map__fd(skel->maps.pl_events);
  fds.losses = bpf_map__fd(skel->maps.pl_losses);
  fds.tail = bpf_map__fd(skel->maps.pl_tail);
  fds.memos = bpf_map__fd(skel->maps.pl_memos);
  return fds;
}

Result<std::unique_ptr<DataPlane>> DataPlane::load(const DataPlaneOptions& options) {
  podlens_tc* skel = podlens_tc__open();
  if (skel == nullptr) {
    return errnoError("opening the podlens_tc BPF object", errno);
  }
  std::unique_ptr<DataPlane> plane(new DataPlane(skel, Fds{}, false));
  const uint32_t sets = connectionSets(options.maxConnections);
  skel->rodata->pl_conn_set_mask = sets - 1;
  if (getrandom(&plane->connHashSeed_, sizeof(plane->connHashSeed_), 0) !=
      static_cast<ssize_t>(sizeof(plane->connHashSeed_))) {
    return errnoError("drawing the connection table's hash seed", errno);
  }
  skel->rodata->pl_conn_hash_seed = plane->connHashSeed_;
  int err = bpf_map__set_max_entries(skel->maps.pl_conns, sets * PODLENS_CONN_WAYS);
  if (err == 0) {
    err = bpf_map__set_max_entries(skel->maps.pl_events, options.ringBufferBytes);
  }
  if (err != 0) {
    return errnoError("sizing the podlens_tc maps", err);
  }
  err = podlens_tc__load(skel);
  if (err != 0) {
    return errnoError(
        "loading the podlens_tc BPF programs (root or CAP_BPF+CAP_NET_ADMIN needed; the "
        "verifier log is on stderr)",
        err);
  }
  plane->fds_ = skeletonFds(skel);
  return plane;
}

Status DataPlane::probeEmbeddedObject() {
  podlens_tc* skel = podlens_tc__open();
  if (skel == nullptr) {
    return errnoError("opening the embedded podlens_tc BPF object", errno);
  }
  podlens_tc__destroy(skel);
  return ok();
}

int DataPlane::ingressProgramFd() const { return fds_.ingress; }
int DataPlane::egressProgramFd() const { return fds_.egress; }
int DataPlane::selectorsFd() const { return fds_.selectors; }
int DataPlane::connsFd() const { return fds_.conns; }
int DataPlane::eventsFd() const { return fds_.events; }
int DataPlane::lossesFd() const { return fds_.losses; }
int DataPlane::memosFd() const { return fds_.memos; }
int DataPlane::portsFd() const { return fds_.ports; }

Status DataPlane::putSelector(const podlens_selector_key& key,
                              const podlens_selector_value& value) {
  // The filter bit goes first so the kernel never sees a selector its filter hides.
  auto filter = readPortFilter();
  if (!filter) {
    return filter.error();
  }
  podlens_port_filter_set(filter->get(), key.ifindex, key.port);
  if (auto status = writePortFilter(**filter); !status) {
    return status;
  }
  if (bpf_map_update_elem(selectorsFd(), &key, &value, BPF_ANY) != 0) {
    return errnoError("writing selector " + toString(key), errno);
  }
  return publishSelectorChange(std::move(*filter));
}

Status DataPlane::deleteSelector(const podlens_selector_key& key) {
  if (bpf_map_delete_elem(selectorsFd(), &key) != 0 && errno != ENOENT) {
    return errnoError("deleting selector " + toString(key), errno);
  }
  return rebuildPortFilter();
}

Status DataPlane::rebuildPortFilter() {
  auto filter = readPortFilter();
  if (!filter) {
    return filter.error();
  }
  std::fill(std::begin((*filter)->words), std::end((*filter)->words), 0);
  podlens_selector_key key{};
  podlens_selector_key next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(selectorsFd(), prev, &next) == 0) {
    podlens_port_filter_set(filter->get(), next.ifindex, next.port);
    key = next;
    prev = &key;
  }
  return publishSelectorChange(std::move(*filter));
}

Result<std::unique_ptr<podlens_port_filter>> DataPlane::readPortFilter() const {
  const uint32_t zero = 0;
  auto filter = std::make_unique<podlens_port_filter>();
  if (bpf_map_lookup_elem(portsFd(), &zero, filter.get()) != 0) {
    return errnoError("reading the port filter", errno);
  }
  return filter;
}

Status DataPlane::writePortFilter(podlens_port_filter& filter) {
  const uint32_t zero = 0;
  filter.bit_layout = PODLENS_PORT_FILTER_BIT_LAYOUT;
  if (bpf_map_update_elem(portsFd(), &zero, &filter, BPF_ANY) != 0) {
    return errnoError("writing the port filter", errno);
  }
  return ok();
}

// Written after pl_selectors itself: a connection that cached its selector at the old
// generation looks it up again on its next packet.
Status DataPlane::publishSelectorChange(std::unique_ptr<podlens_port_filter> filter) {
  filter->selectors_generation++;
  Status status = writePortFilter(*filter);
  selectorChangeUnpublished_ = !status;
  return status;
}

Status DataPlane::publishUnpublishedSelectorChange() {
  if (!selectorChangeUnpublished_) {
    return ok();
  }
  auto filter = readPortFilter();
  if (!filter) {
    return filter.error();
  }
  return publishSelectorChange(std::move(*filter));
}

Result<LossCounters> DataPlane::readLosses() const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) {
    return errnoError("counting possible CPUs", cpus);
  }
  LossCounters totals{};
  std::vector<uint64_t> perCpu(static_cast<size_t>(cpus));
  for (uint32_t reason = 0; reason < PODLENS_LOSS__COUNT; ++reason) {
    if (bpf_map_lookup_elem(lossesFd(), &reason, perCpu.data()) != 0) {
      return errnoError("reading loss counter " + std::string(lossReasonName(reason)), errno);
    }
    for (uint64_t v : perCpu) {
      totals[reason] += v;
    }
  }
  return totals;
}

Status DataPlane::sweepAnswers() {
  unsigned char frame[64] = {};  // a TC run needs an Ethernet header's worth of packet
  bpf_test_run_opts run{};
  run.sz = sizeof(run);
  run.data_in = frame;
  run.data_size_in = sizeof(frame);
  if (bpf_prog_test_run_opts(fds_.sweep, &run) != 0) {
    return errnoError("running the sweep of answers", errno);
  }
  return ok();
}

uint32_t DataPlane::connectionSets(uint32_t maxConnections) {
  uint32_t sets = 1;
  while (sets * 2 <= maxConnections / PODLENS_CONN_WAYS) {
    sets *= 2;
  }
  return sets;
}

Result<uint32_t> DataPlane::connectionSlots() const {
  bpf_map_info info{};
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(connsFd(), &info, &length) != 0) {
    return errnoError("reading pl_conns' size", errno);
  }
  return info.max_entries;
}

size_t DataPlane::countConnections() const {
  auto slots = connectionSlots();
  if (!slots) {
    return 0;
  }
  const size_t bytes = static_cast<size_t>(*slots) * sizeof(podlens_conn_slot);
  void* table = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, connsFd(), 0);
  if (table == MAP_FAILED) {
    return 0;
  }
  size_t count = 0;
  const auto* slot = static_cast<const podlens_conn_slot*>(table);
  for (uint32_t i = 0; i < *slots; ++i) {
    count += __atomic_load_n(&slot[i].claim, __ATOMIC_RELAXED) == PODLENS_SLOT_READY;
  }
  munmap(table, bytes);
  return count;
}

Result<std::pair<uint32_t, podlens_conn_slot>> DataPlane::readConnectionSlot(
    const podlens_conn_key& key) const {
  auto slots = connectionSlots();
  if (!slots) {
    return slots.error();
  }
  const uint32_t setMask = *slots / PODLENS_CONN_WAYS - 1;
  const uint32_t hash = podlens_conn_hash(&key, connHashSeed_);
  const uint32_t first = podlens_conn_set_first(hash, setMask);
  for (uint32_t way = 0; way < PODLENS_CONN_WAYS; ++way) {
    podlens_conn_slot slot{};
    uint32_t index = first + way;
    if (bpf_map_lookup_elem(connsFd(), &index, &slot) != 0) {
      return errnoError("reading slot " + std::to_string(index) + " of pl_conns", errno);
    }
    if (slot.claim == PODLENS_SLOT_READY && slot.hash == hash && slot.key == key) {
      return std::make_pair(index, slot);
    }
  }
  return Error{"no connection " + toString(key) + " in pl_conns"};
}

Result<uint32_t> DataPlane::findConnectionSlot(const podlens_conn_key& key) const {
  auto found = readConnectionSlot(key);
  if (!found) {
    return found.error();
  }
  return found->first;
}

Result<podlens_conn_state> DataPlane::lookupConnection(const podlens_conn_key& key) const {
  auto found = readConnectionSlot(key);
  if (!found) {
    return found.error();
  }
  return found->second.state;
}

Result<std::vector<std::pair<podlens_selector_key, podlens_selector_value>>>
DataPlane::listSelectors() const {
  std::vector<std::pair<podlens_selector_key, podlens_selector_value>> out;
  podlens_selector_key key{};
  podlens_selector_key next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(selectorsFd(), prev, &next) == 0) {
    podlens_selector_value value{};
    if (bpf_map_lookup_elem(selectorsFd(), &next, &value) == 0) {
      out.emplace_back(next, value);
    } else if (errno != ENOENT) {  // ENOENT: deleted while walking
      return errnoError("reading selector " + toString(next), errno);
    }
    key = next;
    prev = &key;
  }
  return out;
}

Result<std::unique_ptr<EventReader>> EventReader::open(int ringBufferFd, Handler handler) {
  std::unique_ptr<EventReader> reader(new EventReader(std::move(handler)));
  reader->ring_ = ring_buffer__new(ringBufferFd, &EventReader::onRecord, reader.get(), nullptr);
  if (reader->ring_ == nullptr) {
    return errnoError("opening the event ring buffer", errno);
  }
  return reader;
}

EventReader::~EventReader() { ring_buffer__free(ring_); }

bool forEachEventInRecord(const void* data, size_t size,
                          const std::function<void(const podlens_http_event&)>& handler) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  size_t at = 0;
  do {
    podlens_http_event event{};
    if (size - at < PODLENS_EVENT_HEAD_BYTES) {
      return false;
    }
    std::memcpy(&event, bytes + at, PODLENS_EVENT_HEAD_BYTES);
    if (event.path_len > PODLENS_PATH_MAX || size - at < PODLENS_EVENT_BYTES(event.path_len)) {
      return false;
    }
    std::memcpy(event.path, bytes + at + PODLENS_EVENT_HEAD_BYTES, event.path_len);
    handler(event);
    at += PODLENS_EVENT_BYTES(event.path_len);
  } while (at < size);
  return true;
}

int EventReader::onRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventReader*>(ctx);
  bool whole = forEachEventInRecord(data, size, [self](const podlens_http_event& event) {
    self->handler_(event);
    ++self->handled_;
  });
  if (!whole) {
    ++self->malformed_;
  }
  return 0;
}

Result<int> EventReader::drain() {
  handled_ = 0;
  int n = ring_buffer__consume(ring_);
  if (n < 0) {
    return errnoError("consuming the event ring buffer", n);
  }
  return handled_;
}

Result<int> EventReader::poll(int timeoutMs) {
  handled_ = 0;
  int n = ring_buffer__poll(ring_, timeoutMs);
  if (n < 0 && n != -EINTR) {
    return errnoError("polling the event ring buffer", n);
  }
  int polled = handled_;
  // The kernel wakes readers only once PODLENS_EVENTS_WAKEUP_BYTES are waiting: whatever
  // arrived without a wake-up is taken here, after the timeout.
  auto rest = drain();
  if (!rest) {
    return rest.error();
  }
  return polled + *rest;
}

}  // namespace podlens

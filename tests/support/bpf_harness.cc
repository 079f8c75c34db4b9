#include "bpf_harness.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace podlens::test {
namespace {

template <typename T>
T orThrow(Result<T> result, const char* what) {
  if (!result.ok()) {
    throw std::runtime_error(std::string(what) + ": " + result.error().message);
  }
  return std::move(result).value();
}

}  // namespace

BpfHarness::BpfHarness(DataPlaneOptions options) {
  plane_ = orThrow(DataPlane::load(options), "load");
  auto collect = [this](const podlens_http_event& e) { events_.push_back(e); };
  reader_ = orThrow(EventReader::open(plane_->eventsFd(), collect), "ring buffer");
}

void BpfHarness::select(uint16_t port, uint8_t direction, uint8_t captureFlags,
                        uint32_t policyId) {
  putSelector(kTestIfindex, port, direction, captureFlags, policyId);
}

podlens_selector_key BpfHarness::selectOn(uint32_t ifindex, uint16_t port, uint8_t direction) {
  return putSelector(ifindex, port, direction, 0, 7);
}

podlens_selector_key BpfHarness::putSelector(uint32_t ifindex, uint16_t port, uint8_t direction,
                                             uint8_t captureFlags, uint32_t policyId) {
  podlens_selector_key key{};
  key.ifindex = ifindex;
  key.port = port;
  key.direction = direction;
  podlens_selector_value value{};
  value.protocol = PODLENS_PROTO_HTTP1;
  value.capture_flags = captureFlags;
  value.policy_id = policyId;
  orThrow(plane_->putSelector(key, value), "selector");
  return key;
}

static int testRun(int progFd, const Segment& segment, uint32_t repeat, uint32_t* duration) {
  __sk_buff ctx{};
  ctx.ifindex = kTestIfindex;
  if (segment.gsoSize > 0) {
    ctx.gso_size = segment.gsoSize;
    ctx.gso_segs = static_cast<uint32_t>((segment.frame.size() + segment.gsoSize - 1) /
                                         segment.gsoSize);
  }
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = segment.frame.data();
  opts.data_size_in = static_cast<uint32_t>(segment.frame.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.repeat = repeat;
  if (bpf_prog_test_run_opts(progFd, &opts) != 0) {
    throw std::runtime_error(std::string("BPF_PROG_TEST_RUN: ") + std::strerror(errno));
  }
  if (duration != nullptr) {
    *duration = opts.duration;
  }
  return static_cast<int>(opts.retval);
}

int BpfHarness::run(const Segment& segment) {
  int fd = segment.fromPod ? plane_->ingressProgramFd() : plane_->egressProgramFd();
  return testRun(fd, segment, 1, nullptr);
}

void BpfHarness::runAll(const std::vector<Segment>& segments) {
  for (const Segment& s : segments) {
    run(s);
  }
}

uint32_t BpfHarness::timeRun(const Segment& segment, uint32_t repeat) {
  return timeProgram(segment.fromPod ? plane_->ingressProgramFd() : plane_->egressProgramFd(),
                     segment, repeat);
}

uint32_t BpfHarness::timeProgram(int progFd, const Segment& segment, uint32_t repeat) {
  uint32_t duration = 0;
  testRun(progFd, segment, repeat, &duration);
  return duration;
}

void BpfHarness::sweepAnswers() { orThrow(plane_->sweepAnswers(), "sweeping the answers"); }

std::vector<podlens_http_event> BpfHarness::takeEvents() {
  sweepAnswers();
  orThrow(reader_->drain(), "drain");
  std::vector<podlens_http_event> out;
  out.swap(events_);
  return out;
}

podlens_conn_key BpfHarness::connKey(const TcpFlow& flow) {
  podlens_conn_key key{};
  key.ifindex = kTestIfindex;
  key.pod_port = flow.podEnd().port;
  key.peer_port = flow.peerEnd().port;
  key.family = flow.v6() ? PODLENS_AF_INET6 : PODLENS_AF_INET;
  int af = flow.v6() ? AF_INET6 : AF_INET;
  if (inet_pton(af, flow.podEnd().addr.c_str(), key.pod_addr) != 1 ||
      inet_pton(af, flow.peerEnd().addr.c_str(), key.peer_addr) != 1) {
    throw std::runtime_error("connKey: bad address in the flow");
  }
  return key;
}

std::optional<podlens_conn_state> BpfHarness::connection(const TcpFlow& flow) const {
  Result<podlens_conn_state> state = plane_->lookupConnection(connKey(flow));
  if (!state.ok()) {
    return std::nullopt;
  }
  return std::move(state).value();
}

void BpfHarness::putConnection(const TcpFlow& flow, const podlens_conn_state& state) {
  podlens_conn_key key = connKey(flow);
  Result<uint32_t> index = plane_->findConnectionSlot(key);
  if (!index.ok()) {
    throw std::runtime_error("putConnection: " + index.error().message);
  }
  podlens_conn_slot slot{};
  if (bpf_map_lookup_elem(plane_->connsFd(), &*index, &slot) != 0) {
    throw std::runtime_error("putConnection " + toString(key) + ": " + std::strerror(errno));
  }
  slot.state = state;
  if (bpf_map_update_elem(plane_->connsFd(), &*index, &slot, BPF_EXIST) != 0) {
    throw std::runtime_error("putConnection " + toString(key) + ": " + std::strerror(errno));
  }
}

podlens_header_memo BpfHarness::memo(uint16_t serverPort, int cpu) const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0 || cpu < 0 || cpu >= cpus) {
    throw std::runtime_error("memo: no CPU " + std::to_string(cpu));
  }
  std::vector<podlens_header_memo> perCpu(cpus);  // 280 bytes: already a multiple of 8
  uint32_t slot = podlens_memo_slot(kTestIfindex, serverPort);
  if (bpf_map_lookup_elem(plane_->memosFd(), &slot, perCpu.data()) != 0) {
    throw std::runtime_error(std::string("memo: ") + std::strerror(errno));
  }
  return perCpu[cpu];
}

void BpfHarness::clearMemos() {
  std::vector<podlens_header_memo> empty(libbpf_num_possible_cpus());
  for (uint32_t slot = 0; slot < PODLENS_MEMO_SLOTS; ++slot) {
    if (bpf_map_update_elem(plane_->memosFd(), &slot, empty.data(), BPF_ANY) != 0) {
      throw std::runtime_error(std::string("clearMemos: ") + std::strerror(errno));
    }
  }
}

LossCounters BpfHarness::losses() const { return orThrow(plane_->readLosses(), "losses"); }

}  // namespace podlens::test

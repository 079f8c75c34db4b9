// Drives the real podlens_tc programs through BPF_PROG_TEST_RUN (needs root).
#pragma once

#include <podlens/dataplane.hpp>

#include <memory>
#include <optional>
#include <vector>

#include "packet_builder.hpp"

namespace podlens::test {

// ifindex the test runs see: BPF_PROG_TEST_RUN runs on the loopback device.
constexpr uint32_t kTestIfindex = 1;

class BpfHarness {
 public:
  explicit BpfHarness(DataPlaneOptions options = {});

  // Observes port as Inbound (pod serves) or Outbound (pod calls it) on kTestIfindex.
  void select(uint16_t port, uint8_t direction, uint8_t captureFlags = 0,
              uint32_t policyId = 7);
  // The same on another interface (another pod's veth, which test runs never see); returns
  // the selector's key.
  podlens_selector_key selectOn(uint32_t ifindex, uint16_t port, uint8_t direction);
  // Runs the segment through ingress (fromPod) or egress; returns the program's verdict.
  int run(const Segment& segment);
  void runAll(const std::vector<Segment>& segments);
  // Runs a frame with repeat and returns the kernel's mean ns per run.
  uint32_t timeRun(const Segment& segment, uint32_t repeat);
  // The same through any TC program (a baseline program, say).
  static uint32_t timeProgram(int progFd, const Segment& segment, uint32_t repeat);

  // Events submitted since the last call, the answers no packet has emitted yet swept out
  // first (as the controller's sweep would).
  std::vector<podlens_http_event> takeEvents();
  // Runs the sweep of answers (DataPlane::sweepAnswers) once.
  void sweepAnswers();
  LossCounters losses() const;
  // flow's pl_conns key on kTestIfindex, its state (nullopt when there is none), and a
  // write of that state (the entry must exist): for tests that stage what another CPU does.
  static podlens_conn_key connKey(const TcpFlow& flow);
  std::optional<podlens_conn_state> connection(const TcpFlow& flow) const;
  void putConnection(const TcpFlow& flow, const podlens_conn_state& state);
  // The response header memo (pl_memos) of a server on port of kTestIfindex, as CPU cpu
  // holds it (test runs use the memos of the CPU they run on: pin the thread), and every
  // CPU's memos emptied.
  podlens_header_memo memo(uint16_t serverPort, int cpu) const;
  void clearMemos();
  DataPlane& plane() { return *plane_; }

 private:
  podlens_selector_key putSelector(uint32_t ifindex, uint16_t port, uint8_t direction,
                                   uint8_t captureFlags, uint32_t policyId);

  std::unique_ptr<DataPlane> plane_;
  std::unique_ptr<EventReader> reader_;
  std::vector<podlens_http_event> events_;
};

}  // namespace podlens::test

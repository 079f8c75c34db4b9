// podlens-cni as a neighbour in the TC chain and as the way traffic reaches the data plane:
// a foreign cls_bpf program keeps running while podlens attaches and detaches, and real HTTP
// through an attached veth produces an event once a selector names it.
#include <podlens/dataplane.hpp>

#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cni_test_util.hpp"
#include "counter_tc.skel.h"

namespace podlens::test {
namespace {

using nlohmann::json;

std::string addressOf(const json& result) {
  const std::string cidr = result["ips"][0]["address"];
  return cidr.substr(0, cidr.find('/'));
}

// A few packets each way on the pod's veth: a TCP connection attempt the pod refuses.
void poke(const std::string& podAddress) {
  for (int i = 0; i < 3; ++i) {
    runShell("curl -s --max-time 1 http://" + podAddress + ":9/ >/dev/null");
  }
}

uint64_t seen(const counter_tc* counter) {
  uint32_t zero = 0;
  uint64_t count = 0;
  bpf_map_lookup_elem(bpf_map__fd(counter->maps.seen), &zero, &count);
  return count;
}

class ForeignProgramTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ForeignProgramTest, KeepsRunningAndSeeingPacketsAcrossPodlensAttachAndDetach) {
  PODLENS_REQUIRE_CNITOOL();
  CniNetwork net({Primary::kBridge, "1.0.0", /*withPodlens=*/false, {}});
  ScopedNetns pod;
  auto added = net.cnitool("add", pod);  // the primary plugin only; podlens runs by hand below
  ASSERT_TRUE(added.ok()) << added.err;
  const json prevResult = json::parse(added.out);
  const std::string veth = ifnameOf(hostPeerIfindex(pod));
  const std::string podAddress = addressOf(prevResult);

  // Another CNI's program: its own clsact qdisc, cls_bpf at priority 1, handle 1 (as Cilium's).
  std::unique_ptr<counter_tc, void (*)(counter_tc*)> counter(counter_tc__open_and_load(),
                                                             counter_tc__destroy);
  ASSERT_TRUE(counter);
  const std::string pin = net.pinRoot() + "/foreign_counter";
  ASSERT_EQ(bpf_obj_pin(bpf_program__fd(counter->progs.foreign_counter), pin.c_str()), 0);
  ASSERT_TRUE(runShell("tc qdisc add dev " + veth + " clsact").ok());
  for (const char* dir : {"ingress", "egress"}) {
    auto filter = runShell("tc filter add dev " + veth + " " + dir +
                           " pref 1 handle 1 bpf da object-pinned " + pin);
    ASSERT_TRUE(filter.ok()) << filter.err;
  }
  poke(podAddress);
  const uint64_t before = seen(counter.get());
  ASSERT_GT(before, 0u);

  const std::string id = CniNetwork::containerIdOf(pod);
  const std::map<std::string, std::string> env{{"CNI_CONTAINERID", id},
                                               {"CNI_NETNS", pod.path()},
                                               {"CNI_IFNAME", "eth0"}};
  auto addEnv = env, delEnv = env;
  addEnv["CNI_COMMAND"] = "ADD";
  delEnv["CNI_COMMAND"] = "DEL";
  auto attached = net.plugin(addEnv, {{"prevResult", prevResult}, {"attachMode", GetParam()}});
  ASSERT_TRUE(attached.ok()) << attached.out;
  EXPECT_EQ(json::parse(attached.out), prevResult);
  EXPECT_TRUE(attachedOn(hostPeerIfindex(pod), *parseAttachMode(GetParam())).both());
  poke(podAddress);
  const uint64_t withPodlens = seen(counter.get());
  EXPECT_GT(withPodlens, before);

  ASSERT_TRUE(net.plugin(delEnv).ok());
  poke(podAddress);
  EXPECT_GT(seen(counter.get()), withPodlens);
  for (const char* dir : {"ingress", "egress"}) {
    auto shown = runShell("tc filter show dev " + veth + " " + dir);
    EXPECT_NE(shown.out.find("foreign_counter"), std::string::npos) << shown.out;
    EXPECT_EQ(shown.out.find("podlens"), std::string::npos) << shown.out;
  }
  EXPECT_NE(runShell("tc qdisc show dev " + veth).out.find("clsact"), std::string::npos);
  EXPECT_TRUE(net.cnitool("del", pod).ok());
}

INSTANTIATE_TEST_SUITE_P(Modes, ForeignProgramTest, ::testing::Values("tcx", "clsact"),
                         [](const auto& info) { return std::string(info.param); });

TEST(CniTrafficTest, HttpThroughAnAttachedVethProducesAnEventOnceSelected) {
  PODLENS_REQUIRE_CNITOOL();
  CniNetwork net;
  ScopedNetns pod;
  auto added = net.cnitool("add", pod);
  ASSERT_TRUE(added.ok()) << added.err;
  const std::string podAddress = addressOf(json::parse(added.out));
  const uint32_t ifindex = hostPeerIfindex(pod);
  auto server = runShell("ip netns exec " + pod.name() + " timeout 30 python3 -m http.server 8080 --bind " +
                         podAddress + " >/dev/null 2>&1 & echo $!");
  const std::string url = "http://" + podAddress + ":8080/";
  bool up = false;
  for (int i = 0; i < 50 && !up; ++i) {
    up = runShell("curl -s -o /dev/null --max-time 1 " + url).ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(up) << "python3 http.server did not start in " << pod.name();

  auto plane = DataPlane::openPinned(net.pinRoot());  // what the controller would do
  ASSERT_TRUE(plane.ok()) << plane.error().message;
  podlens_selector_key key{ifindex, 8080, PODLENS_DIR_INBOUND, 0};
  podlens_selector_value value{PODLENS_PROTO_HTTP1, 0, 0, 77};
  ASSERT_TRUE((*plane)->putSelector(key, value).ok());
  std::vector<podlens_http_event> events;
  auto reader = EventReader::open((*plane)->eventsFd(),
                                  [&](const podlens_http_event& e) { events.push_back(e); });
  ASSERT_TRUE(reader.ok());

  ASSERT_TRUE(runShell("curl -s -o /dev/null --max-time 2 " + url + "index.html?x=1").ok());
  for (int i = 0; i < 20 && events.empty(); ++i) {
    (void)(*reader)->poll(100);
  }
  runShell("kill " + server.out);
  ASSERT_FALSE(events.empty());
  const podlens_http_event& e = events.front();
  EXPECT_EQ(e.ifindex, ifindex);
  EXPECT_EQ(e.policy_id, 77u);
  EXPECT_EQ(e.method, PODLENS_METHOD_GET);
  EXPECT_EQ(e.direction, PODLENS_DIR_INBOUND);
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(eventPath(e), "/index.html");
  EXPECT_TRUE(net.cnitool("del", pod).ok());
}

}  // namespace
}  // namespace podlens::test

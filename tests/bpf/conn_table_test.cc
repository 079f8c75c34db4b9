// BPF tier: pl_conns, the set-associative connection table (bpf/lib/conn_table.h): which slot
// a new connection takes when its set is full, what the connection it evicts loses, and a
// closed connection's slot going back to the table.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "support/bpf_harness.hpp"
#include "support/require_root.hpp"

namespace podlens::test {
namespace {

std::string simpleRequest(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n";
}
const char* kOkResponse = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

// Flows to port 8080 from client ports chosen so that `count` of them hash to set 0 of a table
// of `sets` sets hashed with `seed` (podlens_conn_hash, as the programs do).
std::vector<TcpFlow> flowsOfSetZero(size_t count, uint64_t seed, uint32_t sets) {
  std::vector<TcpFlow> flows;
  for (uint16_t port = 40000; flows.size() < count; ++port) {
    TcpFlow flow({"10.7.0.2", port}, {"10.7.0.1", 8080}, /*podIsServer=*/true);
    podlens_conn_key key = BpfHarness::connKey(flow);
    if (podlens_conn_set_first(podlens_conn_hash(&key, seed), sets - 1) == 0) {
      flows.push_back(flow);
    }
  }
  return flows;
}

// The same for the table of two sets of harness h.
constexpr uint32_t kSlots = 2 * PODLENS_CONN_WAYS;
std::vector<TcpFlow> flowsOfSetZero(size_t count, BpfHarness& h) {
  return flowsOfSetZero(count, h.plane().connectionHashSeed(), DataPlane::connectionSets(kSlots));
}

DataPlaneOptions twoSets() {
  DataPlaneOptions options;
  options.maxConnections = kSlots;
  return options;
}

TEST(ConnTable, TableSizeIsAPowerOfTwoOfSets) {
  EXPECT_EQ(DataPlane::connectionSets(16384), 4096u);
  EXPECT_EQ(DataPlane::connectionSets(16383), 2048u);  // rounded down
  EXPECT_EQ(DataPlane::connectionSets(8), 2u);
  EXPECT_EQ(DataPlane::connectionSets(1), 1u);  // at least one set
}

// Each table the loader creates has a hash seed of its own, and its programs hash with it:
// flows that share a set under one table's seed spread over the sets of another, where the
// programs put each in the set user space looks in.
TEST(ConnTable, EachLoadedTableHashesWithASeedOfItsOwn) {
  PODLENS_REQUIRE_ROOT();
  DataPlaneOptions options;
  options.maxConnections = 1024;
  const uint32_t sets = DataPlane::connectionSets(options.maxConnections);
  BpfHarness first(options);
  BpfHarness second(options);
  EXPECT_NE(first.plane().connectionHashSeed(), second.plane().connectionHashSeed());
  second.select(8080, PODLENS_DIR_INBOUND);
  std::set<uint32_t> setsTaken;
  for (TcpFlow& flow :
       flowsOfSetZero(PODLENS_CONN_WAYS, first.plane().connectionHashSeed(), sets)) {
    second.runAll({flow.clientSyn(), flow.client(simpleRequest("/"))});
    auto slot = second.plane().findConnectionSlot(BpfHarness::connKey(flow));
    ASSERT_TRUE(slot.ok()) << slot.error().message;
    setsTaken.insert(*slot / PODLENS_CONN_WAYS);
  }
  EXPECT_GT(setsTaken.size(), 1u) << "four flows of one set under another seed, all in set "
                                  << *setsTaken.begin() << " of " << sets;
}

// A full set gives a new connection the slot of its least recently active one: here the
// second of four, as the first sent a request after the others. The evicted connection's
// request, still waiting, is counted as unanswered; the others go on.
TEST(ConnTable, NewConnectionEvictsTheLeastRecentlyActiveOfItsSet) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h(twoSets());
  h.select(8080, PODLENS_DIR_INBOUND);
  std::vector<TcpFlow> flows = flowsOfSetZero(PODLENS_CONN_WAYS + 1, h);
  for (size_t i = 0; i < PODLENS_CONN_WAYS; ++i) {
    h.runAll({flows[i].clientSyn(), flows[i].client(simpleRequest("/" + std::to_string(i)))});
  }
  h.runAll({flows[0].server(kOkResponse), flows[0].client(simpleRequest("/0-again"))});
  ASSERT_EQ(h.plane().countConnections(), static_cast<size_t>(PODLENS_CONN_WAYS));

  TcpFlow& newcomer = flows[PODLENS_CONN_WAYS];
  h.runAll({newcomer.clientSyn(), newcomer.client(simpleRequest("/new"))});
  EXPECT_FALSE(h.connection(flows[1]).has_value()) << "the least recently active one goes";
  for (size_t i : {size_t{0}, size_t{2}, size_t{3}, size_t{PODLENS_CONN_WAYS}}) {
    EXPECT_TRUE(h.connection(flows[i]).has_value()) << "flow " << i;
  }
  EXPECT_EQ(h.losses()[PODLENS_LOSS_REQUEST_UNANSWERED], 1u);
  EXPECT_EQ(h.losses()[PODLENS_LOSS_CONN_MAP_FULL], 0u);

  for (size_t i : {size_t{0}, size_t{2}, size_t{3}, size_t{PODLENS_CONN_WAYS}}) {
    h.run(flows[i].server(kOkResponse));
  }
  std::vector<std::string> paths;
  for (const podlens_http_event& e : h.takeEvents()) {
    paths.emplace_back(eventPath(e));
  }
  std::sort(paths.begin(), paths.end());  // emitters (packets, the sweep) write in any order
  EXPECT_EQ(paths, (std::vector<std::string>{"/0", "/0-again", "/2", "/3", "/new"}));
}

// A connection a CPU is parsing (its stream taken) is never evicted: with every slot of the
// set busy, the new connection gets no state, and that is counted.
TEST(ConnTable, BusyConnectionsAreNotEvicted) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h(twoSets());
  h.select(8080, PODLENS_DIR_INBOUND);
  std::vector<TcpFlow> flows = flowsOfSetZero(PODLENS_CONN_WAYS + 1, h);
  for (size_t i = 0; i < PODLENS_CONN_WAYS; ++i) {
    h.run(flows[i].clientSyn());
    podlens_conn_state state = h.connection(flows[i]).value();
    state.resp.busy = 1;
    h.putConnection(flows[i], state);
  }
  h.run(flows[PODLENS_CONN_WAYS].clientSyn());
  EXPECT_FALSE(h.connection(flows[PODLENS_CONN_WAYS]).has_value());
  EXPECT_EQ(h.losses()[PODLENS_LOSS_CONN_MAP_FULL], 1u);
  for (size_t i = 0; i < PODLENS_CONN_WAYS; ++i) {
    EXPECT_TRUE(h.connection(flows[i]).has_value()) << "flow " << i;
  }
}

// A connection closed both ways leaves the table, and its slot takes the next one without
// evicting anybody.
TEST(ConnTable, ClosedConnectionsFreeTheirSlots) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h(twoSets());
  h.select(8080, PODLENS_DIR_INBOUND);
  std::vector<TcpFlow> flows = flowsOfSetZero(2 * PODLENS_CONN_WAYS, h);
  for (TcpFlow& flow : flows) {
    h.runAll({flow.clientSyn(), flow.serverSynAck(), flow.client(simpleRequest("/c")),
              flow.server(kOkResponse), flow.clientFin(), flow.serverFin()});
    EXPECT_EQ(h.plane().countConnections(), 0u);
  }
  EXPECT_EQ(h.takeEvents().size(), flows.size());
  EXPECT_EQ(h.losses()[PODLENS_LOSS_CONN_MAP_FULL], 0u);
  EXPECT_EQ(h.losses()[PODLENS_LOSS_REQUEST_UNANSWERED], 0u);
}

// A slot keeps what its last connection left in the request FIFO (only the streams, head and
// tail are reset): the next connection in it reads none of that. Here the old connection
// had three pipelined requests with long paths; the new one's event has its own short path,
// and when it closes with one request unanswered exactly one is counted.
TEST(ConnTable, AReusedSlotCarriesNothingOfItsLastConnection) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h(twoSets());
  h.select(8080, PODLENS_DIR_INBOUND);
  std::vector<TcpFlow> flows = flowsOfSetZero(2, h);
  TcpFlow& old = flows[0];
  const std::string longPath = "/" + std::string(80, 'x');
  h.runAll({old.clientSyn(), old.serverSynAck(),
            old.client(simpleRequest(longPath + "1") + simpleRequest(longPath + "2") +
                       simpleRequest(longPath + "3")),
            old.server(std::string(kOkResponse) + kOkResponse + kOkResponse), old.clientFin(),
            old.serverFin()});
  ASSERT_EQ(h.takeEvents().size(), 3u);
  ASSERT_EQ(h.plane().countConnections(), 0u);

  TcpFlow& next = flows[1];
  h.runAll({next.clientSyn(), next.serverSynAck(), next.client(simpleRequest("/b")),
            next.server(kOkResponse), next.client(simpleRequest("/c")), next.clientFin(),
            next.serverFin()});
  std::vector<podlens_http_event> events = h.takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/b");
  EXPECT_EQ(events[0].path_len, 2u);
  EXPECT_EQ(h.losses()[PODLENS_LOSS_REQUEST_UNANSWERED], 1u);  // "/c"
  EXPECT_EQ(h.losses()[PODLENS_LOSS_UNMATCHED_RESPONSE], 0u);
}

// A SYN on the tuple of an open connection replaces its state in the same slot: one
// connection in the table, not two.
TEST(ConnTable, NewSynOnTheSameTupleReusesItsSlot) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h(twoSets());
  h.select(8080, PODLENS_DIR_INBOUND);
  TcpFlow flow = flowsOfSetZero(1, h)[0];
  h.runAll({flow.clientSyn(), flow.client(simpleRequest("/old"))});
  uint32_t slot = h.plane().findConnectionSlot(BpfHarness::connKey(flow)).value();
  ASSERT_EQ(h.connection(flow)->head - h.connection(flow)->tail, 1u) << "/old waits";
  h.run(flow.clientSyn());
  ASSERT_TRUE(h.connection(flow).has_value());
  EXPECT_EQ(h.connection(flow)->head, h.connection(flow)->tail) << "a fresh state";
  h.runAll({flow.client(simpleRequest("/new")), flow.server(kOkResponse)});
  EXPECT_EQ(h.plane().countConnections(), 1u);
  EXPECT_EQ(h.plane().findConnectionSlot(BpfHarness::connKey(flow)).value(), slot);
  std::vector<podlens_http_event> events = h.takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/new");
  EXPECT_EQ(h.losses()[PODLENS_LOSS_REQUEST_UNANSWERED], 1u);  // /old, replaced
  EXPECT_EQ(h.losses()[PODLENS_LOSS_CONN_MAP_FULL], 0u);
}

// The FIFO's slots outlive a connection (a new state rewrites only head, tail and the
// streams). A response that comes before any request of the new connection finds the
// earlier connection's answered request in its slot, and must not take it: request numbers
// start at each connection's first sequence number, so that slot holds another number.
TEST(ConnTable, AResponseOnAReusedSlotTakesNoRequestOfTheEarlierConnection) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h(twoSets());
  h.select(8080, PODLENS_DIR_INBOUND);
  TcpFlow flow = flowsOfSetZero(1, h)[0];
  h.runAll({flow.clientSyn(), flow.client(simpleRequest("/old")), flow.server(kOkResponse)});
  ASSERT_EQ(h.takeEvents().size(), 1u);
  h.runAll({flow.clientSyn(), flow.server(kOkResponse)});
  EXPECT_TRUE(h.takeEvents().empty()) << "the early response took /old's slot";
  EXPECT_EQ(h.losses()[PODLENS_LOSS_UNMATCHED_RESPONSE], 1u);
  h.runAll({flow.client(simpleRequest("/new")), flow.server(kOkResponse)});
  std::vector<podlens_http_event> events = h.takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/new");
}

}  // namespace
}  // namespace podlens::test

// BPF tier: the real podlens_tc programs, driven by crafted segments through
// BPF_PROG_TEST_RUN. Each row is one conversation and the exact events and loss counters it
// must produce. Needs root (CAP_BPF + CAP_NET_ADMIN).
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support/bpf_harness.hpp"
#include "support/require_root.hpp"

namespace podlens::test {
namespace {

constexpr uint16_t kServerPort = 8080;

struct ExpectedEvent {
  uint8_t method;
  std::string path;
  uint16_t status;
  uint8_t flags = 0;
};

struct ParserCase {
  std::string name;
  std::function<std::vector<Segment>(TcpFlow&)> traffic;
  std::vector<ExpectedEvent> events;
  std::map<podlens_loss_reason, uint64_t> losses;  // every other reason must stay 0
  bool podIsServer = true;
  bool v6 = false;
  uint8_t captureFlags = 0;
  bool midStream = false;  // no handshake first: the connection predates the observation
};

void PrintTo(const ParserCase& c, std::ostream* out) { *out << c.name; }

std::string request(const std::string& method, const std::string& target,
                    const std::string& extraHeaders = "", const std::string& body = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: svc.example\r\n" + extraHeaders;
  if (!body.empty()) {
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

std::string response(int status, const std::string& body = "", const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nServer: t\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// n header lines of about 100 bytes each.
std::string bulkHeaders(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += "X-Filler-" + std::to_string(i) + ": " + std::string(86, 'a' + i % 26) + "\r\n";
  }
  return out;
}

std::vector<Segment> concat(std::vector<std::vector<Segment>> parts) {
  std::vector<Segment> out;
  for (auto& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

std::vector<ParserCase> parserCases() {
  const std::string big = std::string(30, 'b');
  return {
      {"single segment request and response",
       [](TcpFlow& f) {
         return concat({
                        {f.client(request("GET", "/hello")), f.server(response(200, "hello"))}});
       },
       {{PODLENS_METHOD_GET, "/hello", 200}}},

      {"request line split over three segments",
       [](TcpFlow& f) {
         return concat({f.clientSplit(request("GET", "/api/v1/items"), {2, 9}),
                        {f.server(response(200, "ok"))}});
       },
       {{PODLENS_METHOD_GET, "/api/v1/items", 200}}},

      {"status line and Content-Length split over segments",
       [](TcpFlow& f) {
         std::string resp = response(503, "unavailable");  // "Content-Length" at 32..
         return concat({{f.client(request("GET", "/a"))},
                        f.serverSplit(resp, {3, 10, 36, 48}), {f.client(request("GET", "/b"))},
                        {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/a", 503}, {PODLENS_METHOD_GET, "/b", 200}}},

      {"4 KB of request headers over several segments, body after them",
       [](TcpFlow& f) {
         std::string req = request("POST", "/upload", bulkHeaders(40), "0123456789");
         return concat({f.clientSplit(req, {1448, 2896, 4000}),
                        {f.server(response(201, "created"))}});
       },
       {{PODLENS_METHOD_POST, "/upload", 201}}},

      {"4 KB of response headers with Content-Length split across segments",
       [](TcpFlow& f) {
         std::string resp = "HTTP/1.1 200 OK\r\n" + bulkHeaders(40) + "Content-Length: 12\r\n\r\n" +
                            "twelve bytes";
         size_t cl = resp.find("Content-Length");
         return concat({{f.client(request("GET", "/big-headers"))},
                        f.serverSplit(resp, {1448, cl + 4, cl + 17}),
                        {f.client(request("GET", "/next"))}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/big-headers", 200}, {PODLENS_METHOD_GET, "/next", 200}}},

      {"GSO super-packet holding the whole request",
       [](TcpFlow& f) {
         Segment gso = f.client(request("PUT", "/objects/42", bulkHeaders(25), "payload"));
         gso.gsoSize = 1448;
         return concat({{gso, f.server(response(200, "stored"))}});
       },
       {{PODLENS_METHOD_PUT, "/objects/42", 200}}},

      {"three keep-alive transactions with bodies both ways",
       [big](TcpFlow& f) {
         std::string body(40, 'r');
         std::string resp1 = response(200, big);
         return concat(
             {{f.client(request("POST", "/one", "", body))},
              f.serverSplit(resp1, {resp1.size() - 10}),  // body split across segments
              f.clientSplit(request("PUT", "/two", "", body), {70}),
              {f.server(response(404, "missing"))},
              {f.client(request("DELETE", "/three", "", "x"))},
              {f.server(response(500, big))}});
       },
       {{PODLENS_METHOD_POST, "/one", 200},
        {PODLENS_METHOD_PUT, "/two", 404},
        {PODLENS_METHOD_DELETE, "/three", 500}}},

      {"IPv6 request and response",
       [](TcpFlow& f) {
         return concat({
                        f.clientSplit(request("GET", "/v6/path"), {5}),
                        {f.server(response(200, "six"))}});
       },
       {{PODLENS_METHOD_GET, "/v6/path", 200}},
       {},
       true,
       true},

      {"malformed request line is counted, the next request is parsed",
       [](TcpFlow& f) {
         return concat({{f.client("G3T /x HTTP/1.1\r\n\r\n")},
                        {f.client(request("GET", "/after"))}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/after", 200}},
       {{PODLENS_LOSS_UNPARSABLE, 1}}},

      {"query string is stripped by default",
       [](TcpFlow& f) {
         return concat({{f.client(request("GET", "/search?q=secret&page=2"))},
                        {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/search", 200}}},

      {"query string kept when the selector asks for it",
       [](TcpFlow& f) {
         return concat({{f.client(request("GET", "/search?q=1"))},
                        {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/search?q=1", 200}},
       {},
       true,
       false,
       PODLENS_CAPTURE_KEEP_QUERY},

      {"long path is truncated and counted",
       [](TcpFlow& f) {
         return concat({{f.client(request("GET", "/" + std::string(200, 'p')))},
                        {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/" + std::string(PODLENS_PATH_MAX - 1, 'p'), 200,
         PODLENS_EVENT_PATH_TRUNCATED}},
       {{PODLENS_LOSS_PATH_TRUNCATED, 1}}},

      {"HEAD, 204 and 304 responses have no body",
       [](TcpFlow& f) {
         return concat({{f.client(request("HEAD", "/h"))},
                        {f.server("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")},
                        {f.client(request("DELETE", "/d"))},
                        {f.server("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n")},
                        {f.client(request("GET", "/c"))},
                        {f.server("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n")},
                        {f.client(request("GET", "/after"))}, {f.server(response(200, "x"))}});
       },
       {{PODLENS_METHOD_HEAD, "/h", 200},
        {PODLENS_METHOD_DELETE, "/d", 204},
        {PODLENS_METHOD_GET, "/c", 304},
        {PODLENS_METHOD_GET, "/after", 200}}},

      {"retransmitted segments are not counted twice",
       [](TcpFlow& f) {
         std::string req = request("GET", "/retx");
         Segment first = f.client(req);
         Segment resp = f.server(response(200, "r"));
         return concat({{first, first, resp, resp}});
       },
       {{PODLENS_METHOD_GET, "/retx", 200}}},

      {"a missing header segment is counted; the next request resynchronises",
       [](TcpFlow& f) {
         std::string req = request("GET", "/lost", bulkHeaders(3));
         std::vector<Segment> parts = f.clientSplit(req, {20, 120});
         return concat({{parts[0], parts[2]}, {f.client(request("GET", "/found"))},
                        {f.server(response(200, "a"))}});
       },
       {{PODLENS_METHOD_GET, "/found", 200}},
       {{PODLENS_LOSS_SEQ_GAP, 1}}},

      {"a missing body segment is skipped without losing framing",
       [](TcpFlow& f) {
         std::string resp = response(200, std::string(3000, 'z'));
         std::vector<Segment> parts = f.serverSplit(resp, {1448, 2896});
         return concat({{f.client(request("GET", "/file"))}, {parts[0], parts[2]},
                        {f.client(request("GET", "/next"))}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/file", 200}, {PODLENS_METHOD_GET, "/next", 200}}},

      {"response without length ends at FIN",
       [](TcpFlow& f) {
         return concat({{f.client("GET /legacy HTTP/1.0\r\n\r\n")},
                        {f.server("HTTP/1.0 200 OK\r\nServer: old\r\n\r\nbody until close")},
                        {f.serverFin()}});
       },
       {{PODLENS_METHOD_GET, "/legacy", 200,
         PODLENS_EVENT_HTTP10 | PODLENS_EVENT_ENDED_BY_CLOSE}}},

      {"outbound: the pod is the client",
       [](TcpFlow& f) {
         return concat({{f.client(request("PATCH", "/remote/1", "", "{}"))},
                        {f.server(response(202))}});
       },
       {{PODLENS_METHOD_PATCH, "/remote/1", 202}},
       {},
       false},

      {"two pipelined requests answered in order",
       [](TcpFlow& f) {
         return concat({
                        {f.client(request("GET", "/p1") + request("GET", "/p2"))},
                        {f.server(response(200, "one") + response(201, "two"))}});
       },
       {{PODLENS_METHOD_GET, "/p1", 200}, {PODLENS_METHOD_GET, "/p2", 201}}},

      {"pipeline deeper than the FIFO is counted",
       [](TcpFlow& f) {
         std::string five, answers;
         for (int i = 1; i <= 5; ++i) {
           five += request("GET", "/q" + std::to_string(i));
           answers += response(200);
         }
         return concat({{f.client(five)}, {f.server(answers)}});
       },
       {{PODLENS_METHOD_GET, "/q1", 200},
        {PODLENS_METHOD_GET, "/q2", 200},
        {PODLENS_METHOD_GET, "/q3", 200},
        {PODLENS_METHOD_GET, "/q4", 200}},
       {{PODLENS_LOSS_PIPELINE_OVERFLOW, 1}, {PODLENS_LOSS_UNMATCHED_RESPONSE, 1}}},

      {"interim 100 Continue before the final response",
       [](TcpFlow& f) {
         return concat({
                        {f.client(request("POST", "/upload", "Expect: 100-continue\r\n"))},
                        {f.server("HTTP/1.1 100 Continue\r\n\r\n")},
                        {f.server(response(201))}});
       },
       {{PODLENS_METHOD_POST, "/upload", 201}}},

      {"chunked response is reported at its headers and counted as unsupported framing",
       [](TcpFlow& f) {
         return concat(
             {{f.client(request("GET", "/stream"))},
              {f.server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")},
              {f.server("0\r\n\r\n")}, {f.client(request("GET", "/after"))},
              {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/stream", 200, PODLENS_EVENT_NO_BODY_FRAMING},
        {PODLENS_METHOD_GET, "/after", 200}},
       {{PODLENS_LOSS_UNSUPPORTED_FRAMING, 1}}},

      {"header block over its bound is counted",
       [](TcpFlow& f) {
         std::string req = request("GET", "/huge", bulkHeaders(170));
         std::vector<size_t> cuts;
         for (size_t at = 1448; at < req.size(); at += 1448) {
           cuts.push_back(at);
         }
         return concat({f.clientSplit(req, cuts)});
       },
       {},
       {{PODLENS_LOSS_HEADER_TOO_LONG, 1}}},

      {"response framing lost: the waiting request is dropped, later pairs stay right",
       [](TcpFlow& f) {
         std::string huge = "HTTP/1.1 200 OK\r\n" + bulkHeaders(170) + "\r\n";
         std::vector<size_t> cuts;
         for (size_t at = 1448; at < huge.size(); at += 1448) {
           cuts.push_back(at);
         }
         return concat({{f.client(request("GET", "/one"))}, f.serverSplit(huge, cuts),
                        {f.client(request("GET", "/two"))}, {f.server(response(404))},
                        {f.client(request("GET", "/three"))}, {f.server(response(500))}});
       },
       {{PODLENS_METHOD_GET, "/two", 404}, {PODLENS_METHOD_GET, "/three", 500}},
       {{PODLENS_LOSS_HEADER_TOO_LONG, 1}, {PODLENS_LOSS_REQUEST_UNANSWERED, 1}}},

      {"a gap ending exactly at the body end keeps framing",
       [](TcpFlow& f) {
         std::vector<Segment> out{f.client(request("GET", "/one")),
                                  f.server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")};
         f.server("0123456789");  // the whole body is lost in the network
         return concat({out, {f.client(request("GET", "/two"))}, {f.server(response(201))}});
       },
       {{PODLENS_METHOD_GET, "/one", 200}, {PODLENS_METHOD_GET, "/two", 201}}},

      {"RST while a request waits is counted",
       [](TcpFlow& f) {
         return std::vector<Segment>{f.client(request("GET", "/x")), f.serverRst()};
       },
       {},
       {{PODLENS_LOSS_REQUEST_UNANSWERED, 1}}},

      {"empty lines between messages are ignored",
       [](TcpFlow& f) {
         return concat({{f.client(request("POST", "/a", "", "ab") + "\r\n" + request("GET", "/q"))},
                        {f.server(response(200) + response(201))}});
       },
       {{PODLENS_METHOD_POST, "/a", 200}, {PODLENS_METHOD_GET, "/q", 201}}},

      {"absolute-form target is not captured (it can hold credentials)",
       [](TcpFlow& f) {
         return concat({{f.client("GET http://alice:s3cret@internal.svc/admin?t=x HTTP/1.1\r\n"
                                  "Host: internal.svc\r\n\r\n")},
                        {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "", 200, PODLENS_EVENT_NOT_ORIGIN_FORM}}},

      {.name = "connection picked up mid-stream at a request line",
       .traffic =
           [](TcpFlow& f) {
             return std::vector<Segment>{f.server("HTTP/1.1 200 OK\r\n"),  // no state yet
                                         f.client(request("GET", "/midstream")),
                                         f.server(response(200, "m"))};
           },
       .events = {{PODLENS_METHOD_GET, "/midstream", 200}},
       .losses = {{PODLENS_LOSS_NO_CONN_STATE, 1}},
       .midStream = true},
  };
}

class ParserTest : public ::testing::TestWithParam<ParserCase> {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() == 0) {
      harness_ = new BpfHarness();
    }
  }
  void SetUp() override { PODLENS_REQUIRE_ROOT(); }
  static void TearDownTestSuite() {
    delete harness_;
    harness_ = nullptr;
  }
  static BpfHarness* harness_;
};

BpfHarness* ParserTest::harness_ = nullptr;

TEST_P(ParserTest, EmitsExactEventsAndLosses) {
  const ParserCase& c = GetParam();
  static uint16_t nextClientPort = 40000;
  uint16_t clientPort = nextClientPort++;
  uint16_t serverPort = c.podIsServer ? kServerPort : 9090;
  harness_->select(serverPort, c.podIsServer ? PODLENS_DIR_INBOUND : PODLENS_DIR_OUTBOUND,
                   c.captureFlags);
  std::string clientAddr = c.v6 ? "fd00::20" : "10.1.0.20";
  std::string serverAddr = c.v6 ? "fd00::10" : "10.1.0.10";
  TcpFlow flow({clientAddr, clientPort}, {serverAddr, serverPort}, c.podIsServer, c.v6);

  LossCounters before = harness_->losses();
  if (!c.midStream) {
    EXPECT_EQ(harness_->run(flow.clientSyn()), -1);
    EXPECT_EQ(harness_->run(flow.serverSynAck()), -1);
  }
  for (const Segment& s : c.traffic(flow)) {
    EXPECT_EQ(harness_->run(s), -1 /* TC_ACT_UNSPEC */);
  }
  std::vector<podlens_http_event> events = harness_->takeEvents();
  LossCounters after = harness_->losses();

  ASSERT_EQ(events.size(), c.events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const podlens_http_event& e = events[i];
    const ExpectedEvent& want = c.events[i];
    SCOPED_TRACE("event " + std::to_string(i) + ": " + toString(e));
    EXPECT_EQ(e.method, want.method);
    EXPECT_EQ(eventPath(e), want.path);
    EXPECT_EQ(e.status, want.status);
    EXPECT_EQ(e.flags, want.flags);
    EXPECT_EQ(e.ifindex, kTestIfindex);
    EXPECT_EQ(e.policy_id, 7u);
    EXPECT_EQ(e.direction, c.podIsServer ? PODLENS_DIR_INBOUND : PODLENS_DIR_OUTBOUND);
    EXPECT_EQ(e.family, c.v6 ? PODLENS_AF_INET6 : PODLENS_AF_INET);
    const std::string& podAddr = c.podIsServer ? serverAddr : clientAddr;
    const std::string& peerAddr = c.podIsServer ? clientAddr : serverAddr;
    EXPECT_EQ(addressToString(e.family, e.pod_addr), podAddr);
    EXPECT_EQ(addressToString(e.family, e.peer_addr), peerAddr);
    EXPECT_EQ(e.pod_port, c.podIsServer ? serverPort : clientPort);
    EXPECT_EQ(e.peer_port, c.podIsServer ? clientPort : serverPort);
    EXPECT_GT(e.request_start_ns, 0u);
    EXPECT_LE(e.request_start_ns, e.response_first_byte_ns);
    EXPECT_LE(e.response_first_byte_ns, e.response_last_byte_ns);
  }
  for (uint32_t r = 0; r < PODLENS_LOSS__COUNT; ++r) {
    auto it = c.losses.find(static_cast<podlens_loss_reason>(r));
    uint64_t want = it == c.losses.end() ? 0 : it->second;
    EXPECT_EQ(after[r] - before[r], want) << "loss reason " << lossReasonName(r);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ParserTest, ::testing::ValuesIn(parserCases()),
                         [](const ::testing::TestParamInfo<ParserCase>& info) {
                           std::string name;
                           for (char ch : info.param.name) {
                             name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace podlens::test

// BPF tier: the parser must not care where TCP cuts the byte stream. Each conversation is
// replayed unsplit, split in two at every byte position, and split in three at random
// positions; every replay must yield the same event and no loss. This also holds the
// line fast path and the byte-level state machine to the same result.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "support/bpf_harness.hpp"
#include "support/require_root.hpp"

namespace podlens::test {
namespace {

struct Conversation {
  std::string name;
  std::string request;
  std::string response;
};

std::vector<Conversation> conversations() {
  return {
      {"curl_get",
       "GET /api/v1/users/12345/orders?limit=10 HTTP/1.1\r\nHost: orders.shop.svc.cluster."
       "local\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
       "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 03:00:00 GMT\r\n"
       "Content-Type: application/json\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n"
       "{\"ok\": true}\n"},
      {"post_with_body",
       "POST /v2/checkout HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\n"
       "CONTENT-LENGTH:   27\r\n\r\n{\"cart\": [1, 2, 3], \"n\": 3}",
       "HTTP/1.1 201 Created\r\nLocation: /v2/orders/9\r\nContent-Length: 0\r\n\r\n"},
      {"long_path_truncated",
       "GET /" + std::string(150, 'x') + " HTTP/1.1\r\nHost: a\r\n\r\n",
       "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found"},
      {"http10_close",
       "HEAD /status HTTP/1.0\r\nConnection: close\r\n\r\n",
       "HTTP/1.0 204 No Content\r\nX-A: b\r\n\r\n"},
      {"carriage_return_inside_lines",  // CRs are dropped wherever they stand: "1\r3" is 13
       "POST /p HTTP/1.1\r\nContent-Length: 1\r3\r\nX-A: b\rc\r\n\r\n0123456789abc",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
      {"bare_lf_lines",
       "DELETE /items/7 HTTP/1.1\nHost: h\n\n",
       "HTTP/1.1 500 Internal Server Error\nContent-Length: 2\n\nno"},
      {"chunked_response",  // sizes, extensions, data, trailers: every cut lands somewhere
       "GET /feed HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n",
       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
       "1a;ext=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n3\r\nxyz\r\nF \r\n0123456789abcde\r\n"
       "0\r\nX-Trailer: t\r\n\r\n"},
      {"browser_get_long_lines",  // lines past the 256-byte window, skipped at once
       "GET /app/dashboard/widgets/latency-by-route?from=now-6h&to=now&tz=Europe%2FBerlin "
       "HTTP/1.1\r\nHost: grafana.example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
       "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\nCookie: "
       "session=" + std::string(600, 's') + "; theme=dark\r\nAccept-Language: en\r\n"
       "Connection: Upgrade, HTTP2-Settings, X-" + std::string(90, 'k') + ", close\r\n\r\n",
       "HTTP/1.1 200 OK\r\nSet-Cookie: " + std::string(300, 'c') + "\r\nContent-Length: 3\r\n"
       "\r\nabc"},
      {"controls_inside_lines",  // a tab in a value, a bare CR in a name: the byte machine's
       "PUT /t HTTP/1.1\r\nContent-Length:\t4\r\nX-\rA: b\r\nAccept:\t*/*\r\n\r\nbody",
       "HTTP/1.1 200 OK\r\nX-Tab:\tv\r\nContent-Length: 0\r\n\r\n"},
      {"chunked_request_after_continue",
       "POST /ingest HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5;a=b\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nDigest: x\r\n\r\n",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n"
       "\r\n2\r\nok\r\n0\r\n\r\n"},
  };
}

struct Observed {
  std::vector<podlens_http_event> events;
  uint64_t losses = 0;
};

class SplitEquivalence : public ::testing::TestWithParam<Conversation> {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() == 0) {
      harness_ = new BpfHarness();
      harness_->select(8080, PODLENS_DIR_INBOUND);
    }
  }
  void SetUp() override { PODLENS_REQUIRE_ROOT(); }
  static void TearDownTestSuite() {
    delete harness_;
    harness_ = nullptr;
  }

  // One connection: handshake, the request cut at reqCuts, the response cut at respCuts.
  Observed replay(const std::vector<size_t>& reqCuts, const std::vector<size_t>& respCuts) {
    static uint16_t port = 30000;
    TcpFlow flow({"10.7.0.2", port++}, {"10.7.0.1", 8080}, true);
    uint64_t before = total(harness_->losses());
    harness_->runAll({flow.clientSyn(), flow.serverSynAck()});
    harness_->runAll(flow.clientSplit(GetParam().request, reqCuts));
    harness_->runAll(flow.serverSplit(GetParam().response, respCuts));
    return {harness_->takeEvents(), total(harness_->losses()) - before};
  }

  static uint64_t total(const LossCounters& c) {
    uint64_t sum = 0;
    for (size_t r = 0; r < c.size(); ++r) {
      if (r != PODLENS_LOSS_PATH_TRUNCATED) {  // expected once per truncated request
        sum += c[r];
      }
    }
    return sum;
  }

  static void expectSame(const Observed& got, const podlens_http_event& want,
                         const std::string& where) {
    ASSERT_EQ(got.events.size(), 1u) << where;
    const podlens_http_event& e = got.events[0];
    EXPECT_EQ(e.method, want.method) << where;
    EXPECT_EQ(eventPath(e), eventPath(want)) << where;
    EXPECT_EQ(e.status, want.status) << where;
    EXPECT_EQ(e.flags, want.flags) << where;
    EXPECT_EQ(got.losses, 0u) << where;
  }

  static BpfHarness* harness_;
};

BpfHarness* SplitEquivalence::harness_ = nullptr;

TEST_P(SplitEquivalence, EveryCutGivesTheSameEvent) {
  const Conversation& c = GetParam();
  Observed whole = replay({}, {});
  ASSERT_EQ(whole.events.size(), 1u);
  ASSERT_EQ(whole.losses, 0u);
  const podlens_http_event reference = whole.events[0];
  EXPECT_NE(reference.method, PODLENS_METHOD_UNKNOWN);

  for (size_t cut = 1; cut < c.request.size(); ++cut) {
    expectSame(replay({cut}, {}), reference, "request cut at " + std::to_string(cut));
  }
  for (size_t cut = 1; cut < c.response.size(); ++cut) {
    expectSame(replay({}, {cut}), reference, "response cut at " + std::to_string(cut));
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::uniform_int_distribution<size_t> reqAt(1, c.request.size() - 1);
    std::uniform_int_distribution<size_t> respAt(1, c.response.size() - 1);
    size_t a = reqAt(rng), b = reqAt(rng), x = respAt(rng), y = respAt(rng);
    std::vector<size_t> reqCuts = a == b ? std::vector<size_t>{a}
                                         : std::vector<size_t>{std::min(a, b), std::max(a, b)};
    std::vector<size_t> respCuts = x == y ? std::vector<size_t>{x}
                                          : std::vector<size_t>{std::min(x, y), std::max(x, y)};
    expectSame(replay(reqCuts, respCuts), reference,
               "round " + std::to_string(round) + " cuts " + std::to_string(a) + "," +
                   std::to_string(b) + " / " + std::to_string(x) + "," + std::to_string(y));
  }
}

// One connection, the conversation four times over, each part whole: from the third
// response on, a header block the fast path took whole comes back as a repeat of the
// response memo (bpf/lib/http1_fast.h), which must read it as the line parse did.
TEST_P(SplitEquivalence, RepeatsOnOneConnectionGiveTheSameEvent) {
  const Conversation& c = GetParam();
  Observed whole = replay({}, {});
  ASSERT_EQ(whole.events.size(), 1u);
  const podlens_http_event reference = whole.events[0];

  static uint16_t port = 29000;
  TcpFlow flow({"10.7.0.3", port++}, {"10.7.0.1", 8080}, true);
  uint64_t before = total(harness_->losses());
  harness_->runAll({flow.clientSyn(), flow.serverSynAck()});
  constexpr int kRepeats = 4;
  for (int k = 0; k < kRepeats; ++k) {
    harness_->runAll({flow.client(c.request), flow.server(c.response)});
  }
  std::vector<podlens_http_event> events = harness_->takeEvents();
  EXPECT_EQ(total(harness_->losses()) - before, 0u);
  ASSERT_EQ(events.size(), static_cast<size_t>(kRepeats));
  for (int k = 0; k < kRepeats; ++k) {
    expectSame({{events[k]}, 0}, reference, "transaction " + std::to_string(k + 1));
  }
}

INSTANTIATE_TEST_SUITE_P(Conversations, SplitEquivalence, ::testing::ValuesIn(conversations()),
                         [](const ::testing::TestParamInfo<Conversation>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace podlens::test

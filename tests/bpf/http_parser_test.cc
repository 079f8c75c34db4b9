// BPF tier: the real podlens_tc programs, driven by crafted segments through
// BPF_PROG_TEST_RUN. Each row is one conversation and the exact events and loss counters it
// must produce. Needs root (CAP_BPF + CAP_NET_ADMIN).
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "support/bpf_harness.hpp"
#include "support/require_root.hpp"
#include "support/ring_watch.hpp"

namespace podlens::test {
namespace {

constexpr uint16_t kServerPort = 8080;
constexpr size_t kResyncScanBytes = 1024;  // PODLENS_RESYNC_SCAN_MAX, bpf/lib/http1_resync.h
const std::string kChunkedOk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

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

// An nginx-like response: a header block a server repeats on a keep-alive connection, where
// only the Date's time changes (inside a line nobody needs: a repeat of the response memo).
std::string serverResponse(const std::string& time, const std::string& body,
                           int status = 200) {
  return "HTTP/1.1 " + std::to_string(status) +
         " OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 " + time +
         " GMT\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: keep-alive\r\nAccept-Ranges: bytes\r\n\r\n" + body;
}

// Request-response pairs on one connection, in order.
std::vector<Segment> exchanges(TcpFlow& f, const std::vector<std::string>& responses) {
  std::vector<Segment> out;
  for (size_t k = 0; k < responses.size(); ++k) {
    out.push_back(f.client(request("GET", "/r" + std::to_string(k + 1))));
    out.push_back(f.server(responses[k]));
  }
  return out;
}

// The events of exchanges(): GET /r1, /r2, ... answered with these statuses.
std::vector<ExpectedEvent> exchangeEvents(const std::vector<uint16_t>& statuses) {
  std::vector<ExpectedEvent> out;
  for (size_t k = 0; k < statuses.size(); ++k) {
    out.push_back({PODLENS_METHOD_GET, "/r" + std::to_string(k + 1), statuses[k]});
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

      {"response until FIN: the FIN overtakes the last body segment",
       [](TcpFlow& f) {
         std::vector<Segment> resp =
             f.serverSplit("HTTP/1.0 200 OK\r\n\r\n" + std::string(3000, 'u'), {1448, 2896});
         Segment fin = f.serverFin();
         return concat({{f.client("GET /late HTTP/1.0\r\n\r\n")},
                        {resp[0], resp[1], fin, resp[2]}});
       },
       {{PODLENS_METHOD_GET, "/late", 200,
         PODLENS_EVENT_HTTP10 | PODLENS_EVENT_ENDED_BY_CLOSE}}},

      {"both FINs before the last body segment: the state waits for the late bytes",
       [](TcpFlow& f) {
         std::vector<Segment> resp =
             f.serverSplit("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
                               std::string(2000, 'v'),
                           {1448});
         Segment serverFin = f.serverFin();
         return concat({{f.client(request("GET", "/closing"))},
                        {resp[0], serverFin, f.clientFin(), resp[1]}});
       },
       {{PODLENS_METHOD_GET, "/closing", 200, PODLENS_EVENT_ENDED_BY_CLOSE}}},

      {"a FIN after a gap in a body until close: only the late bytes end the response",
       [](TcpFlow& f) {
         std::vector<Segment> resp =
             f.serverSplit("HTTP/1.0 200 OK\r\n\r\n" + std::string(4000, 'w'), {1448, 2896});
         Segment fin = f.serverFin();
         // The FIN, then the two late segments: only the second reaches the FIN.
         return concat({{f.client("GET /gap HTTP/1.0\r\n\r\n")},
                        {resp[0], fin, resp[1], resp[2]}, {f.clientFin()}});
       },
       {{PODLENS_METHOD_GET, "/gap", 200,
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

      {"pipeline deeper than the FIFO: discarded requests' responses are dropped, later pair",
       [](TcpFlow& f) {
         std::string six, answers;
         for (int i = 1; i <= 6; ++i) {
           six += request("GET", "/q" + std::to_string(i));
           answers += response(200 + i);
         }
         return concat({{f.client(six)}, {f.server(answers)}, {f.client(request("GET", "/q7"))},
                        {f.server(response(207))}});
       },
       {{PODLENS_METHOD_GET, "/q1", 201},
        {PODLENS_METHOD_GET, "/q2", 202},
        {PODLENS_METHOD_GET, "/q3", 203},
        {PODLENS_METHOD_GET, "/q4", 204},
        {PODLENS_METHOD_GET, "/q7", 207}},
       {{PODLENS_LOSS_PIPELINE_OVERFLOW, 2}}},

      {"overflow while answers interleave: each response keeps its own request",
       [](TcpFlow& f) {
         std::vector<Segment> out;
         std::string five;
         for (int i = 1; i <= 5; ++i) {
           five += request("GET", "/r" + std::to_string(i));
         }
         out.push_back(f.client(five));                 // /r5 is discarded (4 waiting)
         out.push_back(f.server(response(201) + response(202)));
         // 3 in flight (/r5 counts): /r6 fits, /r7 is the fifth in flight and is discarded
         out.push_back(f.client(request("GET", "/r6") + request("GET", "/r7")));
         out.push_back(f.server(response(203) + response(204) + response(205)));  // 205: /r5
         out.push_back(f.server(response(206)));
         out.push_back(f.server(response(207)));  // /r7's
         out.push_back(f.client(request("GET", "/r8")));
         out.push_back(f.server(response(208)));
         return out;
       },
       {{PODLENS_METHOD_GET, "/r1", 201},
        {PODLENS_METHOD_GET, "/r2", 202},
        {PODLENS_METHOD_GET, "/r3", 203},
        {PODLENS_METHOD_GET, "/r4", 204},
        {PODLENS_METHOD_GET, "/r6", 206},
        {PODLENS_METHOD_GET, "/r8", 208}},
       {{PODLENS_LOSS_PIPELINE_OVERFLOW, 2}}},

      // A response pairs only with a committed request still waiting: not with an empty FIFO
      // on a new connection, a request whose headers are still coming, or a slot whose
      // request was answered earlier.
      {"a response before any request on a new connection is unmatched; the first pairs",
       [](TcpFlow& f) {
         return std::vector<Segment>{f.server(response(200)), f.client(request("GET", "/first")),
                                     f.server(response(201))};
       },
       {{PODLENS_METHOD_GET, "/first", 201}},
       {{PODLENS_LOSS_UNMATCHED_RESPONSE, 1}}},

      {"a response while its request's headers are still coming is unmatched",
       [](TcpFlow& f) {
         std::string req = request("GET", "/slow", bulkHeaders(2));
         std::vector<Segment> parts = f.clientSplit(req, {40});
         return std::vector<Segment>{parts[0], f.server(response(200)), parts[1],
                                     f.server(response(201))};
       },
       {{PODLENS_METHOD_GET, "/slow", 201}},
       {{PODLENS_LOSS_UNMATCHED_RESPONSE, 1}}},

      {"once every slot has served, a response with nothing waiting is still unmatched",
       [](TcpFlow& f) {
         std::vector<Segment> out;
         for (int i = 1; i <= 6; ++i) {
           out.push_back(f.client(request("GET", "/k" + std::to_string(i))));
           out.push_back(f.server(response(200 + i)));
         }
         out.push_back(f.server(response(299)));
         out.push_back(f.client(request("GET", "/k7")));
         out.push_back(f.server(response(207)));
         return out;
       },
       {{PODLENS_METHOD_GET, "/k1", 201},
        {PODLENS_METHOD_GET, "/k2", 202},
        {PODLENS_METHOD_GET, "/k3", 203},
        {PODLENS_METHOD_GET, "/k4", 204},
        {PODLENS_METHOD_GET, "/k5", 205},
        {PODLENS_METHOD_GET, "/k6", 206},
        {PODLENS_METHOD_GET, "/k7", 207}},
       {{PODLENS_LOSS_UNMATCHED_RESPONSE, 1}}},

      {"RST with discarded and admitted requests waiting counts each loss once",
       [](TcpFlow& f) {
         std::string six;
         for (int i = 1; i <= 6; ++i) {
           six += request("GET", "/s" + std::to_string(i));
         }
         return std::vector<Segment>{f.client(six), f.server(response(200)), f.serverRst()};
       },
       {{PODLENS_METHOD_GET, "/s1", 200}},
       {{PODLENS_LOSS_PIPELINE_OVERFLOW, 2}, {PODLENS_LOSS_REQUEST_UNANSWERED, 3}}},

      {"interim 100 Continue before the final response",
       [](TcpFlow& f) {
         return concat({
                        {f.client(request("POST", "/upload", "Expect: 100-continue\r\n"))},
                        {f.server("HTTP/1.1 100 Continue\r\n\r\n")},
                        {f.server(response(201))}});
       },
       {{PODLENS_METHOD_POST, "/upload", 201}}},

      {"chunked response ends at its last chunk; keep-alive goes on",
       [](TcpFlow& f) {
         return concat(
             {{f.client(request("GET", "/stream"))},
              {f.server(kChunkedOk + "5\r\nhello\r\n")},
              {f.server("0\r\n\r\n")}, {f.client(request("GET", "/after"))},
              {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/stream", 200}, {PODLENS_METHOD_GET, "/after", 200}}},

      {"chunk extensions, upper-case hex, several chunks per segment, trailers",
       [](TcpFlow& f) {
         std::string body = "4;name=value\r\nwiki\r\n5 ; a=\"q;\"\r\npedia\r\nA\r\n0123456789"
                            "\r\n1f\r\n" + std::string(31, 'x') + "\r\n0;last\r\nExpires: never"
                            "\r\nX-Checksum: 1\r\n\r\n";
         return concat({{f.client(request("GET", "/wiki"))},
                        {f.server(kChunkedOk + body)},
                        {f.client(request("GET", "/next"))}, {f.server(response(404))}});
       },
       {{PODLENS_METHOD_GET, "/wiki", 200}, {PODLENS_METHOD_GET, "/next", 404}}},

      {"chunk data spanning segments and a GSO super-packet, a lost data segment",
       [](TcpFlow& f) {
         std::string resp = "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n" "2000\r\n" +
                            std::string(0x2000, 'd') + "\r\n10\r\n" + std::string(16, 'e') +
                            "\r\n0\r\n\r\n";
         std::vector<Segment> parts = f.serverSplit(resp, {1448, 2896, 4344, 8000});
         parts[3].gsoSize = 1448;  // 3656 bytes in one skb
         return concat({{f.client(request("GET", "/big"))},
                        {parts[0], parts[2], parts[3], parts[4]},  // parts[1]: lost in chunk data
                        {f.client(request("GET", "/small"))}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/big", 200}, {PODLENS_METHOD_GET, "/small", 200}}},

      {"chunked request body over segments, then its response",
       [](TcpFlow& f) {
         std::string req = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n40\r\n" + std::string(64, 'z') + "\r\n0\r\n\r\n";
         return concat({f.clientSplit(req, {60, 66, 75, 90}), {f.server(response(201))},
                        {f.client(request("GET", "/two"))}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_POST, "/upload", 201}, {PODLENS_METHOD_GET, "/two", 200}}},

      {"Transfer-Encoding wins over Content-Length; HEAD and 304 have no chunked body",
       [](TcpFlow& f) {
         return concat(
             {{f.client(request("GET", "/both"))},
              {f.server("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
                        "\r\n3\r\nabc\r\n0\r\n\r\n")},
              {f.client(request("HEAD", "/h"))},
              {f.server(kChunkedOk)},
              {f.client(request("GET", "/c"))},
              {f.server("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n")},
              {f.client(request("GET", "/last"))}, {f.server(response(200, "x"))}});
       },
       {{PODLENS_METHOD_GET, "/both", 200},
        {PODLENS_METHOD_HEAD, "/h", 200},
        {PODLENS_METHOD_GET, "/c", 304},
        {PODLENS_METHOD_GET, "/last", 200}}},

      {"response Transfer-Encoding without chunked lasts until FIN",
       [](TcpFlow& f) {
         return concat({{f.client(request("GET", "/gz"))},
                        {f.server("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                                  "Content-Length: 2\r\n\r\n\x1f\x8b binary")},
                        {f.serverFin()}});
       },
       {{PODLENS_METHOD_GET, "/gz", 200, PODLENS_EVENT_ENDED_BY_CLOSE}}},

      {"request Transfer-Encoding without chunked cannot be framed: counted",
       [](TcpFlow& f) {
         return concat({{f.client("POST /z HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b")},
                        {f.server(response(400))}, {f.client(request("GET", "/ok"))},
                        {f.server(response(200))}});
       },
       {{PODLENS_METHOD_POST, "/z", 400}, {PODLENS_METHOD_GET, "/ok", 200}},
       {{PODLENS_LOSS_UNSUPPORTED_FRAMING, 1}}},

      {"malformed chunk size: reported without body end, counted, next message parsed",
       [](TcpFlow& f) {
         return concat({{f.client(request("GET", "/bad"))},
                        {f.server(kChunkedOk + "zz\r\n")},
                        {f.client(request("GET", "/good"))}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/bad", 200, PODLENS_EVENT_NO_BODY_FRAMING},
        {PODLENS_METHOD_GET, "/good", 200}},
       {{PODLENS_LOSS_CHUNK_FRAMING, 1}}},

      {"chunk data not followed by CRLF is counted; the next request resynchronises",
       [](TcpFlow& f) {
         return concat(
             {{f.client("POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n")},
              {f.client(request("GET", "/q"))}, {f.server(response(200) + response(201))}});
       },
       {{PODLENS_METHOD_POST, "/p", 200}, {PODLENS_METHOD_GET, "/q", 201}},
       {{PODLENS_LOSS_CHUNK_FRAMING, 1}}},

      {"chunk size of 16 hex digits is counted",
       [](TcpFlow& f) {
         return concat({{f.client(request("GET", "/huge"))},
                        {f.server(kChunkedOk + "1000000000000000\r\n")}});
       },
       {{PODLENS_METHOD_GET, "/huge", 200, PODLENS_EVENT_NO_BODY_FRAMING}},
       {{PODLENS_LOSS_CHUNK_FRAMING, 1}}},

      {"chunk-size line over its bound is counted",
       [](TcpFlow& f) {
         return concat({{f.client(request("GET", "/ext"))},
                        {f.server(kChunkedOk + "1;" +
                                  std::string(PODLENS_CHUNK_LINE_MAX, 'e') +
                                  "\r\nx\r\n0\r\n\r\n")}});
       },
       {{PODLENS_METHOD_GET, "/ext", 200, PODLENS_EVENT_NO_BODY_FRAMING}},
       {{PODLENS_LOSS_CHUNK_FRAMING, 1}}},

      {"IPv6 chunked request and chunked response",
       [](TcpFlow& f) {
         std::string req =
             "PUT /v6 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n";
         std::string resp = kChunkedOk + "2\r\nok\r\n0\r\n\r\n";
         return concat({f.clientSplit(req, {50}), f.serverSplit(resp, {52, 58})});
       },
       {{PODLENS_METHOD_PUT, "/v6", 200}},
       {},
       true,
       true},

      {"100 Continue, the body sent after it, then the final response",
       [](TcpFlow& f) {
         return concat({{f.client("POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5"
                                  "\r\n\r\n")},
                        {f.server("HTTP/1.1 100 Continue\r\n\r\n")}, {f.client("12345")},
                        {f.server(response(201))}});
       },
       {{PODLENS_METHOD_POST, "/up", 201}}},

      {"103 Early Hints and 100 in one segment with the final chunked response",
       [](TcpFlow& f) {
         return concat({{f.client(request("GET", "/hints"))},
                        {f.server("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                                  "HTTP/1.1 100 Continue\r\n\r\n" +
                                  kChunkedOk + "0\r\n\r\n")}});
       },
       {{PODLENS_METHOD_GET, "/hints", 200}}},

      {"101 Switching Protocols: one transaction, then the tunnel is not parsed",
       [](TcpFlow& f) {
         return concat({{f.client("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n\r\n")},
                        {f.server("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
                                  "\x81\x05hello")},
                        {f.client("\x81\x85\x01\x02\x03\x04GET / HTTP/1.1\r\n\r\n")},
                        {f.server("HTTP/1.1 200 OK\r\n\r\n\x88\x00")}, {f.clientAt(100, "gap")},
                        {f.clientFin()}, {f.serverFin()}});
       },
       {{PODLENS_METHOD_GET, "/ws", 101}}},

      {"CONNECT answered 200 opens a tunnel: TLS bytes are not HTTP",
       [](TcpFlow& f) {
         return concat({{f.client("CONNECT db.internal:443 HTTP/1.1\r\n"
                                  "Host: db.internal:443\r\n\r\n")},
                        {f.server("HTTP/1.1 200 Connection Established\r\n\r\n")},
                        {f.client("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")},
                        {f.server("\x16\x03\x03\x00\x7a\x02\x00\x00\x76")}, {f.serverFin()},
                        {f.clientFin()}});
       },
       {{PODLENS_METHOD_CONNECT, "", 200, PODLENS_EVENT_NOT_ORIGIN_FORM}}},

      {"CONNECT refused stays HTTP; the retry with credentials opens the tunnel (IPv6)",
       [](TcpFlow& f) {
         return concat({{f.client("CONNECT a:443 HTTP/1.1\r\n\r\n")},
                        {f.server(response(407, "auth"))},
                        {f.client("CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: x\r\n\r\n")},
                        {f.server("HTTP/1.1 200 OK\r\n\r\n")}, {f.client("\x16\x03\x01")},
                        {f.server("\x16\x03\x03")}, {f.serverRst()}});
       },
       {{PODLENS_METHOD_CONNECT, "", 407, PODLENS_EVENT_NOT_ORIGIN_FORM},
        {PODLENS_METHOD_CONNECT, "", 200, PODLENS_EVENT_NOT_ORIGIN_FORM}},
       {},
       true,
       true},

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

      {"one header line over the block bound (skipped a window at a time) is counted",
       [](TcpFlow& f) {
         std::string req = request("GET", "/cookie", "Cookie: " + std::string(17000, 'c') + "\r\n");
         std::vector<size_t> cuts;
         for (size_t at = 1448; at < req.size(); at += 1448) {
           cuts.push_back(at);
         }
         return concat({f.clientSplit(req, cuts), {f.client(request("GET", "/after"))},
                        {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/after", 200}},
       {{PODLENS_LOSS_HEADER_TOO_LONG, 1}}},

      {"the block bound reached inside a whole line: resync starts at that byte, as when split",
       [](TcpFlow& f) {
         // 82 lines of 200 bytes (CRLF not counted): the bound (16384) falls at byte 184 of
         // the last, which is whole in its segment. The request after it is found by resync.
         std::string req = "GET / HTTP/1.1\r\n";
         std::vector<size_t> cuts;
         for (int line = 0; line < 82; ++line) {
           if (line % 7 == 0) {
             cuts.push_back(req.size());
           }
           req += "X-Pad: " + std::string(193, 'a') + "\r\n";
         }
         req += "GET /b HTTP/1.1\r\n\r\n";
         return concat({f.clientSplit(req, cuts), {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/b", 200}},
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

      {"a request cut inside its headers by the close is counted",
       [](TcpFlow& f) {
         return std::vector<Segment>{f.client("GET /cut HTTP/1.1\r\nHost: a\r\nAcc"),
                                     f.clientFin(), f.serverFin()};
       },
       {},
       {{PODLENS_LOSS_MESSAGE_TRUNCATED, 1}}},

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

      {.name = "no state: a request line after a newline inside the segment is found",
       .traffic =
           [](TcpFlow& f) {
             return std::vector<Segment>{
                 f.client("ue\r\nAccept: */*\r\n\r\n" + request("DELETE", "/found")),
                 f.server(response(200) + response(204))};
           },
       .events = {{PODLENS_METHOD_DELETE, "/found", 200}},
       .losses = {{PODLENS_LOSS_NO_CONN_STATE, 1}, {PODLENS_LOSS_UNMATCHED_RESPONSE, 1}},
       .v6 = true,
       .midStream = true},

      {"after a gap, the next request is found in the middle of a segment",
       [](TcpFlow& f) {
         std::string a = request("GET", "/a", bulkHeaders(2));
         std::vector<Segment> parts = f.clientSplit(a + request("GET", "/b"), {40, a.size() - 30});
         return concat({{parts[0], parts[2]}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/b", 200}},
       {{PODLENS_LOSS_SEQ_GAP, 1}}},

      {"after a gap, a request whose method is cut by the segment end is found",
       [](TcpFlow& f) {
         std::string a = request("GET", "/a", bulkHeaders(2));
         std::string b = request("OPTIONS", "/b");
         std::vector<Segment> parts = f.clientSplit(a + b, {40, 80, a.size() + 3});
         return concat({{parts[0], parts[2], parts[3]}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_OPTIONS, "/b", 200}},
       {{PODLENS_LOSS_SEQ_GAP, 1}}},

      {"a message start past the 1 KiB scan window is not looked for; the next one is",
       [](TcpFlow& f) {
         std::string a = request("GET", "/a", bulkHeaders(3));
         std::vector<Segment> parts = f.clientSplit(a, {40, 80});
         return concat({{parts[0], parts[2]},
                        {f.client(std::string(kResyncScanBytes, 'j') + "\n" +
                                  request("GET", "/unseen"))},
                        {f.client(request("GET", "/seen"))}, {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/seen", 200}},
       {{PODLENS_LOSS_SEQ_GAP, 1}}},

      {"response gap: waiting requests are dropped; pairing resumes with the next request",
       [](TcpFlow& f) {
         std::string first = "HTTP/1.1 200 OK\r\nX: y\r\nContent-Length: 2000\r\n\r\n";
         std::vector<Segment> out{f.client(request("GET", "/one"))};
         out.push_back(f.server(first.substr(0, 20)));
         f.server(first.substr(20) + std::string(1500, 'b'));  // lost: the length with it
         out.push_back(f.client(request("GET", "/two")));
         out.push_back(f.server(std::string(500, 'b') + "\n" + response(201)));
         out.push_back(f.client(request("GET", "/three")));
         out.push_back(f.server(response(202)));
         return out;
       },
       {{PODLENS_METHOD_GET, "/three", 202}},
       {{PODLENS_LOSS_SEQ_GAP, 1},
        {PODLENS_LOSS_REQUEST_UNANSWERED, 2},
        {PODLENS_LOSS_UNMATCHED_RESPONSE, 1}}},

      {"out-of-order segment: counted once, the late one is ignored, framing resumes",
       [](TcpFlow& f) {
         std::string req = request("GET", "/ooo", bulkHeaders(2));
         std::vector<Segment> parts = f.clientSplit(req, {30, 90});
         return concat({{parts[0], parts[2], parts[1]}, {f.client(request("GET", "/in-order"))},
                        {f.server(response(200))}});
       },
       {{PODLENS_METHOD_GET, "/in-order", 200}},
       {{PODLENS_LOSS_SEQ_GAP, 1}}},

      {"retransmission overlapping new bytes inside a chunked body",
       [](TcpFlow& f) {
         std::string resp = kChunkedOk + "a\r\n0123456789\r\n0\r\n\r\n";
         Segment first = f.server(resp.substr(0, 55));
         Segment again = f.serverAt(-5, resp.substr(50));  // 5 bytes seen, the rest new
         return std::vector<Segment>{f.client(request("GET", "/rt")), first, first, again, again};
       },
       {{PODLENS_METHOD_GET, "/rt", 200}}},

      {"several whole transactions in one segment each way, all framings",
       [](TcpFlow& f) {
         std::string reqs = request("POST", "/a", "", "body") + request("GET", "/b") +
                            "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "2\r\nhi\r\n0\r\n\r\n" +
                            request("HEAD", "/d");
         std::string resps = response(200, "ok") +
                             kChunkedOk + "3\r\nabc\r\n0\r\n\r\n" +
                             "HTTP/1.1 204 No Content\r\n\r\n" +
                             "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
         return std::vector<Segment>{f.client(reqs), f.server(resps)};
       },
       {{PODLENS_METHOD_POST, "/a", 200},
        {PODLENS_METHOD_GET, "/b", 200},
        {PODLENS_METHOD_PUT, "/c", 204},
        {PODLENS_METHOD_HEAD, "/d", 200}}},

      // A response stream keeps its last header block taken whole (the memo, from the
      // second response on) and takes a block that repeats it by one compare: every block
      // here must still read as the byte machine reads it.
      {"repeated response blocks: a changed Date, then a changed length frames the new body",
       [](TcpFlow& f) {
         return exchanges(f, {serverResponse("18:04:17", "hello"),
                              serverResponse("18:04:17", "hello"),
                              serverResponse("18:04:18", "hello"),
                              serverResponse("18:04:19", "hello world"),
                              serverResponse("18:04:19", "hi")});
       },
       exchangeEvents({200, 200, 200, 200, 200})},

      {"repeated response blocks: a changed status is read",
       [](TcpFlow& f) {
         return exchanges(f, {serverResponse("18:04:17", "ok"), serverResponse("18:04:17", "ok"),
                              serverResponse("18:04:17", "ok", 404),
                              serverResponse("18:04:17", "ok")});
       },
       exchangeEvents({200, 200, 404, 200})},

      // A block the memo takes frames its body as the byte machine would: the memo keeps
      // whether its block frames a body by Content-Length, and the request still decides.
      {"repeated response blocks: no body for a HEAD, nor under a 304 with a length",
       [](TcpFlow& f) {
         const std::string page = serverResponse("18:04:17", "hello");
         const std::string block = page.substr(0, page.find("\r\n\r\n") + 4);
         const std::string notModified = "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n";
         return concat({{f.client(request("GET", "/g"))}, {f.server(page)},
                        {f.client(request("HEAD", "/h"))}, {f.server(block)},
                        {f.client(request("GET", "/g2"))}, {f.server(page)},
                        {f.client(request("GET", "/c"))}, {f.server(notModified)},
                        {f.client(request("GET", "/c2"))}, {f.server(notModified)},
                        {f.client(request("GET", "/after"))}, {f.server(page)}});
       },
       {{PODLENS_METHOD_GET, "/g", 200},
        {PODLENS_METHOD_HEAD, "/h", 200},
        {PODLENS_METHOD_GET, "/g2", 200},
        {PODLENS_METHOD_GET, "/c", 304},
        {PODLENS_METHOD_GET, "/c2", 304},
        {PODLENS_METHOD_GET, "/after", 200}}},

      {"repeated response blocks: line ends inside a line nobody needs are not a repeat",
       [](TcpFlow& f) {
         // The same bytes but 40-71, words inside the X-Pad line past its name, which the
         // second block turns into two more lines: Transfer-Encoding: chunked wins over the
         // Content-Length (a repeat of the memo would frame 5 bytes and lose the rest).
         const std::string status = "HTTP/1.1 200 X\r\n";
         const std::string padded = status + "X-Pad: " + std::string(49, 'a') + "\r\n";
         const std::string split = status + "X-Pad: " + std::string(17, 'a') +
                                   "\r\nTransfer-Encoding: chunked\r\nX:\r\n";
         const std::string tail = "Content-Length: 5\r\n\r\n";
         return exchanges(f, {padded + tail + "hello", padded + tail + "hello",
                              padded + tail + "hello", split + tail + "5\r\nhello\r\n0\r\n\r\n",
                              padded + tail + "hello"});
       },
       exchangeEvents({200, 200, 200, 200, 200})},

      {"HTTP/1.0 response until FIN over IPv6, outbound",
       [](TcpFlow& f) {
         return concat({{f.client("GET /old HTTP/1.0\r\n\r\n")},
                        f.serverSplit("HTTP/1.0 200 OK\r\n\r\nsome body", {10, 20}),
                        {f.serverFin()}});
       },
       {{PODLENS_METHOD_GET, "/old", 200, PODLENS_EVENT_HTTP10 | PODLENS_EVENT_ENDED_BY_CLOSE}},
       {},
       false,
       true},
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
  if (std::optional<podlens_conn_state> state = harness_->connection(flow)) {
    EXPECT_EQ(state->req.busy, 0u) << "a segment left the request stream taken";
    EXPECT_EQ(state->resp.busy, 0u) << "a segment left the response stream taken";
  }

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

// The memos: a CPU keeps, per server, the last response block it took whole. A
// connection's first response is kept; a block that repeats the memo but for a Date changed
// inside a line nobody needs leaves the new Date in it (the next block of the same second is
// then the same bytes, the compare's fast case); another connection of the server repeats it
// too; a block that does not repeat it replaces it; a server on another port keeps its own.
TEST_F(ParserTest, ResponseMemoIsKeptPerServerOnEachCpuAndTakesRepeats) {
  StayOnThisCpu pinned;  // test runs write the memos of the CPU they run on
  const int cpu = sched_getcpu();
  uint16_t otherPort = 8100;
  const uint32_t serverSlot = podlens_memo_slot(kTestIfindex, kServerPort);
  while (podlens_memo_slot(kTestIfindex, otherPort) == serverSlot) {
    ++otherPort;
  }
  harness_->clearMemos();
  harness_->select(kServerPort, PODLENS_DIR_INBOUND);
  harness_->select(otherPort, PODLENS_DIR_INBOUND);
  TcpFlow flow({"10.1.0.21", 39999}, {"10.1.0.10", kServerPort}, true);
  TcpFlow second({"10.1.0.21", 39997}, {"10.1.0.10", kServerPort}, true);
  TcpFlow other({"10.1.0.21", 39996}, {"10.1.0.10", otherPort}, true);
  for (TcpFlow* f : {&flow, &second, &other}) {
    harness_->runAll({f->clientSyn(), f->serverSynAck()});
  }
  auto memo = [&](uint16_t port) {
    podlens_header_memo m = harness_->memo(port, cpu);
    return std::string(reinterpret_cast<const char*>(m.bytes), m.len);
  };
  auto exchange = [&](TcpFlow& f, const std::string& response) {
    harness_->runAll({f.client(request("GET", "/m")), f.server(response)});
  };
  auto block = [](const std::string& response) {
    return response.substr(0, response.find("\r\n\r\n") + 4);
  };

  exchange(flow, serverResponse("18:04:17", "hello"));
  EXPECT_EQ(memo(kServerPort), block(serverResponse("18:04:17", "hello")))
      << "a connection's first response";
  EXPECT_EQ(harness_->memo(kServerPort, cpu).length_body, 1) << "a 200 with a length frames one";
  exchange(flow, serverResponse("18:04:17", "hello"));
  EXPECT_EQ(memo(kServerPort), block(serverResponse("18:04:17", "hello"))) << "the same bytes";
  exchange(flow, serverResponse("18:04:59", "hello"));
  EXPECT_EQ(memo(kServerPort), block(serverResponse("18:04:59", "hello")))
      << "a repeat's new Date";
  exchange(second, serverResponse("18:05:00", "hello"));
  EXPECT_EQ(memo(kServerPort), block(serverResponse("18:05:00", "hello")))
      << "another connection's first response, a repeat";
  exchange(other, serverResponse("18:05:00", "other", 404));
  EXPECT_EQ(memo(otherPort), block(serverResponse("18:05:00", "other", 404)));
  exchange(other, serverResponse("18:05:00", "", 404));
  EXPECT_EQ(harness_->memo(otherPort, cpu).length_body, 0) << "Content-Length: 0 frames none";
  exchange(other, serverResponse("18:05:00", "other", 404));
  EXPECT_EQ(memo(kServerPort), block(serverResponse("18:05:00", "hello")))
      << "the other server's block went to its own memo";
  exchange(flow, serverResponse("18:05:00", "hello!"));
  EXPECT_EQ(memo(kServerPort), block(serverResponse("18:05:00", "hello!")));

  std::vector<podlens_http_event> events = harness_->takeEvents();
  ASSERT_EQ(events.size(), 8u);
  std::map<uint16_t, std::multiset<uint16_t>> statusesByServer;  // events by connection's end
  for (const podlens_http_event& e : events) {
    statusesByServer[e.pod_port].insert(e.status);
  }
  EXPECT_EQ(statusesByServer[kServerPort], (std::multiset<uint16_t>{200, 200, 200, 200, 200}));
  EXPECT_EQ(statusesByServer[otherPort], (std::multiset<uint16_t>{404, 404, 404}));
}

// A response that starts a packet is first compared with the memo in one call
// (http1__response_from_memo). One that the memo does not take goes on through the parse
// steps, without a second compare at its offset, and the responses after it in the same
// packet are still read, the memo at their own offsets included: the last one, a repeat of
// the block before it but for its Date, leaves its Date in the memo.
TEST_F(ParserTest, APacketWhoseFirstResponseTheMemoDoesNotTakeIsReadWhole) {
  StayOnThisCpu pinned;  // test runs write the memos of the CPU they run on
  const int cpu = sched_getcpu();
  harness_->clearMemos();
  harness_->select(kServerPort, PODLENS_DIR_INBOUND);
  TcpFlow flow({"10.1.0.23", 39995}, {"10.1.0.10", kServerPort}, true);
  harness_->runAll({flow.clientSyn(), flow.serverSynAck()});
  auto block = [](const std::string& response) {
    return response.substr(0, response.find("\r\n\r\n") + 4);
  };
  harness_->runAll({flow.client(request("GET", "/a")),
                    flow.server(serverResponse("18:04:17", "hello"))});
  const std::string body(300, 'm');  // the second block starts past the first one's window
  harness_->runAll({flow.client(request("GET", "/b") + request("GET", "/c")),
                    flow.server(serverResponse("18:04:18", body, 404) +
                                serverResponse("18:04:19", body, 404))});
  podlens_header_memo m = harness_->memo(kServerPort, cpu);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.bytes), m.len),
            block(serverResponse("18:04:19", body, 404)))
      << "the second response of the packet repeated the first one's block, its Date went in";

  std::vector<podlens_http_event> events = harness_->takeEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(eventPath(events[0]), "/a");
  EXPECT_EQ(events[0].status, 200);
  EXPECT_EQ(eventPath(events[1]), "/b");
  EXPECT_EQ(events[1].status, 404);
  EXPECT_EQ(eventPath(events[2]), "/c");
  EXPECT_EQ(events[2].status, 404);
}

// An event carries its path's bytes and zeros after them: nothing of a longer path that an
// earlier request left in the same FIFO slot, nor of an earlier event built in the same
// per-CPU scratch (events go out with PODLENS_EVENT_BYTES of them, the reader fills in zeros).
TEST_F(ParserTest, EventsCarryTheirPathAndZerosAfterIt) {
  harness_->select(kServerPort, PODLENS_DIR_INBOUND);
  TcpFlow flow({"10.1.0.22", 39998}, {"10.1.0.10", kServerPort}, true);
  harness_->runAll({flow.clientSyn(), flow.serverSynAck()});
  std::vector<std::string> paths;
  for (size_t len : {120, 96, 41, 17, 9, 8, 7, 1}) {  // every slot holds a longer one first
    for (int slot = 0; slot < PODLENS_PENDING_MAX; ++slot) {
      paths.push_back("/" + std::string(len - 1, static_cast<char>('a' + slot)));
    }
  }
  for (const std::string& path : paths) {
    harness_->runAll({flow.client(request("GET", path)), flow.server(response(200))});
  }
  std::vector<podlens_http_event> events = harness_->takeEvents();
  ASSERT_EQ(events.size(), paths.size());
  for (size_t k = 0; k < events.size(); ++k) {
    const podlens_http_event& e = events[k];
    EXPECT_EQ(eventPath(e), paths[k].substr(0, PODLENS_PATH_MAX));
    std::string after(reinterpret_cast<const char*>(e.path) + e.path_len,
                      PODLENS_PATH_MAX - e.path_len);
    EXPECT_EQ(after, std::string(after.size(), '\0')) << "event " << k << ": " << paths[k];
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

#include "conversation.hpp"

#include <cstdio>
#include <utility>

namespace podlens::test {

std::string ConversationGenerator::bytes(size_t n) {
  std::string out(n, '\0');
  for (char& c : out) {
    c = static_cast<char>(pick(0, 255));
  }
  return out;
}

std::string ConversationGenerator::token(int lo, int hi) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
  std::string out;
  for (int i = pick(lo, hi); i > 0; --i) {
    out += kChars[pick(0, sizeof(kChars) - 2)];
  }
  return out;
}

std::string ConversationGenerator::extraHeaders() {
  std::string out;
  for (int i = pick(0, 4); i > 0; --i) {
    out += "X-" + token(1, 12) + ":" + (chance(0.5) ? " " : "") + token(0, 150) + "\r\n";
  }
  return out;
}

std::string ConversationGenerator::chunkedBody() {
  std::string out;
  for (int i = pick(0, 5); i > 0; --i) {
    size_t size = chance(0.3) ? pick(1, 9) : pick(10, 4000);
    char hex[16];
    std::snprintf(hex, sizeof(hex), chance(0.5) ? "%zx" : "%zX", size);
    out += hex;
    if (chance(0.3)) {
      out += chance(0.5) ? ";a=b" : " ; name=\"quoted;value\"";
    }
    out += "\r\n" + bytes(size) + "\r\n";
  }
  out += chance(0.2) ? "0;last\r\n" : "0\r\n";
  for (int i = chance(0.3) ? pick(1, 2) : 0; i > 0; --i) {
    out += "Trailer-" + token(1, 8) + ": " + token(0, 30) + "\r\n";
  }
  return out + "\r\n";
}

std::string ConversationGenerator::framedBody(bool allowChunked) {
  if (allowChunked && chance(0.5)) {
    return "Transfer-Encoding: chunked\r\n\r\n" + chunkedBody();
  }
  std::string body = bytes(chance(0.3) ? 0 : pick(1, 3000));
  return "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

Conversation ConversationGenerator::conversation() {
  static const std::vector<std::pair<std::string, uint8_t>> kMethods = {
      {"GET", PODLENS_METHOD_GET},       {"HEAD", PODLENS_METHOD_HEAD},
      {"POST", PODLENS_METHOD_POST},     {"PUT", PODLENS_METHOD_PUT},
      {"DELETE", PODLENS_METHOD_DELETE}, {"PATCH", PODLENS_METHOD_PATCH},
      {"OPTIONS", PODLENS_METHOD_OPTIONS}};
  static const std::vector<uint16_t> kStatuses = {200, 201, 204, 301, 304, 404, 500, 503};
  Conversation c;
  for (int batch = pick(1, 4); batch > 0; --batch) {
    std::string client, server;
    for (int depth = pick(1, PODLENS_PENDING_MAX); depth > 0; --depth) {
      const auto& [method, code] = kMethods[pick(0, kMethods.size() - 1)];
      std::string path = "/" + token(0, 30);
      bool hasBody = code == PODLENS_METHOD_POST || code == PODLENS_METHOD_PUT ||
                     code == PODLENS_METHOD_PATCH;
      bool expectContinue = hasBody && chance(0.2);
      client += method + " " + path + (chance(0.2) ? "?q=" + token(1, 20) : "") +
                " HTTP/1.1\r\nHost: " + token(1, 20) + "\r\n" + extraHeaders() +
                (expectContinue ? "Expect: 100-continue\r\n" : "") +
                (hasBody ? framedBody(true) : "\r\n");
      if (expectContinue || chance(0.05)) {
        server += expectContinue ? "HTTP/1.1 100 Continue\r\n\r\n"
                                 : "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n";
      }
      uint16_t status = kStatuses[pick(0, kStatuses.size() - 1)];
      server += "HTTP/1.1 " + std::to_string(status) + " " + token(0, 10) + "\r\n" +
                extraHeaders();
      if (code == PODLENS_METHOD_HEAD || status == 204 || status == 304) {
        server += chance(0.5) ? "Content-Length: " + std::to_string(pick(0, 5000)) + "\r\n\r\n"
                              : "\r\n";
      } else {
        server += framedBody(true);
      }
      c.expected.push_back({code, path, status});
    }
    c.clientBatches.push_back(client);
    c.serverBatches.push_back(server);
  }
  if (chance(0.2)) {  // a last transaction whose response ends at FIN
    c.clientBatches.push_back("GET /last HTTP/1.1\r\nHost: a\r\n\r\n");
    c.serverBatches.push_back("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
                              bytes(pick(0, 2000)));
    c.expected.push_back({PODLENS_METHOD_GET, "/last", 200, PODLENS_EVENT_ENDED_BY_CLOSE});
    c.endsAtFin = true;
  }
  return c;
}

std::vector<size_t> ConversationGenerator::cuts(size_t size) {
  std::vector<size_t> out;
  size_t at = 0;
  while (true) {
    at += chance(0.3) ? pick(1, 20) : pick(21, 1448);
    if (at >= size) {
      return out;
    }
    out.push_back(at);
  }
}

std::vector<podlens_http_event> playConversation(BpfHarness& h, ConversationGenerator& g,
                                                 const Conversation& c, TcpFlow& flow) {
  h.runAll({flow.clientSyn(), flow.serverSynAck()});
  for (size_t b = 0; b < c.clientBatches.size(); ++b) {
    h.runAll(flow.clientSplit(c.clientBatches[b], g.cuts(c.clientBatches[b].size())));
    h.runAll(flow.serverSplit(c.serverBatches[b], g.cuts(c.serverBatches[b].size())));
  }
  h.runAll({flow.serverFin(), flow.clientFin()});
  return h.takeEvents();
}

}  // namespace podlens::test

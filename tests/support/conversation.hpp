// Random HTTP/1.1 conversations with the transactions they hold, for the fuzz test and the
// bench's accuracy run: pipelined batches, Content-Length and chunked bodies both ways
// (random chunk sizes, extensions, trailers), HEAD, 204/304, interim 1xx, a last body until
// FIN. Deterministic for a seed.
#pragma once

#include <podlens/abi.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bpf_harness.hpp"

namespace podlens::test {

// What the parser must report for one transaction.
struct Txn {
  uint8_t method;
  std::string path;
  uint16_t status;
  uint8_t flags = 0;
};

struct Conversation {
  std::vector<std::string> clientBatches;  // batch i is answered by serverBatches[i]
  std::vector<std::string> serverBatches;
  std::vector<Txn> expected;
  bool endsAtFin = false;  // the last response has no length: it ends at the server's FIN
};

class ConversationGenerator {
 public:
  explicit ConversationGenerator(uint32_t seed) : rng_(seed) {}

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  std::string bytes(size_t n);
  std::string token(int lo, int hi);
  std::string extraHeaders();
  // A chunked body: random sizes (hex in either case), extensions, trailers.
  std::string chunkedBody();
  // Content-Length or chunked framing of a body: header lines, blank line, body bytes.
  std::string framedBody(bool allowChunked);
  Conversation conversation();
  // Cut points for a byte string: mostly MSS-sized pieces, some tiny ones.
  std::vector<size_t> cuts(size_t size);

 private:
  std::mt19937 rng_;
};

// Plays a conversation on flow (handshake, each batch cut at random, FINs); returns the
// events it produced.
std::vector<podlens_http_event> playConversation(BpfHarness& h, ConversationGenerator& g,
                                                 const Conversation& c, TcpFlow& flow);

}  // namespace podlens::test

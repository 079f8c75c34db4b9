// A log-linear latency histogram in the manner of HdrHistogram: exact below 2^kSubBits ns,
// then every power of two split into 2^(kSubBits-1) equal buckets, so a recorded value is
// known to within 1/2^(kSubBits-1) of itself (0.8% with kSubBits = 8) over 1 ns .. 2^63 ns.
// Fixed memory (a few thousand counters), O(1) record, mergeable, no allocation after start.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cinttypes>
#include <cstdint>
#include <cstdio>

namespace podlens::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kExact = uint64_t{1} << kSubBits;         // 256 exact buckets
  static constexpr uint64_t kHalf = kExact / 2;                       // buckets per octave
  static constexpr size_t kBuckets = (64 - kSubBits + 2) * kHalf;

  void record(uint64_t ns) {
    ++counts_[indexOf(ns)];
    ++total_;
    sum_ += ns;
    max_ = std::max(max_, ns);
    min_ = std::min(min_, ns);
  }

  void merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) {
      counts_[i] += other.counts_[i];
    }
    total_ += other.total_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
  }

  uint64_t count() const { return total_; }
  uint64_t max() const { return total_ ? max_ : 0; }
  uint64_t min() const { return total_ ? min_ : 0; }
  double mean() const { return total_ ? static_cast<double>(sum_) / total_ : 0; }

  // The value at quantile q (0..1]: the highest value of the bucket holding the
  // ceil(q * count)-th smallest sample, capped by the largest sample seen (HdrHistogram's
  // "highest equivalent value", so a percentile is never under-reported). 0 when empty.
  uint64_t quantile(double q) const {
    if (total_ == 0) {
      return 0;
    }
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_) + 0.999999);
    rank = std::clamp<uint64_t>(rank, 1, total_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return std::min(highestOf(i), max_);
      }
    }
    return max_;
  }

  // Text form, so that runs can be pooled later (rate_client --merge): a header line
  // "latency-histogram v1 COUNT SUM MIN MAX", then "INDEX COUNT" for every non-empty bucket.
  bool save(std::FILE* out) const {
    std::fprintf(out, "latency-histogram v1 %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
                 total_, sum_, min(), max_);
    for (size_t i = 0; i < kBuckets; ++i) {
      if (counts_[i] != 0) {
        std::fprintf(out, "%zu %" PRIu64 "\n", i, counts_[i]);
      }
    }
    return std::ferror(out) == 0;
  }

  // Replaces this histogram with what save wrote. False (and this histogram empty) on a
  // malformed line, a bucket out of range, bucket counts that do not add up to the header's
  // count, or a min or max outside the lowest or highest non-empty bucket.
  bool load(std::FILE* in) {
    *this = LatencyHistogram{};
    uint64_t total = 0, sum = 0, lo = 0, hi = 0;
    if (std::fscanf(in, "latency-histogram v1 %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                    &total, &sum, &lo, &hi) != 4) {
      return false;
    }
    size_t index = 0, first = kBuckets, last = 0;
    uint64_t n = 0, seen = 0;
    int got = 0;
    while ((got = std::fscanf(in, "%zu %" SCNu64, &index, &n)) == 2) {
      if (index >= kBuckets) {
        *this = LatencyHistogram{};
        return false;
      }
      counts_[index] += n;
      seen += n;
      if (n != 0) {
        first = std::min(first, index);
        last = std::max(last, index);
      }
    }
    bool consistent = got == EOF && seen == total &&
                      (total == 0 || (indexOf(lo) == first && indexOf(hi) == last));
    if (!consistent) {
      *this = LatencyHistogram{};
      return false;
    }
    total_ = total;
    sum_ = sum;
    min_ = total ? lo : UINT64_MAX;
    max_ = total ? hi : 0;
    return true;
  }

  static size_t indexOf(uint64_t v) {
    if (v < kExact) {
      return static_cast<size_t>(v);
    }
    int exponent = 63 - std::countl_zero(v);  // >= kSubBits
    int shift = exponent - (kSubBits - 1);     // keeps kSubBits significant bits
    return static_cast<size_t>(shift) * kHalf + static_cast<size_t>(v >> shift);
  }

  static uint64_t lowestOf(size_t index) {
    if (index < kExact) {
      return index;
    }
    uint64_t shift = index / kHalf - 1;
    return (kHalf + index % kHalf) << shift;
  }

  static uint64_t highestOf(size_t index) {
    if (index < kExact) {
      return index;
    }
    uint64_t shift = index / kHalf - 1;
    return lowestOf(index) + (uint64_t{1} << shift) - 1;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace podlens::bench

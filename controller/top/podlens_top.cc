// podlens-top: a live per-pod, per-route summary of a podlens controller's /metrics, the way
// a user would read it from Prometheus: requests/s, error ratio, p50 and p99 over the last
// interval (from histogram deltas, interpolated within buckets like histogram_quantile).
//
//   podlens-top [--url http://127.0.0.1:9464/metrics] [--interval 2] [--count 0]
#include <cpprest/http_client.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Row {  // one (namespace, pod, direction, route), summed over method, status, port
  double count = 0;
  double errors = 0;                 // status >= 500
  std::map<double, double> buckets;  // le -> cumulative count
};

using Snapshot = std::map<std::string, Row>;  // key: "ns/pod\tdir\troute"

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// name{k="v",...} value  (escapes \\ \" \n in values). False for comments and junk.
bool parseSample(const std::string& line, Sample& out) {
  if (line.empty() || line[0] == '#') {
    return false;
  }
  size_t i = line.find_first_of("{ ");
  if (i == std::string::npos) {
    return false;
  }
  out.name = line.substr(0, i);
  out.labels.clear();
  if (line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
        return false;
      }
      std::string key = line.substr(i, eq - i);
      std::string value;
      size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) {
          ++j;
          value += line[j] == 'n' ? '\n' : line[j];
        } else {
          value += line[j];
        }
      }
      out.labels[key] = value;
      i = j + 1;
      if (i < line.size() && line[i] == ',') {
        ++i;
      }
    }
    ++i;
  }
  try {
    out.value = std::stod(line.substr(i));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

void addSample(Snapshot& snapshot, const Sample& s, const std::string& family,
               const char* direction) {
  auto label = [&](const char* k) {
    auto it = s.labels.find(k);
    return it == s.labels.end() ? std::string() : it->second;
  };
  std::string route = s.labels.count("otel_metric_overflow") ? "(overflow)" : label("http_route");
  std::string key = label("k8s_namespace_name") + "/" + label("k8s_pod_name") + "\t" +
                    direction + "\t" + route;
  Row& row = snapshot[key];
  if (s.name == family + "_count") {
    row.count += s.value;
    if (std::atoi(label("http_response_status_code").c_str()) >= 500) {
      row.errors += s.value;
    }
  } else if (s.name == family + "_bucket") {
    std::string le = label("le");
    row.buckets[le == "+Inf" ? INFINITY : std::stod(le)] += s.value;
  }
}

Snapshot parseSnapshot(const std::string& text, double& events) {
  Snapshot snapshot;
  events = 0;
  Sample sample;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? end : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (!parseSample(line, sample)) {
      continue;
    }
    if (sample.name.rfind("http_server_request_duration_seconds_", 0) == 0) {
      addSample(snapshot, sample, "http_server_request_duration_seconds", "in");
    } else if (sample.name.rfind("http_client_request_duration_seconds_", 0) == 0) {
      addSample(snapshot, sample, "http_client_request_duration_seconds", "out");
    } else if (sample.name == "podlens_events_total") {
      events = sample.value;
    }
  }
  return snapshot;
}

// histogram_quantile over bucket deltas: linear within the bucket holding the rank.
double quantile(double q, const std::map<double, double>& now, const std::map<double, double>& before) {
  std::vector<std::pair<double, double>> delta;
  for (const auto& [le, count] : now) {
    auto prev = before.find(le);
    delta.emplace_back(le, count - (prev == before.end() ? 0 : prev->second));
  }
  if (delta.empty() || delta.back().second <= 0) {
    return NAN;
  }
  double rank = q * delta.back().second;
  double lower = 0, below = 0;
  for (const auto& [le, cumulative] : delta) {
    if (cumulative >= rank) {
      if (std::isinf(le)) {
        return lower;  // above the last finite bound: report that bound
      }
      double inBucket = cumulative - below;
      return inBucket <= 0 ? le : lower + (le - lower) * (rank - below) / inBucket;
    }
    lower = le;
    below = cumulative;
  }
  return lower;
}

std::string millis(double seconds) {
  if (std::isnan(seconds)) {
    return "-";
  }
  char text[32];
  std::snprintf(text, sizeof text, seconds < 0.01 ? "%.2fms" : "%.1fms", seconds * 1000);
  return text;
}

void printTable(const Snapshot& now, const Snapshot& before, double seconds, double eventsPerSec) {
  struct Line {
    std::string key;
    double rps, errorRatio, p50, p99;
  };
  std::vector<Line> lines;
  for (const auto& [key, row] : now) {
    auto prev = before.find(key);
    Row empty;
    const Row& old = prev == before.end() ? empty : prev->second;
    double requests = row.count - old.count;
    if (requests <= 0) {
      continue;
    }
    lines.push_back({key, requests / seconds, (row.errors - old.errors) / requests,
                     quantile(0.5, row.buckets, old.buckets),
                     quantile(0.99, row.buckets, old.buckets)});
  }
  std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) { return a.rps > b.rps; });
  auto now_t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char clock[16];
  std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&now_t));
  std::printf("\n%s  last %.1fs  events %.0f/s\n", clock, seconds, eventsPerSec);
  std::printf("%-22s %-3s %-30s %9s %7s %9s %9s\n", "NAMESPACE/POD", "DIR", "ROUTE", "REQ/S",
              "ERR%", "P50", "P99");
  for (const auto& line : lines) {
    size_t tab1 = line.key.find('\t');
    size_t tab2 = line.key.find('\t', tab1 + 1);
    std::printf("%-22s %-3s %-30s %9.1f %6.1f%% %9s %9s\n", line.key.substr(0, tab1).c_str(),
                line.key.substr(tab1 + 1, tab2 - tab1 - 1).c_str(),
                line.key.substr(tab2 + 1).c_str(), line.rps, 100 * line.errorRatio,
                millis(line.p50).c_str(), millis(line.p99).c_str());
  }
  if (lines.empty()) {
    std::printf("(no requests in this interval)\n");
  }
  std::fflush(stdout);
}

bool scrape(web::http::client::http_client& client, std::string& body) {
  try {
    auto response = client.request(web::http::methods::GET).get();
    if (response.status_code() != 200) {
      std::cerr << "podlens-top: HTTP " << response.status_code() << "\n";
      return false;
    }
    body = response.extract_utf8string(true).get();
    return true;
  } catch (const std::exception& e) {
    std::cerr << "podlens-top: " << e.what() << "\n";
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string url = "http://127.0.0.1:9464/metrics";
  double interval = 2;
  long count = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--url") {
      url = argv[i + 1];
    } else if (flag == "--interval") {
      interval = std::max(0.2, std::atof(argv[i + 1]));
    } else if (flag == "--count") {
      count = std::atol(argv[i + 1]);
    } else {
      std::cerr << "usage: podlens-top [--url URL] [--interval SECONDS] [--count N]\n";
      return 2;
    }
  }
  web::http::client::http_client client(url);
  std::string body;
  if (!scrape(client, body)) {
    return 1;
  }
  double events = 0, eventsBefore = 0;
  Snapshot before = parseSnapshot(body, eventsBefore);
  auto last = std::chrono::steady_clock::now();
  for (long n = 0; count == 0 || n < count; ++n) {
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
    if (!scrape(client, body)) {
      return 1;
    }
    auto now = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(now - last).count();
    Snapshot current = parseSnapshot(body, events);
    printTable(current, before, seconds, (events - eventsBefore) / seconds);
    before = std::move(current);
    eventsBefore = events;
    last = now;
  }
  return 0;
}

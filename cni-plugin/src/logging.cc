#include "logging.hpp"

#include <bpf/libbpf.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace podlens::cni {
namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e %L podlens-cni[%P] %v";

int libbpfToSpdlog(libbpf_print_level level, const char* format, va_list args) {
  char line[1024];
  int n = std::vsnprintf(line, sizeof(line), format, args);
  std::string text(line);
  while (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  const auto mapped = level == LIBBPF_WARN   ? spdlog::level::warn
                      : level == LIBBPF_INFO ? spdlog::level::debug
                                             : spdlog::level::trace;
  spdlog::log(mapped, "{}", text);  // libbpf's lines start with "libbpf: "
  return n;
}

void install(std::shared_ptr<spdlog::logger> logger, const std::string& level) {
  logger->set_pattern(kPattern);
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace

void setupDefaultLogging() {
  install(spdlog::stderr_logger_st("podlens-cni-stderr"), "info");
  libbpf_set_print(libbpfToSpdlog);
}

void setupLogging(const std::string& logFile, const std::string& logLevel) {
  if (logFile.empty()) {
    spdlog::default_logger()->set_level(spdlog::level::from_str(logLevel));
    return;
  }
  try {
    install(spdlog::basic_logger_st("podlens-cni-file", logFile), logLevel);
  } catch (const spdlog::spdlog_ex& e) {
    spdlog::warn("cannot log to {} ({}); logging to stderr", logFile, e.what());
    spdlog::default_logger()->set_level(spdlog::level::from_str(logLevel));
  }
}

}  // namespace podlens::cni

// podlens-cni logs to stderr, or to the config's logFile; stdout carries only the reply.
#pragma once

#include <string>

namespace podlens::cni {

// stderr at info, until the config says otherwise. Routes libbpf's messages through spdlog.
void setupDefaultLogging();
// The config's logFile (appended to; stderr when empty or unopenable) and logLevel.
void setupLogging(const std::string& logFile, const std::string& logLevel);

}  // namespace podlens::cni

// podlens-cni: reads the CNI environment and the network configuration, runs the command,
// prints the reply (or the CNI error) on stdout and exits 0 (or 1).
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "commands.hpp"
#include "logging.hpp"

namespace {

using podlens::cni::Command;

int replyError(const podlens::Error& error, const std::string& cniVersion) {
  spdlog::error("{} (code {})", error.message, error.code);
  std::cout << podlens::cni::errorJson(error, cniVersion).dump() << std::endl;
  return 1;
}

std::optional<std::string> fromProcessEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::nullopt : std::optional<std::string>(value);
}

}  // namespace

int run();

int main() {
  try {
    return run();
  } catch (const std::exception& e) {  // cannot happen by design; still answer in CNI's terms
    return replyError(podlens::Error{std::string("internal error: ") + e.what(),
                                     podlens::cni::kInternal},
                      podlens::cni::kLatestVersion);
  }
}

int run() {
  podlens::cni::setupDefaultLogging();
  const std::string input(std::istreambuf_iterator<char>(std::cin), {});
  const std::string version = podlens::cni::replyVersion(input);
  auto env = podlens::cni::parseEnvironment(fromProcessEnv);
  if (!env) {
    return replyError(env.error(), version);
  }
  if (env->command == Command::kVersion) {  // answers whatever the runtime speaks
    std::cout << podlens::cni::versionJson().dump() << std::endl;
    return 0;
  }
  auto config = podlens::cni::parseConfig(input, env->command);
  if (!config) {
    return replyError(config.error(), version);
  }
  podlens::cni::setupLogging(config->logFile, config->logLevel);
  const auto start = std::chrono::steady_clock::now();
  auto reply = podlens::cni::runCommand(*env, *config);
  spdlog::debug("{} took {} us", std::getenv("CNI_COMMAND"),
                std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count());
  if (!reply) {
    return replyError(reply.error(), version);
  }
  if (reply->has_value()) {
    std::cout << (*reply)->dump() << std::endl;
  }
  return 0;
}

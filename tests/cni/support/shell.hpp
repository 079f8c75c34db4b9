// Runs shell commands for the CNI integration tests: the real tools (ip, tc, bpftool, cnitool)
// are driven as a person would, and their output is asserted on.
#pragma once

#include <map>
#include <string>

namespace podlens::test {

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
  bool ok() const { return exitCode == 0; }
};

// Runs `sh -c command` with stdinData on its stdin and env added to its environment.
CommandResult runShell(const std::string& command, const std::string& stdinData = "",
                       const std::map<std::string, std::string>& env = {});

// A name unique to this process and call, at most 15 characters (IFNAMSIZ - 1): prefix
// (at most 4 characters) + pid + counter.
std::string uniqueName(const std::string& prefix);

}  // namespace podlens::test

#include "shell.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace podlens::test {
namespace {

std::string slurp(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string tempFile(const char* what) {
  std::string path = std::string("/tmp/podlens-sh-") + what + "-XXXXXX";
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  int fd = mkstemp(buf.data());
  if (fd < 0) {
    throw std::runtime_error("mkstemp failed");
  }
  close(fd);
  return buf.data();
}

}  // namespace

CommandResult runShell(const std::string& command, const std::string& stdinData,
                       const std::map<std::string, std::string>& env) {
  const std::string in = tempFile("in"), out = tempFile("out"), err = tempFile("err");
  std::ofstream(in) << stdinData;
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [key, value] : env) {
      setenv(key.c_str(), value.c_str(), 1);
    }
    int i = open(in.c_str(), O_RDONLY), o = open(out.c_str(), O_WRONLY),
        e = open(err.c_str(), O_WRONLY);
    dup2(i, 0);
    dup2(o, 1);
    dup2(e, 2);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandResult result;
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int o = open(out.c_str(), O_RDONLY), e = open(err.c_str(), O_RDONLY);
  result.out = slurp(o);
  result.err = slurp(e);
  close(o);
  close(e);
  unlink(in.c_str());
  unlink(out.c_str());
  unlink(err.c_str());
  return result;
}

std::string uniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::ostringstream name;
  name << prefix.substr(0, 4) << (getpid() % 1000000) << "x" << counter++;
  return name.str().substr(0, 15);
}

}  // namespace podlens::test

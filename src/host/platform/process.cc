#include "host/platform/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/sys.h"

namespace cf::host {

Result<ProcessResult> run_process(const std::vector<std::string>& argv, std::chrono::milliseconds deadline,
                                  std::size_t max_output) {
  if (argv.empty()) return Error{"run_process: no program"};
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  Fd read_end(pipefd[0]), write_end(pipefd[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    // The agent blocks its signals (signalfd); the tool must not inherit that.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(pipefd[1], 1) < 0 || ::dup2(pipefd[1], 2) < 0) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(errno == ENOENT ? 127 : 126);
  }
  ::close(write_end.release());
  ProcessResult r;
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{read_end.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = ::read(read_end.get(), buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    r.output.append(buf, static_cast<std::size_t>(got));
    if (r.output.size() > max_output) r.output.erase(0, r.output.size() - max_output);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  r.exited = WIFEXITED(status);
  if (r.exited) r.exit_status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

std::string describe_end(const ProcessResult& r) {
  return r.exited ? "exit status " + std::to_string(r.exit_status) : "signal " + std::to_string(r.signal);
}

}  // namespace cf::host

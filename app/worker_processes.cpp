#include "app/worker_processes.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstring>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hm {

namespace {

std::string self_executable() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return {};
  return std::string(buf, static_cast<size_t>(n));
}

std::string describe(int status) {
  if (WIFEXITED(status))
    return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string{"killed by "} + ::strsignal(WTERMSIG(status));
  return "ended";
}

} // namespace

worker_processes::worker_processes(unsigned count, std::vector<std::vector<std::string>> args)
  : args_(std::move(args)), pids_(count, -1) {
  for (unsigned i = 0; i < count; ++i)
    pids_[i] = spawn(i);
  watcher_ = std::thread{[this] { watch(); }};
}

worker_processes::~worker_processes() {
  stop(5);
}

pid_t worker_processes::spawn(unsigned index) {
  auto exe = self_executable();
  std::vector<std::string> argv_s{exe};
  argv_s.insert(argv_s.end(), args_[index].begin(), args_[index].end());
  std::vector<char*> argv;
  for (auto& a : argv_s)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto pid = ::fork();
  if (pid == 0) {
    // The worker dies with its coordinator, and handles signals itself.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0)
    spdlog::error("cluster: cannot start worker {}: {}", index + 1, std::strerror(errno));
  else
    spdlog::info("cluster: started worker process {} (pid {})", index + 1, pid);
  return pid;
}

void worker_processes::watch() {
  for (;;) {
    int status = 0;
    auto pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR)
        continue;
      if (stopping_)
        return;
      // No child right now (a spawn failed): look again shortly.
      std::this_thread::sleep_for(std::chrono::seconds{1});
      std::lock_guard guard{mtx_};
      for (unsigned i = 0; i < pids_.size(); ++i)
        if (pids_[i] < 0 && !stopping_)
          pids_[i] = spawn(i);
      continue;
    }
    std::lock_guard guard{mtx_};
    for (unsigned i = 0; i < pids_.size(); ++i) {
      if (pids_[i] != pid)
        continue;
      pids_[i] = -1;
      if (stopping_)
        break;
      spdlog::warn("cluster: worker process {} (pid {}) {}; starting it again", i + 1, pid,
                   describe(status));
      // A worker that dies at once must not turn into a fork loop.
      std::this_thread::sleep_for(std::chrono::milliseconds{500});
      pids_[i] = spawn(i);
    }
    if (stopping_ && std::all_of(pids_.begin(), pids_.end(), [](pid_t p) { return p < 0; }))
      return;
  }
}

void worker_processes::stop(int grace_seconds) {
  if (stopping_.exchange(true))
    return;
  {
    std::lock_guard guard{mtx_};
    for (auto pid : pids_)
      if (pid > 0)
        ::kill(pid, SIGTERM);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{grace_seconds};
  for (;;) {
    {
      std::lock_guard guard{mtx_};
      if (std::all_of(pids_.begin(), pids_.end(), [](pid_t p) { return p < 0; }))
        break;
      if (std::chrono::steady_clock::now() > deadline) {
        for (auto pid : pids_)
          if (pid > 0)
            ::kill(pid, SIGKILL);
        deadline = std::chrono::steady_clock::time_point::max();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  if (watcher_.joinable())
    watcher_.join();
}

} // namespace hm

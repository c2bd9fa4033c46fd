#pragma once

// `run --cluster-listen ... --workers N`: the coordinator runs its profiles in
// N child processes of the same binary, so that a crash in native code takes
// down only one worker's profiles. A worker that dies is started again.

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace hm {

class worker_processes {
public:
  /// `args_of(i)` is the command line (after argv[0]) of worker i (0-based).
  worker_processes(unsigned count, std::vector<std::vector<std::string>> args);
  ~worker_processes();

  worker_processes(const worker_processes&) = delete;
  worker_processes& operator=(const worker_processes&) = delete;

  /// SIGTERM to every worker, then waits for them (SIGKILL after `grace_seconds`).
  void stop(int grace_seconds);

private:
  pid_t spawn(unsigned index);
  void watch();

  std::vector<std::vector<std::string>> args_;
  std::vector<pid_t> pids_;
  std::mutex mtx_;
  std::atomic<bool> stopping_{false};
  std::thread watcher_;
};

} // namespace hm

#pragma once

#include "actors/http/curl_transfer.hpp"

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace hm {

/// The one thread of the http engine: it owns a libcurl multi handle (and so
/// the connection cache every call shares) and drives all transfers with
/// libcurl's socket interface: it sleeps in epoll_wait until one of the sockets
/// libcurl asked to watch is ready, libcurl's timer is due or new work wakes it,
/// and then hands libcurl only that socket. (curl_multi_perform and
/// curl_multi_poll look at every transfer and poll every socket on each wake-up:
/// with thousands of idle profiles, each holding a /sync long-poll, that was
/// nearly all of the idle CPU, growing with the square of the profiles.)
///
/// submit() and cancel() may be called from any thread; they queue the work
/// under a mutex and wake the thread through an eventfd.
class curl_thread {
public:
  /// Called on the curl thread with the serial and the result of every call
  /// that ends while the thread runs.
  using report_fn = std::function<void(uint64_t serial, http_result result)>;

  curl_thread(http_engine_options options, report_fn report);
  /// Stops the thread and waits for it; transfers in flight end unreported.
  ~curl_thread();
  curl_thread(const curl_thread&) = delete;
  curl_thread& operator=(const curl_thread&) = delete;

  void submit(curl_job job);
  /// Ends the call with this serial with a "cancelled" result (if still running).
  void cancel(uint64_t serial);

private:
  void run();
  void start(curl_job job);
  void end(uint64_t serial, std::string why);
  void collect_finished();
  /// libcurl's CURLMOPT_SOCKETFUNCTION: watch `fd` for `what` (or stop).
  static int watch_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  /// libcurl's CURLMOPT_TIMERFUNCTION: call it back after `ms` (-1: never).
  static int set_timer(CURLM* multi, long ms, void* self);
  /// How long epoll_wait may sleep: until libcurl's timer, at most a second.
  int wait_ms() const;

  http_engine_options options_;
  report_fn report_;
  CURLM* multi_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1; // an eventfd: written by submit(), cancel() and the destructor
  // libcurl's timer; touched only by the curl thread (libcurl calls set_timer there).
  std::optional<std::chrono::steady_clock::time_point> timer_;

  // Work handed over by other threads; guarded by mutex_.
  std::mutex mutex_;
  std::vector<curl_job> new_jobs_;
  std::vector<uint64_t> cancels_;
  bool stopping_ = false;

  // Touched only by the curl thread.
  std::unordered_map<uint64_t, std::unique_ptr<curl_transfer>> transfers_;

  std::thread thread_; // last: starts once everything above exists
};

} // namespace hm

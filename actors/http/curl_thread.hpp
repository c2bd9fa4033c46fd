#pragma once

#include "actors/http/curl_transfer.hpp"

#include <curl/curl.h>

#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace hm {

/// The one thread of the http engine: it owns a libcurl multi handle (and so
/// the connection cache every call shares) and drives all transfers, sleeping
/// in curl_multi_poll until a socket is ready or new work wakes it.
///
/// submit() and cancel() may be called from any thread; they queue the work
/// under a mutex and wake the thread with curl_multi_wakeup.
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

  http_engine_options options_;
  report_fn report_;
  CURLM* multi_;

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

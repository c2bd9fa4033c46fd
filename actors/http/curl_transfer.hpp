#pragma once

#include "actors/http/engine.hpp"
#include "messages/http.hpp"
#include "messages/interfaces.hpp"

#include <curl/curl.h>

#include <chrono>
#include <string>

namespace hm {

/// A call as the curl thread receives it from the engine actor.
struct curl_job {
  /// Names the call inside the engine (requesters may reuse their ids).
  uint64_t serial = 0;
  http_call call;
  /// Receives the body as chunks when call.stream is set.
  http_stream_sink_actor sink;
  /// When the call reached the engine (for http_result::elapsed).
  std::chrono::steady_clock::time_point received;
};

/// One call on the curl thread: its easy handle, configured from the call, and
/// what has arrived of the response. Lives only on the curl thread.
class curl_transfer {
public:
  curl_transfer(curl_job job, const http_engine_options& options);
  ~curl_transfer();
  curl_transfer(const curl_transfer&) = delete;
  curl_transfer& operator=(const curl_transfer&) = delete;

  /// The easy handle, or nullptr if libcurl could not allocate one.
  [[nodiscard]] CURL* easy() const noexcept { return easy_; }
  [[nodiscard]] uint64_t serial() const noexcept { return job_.serial; }

  /// The result once libcurl has finished the transfer with `code`.
  [[nodiscard]] http_result finish(CURLcode code);

  /// A result without response that says `why` (cancelled, shutting down, ...).
  [[nodiscard]] http_result fail(std::string why) const;

private:
  static size_t on_header(char* data, size_t size, size_t count, void* self);
  static size_t on_body(char* data, size_t size, size_t count, void* self);
  void configure(const http_engine_options& options);

  curl_job job_;
  CURL* easy_;
  curl_slist* header_list_ = nullptr;
  http_result result_;
  uint64_t body_bytes_ = 0;
  bool too_large_ = false;
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

} // namespace hm

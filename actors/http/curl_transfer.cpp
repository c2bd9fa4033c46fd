#include "actors/http/curl_transfer.hpp"

#include <caf/send.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>

namespace hm {

namespace {

long millis(caf::timespan t) {
  // 0 would mean "no limit" to libcurl.
  return std::max<long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(t).count());
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

/// Overwrites a string that held a credential before its buffer is freed.
void wipe(char* s) {
  std::memset(s, 0, std::strlen(s));
}

} // namespace

curl_transfer::curl_transfer(curl_job job, const http_engine_options& options)
  : job_(std::move(job)), easy_(curl_easy_init()) {
  result_.id = job_.call.id;
  if (easy_ != nullptr)
    configure(options);
}

curl_transfer::~curl_transfer() {
  if (easy_ != nullptr)
    curl_easy_cleanup(easy_);
  // The list holds the Authorization header.
  for (auto* node = header_list_; node != nullptr; node = node->next)
    wipe(node->data);
  curl_slist_free_all(header_list_);
}

void curl_transfer::configure(const http_engine_options& options) {
  auto& call = job_.call;
  curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(easy_, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
  // Timeouts must not raise SIGALRM in a multi-threaded process.
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(easy_, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  // "": every encoding this libcurl can decode (gzip, deflate, ...).
  curl_easy_setopt(easy_, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, millis(call.timeout));
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS,
                   millis(std::min(options.connect_timeout, call.timeout)));
  // Unset, libcurl reads http_proxy, https_proxy and no_proxy itself.
  if (!call.proxy.empty())
    curl_easy_setopt(easy_, CURLOPT_PROXY, call.proxy.c_str());
  // A proxy's CONNECT answer is not the response.
  curl_easy_setopt(easy_, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);

  if (call.method == "GET" && call.body.empty()) {
    curl_easy_setopt(easy_, CURLOPT_HTTPGET, 1L);
  } else if (call.method == "HEAD") {
    curl_easy_setopt(easy_, CURLOPT_NOBODY, 1L);
  } else {
    // The body stays in job_ for the whole transfer, so libcurl need not copy it.
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(call.body.size()));
    if (call.method != "POST")
      curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }

  for (auto& [name, value] : call.headers) {
    // "Name;" is how libcurl sends a header with an empty value.
    auto line = value.empty() ? name + ";" : name + ": " + value;
    header_list_ = curl_slist_append(header_list_, line.c_str());
  }
  if (!call.authorization.empty()) {
    std::string line = "Authorization: ";
    line += call.authorization.reveal();
    header_list_ = curl_slist_append(header_list_, line.c_str());
    wipe(line.data());
  }
  // Without it libcurl waits for "100 Continue" before sending larger bodies.
  header_list_ = curl_slist_append(header_list_, "Expect:");
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, header_list_);

  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &curl_transfer::on_header);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &curl_transfer::on_body);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
}

size_t curl_transfer::on_header(char* data, size_t size, size_t count, void* self) {
  auto* t = static_cast<curl_transfer*>(self);
  std::string_view line{data, size * count};
  if (line.starts_with("HTTP/")) {
    // A new response begins (after "100 Continue", for one): only the last counts.
    t->result_.headers.clear();
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name{trim(line.substr(0, colon))};
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    t->result_.headers.emplace_back(std::move(name), std::string{trim(line.substr(colon + 1))});
  }
  return size * count;
}

size_t curl_transfer::on_body(char* data, size_t size, size_t count, void* self) {
  auto* t = static_cast<curl_transfer*>(self);
  auto length = size * count;
  t->body_bytes_ += length;
  if (t->body_bytes_ > t->job_.call.max_body_bytes) {
    t->too_large_ = true;
    return 0; // less than given: libcurl aborts the transfer
  }
  if (t->job_.call.stream)
    caf::anon_send(t->job_.sink, http_chunk{t->job_.call.id, std::string{data, length}});
  else
    t->result_.body.append(data, length);
  return length;
}

http_result curl_transfer::finish(CURLcode code) {
  if (too_large_) {
    auto result = fail("response body larger than " + std::to_string(job_.call.max_body_bytes)
                       + " bytes");
    result.body_too_large = true;
    return result;
  }
  if (code != CURLE_OK) {
    std::string detail = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT)
      return fail("timeout: " + detail);
    if (code == CURLE_PARTIAL_FILE)
      return fail("the response ended early: " + detail);
    return fail(detail);
  }
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  result_.status = static_cast<int>(status);
  result_.elapsed = std::chrono::steady_clock::now() - job_.received;
  return std::move(result_);
}

http_result curl_transfer::fail(std::string why) const {
  http_result r;
  r.id = job_.call.id;
  r.error = std::move(why);
  r.elapsed = std::chrono::steady_clock::now() - job_.received;
  return r;
}

} // namespace hm

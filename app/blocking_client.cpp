#include "app/blocking_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <thread>

namespace hm {

namespace {

constexpr long max_body_bytes = 16L << 20; // a login or admin answer is tiny

size_t on_body(char* data, size_t size, size_t count, void* out) {
  auto& body = *static_cast<std::string*>(out);
  if (body.size() + size * count > static_cast<size_t>(max_body_bytes))
    return 0; // aborts the transfer
  body.append(data, size * count);
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* out) {
  std::string_view line(data, size * count);
  constexpr std::string_view name = "retry-after:";
  if (line.size() > name.size()) {
    std::string head(line.substr(0, name.size()));
    for (auto& c : head)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head == name) {
      auto value = line.substr(name.size());
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
      *static_cast<std::optional<std::string>*>(out) = std::string(value);
    }
  }
  return size * count;
}

struct easy_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

} // namespace

blocking_client::blocking_client(std::string base_url, std::string proxy)
  : base_url_(std::move(base_url)), proxy_(std::move(proxy)) {
  while (!base_url_.empty() && base_url_.back() == '/')
    base_url_.pop_back();
}

std::optional<std::chrono::milliseconds>
blocking_client::rate_limit_wait(const matrix::http_response& r, std::chrono::milliseconds waited) {
  using namespace std::chrono_literals;
  constexpr auto budget = std::chrono::milliseconds{2min};
  auto told = matrix::parse_matrix_error(r).retry_after.value_or(1s);
  auto wait = std::clamp<std::chrono::milliseconds>(told, 100ms, 30s);
  if (waited + wait > budget)
    return std::nullopt;
  std::cerr << "hermes-matrix: the homeserver is rate limiting (HTTP 429); trying again in "
            << std::chrono::duration_cast<std::chrono::duration<double>>(wait).count()
            << " s\n";
  std::this_thread::sleep_for(wait);
  return wait;
}

blocking_client::response blocking_client::perform(const matrix::http_request& request) const {
  response out;
  std::unique_ptr<CURL, easy_deleter> easy{curl_easy_init()};
  if (!easy) {
    out.transport_error = "libcurl could not start a request";
    return out;
  }
  auto* e = easy.get();
  auto url = base_url_ + request.target;
  auto body = matrix::body_text(request);
  std::unique_ptr<curl_slist, slist_deleter> headers;
  auto add_header = [&](const std::string& h) {
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  };
  add_header("Accept: application/json");
  if (request.body)
    add_header("Content-Type: application/json");
  std::string auth;
  if (request.needs_access_token && !token_.empty()) {
    auth = "Authorization: Bearer " + std::string(token_.reveal());
    add_header(auth);
  }
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(e, CURLOPT_USERAGENT, "hermes-matrix");
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                   std::string(matrix::to_string(request.method)).c_str());
  if (request.body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (!proxy_.empty())
    curl_easy_setopt(e, CURLOPT_PROXY, proxy_.c_str());
  if (!ca_file_.empty())
    curl_easy_setopt(e, CURLOPT_CAINFO, ca_file_.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &out.retry_after);
  auto code = curl_easy_perform(e);
  // The request's copies of the token and the password are not needed any more.
  std::fill(auth.begin(), auth.end(), '\0');
  std::fill(body.begin(), body.end(), '\0');
  if (code != CURLE_OK) {
    // libcurl's message names the host and the cause, never the body or headers.
    out.transport_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    out.body.clear();
    return out;
  }
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  out.status = static_cast<int>(status);
  return out;
}

} // namespace hm

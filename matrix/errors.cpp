#include "matrix/errors.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <limits>

#include "matrix/bounded_json.hpp"

namespace hm::matrix {

namespace {

constexpr std::size_t excerpt_limit = 120;
// A Retry-After of more than a day is a server bug or hostile; waiting that long would
// look like a hang. Clamp rather than obey.
constexpr std::chrono::milliseconds retry_after_ceiling{24LL * 3600 * 1000};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                        s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::optional<int> parse_fixed_int(std::string_view s) {
  if (s.empty())
    return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (!is_digit(c))
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::int64_t> parse_imf_fixdate(std::string_view s) {
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
      s[16] != ' ' || s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  static constexpr std::array<std::string_view, 12> months{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  unsigned month = 0;
  for (unsigned i = 0; i < months.size(); ++i)
    if (s.substr(8, 3) == months[i])
      month = i + 1;
  auto day = parse_fixed_int(s.substr(5, 2));
  auto year = parse_fixed_int(s.substr(12, 4));
  auto hh = parse_fixed_int(s.substr(17, 2));
  auto mm = parse_fixed_int(s.substr(20, 2));
  auto ss = parse_fixed_int(s.substr(23, 2));
  if (month == 0 || !day || !year || !hh || !mm || !ss || *day < 1 || *day > 31 ||
      *hh > 23 || *mm > 59 || *ss > 60)
    return std::nullopt;
  return days_from_civil(*year, month, static_cast<unsigned>(*day)) * 86400 +
         *hh * 3600 + *mm * 60 + *ss;
}

std::chrono::milliseconds clamp_delay(std::chrono::milliseconds d) {
  if (d < std::chrono::milliseconds{0})
    return std::chrono::milliseconds{0};
  return d > retry_after_ceiling ? retry_after_ceiling : d;
}

// A short, single-line, printable excerpt of a body we could not read. Anything that
// looks like an access token is masked in case a proxy echoes the request.
std::string excerpt(std::string_view body) {
  std::string out;
  bool last_space = true;
  for (char ch : body) {
    if (out.size() >= excerpt_limit)
      break;
    auto c = static_cast<unsigned char>(ch);
    bool printable = c >= 0x21 && c < 0x7F;
    if (!printable) {
      if (!last_space)
        out.push_back(' ');
      last_space = true;
      continue;
    }
    out.push_back(ch);
    last_space = false;
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  // Synapse tokens start "syt_", MAS tokens "mat_"; mask whatever follows.
  for (std::string_view prefix : {"syt_", "mat_", "Bearer "}) {
    for (auto pos = out.find(prefix); pos != std::string::npos;
         pos = out.find(prefix, pos + 1)) {
      auto start = pos + prefix.size();
      auto end = start;
      while (end < out.size() && out[end] != ' ' && out[end] != '"' && out[end] != '<')
        ++end;
      if (end > start)
        out.replace(start, end - start, "***");
    }
  }
  // A mask is longer than a one- or two-character "token": keep the excerpt within its
  // limit all the same (a hostile body full of prefixes must not make it grow).
  if (out.size() > excerpt_limit)
    out.resize(excerpt_limit);
  if (body.size() > excerpt_limit)
    out += "...";
  return out;
}

} // namespace

std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view header, std::chrono::system_clock::time_point now) {
  header = trim(header);
  if (header.empty())
    return std::nullopt;
  if (is_digit(header.front())) {
    std::int64_t seconds = 0;
    for (char c : header) {
      if (!is_digit(c))
        return std::nullopt;
      if (seconds > std::numeric_limits<std::int64_t>::max() / 10000)
        return retry_after_ceiling; // absurdly large: clamp, do not overflow
      seconds = seconds * 10 + (c - '0');
    }
    return clamp_delay(std::chrono::milliseconds{seconds * 1000});
  }
  auto at = parse_imf_fixdate(header);
  if (!at)
    return std::nullopt;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    now.time_since_epoch())
                    .count();
  // Dates far outside any sane range would overflow the subtraction below.
  if (*at < 0 || *at > std::int64_t{400} * 366 * 86400 * 100)
    return std::nullopt;
  return clamp_delay(std::chrono::milliseconds{*at * 1000 - now_ms});
}

matrix_error parse_matrix_error(const http_response& r) {
  matrix_error e;
  e.http_status = r.status;
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{16, 1u << 20}, &why);
  if (j && j->is_object() && string_field(*j, "errcode")) {
    e.errcode = *string_field(*j, "errcode");
    e.error = string_field(*j, "error").value_or("");
    if (e.error.size() > 512)
      e.error.resize(512); // a server's message, but bounded all the same
    e.soft_logout = bool_field(*j, "soft_logout").value_or(false);
    if (auto ms = int_field(*j, "retry_after_ms"))
      e.retry_after = clamp_delay(std::chrono::milliseconds{*ms});
  } else {
    e.body_was_json = j && j->is_object();
    e.errcode = "M_UNKNOWN";
    e.error = r.body.empty() ? std::string{"empty response body"}
                             : (e.body_was_json ? "error response without errcode: "
                                                : "non-JSON response: ") +
                                   excerpt(r.body);
  }
  if (r.retry_after_header) {
    if (auto d = parse_retry_after(*r.retry_after_header, r.received_at))
      e.retry_after = d;
  }
  return e;
}

matrix_error network_error(std::string what) {
  matrix_error e;
  e.http_status = 0;
  e.errcode = std::string{errcode_network};
  e.error = std::move(what);
  e.body_was_json = false;
  return e;
}

matrix_error bad_response(int status, std::string what) {
  matrix_error e;
  e.http_status = status;
  e.errcode = std::string{errcode_bad_response};
  e.error = std::move(what);
  return e;
}

error_action classify(const matrix_error& e) {
  const auto& c = e.errcode;
  if (c == "M_UNKNOWN_TOKEN" || c == "M_MISSING_TOKEN")
    return error_action::stop_profile;
  if (c == "M_UNKNOWN_POS")
    return error_action::restart_sync;
  if (c == "M_LIMIT_EXCEEDED" || e.http_status == 429)
    return error_action::retry;
  if (c == errcode_network || c == errcode_bad_response)
    return error_action::retry;
  if (e.http_status == 401)
    return error_action::stop_profile;
  if (e.http_status >= 500 || e.http_status == 408)
    return error_action::retry;
  return error_action::fail_request;
}

std::string_view to_string(error_action a) {
  switch (a) {
    case error_action::retry:
      return "retry";
    case error_action::stop_profile:
      return "stop_profile";
    case error_action::restart_sync:
      return "restart_sync";
    case error_action::fail_request:
      return "fail_request";
  }
  return "fail_request";
}

std::string to_string(const matrix_error& e) {
  std::string s = e.errcode;
  if (e.http_status != 0)
    s += " (HTTP " + std::to_string(e.http_status) + ")";
  if (!e.error.empty())
    s += ": " + e.error;
  return s;
}

} // namespace hm::matrix

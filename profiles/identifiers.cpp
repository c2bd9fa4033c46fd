#include "profiles/identifiers.hpp"

#include <algorithm>
#include <cctype>

namespace hm::profiles {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }
bool lower_alnum(char c) { return digit(c) || (c >= 'a' && c <= 'z'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), digit))
    return false;
  return std::stoi(std::string(p)) <= 65535;
}

} // namespace

bool valid_server_name(std::string_view s) {
  if (s.empty() || s.size() > 255)
    return false;
  std::string_view host = s;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close < 3)
      return false;
    std::string_view v6 = s.substr(1, close - 1);
    for (char c : v6)
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'))
        return false;
    std::string_view rest = s.substr(close + 1);
    return rest.empty() || (rest.front() == ':' && valid_port(rest.substr(1)));
  }
  if (auto colon = s.find(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    if (!valid_port(s.substr(colon + 1)))
      return false;
  }
  if (host.empty())
    return false;
  // DNS name or IPv4 address: [A-Za-z0-9.-], labels not empty.
  if (host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos)
    return false;
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return alnum(c) || c == '-' || c == '.'; });
}

id_syntax user_id_syntax(std::string_view s) {
  if (s.size() < 4 || s.size() > 255 || s.front() != '@')
    return id_syntax::invalid;
  auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 1)
    return id_syntax::invalid;
  std::string_view local = s.substr(1, colon - 1);
  if (!valid_server_name(s.substr(colon + 1)))
    return id_syntax::invalid;
  bool current = true;
  for (char c : local) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E)
      return id_syntax::invalid;
    if (!(lower_alnum(c) || c == '.' || c == '_' || c == '=' || c == '-' || c == '/' || c == '+'))
      current = false;
  }
  return current ? id_syntax::valid : id_syntax::historical;
}

static bool opaque_then_server(std::string_view s, char sigil, bool server_optional) {
  if (s.size() < 2 || s.size() > 255 || s.front() != sigil)
    return false;
  auto colon = s.find(':');
  std::string_view opaque = s.substr(1, colon == std::string_view::npos ? s.npos : colon - 1);
  if (opaque.empty())
    return false;
  for (char c : opaque) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F)
      return false;
  }
  if (colon == std::string_view::npos)
    return server_optional;
  return valid_server_name(s.substr(colon + 1));
}

bool valid_room_id(std::string_view s) { return opaque_then_server(s, '!', true); }

bool looks_like_room_alias(std::string_view s) { return opaque_then_server(s, '#', false); }

std::optional<std::string> url_problem(std::string_view url, std::string_view schemes) {
  if (url.empty())
    return "is empty";
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F)
      return "contains a space or control character";
  }
  auto sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return "has no scheme (it must start with " + std::string(schemes.substr(0, schemes.find(','))) + "://)";
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool known = false;
  for (std::string_view rest = schemes; !rest.empty();) {
    auto comma = rest.find(',');
    known = known || rest.substr(0, comma) == scheme;
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  if (!known)
    return "has an unsupported scheme (use one of: " + std::string(schemes) + ")";
  std::string_view authority = url.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  if (authority.empty())
    return "has no host";
  if (!valid_server_name(authority))
    return "has an invalid host or port";
  return std::nullopt;
}

std::string printable_url(std::string_view url) {
  auto sep = url.find("://");
  auto start = sep == std::string_view::npos ? 0 : sep + 3;
  auto authority = url.substr(start);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  auto at = authority.rfind('@');
  if (at == std::string_view::npos)
    return std::string{url};
  return std::string{url.substr(0, start)} + "[redacted]" + std::string{url.substr(start + at)};
}

std::string url_host(std::string_view url) {
  auto sep = url.find("://");
  std::string_view authority = sep == std::string_view::npos ? url : url.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[')
    host = host.substr(0, host.find(']') + 1);
  else
    host = host.substr(0, host.find(':'));
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

} // namespace hm::profiles

#include "matrix/media.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "matrix/base64.hpp"
#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"

namespace hm::matrix {

namespace {

using nlohmann::json;

constexpr std::string_view mxc_scheme = "mxc://";
constexpr std::size_t max_dns_name = 255; // the spec's 1*255dns-char
constexpr std::size_t max_media_id = 255; // no spec limit; a bound keeps URLs sane
constexpr std::array<std::string_view, 4> media_msgtypes{"m.image", "m.audio", "m.video",
                                                         "m.file"};
// Sender claims beyond these are nonsense (or hostile): 2^30 px, 2^53 bytes or ms.
constexpr std::uint64_t max_dimension = 1u << 30;
constexpr std::uint64_t max_claim = std::uint64_t{1} << 53;

matrix_error media_error(std::string_view errcode, std::string what) {
  matrix_error e;
  e.errcode = std::string{errcode};
  e.error = std::move(what);
  return e;
}

matrix_error bad_content(std::string what) {
  return media_error(errcode_bad_media_content, "media content: " + std::move(what));
}

matrix_error bad_file(std::string what) {
  return media_error(errcode_bad_encrypted_file, "encrypted file: " + std::move(what));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_hex(char c) {
  return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

// server_name = hostname [ ":" port ]; hostname = IPv4address / "[" IPv6address "]" /
// dns-name (spec appendix "Server Name"). An IPv4 address is also a dns-name by
// characters, so it needs no case of its own.
bool is_server_name(std::string_view s) {
  std::string_view host = s;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos)
      return false;
    auto v6 = s.substr(1, close - 1);
    if (v6.size() < 2 || v6.size() > 45 ||
        !std::all_of(v6.begin(), v6.end(),
                     [](char c) { return is_hex(c) || c == ':' || c == '.'; }))
      return false;
    host = s.substr(0, close + 1);
  } else {
    host = s.substr(0, s.find(':'));
    if (host.empty() || host.size() > max_dns_name ||
        !std::all_of(host.begin(), host.end(), [](char c) {
          return is_digit(c) || is_alpha(c) || c == '-' || c == '.';
        }))
      return false;
  }
  auto rest = s.substr(host.size());
  if (rest.empty())
    return true;
  auto port = rest.substr(1);
  return rest.front() == ':' && !port.empty() && port.size() <= 5 &&
         std::all_of(port.begin(), port.end(), is_digit);
}

bool is_media_id(std::string_view s) {
  return !s.empty() && s.size() <= max_media_id &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return is_digit(c) || is_alpha(c) || c == '-' || c == '_'; });
}

// The bytes of a base64 field of `obj` when they are exactly `size` long.
std::optional<std::string> fixed_bytes(const json& obj, std::string_view key, std::size_t size,
                                       bool url_safe) {
  auto text = string_field(obj, key);
  if (!text)
    return std::nullopt;
  auto bytes = url_safe ? base64url_decode(*text) : base64_decode(*text);
  if (!bytes || bytes->size() != size)
    return std::nullopt;
  return std::string{bytes->begin(), bytes->end()};
}

// What the sender claims a count is (a size, a dimension, a duration): absent is 0 and a
// JSON integer is taken; a float (some bridges write durations so) is truncated. A
// string, a negative or an absurd number is an error naming `where`.
result<std::uint64_t> claimed_count(const json& obj, std::string_view key,
                                    std::string_view where, std::uint64_t max) {
  const auto* v = find_field(obj, key);
  if (v == nullptr)
    return std::uint64_t{0};
  std::optional<double> number;
  if (auto i = int_value(*v))
    number = static_cast<double>(*i);
  else if (v->is_number_float())
    number = v->get<double>();
  if (!number || !std::isfinite(*number) || *number < 0 ||
      *number > static_cast<double>(max))
    return hm::unexpected{bad_content(std::string{where} + " is not a non-negative number")};
  return static_cast<std::uint64_t>(*number);
}

// A string field that may be absent ("") but not of another type.
result<std::string> optional_string(const json& obj, std::string_view key,
                                    std::string_view where) {
  const auto* v = find_field(obj, key);
  if (v == nullptr)
    return std::string{};
  if (!v->is_string())
    return hm::unexpected{bad_content(std::string{where} + " is not a string")};
  return v->get<std::string>();
}

// url (an mxc URI string) and file (an EncryptedFile) of `obj`, either of which may be
// absent; present and malformed is an error.
struct media_source {
  std::optional<mxc_uri> url;
  std::optional<encrypted_file> file;
};

result<media_source> read_source(const json& obj, std::string_view url_key,
                                 std::string_view file_key) {
  media_source s;
  if (const auto* u = find_field(obj, url_key)) {
    s.url = u->is_string() ? parse_mxc(u->get<std::string>()) : std::nullopt;
    if (!s.url)
      return hm::unexpected{bad_content(std::string{url_key} + " is not an mxc:// URI")};
  }
  if (const auto* f = find_field(obj, file_key)) {
    auto file = parse_encrypted_file(*f);
    if (!file) {
      auto e = file.error();
      e.error = std::string{file_key} + ": " + e.error;
      return hm::unexpected{std::move(e)};
    }
    s.file = std::move(file.value());
  }
  return s;
}

struct claimed_info {
  std::string mimetype;
  std::uint64_t size = 0;
  int width = 0;
  int height = 0;
  std::uint64_t duration_ms = 0;
};

// mimetype, size, w, h and duration of an info object (`where`: "info" or
// "info.thumbnail_info", for the error text).
result<claimed_info> read_info(const json& info, std::string_view where) {
  claimed_info c;
  auto prefix = std::string{where} + ".";
  auto mimetype = optional_string(info, "mimetype", prefix + "mimetype");
  auto size = claimed_count(info, "size", prefix + "size", max_claim);
  auto w = claimed_count(info, "w", prefix + "w", max_dimension);
  auto h = claimed_count(info, "h", prefix + "h", max_dimension);
  auto duration = claimed_count(info, "duration", prefix + "duration", max_claim);
  if (!mimetype)
    return hm::unexpected{mimetype.error()};
  for (const auto* n : {&size, &w, &h, &duration})
    if (!*n)
      return hm::unexpected{n->error()};
  c.mimetype = std::move(mimetype.value());
  c.size = size.value();
  c.width = static_cast<int>(w.value());
  c.height = static_cast<int>(h.value());
  c.duration_ms = duration.value();
  return c;
}

// The thumbnail of an info object, or nullopt when there is none or it is unreadable
// (a broken thumbnail must not cost the person their image).
std::optional<media_thumbnail> read_thumbnail(const json& info) {
  auto source = read_source(info, "thumbnail_url", "thumbnail_file");
  if (!source || (!source->url && !source->file))
    return std::nullopt;
  media_thumbnail t;
  t.url = std::move(source->url);
  t.file = std::move(source->file);
  if (const auto* ti = find_field(info, "thumbnail_info")) {
    auto claimed = ti->is_object() ? read_info(*ti, "info.thumbnail_info")
                                   : result<claimed_info>{hm::unexpected{bad_content("")}};
    if (!claimed)
      return std::nullopt;
    t.mimetype = std::move(claimed->mimetype);
    t.size = claimed->size;
    t.width = claimed->width;
    t.height = claimed->height;
  }
  return t;
}

bool is_media_msgtype(std::string_view msgtype) {
  return std::find(media_msgtypes.begin(), media_msgtypes.end(), msgtype) !=
         media_msgtypes.end();
}

bool is_valid(const mxc_uri& uri) { return parse_mxc(to_string(uri)).has_value(); }

} // namespace

// ---- mxc URIs -------------------------------------------------------------------------

std::optional<mxc_uri> parse_mxc(std::string_view text) {
  if (text.substr(0, mxc_scheme.size()) != mxc_scheme)
    return std::nullopt;
  text.remove_prefix(mxc_scheme.size());
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto server = text.substr(0, slash);
  auto id = text.substr(slash + 1);
  if (!is_server_name(server) || !is_media_id(id))
    return std::nullopt;
  return mxc_uri{std::string{server}, std::string{id}};
}

std::string to_string(const mxc_uri& uri) {
  return std::string{mxc_scheme} + uri.server_name + "/" + uri.media_id;
}

// ---- encrypted attachments ------------------------------------------------------------

result<encrypted_file> parse_encrypted_file(const json& j) {
  if (!j.is_object())
    return hm::unexpected{bad_file("not a JSON object")};
  if (string_field(j, "v") != "v2")
    return hm::unexpected{bad_file("v is not \"v2\"")};
  encrypted_file f;
  auto url = string_field(j, "url");
  auto uri = url ? parse_mxc(*url) : std::nullopt;
  if (!uri)
    return hm::unexpected{bad_file("url is not an mxc:// URI")};
  f.url = std::move(*uri);

  const auto* key = object_field(j, "key");
  if (key == nullptr)
    return hm::unexpected{bad_file("key is not a JSON object")};
  if (string_field(*key, "kty") != "oct")
    return hm::unexpected{bad_file("key.kty is not \"oct\"")};
  if (string_field(*key, "alg") != "A256CTR")
    return hm::unexpected{bad_file("key.alg is not \"A256CTR\"")};
  if (bool_field(*key, "ext") != true)
    return hm::unexpected{bad_file("key.ext is not true")};
  const auto* ops = array_field(*key, "key_ops");
  auto has_op = [ops](std::string_view op) {
    return std::any_of(ops->begin(), ops->end(),
                       [op](const json& v) { return v.is_string() && v.get<std::string>() == op; });
  };
  if (ops == nullptr || !has_op("encrypt") || !has_op("decrypt"))
    return hm::unexpected{bad_file("key.key_ops does not contain \"encrypt\" and \"decrypt\"")};
  auto k = fixed_bytes(*key, "k", 32, true);
  if (!k)
    return hm::unexpected{bad_file("key.k is not 32 bytes of URL-safe base64")};
  f.key = std::move(*k);

  auto iv = fixed_bytes(j, "iv", 16, false);
  if (!iv)
    return hm::unexpected{bad_file("iv is not 16 bytes of base64")};
  f.iv = std::move(*iv);
  const auto* hashes = object_field(j, "hashes");
  auto sha256 = hashes != nullptr ? fixed_bytes(*hashes, "sha256", 32, false) : std::nullopt;
  if (!sha256)
    return hm::unexpected{bad_file("hashes.sha256 is not 32 bytes of base64")};
  f.sha256 = std::move(*sha256);
  return f;
}

json to_json(const encrypted_file& f) {
  return {
      {"v", "v2"},
      {"url", to_string(f.url)},
      {"key",
       {{"kty", "oct"},
        {"alg", "A256CTR"},
        {"ext", true},
        {"k", base64url_encode_unpadded(f.key)},
        {"key_ops", {"encrypt", "decrypt"}}}},
      {"iv", base64_encode_unpadded(f.iv)},
      {"hashes", {{"sha256", base64_encode_unpadded(f.sha256)}}},
  };
}

// ---- download and upload --------------------------------------------------------------

http_request download_request(const mxc_uri& uri, media_api api, std::uint64_t max_bytes) {
  http_request r;
  r.method = http_method::get;
  r.target = std::string{api == media_api::authenticated ? "/_matrix/client/v1/media/download/"
                                                         : "/_matrix/media/v3/download/"} +
             percent_encode(uri.server_name) + "/" + percent_encode(uri.media_id);
  r.timeout = media_timeout;
  r.max_response_bytes = max_bytes;
  return r;
}

bool media_api_missing(const http_response& r) {
  if (r.status != 404 && r.status != 405)
    return false;
  auto j = parse_bounded_json(r.body, json_limits{16, 1u << 20});
  auto errcode = j && j->is_object() ? string_field(*j, "errcode") : std::nullopt;
  if (errcode == "M_UNRECOGNIZED")
    return true;
  // No Matrix error at all: a server (or the proxy in front of it) that does not know
  // the path. A 404 with any other errcode (M_NOT_FOUND) is an answer about the media.
  return r.status == 404 && !errcode;
}

bool supports_authenticated_media(const json& versions_body) {
  if (!versions_body.is_object())
    return false;
  if (const auto* unstable = object_field(versions_body, "unstable_features"))
    if (bool_field(*unstable, "org.matrix.msc3916.stable") == true)
      return true;
  const auto* versions = array_field(versions_body, "versions");
  if (versions == nullptr)
    return false;
  return std::any_of(versions->begin(), versions->end(), [](const json& v) {
    if (!v.is_string())
      return false;
    // "v1.11", "v1.12", "v2.0": the major and minor number.
    const auto& s = v.get_ref<const std::string&>();
    unsigned major = 0;
    unsigned minor = 0;
    std::size_t i = 1;
    if (s.size() < 4 || s[0] != 'v')
      return false;
    for (; i < s.size() && is_digit(s[i]) && major < 1000; ++i)
      major = major * 10 + static_cast<unsigned>(s[i] - '0');
    if (i == 1 || i >= s.size() || s[i] != '.')
      return false;
    for (++i; i < s.size() && is_digit(s[i]) && minor < 1000; ++i)
      minor = minor * 10 + static_cast<unsigned>(s[i] - '0');
    return major > 1 || (major == 1 && minor >= 11);
  });
}

http_request upload_request(std::string bytes, std::string_view content_type,
                            std::string_view filename) {
  http_request r;
  r.method = http_method::post;
  r.target = "/_matrix/media/v3/upload";
  if (!filename.empty())
    r.target += "?filename=" + percent_encode(filename);
  // The type becomes a header line: a control character (CR, LF) could add another.
  bool safe = !content_type.empty() &&
              std::none_of(content_type.begin(), content_type.end(), [](char c) {
                auto u = static_cast<unsigned char>(c);
                return u < 0x20 || u >= 0x7F;
              });
  r.content_type = safe ? std::string{content_type} : "application/octet-stream";
  r.raw_body = std::move(bytes);
  r.timeout = media_timeout;
  return r;
}

result<mxc_uri> parse_upload_response(const http_response& r) {
  auto j = success_object(r, "upload");
  if (!j)
    return hm::unexpected{j.error()};
  auto text = string_field(j.value(), "content_uri");
  auto uri = text ? parse_mxc(*text) : std::nullopt;
  if (!uri)
    return hm::unexpected{bad_response(r.status, "upload: content_uri is missing or not an mxc:// URI")};
  return std::move(*uri);
}

// ---- incoming media events ------------------------------------------------------------

result<media_message> parse_media_content(const json& content, std::string_view event_type) {
  if (!content.is_object())
    return hm::unexpected{bad_content("content is not a JSON object")};
  media_message m;
  if (event_type == "m.sticker") {
    m.msgtype = "m.sticker";
  } else if (event_type == "m.room.message") {
    auto msgtype = string_field(content, "msgtype");
    if (!msgtype || !is_media_msgtype(*msgtype))
      return hm::unexpected{bad_content("msgtype is not m.image, m.audio, m.video or m.file")};
    m.msgtype = std::move(*msgtype);
  } else {
    return hm::unexpected{bad_content("event type is not m.room.message or m.sticker")};
  }

  auto body = optional_string(content, "body", "body");
  if (!body)
    return hm::unexpected{body.error()};
  const auto* filename = find_field(content, "filename");
  if (filename != nullptr && !filename->is_string())
    return hm::unexpected{bad_content("filename is not a string")};
  if (m.msgtype == "m.sticker") {
    // A sticker's body describes the image; it is never a file name.
    m.caption = std::move(body.value());
    m.filename = filename != nullptr ? filename->get<std::string>() : std::string{};
  } else if (filename != nullptr && !filename->get_ref<const std::string&>().empty() &&
             filename->get_ref<const std::string&>() != body.value()) {
    m.filename = filename->get<std::string>();
    m.caption = std::move(body.value());
  } else {
    m.filename = std::move(body.value());
  }

  static const json no_info = json::object();
  const auto* info = find_field(content, "info");
  if (info != nullptr && !info->is_object())
    return hm::unexpected{bad_content("info is not a JSON object")};
  if (info == nullptr)
    info = &no_info;
  auto claimed = read_info(*info, "info");
  if (!claimed)
    return hm::unexpected{claimed.error()};
  m.mimetype = std::move(claimed->mimetype);
  m.size = claimed->size;
  m.width = claimed->width;
  m.height = claimed->height;
  m.duration_ms = claimed->duration_ms;
  if (m.duration_ms == 0)
    if (const auto* audio = object_field(content, "org.matrix.msc1767.audio")) {
      auto d = claimed_count(*audio, "duration", "org.matrix.msc1767.audio.duration", max_claim);
      if (!d)
        return hm::unexpected{d.error()};
      m.duration_ms = d.value();
    }
  m.is_voice = m.msgtype == "m.audio" && find_field(content, "org.matrix.msc3245.voice");

  auto source = read_source(content, "url", "file");
  if (!source)
    return hm::unexpected{source.error()};
  if (!source->url && !source->file)
    return hm::unexpected{bad_content("neither url nor file is present")};
  m.url = std::move(source->url);
  m.file = std::move(source->file);
  m.thumbnail = read_thumbnail(*info);
  return m;
}

// ---- outgoing media messages ----------------------------------------------------------

result<json> media_content(const outgoing_media& m) {
  if (!is_media_msgtype(m.msgtype))
    return hm::unexpected{bad_content("msgtype is not m.image, m.audio, m.video or m.file")};
  if (m.url.has_value() == m.file.has_value())
    return hm::unexpected{bad_content("exactly one of url (plain room) and file (encrypted room) is needed")};
  if ((m.url && !is_valid(*m.url)) || (m.file && !is_valid(m.file->url)))
    return hm::unexpected{bad_content("the file has no valid mxc:// URI (was it uploaded?)")};
  if (m.voice && m.msgtype != "m.audio")
    return hm::unexpected{bad_content("only m.audio can be a voice message")};

  json info = json::object();
  if (!m.mimetype.empty())
    info["mimetype"] = m.mimetype;
  if (m.size != 0)
    info["size"] = m.size;
  if (m.width > 0 && m.height > 0) {
    info["w"] = m.width;
    info["h"] = m.height;
  }
  if (m.duration_ms != 0)
    info["duration"] = m.duration_ms;
  if (const auto& t = m.thumbnail) {
    if (t->url.has_value() == t->file.has_value())
      return hm::unexpected{bad_content("a thumbnail needs exactly one of url and file")};
    // An encrypted room's thumbnail in the clear would show what the file hides.
    if (t->url.has_value() != m.url.has_value())
      return hm::unexpected{bad_content("the thumbnail must be encrypted exactly when the file is")};
    if ((t->url && !is_valid(*t->url)) || (t->file && !is_valid(t->file->url)))
      return hm::unexpected{bad_content("the thumbnail has no valid mxc:// URI (was it uploaded?)")};
    if (t->url)
      info["thumbnail_url"] = to_string(*t->url);
    else
      info["thumbnail_file"] = to_json(*t->file);
    json ti = json::object();
    if (!t->mimetype.empty())
      ti["mimetype"] = t->mimetype;
    if (t->size != 0)
      ti["size"] = t->size;
    if (t->width > 0 && t->height > 0) {
      ti["w"] = t->width;
      ti["h"] = t->height;
    }
    info["thumbnail_info"] = std::move(ti);
  }

  json c = {
      {"msgtype", m.msgtype},
      {"body", m.filename},
      {"filename", m.filename},
      {"info", std::move(info)},
      {"m.mentions", json::object()},
  };
  if (m.url)
    c["url"] = to_string(*m.url);
  else
    c["file"] = to_json(*m.file);
  if (m.voice) {
    c["org.matrix.msc3245.voice"] = json::object();
    c["org.matrix.msc1767.audio"] = {{"duration", m.duration_ms}};
  }
  return c;
}

} // namespace hm::matrix

#include "cluster/etcd_requests.hpp"

#include "matrix/base64.hpp"
#include "matrix/bounded_json.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace hm::etcd {

namespace {

using nlohmann::json;

// Standard base64 with padding: what Go's encoding/json writes and reads for bytes.
std::string base64(std::string_view bytes) {
  auto text = matrix::base64_encode_unpadded(bytes);
  while (text.size() % 4 != 0)
    text += '=';
  return text;
}

std::string number(std::int64_t n) {
  return std::to_string(n);
}

error make_error(error_kind kind, int status, int code, std::string message) {
  return error{kind, status, code, std::move(message)};
}

error bad(int status, std::string what) {
  return make_error(error_kind::bad_response, status, 0, std::move(what));
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// etcd's own error body, classified by its gRPC code and, where one code covers cases
// that want different handling, by etcd's message (rpctypes' fixed texts).
error classify(int status, int code, std::string message) {
  auto kind = error_kind::refused;
  if (contains(message, "requested lease not found"))
    kind = error_kind::lease_not_found;
  else if (code == 16 || code == 7 || contains(message, "invalid auth token")
           || contains(message, "user name is empty")
           || contains(message, "authentication failed")
           || contains(message, "permission denied"))
    kind = error_kind::auth;
  else if (code == 14 || code == 4 || contains(message, "no leader")
           || contains(message, "leader changed") || contains(message, "timed out")
           || contains(message, "context deadline exceeded")
           || contains(message, "not capable") || contains(message, "too many requests"))
    kind = error_kind::unavailable; // 14 Unavailable, 4 DeadlineExceeded
  return make_error(kind, status, code, std::move(message));
}

// A short, printable excerpt of a body that is not what we expected (a proxy's page).
std::string excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 120))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

// The JSON object of a 200 answer, or the error the answer is.
result<json> read(const answer& a) {
  if (a.status == 0)
    return hm::unexpected{make_error(error_kind::network, 0, 0,
                      a.transport_error.empty() ? "no answer" : std::string{a.transport_error})};
  std::string why;
  auto doc = matrix::parse_bounded_json(a.body, matrix::json_limits{.max_depth = 32,
                                                                      .max_bytes = 64u << 20},
                                        &why);
  if (!doc || !doc->is_object()) {
    if (a.status >= 500 || a.status == 429)
      return hm::unexpected{make_error(error_kind::unavailable, a.status, 0,
                        "HTTP " + std::to_string(a.status) + " without an etcd error: "
                            + excerpt(a.body))};
    return hm::unexpected{bad(a.status, "the answer is not a JSON object (" + (why.empty() ? excerpt(a.body)
                                                                            : why)
                             + ")")};
  }
  auto* err = matrix::find_field(*doc, "error");
  if (a.status != 200 || err) {
    auto code = matrix::int_field(*doc, "code").value_or(0);
    auto message = matrix::string_field(*doc, "message");
    if (!message)
      message = matrix::string_field(*doc, "error");
    if (!message) {
      if (a.status >= 500)
        return hm::unexpected{make_error(error_kind::unavailable, a.status, 0,
                          "HTTP " + std::to_string(a.status) + " without a message")};
      return hm::unexpected{bad(a.status, "HTTP " + std::to_string(a.status) + " without an etcd error")};
    }
    return hm::unexpected{classify(a.status, static_cast<int>(code), std::move(*message))};
  }
  return std::move(*doc);
}

// etcd writes int64 as a decimal string; proto3 leaves zero values out. Absent: 0;
// present but neither a decimal string nor an integer: nullopt.
std::optional<std::int64_t> int64_field(const json& obj, std::string_view key) {
  auto* v = matrix::find_field(obj, key);
  if (!v)
    return 0;
  if (v->is_number_integer())
    return v->get<std::int64_t>();
  if (!v->is_string())
    return std::nullopt;
  auto& s = v->get_ref<const std::string&>();
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    return std::nullopt;
  return n;
}

// A base64 bytes field; absent: "".
std::optional<std::string> bytes_field(const json& obj, std::string_view key) {
  auto* v = matrix::find_field(obj, key);
  if (!v)
    return std::string{};
  if (!v->is_string())
    return std::nullopt;
  auto bytes = matrix::base64_decode(v->get_ref<const std::string&>());
  if (!bytes)
    return std::nullopt;
  return std::string{bytes->begin(), bytes->end()};
}

struct reader {
  int status;
  std::optional<error> failed;

  std::int64_t i64(const json& obj, std::string_view key) {
    auto v = int64_field(obj, key);
    if (!v && !failed)
      failed = bad(status, "\"" + std::string{key} + "\" is not an int64");
    return v.value_or(0);
  }
  std::string bytes(const json& obj, std::string_view key) {
    auto v = bytes_field(obj, key);
    if (!v && !failed)
      failed = bad(status, "\"" + std::string{key} + "\" is not base64");
    return v.value_or("");
  }
};

std::int64_t header_revision(reader& r, const json& doc) {
  auto* header = matrix::find_field(doc, "header");
  if (!header || !header->is_object()) {
    if (!r.failed)
      r.failed = bad(r.status, "the answer has no header");
    return 0;
  }
  return r.i64(*header, "revision");
}

// A RangeResponse (top level or inside a transaction).
range_result read_range(reader& r, const json& doc) {
  range_result out;
  out.revision = header_revision(r, doc);
  auto* kvs = matrix::find_field(doc, "kvs");
  if (!kvs)
    return out;
  if (!kvs->is_array()) {
    r.failed = bad(r.status, "\"kvs\" is not an array");
    return out;
  }
  for (auto& kv : *kvs) {
    if (!kv.is_object()) {
      r.failed = bad(r.status, "an entry of \"kvs\" is not an object");
      return out;
    }
    key_value e;
    e.key = r.bytes(kv, "key");
    e.value = r.bytes(kv, "value");
    e.create_revision = r.i64(kv, "create_revision");
    e.mod_revision = r.i64(kv, "mod_revision");
    e.version = r.i64(kv, "version");
    e.lease = r.i64(kv, "lease");
    out.kvs.push_back(std::move(e));
  }
  return out;
}

template <class T>
result<T> done(reader& r, T value) {
  if (r.failed)
    return hm::unexpected{*r.failed};
  return value;
}

json op_json(const txn_op& op) {
  switch (op.what) {
    case txn_op::kind::put: {
      json put{{"key", base64(op.key)}, {"value", base64(op.value)}};
      if (op.lease != 0)
        put["lease"] = number(op.lease);
      return json{{"request_put", put}};
    }
    case txn_op::kind::delete_key:
      return json{{"request_delete_range", {{"key", base64(op.key)}}}};
    case txn_op::kind::range:
      break;
  }
  return json{{"request_range", {{"key", base64(op.key)}}}};
}

json compare_json(const compare& c) {
  static constexpr std::array targets{"CREATE", "MOD", "VERSION", "VALUE"};
  static constexpr std::array relations{"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
  json out{{"key", base64(c.key)},
           {"target", targets.at(static_cast<std::size_t>(c.what))},
           {"result", relations.at(static_cast<std::size_t>(c.rel))}};
  switch (c.what) {
    case compare::target::create_revision: out["create_revision"] = number(c.number); break;
    case compare::target::mod_revision: out["mod_revision"] = number(c.number); break;
    case compare::target::version: out["version"] = number(c.number); break;
    case compare::target::value: out["value"] = base64(c.value); break;
  }
  return out;
}

json ops_json(const std::vector<txn_op>& ops) {
  auto out = json::array();
  for (auto& op : ops)
    out.push_back(op_json(op));
  return out;
}

} // namespace

std::string_view to_string(error_kind k) {
  switch (k) {
    case error_kind::network: return "network";
    case error_kind::unavailable: return "unavailable";
    case error_kind::auth: return "auth";
    case error_kind::lease_not_found: return "lease not found";
    case error_kind::refused: return "refused";
    case error_kind::bad_response: return "bad response";
  }
  return "?";
}

std::string to_string(const error& e) {
  std::string out{to_string(e.kind)};
  if (e.http_status != 0) {
    out += " (HTTP " + std::to_string(e.http_status);
    if (e.grpc_code != 0)
      out += ", code " + std::to_string(e.grpc_code);
    out += ")";
  }
  return out + ": " + e.message;
}

std::optional<error> answer_error(const answer& a) {
  auto doc = read(a);
  if (doc)
    return std::nullopt;
  return doc.error();
}

bool try_next_member(const error& e) {
  return e.kind == error_kind::network || e.kind == error_kind::unavailable;
}

// ---- leases ----

request lease_grant(std::chrono::seconds ttl) {
  return {"/v3/lease/grant", json{{"TTL", number(ttl.count())}}};
}

result<lease> parse_lease_grant(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  reader r{a.status, {}};
  header_revision(r, doc.value());
  lease out{r.i64(doc.value(), "ID"), r.i64(doc.value(), "TTL"), 0};
  if (!r.failed && (out.id == 0 || out.ttl <= 0))
    return hm::unexpected{bad(a.status, "the grant has no lease ID or TTL")};
  return done(r, out);
}

request lease_keepalive(std::int64_t id) {
  return {"/v3/lease/keepalive", json{{"ID", number(id)}}};
}

result<lease> parse_lease_keepalive(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  // The gateway streams LeaseKeepAliveResponse messages as {"result": ...} lines (and a
  // stream error as {"error": ...}, which read() handled). One request gives one line.
  auto* res = matrix::find_field(doc.value(), "result");
  if (!res || !res->is_object())
    return hm::unexpected{bad(a.status, "the keepalive answer has no \"result\"")};
  reader r{a.status, {}};
  header_revision(r, *res);
  lease out{r.i64(*res, "ID"), r.i64(*res, "TTL"), 0};
  return done(r, out);
}

request lease_revoke(std::int64_t id) {
  return {"/v3/lease/revoke", json{{"ID", number(id)}}};
}

result<std::int64_t> parse_lease_revoke(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  reader r{a.status, {}};
  auto revision = header_revision(r, doc.value());
  return done(r, revision);
}

request lease_timetolive(std::int64_t id) {
  return {"/v3/lease/timetolive", json{{"ID", number(id)}}};
}

result<lease> parse_lease_timetolive(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  reader r{a.status, {}};
  header_revision(r, doc.value());
  lease out{r.i64(doc.value(), "ID"), r.i64(doc.value(), "TTL"),
            r.i64(doc.value(), "grantedTTL")};
  return done(r, out);
}

// ---- keys ----

std::string prefix_end(std::string_view prefix) {
  std::string end{prefix};
  while (!end.empty()) {
    auto& last = end.back();
    if (static_cast<unsigned char>(last) < 0xff) {
      last = static_cast<char>(static_cast<unsigned char>(last) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

request range(std::string_view key) {
  return {"/v3/kv/range", json{{"key", base64(key)}}};
}

request range_prefix(std::string_view prefix) {
  return {"/v3/kv/range", json{{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}}};
}

result<range_result> parse_range(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  reader r{a.status, {}};
  auto out = read_range(r, doc.value());
  return done(r, std::move(out));
}

request put(std::string_view key, std::string_view value, std::int64_t lease) {
  json body{{"key", base64(key)}, {"value", base64(value)}};
  if (lease != 0)
    body["lease"] = number(lease);
  return {"/v3/kv/put", std::move(body)};
}

result<std::int64_t> parse_put(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  reader r{a.status, {}};
  auto revision = header_revision(r, doc.value());
  return done(r, revision);
}

request delete_key(std::string_view key) {
  return {"/v3/kv/deleterange", json{{"key", base64(key)}}};
}

request delete_prefix(std::string_view prefix) {
  return {"/v3/kv/deleterange",
          json{{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}}};
}

result<std::int64_t> parse_delete(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  reader r{a.status, {}};
  header_revision(r, doc.value());
  auto deleted = r.i64(doc.value(), "deleted");
  return done(r, deleted);
}

// ---- transactions ----

txn_op op_put(std::string key, std::string value, std::int64_t lease) {
  return {txn_op::kind::put, std::move(key), std::move(value), lease};
}

txn_op op_delete(std::string key) {
  return {txn_op::kind::delete_key, std::move(key), {}, 0};
}

txn_op op_range(std::string key) {
  return {txn_op::kind::range, std::move(key), {}, 0};
}

request txn(const std::vector<compare>& compares, const std::vector<txn_op>& success,
            const std::vector<txn_op>& failure) {
  auto cmp = json::array();
  for (auto& c : compares)
    cmp.push_back(compare_json(c));
  return {"/v3/kv/txn",
          json{{"compare", cmp}, {"success", ops_json(success)}, {"failure", ops_json(failure)}}};
}

result<txn_result> parse_txn(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  reader r{a.status, {}};
  txn_result out;
  out.revision = header_revision(r, doc.value());
  if (auto* s = matrix::find_field(doc.value(), "succeeded")) {
    if (!s->is_boolean())
      return hm::unexpected{bad(a.status, "\"succeeded\" is not a boolean")};
    out.succeeded = s->get<bool>();
  }
  if (auto* responses = matrix::find_field(doc.value(), "responses")) {
    if (!responses->is_array())
      return hm::unexpected{bad(a.status, "\"responses\" is not an array")};
    for (auto& one : *responses) {
      if (!one.is_object())
        return hm::unexpected{bad(a.status, "a transaction response is not an object")};
      if (auto* range = matrix::find_field(one, "response_range")) {
        if (!range->is_object())
          return hm::unexpected{bad(a.status, "\"response_range\" is not an object")};
        out.ranges.push_back(read_range(r, *range));
      }
    }
  }
  return done(r, std::move(out));
}

// ---- authentication ----

request authenticate(std::string_view name, const secret& password) {
  return {"/v3/auth/authenticate",
          json{{"name", std::string{name}}, {"password", std::string{password.reveal()}}}, true};
}

result<secret> parse_authenticate(const answer& a) {
  auto doc = read(a);
  if (!doc)
    return hm::unexpected{doc.error()};
  auto token = matrix::string_field(doc.value(), "token");
  if (!token || token->empty())
    return hm::unexpected{bad(a.status, "the answer has no token")};
  return secret{std::move(*token)};
}

// ---- members ----

endpoints::endpoints(std::vector<std::string> urls) : urls_(std::move(urls)) {
  // Against the precondition an empty list would make current() read past the end;
  // a list that names etcd's default client URL fails visibly instead.
  if (urls_.empty())
    urls_.emplace_back("http://127.0.0.1:2379");
}

std::optional<endpoints> endpoints::parse(std::string_view list, std::string& why) {
  std::vector<std::string> urls;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    auto item = list.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                    : comma - start);
    start = comma == std::string_view::npos ? list.size() + 1 : comma + 1;
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
      item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t' || item.back() == '/'))
      item.remove_suffix(1);
    if (item.empty())
      continue;
    std::string_view rest;
    if (item.starts_with("http://"))
      rest = item.substr(7);
    else if (item.starts_with("https://"))
      rest = item.substr(8);
    else {
      // The entry itself is not repeated: it may hold a user and password.
      why = "etcd endpoint " + std::to_string(urls.size() + 1) + " must start with http:// or https://";
      return std::nullopt;
    }
    if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
      why = "etcd endpoint " + std::to_string(urls.size() + 1)
            + " needs a host[:port] and nothing else (no path, query or user)";
      return std::nullopt;
    }
    urls.emplace_back(item);
  }
  if (urls.empty()) {
    why = "no etcd endpoint given";
    return std::nullopt;
  }
  return endpoints{std::move(urls)};
}

} // namespace hm::etcd

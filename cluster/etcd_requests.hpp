#pragma once

// etcd's v3 API as its JSON gateway serves it (grpc-gateway: POST /v3/<service>/<call>,
// keys and values base64, int64 as decimal strings, zero values left out), without
// doing any I/O: request descriptions out, answers in. The caller (an actor over the
// http engine, or a test driver) POSTs `body` to `<endpoint><path>` with
// Content-Type: application/json and, when authentication is on, the token from
// `authenticate` as the whole `Authorization` header value (no "Bearer").
//
// Parsing never throws. etcd's error bodies ({"error","code","message"}) become an
// `etcd::error` whose kind says what to do: `unavailable` and `network` mean "try the
// same request on the next member" (see `endpoints`).
//
// Recorded answers of etcd 3.4 are in tests/unit/cluster/etcd_answers/ (record.py).

#include "profiles/secret.hpp"

#include "errors/expected.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hm::etcd {

/// One call of etcd's JSON gateway: always a POST with a JSON body.
struct request {
  std::string path; ///< "/v3/kv/range"
  nlohmann::json body;
  /// True when the body holds a secret (the password of `authenticate`): never log it.
  bool body_is_secret = false;
};

/// What the caller got back: the HTTP status and body, or (status 0) why there was none.
struct answer {
  int status = 0;
  std::string_view body;
  /// With status 0: the transport's reason ("connection refused", "timeout").
  std::string_view transport_error;
};

enum class error_kind {
  network,         ///< no answer at all (refused, timeout): try the next member
  unavailable,     ///< the member cannot serve now (no leader, quorum lost, timed out)
  auth,            ///< authentication needed, failed, or the token is no longer valid
  lease_not_found, ///< the lease expired or was revoked
  refused,         ///< etcd refused the request itself (bad argument, too large, ...)
  bad_response,    ///< an answer we cannot read (not JSON, a field of the wrong type)
};

[[nodiscard]] std::string_view to_string(error_kind k);

struct error {
  error_kind kind = error_kind::bad_response;
  int http_status = 0;  ///< 0 when there was no answer
  int grpc_code = 0;    ///< etcd's "code" (gRPC status code), 0 when none
  std::string message;  ///< etcd's "message" or our own reason; never a secret
};

/// "unavailable (HTTP 503, code 14): etcdserver: request timed out" — for logs.
[[nodiscard]] std::string to_string(const error& e);

/// The error an answer is (no answer, an etcd error body, a body that is not JSON), or
/// nullopt when it is a 200 with a JSON object, for any request. What a caller that
/// fails over between members looks at before the request's own parser.
[[nodiscard]] std::optional<error> answer_error(const answer& a);

/// Whether the same request may be sent to another member: it got no answer, or the
/// member could not serve it (no leader, quorum lost, leader changed, timed out).
[[nodiscard]] bool try_next_member(const error& e);

/// The value of a parse, or why there is none (the one idiom, errors/expected.hpp).
template <class T>
using result = hm::expected<T, error>;

// ---- leases ----------------------------------------------------------------------

struct lease {
  std::int64_t id = 0;
  /// Seconds. From grant and keepalive: the lease's TTL; 0 from a keepalive means the
  /// lease is gone (etcd answers 200 without a TTL). From timetolive: the seconds left,
  /// -1 when the lease is gone.
  std::int64_t ttl = 0;
  std::int64_t granted_ttl = 0; ///< timetolive only
};

/// Grants a new lease; etcd picks its ID.
[[nodiscard]] request lease_grant(std::chrono::seconds ttl);
[[nodiscard]] result<lease> parse_lease_grant(const answer& a);

/// One keepalive (the gateway streams the answer as {"result": {...}}; one request
/// body gives one answer).
[[nodiscard]] request lease_keepalive(std::int64_t id);
[[nodiscard]] result<lease> parse_lease_keepalive(const answer& a);

[[nodiscard]] request lease_revoke(std::int64_t id);
/// Success, or `lease_not_found` when it was already gone (which the caller may take
/// as done).
[[nodiscard]] result<std::int64_t> parse_lease_revoke(const answer& a); // revision

[[nodiscard]] request lease_timetolive(std::int64_t id);
[[nodiscard]] result<lease> parse_lease_timetolive(const answer& a);

// ---- keys ------------------------------------------------------------------------

struct key_value {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0; ///< 0: not bound to a lease
};

struct range_result {
  std::int64_t revision = 0; ///< the store's revision the range was read at
  std::vector<key_value> kvs;
};

/// The smallest key greater than every key starting with `prefix` (etcd's range_end for
/// a prefix: the last byte below 0xff incremented, what follows it dropped; "\0" when
/// every byte is 0xff, meaning "to the end").
[[nodiscard]] std::string prefix_end(std::string_view prefix);

/// One key.
[[nodiscard]] request range(std::string_view key);
/// Every key starting with `prefix`, in key order.
[[nodiscard]] request range_prefix(std::string_view prefix);
[[nodiscard]] result<range_result> parse_range(const answer& a);

/// Puts `value` at `key`, bound to `lease` unless it is 0.
[[nodiscard]] request put(std::string_view key, std::string_view value,
                          std::int64_t lease = 0);
[[nodiscard]] result<std::int64_t> parse_put(const answer& a); // revision

[[nodiscard]] request delete_key(std::string_view key);
[[nodiscard]] request delete_prefix(std::string_view prefix);
[[nodiscard]] result<std::int64_t> parse_delete(const answer& a); // keys deleted

// ---- transactions ----------------------------------------------------------------

/// One condition of a transaction; all must hold for `success` to run.
struct compare {
  enum class target { create_revision, mod_revision, version, value };
  enum class relation { equal, not_equal, greater, less };
  target what = target::create_revision;
  relation rel = relation::equal;
  std::string key;
  std::int64_t number = 0; ///< for the revisions and the version
  std::string value;       ///< for target::value
};

/// One operation of a transaction branch.
struct txn_op {
  enum class kind { put, delete_key, range };
  kind what = kind::range;
  std::string key;
  std::string value;      ///< put
  std::int64_t lease = 0; ///< put
};

[[nodiscard]] txn_op op_put(std::string key, std::string value, std::int64_t lease = 0);
[[nodiscard]] txn_op op_delete(std::string key);
[[nodiscard]] txn_op op_range(std::string key);

struct txn_result {
  bool succeeded = false;    ///< the compares held and `success` ran
  std::int64_t revision = 0; ///< the store's revision after the transaction
  /// The answers of the branch's range operations, in order (puts and deletes give none).
  std::vector<range_result> ranges;
};

/// etcd refuses a transaction that writes one key twice ("duplicate key given in txn
/// request"); the builder does not check that, etcd does.
[[nodiscard]] request txn(const std::vector<compare>& compares,
                          const std::vector<txn_op>& success,
                          const std::vector<txn_op>& failure);
[[nodiscard]] result<txn_result> parse_txn(const answer& a);

// ---- authentication ----------------------------------------------------------------

/// A simple or JWT token for `name`; the request's body holds the password.
[[nodiscard]] request authenticate(std::string_view name, const secret& password);
[[nodiscard]] result<secret> parse_authenticate(const answer& a);

// ---- members -----------------------------------------------------------------------

/// The client URLs of etcd's members, and which one requests go to now. A request that
/// gets no answer or `unavailable` is sent again to the next member (`fail_over`), at
/// most once to each member (`attempts`).
class endpoints {
public:
  /// Reads "http://127.0.0.1:2379,http://10.0.0.2:2379" (commas, spaces allowed). Every
  /// entry must be http:// or https:// with a host; no path, query or credentials.
  /// On error: nullopt and `why` says which entry and what is wrong.
  [[nodiscard]] static std::optional<endpoints> parse(std::string_view list, std::string& why);

  /// Precondition: `urls` is not empty and every entry is a URL as `parse` accepts.
  explicit endpoints(std::vector<std::string> urls);

  /// The member requests go to now (no trailing slash).
  [[nodiscard]] const std::string& current() const { return urls_[current_]; }
  /// The next member becomes current.
  void fail_over() { current_ = (current_ + 1) % urls_.size(); }
  [[nodiscard]] std::size_t size() const { return urls_.size(); }
  [[nodiscard]] const std::vector<std::string>& all() const { return urls_; }

private:
  std::vector<std::string> urls_;
  std::size_t current_ = 0;
};

} // namespace hm::etcd

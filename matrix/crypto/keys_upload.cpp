#include "matrix/crypto/keys_upload.hpp"

#include <algorithm>

#include "matrix/bounded_json.hpp"

namespace hm::matrix::crypto {

std::size_t one_time_keys_to_generate(std::int64_t server_count, std::size_t unpublished,
                                      std::size_t max_keys) {
  std::size_t target = max_keys / 2;
  std::size_t have = static_cast<std::size_t>(std::max<std::int64_t>(server_count, 0));
  have += unpublished;
  return have >= target ? 0 : target - have;
}

bool fallback_key_needed(const std::optional<std::vector<std::string>>& unused) {
  if (!unused)
    return false;
  return std::find(unused->begin(), unused->end(), signed_curve25519) == unused->end();
}

result<std::optional<http_request>> prepare_keys_upload(account& acc, std::string_view user_id,
                                                        std::string_view device_id,
                                                        const keys_upload_state& state) {
  nlohmann::json body = nlohmann::json::object();
  if (state.upload_device_keys) {
    auto dk = acc.device_keys(user_id, device_id);
    if (!dk)
      return hm::unexpected{dk.error()};
    body["device_keys"] = std::move(dk.value());
  }
  if (state.server_one_time_keys) {
    auto n = one_time_keys_to_generate(*state.server_one_time_keys,
                                       acc.unpublished_one_time_keys().size(),
                                       acc.max_one_time_keys());
    if (auto g = acc.generate_one_time_keys(n); !g)
      return hm::unexpected{g.error()};
  }
  // Unpublished keys go up whether new or left over from an upload that did not finish.
  auto otks = acc.signed_one_time_keys(user_id, device_id);
  if (!otks)
    return hm::unexpected{otks.error()};
  if (!otks->empty())
    body["one_time_keys"] = std::move(otks.value());
  if (fallback_key_needed(state.unused_fallback_key_types) &&
      acc.unpublished_fallback_key().empty()) {
    if (auto g = acc.generate_fallback_key(); !g)
      return hm::unexpected{g.error()};
  }
  auto fbk = acc.signed_fallback_keys(user_id, device_id);
  if (!fbk)
    return hm::unexpected{fbk.error()};
  if (!fbk->empty())
    body["fallback_keys"] = std::move(fbk.value());
  if (body.empty())
    return std::optional<http_request>{};
  return std::optional<http_request>{keys_upload_request(std::move(body))};
}

http_request keys_upload_request(nlohmann::json body) {
  http_request r;
  r.method = http_method::post;
  r.target = std::string{client_v3} + "/keys/upload";
  r.body = std::move(body);
  return r;
}

result<std::map<std::string, std::int64_t>> parse_keys_upload(const http_response& r) {
  if (r.status < 200 || r.status >= 300)
    return hm::unexpected{parse_matrix_error(r)};
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{16, 1u << 20}, &why);
  if (!j || !j->is_object())
    return hm::unexpected{bad_response(r.status, "keys/upload: " + (j ? std::string{"not an object"} : why))};
  std::map<std::string, std::int64_t> counts;
  if (const auto* c = object_field(*j, "one_time_key_counts"))
    for (const auto& [alg, v] : c->items())
      if (auto n = int_value(v))
        counts.emplace(alg, *n);
  return counts;
}

} // namespace hm::matrix::crypto

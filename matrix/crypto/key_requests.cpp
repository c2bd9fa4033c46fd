#include "matrix/crypto/key_requests.hpp"

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/crypto_errors.hpp"

namespace hm::matrix::crypto {

nlohmann::json room_key_request_content(const requested_key& key, std::string_view request_id,
                                        std::string_view own_device_id) {
  return nlohmann::json{
      {"action", "request"},
      {"body",
       {{"algorithm", std::string{megolm_algorithm}},
        {"room_id", key.room_id},
        {"session_id", key.session_id},
        {"sender_key", key.sender_key}}},
      {"request_id", std::string{request_id}},
      {"requesting_device_id", std::string{own_device_id}},
  };
}

nlohmann::json room_key_request_cancellation(std::string_view request_id,
                                             std::string_view own_device_id) {
  return nlohmann::json{{"action", "request_cancellation"},
                        {"request_id", std::string{request_id}},
                        {"requesting_device_id", std::string{own_device_id}}};
}

nlohmann::json room_key_request_messages(const nlohmann::json& content,
                                         std::string_view own_user_id,
                                         std::string_view sender_user_id,
                                         std::optional<std::string_view> sender_device) {
  nlohmann::json messages = nlohmann::json::object();
  messages[std::string{own_user_id}]["*"] = content;
  if (sender_device && sender_user_id != own_user_id)
    messages[std::string{sender_user_id}][std::string{*sender_device}] = content;
  return messages;
}

result<incoming_key_request> parse_room_key_request(const nlohmann::json& content) {
  auto bad = [](std::string why) { return hm::unexpected{crypto_error(errcode_bad_key, std::move(why))}; };
  auto action = string_field(content, "action");
  auto device = string_field(content, "requesting_device_id");
  auto id = string_field(content, "request_id");
  if (!action || !device || !id)
    return bad("the key request lacks action, requesting_device_id or request_id");
  incoming_key_request r;
  r.requesting_device_id = std::move(*device);
  r.request_id = std::move(*id);
  if (*action == "request_cancellation") {
    r.cancellation = true;
    return r;
  }
  if (*action != "request")
    return bad("the key request's action is neither request nor request_cancellation");
  const auto* body = object_field(content, "body");
  if (body == nullptr || string_field(*body, "algorithm") != std::string{megolm_algorithm})
    return bad("the key request is not for a Megolm session");
  auto room_id = string_field(*body, "room_id");
  auto session_id = string_field(*body, "session_id");
  if (!room_id || !session_id)
    return bad("the key request lacks room_id or session_id");
  r.key = requested_key{std::move(*room_id), std::move(*session_id),
                        string_field(*body, "sender_key").value_or("")};
  return r;
}

std::string_view to_string(key_share_decision d) {
  switch (d) {
    case key_share_decision::share:
      return "share";
    case key_share_decision::ignore_own_request:
      return "ignore_own_request";
    case key_share_decision::refuse_other_user:
      return "refuse_other_user";
    case key_share_decision::refuse_unverified:
      return "refuse_unverified";
    case key_share_decision::refuse_unknown_session:
      return "refuse_unknown_session";
  }
  return "refuse_other_user";
}

key_share_decision decide_key_share(const incoming_key_request& request, std::string_view sender,
                                    std::string_view own_user_id, std::string_view own_device_id,
                                    bool requesting_device_verified, bool have_session) {
  if (sender != own_user_id)
    return key_share_decision::refuse_other_user;
  if (request.requesting_device_id == own_device_id)
    return key_share_decision::ignore_own_request;
  if (!requesting_device_verified)
    return key_share_decision::refuse_unverified;
  if (!have_session || !request.key)
    return key_share_decision::refuse_unknown_session;
  return key_share_decision::share;
}

result<nlohmann::json> forwarded_room_key_content(const inbound_group_session& session) {
  auto exported = session.export_at(session.first_known_index());
  if (!exported)
    return hm::unexpected{exported.error()};
  const auto& info = session.info();
  return nlohmann::json{
      {"algorithm", std::string{megolm_algorithm}},
      {"room_id", info.room_id},
      {"session_id", info.session_id},
      {"session_key", std::move(exported.value())},
      {"sender_key", info.sender_key},
      {"sender_claimed_ed25519_key", info.sender_ed25519},
      {"forwarding_curve25519_key_chain", info.forwarding_chain},
  };
}

bool may_replace_broken_session(std::optional<std::int64_t> last_ms, std::int64_t now_ms) {
  return !last_ms || now_ms - *last_ms >= broken_session_interval_ms;
}

} // namespace hm::matrix::crypto

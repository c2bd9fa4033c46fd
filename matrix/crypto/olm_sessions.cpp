#include "matrix/crypto/olm_sessions.hpp"

#include <olm/olm.h>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secure_random.hpp"
#include "matrix/crypto/signatures.hpp"

namespace hm::matrix::crypto {

struct olm_session_factory {
  static olm_session make() { return olm_session{}; }
};

namespace {

constexpr std::size_t message_type_pre_key = OLM_MESSAGE_TYPE_PRE_KEY;
constexpr std::size_t message_type_normal = OLM_MESSAGE_TYPE_MESSAGE;

matrix_error olm_failure(OlmSession* s, std::string_view what) {
  return crypto_error(errcode_olm,
                      std::string{what} + " failed: " + olm_session_last_error(s));
}

// libolm destroys the buffers it reads messages from: every attempt gets a copy.
std::string copy_of(std::string_view s) { return std::string{s}; }

// Decrypts one message with one session; nullopt on any failure (wrong session, bad MAC).
std::optional<secret_bytes> try_decrypt(OlmSession* s, std::size_t type, std::string_view body) {
  auto probe = copy_of(body);
  auto max = olm_decrypt_max_plaintext_length(s, type, probe.data(), probe.size());
  if (max == olm_error())
    return std::nullopt;
  secret_bytes plain{max};
  auto msg = copy_of(body);
  auto n = olm_decrypt(s, type, msg.data(), msg.size(), plain.data(), plain.size());
  if (n == olm_error())
    return std::nullopt;
  secret_bytes exact{n};
  std::copy(plain.data(), plain.data() + n, exact.data());
  return exact;
}

} // namespace

olm_session::olm_session()
    : holder_(olm_session_size(), ::olm_session, olm_clear_session) {}

result<olm_session> olm_session::from_pickle(std::string_view pickle, const pickle_key& key) {
  olm_session s;
  std::string buf{pickle};
  auto r = olm_unpickle_session(s.raw(), key.data(), key.size(), buf.data(), buf.size());
  wipe_memory(buf.data(), buf.size());
  if (r == olm_error()) {
    if (olm_session_last_error_code(s.raw()) == OLM_BAD_ACCOUNT_KEY)
      return hm::unexpected{crypto_error(errcode_bad_pickle_key,
                          "the Olm session pickle was made with a different pickle key")};
    return hm::unexpected{crypto_error(errcode_bad_pickle, std::string{"the Olm session pickle is unreadable: "} +
                                                olm_session_last_error(s.raw()))};
  }
  return s;
}

result<std::string> olm_session::pickle(const pickle_key& key) const {
  std::string out(olm_pickle_session_length(raw()), '\0');
  auto n = olm_pickle_session(raw(), key.data(), key.size(), out.data(), out.size());
  if (n == olm_error())
    return hm::unexpected{olm_failure(raw(), "pickling the Olm session")};
  out.resize(n);
  return out;
}

std::string olm_session::id() const {
  std::string out(olm_session_id_length(raw()), '\0');
  auto n = ::olm_session_id(raw(), out.data(), out.size());
  if (n == olm_error())
    return {};
  out.resize(n);
  return out;
}

bool olm_session::has_received_message() const noexcept {
  return olm_session_has_received_message(raw()) != 0;
}

result<olm_session> create_outbound_session(const account& acc, const device_identity& device,
                                            const nlohmann::json& claimed) {
  if (!claimed.is_object())
    return hm::unexpected{crypto_error(errcode_bad_key, "claimed one-time keys are not an object")};
  const nlohmann::json* key_object = nullptr;
  for (const auto& [id, obj] : claimed.items()) {
    if (id.rfind(std::string{signed_curve25519} + ":", 0) == 0 && obj.is_object()) {
      key_object = &obj;
      break;
    }
  }
  if (key_object == nullptr)
    return hm::unexpected{crypto_error(errcode_bad_key, "no signed_curve25519 key claimed for " +
                                             device.user_id + " " + device.device_id)};
  auto key = string_field(*key_object, "key");
  if (!key)
    return hm::unexpected{crypto_error(errcode_bad_key, "the claimed key of " + device.user_id + " " +
                                             device.device_id + " has no \"key\"")};
  if (auto v = verify_signature(device.ed25519, *key_object, device.user_id, device.device_id);
      !v)
    return hm::unexpected{v.error()};
  auto s = olm_session_factory::make();
  secret_bytes random{olm_create_outbound_session_random_length(s.raw())};
  if (!fill_random(random.data(), random.size()))
    return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for an Olm session")};
  if (olm_create_outbound_session(s.raw(), acc.raw(), device.curve25519.data(),
                                  device.curve25519.size(), key->data(), key->size(),
                                  random.data(), random.size()) == olm_error())
    return hm::unexpected{olm_failure(s.raw(), "creating an outbound Olm session")};
  return s;
}

result<nlohmann::json> encrypt_olm(olm_session& session, const account& acc,
                                   const own_device& self, const device_identity& recipient,
                                   std::string_view type, const nlohmann::json& content) {
  std::string plaintext;
  try {
    nlohmann::json payload = {
        {"type", std::string{type}},
        {"content", content},
        {"sender", self.user_id},
        {"sender_device", self.device_id},
        {"keys", {{"ed25519", acc.identity().ed25519}}},
        {"recipient", recipient.user_id},
        {"recipient_keys", {{"ed25519", recipient.ed25519}}},
    };
    plaintext = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception&) {
    return hm::unexpected{crypto_error(errcode_olm, "could not serialise the Olm payload")};
  }
  OlmSession* s = session.raw();
  auto type_of_message = olm_encrypt_message_type(s);
  secret_bytes random{olm_encrypt_random_length(s)};
  if (!fill_random(random.data(), random.size())) {
    wipe_memory(plaintext.data(), plaintext.size());
    return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for an Olm message")};
  }
  std::string body(olm_encrypt_message_length(s, plaintext.size()), '\0');
  auto n = olm_encrypt(s, plaintext.data(), plaintext.size(), random.data(), random.size(),
                       body.data(), body.size());
  wipe_memory(plaintext.data(), plaintext.size());
  if (n == olm_error())
    return hm::unexpected{olm_failure(s, "Olm encryption")};
  body.resize(n);
  return nlohmann::json{
      {"algorithm", std::string{olm_algorithm}},
      {"sender_key", acc.identity().curve25519},
      {"ciphertext",
       {{recipient.curve25519, {{"type", type_of_message}, {"body", std::move(body)}}}}},
  };
}

std::optional<std::string> olm_sender_key(const nlohmann::json& content) {
  if (string_field(content, "algorithm") != std::string{olm_algorithm})
    return std::nullopt;
  return string_field(content, "sender_key");
}

namespace {

// The payload checks of spec "m.olm.v1.curve25519-aes-sha2": a message re-sent by
// someone else, or meant for another device, must not be believed.
result<olm_decrypted> check_payload(const secret_bytes& plain, const account& acc,
                                    const own_device& self, std::string_view sender) {
  auto bad = [](std::string what) { return hm::unexpected{crypto_error(errcode_bad_payload, std::move(what))}; };
  std::string_view text{reinterpret_cast<const char*>(plain.data()), plain.size()};
  auto j = parse_bounded_json(text, json_limits{64, 1u << 20});
  if (!j || !j->is_object())
    return bad("the decrypted Olm payload is not a JSON object");
  if (string_field(*j, "sender") != std::string{sender})
    return bad("the Olm payload's sender is not the event's sender " + std::string{sender});
  if (string_field(*j, "recipient") != self.user_id)
    return bad("the Olm payload is addressed to another user");
  const auto* rk = object_field(*j, "recipient_keys");
  if (rk == nullptr || string_field(*rk, "ed25519") != acc.identity().ed25519)
    return bad("the Olm payload is addressed to another device");
  const auto* keys = object_field(*j, "keys");
  auto ed = keys ? string_field(*keys, "ed25519") : std::nullopt;
  if (!ed)
    return bad("the Olm payload lacks the sender's ed25519 key");
  auto type = string_field(*j, "type");
  const auto* content = object_field(*j, "content");
  if (!type || content == nullptr)
    return bad("the Olm payload lacks type or content");
  olm_decrypted d;
  d.type = std::move(*type);
  d.content = *content;
  d.sender_ed25519 = std::move(*ed);
  d.sender_device = string_field(*j, "sender_device");
  return d;
}

} // namespace

result<olm_decrypted> decrypt_olm(account& acc, std::vector<olm_session>& sessions,
                                  const own_device& self, std::string_view sender,
                                  const nlohmann::json& content) {
  auto undecryptable = [](std::string what) {
    return hm::unexpected{crypto_error(errcode_undecryptable, std::move(what))};
  };
  auto sender_key = olm_sender_key(content);
  if (!sender_key)
    return undecryptable("not an m.olm.v1.curve25519-aes-sha2 content with a sender_key");
  const auto* ciphertext = object_field(content, "ciphertext");
  const auto* mine = ciphertext ? object_field(*ciphertext, acc.identity().curve25519) : nullptr;
  if (mine == nullptr)
    return undecryptable("the Olm message was not encrypted for this device");
  auto type = int_field(*mine, "type");
  auto body = string_field(*mine, "body");
  if (!type || !body || (*type != 0 && *type != 1))
    return undecryptable("the Olm message has no valid type and body");
  auto msg_type = *type == 0 ? message_type_pre_key : message_type_normal;

  std::optional<secret_bytes> plain;
  std::size_t index = 0;
  if (msg_type == message_type_pre_key) {
    // The pre-key message may belong to a session we already have (the sender sent
    // several before we answered): then only that session may decrypt it.
    for (std::size_t i = 0; i < sessions.size() && !plain; ++i) {
      auto probe = copy_of(*body);
      if (olm_matches_inbound_session_from(sessions[i].raw(), sender_key->data(),
                                           sender_key->size(), probe.data(),
                                           probe.size()) == 1) {
        plain = try_decrypt(sessions[i].raw(), msg_type, *body);
        if (!plain)
          return undecryptable("a pre-key message for a known Olm session did not decrypt");
        index = i;
      }
    }
    if (!plain) {
      auto fresh = olm_session_factory::make();
      auto msg = copy_of(*body);
      if (olm_create_inbound_session_from(fresh.raw(), acc.raw(), sender_key->data(),
                                          sender_key->size(), msg.data(),
                                          msg.size()) == olm_error())
        return undecryptable(std::string{"no Olm session could be created from the pre-key "
                                         "message: "} +
                             olm_session_last_error(fresh.raw()));
      plain = try_decrypt(fresh.raw(), msg_type, *body);
      if (!plain)
        return undecryptable("the pre-key message did not decrypt in its new session");
      auto checked = check_payload(*plain, acc, self, sender);
      if (!checked)
        return hm::unexpected{checked.error()}; // the new session is dropped, the one-time key kept
      // The one-time key is used up (a fallback key is not removed: libolm reports
      // BAD_MESSAGE_KEY_ID for it, which is expected).
      (void)olm_remove_one_time_keys(acc.raw(), fresh.raw());
      sessions.push_back(std::move(fresh));
      auto d = std::move(checked.value());
      d.sender_key = std::move(*sender_key);
      d.session_index = sessions.size() - 1;
      d.new_session = true;
      return d;
    }
  } else {
    for (std::size_t i = 0; i < sessions.size() && !plain; ++i) {
      plain = try_decrypt(sessions[i].raw(), msg_type, *body);
      index = i;
    }
    if (!plain)
      return undecryptable("no Olm session with this sender decrypts the message");
  }
  auto checked = check_payload(*plain, acc, self, sender);
  if (!checked)
    return hm::unexpected{checked.error()};
  auto d = std::move(checked.value());
  d.sender_key = std::move(*sender_key);
  d.session_index = index;
  d.new_session = false;
  return d;
}

} // namespace hm::matrix::crypto

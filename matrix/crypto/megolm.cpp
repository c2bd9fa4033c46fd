#include "matrix/crypto/megolm.hpp"

#include <olm/inbound_group_session.h>
#include <olm/olm.h>
#include <olm/outbound_group_session.h>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secure_random.hpp"

namespace hm::matrix::crypto {

struct group_session_factory {
  static inbound_group_session make() { return inbound_group_session{}; }
  static inbound_group_session with_info(inbound_group_session s,
                                         inbound_group_session_info info) {
    s.info_ = std::move(info);
    return s;
  }
};

namespace {

matrix_error bad_key(std::string what) { return crypto_error(errcode_bad_key, std::move(what)); }

matrix_error inbound_failure(OlmInboundGroupSession* s, std::string_view what) {
  return crypto_error(errcode_olm, std::string{what} + " failed: " +
                                       olm_inbound_group_session_last_error(s));
}

matrix_error outbound_failure(OlmOutboundGroupSession* s, std::string_view what) {
  return crypto_error(errcode_olm, std::string{what} + " failed: " +
                                       olm_outbound_group_session_last_error(s));
}

std::string inbound_id(OlmInboundGroupSession* s) {
  std::string out(olm_inbound_group_session_id_length(s), '\0');
  auto n = olm_inbound_group_session_id(s, reinterpret_cast<std::uint8_t*>(out.data()),
                                        out.size());
  if (n == olm_error())
    return {};
  out.resize(n);
  return out;
}

// Creates the libolm session from `key` (signed m.room_key format, or the export format
// of forwarded keys) and checks that it is the session the sender said it is.
result<inbound_group_session> make_inbound(const room_key& key, bool exported,
                                           inbound_group_session_info info) {
  auto s = group_session_factory::make();
  std::string buf = key.session_key; // libolm decodes the import buffer in place
  auto* bytes = reinterpret_cast<std::uint8_t*>(buf.data());
  auto r = exported ? olm_import_inbound_group_session(s.raw(), bytes, buf.size())
                    : olm_init_inbound_group_session(s.raw(), bytes, buf.size());
  wipe_memory(buf.data(), buf.size());
  if (r == olm_error())
    return hm::unexpected{bad_key(std::string{"the room key of session "} + key.session_id +
                   " is unusable: " + olm_inbound_group_session_last_error(s.raw()))};
  if (inbound_id(s.raw()) != key.session_id)
    return hm::unexpected{bad_key("the room key does not belong to session " + key.session_id)};
  info.room_id = key.room_id;
  info.session_id = key.session_id;
  return group_session_factory::with_info(std::move(s), std::move(info));
}

} // namespace

// ---- room keys -------------------------------------------------------------------------

result<room_key> parse_room_key(const nlohmann::json& content) {
  if (string_field(content, "algorithm") != std::string{megolm_algorithm})
    return hm::unexpected{bad_key("the room key is not for m.megolm.v1.aes-sha2")};
  auto room_id = string_field(content, "room_id");
  auto session_id = string_field(content, "session_id");
  auto session_key = string_field(content, "session_key");
  if (!room_id || !session_id || !session_key)
    return hm::unexpected{bad_key("the room key lacks room_id, session_id or session_key")};
  return room_key{std::move(*room_id), std::move(*session_id), std::move(*session_key)};
}

result<forwarded_room_key> parse_forwarded_room_key(const nlohmann::json& content) {
  auto base = parse_room_key(content);
  if (!base)
    return hm::unexpected{base.error()};
  auto sender_key = string_field(content, "sender_key");
  auto ed = string_field(content, "sender_claimed_ed25519_key");
  if (!sender_key || !ed)
    return hm::unexpected{bad_key("the forwarded room key lacks sender_key or sender_claimed_ed25519_key")};
  forwarded_room_key k;
  static_cast<room_key&>(k) = std::move(base.value());
  k.sender_key = std::move(*sender_key);
  k.sender_claimed_ed25519_key = std::move(*ed);
  if (const auto* chain = find_field(content, "forwarding_curve25519_key_chain")) {
    if (!chain->is_array())
      return hm::unexpected{bad_key("forwarding_curve25519_key_chain is not an array")};
    for (const auto& c : *chain) {
      if (!c.is_string())
        return hm::unexpected{bad_key("forwarding_curve25519_key_chain holds a non-string")};
      k.forwarding_curve25519_key_chain.push_back(c.get<std::string>());
    }
  }
  return k;
}

// ---- inbound ---------------------------------------------------------------------------

inbound_group_session::inbound_group_session()
    : holder_(olm_inbound_group_session_size(), olm_inbound_group_session,
              olm_clear_inbound_group_session) {}

result<inbound_group_session> inbound_group_session::from_room_key(const olm_decrypted& ev) {
  if (ev.type != "m.room_key")
    return hm::unexpected{bad_key("not an m.room_key event")};
  auto key = parse_room_key(ev.content);
  if (!key)
    return hm::unexpected{key.error()};
  inbound_group_session_info info;
  info.sender_key = ev.sender_key;
  info.sender_ed25519 = ev.sender_ed25519;
  return make_inbound(key.value(), false, std::move(info));
}

result<inbound_group_session>
inbound_group_session::from_forwarded_room_key(const olm_decrypted& ev) {
  if (ev.type != "m.forwarded_room_key")
    return hm::unexpected{bad_key("not an m.forwarded_room_key event")};
  auto key = parse_forwarded_room_key(ev.content);
  if (!key)
    return hm::unexpected{key.error()};
  inbound_group_session_info info;
  info.sender_key = key->sender_key;
  info.sender_ed25519 = key->sender_claimed_ed25519_key;
  info.forwarding_chain = key->forwarding_curve25519_key_chain;
  info.forwarding_chain.push_back(ev.sender_key); // the device that forwarded it to us
  return make_inbound(key.value(), true, std::move(info));
}

result<inbound_group_session> inbound_group_session::from_export(const room_key& key,
                                                                 inbound_group_session_info info) {
  return make_inbound(key, true, std::move(info));
}

result<inbound_group_session> inbound_group_session::from_pickle(std::string_view pickle,
                                                                 const pickle_key& key,
                                                                 inbound_group_session_info info) {
  inbound_group_session s;
  std::string buf{pickle};
  auto r = olm_unpickle_inbound_group_session(s.raw(), key.data(), key.size(), buf.data(),
                                              buf.size());
  wipe_memory(buf.data(), buf.size());
  if (r == olm_error()) {
    if (olm_inbound_group_session_last_error_code(s.raw()) == OLM_BAD_ACCOUNT_KEY)
      return hm::unexpected{crypto_error(errcode_bad_pickle_key,
                          "the Megolm session pickle was made with a different pickle key")};
    return hm::unexpected{crypto_error(errcode_bad_pickle,
                        std::string{"the Megolm session pickle is unreadable: "} +
                            olm_inbound_group_session_last_error(s.raw()))};
  }
  s.info_ = std::move(info);
  s.info_.session_id = inbound_id(s.raw());
  return s;
}

result<std::string> inbound_group_session::pickle(const pickle_key& key) const {
  std::string out(olm_pickle_inbound_group_session_length(raw()), '\0');
  auto n = olm_pickle_inbound_group_session(raw(), key.data(), key.size(), out.data(),
                                            out.size());
  if (n == olm_error())
    return hm::unexpected{inbound_failure(raw(), "pickling the Megolm session")};
  out.resize(n);
  return out;
}

std::uint32_t inbound_group_session::first_known_index() const noexcept {
  return olm_inbound_group_session_first_known_index(raw());
}

result<std::string> inbound_group_session::export_at(std::uint32_t index) const {
  std::string out(olm_export_inbound_group_session_length(raw()), '\0');
  auto n = olm_export_inbound_group_session(raw(), reinterpret_cast<std::uint8_t*>(out.data()),
                                            out.size(), index);
  if (n == olm_error())
    return hm::unexpected{inbound_failure(raw(), "exporting the Megolm session")};
  out.resize(n);
  return out;
}

std::optional<std::string> megolm_session_id(const nlohmann::json& content) {
  if (string_field(content, "algorithm") != std::string{megolm_algorithm})
    return std::nullopt;
  return string_field(content, "session_id");
}

result<megolm_decrypted> decrypt_megolm(const inbound_group_session& session,
                                        std::string_view room_id, std::string_view event_id,
                                        std::int64_t origin_server_ts,
                                        const nlohmann::json& content, const seen_lookup& seen) {
  auto undecryptable = [](std::string what) {
    return hm::unexpected{crypto_error(errcode_undecryptable, std::move(what))};
  };
  auto bad = [](std::string what) { return hm::unexpected{crypto_error(errcode_bad_payload, std::move(what))}; };
  const auto& info = session.info();
  if (megolm_session_id(content) != info.session_id)
    return undecryptable("the event is not encrypted with Megolm session " + info.session_id);
  // sender_key is deprecated in the content (spec v1.3) but, when present, must agree.
  if (auto sk = string_field(content, "sender_key"); sk && *sk != info.sender_key)
    return undecryptable("the event's sender_key is not the session's");
  auto ciphertext = string_field(content, "ciphertext");
  if (!ciphertext)
    return undecryptable("the event has no ciphertext");

  OlmInboundGroupSession* s = session.raw();
  std::string probe = *ciphertext; // libolm decodes in place: one copy per call
  auto max = olm_group_decrypt_max_plaintext_length(
      s, reinterpret_cast<std::uint8_t*>(probe.data()), probe.size());
  if (max == olm_error())
    return undecryptable(std::string{"the Megolm message is malformed: "} +
                         olm_inbound_group_session_last_error(s));
  secret_bytes plain{max};
  std::string msg = *ciphertext;
  std::uint32_t index = 0;
  auto n = olm_group_decrypt(s, reinterpret_cast<std::uint8_t*>(msg.data()), msg.size(),
                             plain.data(), plain.size(), &index);
  if (n == olm_error()) {
    if (olm_inbound_group_session_last_error_code(s) == OLM_UNKNOWN_MESSAGE_INDEX)
      return hm::unexpected{crypto_error(errcode_unknown_index,
                          "Megolm session " + info.session_id +
                              " is only known from index " +
                              std::to_string(session.first_known_index()))};
    return undecryptable(std::string{"the Megolm message did not decrypt: "} +
                         olm_inbound_group_session_last_error(s));
  }
  std::string_view text{reinterpret_cast<const char*>(plain.data()), n};
  auto payload = parse_bounded_json(text, json_limits{64, 1u << 20});
  if (!payload || !payload->is_object())
    return bad("the decrypted Megolm payload is not a JSON object");
  if (string_field(*payload, "room_id") != std::string{room_id})
    return bad("the Megolm payload belongs to another room than " + std::string{room_id});
  auto type = string_field(*payload, "type");
  const auto* inner = object_field(*payload, "content");
  if (!type || inner == nullptr)
    return bad("the Megolm payload lacks type or content");

  bool first = true;
  if (seen) {
    if (auto before = seen(index)) {
      if (before->event_id != event_id || before->origin_server_ts != origin_server_ts)
        return hm::unexpected{crypto_error(errcode_replay,
                            "message index " + std::to_string(index) + " of Megolm session " +
                                info.session_id + " was already used by " + before->event_id)};
      first = false; // the same event again (a re-sync, a retry): not a replay
    }
  }
  megolm_decrypted d;
  d.type = std::move(*type);
  d.content = *inner;
  d.message_index = index;
  d.first_decryption = first;
  // Relations travel in clear; the decrypted content lacks them (spec "m.relates_to").
  if (const auto* rel = object_field(content, "m.relates_to"); rel && !d.content.contains("m.relates_to"))
    d.content["m.relates_to"] = *rel;
  return d;
}

// ---- outbound --------------------------------------------------------------------------

rotation_policy rotation_policy::from(const encryption_content& c) {
  rotation_policy p;
  if (c.rotation_period_ms && *c.rotation_period_ms > 0)
    p.period_ms = *c.rotation_period_ms;
  if (c.rotation_period_msgs && *c.rotation_period_msgs > 0)
    p.period_msgs = *c.rotation_period_msgs;
  return p;
}

outbound_group_session::outbound_group_session()
    : holder_(olm_outbound_group_session_size(), olm_outbound_group_session,
              olm_clear_outbound_group_session) {}

result<outbound_group_session> outbound_group_session::create(std::string room_id,
                                                              std::int64_t now_ms) {
  outbound_group_session s;
  secret_bytes random{olm_init_outbound_group_session_random_length(s.raw())};
  if (!fill_random(random.data(), random.size()))
    return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for a Megolm session")};
  if (olm_init_outbound_group_session(s.raw(), random.data(), random.size()) == olm_error())
    return hm::unexpected{outbound_failure(s.raw(), "creating a Megolm session")};
  s.room_id_ = std::move(room_id);
  s.created_at_ms_ = now_ms;
  return s;
}

result<outbound_group_session> outbound_group_session::from_pickle(std::string_view pickle,
                                                                   const pickle_key& key,
                                                                   std::string room_id,
                                                                   std::int64_t created_at_ms) {
  outbound_group_session s;
  std::string buf{pickle};
  auto r = olm_unpickle_outbound_group_session(s.raw(), key.data(), key.size(), buf.data(),
                                               buf.size());
  wipe_memory(buf.data(), buf.size());
  if (r == olm_error()) {
    if (olm_outbound_group_session_last_error_code(s.raw()) == OLM_BAD_ACCOUNT_KEY)
      return hm::unexpected{crypto_error(errcode_bad_pickle_key,
                          "the outbound Megolm pickle was made with a different pickle key")};
    return hm::unexpected{crypto_error(errcode_bad_pickle,
                        std::string{"the outbound Megolm pickle is unreadable: "} +
                            olm_outbound_group_session_last_error(s.raw()))};
  }
  s.room_id_ = std::move(room_id);
  s.created_at_ms_ = created_at_ms;
  return s;
}

result<std::string> outbound_group_session::pickle(const pickle_key& key) const {
  std::string out(olm_pickle_outbound_group_session_length(raw()), '\0');
  auto n = olm_pickle_outbound_group_session(raw(), key.data(), key.size(), out.data(),
                                             out.size());
  if (n == olm_error())
    return hm::unexpected{outbound_failure(raw(), "pickling the outbound Megolm session")};
  out.resize(n);
  return out;
}

std::string outbound_group_session::id() const {
  std::string out(olm_outbound_group_session_id_length(raw()), '\0');
  auto n = olm_outbound_group_session_id(raw(), reinterpret_cast<std::uint8_t*>(out.data()),
                                         out.size());
  if (n == olm_error())
    return {};
  out.resize(n);
  return out;
}

std::uint32_t outbound_group_session::message_index() const noexcept {
  return olm_outbound_group_session_message_index(raw());
}

result<nlohmann::json> outbound_group_session::room_key_content() const {
  std::string key(olm_outbound_group_session_key_length(raw()), '\0');
  auto n = olm_outbound_group_session_key(raw(), reinterpret_cast<std::uint8_t*>(key.data()),
                                          key.size());
  if (n == olm_error())
    return hm::unexpected{outbound_failure(raw(), "reading the Megolm session key")};
  key.resize(n);
  nlohmann::json c = {{"algorithm", std::string{megolm_algorithm}},
                      {"room_id", room_id_},
                      {"session_id", id()},
                      {"session_key", key}};
  wipe_memory(key.data(), key.size());
  return c;
}

result<nlohmann::json> outbound_group_session::encrypt(std::string_view type,
                                                       nlohmann::json content,
                                                       const account& acc,
                                                       std::string_view own_device_id) {
  if (!content.is_object())
    return hm::unexpected{crypto_error(errcode_olm, "only an object can be encrypted as event content")};
  std::optional<nlohmann::json> relates_to;
  std::string plaintext;
  try {
    if (content.is_object() && content.contains("m.relates_to")) {
      relates_to = std::move(content["m.relates_to"]);
      content.erase("m.relates_to");
    }
    nlohmann::json payload = {
        {"type", std::string{type}}, {"content", std::move(content)}, {"room_id", room_id_}};
    plaintext = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception&) {
    return hm::unexpected{crypto_error(errcode_olm, "could not serialise the Megolm payload")};
  }
  std::string ct(olm_group_encrypt_message_length(raw(), plaintext.size()), '\0');
  auto n = olm_group_encrypt(raw(), reinterpret_cast<const std::uint8_t*>(plaintext.data()),
                             plaintext.size(), reinterpret_cast<std::uint8_t*>(ct.data()),
                             ct.size());
  wipe_memory(plaintext.data(), plaintext.size());
  if (n == olm_error())
    return hm::unexpected{outbound_failure(raw(), "Megolm encryption")};
  ct.resize(n);
  nlohmann::json out = {
      {"algorithm", std::string{megolm_algorithm}},
      {"ciphertext", std::move(ct)},
      {"session_id", id()},
      // Deprecated since spec v1.3, still read by older clients.
      {"sender_key", acc.identity().curve25519},
      {"device_id", std::string{own_device_id}},
  };
  if (relates_to)
    out["m.relates_to"] = std::move(*relates_to);
  return out;
}

bool needs_rotation(const outbound_group_session& s, const rotation_policy& p,
                    std::int64_t now_ms) {
  if (static_cast<std::int64_t>(s.message_index()) >= p.period_msgs)
    return true;
  return now_ms - s.created_at_ms() >= p.period_ms;
}

result<inbound_group_session> inbound_from_own_outbound(const outbound_group_session& s,
                                                        const account& acc) {
  auto content = s.room_key_content();
  if (!content)
    return hm::unexpected{content.error()};
  auto key = parse_room_key(content.value());
  if (!key)
    return hm::unexpected{key.error()};
  inbound_group_session_info info;
  info.sender_key = acc.identity().curve25519;
  info.sender_ed25519 = acc.identity().ed25519;
  return make_inbound(key.value(), false, std::move(info));
}

} // namespace hm::matrix::crypto

#include "matrix/crypto/key_backup.hpp"

#include <limits>

#include <olm/olm.h>
#include <olm/pk.h>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secret_storage.hpp"

namespace hm::matrix::crypto {

namespace {

constexpr std::size_t curve25519_size = 32;
constexpr std::size_t ed25519_size = 32;
constexpr std::size_t pk_mac_size = 8; // libolm's PkEncryption MAC: 8 bytes of HMAC-SHA-256
// An exported session is about 230 characters and a SessionData about 500; a long
// forwarding chain adds 45 per device. Anything far beyond is not a session.
constexpr std::size_t max_ciphertext_chars = 256u * 1024u;
constexpr std::size_t max_forwarding_chain = 1024;
// The whole backup in one answer: thousands of sessions at about 1 KiB each.
constexpr std::uint64_t max_room_keys_bytes = 256u * 1024u * 1024u;

/// A server-chosen name (version, algorithm, room or session id) as it may appear in an
/// error text or a log line: at most 80 characters, control characters replaced.
std::string shown(std::string_view name) {
  std::string out{name.substr(0, 80)};
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      c = '?';
  if (name.size() > out.size())
    out += "...";
  return out;
}

matrix_error bad_key(std::string what) { return crypto_error(errcode_bad_key, std::move(what)); }
matrix_error bad_shape(std::string what) { return bad_response(200, std::move(what)); }

/// Base64 of exactly `size` bytes, padded or not.
bool is_base64_of(std::string_view text, std::size_t size) {
  auto bytes = base64_decode(text);
  return bytes && bytes->size() == size;
}

/// `text` decoded and encoded again unpadded when it is base64 of `size` bytes (or of
/// any size, for 0). libolm reads fixed lengths from its inputs without checking the
/// alphabet or the length it was given: what reaches it must be exactly what it expects.
std::optional<std::string> canonical_base64(std::string_view text, std::size_t size) {
  auto bytes = base64_decode(text);
  if (!bytes || (size != 0 && bytes->size() != size))
    return std::nullopt;
  return base64_encode_unpadded(bytes->data(), bytes->size());
}

std::string with_version(std::string path, std::string_view version) {
  return std::string{client_v3} + path + "?version=" + percent_encode(version);
}

/// A 2xx body as a JSON object, or the error of the answer.
result<nlohmann::json> json_body(const http_response& r, std::string_view what,
                                 std::uint64_t max_bytes = 1u << 20) {
  if (r.status < 200 || r.status >= 300)
    return hm::unexpected{parse_matrix_error(r)};
  std::string why;
  auto j = parse_bounded_json(r.body, json_limits{16, max_bytes}, &why);
  if (!j || !j->is_object())
    return hm::unexpected{bad_response(r.status, std::string{what} + ": " + (j ? "not an object" : why))};
  return std::move(*j);
}

/// What `parse` makes of a 2xx body, or nullopt for a 404 M_NOT_FOUND (no backup, no
/// such session: an answer, not a failure).
template <class T, class Parse>
result<std::optional<T>> parse_unless_not_found(const http_response& r, std::string_view what,
                                                Parse parse) {
  if (r.status == 404 && parse_matrix_error(r).errcode == "M_NOT_FOUND")
    return std::optional<T>{};
  auto body = json_body(r, what);
  if (!body)
    return hm::unexpected{body.error()};
  result<T> v = parse(body.value());
  if (!v)
    return hm::unexpected{v.error()};
  return std::optional<T>{std::move(v).value()};
}

} // namespace

// ---- keys ------------------------------------------------------------------------------

backup_key::backup_key()
    : holder_(olm_pk_decryption_size(), olm_pk_decryption, olm_clear_pk_decryption) {}

result<backup_key> backup_key::from_secret(std::string_view base64) {
  auto key = decode_secret_key(base64, olm_pk_private_key_length());
  if (!key)
    return hm::unexpected{bad_key("the key backup secret is not base64 of a 32-byte private key")};
  return from_private(*key);
}

result<backup_key> backup_key::from_private(const secret_bytes& key) {
  if (key.size() != olm_pk_private_key_length())
    return hm::unexpected{bad_key("a key backup private key has 32 bytes")};
  backup_key k;
  std::string pub(olm_pk_key_length(), '\0');
  if (olm_pk_key_from_private(k.raw(), pub.data(), pub.size(), key.data(), key.size()) ==
      olm_error())
    return hm::unexpected{crypto_error(errcode_olm, std::string{"the key backup key is unusable: "} +
                                         olm_pk_decryption_last_error(k.raw()))};
  k.public_key_ = std::move(pub);
  return k;
}

backup_public_key::backup_public_key()
    : holder_(olm_pk_encryption_size(), olm_pk_encryption, olm_clear_pk_encryption) {}

result<backup_public_key> backup_public_key::from_base64(std::string_view public_key) {
  auto canonical = canonical_base64(public_key, curve25519_size);
  if (!canonical)
    return hm::unexpected{bad_key("the key backup public key is not base64 of a curve25519 key")};
  backup_public_key k;
  if (olm_pk_encryption_set_recipient_key(k.raw(), canonical->data(), canonical->size()) ==
      olm_error())
    return hm::unexpected{crypto_error(errcode_olm, std::string{"the key backup public key is unusable: "} +
                                         olm_pk_encryption_last_error(k.raw()))};
  k.key_ = std::move(*canonical);
  return k;
}

// ---- the backup version ----------------------------------------------------------------

result<backup_version> parse_backup_version(const nlohmann::json& body) {
  if (!body.is_object())
    return hm::unexpected{bad_shape("the key backup version is not an object")};
  auto version = string_field(body, "version");
  auto algorithm = string_field(body, "algorithm");
  const auto* auth = object_field(body, "auth_data");
  if (!version || version->empty() || !algorithm || auth == nullptr)
    return hm::unexpected{bad_shape("the key backup version lacks version, algorithm or auth_data")};
  backup_version v;
  v.version = std::move(*version);
  v.algorithm = std::move(*algorithm);
  v.auth_data = *auth;
  // count and etag are required since spec v1.1; old servers may lack them, and neither
  // decides anything here.
  if (find_field(body, "count") != nullptr) {
    auto count = int_field(body, "count");
    if (!count || *count < 0)
      return hm::unexpected{bad_shape("the key backup count is not a non-negative integer")};
    v.count = *count;
  }
  if (find_field(body, "etag") != nullptr) {
    auto etag = string_field(body, "etag");
    if (!etag)
      return hm::unexpected{bad_shape("the key backup etag is not a string")};
    v.etag = std::move(*etag);
  }
  if (v.algorithm == megolm_backup_algorithm) {
    auto pub = string_field(*auth, "public_key");
    if (!pub || !is_base64_of(*pub, curve25519_size))
      return hm::unexpected{bad_shape("the key backup auth_data.public_key is not a curve25519 key")};
    v.public_key = std::move(*pub);
  }
  return v;
}

result<empty_response> backup_matches(const backup_version& version, const backup_key& key) {
  if (version.algorithm != megolm_backup_algorithm)
    return hm::unexpected{crypto_error(errcode_unsupported_backup,
                        "key backup version " + shown(version.version) + " uses " +
                            shown(version.algorithm) + ", not " +
                            std::string{megolm_backup_algorithm})};
  // Compared as bytes: the server may have padded the base64.
  auto theirs = base64_decode(version.public_key);
  auto ours = base64_decode(key.public_key());
  if (!theirs || !ours || *theirs != *ours)
    return hm::unexpected{crypto_error(errcode_backup_key_mismatch,
                        "key backup version " + shown(version.version) +
                            " has another public key than the backup key in secret storage "
                            "(a wrong recovery key, or a backup replaced by another client)")};
  return empty_response{};
}

// ---- what is backed up -----------------------------------------------------------------

nlohmann::json backup_session_data::to_json() const {
  return nlohmann::json{
      {"algorithm", std::string{megolm_algorithm}},
      {"forwarding_curve25519_key_chain", forwarding_chain},
      {"sender_claimed_keys", {{"ed25519", sender_ed25519}}},
      {"sender_key", sender_key},
      {"session_key", session_key},
  };
}

nlohmann::json key_backup_data::to_json() const {
  return nlohmann::json{
      {"first_message_index", first_message_index},
      {"forwarded_count", forwarded_count},
      {"is_verified", is_verified},
      {"session_data",
       {{"ephemeral", session_data.ephemeral},
        {"ciphertext", session_data.ciphertext},
        {"mac", session_data.mac}}},
  };
}

result<key_backup_data> parse_key_backup_data(const nlohmann::json& body) {
  if (!body.is_object())
    return hm::unexpected{bad_shape("the backed-up session is not an object")};
  auto first = int_field(body, "first_message_index");
  if (!first || *first < 0 || *first > std::numeric_limits<std::uint32_t>::max())
    return hm::unexpected{bad_shape("the backed-up session's first_message_index is not a message index")};
  auto forwarded = int_field(body, "forwarded_count");
  if (!forwarded || *forwarded < 0)
    return hm::unexpected{bad_shape("the backed-up session's forwarded_count is not a non-negative integer")};
  auto verified = bool_field(body, "is_verified");
  if (!verified)
    return hm::unexpected{bad_shape("the backed-up session's is_verified is not a boolean")};
  const auto* sd = object_field(body, "session_data");
  if (sd == nullptr)
    return hm::unexpected{bad_shape("the backed-up session has no session_data object")};
  auto ephemeral = string_field(*sd, "ephemeral");
  auto ciphertext = string_field(*sd, "ciphertext");
  auto mac = string_field(*sd, "mac");
  if (!ephemeral || !ciphertext || !mac)
    return hm::unexpected{bad_shape("the backed-up session_data lacks ephemeral, ciphertext or mac")};
  key_backup_data d;
  d.first_message_index = *first;
  d.forwarded_count = *forwarded;
  d.is_verified = *verified;
  d.session_data = {std::move(*ephemeral), std::move(*ciphertext), std::move(*mac)};
  return d;
}

result<encrypted_session_data> encrypt_for_backup(const backup_public_key& key,
                                                  std::string_view plaintext) {
  OlmPkEncryption* pk = key.raw();
  std::string ciphertext(olm_pk_ciphertext_length(pk, plaintext.size()), '\0');
  std::string mac(olm_pk_mac_length(pk), '\0');
  std::string ephemeral(olm_pk_key_length(), '\0');
  secret_bytes random{olm_pk_encrypt_random_length(pk)};
  if (!fill_random(random.data(), random.size()))
    return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for a key backup")};
  auto n = olm_pk_encrypt(pk, plaintext.data(), plaintext.size(), ciphertext.data(),
                          ciphertext.size(), mac.data(), mac.size(), ephemeral.data(),
                          ephemeral.size(), random.data(), random.size());
  if (n == olm_error())
    return hm::unexpected{crypto_error(errcode_olm,
                        std::string{"encrypting a session for the key backup failed: "} +
                            olm_pk_encryption_last_error(pk))};
  return encrypted_session_data{std::move(ephemeral), std::move(ciphertext), std::move(mac)};
}

result<key_backup_data> encrypt_session_for_backup(const backup_public_key& key,
                                                   const inbound_group_session& session,
                                                   bool is_verified) {
  auto first = session.first_known_index();
  auto exported = session.export_at(first);
  if (!exported)
    return hm::unexpected{exported.error()};
  const auto& info = session.info();
  backup_session_data sd{info.sender_key, info.sender_ed25519, info.forwarding_chain,
                         std::move(exported.value())};
  std::string plaintext;
  try {
    plaintext = sd.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception&) {
    plaintext.clear();
  }
  wipe_memory(sd.session_key.data(), sd.session_key.size());
  if (plaintext.empty())
    return hm::unexpected{crypto_error(errcode_olm, "could not serialise the backed-up session")};
  auto encrypted = encrypt_for_backup(key, plaintext);
  wipe_memory(plaintext.data(), plaintext.size());
  if (!encrypted)
    return hm::unexpected{encrypted.error()};
  key_backup_data d;
  d.first_message_index = first;
  d.forwarded_count = static_cast<std::int64_t>(info.forwarding_chain.size());
  d.is_verified = is_verified;
  d.session_data = std::move(encrypted).value();
  return d;
}

result<backup_session_data> decrypt_backed_up_session(const backup_key& key,
                                                      const key_backup_data& data) {
  auto undecryptable = [](std::string what) {
    return hm::unexpected{crypto_error(errcode_undecryptable, std::move(what))};
  };
  auto bad = [](std::string what) { return hm::unexpected{crypto_error(errcode_bad_payload, std::move(what))}; };
  const auto& sd = data.session_data;
  auto ephemeral = canonical_base64(sd.ephemeral, curve25519_size);
  auto mac = canonical_base64(sd.mac, pk_mac_size);
  if (!ephemeral || !mac)
    return undecryptable("the backed-up session's ephemeral key or MAC is malformed");
  if (sd.ciphertext.size() > max_ciphertext_chars)
    return undecryptable("the backed-up session's ciphertext is too large to be a session");
  auto ciphertext = canonical_base64(sd.ciphertext, 0);
  if (!ciphertext || ciphertext->empty())
    return undecryptable("the backed-up session's ciphertext is not base64");

  OlmPkDecryption* pk = key.raw();
  secret_bytes plain{olm_pk_max_plaintext_length(pk, ciphertext->size())};
  auto n = olm_pk_decrypt(pk, ephemeral->data(), ephemeral->size(), mac->data(), mac->size(),
                          ciphertext->data(), ciphertext->size(), plain.data(), plain.size());
  if (n == olm_error())
    return undecryptable(std::string{"the backed-up session did not decrypt: "} +
                         olm_pk_decryption_last_error(pk));
  std::string_view text{reinterpret_cast<const char*>(plain.data()), n};
  auto j = parse_bounded_json(text, json_limits{8, max_ciphertext_chars});
  if (!j || !j->is_object())
    return bad("the backed-up session is not a JSON object");
  // The session key is copied out before anything can fail, so that every copy of it is
  // wiped on every way out (the JSON tree's own strings cannot be).
  backup_session_data out;
  if (auto s = string_field(*j, "session_key"))
    out.session_key = std::move(*s);
  if (auto it = j->find("session_key"); it != j->end() && it->is_string()) {
    auto& s = it->get_ref<std::string&>();
    wipe_memory(s.data(), s.size());
  }
  auto fail = [&out, &bad](std::string what) {
    wipe_memory(out.session_key.data(), out.session_key.size());
    return bad(std::move(what));
  };
  if (string_field(*j, "algorithm") != std::string{megolm_algorithm})
    return fail("the backed-up session is not for m.megolm.v1.aes-sha2");
  if (out.session_key.empty())
    return fail("the backed-up session has no session_key");
  auto sender_key = string_field(*j, "sender_key");
  if (!sender_key || !is_base64_of(*sender_key, curve25519_size))
    return fail("the backed-up session's sender_key is not a curve25519 key");
  const auto* claimed = object_field(*j, "sender_claimed_keys");
  auto ed = claimed ? string_field(*claimed, "ed25519") : std::nullopt;
  if (!ed || !is_base64_of(*ed, ed25519_size))
    return fail("the backed-up session's sender_claimed_keys.ed25519 is not an ed25519 key");
  const auto* chain = array_field(*j, "forwarding_curve25519_key_chain");
  if (chain == nullptr || chain->size() > max_forwarding_chain)
    return fail("the backed-up session's forwarding_curve25519_key_chain is not a short array");
  for (const auto& c : *chain) {
    if (!c.is_string() || !is_base64_of(c.get_ref<const std::string&>(), curve25519_size))
      return fail("the backed-up session's forwarding chain holds something else than "
                  "curve25519 keys");
    out.forwarding_chain.push_back(c.get<std::string>());
  }
  out.sender_key = std::move(*sender_key);
  out.sender_ed25519 = std::move(*ed);
  return out;
}

result<inbound_group_session> import_backed_up_session(std::string_view room_id,
                                                       std::string_view session_id,
                                                       const backup_session_data& data) {
  room_key key{std::string{room_id}, std::string{session_id}, data.session_key};
  inbound_group_session_info info;
  info.sender_key = data.sender_key;
  info.sender_ed25519 = data.sender_ed25519;
  info.forwarding_chain = data.forwarding_chain;
  auto s = inbound_group_session::from_export(key, std::move(info));
  wipe_memory(key.session_key.data(), key.session_key.size());
  return s;
}

backup_choice choose_better(const key_backup_data& existing, const key_backup_data& candidate) {
  if (existing.is_verified != candidate.is_verified)
    return candidate.is_verified ? backup_choice::take_candidate : backup_choice::keep_existing;
  if (existing.first_message_index != candidate.first_message_index)
    return candidate.first_message_index < existing.first_message_index
               ? backup_choice::take_candidate
               : backup_choice::keep_existing;
  return candidate.forwarded_count < existing.forwarded_count ? backup_choice::take_candidate
                                                              : backup_choice::keep_existing;
}

// ---- requests and answers --------------------------------------------------------------

http_request backup_version_request() {
  http_request r;
  r.target = std::string{client_v3} + "/room_keys/version";
  return r;
}

result<std::optional<backup_version>> parse_backup_version_response(const http_response& r) {
  return parse_unless_not_found<backup_version>(r, "room_keys/version", parse_backup_version);
}

http_request upload_keys_request(std::string_view version,
                                 const std::vector<backed_up_session>& batch) {
  nlohmann::json rooms = nlohmann::json::object();
  for (const auto& s : batch)
    rooms[s.room_id]["sessions"][s.session_id] = s.data.to_json();
  http_request r;
  r.method = http_method::put;
  r.target = with_version("/room_keys/keys", version);
  r.body = nlohmann::json{{"rooms", std::move(rooms)}};
  return r;
}

result<backup_upload_result> parse_upload_keys_response(const http_response& r) {
  auto body = json_body(r, "room_keys/keys");
  if (!body)
    return hm::unexpected{body.error()};
  auto count = int_field(body.value(), "count");
  auto etag = string_field(body.value(), "etag");
  if (!count || *count < 0 || !etag)
    return hm::unexpected{bad_response(r.status, "room_keys/keys: the answer lacks count or etag")};
  return backup_upload_result{*count, std::move(*etag)};
}

http_request session_request(std::string_view version, std::string_view room_id,
                             std::string_view session_id) {
  http_request r;
  r.target = with_version("/room_keys/keys/" + percent_encode(room_id) + "/" +
                              percent_encode(session_id),
                          version);
  return r;
}

result<std::optional<key_backup_data>> parse_session_response(const http_response& r) {
  return parse_unless_not_found<key_backup_data>(r, "room_keys/keys/{room}/{session}",
                                                 parse_key_backup_data);
}

http_request room_keys_request(std::string_view version) {
  http_request r;
  r.target = with_version("/room_keys/keys", version);
  r.max_response_bytes = max_room_keys_bytes;
  r.timeout = std::chrono::milliseconds{120'000};
  return r;
}

result<backup_download> parse_room_keys_response(const http_response& r) {
  auto body = json_body(r, "room_keys/keys", max_room_keys_bytes);
  if (!body)
    return hm::unexpected{body.error()};
  const auto* rooms = object_field(body.value(), "rooms");
  if (rooms == nullptr)
    return hm::unexpected{bad_response(r.status, "room_keys/keys: the answer has no rooms object")};
  backup_download out;
  for (const auto& [room_id, room] : rooms->items()) {
    const auto* sessions = object_field(room, "sessions");
    if (sessions == nullptr) {
      out.malformed.push_back("room " + shown(room_id) + ": no sessions object");
      continue;
    }
    for (const auto& [session_id, data] : sessions->items()) {
      auto d = parse_key_backup_data(data);
      if (!d) {
        out.malformed.push_back("session " + shown(session_id) + " of " + shown(room_id) +
                                ": " + d.error().error);
        continue;
      }
      out.sessions.push_back({room_id, session_id, std::move(d).value()});
    }
  }
  return out;
}

} // namespace hm::matrix::crypto

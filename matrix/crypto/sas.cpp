#include "matrix/crypto/sas.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include <olm/olm.h>
#include <olm/sas.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "matrix/bounded_json.hpp"
#include "matrix/crypto/base64.hpp"
#include "matrix/crypto/canonical_json.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/secure_random.hpp"

namespace hm::matrix::crypto {

namespace {

using nlohmann::json;

constexpr std::string_view ev_request = "m.key.verification.request";
constexpr std::string_view ev_ready = "m.key.verification.ready";
constexpr std::string_view ev_start = "m.key.verification.start";
constexpr std::string_view ev_accept = "m.key.verification.accept";
constexpr std::string_view ev_key = "m.key.verification.key";
constexpr std::string_view ev_mac = "m.key.verification.mac";
constexpr std::string_view ev_done = "m.key.verification.done";
constexpr std::string_view ev_cancel = "m.key.verification.cancel";

constexpr std::string_view method_sas = "m.sas.v1";
constexpr std::string_view key_agreement = "curve25519-hkdf-sha256";
constexpr std::string_view hash_sha256 = "sha256";
constexpr std::string_view mac_v2 = "hkdf-hmac-sha256.v2";
constexpr std::string_view mac_v1 = "hkdf-hmac-sha256";

// The spec's table (data-definitions/sas-emoji.json), English descriptions as spelled
// there; the symbols include U+FE0F where the spec has it.
constexpr std::array<sas_emoji, 64> emoji_table{{
    {"\U0001F436", "Dog"},        {"\U0001F431", "Cat"},
    {"\U0001F981", "Lion"},       {"\U0001F40E", "Horse"},
    {"\U0001F984", "Unicorn"},    {"\U0001F437", "Pig"},
    {"\U0001F418", "Elephant"},   {"\U0001F430", "Rabbit"},
    {"\U0001F43C", "Panda"},      {"\U0001F413", "Rooster"},
    {"\U0001F427", "Penguin"},    {"\U0001F422", "Turtle"},
    {"\U0001F41F", "Fish"},       {"\U0001F419", "Octopus"},
    {"\U0001F98B", "Butterfly"},  {"\U0001F337", "Flower"},
    {"\U0001F333", "Tree"},       {"\U0001F335", "Cactus"},
    {"\U0001F344", "Mushroom"},   {"\U0001F30F", "Globe"},
    {"\U0001F319", "Moon"},       {"\u2601\uFE0F", "Cloud"},
    {"\U0001F525", "Fire"},       {"\U0001F34C", "Banana"},
    {"\U0001F34E", "Apple"},      {"\U0001F353", "Strawberry"},
    {"\U0001F33D", "Corn"},       {"\U0001F355", "Pizza"},
    {"\U0001F382", "Cake"},       {"\u2764\uFE0F", "Heart"},
    {"\U0001F600", "Smiley"},     {"\U0001F916", "Robot"},
    {"\U0001F3A9", "Hat"},        {"\U0001F453", "Glasses"},
    {"\U0001F527", "Spanner"},    {"\U0001F385", "Santa"},
    {"\U0001F44D", "Thumbs Up"},  {"\u2602\uFE0F", "Umbrella"},
    {"\u231B", "Hourglass"},      {"\u23F0", "Clock"},
    {"\U0001F381", "Gift"},       {"\U0001F4A1", "Light Bulb"},
    {"\U0001F4D5", "Book"},       {"\u270F\uFE0F", "Pencil"},
    {"\U0001F4CE", "Paperclip"},  {"\u2702\uFE0F", "Scissors"},
    {"\U0001F512", "Lock"},       {"\U0001F511", "Key"},
    {"\U0001F528", "Hammer"},     {"\u260E\uFE0F", "Telephone"},
    {"\U0001F3C1", "Flag"},       {"\U0001F682", "Train"},
    {"\U0001F6B2", "Bicycle"},    {"\u2708\uFE0F", "Aeroplane"},
    {"\U0001F680", "Rocket"},     {"\U0001F3C6", "Trophy"},
    {"\u26BD", "Ball"},           {"\U0001F3B8", "Guitar"},
    {"\U0001F3BA", "Trumpet"},    {"\U0001F514", "Bell"},
    {"\u2693", "Anchor"},         {"\U0001F3A7", "Headphones"},
    {"\U0001F4C1", "Folder"},     {"\U0001F4CC", "Pin"},
}};

// nullopt: absent or not an array of strings (malformed); else whether it holds `want`.
std::optional<bool> list_has(const json& content, std::string_view field,
                             std::string_view want) {
  const auto* arr = array_field(content, field);
  if (arr == nullptr)
    return std::nullopt;
  bool found = false;
  for (const auto& v : *arr) {
    if (!v.is_string())
      return std::nullopt;
    found = found || v.get_ref<const std::string&>() == want;
  }
  return found;
}

std::string commitment_of(std::string_view our_key, std::string_view canonical_start) {
  std::string input;
  input.reserve(our_key.size() + canonical_start.size());
  input.append(our_key).append(canonical_start);
  std::array<std::uint8_t, 32> digest{};
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest.data(), &len, EVP_sha256(), nullptr);
  return base64_encode_unpadded(digest.data(), digest.size());
}

bool same_mac(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The key ids of a MAC event, sorted and comma-joined (what its `keys` MAC covers).
std::string joined_key_ids(const std::map<std::string, std::string>& macs) {
  std::string out;
  for (const auto& [id, mac] : macs) {
    if (!out.empty())
      out += ',';
    out += id;
  }
  return out;
}

// Their cancel reason, made fit for a log line: no control characters, at most 200
// bytes, not cut inside a UTF-8 sequence.
std::string loggable(std::string_view text) {
  constexpr std::size_t max_bytes = 200;
  if (text.size() > max_bytes) {
    // text[end] is the first byte left out; cutting before a continuation byte would
    // split its sequence, so the cut moves back to the sequence's lead byte.
    std::size_t end = max_bytes;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
      --end;
    text = text.substr(0, end);
  }
  std::string out{text};
  std::replace_if(
      out.begin(), out.end(),
      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == '\x7f'; }, ' ');
  return out;
}

bool is_request(const verification_event& e, verification_transport t) {
  if (t == verification_transport::to_device)
    return e.type == ev_request;
  return e.type == "m.room.message" && e.content.is_object() &&
         string_field(e.content, "msgtype") == std::string{ev_request};
}

} // namespace

const std::array<sas_emoji, 64>& sas_emoji_table() { return emoji_table; }

std::string_view to_string(sas_state s) {
  switch (s) {
  case sas_state::created: return "created";
  case sas_state::ready_sent: return "ready_sent";
  case sas_state::accepted: return "accepted";
  case sas_state::keys_exchanged: return "keys_exchanged";
  case sas_state::confirmed: return "confirmed";
  case sas_state::their_mac_ok: return "their_mac_ok";
  case sas_state::done: return "done";
  case sas_state::cancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<std::string> verification_flow_id(const verification_event& e,
                                                verification_transport t) {
  if (!e.content.is_object())
    return std::nullopt;
  if (t == verification_transport::to_device)
    return string_field(e.content, "transaction_id");
  if (is_request(e, t))
    return e.event_id.empty() ? std::nullopt : std::optional<std::string>{e.event_id};
  const auto* rel = object_field(e.content, "m.relates_to");
  if (rel == nullptr || string_field(*rel, "rel_type") != std::string{"m.reference"})
    return std::nullopt;
  return string_field(*rel, "event_id");
}

namespace {

json with_flow(json content, verification_transport t, std::string_view flow_id) {
  if (t == verification_transport::to_device)
    content["transaction_id"] = std::string{flow_id};
  else
    content["m.relates_to"] = json{{"rel_type", "m.reference"}, {"event_id", std::string{flow_id}}};
  return content;
}

} // namespace

bool verification_request_timely(std::optional<std::int64_t> timestamp_ms,
                                 std::chrono::system_clock::time_point now) {
  if (!timestamp_ms)
    return false;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  constexpr std::int64_t past_ms = 10 * 60 * 1000;
  constexpr std::int64_t future_ms = 5 * 60 * 1000;
  // The arithmetic is on our clock only; their timestamp (any int64) is just compared.
  return *timestamp_ms >= now_ms - past_ms && *timestamp_ms <= now_ms + future_ms;
}

verification_send decline(verification_transport t, std::string_view flow_id,
                          std::string_view code, std::string_view reason) {
  return {std::string{ev_cancel},
          with_flow(json{{"code", std::string{code}}, {"reason", std::string{reason}}}, t,
                    flow_id)};
}

// ---- the machine ---------------------------------------------------------------------

sas_verification::sas_verification(sas_device self, sas_device peer,
                                   verification_transport transport, std::string flow_id)
    : holder_(olm_sas_size(), olm_sas, olm_clear_sas), self_(std::move(self)),
      peer_(std::move(peer)), transport_(transport), flow_id_(std::move(flow_id)) {}

result<empty_response> sas_verification::init(std::string_view random32) {
  secret_bytes random{olm_create_sas_random_length(holder_.get())};
  if (random32.empty()) {
    if (!fill_random(random.data(), random.size()))
      return hm::unexpected{crypto_error(errcode_no_randomness, "no randomness for a SAS key")};
  } else {
    if (random32.size() != random.size())
      return hm::unexpected{crypto_error(errcode_olm, "wrong amount of random bytes")};
    std::memcpy(random.data(), random32.data(), random.size());
  }
  if (olm_create_sas(holder_.get(), random.data(), random.size()) == olm_error())
    return hm::unexpected{crypto_error(errcode_olm, std::string{"creating the SAS key failed: "} +
                                         olm_sas_last_error(holder_.get()))};
  std::string key(olm_sas_pubkey_length(holder_.get()), '\0');
  if (olm_sas_get_pubkey(holder_.get(), key.data(), key.size()) == olm_error())
    return hm::unexpected{crypto_error(errcode_olm, std::string{"reading the SAS key failed: "} +
                                         olm_sas_last_error(holder_.get()))};
  our_key_ = std::move(key);
  return empty_response{};
}

result<sas_verification> sas_verification::create(sas_device self, sas_device peer,
                                                  verification_transport transport,
                                                  std::string flow_id,
                                                  std::chrono::steady_clock::time_point now) {
  sas_verification v{std::move(self), std::move(peer), transport, std::move(flow_id)};
  if (auto r = v.init({}); !r)
    return hm::unexpected{r.error()};
  v.started_ = now;
  return v;
}

result<sas_verification> sas_verification::create_from_random_for_tests(
    sas_device self, sas_device peer, verification_transport transport, std::string flow_id,
    std::string_view random32) {
  if (random32.empty())
    return hm::unexpected{crypto_error(errcode_olm, "no random bytes given")};
  sas_verification v{std::move(self), std::move(peer), transport, std::move(flow_id)};
  if (auto r = v.init(random32); !r)
    return hm::unexpected{r.error()};
  return v;
}

verification_send sas_verification::make(std::string_view type, json content) const {
  return {std::string{type}, with_flow(std::move(content), transport_, flow_id_)};
}

std::vector<verification_send> sas_verification::fail(std::string_view code,
                                                       std::string_view reason) {
  state_ = sas_state::cancelled;
  cancel_code_ = std::string{code};
  cancel_reason_ = std::string{reason};
  return {decline(transport_, flow_id_, code, reason)};
}

std::vector<verification_send> sas_verification::receive(const verification_event& e) {
  if (state_ == sas_state::done || state_ == sas_state::cancelled)
    return {};
  // Not ours: another user cannot cancel or steer this flow by reusing its id.
  if (e.sender != peer_.user_id || verification_flow_id(e, transport_) != flow_id_)
    return {};
  const auto& c = e.content;
  if (is_request(e, transport_)) {
    // An in-room request names whom it asks; one for someone else is not for us.
    if (transport_ == verification_transport::in_room &&
        string_field(c, "to") != self_.user_id)
      return {};
    return on_request(c);
  }
  if (e.type == ev_start)
    return on_start(c);
  if (e.type == ev_key)
    return on_key(c);
  if (e.type == ev_mac)
    return on_mac(c);
  if (e.type == ev_done)
    return on_done();
  if (e.type == ev_cancel) {
    state_ = sas_state::cancelled;
    cancelled_by_them_ = true;
    cancel_code_ = loggable(string_field(c, "code").value_or("m.unknown"));
    cancel_reason_ = loggable(string_field(c, "reason").value_or(""));
    return {};
  }
  // We never start or request, so an accept or a ready cannot be an answer to us.
  if (e.type == ev_accept || e.type == ev_ready || e.type == ev_request)
    return fail(cancel_unexpected_message, "Unexpected " + e.type);
  return {};
}

std::vector<verification_send> sas_verification::on_request(const json& c) {
  if (state_ != sas_state::created)
    return fail(cancel_unexpected_message, "Unexpected request");
  if (string_field(c, "from_device") != peer_.device_id)
    return fail(cancel_invalid_message, "The request comes from another device");
  auto sas = list_has(c, "methods", method_sas);
  if (!sas)
    return fail(cancel_invalid_message, "The request has no methods");
  if (!*sas)
    return fail(cancel_unknown_method, "Only m.sas.v1 is supported");
  requested_ = true;
  state_ = sas_state::ready_sent;
  return {make(ev_ready, json{{"from_device", self_.device_id},
                              {"methods", json::array({std::string{method_sas}})}})};
}

std::vector<verification_send> sas_verification::on_start(const json& c) {
  // To-device, a start may come without a request (nio does that); in a room the flow
  // is the request's id, so a start needs the request first.
  bool may_start = state_ == sas_state::ready_sent ||
                   (state_ == sas_state::created && transport_ == verification_transport::to_device);
  if (!may_start)
    return fail(cancel_unexpected_message, "Unexpected start");
  if (string_field(c, "from_device") != peer_.device_id)
    return fail(cancel_invalid_message, "The start comes from another device");
  auto method = string_field(c, "method");
  if (!method)
    return fail(cancel_invalid_message, "The start has no method");
  if (*method != method_sas)
    return fail(cancel_unknown_method, "Only m.sas.v1 is supported");
  auto ka = list_has(c, "key_agreement_protocols", key_agreement);
  auto hash = list_has(c, "hashes", hash_sha256);
  auto mac2 = list_has(c, "message_authentication_codes", mac_v2);
  auto mac1 = list_has(c, "message_authentication_codes", mac_v1);
  auto emoji = list_has(c, "short_authentication_string", "emoji");
  auto decimal = list_has(c, "short_authentication_string", "decimal");
  if (!ka || !hash || !mac2 || !emoji)
    return fail(cancel_invalid_message, "The start lacks a list of methods");
  if (!*ka || !*hash || (!*mac2 && !*mac1) || (!*emoji && !*decimal))
    return fail(cancel_unknown_method, "No method in common");
  auto canonical = canonical_json(c);
  if (!canonical)
    return fail(cancel_invalid_message, "The start is not canonical JSON");
  mac_method_ = std::string{*mac2 ? mac_v2 : mac_v1};
  emoji_offered_ = *emoji;
  commitment_ = commitment_of(our_key_, canonical.value());
  json sas_methods = json::array();
  if (*emoji)
    sas_methods.push_back("emoji");
  if (*decimal)
    sas_methods.push_back("decimal");
  state_ = sas_state::accepted;
  return {make(ev_accept, json{{"key_agreement_protocol", std::string{key_agreement}},
                               {"hash", std::string{hash_sha256}},
                               {"message_authentication_code", mac_method_},
                               {"short_authentication_string", std::move(sas_methods)},
                               {"commitment", commitment_}})};
}

std::vector<verification_send> sas_verification::on_key(const json& c) {
  if (state_ != sas_state::accepted)
    return fail(cancel_unexpected_message, "Unexpected key");
  auto key = string_field(c, "key");
  auto raw = key ? base64_decode(*key) : std::nullopt;
  if (!raw || raw->size() != 32)
    return fail(cancel_invalid_message, "The key is not a curve25519 key");
  std::string buffer = *key; // libolm decodes in place
  if (olm_sas_set_their_key(holder_.get(), buffer.data(), buffer.size()) == olm_error())
    return fail(cancel_invalid_message, "The key is not a curve25519 key");
  their_key_ = std::move(*key);
  state_ = sas_state::keys_exchanged;
  return {make(ev_key, json{{"key", our_key_}})};
}

std::optional<std::uint64_t> sas_verification::sas_bits(std::size_t n) const {
  if (their_key_.empty() || state_ == sas_state::cancelled)
    return std::nullopt;
  // curve25519-hkdf-sha256: the starter's (their) user|device|key, then ours, then the
  // flow; both public keys bind the SAS to this very exchange.
  std::string info = "MATRIX_KEY_VERIFICATION_SAS|" + peer_.user_id + "|" + peer_.device_id +
                     "|" + their_key_ + "|" + self_.user_id + "|" + self_.device_id + "|" +
                     our_key_ + "|" + flow_id_;
  std::array<std::uint8_t, 8> out{};
  if (n > out.size() ||
      olm_sas_generate_bytes(holder_.get(), info.data(), info.size(), out.data(), n) == olm_error())
    return std::nullopt;
  std::uint64_t bits = 0; // big-endian: the spec reads the bytes as one bit string
  for (std::size_t i = 0; i < n; ++i)
    bits = (bits << 8) | out[i];
  return bits;
}

std::optional<std::array<sas_emoji, 7>> sas_verification::emoji() const {
  if (!emoji_offered_)
    return std::nullopt;
  auto bits = sas_bits(6); // 48 bits; the first 42 are seven 6-bit emoji numbers
  if (!bits)
    return std::nullopt;
  std::array<sas_emoji, 7> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = emoji_table[(*bits >> (42 - 6 * i)) & 0x3f];
  return out;
}

std::optional<std::array<int, 3>> sas_verification::decimals() const {
  auto bits = sas_bits(5); // 40 bits; the first 39 are three 13-bit numbers
  if (!bits)
    return std::nullopt;
  std::array<int, 3> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<int>((*bits >> (27 - 13 * i)) & 0x1fff) + 1000;
  return out;
}

std::optional<std::string> sas_verification::mac(std::string_view input,
                                                 std::string_view info) const {
  std::string out(olm_sas_mac_length(holder_.get()), '\0');
  auto* fn = mac_method_ == mac_v2 ? olm_sas_calculate_mac_fixed_base64 : olm_sas_calculate_mac;
  if (fn(holder_.get(), input.data(), input.size(), info.data(), info.size(), out.data(),
         out.size()) == olm_error())
    return std::nullopt;
  return out;
}

std::vector<verification_send> sas_verification::on_mac(const json& c) {
  if (state_ != sas_state::keys_exchanged && state_ != sas_state::confirmed)
    return fail(cancel_unexpected_message, "Unexpected MAC");
  const auto* macs = object_field(c, "mac");
  auto keys_mac = string_field(c, "keys");
  if (macs == nullptr || macs->empty() || !keys_mac)
    return fail(cancel_invalid_message, "The MAC event lacks mac or keys");
  std::map<std::string, std::string> by_id;
  for (const auto& [id, v] : macs->items()) {
    if (!v.is_string())
      return fail(cancel_invalid_message, "A MAC is not a string");
    by_id.emplace(id, v.get<std::string>());
  }
  // Sender's user and device first, then the receiver's, then the flow (spec).
  std::string info = "MATRIX_KEY_VERIFICATION_MAC" + peer_.user_id + peer_.device_id +
                     self_.user_id + self_.device_id + flow_id_;
  auto expected_keys = mac(joined_key_ids(by_id), info + "KEY_IDS");
  if (!expected_keys || !same_mac(*expected_keys, *keys_mac))
    return fail(cancel_key_mismatch, "The key list MAC does not match");
  const std::string device_key_id = "ed25519:" + peer_.device_id;
  const std::string master_key_id = peer_.master_key ? "ed25519:" + *peer_.master_key : "";
  bool device_ok = false;
  bool master_ok = false;
  for (const auto& [id, their_mac] : by_id) {
    // Keys we were not told about (another of their devices, a master key we do not
    // know) are covered by the KEY_IDS MAC but verify nothing here.
    const std::string* key = nullptr;
    if (id == device_key_id)
      key = &peer_.ed25519;
    else if (!master_key_id.empty() && id == master_key_id)
      key = &*peer_.master_key;
    if (key == nullptr)
      continue;
    auto expected = mac(*key, info + id);
    if (!expected || !same_mac(*expected, their_mac))
      return fail(cancel_key_mismatch, "The MAC of " + id + " does not match");
    (id == device_key_id ? device_ok : master_ok) = true;
  }
  if (!device_ok)
    return fail(cancel_key_mismatch, "The device key was not MACed");
  master_verified_ = master_ok;
  if (state_ == sas_state::keys_exchanged) {
    state_ = sas_state::their_mac_ok; // the operator has yet to say whether the SAS match
    return {};
  }
  state_ = sas_state::done;
  if (requested_)
    return {make(ev_done, json::object())};
  return {};
}

std::vector<verification_send> sas_verification::on_done() {
  // Their done means they checked our MAC; before theirs checked out it is out of turn.
  return fail(cancel_unexpected_message, "Unexpected done");
}

std::vector<verification_send> sas_verification::our_mac() {
  std::string info = "MATRIX_KEY_VERIFICATION_MAC" + self_.user_id + self_.device_id +
                     peer_.user_id + peer_.device_id + flow_id_;
  std::map<std::string, std::string> keys{{"ed25519:" + self_.device_id, self_.ed25519}};
  if (self_.master_key)
    keys.emplace("ed25519:" + *self_.master_key, *self_.master_key);
  std::map<std::string, std::string> macs;
  for (const auto& [id, key] : keys) {
    auto m = mac(key, info + id);
    if (!m)
      return fail(cancel_user, "Could not compute the MAC");
    macs.emplace(id, std::move(*m));
  }
  auto keys_mac = mac(joined_key_ids(macs), info + "KEY_IDS");
  if (!keys_mac)
    return fail(cancel_user, "Could not compute the MAC");
  json mac_json = json::object();
  for (auto& [id, m] : macs)
    mac_json[id] = std::move(m);
  return {make(ev_mac, json{{"mac", std::move(mac_json)}, {"keys", std::move(*keys_mac)}})};
}

std::vector<verification_send> sas_verification::confirm() {
  if (state_ != sas_state::keys_exchanged && state_ != sas_state::their_mac_ok)
    return {};
  auto out = our_mac();
  if (state_ == sas_state::cancelled)
    return out;
  if (state_ == sas_state::keys_exchanged) {
    state_ = sas_state::confirmed;
    return out;
  }
  state_ = sas_state::done;
  if (requested_)
    out.push_back(make(ev_done, json::object()));
  return out;
}

std::vector<verification_send> sas_verification::reject() {
  if (state_ == sas_state::done || state_ == sas_state::cancelled)
    return {};
  if (their_key_.empty())
    return fail(cancel_user, "Cancelled by the operator");
  return fail(cancel_mismatched_sas, "The short authentication strings do not match");
}

std::vector<verification_send> sas_verification::cancel() {
  if (state_ == sas_state::done || state_ == sas_state::cancelled)
    return {};
  return fail(cancel_user, "Cancelled by the operator");
}

std::vector<verification_send>
sas_verification::check_timeout(std::chrono::steady_clock::time_point now) {
  if (state_ == sas_state::done || state_ == sas_state::cancelled || now - started_ < sas_timeout)
    return {};
  return fail(cancel_timeout, "The verification timed out");
}

std::optional<sas_device> sas_verification::verified_device() const {
  if (state_ != sas_state::done)
    return std::nullopt;
  sas_device d = peer_;
  if (!master_verified_)
    d.master_key.reset();
  return d;
}

} // namespace hm::matrix::crypto

#include "matrix/crypto/receive.hpp"

#include "matrix/crypto/backup_sessions.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/megolm.hpp"

#include <functional>

namespace hm::matrix::crypto {

namespace {

/// Loads the stored Olm sessions with `sender_key`; unreadable ones are skipped (a
/// session we cannot read cannot decrypt either; the sender will start a new one).
std::vector<olm_session> load_olm_sessions(crypto_store& store,
                                                   const pickle_key& key,
                                                   const std::string& sender_key) {
  std::vector<olm_session> sessions;
  for (auto& row : store.olm_sessions(sender_key))
    if (auto s = olm_session::from_pickle(row.pickle, key))
      sessions.push_back(std::move(s).value());
  return sessions;
}

/// Adds the inbound Megolm session a (forwarded) room key carries to `changes`, or
/// notes in `result` why it was dropped. `sender_user` owns the session's creator key;
/// "" when that is not known. Answers an error only when the session cannot be stored.
std::optional<std::string> keep_room_key(result<inbound_group_session> inbound,
                                         const pickle_key& key, const std::string& what,
                                         const std::string& sender_user,
                                         crypto_changes& changes, to_device_result& result) {
  if (!inbound) {
    result.dropped.push_back(what + ": " + inbound.error().errcode);
    return std::nullopt;
  }
  auto row = inbound_row(inbound.value(), key, sender_user);
  if (!row)
    return "cannot pickle a Megolm session: " + row.error().error;
  result.new_sessions.push_back(inbound->info().session_id);
  changes.inbound.push_back(std::move(row).value());
  return std::nullopt;
}

} // namespace

std::variant<to_device_result, std::string>
receive_to_device(crypto_store& store, const pickle_key& key, account& olm_account,
                  const own_device& self, const std::vector<basic_event>& events,
                  const std::function<bool(const std::string&)>& own_verified_device) {
  to_device_result result;
  for (auto& ev : events) {
    if (ev.type != "m.room.encrypted")
      continue;
    auto sender_key = olm_sender_key(ev.content());
    if (!sender_key) {
      result.dropped.push_back("an encrypted to-device event from " + ev.sender
                               + " that is not Olm");
      ++result.undecryptable;
      continue;
    }
    auto sessions = load_olm_sessions(store, key, *sender_key);
    auto olm = decrypt_olm(olm_account, sessions, self, ev.sender, ev.content());
    if (!olm) {
      result.dropped.push_back("an Olm message from " + ev.sender + ": " + olm.error().errcode);
      ++result.undecryptable;
      if (olm.error().errcode == errcode_undecryptable)
        result.broken_sessions.emplace_back(ev.sender, *sender_key);
      continue;
    }
    crypto_changes changes;
    auto& used = sessions.at(olm->session_index);
    auto session_pickle = used.pickle(key);
    if (!session_pickle)
      return "cannot pickle an Olm session: " + session_pickle.error().error;
    changes.olm_sessions.push_back({*sender_key, used.id(), std::move(session_pickle).value()});
    if (olm->new_session) {
      // The one-time key the session used is gone from the account: store that too,
      // or a restart would accept the same pre-key message again.
      auto account_pickle = olm_account.pickle(key);
      if (!account_pickle)
        return "cannot pickle the Olm account: " + account_pickle.error().error;
      auto row = store.crypto_account();
      if (!row)
        return std::string{"the Olm account is missing from the store"};
      row->pickle = std::move(account_pickle).value();
      changes.account = std::move(*row);
    }
    if (olm->type == "m.room_key") {
      if (auto err = keep_room_key(inbound_group_session::from_room_key(olm.value()), key,
                                   "a room key from " + ev.sender, ev.sender, changes, result))
        return *err;
    } else if (olm->type == "m.forwarded_room_key") {
      bool trusted = ev.sender == self.user_id && olm->sender_key != olm_account.identity().curve25519
                     && own_verified_device && own_verified_device(olm->sender_key);
      if (!trusted) {
        result.dropped.push_back("a forwarded room key from " + ev.sender
                                 + " (only our own known devices may forward keys)");
        if (auto err = store.commit_crypto(changes))
          return *err;
        continue;
      }
      // No sender user: Olm authenticated the forwarding device, not the creator; the
      // room event's sender is checked against the device list instead.
      if (auto err = keep_room_key(inbound_group_session::from_forwarded_room_key(olm.value()),
                                   key, "a forwarded room key from " + ev.sender, "", changes,
                                   result))
        return *err;
    } else if (olm->type.rfind("m.key.verification.", 0) == 0) {
      nlohmann::json raw{{"type", olm->type}, {"sender", ev.sender}, {"content", olm->content}};
      result.verification_events.push_back({raw, olm->type, ev.sender});
    } else {
      // Dummies and others only keep the Olm session alive, which is stored below.
      if (olm->type != "m.dummy")
        result.dropped.push_back("a to-device " + olm->type + " from " + ev.sender
                                 + " (not handled)");
    }
    if (auto err = store.commit_crypto(changes))
      return *err;
  }
  return result;
}

room_decryption decrypt_room_event(
    crypto_store& store, const pickle_key& key, const std::string& room_id,
    const room_event& ev,
    const std::function<std::optional<std::string>(const std::string&)>& device_owner) {
  room_decryption out;
  auto& content = ev.content();
  auto session_id = megolm_session_id(content);
  if (!session_id) {
    out.reason = "not a Megolm event";
    out.failure = "not_megolm";
    return out;
  }
  out.session_id = *session_id;
  if (content.contains("sender_key") && content["sender_key"].is_string())
    out.sender_key = content["sender_key"].get<std::string>();
  auto rows = store.inbound_group_sessions(room_id, *session_id);
  if (rows.empty()) {
    out.what = room_decryption::status::missing_key;
    out.reason = "no key for this session yet";
    out.failure = "missing_key";
    return out;
  }
  auto seen = [&](std::uint32_t index) -> std::optional<seen_message> {
    if (auto r = store.replayed(*session_id, index))
      return seen_message{r->event_id, r->origin_server_ts};
    return std::nullopt;
  };
  std::string last_error;
  std::string last_failure = "other";
  for (auto& row : rows) {
    // The sender must own the device that created the session: a key of another
    // user's device would let that user put words into this sender's mouth. The user
    // who sent us the key over Olm owns it (Olm authenticated them); the device list,
    // when it knows the key, must agree.
    if (!row.sender_user.empty() && row.sender_user != ev.sender) {
      last_error = "the session's key came from " + row.sender_user + ", not from " + ev.sender;
      last_failure = "wrong_sender";
      continue;
    }
    if (auto owner = device_owner(row.sender_key); owner && *owner != ev.sender) {
      last_error = "the session's device belongs to " + *owner + ", not to " + ev.sender;
      last_failure = "wrong_sender";
      continue;
    }
    inbound_group_session_info info{row.room_id, row.session_id, row.sender_key,
                                            row.sender_ed25519, {}};
    auto session = inbound_group_session::from_pickle(row.pickle, key, info);
    if (!session) {
      last_error = "unreadable session: " + session.error().errcode;
      last_failure = "unreadable_session";
      continue;
    }
    auto dec = decrypt_megolm(session.value(), room_id, ev.event_id, ev.origin_server_ts,
                                      content, seen);
    if (!dec) {
      if (dec.error().errcode == errcode_unknown_index) {
        out.what = room_decryption::status::missing_key;
        out.reason = "the key we have starts after this message";
        out.failure = "missing_key";
        return out;
      }
      last_error = dec.error().errcode;
      last_failure = last_error == errcode_replay          ? "replay"
                     : last_error == errcode_undecryptable ? "undecryptable"
                     : last_error == errcode_bad_payload   ? "bad_payload"
                                                                   : "other";
      continue;
    }
    out.what = room_decryption::status::decrypted;
    out.sender_key = row.sender_key;
    out.event = ev.raw;
    out.event["type"] = dec->type;
    out.event["content"] = std::move(dec->content);
    if (dec->first_decryption)
      out.replay = replay_row{*session_id, static_cast<int64_t>(dec->message_index), ev.event_id,
                              ev.origin_server_ts};
    return out;
  }
  out.what = room_decryption::status::refused;
  out.reason = last_error;
  out.failure = last_failure;
  return out;
}

} // namespace hm::matrix::crypto

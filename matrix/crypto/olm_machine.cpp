// The Olm machine's intake (sync changes, room events), its key requests and the send
// side. The outgoing requests and their answers are in olm_machine_requests.cpp.

#include "matrix/crypto/olm_machine.hpp"

#include "matrix/client_api.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/key_requests.hpp"
#include "matrix/crypto/keys_upload.hpp"
#include "matrix/txn_id.hpp"

namespace hm::matrix::crypto {

namespace {

constexpr const char* unwedged_meta_key = "crypto.unwedged_at";

matrix_error store_error(const std::string& text) {
  return crypto_error(errcode_store_failed, "cannot write the store: " + text);
}

} // namespace

olm_machine::olm_machine(crypto_store& store, const pickle_key& key, account olm_account,
                         own_device self)
    : store_(store), key_(key), account_(std::move(olm_account)), self_(std::move(self)) {
  if (auto devices = store_.tracked_devices())
    tracker_ = device_tracker{tracked_users_from_json(*devices)};
}

std::optional<std::string> olm_machine::device_owner(const std::string& curve25519) const {
  for (auto& [user, t] : tracker_.users())
    for (auto& [id, d] : t.devices)
      if (d.curve25519 == curve25519)
        return user;
  return std::nullopt;
}

bool olm_machine::own_verified_device(const std::string& curve25519) const {
  if (auto* devices = tracker_.devices(self_.user_id))
    for (auto& [id, d] : *devices)
      if (id != self_.device_id && d.curve25519 == curve25519)
        return true;
  return false;
}

result<void> olm_machine::save_tracker() {
  crypto_changes changes;
  changes.devices = tracked_users_json(tracker_.users());
  if (auto err = store_.commit_crypto(changes))
    return hm::unexpected{store_error(*err)};
  return {};
}

result<void> olm_machine::commit_account() {
  auto pickle = account_.pickle(key_);
  if (!pickle)
    return hm::unexpected{crypto_error(errcode_olm, "cannot pickle the Olm account: " + pickle.error().error)};
  crypto_changes changes;
  changes.account = crypto_account_row{self_.user_id, self_.device_id,
                                       account_.identity().curve25519,
                                       account_.identity().ed25519, std::move(pickle).value()};
  if (auto err = store_.commit_crypto(changes))
    return hm::unexpected{store_error(*err)};
  return {};
}

result<sync_decisions> olm_machine::receive_sync_changes(const sync_response& batch,
                                                         bool initial, std::int64_t now_ms) {
  sync_decisions d;
  rooms_.apply(batch, initial);
  bool lists_changed = false;
  if (!batch.device_lists.changed.empty() || !batch.device_lists.left.empty()) {
    tracker_.apply(batch.device_lists);
    lists_changed = true;
  }
  // Downtime is caught up by the incremental sync from the stored cursor: its
  // device_lists cover the whole gap. A fresh start (a lost cursor) reports no changes,
  // and the gap has no token /keys/changes could start from: every list we track may be
  // stale, so each is queried again before it is used.
  if (initial && !tracker_.users().empty()) {
    device_list_changes all;
    for (auto& [user, t] : tracker_.users())
      all.changed.push_back(user);
    tracker_.apply(all);
    lists_changed = true;
    d.notes.push_back({machine_note::level::info,
                       "a fresh sync: the device lists of " + std::to_string(all.changed.size())
                         + " user(s) will be queried again"});
  }
  if (lists_changed)
    if (auto saved = save_tracker(); !saved)
      return hm::unexpected{saved.error()};
  // Room keys first: the room events of this same batch may need them.
  for (auto& ev : batch.to_device)
    if (ev.type.rfind("m.key.verification.", 0) == 0)
      d.verification_events.push_back(ev);
  if (!batch.to_device.empty()) {
    auto got = receive_to_device(store_, key_, account_, self_, batch.to_device,
                                 [this](const std::string& curve) {
                                   return own_verified_device(curve);
                                 });
    if (auto* err = std::get_if<std::string>(&got))
      return hm::unexpected{store_error(*err)};
    auto& res = std::get<to_device_result>(got);
    for (auto& why : res.dropped)
      d.notes.push_back({machine_note::level::warn, "dropped " + why});
    d.undecryptable = res.undecryptable;
    for (auto& [user, curve] : res.broken_sessions)
      replace_broken_session(user, curve, now_ms, d.notes);
    for (auto& ev : res.verification_events)
      d.verification_events.push_back(std::move(ev));
    for (auto& id : res.new_sessions) {
      d.notes.push_back({machine_note::level::info, "received the key of Megolm session " + id});
      cancel_key_request(id);
      for (auto& parked : store_.parked(id))
        d.retry.push_back(parked.event_id);
    }
    d.new_sessions = std::move(res.new_sessions);
  }
  // Only a count the server states: a missing one may mean "zero" or "this server does
  // not report counts", and guessing zero would upload keys on every sync. A count
  // while an upload is under way is older than the one its answer brings.
  bool uploading = false;
  for (auto& [id, p] : in_flight_)
    uploading = uploading || p.what == outgoing_request::kind::keys_upload;
  auto i = batch.one_time_keys_count.find(std::string{signed_curve25519});
  if (i != batch.one_time_keys_count.end() && !uploading)
    server_one_time_keys_ = i->second;
  if (batch.unused_fallback_key_types)
    unused_fallback_key_types_ = batch.unused_fallback_key_types;
  return d;
}

result<event_decryption> olm_machine::decrypt_room_event(const std::string& room_id,
                                                         const room_event& ev) {
  event_decryption out;
  out.decryption = crypto::decrypt_room_event(store_, key_, room_id, ev,
                                              [this](const std::string& curve) {
                                                return device_owner(curve);
                                              });
  auto& dec = out.decryption;
  crypto_changes changes;
  switch (dec.what) {
    case room_decryption::status::decrypted:
      // The replay entry is committed now, before the profile acts: a resumed entry
      // decrypts again with the same event id and timestamp, which is no replay.
      if (dec.replay)
        changes.replay.push_back(*dec.replay);
      changes.unpark.push_back(ev.event_id);
      if (auto err = store_.commit_crypto(changes))
        return hm::unexpected{store_error(*err)};
      take_clear_relation(dec.event, ev);
      break;
    case room_decryption::status::missing_key:
      changes.park.push_back({ev.event_id, room_id, dec.session_id, dec.sender_key});
      if (auto err = store_.commit_crypto(changes))
        return hm::unexpected{store_error(*err)};
      out.notes.push_back({machine_note::level::info, "parked " + ev.event_id
                                                        + " until the key of Megolm session "
                                                        + dec.session_id + " arrives"});
      break;
    case room_decryption::status::refused:
      out.notes.push_back({machine_note::level::warn, "cannot decrypt " + ev.event_id
                                                        + " from " + ev.sender + ": "
                                                        + dec.reason});
      break;
  }
  return out;
}

void olm_machine::queue(outgoing_request::kind what, http_request request, pending p) {
  p.what = what;
  queued_.emplace_back(outgoing_request{0, what, std::move(request)}, std::move(p));
}

void olm_machine::request_room_key(const std::string& room_id, const room_event& ev,
                                   const room_decryption& dec) {
  if (dec.session_id.empty() || requested_.count(dec.session_id) > 0)
    return;
  auto request_id = derive_txn_id(dec.session_id, 0, "keyreq");
  auto content = room_key_request_content({room_id, dec.session_id, dec.sender_key},
                                          request_id, self_.device_id);
  std::optional<std::string> sender_device;
  if (auto d = ev.content().find("device_id"); d != ev.content().end() && d->is_string())
    sender_device = d->get<std::string>();
  requested_.emplace(dec.session_id, std::make_pair(ev.sender, sender_device));
  std::optional<std::string_view> device_view;
  if (sender_device)
    device_view = *sender_device;
  auto messages = room_key_request_messages(content, self_.user_id, ev.sender, device_view);
  pending p;
  p.session_id = dec.session_id;
  queue(outgoing_request::kind::key_request,
        send_to_device_request("m.room_key_request", request_id, messages), std::move(p));
}

/// Tells the devices we asked for `session_id`'s key that it is here (a cancellation),
/// so that none of them still forwards it or asks its user to.
void olm_machine::cancel_key_request(const std::string& session_id) {
  auto asked = requested_.find(session_id);
  if (asked == requested_.end())
    return;
  auto [sender, device] = asked->second;
  requested_.erase(asked);
  auto request_id = derive_txn_id(session_id, 0, "keyreq");
  auto content = room_key_request_cancellation(request_id, self_.device_id);
  std::optional<std::string_view> device_view;
  if (device)
    device_view = *device;
  auto messages = room_key_request_messages(content, self_.user_id, sender, device_view);
  auto txn = derive_txn_id(session_id, 0, "keycancel");
  pending p;
  p.session_id = session_id;
  queue(outgoing_request::kind::key_cancel,
        send_to_device_request("m.room_key_request", txn, messages), std::move(p));
}

std::vector<std::string>
olm_machine::room_keys_arrived(const std::vector<std::string>& session_ids) {
  std::vector<std::string> retry;
  for (auto& id : session_ids) {
    cancel_key_request(id);
    for (auto& parked : store_.parked(id))
      retry.push_back(parked.event_id);
  }
  return retry;
}

/// Replaces the broken Olm session with `curve25519`'s device (of `user_id`): a new
/// session from a claimed one-time key, announced with an encrypted m.dummy so that the
/// other side starts using it; at most once an hour per device.
void olm_machine::replace_broken_session(const std::string& user_id,
                                         const std::string& curve25519, std::int64_t now_ms,
                                         std::vector<machine_note>& notes) {
  if (!unwedging_)
    unwedging_.emplace(store_.get(unwedged_meta_key).value_or("{}"));
  auto decision = unwedging_->consider(tracker_, user_id, curve25519, now_ms);
  if (auto* later = std::get_if<unwedging::not_now>(&decision)) {
    if (later->unknown_device) {
      // Its user's device list is queried before the next key share.
      notes.push_back({machine_note::level::warn, "an Olm session with an unknown device of "
                                                    + user_id
                                                    + " is broken; not replacing it"});
      tracker_.track(user_id);
    } else {
      notes.push_back({machine_note::level::info,
                       "an Olm session with a device of " + user_id
                         + " broke again within the hour; not replacing it yet"});
    }
    return;
  }
  auto& replace = std::get<unwedging::replace>(decision);
  if (auto stored = store_.put(unwedged_meta_key, unwedging_->times_json()); !stored)
    notes.push_back({machine_note::level::warn,
                     "cannot store when Olm sessions were replaced: " + stored.error().message});
  notes.push_back({machine_note::level::info, "replacing the broken Olm session with "
                                                + user_id + " device "
                                                + replace.device.device_id});
  pending p;
  p.device = replace.device;
  queue(outgoing_request::kind::unwedge_claim, std::move(replace.claim), std::move(p));
}

room_send_context olm_machine::send_context() {
  return {store_, key_, account_, tracker_, self_};
}

room_send::step olm_machine::start_send(const std::string& room_id,
                                        const std::string& event_type,
                                        const nlohmann::json& content,
                                        std::vector<std::string> members, std::int64_t now_ms) {
  sending_.emplace(room_id, event_type, content, std::move(members), rooms_.policy(room_id));
  auto ctx = send_context();
  auto step = sending_->start(ctx, now_ms);
  for (auto& n : sending_->take_notes())
    send_notes_.push_back(std::move(n));
  if (!std::holds_alternative<room_send::perform>(step))
    sending_.reset();
  return step;
}

room_send::step olm_machine::send_answer(const result<http_response>& answer,
                                         std::int64_t now_ms) {
  if (!sending_)
    return room_send::failure{room_send::failure::kind::internal,
                              "an answer came when no send was under way", std::nullopt};
  auto ctx = send_context();
  auto step = sending_->answer(ctx, answer, now_ms);
  for (auto& n : sending_->take_notes())
    send_notes_.push_back(std::move(n));
  if (!std::holds_alternative<room_send::perform>(step))
    sending_.reset();
  return step;
}

std::vector<send_note> olm_machine::take_send_notes() {
  return std::exchange(send_notes_, {});
}

} // namespace hm::matrix::crypto

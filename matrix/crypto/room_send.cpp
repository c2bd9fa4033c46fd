#include "matrix/crypto/room_send.hpp"

#include "matrix/client_api.hpp"
#include "matrix/crypto/backup_sessions.hpp"
#include "matrix/txn_id.hpp"

#include <map>

namespace hm::matrix::crypto {

room_send::room_send(std::string room_id, std::string event_type, nlohmann::json content,
                     std::vector<std::string> members, rotation_policy policy)
  : room_id_(std::move(room_id)), event_type_(std::move(event_type)),
    content_(std::move(content)), members_(std::move(members)), policy_(policy) {
}

std::optional<room_send::failure> room_send::own_inbound_copy(room_send_context& ctx,
                                                             crypto_changes& changes) const {
  auto inbound = inbound_from_own_outbound(*session_, ctx.olm_account);
  if (!inbound)
    return failure{failure::kind::internal, "cannot keep a copy of the room key", std::nullopt};
  auto row = inbound_row(inbound.value(), ctx.key, ctx.self.user_id);
  if (!row)
    return failure{failure::kind::internal, "cannot pickle the room key", std::nullopt};
  changes.inbound.push_back(std::move(row).value());
  return std::nullopt;
}

std::vector<send_note> room_send::take_notes() {
  return std::exchange(notes_, {});
}

void room_send::note(bool warning, std::string text) {
  notes_.push_back({warning, std::move(text)});
}

std::optional<room_send::failure> room_send::commit(room_send_context& ctx,
                                                    const crypto_changes& changes) {
  if (auto err = ctx.store.commit_crypto(changes))
    return failure{failure::kind::store, "cannot write the store: " + *err, std::nullopt};
  return std::nullopt;
}

outbound_group_row room_send::session_row(const pickle_key& key, const shared_set& shared,
                                          std::optional<failure>& error) const {
  auto pickle = session_->pickle(key);
  if (!pickle) {
    error = failure{failure::kind::internal, "cannot pickle the Megolm session", std::nullopt};
    return {};
  }
  return {room_id_, session_->id(), std::move(pickle).value(), session_->created_at_ms(),
          session_->message_index(), shared_set_json(shared)};
}

room_send::step room_send::start(room_send_context& ctx, std::int64_t now_ms) {
  // The room's session (stored, or none yet: plan() creates one, stored once shared).
  if (auto row = ctx.store.outbound_group_session(room_id_)) {
    auto loaded = outbound_group_session::from_pickle(row->pickle, ctx.key, room_id_,
                                                      row->created_at);
    if (loaded) {
      session_.emplace(std::move(loaded).value());
      shared_ = shared_set_from_json(row->shared_with);
    } else {
      note(true, "the stored Megolm session of " + room_id_ + " is unreadable ("
                   + loaded.error().errcode + "); starting a new one");
    }
  }
  return plan(ctx, now_ms);
}

/// Brings outdated device lists up to date, replaces the session when it must be,
/// then delivers its key to whoever lacks it.
room_send::step room_send::plan(room_send_context& ctx, std::int64_t now_ms) {
  for (auto& m : members_)
    ctx.tracker.track(m);
  auto plan = plan_room_key_share(ctx.tracker, members_, ctx.self, shared_);
  if (!plan.query_first.empty()) {
    std::optional<http_request> req;
    if (query_rounds_ < max_query_rounds)
      req = ctx.tracker.next_query(queried_);
    if (!req)
      return failure{failure::kind::stale_devices,
                     "the device lists of " + room_id_ + " cannot be brought up to date",
                     std::nullopt};
    phase_ = phase::querying;
    return perform{std::move(*req)};
  }
  if (!session_ || plan.rotate || needs_rotation(*session_, policy_, now_ms)) {
    if (session_)
      note(false, "replacing the Megolm session of " + room_id_ + " ("
                    + (plan.rotate ? "a member or device left" : "its rotation period is over")
                    + ")");
    auto fresh = outbound_group_session::create(room_id_, now_ms);
    if (!fresh)
      return failure{failure::kind::internal, "cannot create a Megolm session", std::nullopt};
    session_.emplace(std::move(fresh).value());
    fresh_session_ = true;
    created_session_ = true;
    shared_.clear();
    plan = plan_room_key_share(ctx.tracker, members_, ctx.self, shared_);
  }
  targets_ = std::move(plan.targets);
  return deliver(ctx, false);
}

/// Sends the room key to the targets over Olm: through the stored Olm sessions, or
/// (`claimed` false) after claiming one-time keys for the devices without one.
room_send::step room_send::deliver(room_send_context& ctx, bool claimed) {
  // Olm sessions by curve25519 key: the first readable stored one for each target.
  std::map<std::string, olm_session> olm;
  missing_.clear();
  for (auto& t : targets_) {
    bool found = false;
    for (auto& row : ctx.store.olm_sessions(t.curve25519))
      if (auto s = olm_session::from_pickle(row.pickle, ctx.key)) {
        olm.emplace(t.curve25519, std::move(s).value());
        found = true;
        break;
      }
    if (!found)
      missing_.push_back(t);
  }
  if (!missing_.empty() && !claimed) {
    phase_ = phase::claiming;
    return perform{keys_claim_request(missing_)};
  }
  auto room_key = session_->room_key_content();
  if (!room_key)
    return failure{failure::kind::internal, "cannot export the room key", std::nullopt};
  auto delivery = room_key_messages(
    ctx.olm_account, ctx.self, targets_, room_key.value(),
    [&olm](const device_identity& d) -> olm_session* {
      auto i = olm.find(d.curve25519);
      return i != olm.end() ? &i->second : nullptr;
    });
  if (!delivery)
    return failure{failure::kind::internal, "cannot encrypt the room key", std::nullopt};
  for (auto& d : delivery->skipped)
    note(true, d.user_id + " device " + d.device_id
                 + " gets no room key: no Olm session (no one-time key left)");
  // The Olm sessions advanced, and the outbound session is stored, before the
  // to-device messages leave. Who has the key is recorded once they are out (a send
  // that fails is retried with the same devices; a key received twice does no harm).
  crypto_changes changes;
  for (auto& [curve, session] : olm)
    if (auto pickle = session.pickle(ctx.key))
      changes.olm_sessions.push_back({curve, session.id(), std::move(pickle).value()});
  std::optional<failure> error;
  changes.outbound.push_back(session_row(ctx.key, shared_, error));
  if (error)
    return *error;
  if (fresh_session_)
    if (auto failed = own_inbound_copy(ctx, changes))
      return *failed;
  if (auto failed = commit(ctx, changes))
    return *failed;
  fresh_session_ = false;
  if (delivery->delivered.empty())
    return encrypt(ctx);
  shared_after_ = shared_;
  for (auto& d : delivery->delivered)
    shared_after_.insert(shared_device_of(d));
  sharing_with_ = delivery->delivered.size();
  // The txn id names this delivery: the session at this index to these devices. A retry
  // of the same delivery is recognised by the server; any other delivery (a device that
  // joined later, also after a restart) gets a txn id of its own, or the server would
  // take it for a retry and drop it. Session ids are base64 ('/' and '+'): the derived
  // id is URL-safe.
  auto source = session_->id() + "|" + std::to_string(session_->message_index());
  for (auto& d : delivery->delivered)
    source += "|" + d.user_id + "/" + d.device_id + "/" + d.curve25519;
  note(false, "sharing the key of Megolm session " + session_->id() + " of " + room_id_
                + " with " + std::to_string(sharing_with_) + " device(s)");
  phase_ = phase::sharing;
  return perform{send_to_device_request("m.room.encrypted", derive_txn_id(source, 0, "keys"),
                                        delivery->messages)};
}

/// New Olm sessions from the claimed one-time keys (a device the server had no key
/// for is skipped by deliver()), stored before they are used.
room_send::step room_send::claimed(room_send_context& ctx, const http_response& r) {
  auto keys = parse_keys_claim(r);
  if (!keys)
    return failure{failure::kind::homeserver, "cannot claim one-time keys", keys.error()};
  crypto_changes changes;
  for (auto& d : missing_) {
    auto u = keys->find(d.user_id);
    if (u == keys->end())
      continue;
    auto dv = u->second.find(d.device_id);
    if (dv == u->second.end())
      continue;
    auto session = create_outbound_session(ctx.olm_account, d, dv->second);
    if (!session) {
      note(true, "no Olm session with " + d.user_id + " device " + d.device_id + ": "
                   + session.error().errcode);
      continue;
    }
    if (auto pickle = session->pickle(ctx.key))
      changes.olm_sessions.push_back({d.curve25519, session->id(), std::move(pickle).value()});
  }
  if (auto failed = commit(ctx, changes))
    return *failed;
  return deliver(ctx, true);
}

/// Encrypts the event with the shared session and commits the session's new index
/// before the ciphertext leaves (a reused index would be refused as a replay).
room_send::step room_send::encrypt(room_send_context& ctx) {
  phase_ = phase::idle;
  auto enc = session_->encrypt(event_type_, content_, ctx.olm_account, ctx.self.device_id);
  if (!enc)
    return failure{failure::kind::internal, "cannot encrypt: " + enc.error().errcode,
                   std::nullopt};
  std::optional<failure> error;
  crypto_changes changes;
  changes.outbound.push_back(session_row(ctx.key, shared_, error));
  if (error)
    return *error;
  if (auto failed = commit(ctx, changes))
    return *failed;
  return encrypted{std::move(enc).value(), keys_sent_, created_session_};
}

room_send::step room_send::answer(room_send_context& ctx, const result<http_response>& answer,
                                  std::int64_t now_ms) {
  auto refused = [&answer](std::string what) {
    return failure{failure::kind::homeserver, std::move(what), answer.error()};
  };
  switch (phase_) {
    case phase::querying: {
      if (!answer) {
        ctx.tracker.query_failed(queried_);
        return refused("cannot query device keys");
      }
      auto outcome = ctx.tracker.apply_query_response(answer.value(), queried_);
      if (!outcome)
        return failure{failure::kind::homeserver, "cannot query device keys", outcome.error()};
      for (auto& r : outcome->rejected)
        note(true, "ignoring " + r.user_id + " device " + r.device_id + ": " + r.reason);
      crypto_changes changes;
      changes.devices = tracked_users_json(ctx.tracker.users());
      if (auto failed = commit(ctx, changes))
        return *failed;
      ++query_rounds_;
      return plan(ctx, now_ms);
    }
    case phase::claiming:
      if (!answer)
        return refused("cannot claim one-time keys");
      return claimed(ctx, answer.value());
    case phase::sharing:
      if (!answer)
        return refused("cannot send room keys");
      keys_sent_ += sharing_with_;
      shared_ = std::move(shared_after_);
      return encrypt(ctx);
    case phase::idle:
      break;
  }
  return failure{failure::kind::internal, "an answer came when no request was asked for",
                 std::nullopt};
}

} // namespace hm::matrix::crypto

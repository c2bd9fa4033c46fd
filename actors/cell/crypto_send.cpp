// Sending into encrypted rooms: the room's outbound Megolm session, shared over Olm
// with every device of every joined member before anything is encrypted with it.

#include "actors/cell/crypto_state.hpp"
#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/room_key_sharing.hpp"
#include "matrix/txn_id.hpp"
#include "messages/errors.hpp"

#include <spdlog/logger.h>

namespace hm::crypto_detail {

namespace {

// -- sending: the room's outbound Megolm session ------------------------------------


void finish_job(crypto_pointer self, caf::error err) {
  auto& st = self->state;
  st.jobs.front().promise.deliver(std::move(err));
  st.jobs.pop_front();
  next_job(self);
}

void finish_job(crypto_pointer self, event_to_send event) {
  auto& st = self->state;
  st.jobs.front().promise.deliver(std::move(event));
  st.jobs.pop_front();
  next_job(self);
}

/// A failed request of a job: a rejected token stops the profile, anything else fails
/// this send (the outbox retries it with backoff).
void job_failed(crypto_pointer self, const std::string& what, const matrix::matrix_error& err) {
  if (matrix::classify(err) == matrix::error_action::stop_profile) {
    auto e = make_error(errc::unauthorized, "the homeserver rejected the access token ("
                                              + err.errcode + ")");
    self->quit(e);
    return;
  }
  finish_job(self, make_error(errc::transient, what + ": " + matrix::to_string(err)));
}

std::string shared_json(const crypto::shared_set& set) {
  auto arr = nlohmann::json::array();
  for (auto& [user, device, curve] : set)
    arr.push_back({user, device, curve});
  return arr.dump();
}

crypto::shared_set shared_from_json(const std::string& text) {
  crypto::shared_set set;
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_array())
    for (auto& e : json)
      if (e.is_array() && e.size() == 3 && e[0].is_string() && e[1].is_string()
          && e[2].is_string())
        set.emplace(e[0].get<std::string>(), e[1].get<std::string>(), e[2].get<std::string>());
  return set;
}

/// The outbound session of the job's room with the devices it went to: loaded, or new
/// (not yet stored: it is stored once shared, before anything is encrypted with it).
struct room_session {
  std::optional<crypto::outbound_group_session> session;
  crypto::shared_set shared;
};

void share_and_encrypt(crypto_pointer self, std::shared_ptr<room_session> rs,
                       std::vector<std::string> members, int rounds);

/// Encrypts the job's event with the (shared) session, commits the session's new index
/// before the ciphertext leaves (a reused index would be refused as a replay).
void encrypt_now(crypto_pointer self, const std::shared_ptr<room_session>& rs) {
  auto& st = self->state;
  auto& job = st.jobs.front();
  auto enc = rs->session->encrypt(job.event_type, job.content, *st.account,
                                  st.config.device_id);
  if (!enc) {
    finish_job(self, make_error(errc::internal, "cannot encrypt: " + enc.error().errcode));
    return;
  }
  auto pickle = rs->session->pickle(*st.key);
  if (!pickle) {
    finish_job(self, make_error(errc::internal, "cannot pickle the Megolm session"));
    return;
  }
  crypto_changes changes;
  changes.outbound.push_back({job.room_id, rs->session->id(), std::move(pickle).value(),
                              rs->session->created_at_ms(), rs->session->message_index(),
                              shared_json(rs->shared)});
  if (auto err = st.store->commit_crypto(changes)) {
    auto e = make_error(errc::store_failed, "cannot write the store: " + *err);
    self->quit(e);
    return;
  }
  publish_store_counts(self);
  finish_job(self, event_to_send{"m.room.encrypted", std::move(enc).value()});
}

/// Sends the room key to `targets` over Olm (sessions from the store, or created from
/// claimed one-time keys first), then encrypts.
void deliver_keys(crypto_pointer self, std::shared_ptr<room_session> rs,
                  std::vector<crypto::device_identity> targets, std::vector<std::string> members,
                  int rounds, bool claimed) {
  auto& st = self->state;
  // Olm sessions by curve25519 key: the first stored one for each target.
  auto olm = std::make_shared<std::map<std::string, crypto::olm_session>>();
  std::vector<crypto::device_identity> missing;
  for (auto& t : targets) {
    bool found = false;
    for (auto& row : st.store->olm_sessions(t.curve25519))
      if (auto s = crypto::olm_session::from_pickle(row.pickle, *st.key)) {
        olm->emplace(t.curve25519, std::move(s).value());
        found = true;
        break;
      }
    if (!found)
      missing.push_back(t);
  }
  if (!missing.empty() && !claimed) {
    auto req = crypto::keys_claim_request(missing);
    self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
      .then([self, rs, targets, members, rounds, missing](const http_result& res) {
        auto& s = self->state;
        if (!succeeded(res)) {
          job_failed(self, "cannot claim one-time keys", to_matrix_error(res));
          return;
        }
        auto keys = crypto::parse_keys_claim(to_matrix_response(res));
        if (!keys) {
          job_failed(self, "cannot claim one-time keys", keys.error());
          return;
        }
        crypto_changes changes;
        for (auto& d : missing) {
          auto u = keys->find(d.user_id);
          if (u == keys->end())
            continue;
          auto dv = u->second.find(d.device_id);
          if (dv == u->second.end())
            continue;
          auto session = crypto::create_outbound_session(*s.account, d, dv->second);
          if (!session) {
            s.log->warn("no Olm session with {} device {}: {}", d.user_id, d.device_id,
                        session.error().errcode);
            continue;
          }
          auto pickle = session->pickle(*s.key);
          if (pickle)
            changes.olm_sessions.push_back({d.curve25519, session->id(), std::move(pickle).value()});
        }
        if (auto err = s.store->commit_crypto(changes)) {
          self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
          return;
        }
        deliver_keys(self, rs, targets, members, rounds, true);
      });
    return;
  }
  auto room_key = rs->session->room_key_content();
  if (!room_key) {
    finish_job(self, make_error(errc::internal, "cannot export the room key"));
    return;
  }
  auto delivery = crypto::room_key_messages(
    *st.account, {st.config.user_id, st.config.device_id}, targets, room_key.value(),
    [olm](const crypto::device_identity& d) -> crypto::olm_session* {
      auto i = olm->find(d.curve25519);
      return i != olm->end() ? &i->second : nullptr;
    });
  if (!delivery) {
    finish_job(self, make_error(errc::internal, "cannot encrypt the room key"));
    return;
  }
  for (auto& d : delivery->skipped)
    st.log->warn("{} device {} gets no room key: no Olm session (no one-time key left)",
                 d.user_id, d.device_id);
  // The Olm sessions advanced, and the outbound session is stored with who will have
  // it, before the to-device messages leave.
  crypto_changes changes;
  for (auto& [curve, session] : *olm)
    if (auto pickle = session.pickle(*st.key))
      changes.olm_sessions.push_back({curve, session.id(), std::move(pickle).value()});
  // Who has the key is recorded once the to-device messages are out (a send that fails
  // is retried with the same devices; a key received twice does no harm).
  auto shared_after = rs->shared;
  for (auto& d : delivery->delivered)
    shared_after.insert(crypto::shared_device_of(d));
  auto pickle = rs->session->pickle(*st.key);
  if (!pickle) {
    finish_job(self, make_error(errc::internal, "cannot pickle the Megolm session"));
    return;
  }
  auto& job = st.jobs.front();
  changes.outbound.push_back({job.room_id, rs->session->id(), std::move(pickle).value(),
                              rs->session->created_at_ms(), rs->session->message_index(),
                              shared_json(rs->shared)});
  if (auto err = st.store->commit_crypto(changes)) {
    self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
    return;
  }
  if (delivery->delivered.empty()) {
    encrypt_now(self, rs);
    return;
  }
  // The txn id names this delivery: the session at this index to these devices. A retry
  // of the same delivery is recognised by the server; any other delivery (a device that
  // joined later, also after a restart) gets a txn id of its own, or the server would
  // take it for a retry and drop it. Session ids are base64 ('/' and '+'): the derived
  // id is URL-safe.
  auto source = rs->session->id() + "|" + std::to_string(rs->session->message_index());
  for (auto& d : delivery->delivered)
    source += "|" + d.user_id + "/" + d.device_id + "/" + d.curve25519;
  auto txn = matrix::derive_txn_id(source, 0, "keys");
  auto req = matrix::send_to_device_request("m.room.encrypted", txn, delivery->messages);
  st.log->info("sharing the key of Megolm session {} of {} with {} device(s)",
               rs->session->id(), job.room_id, delivery->delivered.size());
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, rs, shared_after, devices = delivery->delivered.size()](const http_result& res) {
      if (!succeeded(res)) {
        job_failed(self, "cannot send room keys", to_matrix_error(res));
        return;
      }
      self->state.metrics->room_keys_sent(devices);
      rs->shared = shared_after;
      encrypt_now(self, rs);
    });
}

/// Makes sure every device of every joined member has the room key, querying device
/// lists first where they are outdated, then encrypts.
void share_and_encrypt(crypto_pointer self, std::shared_ptr<room_session> rs,
                       std::vector<std::string> members, int rounds) {
  auto& st = self->state;
  auto& job = st.jobs.front();
  for (auto& m : members)
    st.tracker.track(m);
  auto plan = crypto::plan_room_key_share(st.tracker, members,
                                          {st.config.user_id, st.config.device_id}, rs->shared);
  if (!plan.query_first.empty()) {
    std::vector<std::string> queried;
    auto req = st.tracker.next_query(queried);
    if (!req || rounds > 3) {
      finish_job(self, make_error(errc::transient, "the device lists of " + job.room_id
                                                     + " cannot be brought up to date"));
      return;
    }
    self->request(st.link.engine, caf::infinite, to_http_call(st.link, *req, st.next_call++))
      .then([self, rs, members, rounds, queried](const http_result& res) {
        auto& s = self->state;
        if (!succeeded(res)) {
          s.tracker.query_failed(queried);
          job_failed(self, "cannot query device keys", to_matrix_error(res));
          return;
        }
        auto outcome = s.tracker.apply_query_response(to_matrix_response(res), queried);
        if (!outcome) {
          job_failed(self, "cannot query device keys", outcome.error());
          return;
        }
        for (auto& r : outcome->rejected)
          s.log->warn("ignoring {} device {}: {}", r.user_id, r.device_id, r.reason);
        if (!save_tracker(self))
          return;
        share_and_encrypt(self, rs, members, rounds + 1);
      });
    return;
  }
  auto now = unix_now_ms();
  crypto::rotation_policy policy;
  if (auto i = st.rotation.find(job.room_id); i != st.rotation.end())
    policy = i->second;
  if (!rs->session || plan.rotate || crypto::needs_rotation(*rs->session, policy, now)) {
    if (rs->session)
      st.log->info("replacing the Megolm session of {} ({})", job.room_id,
                   plan.rotate ? "a member or device left" : "its rotation period is over");
    auto fresh = crypto::outbound_group_session::create(job.room_id, now);
    if (!fresh) {
      finish_job(self, make_error(errc::internal, "cannot create a Megolm session"));
      return;
    }
    rs->session.emplace(std::move(fresh).value());
    rs->shared.clear();
    plan = crypto::plan_room_key_share(st.tracker, members,
                                       {st.config.user_id, st.config.device_id}, rs->shared);
  }
  deliver_keys(self, rs, plan.targets, members, rounds, false);
}

/// Whether the room is encrypted: m.room.encryption in its state (asked once, then
/// remembered; encryption cannot be turned off in a room).
void with_room_encryption(crypto_pointer self) {
  auto& st = self->state;
  auto& job = st.jobs.front();
  auto go = [self](bool encrypted) {
    auto& s = self->state;
    auto& j = s.jobs.front();
    if (!encrypted) {
      if (s.config.required) {
        s.log->warn("not sending into {}: it is not encrypted and MATRIX_E2EE_MODE=required",
                    j.room_id);
        finish_job(self, make_error(errc::bad_config,
                                    "the room " + j.room_id + " is not encrypted"));
        return;
      }
      finish_job(self, event_to_send{j.event_type, j.content});
      return;
    }
    // Shares the room's session (stored, or a new one) with the members' devices.
    auto share_with = [self](std::vector<std::string> members) {
      auto& s2 = self->state;
      auto rs = std::make_shared<room_session>();
      auto& j2 = s2.jobs.front();
      if (auto row = s2.store->outbound_group_session(j2.room_id)) {
        auto loaded = crypto::outbound_group_session::from_pickle(row->pickle, *s2.key,
                                                                  j2.room_id, row->created_at);
        if (loaded) {
          rs->session.emplace(std::move(loaded).value());
          rs->shared = shared_from_json(row->shared_with);
        }
      }
      share_and_encrypt(self, rs, std::move(members), 0);
    };
    if (auto known = s.room_members.find(j.room_id); known != s.room_members.end()) {
      share_with(known->second);
      return;
    }
    auto req = matrix::joined_members_request(j.room_id);
    self->request(s.link.engine, caf::infinite, to_http_call(s.link, req, s.next_call++))
      .then([self, share_with](const http_result& res) {
        auto& s2 = self->state;
        if (!succeeded(res)) {
          job_failed(self, "cannot list the room's members", to_matrix_error(res));
          return;
        }
        auto joined = matrix::parse_joined_members(to_matrix_response(res));
        if (!joined) {
          job_failed(self, "cannot list the room's members", joined.error());
          return;
        }
        std::vector<std::string> members;
        for (auto& m : joined.value())
          members.push_back(m.user_id);
        s2.room_members[s2.jobs.front().room_id] = members;
        share_with(std::move(members));
      });
  };
  if (auto i = st.encrypted_rooms.find(job.room_id); i != st.encrypted_rooms.end()) {
    go(i->second);
    return;
  }
  auto req = matrix::state_event_request(job.room_id, "m.room.encryption");
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, go](const http_result& res) {
      auto& s = self->state;
      auto& j = s.jobs.front();
      if (succeeded(res)) {
        auto content = matrix::parse_bounded_json(to_matrix_response(res).body);
        note_room_encryption(s, j.room_id, content ? *content : nlohmann::json::object());
        go(true);
        return;
      }
      auto err = to_matrix_error(res);
      if (err.errcode == "M_NOT_FOUND") {
        s.encrypted_rooms[j.room_id] = false;
        go(false);
        return;
      }
      job_failed(self, "cannot read the room's encryption state", err);
    });
}

} // namespace

void next_job(crypto_pointer self) {
  auto& st = self->state;
  if (st.jobs.empty())
    return;
  with_room_encryption(self);
}

} // namespace hm::crypto_detail

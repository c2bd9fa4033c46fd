#include "actors/crypto.hpp"

#include "actors/crypto_account.hpp"
#include "actors/crypto_receive.hpp"
#include "actors/pickle_key_file.hpp"
#include "actors/profile_store.hpp"
#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/megolm.hpp"
#include "matrix/crypto/room_key_sharing.hpp"
#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/keys_upload.hpp"
#include "messages/errors.hpp"

#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <deque>
#include <map>
#include <optional>

namespace hm {

namespace {

namespace crypto = matrix::crypto;
using namespace std::chrono_literals;

/// How long to wait before asking the server again after a failed key request.
constexpr auto retry_after = 5s;

/// One encryption the outbox asked for; they run one at a time, in order, so that the
/// device tracker and a room's outbound session never see two of them interleaved.
struct encrypt_job {
  std::string room_id;
  std::string event_type;
  std::string content;
  caf::typed_response_promise<std::string, std::string> promise;
};

struct crypto_state {
  homeserver_link link;
  std::shared_ptr<profile_store> store;
  std::shared_ptr<spdlog::logger> log;
  crypto_config config;
  std::optional<crypto::pickle_key> key;
  std::optional<crypto::account> account;
  /// /keys/query has told us what the server holds for this device.
  bool identity_checked = false;
  /// The server holds this device's keys (they are ours: checked, or uploaded by us).
  bool device_keys_on_server = false;
  bool upload_in_flight = false;
  bool retry_scheduled = false;
  /// signed_curve25519 one-time keys the server holds, as last told (sync or upload).
  std::optional<int64_t> server_one_time_keys;
  std::optional<std::vector<std::string>> unused_fallback_key_types;
  uint64_t next_call = 1;
  /// Users we share encrypted rooms with and their verified devices (in memory: after a
  /// restart every list is outdated and queried again before it is used).
  crypto::device_tracker tracker;
  /// Room → encrypted, as learnt from the room state and from sync.
  std::map<std::string, bool> encrypted_rooms;
  std::deque<encrypt_job> jobs;
  static inline const char* name = "crypto";
};

using crypto_pointer = crypto_actor::stateful_pointer<crypto_state>;

int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// Pickles the account and commits it: after every change of the account, before the
/// change can be seen outside (keys sent to the server are keys we still hold).
bool commit_account(crypto_pointer self) {
  auto& st = self->state;
  auto pickle = st.account->pickle(*st.key);
  if (!pickle) {
    self->quit(make_error(errc::internal, "cannot pickle the Olm account: " + pickle.error().error));
    return false;
  }
  crypto_changes changes;
  changes.account =
    crypto_account_row{st.config.user_id, st.config.device_id, st.account->identity().curve25519,
                       st.account->identity().ed25519, std::move(pickle).value()};
  if (auto err = st.store->commit_crypto(changes)) {
    self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
    return false;
  }
  return true;
}

/// Schedules atom::flush once (a failed upload is retried after a while).
void retry_upload_later(crypto_pointer self) {
  auto& st = self->state;
  if (st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, retry_after, atom::flush_v);
}

/// Uploads device keys, one-time keys and a fallback key when the policy says so.
/// One upload at a time: the counts it answers with are the freshest there are.
void maybe_upload(crypto_pointer self) {
  auto& st = self->state;
  if (!st.identity_checked || st.upload_in_flight)
    return;
  crypto::keys_upload_state ks;
  ks.upload_device_keys = !st.device_keys_on_server;
  // A device the server does not know yet holds no one-time keys on the server.
  ks.server_one_time_keys = st.device_keys_on_server ? st.server_one_time_keys
                                                     : std::optional<int64_t>{0};
  ks.unused_fallback_key_types = st.unused_fallback_key_types;
  auto prepared = crypto::prepare_keys_upload(*st.account, st.config.user_id,
                                              st.config.device_id, ks);
  if (!prepared) {
    self->quit(make_error(errc::internal,
                          "cannot prepare the key upload: " + prepared.error().error));
    return;
  }
  if (!prepared.value())
    return;
  // The new keys are stored before they are sent (keys_upload.hpp: "Order").
  if (!commit_account(self))
    return;
  st.upload_in_flight = true;
  auto call = to_http_call(st.link, *prepared.value(), st.next_call++);
  self->request(st.link.engine, caf::infinite, std::move(call))
    .then([self](const http_result& res) {
      auto& s = self->state;
      s.upload_in_flight = false;
      if (!succeeded(res)) {
        auto err = to_matrix_error(res);
        if (matrix::classify(err) == matrix::error_action::stop_profile) {
          self->quit(make_error(errc::unauthorized,
                                "the homeserver rejected the access token while uploading "
                                "keys ("
                                  + err.errcode + ")"));
          return;
        }
        s.log->warn("cannot upload this device's keys ({}); retrying",
                    matrix::to_string(err));
        retry_upload_later(self);
        return;
      }
      auto counts = crypto::parse_keys_upload(to_matrix_response(res));
      auto published = s.account->mark_keys_as_published();
      if (!commit_account(self))
        return;
      if (!s.device_keys_on_server)
        s.log->info("uploaded this device's keys ({} one-time keys)", published);
      else if (published > 0)
        s.log->debug("uploaded {} one-time keys", published);
      s.device_keys_on_server = true;
      if (counts) {
        auto i = counts->find(std::string{crypto::signed_curve25519});
        s.server_one_time_keys = i != counts->end() ? i->second : 0;
      }
      // The fallback key just uploaded is unused; until the next sync says otherwise.
      if (s.unused_fallback_key_types)
        s.unused_fallback_key_types = std::vector<std::string>{
          std::string{crypto::signed_curve25519}};
      maybe_upload(self);
    });
}

/// Asks the server which keys it holds for this device. Keys other than ours mean the
/// device id now belongs to another account (or our store is not this device's):
/// continuing would encrypt as someone we are not, so the profile stops.
void check_identity(crypto_pointer self) {
  auto& st = self->state;
  auto tracker = std::make_shared<crypto::device_tracker>();
  tracker->track(st.config.user_id);
  std::vector<std::string> queried;
  auto req = tracker->next_query(queried);
  if (!req) {
    self->quit(make_error(errc::internal, "cannot build the key query for this device"));
    return;
  }
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, *req, st.next_call++))
    .then([self, tracker, queried](const http_result& res) {
      auto& s = self->state;
      auto retry = [&](const std::string& why) {
        s.log->warn("cannot check this device's keys on the server ({}); retrying", why);
        self->delayed_send(self, retry_after, atom::start_v);
      };
      if (!succeeded(res)) {
        auto err = to_matrix_error(res);
        if (matrix::classify(err) == matrix::error_action::stop_profile) {
          self->quit(make_error(errc::unauthorized,
                                "the homeserver rejected the access token (" + err.errcode
                                  + ")"));
          return;
        }
        retry(matrix::to_string(err));
        return;
      }
      auto outcome = tracker->apply_query_response(to_matrix_response(res), queried);
      if (!outcome) {
        retry(matrix::to_string(outcome.error()));
        return;
      }
      auto mismatch = [&](const std::string& detail) {
        auto text = "the homeserver holds other keys for device " + s.config.device_id + " of "
                    + s.config.user_id + " than this profile's crypto store (" + detail
                    + "); log in as a new device, or restore the store that belongs to it";
        s.log->error("{}", text);
        self->quit(make_error(errc::device_mismatch, std::move(text)));
      };
      for (auto& r : outcome->rejected)
        if (r.user_id == s.config.user_id && r.device_id == s.config.device_id) {
          mismatch(r.reason);
          return;
        }
      bool found = false;
      if (auto* devices = tracker->devices(s.config.user_id))
        if (auto i = devices->find(s.config.device_id); i != devices->end()) {
          auto& own = s.account->identity();
          if (i->second.curve25519 != own.curve25519 || i->second.ed25519 != own.ed25519) {
            mismatch("identity keys differ");
            return;
          }
          found = true;
        }
      s.identity_checked = true;
      s.device_keys_on_server = found;
      s.log->info("device {} identity {} (ed25519 {})", s.config.device_id,
                  found ? "confirmed on the server" : "not on the server yet",
                  s.account->identity().ed25519);
      maybe_upload(self);
    });
}

// -- sending: the room's outbound Megolm session ------------------------------------

void next_job(crypto_pointer self);

void finish_job(crypto_pointer self, caf::error err) {
  auto& st = self->state;
  st.jobs.front().promise.deliver(std::move(err));
  st.jobs.pop_front();
  next_job(self);
}

void finish_job(crypto_pointer self, std::string type, std::string content) {
  auto& st = self->state;
  st.jobs.front().promise.deliver(std::move(type), std::move(content));
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
  auto content = matrix::parse_bounded_json(job.content);
  auto enc = rs->session->encrypt(job.event_type,
                                  content ? std::move(*content) : nlohmann::json::object(),
                                  *st.account, st.config.device_id);
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
  finish_job(self, "m.room.encrypted",
             enc.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
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
  for (auto& d : delivery->delivered)
    rs->shared.insert(crypto::shared_device_of(d));
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
  auto txn = "hm.keys." + rs->session->id().substr(0, 16) + "." + std::to_string(st.next_call);
  auto req = matrix::send_to_device_request("m.room.encrypted", txn, delivery->messages);
  st.log->info("sharing the key of Megolm session {} of {} with {} device(s)",
               rs->session->id(), job.room_id, delivery->delivered.size());
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, rs](const http_result& res) {
      if (!succeeded(res)) {
        job_failed(self, "cannot send room keys", to_matrix_error(res));
        return;
      }
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
        share_and_encrypt(self, rs, members, rounds + 1);
      });
    return;
  }
  auto now = unix_now_ms();
  if (!rs->session || plan.rotate
      || crypto::needs_rotation(*rs->session, crypto::rotation_policy{}, now)) {
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
      finish_job(self, j.event_type, j.content);
      return;
    }
    auto req = matrix::joined_members_request(j.room_id);
    self->request(s.link.engine, caf::infinite, to_http_call(s.link, req, s.next_call++))
      .then([self](const http_result& res) {
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
        s.encrypted_rooms[j.room_id] = true;
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

void next_job(crypto_pointer self) {
  auto& st = self->state;
  if (st.jobs.empty())
    return;
  with_room_encryption(self);
}

crypto_actor::behavior_type crypto_behavior(crypto_pointer self, homeserver_link link,
                                            std::shared_ptr<profile_store> store,
                                            crypto_config config,
                                            std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.link = std::move(link);
  st.store = std::move(store);
  st.log = std::move(log);
  st.config = std::move(config);
  auto key = load_pickle_key(st.config.pickle_key, st.store->path());
  if (auto* err = std::get_if<std::string>(&key)) {
    st.log->error("cannot load the pickle key: {}", *err);
    self->quit(make_error(errc::bad_config, *err));
    return crypto_actor::behavior_type::make_empty_behavior();
  }
  st.key.emplace(std::move(std::get<crypto::pickle_key>(key)));
  auto acc = load_or_create_account(*st.store, *st.key, st.config.user_id, st.config.device_id);
  if (auto* err = std::get_if<caf::error>(&acc)) {
    st.log->error("cannot load this device's Olm account: {}", error_text(*err));
    self->quit(std::move(*err));
    return crypto_actor::behavior_type::make_empty_behavior();
  }
  st.account.emplace(std::move(std::get<crypto::account>(acc)));
  check_identity(self);
  return {
    [self](const sync_batch& batch) -> caf::result<atom::ok> {
      auto& s = self->state;
      auto& resp = *batch.response;
      for (auto& [room_id, joined] : resp.join) {
        for (auto& ev : joined.state)
          if (ev.type == "m.room.encryption" && ev.state_key)
            s.encrypted_rooms[room_id] = true;
        for (auto& ev : joined.timeline.events)
          if (ev.type == "m.room.encryption" && ev.state_key)
            s.encrypted_rooms[room_id] = true;
      }
      s.tracker.apply(resp.device_lists);
      // Room keys first: the room events of this same batch may need them.
      if (!resp.to_device.empty()) {
        auto got = receive_to_device(*s.store, *s.key, *s.account,
                                     {s.config.user_id, s.config.device_id}, resp.to_device);
        if (auto* err = std::get_if<std::string>(&got)) {
          auto e = make_error(errc::store_failed, "cannot write the store: " + *err);
          self->quit(e);
          return e;
        }
        auto& res = std::get<to_device_result>(got);
        for (auto& why : res.dropped)
          s.log->warn("dropped {}", why);
        for (auto& id : res.new_sessions) {
          s.log->info("received the key of Megolm session {}", id);
          for (auto& parked : s.store->parked(id))
            self->send(s.config.cell, atom::retry_v, parked.event_id);
        }
      }
      // Only a count the server states: a missing one may mean "zero" or "this server
      // does not report counts", and guessing zero would upload keys on every sync.
      auto i = resp.one_time_keys_count.find(std::string{crypto::signed_curve25519});
      if (i != resp.one_time_keys_count.end() && !s.upload_in_flight)
        s.server_one_time_keys = i->second;
      if (resp.unused_fallback_key_types)
        s.unused_fallback_key_types = resp.unused_fallback_key_types;
      maybe_upload(self);
      return atom::ok_v;
    },
    [self](atom::decrypt, const std::string& room_id,
           const std::string& payload) -> caf::result<std::string, std::string> {
      auto& s = self->state;
      auto raw = matrix::parse_bounded_json(payload);
      std::optional<matrix::room_event> ev;
      if (raw)
        ev = matrix::to_room_event(std::move(*raw));
      if (!ev)
        return {std::string{"refused"}, std::string{"not a room event"}};
      auto dec = decrypt_room_event(*s.store, *s.key, room_id, *ev,
                                    [](const std::string&) { return std::optional<std::string>{}; });
      crypto_changes changes;
      switch (dec.what) {
        case room_decryption::status::decrypted: {
          // The replay entry is committed now, before the profile acts: a resumed entry
          // decrypts again with the same event id and timestamp, which is no replay.
          if (dec.replay)
            changes.replay.push_back(*dec.replay);
          changes.unpark.push_back(ev->event_id);
          if (auto err = s.store->commit_crypto(changes)) {
            auto e = make_error(errc::store_failed, "cannot write the store: " + *err);
            self->quit(e);
            return e;
          }
          return {std::string{"decrypted"},
                  dec.event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
        }
        case room_decryption::status::missing_key: {
          changes.park.push_back({ev->event_id, room_id, dec.session_id, dec.sender_key});
          if (auto err = s.store->commit_crypto(changes)) {
            auto e = make_error(errc::store_failed, "cannot write the store: " + *err);
            self->quit(e);
            return e;
          }
          s.log->info("parked {} until the key of Megolm session {} arrives", ev->event_id,
                      dec.session_id);
          return {std::string{"missing"}, dec.reason};
        }
        case room_decryption::status::refused:
          break;
      }
      s.log->warn("cannot decrypt {} from {}: {}", ev->event_id, ev->sender, dec.reason);
      return {std::string{"refused"}, dec.reason};
    },
    [self](atom::encrypt, std::string& room_id, std::string& type,
           std::string& content) -> caf::result<std::string, std::string> {
      auto& s = self->state;
      auto promise = self->make_response_promise<std::string, std::string>();
      s.jobs.push_back({std::move(room_id), std::move(type), std::move(content), promise});
      if (s.jobs.size() == 1)
        next_job(self);
      return promise;
    },
    [self](atom::start) { check_identity(self); },
    [self](atom::flush) {
      self->state.retry_scheduled = false;
      maybe_upload(self);
    },
  };
}

} // namespace

crypto_actor spawn_crypto(caf::local_actor* cell_self, homeserver_link link,
                          std::shared_ptr<profile_store> store, crypto_config config,
                          std::shared_ptr<spdlog::logger> log) {
  return cell_self->spawn<caf::linked>(crypto_behavior, std::move(link), std::move(store),
                                       std::move(config), std::move(log));
}

} // namespace hm

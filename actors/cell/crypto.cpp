#include "actors/cell/crypto.hpp"

#include "actors/cell/crypto_account.hpp"
#include "actors/cell/crypto_state.hpp"
#include "matrix/crypto/receive.hpp"
#include "store/pickle_key_file.hpp"
#include "store/profile_store.hpp"
#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/device_tracker.hpp"
#include "matrix/crypto/key_requests.hpp"
#include "matrix/crypto/keys_upload.hpp"
#include "matrix/crypto/own_device_check.hpp"
#include "matrix/txn_id.hpp"
#include "messages/errors.hpp"

#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <optional>

namespace hm {

namespace crypto_detail {

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
    crypto_account_row{st.user_id, st.config.device_id, st.account->identity().curve25519,
                       st.account->identity().ed25519, std::move(pickle).value()};
  if (auto err = st.store->commit_crypto(changes)) {
    self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
    return false;
  }
  return true;
}

void publish_store_counts(crypto_pointer self) {
  auto& st = self->state;
  st.metrics->set_parked_events(st.store->parked_count());
  st.metrics->set_megolm_sessions(st.store->inbound_group_session_count(),
                                  st.store->outbound_group_session_count());
}

void set_server_one_time_keys(crypto_pointer self, int64_t count) {
  self->state.server_one_time_keys = count;
  self->state.metrics->set_one_time_keys(count);
}

bool save_tracker(crypto_pointer self) {
  auto& st = self->state;
  crypto_changes changes;
  changes.devices = crypto::tracked_users_json(st.tracker.users());
  if (auto err = st.store->commit_crypto(changes)) {
    self->quit(make_error(errc::store_failed, "cannot write the store: " + *err));
    return false;
  }
  return true;
}

} // namespace crypto_detail

namespace {

using namespace crypto_detail;

/// Whose device `curve25519` is, as far as the device lists know (nullopt: unknown).
std::optional<std::string> device_owner(const crypto_state& st, const std::string& curve25519) {
  for (auto& [user, t] : st.tracker.users())
    for (auto& [id, d] : t.devices)
      if (d.curve25519 == curve25519)
        return user;
  return std::nullopt;
}

/// Whether `curve25519` is another device of our own user whose keys we checked.
bool own_verified_device(const crypto_state& st, const std::string& curve25519) {
  if (auto* devices = st.tracker.devices(st.user_id))
    for (auto& [id, d] : *devices)
      if (id != st.config.device_id && d.curve25519 == curve25519)
        return true;
  return false;
}

} // namespace

namespace crypto_detail {

/// Asks our other devices and the sending device for a missing Megolm session (once per
/// session in this life; best effort: the event stays parked either way, and the
/// request id is stable, so a restart does not multiply requests).
void request_room_key(crypto_pointer self, const std::string& room_id,
                      const matrix::room_event& ev, const crypto::room_decryption& dec) {
  auto& st = self->state;
  if (dec.session_id.empty() || st.requested_sessions.count(dec.session_id) > 0)
    return;
  auto request_id = matrix::derive_txn_id(dec.session_id, 0, "keyreq");
  auto content = crypto::room_key_request_content({room_id, dec.session_id, dec.sender_key},
                                                  request_id, st.config.device_id);
  std::optional<std::string> sender_device;
  if (auto d = ev.content().find("device_id"); d != ev.content().end() && d->is_string())
    sender_device = d->get<std::string>();
  st.requested_sessions.emplace(dec.session_id, std::make_pair(ev.sender, sender_device));
  std::optional<std::string_view> device_view;
  if (sender_device)
    device_view = *sender_device;
  auto messages = crypto::room_key_request_messages(content, st.user_id, ev.sender,
                                                    device_view);
  auto req = matrix::send_to_device_request("m.room_key_request", request_id, messages);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, session = dec.session_id](const http_result& res) {
      if (!succeeded(res))
        self->state.log->warn("cannot ask for the key of Megolm session {} ({})", session,
                              matrix::to_string(to_matrix_error(res)));
    });
}

/// Tells the devices we asked for `session_id`'s key that it is here (a cancellation),
/// so that none of them still forwards it or asks its user to.
void cancel_key_request(crypto_pointer self, const std::string& session_id) {
  auto& st = self->state;
  auto asked = st.requested_sessions.find(session_id);
  if (asked == st.requested_sessions.end())
    return;
  auto [sender, device] = asked->second;
  st.requested_sessions.erase(asked);
  auto request_id = matrix::derive_txn_id(session_id, 0, "keyreq");
  auto content = crypto::room_key_request_cancellation(request_id, st.config.device_id);
  std::optional<std::string_view> device_view;
  if (device)
    device_view = *device;
  auto messages = crypto::room_key_request_messages(content, st.user_id, sender,
                                                    device_view);
  auto txn = matrix::derive_txn_id(session_id, 0, "keycancel");
  auto req = matrix::send_to_device_request("m.room_key_request", txn, messages);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, session_id](const http_result& res) {
      if (!succeeded(res))
        self->state.log->debug("cannot cancel the key request of Megolm session {} ({})",
                               session_id, matrix::to_string(to_matrix_error(res)));
    });
}

} // namespace crypto_detail

namespace {

/// The server holds this device's keys: senders who query them now can encrypt for
/// us. The cell is told once, and only then syncs and joins rooms; a message sent to a
/// device whose keys were not yet on the server could never be decrypted.
void note_keys_on_server(crypto_pointer self) {
  auto& st = self->state;
  if (st.device_keys_on_server)
    return;
  st.device_keys_on_server = true;
  self->send(st.cell, atom::published_v);
}

/// Schedules atom::flush once (a failed upload is retried after a while).
void retry_upload_later(crypto_pointer self) {
  auto& st = self->state;
  if (st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, retry_after, atom::internal_v, atom::flush_v);
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
  auto prepared = crypto::prepare_keys_upload(*st.account, st.user_id,
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
      note_keys_on_server(self);
      cross_sign_device(self);
      if (counts) {
        auto i = counts->find(std::string{crypto::signed_curve25519});
        set_server_one_time_keys(self, i != counts->end() ? i->second : 0);
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
  auto req = crypto::own_device_query({st.user_id, st.config.device_id});
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self](const http_result& res) {
      auto& s = self->state;
      auto retry = [&](const std::string& why) {
        s.log->warn("cannot check this device's keys on the server ({}); retrying", why);
        self->delayed_send(self, retry_after, atom::internal_v, atom::start_v);
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
      auto on_server = crypto::check_own_device(to_matrix_response(res),
                                                {s.user_id, s.config.device_id},
                                                s.account->identity());
      if (!on_server) {
        retry(matrix::to_string(on_server.error()));
        return;
      }
      using state = crypto::own_device_on_server::state;
      if (on_server->what == state::other) {
        auto text = "the homeserver holds other keys for device " + s.config.device_id + " of "
                    + s.user_id + " than this profile's crypto store (" + on_server->mismatch
                    + "); log in as a new device, or restore the store that belongs to it";
        s.log->error("{}", text);
        self->quit(make_error(errc::device_mismatch, std::move(text)));
        return;
      }
      bool found = on_server->what == state::ours;
      s.identity_checked = true;
      s.log->info("device {} identity {} (ed25519 {})", s.config.device_id,
                  found ? "confirmed on the server" : "not on the server yet",
                  s.account->identity().ed25519);
      if (found) {
        note_keys_on_server(self);
        cross_sign_device(self);
      }
      maybe_upload(self);
    });
}

crypto_actor::behavior_type crypto_behavior(crypto_pointer self, cell_context ctx,
                                            crypto_config config) {
  auto& st = self->state;
  static_cast<cell_context&>(st) = std::move(ctx);
  st.config = std::move(config);
  auto key = load_pickle_key(st.config.pickle_key, st.store->path());
  if (!key) {
    st.log->error("cannot load the pickle key: {}", key.error().message);
    self->quit(make_error(errc::bad_config, key.error().message));
    return crypto_actor::behavior_type::make_empty_behavior();
  }
  st.key.emplace(std::move(*key));
  st.backup.restore_all = !st.store->crypto_account();
  auto acc = load_or_create_account(*st.store, *st.key, st.user_id, st.config.device_id);
  if (auto* err = std::get_if<caf::error>(&acc)) {
    st.log->error("cannot load this device's Olm account: {}", error_text(*err));
    self->quit(std::move(*err));
    return crypto_actor::behavior_type::make_empty_behavior();
  }
  st.account.emplace(std::move(std::get<crypto::account>(acc)));
  if (auto devices = st.store->tracked_devices())
    st.tracker = crypto::device_tracker{crypto::tracked_users_from_json(*devices)};
  publish_store_counts(self);
  check_identity(self);
  open_key_backup(self);
  return {
    [self](const sync_batch& batch) -> caf::result<atom::ok> {
      auto& s = self->state;
      auto& resp = *batch.response;
      s.rooms.apply(resp, batch.initial);
      if (!resp.device_lists.changed.empty() || !resp.device_lists.left.empty()) {
        s.tracker.apply(resp.device_lists);
        if (!save_tracker(self))
          return make_error(errc::store_failed, "cannot write the store");
      }
      // Downtime is caught up by the incremental sync from the stored cursor: its
      // device_lists cover the whole gap. A fresh start (a lost cursor) reports no
      // changes, and the gap has no token /keys/changes could start from: every list
      // we track may be stale, so each is queried again before it is used.
      if (batch.initial && !s.tracker.users().empty()) {
        matrix::device_list_changes all;
        for (auto& [user, t] : s.tracker.users())
          all.changed.push_back(user);
        s.tracker.apply(all);
        if (!save_tracker(self))
          return make_error(errc::store_failed, "cannot write the store");
        s.log->info("a fresh sync: the device lists of {} user(s) will be queried again",
                    all.changed.size());
      }
      // Room keys first: the room events of this same batch may need them.
      for (auto& ev : resp.to_device)
        if (ev.type.rfind("m.key.verification.", 0) == 0)
          take_to_device_verification(self, ev);
      if (!resp.to_device.empty()) {
        auto got = crypto::receive_to_device(*s.store, *s.key, *s.account,
                                     {s.user_id, s.config.device_id}, resp.to_device,
                                     [&s](const std::string& curve) {
                                       return own_verified_device(s, curve);
                                     });
        if (auto* err = std::get_if<std::string>(&got)) {
          auto e = make_error(errc::store_failed, "cannot write the store: " + *err);
          self->quit(e);
          return e;
        }
        auto& res = std::get<crypto::to_device_result>(got);
        for (auto& why : res.dropped)
          s.log->warn("dropped {}", why);
        for (size_t n = 0; n < res.undecryptable; ++n)
          s.metrics->decryption_failed("olm");
        if (!res.new_sessions.empty()) {
          s.metrics->room_keys_received(res.new_sessions.size());
          publish_store_counts(self);
          back_up_room_keys(self);
        }
        for (auto& [user, curve] : res.broken_sessions)
          replace_broken_session(self, user, curve);
        for (auto& ev : res.verification_events)
          take_to_device_verification(self, ev);
        for (auto& id : res.new_sessions) {
          s.log->info("received the key of Megolm session {}", id);
          cancel_key_request(self, id);
          for (auto& parked : s.store->parked(id))
            self->send(s.cell, atom::retry_v, parked.event_id);
        }
      }
      // Only a count the server states: a missing one may mean "zero" or "this server
      // does not report counts", and guessing zero would upload keys on every sync.
      auto i = resp.one_time_keys_count.find(std::string{crypto::signed_curve25519});
      if (i != resp.one_time_keys_count.end() && !s.upload_in_flight)
        set_server_one_time_keys(self, i->second);
      if (resp.unused_fallback_key_types)
        s.unused_fallback_key_types = resp.unused_fallback_key_types;
      maybe_upload(self);
      return atom::ok_v;
    },
    [self](decrypt_request& req) -> caf::result<decryption> {
      auto& s = self->state;
      const auto& room_id = req.room_id;
      const auto& ev = req.event;
      auto dec = crypto::decrypt_room_event(*s.store, *s.key, room_id, ev,
                                    [&s](const std::string& curve) {
                                      return device_owner(s, curve);
                                    });
      crypto_changes changes;
      switch (dec.what) {
        case crypto::room_decryption::status::decrypted: {
          // The replay entry is committed now, before the profile acts: a resumed entry
          // decrypts again with the same event id and timestamp, which is no replay.
          if (dec.replay)
            changes.replay.push_back(*dec.replay);
          changes.unpark.push_back(ev.event_id);
          if (auto err = s.store->commit_crypto(changes)) {
            auto e = make_error(errc::store_failed, "cannot write the store: " + *err);
            self->quit(e);
            return e;
          }
          publish_store_counts(self);
          matrix::take_clear_relation(dec.event, ev);
          return decryption{decryption::status::decrypted,
                            matrix::to_room_event(std::move(dec.event)), {}};
        }
        case crypto::room_decryption::status::missing_key: {
          changes.park.push_back({ev.event_id, room_id, dec.session_id, dec.sender_key});
          if (auto err = s.store->commit_crypto(changes)) {
            auto e = make_error(errc::store_failed, "cannot write the store: " + *err);
            self->quit(e);
            return e;
          }
          s.log->info("parked {} until the key of Megolm session {} arrives", ev.event_id,
                      dec.session_id);
          s.metrics->decryption_failed(dec.failure);
          publish_store_counts(self);
          find_room_key(self, room_id, ev, dec);
          return decryption{decryption::status::missing_key, std::nullopt, dec.reason};
        }
        case crypto::room_decryption::status::refused:
          break;
      }
      s.log->warn("cannot decrypt {} from {}: {}", ev.event_id, ev.sender, dec.reason);
      s.metrics->decryption_failed(dec.failure);
      return decryption{decryption::status::refused, std::nullopt, dec.reason};
    },
    [self](encrypt_request& req) -> caf::result<event_to_send> {
      auto& s = self->state;
      auto promise = self->make_response_promise<event_to_send>();
      s.jobs.push_back(
        {std::move(req.room_id), std::move(req.event_type), std::move(req.content), promise});
      if (s.jobs.size() == 1)
        next_job(self);
      return promise;
    },
    [self](atom::encrypted, std::string& room_id) -> caf::result<bool> {
      auto promise = self->make_response_promise<bool>();
      room_encryption(
        self, room_id, [promise](bool encrypted) mutable { promise.deliver(encrypted); },
        [promise, self, room_id](const matrix::matrix_error& err) mutable {
          self->state.log->warn("cannot read whether {} is encrypted: {}", room_id,
                                matrix::to_string(err));
          promise.deliver(make_error(errc::transient, "cannot read the room's encryption state: "
                                                        + matrix::to_string(err)));
        });
      return promise;
    },
    [self](atom::internal, atom::start) { check_identity(self); },
    [self](atom::internal, atom::flush) {
      self->state.retry_scheduled = false;
      maybe_upload(self);
      back_up_room_keys(self);
    },
    [self](const room_verification& rv) { take_room_verification(self, rv); },
    [self](atom::verify, const verification_action& a) { return act_on_verification(self, a); },
    [self](atom::internal, atom::verify) { check_verification_timeouts(self); },
  };
}

} // namespace

crypto_actor spawn_crypto(caf::local_actor* cell_self, const cell_context& ctx,
                          crypto_config config) {
  return cell_self->spawn<caf::linked>(crypto_behavior, ctx, std::move(config));
}

} // namespace hm

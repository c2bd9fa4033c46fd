#include "actors/cell/crypto.hpp"

#include "actors/cell/crypto_account.hpp"
#include "actors/cell/crypto_state.hpp"
#include "store/pickle_key_file.hpp"
#include "store/profile_store.hpp"
#include "matrix/client_api.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/olm_machine.hpp"
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

void publish_store_counts(crypto_pointer self) {
  auto& st = self->state;
  st.metrics->set_parked_events(st.store->parked_count());
  st.metrics->set_megolm_sessions(st.store->inbound_group_session_count(),
                                  st.store->outbound_group_session_count());
}

void quit_on(crypto_pointer self, const matrix::matrix_error& err) {
  if (err.errcode == crypto::errcode_store_failed)
    self->quit(make_error(errc::store_failed, err.error));
  else
    self->quit(make_error(errc::internal, err.error));
}

void log_notes(crypto_pointer self, const std::vector<crypto::machine_note>& notes) {
  auto& log = *self->state.log;
  using level = crypto::machine_note::level;
  for (auto& n : notes)
    switch (n.what) {
      case level::debug:
        log.debug("{}", n.text);
        break;
      case level::info:
        log.info("{}", n.text);
        break;
      case level::warn:
        log.warn("{}", n.text);
        break;
      case level::error:
        log.error("{}", n.text);
        break;
    }
}

} // namespace crypto_detail

namespace {

using namespace crypto_detail;
using request_kind = crypto::outgoing_request::kind;

/// Schedules atom::flush once: the machine offers its failed requests again then.
void retry_later(crypto_pointer self) {
  auto& st = self->state;
  if (st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, retry_after, atom::internal_v, atom::flush_v);
}

/// Publishes the one-time key count the server last stated.
void publish_one_time_keys(crypto_pointer self) {
  auto& st = self->state;
  if (auto count = st.machine->server_one_time_keys())
    st.metrics->set_one_time_keys(*count);
}

/// A rejected access token while checking or uploading this device's keys stops the
/// profile; other failures of those are retried.
bool stops_profile(crypto_pointer self, request_kind what, const matrix::matrix_error& err) {
  if (matrix::classify(err) != matrix::error_action::stop_profile)
    return false;
  if (what == request_kind::own_device_check) {
    self->quit(make_error(errc::unauthorized,
                          "the homeserver rejected the access token (" + err.errcode + ")"));
    return true;
  }
  if (what == request_kind::keys_upload) {
    self->quit(make_error(errc::unauthorized,
                          "the homeserver rejected the access token while uploading keys ("
                            + err.errcode + ")"));
    return true;
  }
  return false;
}

/// Acts on what the machine decided from an answer.
void take_answer(crypto_pointer self, const crypto::answer_decisions& d) {
  auto& st = self->state;
  log_notes(self, d.notes);
  if (d.device_mismatch) {
    self->quit(make_error(errc::device_mismatch, *d.device_mismatch));
    return;
  }
  if (d.keys_published) {
    // The cell is told once, and only then syncs and joins rooms: a message sent to a
    // device whose keys were not yet on the server could never be decrypted.
    self->send(st.cell, atom::published_v);
    cross_sign_device(self);
  }
  publish_one_time_keys(self);
  if (d.retry_later)
    retry_later(self);
  if (d.keys_query_ended)
    resume_share(self);
}

} // namespace

namespace crypto_detail {

void perform_outgoing(crypto_pointer self) {
  auto& st = self->state;
  auto requests = st.machine->outgoing_requests(unix_now_ms());
  if (!requests) {
    quit_on(self, requests.error());
    return;
  }
  for (auto& r : requests.value()) {
    self->request(st.link.engine, caf::infinite, to_http_call(st.link, r.request, st.next_call++))
      .then([self, id = r.id, what = r.what](const http_result& res) {
        auto& s = self->state;
        if (!succeeded(res)) {
          auto err = to_matrix_error(res);
          if (stops_profile(self, what, err))
            return;
          take_answer(self, s.machine->mark_request_as_failed(id, err));
        } else {
          auto d = s.machine->mark_request_as_sent(id, to_matrix_response(res));
          if (!d) {
            quit_on(self, d.error());
            return;
          }
          take_answer(self, d.value());
          if (d->device_mismatch)
            return;
        }
        perform_outgoing(self);
      });
  }
}

} // namespace crypto_detail

namespace {

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
  st.machine.emplace(*st.store, *st.key, std::move(std::get<crypto::account>(acc)),
                     crypto::own_device{st.user_id, st.config.device_id});
  publish_store_counts(self);
  perform_outgoing(self); // first of all, what the server holds for this device
  open_key_backup(self);
  return {
    [self](const sync_batch& batch) -> caf::result<atom::ok> {
      auto& s = self->state;
      auto got = s.machine->receive_sync_changes(*batch.response, batch.initial, unix_now_ms());
      if (!got) {
        quit_on(self, got.error());
        return make_error(errc::store_failed, got.error().error);
      }
      auto& d = got.value();
      log_notes(self, d.notes);
      for (size_t n = 0; n < d.undecryptable; ++n)
        s.metrics->decryption_failed("olm");
      if (!d.new_sessions.empty()) {
        s.metrics->room_keys_received(d.new_sessions.size());
        publish_store_counts(self);
        back_up_room_keys(self);
      }
      for (auto& ev : d.verification_events)
        take_to_device_verification(self, ev);
      for (auto& event_id : d.retry)
        self->send(s.cell, atom::retry_v, event_id);
      publish_one_time_keys(self);
      perform_outgoing(self);
      return atom::ok_v;
    },
    [self](decrypt_request& req) -> caf::result<decryption> {
      auto& s = self->state;
      auto got = s.machine->decrypt_room_event(req.room_id, req.event);
      if (!got) {
        quit_on(self, got.error());
        return make_error(errc::store_failed, got.error().error);
      }
      log_notes(self, got->notes);
      auto& dec = got->decryption;
      switch (dec.what) {
        case crypto::room_decryption::status::decrypted:
          publish_store_counts(self);
          return decryption{decryption::status::decrypted,
                            matrix::to_room_event(std::move(dec.event)), {}};
        case crypto::room_decryption::status::missing_key:
          s.metrics->decryption_failed(dec.failure);
          publish_store_counts(self);
          find_room_key(self, req.room_id, req.event, dec);
          return decryption{decryption::status::missing_key, std::nullopt, dec.reason};
        case crypto::room_decryption::status::refused:
          break;
      }
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
    [self](atom::internal, atom::flush) {
      self->state.retry_scheduled = false;
      self->state.machine->retry_failed();
      perform_outgoing(self);
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

// Sending into encrypted rooms: one job at a time, asking the room's state whether it
// is encrypted and who its members are, then driving matrix::crypto::room_send (the
// session shared over Olm before anything is encrypted with it).

#include "actors/cell/crypto_state.hpp"
#include "matrix/bounded_json.hpp"
#include "matrix/client_api.hpp"
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

/// Acts on a step of the current job's room send: performs the request it asks for
/// and hands the answer back, or finishes the job with what it came to.
void drive(crypto_pointer self, crypto::room_send::step step) {
  using send = crypto::room_send;
  auto& st = self->state;
  for (auto& n : st.machine->take_send_notes()) {
    if (n.warning)
      st.log->warn("{}", n.text);
    else
      st.log->info("{}", n.text);
  }
  if (auto* p = std::get_if<send::perform>(&step)) {
    self->request(st.link.engine, caf::infinite, to_http_call(st.link, p->request, st.next_call++))
      .then([self](const http_result& res) {
        drive(self, self->state.machine->send_answer(to_matrix_result(res), unix_now_ms()));
      });
    return;
  }
  if (auto* done = std::get_if<send::encrypted>(&step)) {
    if (done->keys_sent > 0)
      st.metrics->room_keys_sent(done->keys_sent);
    publish_store_counts(self);
    // Only a new session brings a room key the backup lacks (not one SELECT per message).
    if (done->new_session)
      back_up_room_keys(self);
    finish_job(self, event_to_send{"m.room.encrypted", std::move(done->content)});
    return;
  }
  auto& failed = std::get<send::failure>(step);
  switch (failed.what) {
    case send::failure::kind::homeserver:
      job_failed(self, failed.text, *failed.error);
      return;
    case send::failure::kind::stale_devices:
      finish_job(self, make_error(errc::transient, failed.text));
      return;
    case send::failure::kind::store:
      self->quit(make_error(errc::store_failed, failed.text));
      return;
    case send::failure::kind::internal:
      finish_job(self, make_error(errc::internal, failed.text));
      return;
  }
}

/// Shares the room's session (stored, or a new one) with the front job's `members`'
/// devices, then encrypts; after the machine's device-list query, when one is under way.
void share(crypto_pointer self, std::vector<std::string> members) {
  auto& st = self->state;
  if (st.machine->keys_query_in_flight()) {
    st.share_waiting = std::move(members);
    return;
  }
  auto& j = st.jobs.front();
  drive(self, st.machine->start_send(j.room_id, j.event_type, j.content, std::move(members),
                                     unix_now_ms()));
}

/// Sends the front job as it is (a room without encryption) or shares the room's key and
/// encrypts it.
void send_front_job(crypto_pointer self, bool encrypted) {
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
  auto share_with = [self](std::vector<std::string> members) { share(self, std::move(members)); };
  if (auto* known = s.machine->rooms().members(j.room_id)) {
    share_with(*known);
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
      s2.machine->rooms().note_members(s2.jobs.front().room_id, members);
      share_with(std::move(members));
    });
}

/// The front job's room decides how it is sent.
void with_room_encryption(crypto_pointer self) {
  auto room_id = self->state.jobs.front().room_id;
  room_encryption(
    self, room_id, [self](bool encrypted) { send_front_job(self, encrypted); },
    [self](const matrix::matrix_error& err) {
      job_failed(self, "cannot read the room's encryption state", err);
    });
}

} // namespace

void room_encryption(crypto_pointer self, const std::string& room_id,
                     std::function<void(bool)> then,
                     std::function<void(const matrix::matrix_error&)> fail) {
  auto& st = self->state;
  if (auto known = st.machine->rooms().encrypted(room_id)) {
    then(*known);
    return;
  }
  auto req = matrix::state_event_request(room_id, "m.room.encryption");
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, room_id, then, fail](const http_result& res) {
      auto& s = self->state;
      if (succeeded(res)) {
        auto content = matrix::parse_bounded_json(to_matrix_response(res).body);
        s.machine->rooms().note_encryption(room_id, content ? *content : nlohmann::json::object());
        then(true);
        return;
      }
      auto err = to_matrix_error(res);
      if (err.errcode == "M_NOT_FOUND") {
        s.machine->rooms().note_unencrypted(room_id);
        then(false);
        return;
      }
      fail(err);
    });
}

void resume_share(crypto_pointer self) {
  auto& st = self->state;
  if (!st.share_waiting || st.machine->keys_query_in_flight())
    return;
  auto members = std::move(*st.share_waiting);
  st.share_waiting.reset();
  share(self, std::move(members));
}

void next_job(crypto_pointer self) {
  auto& st = self->state;
  if (st.jobs.empty())
    return;
  with_room_encryption(self);
}

} // namespace hm::crypto_detail

// Notifications from outside Matrix (the admin API's POST /v1/profiles/{name}/notify,
// used by cron jobs and scripts): a message into the profile's home room, sent through
// the outbox like any reply, so it is persisted, ordered, retried and encrypted when the
// room is encrypted. It never goes out as plaintext into an encrypted room.

#include "actors/cell/profile_cell_state.hpp"

#include "matrix/client_api.hpp"
#include "matrix/content.hpp"
#include "matrix/format.hpp"
#include "matrix/txn_id.hpp"
#include "messages/errors.hpp"

#include <random>

namespace hm {

namespace {

/// A notification has no Matrix event to derive its txn id from: the caller's key
/// when it gave one (a retried request is then the same send), else a random source
/// that makes each one its own send. The outbox persists it either way, so a resend
/// after a crash carries the same id.
std::string notification_txn_id(const std::string& key) {
  if (!key.empty())
    return matrix::derive_txn_id("notify-key|" + key, 0, "notify");
  std::random_device rd;
  std::string source = "notify|";
  for (int i = 0; i < 4; ++i)
    source += std::to_string(rd());
  return matrix::derive_txn_id(source, 0, "notify");
}

std::string notification_content(profile_cell_pointer self, const std::string& body,
                                 const std::string& format) {
  matrix::outgoing_message m;
  if (format == "markdown") {
    m = matrix::formatted_message(body, matrix::message_kind::text);
  } else {
    m.kind = matrix::message_kind::text;
    m.body = body;
  }
  auto content = matrix::plain_message_content(m, self->state.bot.user_id);
  matrix::fit_content(content); // the HTML goes first when both would not fit
  return content.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Queues the notification once the room's encryption is known to fit the profile's mode.
void enqueue(profile_cell_pointer self, caf::typed_response_promise<std::string> rp,
             const std::string& room_id, bool encrypted, std::string content,
             const std::string& key) {
  auto& st = self->state;
  if (encrypted && !st.crypto) {
    rp.deliver(make_error(errc::bad_config,
                          "the home room " + room_id + " of " + st.config.name
                            + " is encrypted and MATRIX_E2EE_MODE is off; set it to optional "
                              "or required in " + st.config.env_file.string()
                            + " (a notification is never sent there as plaintext)"));
    return;
  }
  if (!encrypted && st.config.e2ee == profiles::e2ee_mode::required) {
    rp.deliver(make_error(errc::bad_config,
                          "the home room " + room_id + " of " + st.config.name
                            + " is not encrypted and MATRIX_E2EE_MODE=required"));
    return;
  }
  auto txn = notification_txn_id(key);
  st.log->info("notification for {} queued ({})", room_id, txn);
  self->request(st.outbox, caf::infinite,
                outgoing_event{room_id, "m.room.message", std::move(content), txn, "", ""})
    .then([rp, txn](atom::ok) mutable { rp.deliver(txn); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

} // namespace

caf::result<std::string> notify_home_room(profile_cell_pointer self, const notification& n) {
  auto& st = self->state;
  auto& body = n.body;
  auto& format = n.format;
  if (!st.serving)
    return make_error(errc::unavailable, "profile " + st.config.name + " is still starting");
  if (body.empty())
    return make_error(errc::bad_request, "the notification's body is empty");
  if (format != "" && format != "markdown")
    return make_error(errc::bad_request, "unknown format '" + format
                                           + "': leave it out for plain text or use markdown");
  if (st.config.home_room.empty())
    return make_error(errc::bad_config,
                      "profile " + st.config.name + " has no home room: set MATRIX_HOME_ROOM in "
                        + st.config.env_file.string() + " or send /sethome in the room");
  // Rendered before it is accepted: what will not fit in one event is refused now
  // (413), not accepted and then dropped by the homeserver.
  auto content = notification_content(self, body, format);
  if (content.size() > matrix::max_content_bytes)
    return make_error(errc::too_large,
                      "the notification renders to " + std::to_string(content.size())
                        + " bytes, more than one Matrix event holds ("
                        + std::to_string(matrix::max_content_bytes) + "); send it in parts");
  auto rp = self->make_response_promise<std::string>();
  auto room_id = st.config.home_room;
  if (st.rooms.count(room_id) > 0 && st.rooms[room_id].encrypted) {
    enqueue(self, rp, room_id, true, std::move(content), n.key);
    return rp;
  }
  // Asked every time it is not known to be encrypted: a room can turn encryption on
  // at any moment (and never off again).
  auto req = matrix::state_event_request(room_id, "m.room.encryption");
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, rp, room_id, content, key = n.key](const http_result& res) mutable {
      auto& s = self->state;
      if (succeeded(res)) {
        s.rooms[room_id].encrypted = true;
        enqueue(self, rp, room_id, true, std::move(content), key);
        return;
      }
      auto err = to_matrix_error(res);
      if (err.errcode == "M_NOT_FOUND") {
        enqueue(self, rp, room_id, false, std::move(content), key);
        return;
      }
      if (err.errcode == "M_FORBIDDEN") {
        rp.deliver(make_error(errc::bad_config, s.bot.user_id + " is not in its home room "
                                                  + room_id + "; invite it there"));
        return;
      }
      rp.deliver(make_error(errc::transient, "cannot read the encryption state of the home room "
                                               + room_id + ": " + matrix::to_string(err)));
    });
  return rp;
}

} // namespace hm

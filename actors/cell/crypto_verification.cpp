// SAS verification of this device (m.sas.v1, the bot as the responder): the crypto actor
// sorts every m.key.verification.* event into matrix::crypto::verification_flows, fetches
// the peer's device keys, performs what each flow's sas_verification asks to send
// (to-device, or into the room through the outbox), shows the operator the emoji (log
// line, status) and takes the operator's word (admin API, `hermes-matrix verify`).
// Nothing here logs a key or a MAC.

#include "actors/cell/crypto_state.hpp"
#include "matrix/client_api.hpp"
#include "matrix/txn_id.hpp"
#include "messages/errors.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <string>

namespace hm::crypto_detail {

namespace {

using crypto::verification_transport;

/// How often open verifications are checked for their 10 minutes.
constexpr auto timeout_check = std::chrono::seconds{30};

/// Sends one verification event: to the peer's device, or into the flow's room.
void send_step(crypto_pointer self, verification_transport transport, const std::string& flow_id,
               const std::string& user_id, const std::string& device_id,
               const std::string& room_id, const crypto::verification_send& s) {
  auto& st = self->state;
  if (transport == verification_transport::in_room) {
    auto txn = matrix::derive_txn_id("sas|" + flow_id, 0, s.type);
    self->send(st.cell, atom::verify_v,
               outgoing_event{room_id, s.type,
                              s.content.dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace),
                              std::move(txn), "", ""});
    return;
  }
  nlohmann::json messages{{user_id, {{device_id, s.content}}}};
  auto txn = matrix::derive_txn_id("sas|" + flow_id + "|" + s.type, 0, "sas");
  auto req = matrix::send_to_device_request(s.type, txn, messages);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, type = s.type, user_id](const http_result& res) {
      if (!succeeded(res))
        self->state.log->warn("cannot send {} to {} ({})", type, user_id,
                              matrix::to_string(to_matrix_error(res)));
    });
}

void send_all(crypto_pointer self, const crypto::verification_flow& flow,
              const std::vector<crypto::verification_send>& sends) {
  for (auto& s : sends)
    send_step(self, flow.transport, flow.flow_id, flow.user_id, flow.device_id, flow.room_id, s);
}

std::string_view transport_name(verification_transport t) {
  return t == verification_transport::in_room ? "in_room" : "to_device";
}

/// Tells the cell how the verifications stand (for status and the admin API).
void publish(crypto_pointer self) {
  auto& st = self->state;
  st.verifications.prune();
  std::vector<verification_view> out;
  for (auto& [id, flow] : st.verifications.all()) {
    verification_view v;
    v.flow_id = id;
    v.user_id = flow.user_id;
    v.device_id = flow.device_id;
    v.transport = std::string{transport_name(flow.transport)};
    v.room_id = flow.room_id;
    v.state = flow.state();
    if (flow.sas) {
      // The SAS only while there is something to compare: not once done or cancelled.
      auto comparing = flow.sas->state() == crypto::sas_state::keys_exchanged
                       || flow.sas->state() == crypto::sas_state::confirmed
                       || flow.sas->state() == crypto::sas_state::their_mac_ok;
      if (auto emoji = flow.sas->emoji(); emoji && comparing)
        for (auto& e : *emoji) {
          v.emoji_symbols.emplace_back(e.symbol);
          v.emoji_names.emplace_back(e.name);
        }
      if (auto numbers = flow.sas->decimals(); numbers && flow.sas->emoji() && comparing)
        v.decimals.assign(numbers->begin(), numbers->end());
      v.cancel_code = flow.sas->cancel_code();
      v.cancel_reason = flow.sas->cancel_reason();
    } else {
      v.cancel_code = flow.cancelled_early;
    }
    out.push_back(std::move(v));
  }
  self->send(st.cell, atom::verify_v, std::move(out));
}

/// Logs what a step changed: the SAS shown, verified, cancelled.
void after_step(crypto_pointer self, const std::string& flow_id, crypto::sas_state before) {
  auto& st = self->state;
  auto* flow = st.verifications.find(flow_id);
  if (flow == nullptr || !flow->sas)
    return;
  auto& sas = *flow->sas;
  auto now = sas.state();
  if (now == before)
    return;
  if (auto emoji = sas.emoji(); emoji && before != crypto::sas_state::keys_exchanged
                                && before != crypto::sas_state::their_mac_ok
                                && (now == crypto::sas_state::keys_exchanged
                                    || now == crypto::sas_state::their_mac_ok)) {
    std::string shown;
    for (auto& e : *emoji)
      shown += std::string{e.symbol} + " " + std::string{e.name} + "  ";
    auto numbers = sas.decimals();
    st.log->info("verification {} with {}'s device {}: compare {}| {} {} {}; then run "
                 "`hermes-matrix verify --profile {} --flow {}`",
                 flow_id, flow->user_id, flow->device_id, shown, numbers ? (*numbers)[0] : 0,
                 numbers ? (*numbers)[1] : 0, numbers ? (*numbers)[2] : 0, st.log->name(),
                 flow_id);
  }
  if (now == crypto::sas_state::done) {
    st.log->info("verified {}'s device {}", flow->user_id, flow->device_id);
    auto device = sas.verified_device();
    if (flow->user_id != st.user_id) {
      if (!device || !device->master_key)
        st.log->info("{} did not include their master key in the verification: their "
                     "identity is not signed", flow->user_id);
      else
        sign_user_identity(self, flow->user_id, *device->master_key);
    }
  }
  if (now == crypto::sas_state::cancelled) {
    if (sas.cancelled_by_them())
      st.log->info("{} cancelled verification {}: {} ({})", flow->user_id, flow_id,
                   sas.cancel_code(), sas.cancel_reason());
    else
      st.log->info("cancelled verification {} with {}: {} ({})", flow_id, flow->user_id,
                   sas.cancel_code(), sas.cancel_reason());
  }
}

/// Hands `e` to its flow's machine and sends what it answers.
void deliver(crypto_pointer self, const std::string& flow_id,
             const crypto::verification_event& e) {
  auto* flow = self->state.verifications.find(flow_id);
  if (flow == nullptr || !flow->sas)
    return;
  auto before = flow->sas->state();
  send_all(self, *flow, flow->sas->receive(e));
  after_step(self, flow_id, before);
}

void arm_timer(crypto_pointer self) {
  auto& st = self->state;
  if (st.verification_timer || st.verifications.open_count() == 0)
    return;
  st.verification_timer = true;
  self->delayed_send(self, timeout_check, atom::internal_v, atom::verify_v);
}

/// Asks the server for the peer's device keys (checked against what the device tracker
/// knows), then starts the flow's machine with them; no keys: the flow is cancelled.
void fetch_keys(crypto_pointer self, const std::string& flow_id) {
  auto& st = self->state;
  auto* flow = st.verifications.find(flow_id);
  if (flow == nullptr)
    return;
  auto req = crypto::peer_keys_query(flow->user_id);
  self->request(st.link.engine, caf::infinite, to_http_call(st.link, req, st.next_call++))
    .then([self, flow_id](const http_result& res) {
      auto& s = self->state;
      auto* f = s.verifications.find(flow_id);
      if (f == nullptr)
        return;
      std::optional<std::string> known;
      if (auto* devices = s.machine->tracker().devices(f->user_id))
        if (auto d = devices->find(f->device_id); d != devices->end())
          known = d->second.ed25519;
      auto peer = succeeded(res)
                    ? crypto::read_peer_keys(to_matrix_response(res), f->user_id,
                                             f->device_id, known)
                    : matrix::result<crypto::sas_device>{hm::unexpected{to_matrix_error(res)}};
      if (!peer) {
        s.log->warn("cannot verify with {}'s device {}: no usable keys for it ({}); "
                    "verification {} cancelled",
                    f->user_id, f->device_id, matrix::to_string(peer.error()), flow_id);
        if (auto cancel = s.verifications.keys_missing(flow_id))
          send_all(self, *f, {*cancel});
        publish(self);
        return;
      }
      crypto::sas_device ours{s.user_id, s.config.device_id,
                              s.machine->olm_account().identity().ed25519, s.own_master_key};
      auto sends = s.verifications.begin(flow_id, std::move(ours), std::move(peer).value());
      if (!sends) {
        s.log->error("cannot start verification {}: {}", flow_id,
                     matrix::to_string(sends.error()));
        if (auto cancel = s.verifications.keys_missing(flow_id))
          send_all(self, *f, {*cancel});
        publish(self);
        return;
      }
      send_all(self, *f, sends.value());
      after_step(self, flow_id, crypto::sas_state::created);
      publish(self);
    });
}

void take(crypto_pointer self, const crypto::verification_event& e,
          verification_transport transport, const std::string& room_id,
          std::optional<std::int64_t> timestamp_ms) {
  auto& st = self->state;
  bool allowed = st.config.may_verify && st.config.may_verify(e.sender);
  auto intake = st.verifications.receive(e, transport, room_id, st.user_id, st.config.device_id,
                                         allowed, timestamp_ms, std::chrono::system_clock::now(),
                                         std::chrono::steady_clock::now());
  using action = crypto::verification_intake::action;
  switch (intake.what) {
    case action::ignore:
      st.log->log(intake.routine ? spdlog::level::debug : spdlog::level::info, "ignoring {}",
                  intake.why);
      return;
    case action::decline: {
      st.log->info("declined {}", intake.why);
      auto device = e.content.is_object() ? e.content.value("from_device", std::string{"*"})
                                          : std::string{"*"};
      send_step(self, transport, intake.flow_id, e.sender, device, room_id, *intake.reply);
      return;
    }
    case action::fetch_keys:
      st.log->info("verification {} from {}'s device {} ({}): fetching its keys",
                   intake.flow_id, e.sender, st.verifications.find(intake.flow_id)->device_id,
                   transport_name(transport));
      fetch_keys(self, intake.flow_id);
      arm_timer(self);
      break;
    case action::wait:
      return;
    case action::deliver:
      deliver(self, intake.flow_id, e);
      break;
  }
  publish(self);
}

/// content.timestamp of a to-device request, when it is a number.
std::optional<std::int64_t> content_timestamp(const nlohmann::json& content) {
  if (!content.is_object())
    return std::nullopt;
  auto i = content.find("timestamp");
  if (i == content.end() || !i->is_number_integer())
    return std::nullopt;
  return i->get<std::int64_t>();
}

} // namespace

void take_to_device_verification(crypto_pointer self, const matrix::basic_event& ev) {
  crypto::verification_event e{ev.type, ev.sender, ev.content(), ""};
  take(self, e, verification_transport::to_device, "", content_timestamp(ev.content()));
}

void take_room_verification(crypto_pointer self, const room_verification& rv) {
  auto& ev = rv.event;
  crypto::verification_event e{ev.type, ev.sender, ev.content(), ev.event_id};
  take(self, e, verification_transport::in_room, rv.room_id, ev.origin_server_ts);
}

caf::result<std::string> act_on_verification(crypto_pointer self, const verification_action& a) {
  auto& st = self->state;
  auto* flow = st.verifications.find(a.flow_id);
  if (flow == nullptr)
    return make_error(errc::bad_request, "no verification " + a.flow_id + " on this device");
  if (!flow->sas || !flow->open())
    return make_error(errc::unavailable, "verification " + a.flow_id + " is "
                                           + flow->state() + "; nothing to " + a.action);
  auto before = flow->sas->state();
  std::vector<crypto::verification_send> sends;
  if (a.action == "confirm") {
    if (!flow->sas->emoji())
      return make_error(errc::unavailable, "verification " + a.flow_id + " is "
                                             + flow->state() + ": no emoji to confirm yet");
    sends = flow->sas->confirm();
  } else if (a.action == "reject") {
    sends = flow->sas->reject();
  } else if (a.action == "cancel") {
    sends = flow->sas->cancel();
  } else if (a.action == "timeout") {
    sends = flow->sas->check_timeout(std::chrono::steady_clock::time_point::max());
  } else {
    return make_error(errc::bad_request, "unknown action '" + a.action
                                           + "': confirm, reject, cancel or timeout");
  }
  st.log->info("the operator answered {} to verification {} with {}", a.action, a.flow_id,
               flow->user_id);
  send_all(self, *flow, sends);
  after_step(self, a.flow_id, before);
  auto state = flow->state();
  publish(self);
  return state;
}

void check_verification_timeouts(crypto_pointer self) {
  auto& st = self->state;
  st.verification_timer = false;
  auto now = std::chrono::steady_clock::now();
  std::vector<std::string> ids;
  for (auto& [id, flow] : st.verifications.all())
    if (flow.open())
      ids.push_back(id);
  bool changed = false;
  for (auto& id : ids) {
    auto* flow = st.verifications.find(id);
    if (flow->sas) {
      auto before = flow->sas->state();
      auto sends = flow->sas->check_timeout(now);
      if (!sends.empty()) {
        send_all(self, *flow, sends);
        after_step(self, id, before);
        changed = true;
      }
    } else if (now - flow->began >= crypto::sas_timeout) {
      if (auto cancel = st.verifications.keys_missing(id))
        send_all(self, *flow, {*cancel});
      changed = true;
    }
  }
  if (changed)
    publish(self);
  arm_timer(self);
}

} // namespace hm::crypto_detail

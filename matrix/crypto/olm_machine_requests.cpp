// The Olm machine's outgoing requests and what their answers change: the check of this
// device's keys on the server, the key upload, the device-list query, the claim and
// m.dummy that replace a broken Olm session, and the key requests and cancellations.

#include "matrix/crypto/olm_machine.hpp"

#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/keys_upload.hpp"
#include "matrix/crypto/own_device_check.hpp"

namespace hm::matrix::crypto {

namespace {

using kind = outgoing_request::kind;

bool held_kind(kind k) {
  return k == kind::own_device_check || k == kind::keys_upload || k == kind::keys_query;
}

} // namespace

bool olm_machine::keys_query_in_flight() const {
  for (auto& [id, p] : in_flight_)
    if (p.what == kind::keys_query)
      return true;
  return false;
}

result<std::vector<outgoing_request>> olm_machine::outgoing_requests(std::int64_t /*now_ms*/) {
  std::vector<outgoing_request> out;
  auto hand_out = [&](kind what, http_request request, pending p) {
    p.what = what;
    auto id = next_id_++;
    in_flight_.emplace(id, std::move(p));
    out.push_back({id, what, std::move(request)});
  };
  auto busy = [this](kind what) {
    for (auto& [id, p] : in_flight_)
      if (p.what == what)
        return true;
    return false;
  };
  if (!identity_checked_ && !own_device_check_held_ && !busy(kind::own_device_check))
    hand_out(kind::own_device_check, own_device_query(self_), {});
  // One upload at a time: the counts it answers with are the freshest there are.
  if (identity_checked_ && !upload_held_ && !busy(kind::keys_upload)) {
    keys_upload_state ks;
    ks.upload_device_keys = !device_keys_on_server_;
    // A device the server does not know yet holds no one-time keys on the server.
    ks.server_one_time_keys = device_keys_on_server_ ? server_one_time_keys_
                                                     : std::optional<std::int64_t>{0};
    ks.unused_fallback_key_types = unused_fallback_key_types_;
    auto prepared = prepare_keys_upload(account_, self_.user_id, self_.device_id, ks);
    if (!prepared)
      return hm::unexpected{crypto_error(errcode_olm,
                          "cannot prepare the key upload: " + prepared.error().error)};
    if (prepared.value()) {
      // The new keys are stored before they are sent (keys_upload.hpp: "Order").
      if (auto saved = commit_account(); !saved)
        return hm::unexpected{saved.error()};
      hand_out(kind::keys_upload, std::move(*prepared.value()), {});
    }
  }
  for (auto& [request, p] : std::exchange(queued_, {}))
    hand_out(request.what, std::move(request.request), std::move(p));
  // A room send queries the lists it needs itself, and a user can be in one query only.
  if (!sending_ && !query_held_) {
    pending p;
    if (auto query = tracker_.next_query(p.queried))
      hand_out(kind::keys_query, std::move(*query), std::move(p));
  }
  return out;
}

void olm_machine::retry_failed() {
  own_device_check_held_ = false;
  upload_held_ = false;
  query_held_ = false;
}

answer_decisions olm_machine::mark_request_as_failed(std::uint64_t id, const matrix_error& error) {
  answer_decisions d;
  auto i = in_flight_.find(id);
  if (i == in_flight_.end())
    return d;
  auto p = std::move(i->second);
  in_flight_.erase(i);
  auto why = to_string(error);
  using level = machine_note::level;
  switch (p.what) {
    case kind::own_device_check:
      own_device_check_held_ = true;
      d.notes.push_back({level::warn,
                         "cannot check this device's keys on the server (" + why + "); retrying"});
      break;
    case kind::keys_upload:
      upload_held_ = true;
      d.notes.push_back({level::warn, "cannot upload this device's keys (" + why + "); retrying"});
      break;
    case kind::keys_query:
      tracker_.query_failed(p.queried);
      query_held_ = true;
      d.keys_query_ended = true;
      d.notes.push_back({level::warn, "cannot query the device lists of "
                                        + std::to_string(p.queried.size()) + " user(s) (" + why
                                        + "); retrying"});
      break;
    case kind::unwedge_claim:
      d.notes.push_back({level::warn, "cannot claim a one-time key of " + p.device.user_id
                                        + " device " + p.device.device_id + " (" + why + ")"});
      return d;
    case kind::unwedge_dummy:
      d.notes.push_back({level::warn, "cannot send the m.dummy to " + p.device.user_id
                                        + " device " + p.device.device_id + " (" + why + ")"});
      return d;
    case kind::key_request:
      // Best effort: the event stays parked either way.
      d.notes.push_back({level::warn, "cannot ask for the key of Megolm session "
                                        + p.session_id + " (" + why + ")"});
      return d;
    case kind::key_cancel:
      d.notes.push_back({level::debug, "cannot cancel the key request of Megolm session "
                                         + p.session_id + " (" + why + ")"});
      return d;
  }
  d.retry_later = held_kind(p.what);
  return d;
}

result<answer_decisions> olm_machine::mark_request_as_sent(std::uint64_t id,
                                                           const http_response& answer) {
  auto i = in_flight_.find(id);
  if (i == in_flight_.end())
    return answer_decisions{};
  auto p = std::move(i->second);
  in_flight_.erase(i);
  switch (p.what) {
    case kind::own_device_check:
      return own_device_checked(answer);
    case kind::keys_upload:
      return keys_uploaded(answer);
    case kind::keys_query:
      return keys_queried(p, answer);
    case kind::unwedge_claim:
      return claimed(p, answer);
    case kind::unwedge_dummy: {
      answer_decisions d;
      d.notes.push_back({machine_note::level::info,
                         "sent an m.dummy over the new Olm session with " + p.device.user_id
                           + " device " + p.device.device_id});
      return d;
    }
    case kind::key_request:
    case kind::key_cancel:
      break;
  }
  return answer_decisions{};
}

/// The server holds this device's keys: senders who query them now can encrypt for us.
/// True the first time in this life.
bool olm_machine::note_keys_on_server() {
  return !std::exchange(device_keys_on_server_, true);
}

/// Keys other than ours on the server mean the device id now belongs to another account
/// (or our store is not this device's): continuing would encrypt as someone we are not.
result<answer_decisions> olm_machine::own_device_checked(const http_response& answer) {
  answer_decisions d;
  auto on_server = check_own_device(answer, self_, account_.identity());
  if (!on_server) {
    own_device_check_held_ = true;
    d.retry_later = true;
    d.notes.push_back({machine_note::level::warn,
                       "cannot check this device's keys on the server ("
                         + to_string(on_server.error()) + "); retrying"});
    return d;
  }
  using state = own_device_on_server::state;
  if (on_server->what == state::other) {
    auto text = "the homeserver holds other keys for device " + self_.device_id + " of "
                + self_.user_id + " than this profile's crypto store (" + on_server->mismatch
                + "); log in as a new device, or restore the store that belongs to it";
    d.notes.push_back({machine_note::level::error, text});
    d.device_mismatch = std::move(text);
    return d;
  }
  bool found = on_server->what == state::ours;
  identity_checked_ = true;
  d.notes.push_back({machine_note::level::info,
                     "device " + self_.device_id + " identity "
                       + (found ? "confirmed on the server" : "not on the server yet")
                       + " (ed25519 " + account_.identity().ed25519 + ")"});
  if (found)
    d.keys_published = note_keys_on_server();
  return d;
}

result<answer_decisions> olm_machine::keys_uploaded(const http_response& answer) {
  answer_decisions d;
  auto counts = parse_keys_upload(answer);
  auto published = account_.mark_keys_as_published();
  if (auto saved = commit_account(); !saved)
    return hm::unexpected{saved.error()};
  if (!device_keys_on_server_)
    d.notes.push_back({machine_note::level::info, "uploaded this device's keys ("
                                                    + std::to_string(published)
                                                    + " one-time keys)"});
  else if (published > 0)
    d.notes.push_back({machine_note::level::debug,
                       "uploaded " + std::to_string(published) + " one-time keys"});
  d.keys_published = note_keys_on_server();
  if (counts) {
    auto c = counts->find(std::string{signed_curve25519});
    server_one_time_keys_ = c != counts->end() ? c->second : 0;
  }
  // The fallback key just uploaded is unused; until the next sync says otherwise.
  if (unused_fallback_key_types_)
    unused_fallback_key_types_ = std::vector<std::string>{std::string{signed_curve25519}};
  return d;
}

result<answer_decisions> olm_machine::keys_queried(const pending& p, const http_response& answer) {
  answer_decisions d;
  d.keys_query_ended = true;
  auto outcome = tracker_.apply_query_response(answer, p.queried);
  if (!outcome) {
    query_held_ = true;
    d.retry_later = true;
    d.notes.push_back({machine_note::level::warn, "cannot query the device lists of "
                                                    + std::to_string(p.queried.size())
                                                    + " user(s) (" + to_string(outcome.error())
                                                    + "); retrying"});
    return d;
  }
  for (auto& r : outcome->rejected)
    d.notes.push_back({machine_note::level::warn,
                       "ignoring " + r.user_id + " device " + r.device_id + ": " + r.reason});
  if (auto saved = save_tracker(); !saved)
    return hm::unexpected{saved.error()};
  // A user's server that did not answer (or a list that changed meanwhile) is asked
  // again after a while, not at once.
  if (!outcome->still_outdated.empty()) {
    query_held_ = true;
    d.retry_later = true;
  }
  return d;
}

/// The one-time key of a device whose Olm session broke: a new session, stored (and so
/// the one used for this device) before the m.dummy that announces it leaves.
result<answer_decisions> olm_machine::claimed(const pending& p, const http_response& answer) {
  answer_decisions d;
  auto dummy = unwedging::dummy_for(account_, self_, key_, p.device, answer);
  if (!dummy) {
    d.notes.push_back({machine_note::level::warn, "cannot start a new Olm session with "
                                                    + p.device.user_id + " device "
                                                    + p.device.device_id + ": "
                                                    + dummy.error().error});
    return d;
  }
  crypto_changes changes;
  changes.olm_sessions.push_back(dummy->session);
  if (auto err = store_.commit_crypto(changes))
    return hm::unexpected{crypto_error(errcode_store_failed, "cannot write the store: " + *err)};
  pending next;
  next.device = p.device;
  queue(kind::unwedge_dummy, std::move(dummy->send), std::move(next));
  return d;
}

} // namespace hm::matrix::crypto

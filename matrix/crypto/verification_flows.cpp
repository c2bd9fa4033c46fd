#include "matrix/crypto/verification_flows.hpp"

#include "matrix/client_api.hpp"
#include "matrix/crypto/crypto_errors.hpp"
#include "matrix/crypto/device_tracker.hpp"

#include <algorithm>

namespace hm::matrix::crypto {

namespace {

constexpr std::string_view prefix = "m.key.verification.";
constexpr std::string_view request_type = "m.key.verification.request";
constexpr std::string_view start_type = "m.key.verification.start";

std::string string_field(const nlohmann::json& c, const char* key) {
  if (!c.is_object())
    return {};
  auto i = c.find(key);
  return i != c.end() && i->is_string() ? i->get<std::string>() : std::string{};
}

/// A request (to-device, or an in-room m.room.message with its msgtype).
bool is_request(const verification_event& e) {
  return e.type == request_type
         || (e.type == "m.room.message" && string_field(e.content, "msgtype") == request_type);
}

} // namespace

bool is_verification_event(std::string_view type, const nlohmann::json& content) {
  if (type.substr(0, prefix.size()) == prefix)
    return true;
  return type == "m.room.message" && string_field(content, "msgtype") == request_type;
}

bool verification_flow::open() const {
  if (!cancelled_early.empty())
    return false;
  if (!sas)
    return true;
  return sas->state() != sas_state::done && sas->state() != sas_state::cancelled;
}

std::string verification_flow::state() const {
  if (!cancelled_early.empty())
    return "cancelled";
  if (!sas)
    return "fetching_keys";
  return std::string{to_string(sas->state())};
}

verification_flows::verification_flows(std::size_t max_open, std::size_t max_closed)
  : max_open_(max_open), max_closed_(max_closed) {
}

std::size_t verification_flows::open_count() const {
  return static_cast<std::size_t>(
    std::count_if(flows_.begin(), flows_.end(), [](auto& f) { return f.second.open(); }));
}

verification_flow* verification_flows::find(const std::string& flow_id) {
  auto i = flows_.find(flow_id);
  return i == flows_.end() ? nullptr : &i->second;
}

verification_intake verification_flows::receive(const verification_event& e,
                                                verification_transport transport,
                                                const std::string& room_id,
                                                const std::string& self_user,
                                                const std::string& self_device,
                                                bool sender_allowed,
                                                std::optional<std::int64_t> timestamp_ms,
                                                std::chrono::system_clock::time_point now,
                                                std::chrono::steady_clock::time_point mono) {
  using action = verification_intake::action;
  verification_intake out;
  auto id = verification_flow_id(e, transport);
  if (!id || id->empty()) {
    out.why = "a " + e.type + " from " + e.sender + " without a flow id";
    return out;
  }
  out.flow_id = *id;
  if (auto* flow = find(*id)) {
    if (flow->user_id != e.sender) {
      out.why = "a " + e.type + " from " + e.sender + " in another user's flow";
      return out;
    }
    if (flow->transport != transport || (transport == verification_transport::in_room
                                         && flow->room_id != room_id)) {
      out.why = "a " + e.type + " from " + e.sender + " of a flow that began elsewhere";
      return out;
    }
    if (!flow->open()) {
      out.why = "a " + e.type + " from " + e.sender + " of a finished flow";
      out.routine = e.type == "m.key.verification.done" || e.type == "m.key.verification.cancel";
      return out;
    }
    if (!flow->sas) {
      flow->waiting.push_back(e);
      out.what = action::wait;
      return out;
    }
    out.what = action::deliver;
    return out;
  }
  bool request = is_request(e);
  if (!request && e.type != start_type) {
    out.why = "a " + e.type + " from " + e.sender + " of an unknown flow";
    return out;
  }
  // An in-room request names whom it is for: in a room with others, not always us.
  if (request && transport == verification_transport::in_room
      && string_field(e.content, "to") != self_user) {
    out.why = "a verification request from " + e.sender + " for someone else";
    return out;
  }
  auto from_device = string_field(e.content, "from_device");
  if (from_device.empty()) {
    out.why = "a " + e.type + " from " + e.sender + " without from_device";
    return out;
  }
  if (e.sender == self_user && from_device == self_device) {
    out.why = "our own " + e.type;
    return out;
  }
  if (!sender_allowed) {
    out.what = action::decline;
    out.reply = decline(transport, *id);
    out.why = "a verification request from " + e.sender + ", who is not allowed to talk to the bot";
    return out;
  }
  if (request && !verification_request_timely(timestamp_ms, now)) {
    out.why = "a verification request from " + e.sender + " that is too old or from the future";
    return out;
  }
  if (open_count() >= max_open_) {
    out.why = "a verification request from " + e.sender + ": " + std::to_string(max_open_)
              + " verifications are open already";
    return out;
  }
  verification_flow flow;
  flow.flow_id = *id;
  flow.user_id = e.sender;
  flow.device_id = from_device;
  flow.transport = transport;
  if (transport == verification_transport::in_room)
    flow.room_id = room_id;
  flow.began = mono;
  flow.waiting.push_back(e);
  flows_.emplace(*id, std::move(flow));
  order_[*id] = ++sequence_;
  out.what = action::fetch_keys;
  return out;
}

result<std::vector<verification_send>>
verification_flows::begin(const std::string& flow_id, sas_device self, sas_device peer) {
  auto* flow = find(flow_id);
  if (flow == nullptr || flow->sas || !flow->open())
    return std::vector<verification_send>{};
  auto made = sas_verification::create(std::move(self), std::move(peer), flow->transport,
                                       flow_id, flow->began);
  if (!made)
    return hm::unexpected{made.error()};
  flow->sas.emplace(std::move(made).value());
  std::vector<verification_send> sends;
  for (auto& e : flow->waiting) {
    auto out = flow->sas->receive(e);
    sends.insert(sends.end(), std::make_move_iterator(out.begin()),
                 std::make_move_iterator(out.end()));
  }
  flow->waiting.clear();
  return sends;
}

std::optional<verification_send> verification_flows::keys_missing(const std::string& flow_id) {
  auto* flow = find(flow_id);
  if (flow == nullptr || flow->sas || !flow->open())
    return std::nullopt;
  flow->cancelled_early = std::string{cancel_user};
  flow->waiting.clear();
  return decline(flow->transport, flow_id, cancel_user, "Unknown device");
}

void verification_flows::prune() {
  std::vector<std::pair<std::uint64_t, std::string>> closed;
  for (auto& [id, flow] : flows_)
    if (!flow.open())
      closed.emplace_back(order_[id], id);
  if (closed.size() <= max_closed_)
    return;
  std::sort(closed.begin(), closed.end());
  for (std::size_t n = 0; n < closed.size() - max_closed_; ++n) {
    flows_.erase(closed[n].second);
    order_.erase(closed[n].second);
  }
}

http_request peer_keys_query(const std::string& user_id) {
  http_request r;
  r.method = http_method::post;
  r.target = std::string{client_v3} + "/keys/query";
  r.body = nlohmann::json{{"device_keys", {{user_id, nlohmann::json::array()}}}};
  return r;
}

result<sas_device> read_peer_keys(const http_response& answer, const std::string& user_id,
                                  const std::string& device_id,
                                  const std::optional<std::string>& known_ed25519) {
  auto body = success_object(answer, "keys/query");
  if (!body)
    return hm::unexpected{body.error()};
  auto where = nlohmann::json::json_pointer{"/device_keys"} / user_id / device_id;
  if (!body->contains(where) || !body->at(where).is_object())
    return hm::unexpected{crypto_error("HM_NO_DEVICE", "the server lists no device " + device_id + " of "
                                          + user_id)};
  auto device = verify_device_keys(body->at(where), user_id, device_id);
  if (!device)
    return hm::unexpected{device.error()};
  if (known_ed25519 && *known_ed25519 != device->ed25519)
    return hm::unexpected{crypto_error(errcode_bad_key, "device " + device_id + " of " + user_id
                                           + " has another ed25519 key than before")};
  sas_device out{user_id, device_id, device->ed25519, std::nullopt};
  auto master = nlohmann::json::json_pointer{"/master_keys"} / user_id / "keys";
  if (body->contains(master) && body->at(master).is_object())
    for (auto& [key_id, key] : body->at(master).items())
      if (key_id.rfind("ed25519:", 0) == 0 && key.is_string()) {
        out.master_key = key.get<std::string>();
        break;
      }
  return out;
}

} // namespace hm::matrix::crypto

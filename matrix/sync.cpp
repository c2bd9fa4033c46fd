#include "matrix/sync.hpp"

#include "matrix/bounded_json.hpp"

namespace hm::matrix {

namespace {

// Walks one response, collecting what it skips. `where` strings are built only for
// skipped items, so a clean sync costs no string formatting.
class sync_parser {
public:
  explicit sync_parser(sync_response& out) : out_(out) {}

  void skip(std::string where, std::string reason) {
    out_.skipped.push_back({std::move(where), std::move(reason)});
  }

  // `events` is the object holding {"events": [...]} (timeline, state, ephemeral, ...).
  nlohmann::json* events_array(nlohmann::json& holder, std::string_view key,
                                     const std::string& where) {
    auto* section = find_mut(holder, key);
    if (section == nullptr)
      return nullptr;
    if (!section->is_object()) {
      skip(where + "." + std::string{key}, "not an object");
      return nullptr;
    }
    auto* evs = find_mut(*section, "events");
    if (evs == nullptr)
      return nullptr;
    if (!evs->is_array()) {
      skip(where + "." + std::string{key} + ".events", "not an array");
      return nullptr;
    }
    return evs;
  }

  std::vector<room_event> room_events(nlohmann::json& holder, std::string_view key,
                                      const std::string& where) {
    std::vector<room_event> out;
    auto* evs = events_array(holder, key, where);
    if (evs == nullptr)
      return out;
    out.reserve(evs->size());
    std::size_t i = 0;
    for (auto& raw : *evs) {
      std::string why;
      if (auto e = to_room_event(std::move(raw), &why))
        out.push_back(std::move(*e));
      else
        skip(where + "." + std::string{key} + "[" + std::to_string(i) + "]", why);
      ++i;
    }
    return out;
  }

  std::vector<basic_event> basic_events(nlohmann::json& holder, std::string_view key,
                                        const std::string& where, bool require_sender) {
    std::vector<basic_event> out;
    auto* evs = events_array(holder, key, where);
    if (evs == nullptr)
      return out;
    std::size_t i = 0;
    for (auto& raw : *evs) {
      std::string why;
      if (auto e = to_basic_event(std::move(raw), require_sender, &why))
        out.push_back(std::move(*e));
      else
        skip(where + "." + std::string{key} + "[" + std::to_string(i) + "]", why);
      ++i;
    }
    return out;
  }

  std::vector<stripped_event> stripped_events(nlohmann::json& holder, std::string_view key,
                                              const std::string& where) {
    std::vector<stripped_event> out;
    auto* evs = events_array(holder, key, where);
    if (evs == nullptr)
      return out;
    std::size_t i = 0;
    for (auto& raw : *evs) {
      std::string why;
      if (auto e = to_stripped_event(std::move(raw), &why))
        out.push_back(std::move(*e));
      else
        skip(where + "." + std::string{key} + "[" + std::to_string(i) + "]", why);
      ++i;
    }
    return out;
  }

  room_timeline timeline(nlohmann::json& room, const std::string& where) {
    room_timeline t;
    t.events = room_events(room, "timeline", where);
    if (const auto* tl = object_field(room, "timeline")) {
      t.limited = bool_field(*tl, "limited").value_or(false);
      t.prev_batch = string_field(*tl, "prev_batch");
    }
    return t;
  }

  // Calls f(room_id, room_json) for each room of rooms.<section>.
  template <class F>
  void each_room(nlohmann::json& rooms, std::string_view section, F&& f) {
    auto* sec = find_mut(rooms, section);
    if (sec == nullptr)
      return;
    std::string where = "rooms." + std::string{section};
    if (!sec->is_object()) {
      skip(where, "not an object");
      return;
    }
    for (auto& [room_id, room] : sec->items()) {
      if (!room.is_object()) {
        skip(where + "." + room_id, "room is not an object");
        continue;
      }
      f(room_id, room, where + "." + room_id);
    }
  }

  void joined(nlohmann::json& rooms) {
    each_room(rooms, "join", [this](const std::string& id, nlohmann::json& room,
                                    const std::string& where) {
      joined_room r;
      r.timeline = timeline(room, where);
      r.state = room_events(room, "state", where);
      r.ephemeral = basic_events(room, "ephemeral", where, false);
      r.account_data = basic_events(room, "account_data", where, false);
      if (const auto* s = object_field(room, "summary")) {
        room_summary sum;
        if (const auto* heroes = array_field(*s, "m.heroes"))
          for (const auto& h : *heroes)
            if (h.is_string())
              sum.heroes.push_back(h.get<std::string>());
        sum.joined_member_count = int_field(*s, "m.joined_member_count");
        sum.invited_member_count = int_field(*s, "m.invited_member_count");
        r.summary = std::move(sum);
      }
      if (const auto* u = object_field(room, "unread_notifications")) {
        r.unread = unread_notification_counts{int_field(*u, "highlight_count"),
                                              int_field(*u, "notification_count")};
      }
      out_.join.emplace(id, std::move(r));
    });
  }

  void invited(nlohmann::json& rooms) {
    each_room(rooms, "invite", [this](const std::string& id, nlohmann::json& room,
                                      const std::string& where) {
      invited_room r;
      r.invite_state = stripped_events(room, "invite_state", where);
      out_.invite.emplace(id, std::move(r));
    });
  }

  void left(nlohmann::json& rooms) {
    each_room(rooms, "leave", [this](const std::string& id, nlohmann::json& room,
                                     const std::string& where) {
      left_room r;
      r.timeline = timeline(room, where);
      r.state = room_events(room, "state", where);
      r.account_data = basic_events(room, "account_data", where, false);
      out_.leave.emplace(id, std::move(r));
    });
  }

  static std::vector<std::string> string_list(const nlohmann::json& arr) {
    std::vector<std::string> out;
    for (const auto& v : arr)
      if (v.is_string())
        out.push_back(v.get<std::string>());
    return out;
  }

  void top_level(nlohmann::json& body) {
    if (auto* rooms = find_mut(body, "rooms")) {
      if (rooms->is_object()) {
        joined(*rooms);
        invited(*rooms);
        left(*rooms);
      } else {
        skip("rooms", "not an object");
      }
    }
    out_.account_data = basic_events(body, "account_data", "", false);
    for (const auto& ev : out_.account_data)
      if (ev.type == "m.direct")
        out_.direct = parse_direct_content(ev.content());
    out_.to_device = basic_events(body, "to_device", "", true);
    if (const auto* dl = object_field(body, "device_lists")) {
      if (const auto* c = array_field(*dl, "changed"))
        out_.device_lists.changed = string_list(*c);
      if (const auto* l = array_field(*dl, "left"))
        out_.device_lists.left = string_list(*l);
    }
    if (const auto* otk = object_field(body, "device_one_time_keys_count")) {
      for (const auto& [alg, n] : otk->items()) {
        if (auto count = int_value(n))
          out_.one_time_keys_count.emplace(alg, *count);
        else
          skip("device_one_time_keys_count." + alg, "not an integer");
      }
    }
    const auto* fb = find_field(body, "device_unused_fallback_key_types");
    if (fb == nullptr)
      fb = find_field(body, "org.matrix.msc2732.device_unused_fallback_key_types");
    if (fb != nullptr) {
      if (fb->is_array())
        out_.unused_fallback_key_types = string_list(*fb);
      else
        skip("device_unused_fallback_key_types", "not an array");
    }
  }

private:
  static nlohmann::json* find_mut(nlohmann::json& obj, std::string_view key) {
    if (!obj.is_object())
      return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }

  sync_response& out_;
};

std::string prefix_where(std::string where) {
  // Top-level sections are passed with an empty prefix; drop the leading dot.
  if (!where.empty() && where.front() == '.')
    where.erase(0, 1);
  return where;
}

} // namespace

std::optional<std::string> invited_room::inviter(std::string_view own_user_id) const {
  for (const auto& e : invite_state) {
    if (e.type != "m.room.member" || e.state_key != own_user_id)
      continue;
    if (string_field(e.content(), "membership") == "invite")
      return e.sender;
  }
  return std::nullopt;
}

bool invited_room::is_direct(std::string_view own_user_id) const {
  for (const auto& e : invite_state)
    if (e.type == "m.room.member" && e.state_key == own_user_id)
      return bool_field(e.content(), "is_direct").value_or(false);
  return false;
}

result<sync_response> parse_sync(nlohmann::json body) {
  try {
    if (!body.is_object())
      return hm::unexpected{bad_response(200, "sync response is not a JSON object")};
    auto next_batch = string_field(body, "next_batch");
    if (!next_batch)
      return hm::unexpected{bad_response(200, "sync response without a string next_batch")};
    sync_response out;
    out.next_batch = std::move(*next_batch);
    sync_parser p{out};
    p.top_level(body);
    for (auto& s : out.skipped)
      s.where = prefix_where(std::move(s.where));
    return out;
  } catch (const std::exception& e) {
    // Defensive: every access above is type-checked, but bad_alloc on a huge body or a
    // future slip must not escape the module.
    return hm::unexpected{bad_response(200, std::string{"sync response could not be parsed: "} + e.what())};
  }
}

result<sync_response> parse_sync(std::string_view body) {
  std::string why;
  json_limits limits;
  limits.prune_too_deep = true; // one sender's content must not block every sync
  limits.repair_lone_surrogates = true;
  auto j = parse_bounded_json(body, limits, &why);
  if (!j)
    return hm::unexpected{bad_response(200, "sync response: " + why)};
  return parse_sync(std::move(*j));
}

} // namespace hm::matrix

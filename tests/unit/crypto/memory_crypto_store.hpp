#pragma once

// A crypto_store in memory, for the E2EE machine's unit tests: the same contract as
// store/profile_store's SQLite tables (matrix/crypto/crypto_store.hpp), with nothing on
// disk. A commit is checked whole before anything changes, so a failed one changes
// nothing, as a rolled-back transaction does.

#include "matrix/crypto/crypto_store.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace hm::matrix::crypto {

class memory_crypto_store : public crypto_store {
public:
  std::optional<std::string> commit_crypto(const crypto_changes& c) override {
    // A replayed (session, index) refuses the whole commit, as the SQLite store's
    // plain INSERT into its replay log does.
    std::set<std::pair<std::string, int64_t>> fresh;
    for (auto& r : c.replay)
      if (replay_.count({r.session_id, r.message_index}) > 0
          || !fresh.emplace(r.session_id, r.message_index).second)
        return "the message index " + std::to_string(r.message_index) + " of session "
               + r.session_id + " was decrypted before";
    if (c.account)
      account_ = *c.account;
    for (auto& s : c.olm_sessions)
      olm_[{s.sender_key, s.session_id}] = {s, ++clock_};
    for (auto& g : c.inbound) {
      auto key = std::make_tuple(g.room_id, g.session_id, g.sender_key);
      auto i = inbound_.find(key);
      if (i == inbound_.end() || g.first_known_index < i->second.first_known_index)
        inbound_[key] = g;
    }
    for (auto& m : c.backed_up) {
      auto i = inbound_.find(std::make_tuple(m.room_id, m.session_id, m.sender_key));
      if (i != inbound_.end() && i->second.first_known_index == m.first_known_index)
        i->second.backed_up_version = m.version;
    }
    for (auto& room : c.discard_outbound)
      outbound_.erase(room);
    for (auto& o : c.outbound)
      outbound_[o.room_id] = o;
    if (c.devices)
      devices_ = *c.devices;
    for (auto& r : c.replay)
      replay_[{r.session_id, r.message_index}] = r;
    for (auto& p : c.park)
      if (parked_.emplace(p.event_id, p).second)
        park_order_.push_back(p.event_id);
    for (auto& id : c.unpark)
      if (parked_.erase(id) > 0)
        park_order_.erase(std::find(park_order_.begin(), park_order_.end(), id));
    ++commits_;
    return std::nullopt;
  }

  std::optional<crypto_account_row> crypto_account() override { return account_; }

  std::vector<olm_session_row> olm_sessions(const std::string& sender_key) override {
    std::vector<std::pair<uint64_t, olm_session_row>> found;
    for (auto& [k, v] : olm_)
      if (k.first == sender_key)
        found.emplace_back(v.second, v.first);
    std::sort(found.begin(), found.end(),
              [](auto& a, auto& b) { return a.first > b.first; }); // most recently used first
    std::vector<olm_session_row> rows;
    for (auto& f : found)
      rows.push_back(f.second);
    return rows;
  }

  std::vector<inbound_group_row> inbound_group_sessions(const std::string& room_id,
                                                        const std::string& session_id) override {
    std::vector<inbound_group_row> rows;
    for (auto& [k, v] : inbound_)
      if (std::get<0>(k) == room_id && std::get<1>(k) == session_id)
        rows.push_back(v);
    return rows;
  }

  std::vector<inbound_group_row> sessions_to_back_up(const std::string& version,
                                                     size_t limit) override {
    std::vector<inbound_group_row> rows;
    for (auto& [k, v] : inbound_)
      if (v.backed_up_version != version && rows.size() < limit)
        rows.push_back(v);
    return rows;
  }

  std::optional<outbound_group_row> outbound_group_session(const std::string& room_id) override {
    auto i = outbound_.find(room_id);
    if (i == outbound_.end())
      return std::nullopt;
    return i->second;
  }

  std::optional<replay_row> replayed(const std::string& session_id,
                                     int64_t message_index) override {
    auto i = replay_.find({session_id, message_index});
    if (i == replay_.end())
      return std::nullopt;
    return i->second;
  }

  std::optional<std::string> tracked_devices() override { return devices_; }

  std::vector<parked_row> parked(const std::string& session_id = {}) override {
    std::vector<parked_row> rows; // oldest first, as the SQLite store answers
    for (auto& id : park_order_)
      if (auto i = parked_.find(id);
          i != parked_.end() && (session_id.empty() || i->second.session_id == session_id))
        rows.push_back(i->second);
    return rows;
  }

  std::optional<std::string> get(const std::string& key) override {
    auto i = meta_.find(key);
    if (i == meta_.end())
      return std::nullopt;
    return i->second;
  }

  hm::expected<void> put(const std::string& key, const std::string& value) override {
    meta_[key] = value;
    return {};
  }

  /// What a test may look at besides the interface.
  size_t commits() const { return commits_; }
  const std::optional<std::string>& devices() const { return devices_; }

private:
  std::optional<crypto_account_row> account_;
  std::map<std::pair<std::string, std::string>, std::pair<olm_session_row, uint64_t>> olm_;
  std::map<std::tuple<std::string, std::string, std::string>, inbound_group_row> inbound_;
  std::map<std::string, outbound_group_row> outbound_;
  std::optional<std::string> devices_;
  std::map<std::pair<std::string, int64_t>, replay_row> replay_;
  std::map<std::string, parked_row> parked_;
  std::vector<std::string> park_order_; ///< event ids, oldest parked first
  std::map<std::string, std::string> meta_;
  uint64_t clock_ = 0;
  size_t commits_ = 0;
};

} // namespace hm::matrix::crypto

#include "cluster/table.hpp"


#include <algorithm>
#include <utility>

namespace hm {

cluster_table::cluster_table(cluster_rules rules, clock::time_point started)
  : rules_(rules), started_(started) {
}

std::vector<std::string> cluster_table::node_joined(const std::string& node,
                                                   std::vector<profile_offer> offers,
                                                   clock::time_point now) {
  std::vector<std::string> warnings;
  auto& n = nodes_[node];
  n.offers = std::move(offers);
  n.renewed = now;
  n.lost = false;
  for (auto& o : n.offers) {
    auto& p = profiles_[o.profile];
    p.pin = o.pinned_node;
    // Without shared storage a profile's store (its device, its keys) is where
    // it ran before this coordinator knew it: a cluster made of nodes that ran
    // alone, or a coordinator restarted. It runs there (or is carried from
    // there), never afresh on a node without it.
    if (!o.has_store || rules_.shared_storage)
      continue;
    if (p.last_holder.empty())
      p.last_holder = node;
    else if (p.last_holder != node)
      warnings.push_back("node " + node + " also has a store of profile " + o.profile
                         + "; the one on node " + p.last_holder
                         + " is used (a store carried there sets this one aside)");
  }
  return warnings;
}

void cluster_table::node_renewed(const std::string& node, std::vector<profile_status> running,
                                 clock::time_point now) {
  auto i = nodes_.find(node);
  if (i == nodes_.end())
    return;
  i->second.renewed = now;
  ++i->second.renewals;
  i->second.lost = false;
  i->second.running.clear();
  for (auto& st : running)
    i->second.running[st.profile] = std::move(st);
}

bool cluster_table::alive(const std::string& node, clock::time_point now) const {
  auto i = nodes_.find(node);
  return i != nodes_.end() && now < i->second.renewed + rules_.lease;
}

std::vector<lease_grant> cluster_table::grants_of(const std::string& node) const {
  std::vector<lease_grant> out;
  for (auto& [name, p] : profiles_)
    if (p.holder == node && !p.revoking)
      out.push_back({name, p.epoch});
  return out;
}

bool cluster_table::offers(const std::string& node, const std::string& profile) const {
  auto i = nodes_.find(node);
  if (i == nodes_.end())
    return false;
  return std::any_of(i->second.offers.begin(), i->second.offers.end(),
                     [&](const profile_offer& o) { return o.profile == profile; });
}

bool cluster_table::runs_elsewhere(const std::string& profile, const std::string& except,
                                   clock::time_point now) const {
  for (auto& [name, n] : nodes_)
    if (name != except && alive(name, now) && n.running.count(profile) > 0)
      return true;
  return false;
}

size_t cluster_table::load(const std::string& node) const {
  return static_cast<size_t>(std::count_if(profiles_.begin(), profiles_.end(),
                                           [&](auto& kv) { return kv.second.holder == node; }));
}

std::string cluster_table::choose_node(const std::string& profile, profile_entry& p,
                                       clock::time_point now) {
  if (!p.move_to.empty()) {
    auto target = std::exchange(p.move_to, std::string{});
    if (alive(target, now))
      return target;
  }
  if (!p.pin.empty()) {
    bool store_elsewhere = !rules_.shared_storage && !p.last_holder.empty()
                           && p.last_holder != p.pin;
    if (alive(p.pin, now) && (rules_.shared_storage || offers(p.pin, profile))
        && !(store_elsewhere && carry_failed_lately(p, now)))
      return p.pin;
    // Until its node is back (or a failed carry may be tried again), it stays
    // with its store rather than nowhere.
    if (store_elsewhere && alive(p.last_holder, now) && offers(p.last_holder, profile))
      return p.last_holder;
    p.waiting_for = "waiting for node " + p.pin + " (HERMES_MATRIX_NODE)";
    return {};
  }
  // Without shared storage the store lives where the profile last ran.
  if (!rules_.shared_storage && !p.last_holder.empty()) {
    if (alive(p.last_holder, now))
      return p.last_holder;
    p.waiting_for = "waiting for node " + p.last_holder + " (its store is there)";
    return {};
  }
  std::string best;
  for (auto& [name, n] : nodes_) {
    if (!alive(name, now) || !offers(name, profile))
      continue;
    if (best.empty() || load(name) < load(best))
      best = name;
  }
  if (best.empty())
    p.waiting_for = "waiting for a node that can serve it";
  return best;
}

std::vector<std::string> cluster_table::place(clock::time_point now) {
  std::vector<std::string> events;
  for (auto& [name, n] : nodes_) {
    bool is_alive = alive(name, now);
    if (!is_alive && !n.lost) {
      events.push_back("node " + name + " lost: no renewal within the lease");
      ++counts_.nodes_lost;
    }
    n.lost = !is_alive;
  }
  for (auto& [name, p] : profiles_) {
    if (!p.carry_to.empty()) {
      check_carry(name, p, now, events);
      if (!p.carry_to.empty())
        continue;
    }
    if (!p.holder.empty()) {
      if (!alive(p.holder, now)) {
        if (!rules_.shared_storage) {
          p.waiting_for = "waiting for node " + p.holder;
          continue;
        }
        events.push_back("profile " + name + ": lease of lost node " + p.holder
                         + " expired; placing it again");
        ++counts_.failovers;
        p.holder.clear();
        p.revoking = false;
      } else if (p.revoking && nodes_[p.holder].running.count(name) == 0
                 && nodes_[p.holder].renewals >= p.granted_at_renewal + 2) {
        events.push_back("profile " + name + " released by node " + p.holder);
        p.holder.clear();
        p.revoking = false;
      } else {
        continue;
      }
    }
    if (now < started_ + rules_.settle) {
      p.waiting_for = "waiting for nodes to join";
      continue;
    }
    auto target = choose_node(name, p, now);
    if (target.empty())
      continue;
    if (runs_elsewhere(name, target, now)) {
      p.waiting_for = "waiting for another node to stop it";
      continue;
    }
    if (start_carry(name, p, target, now, events))
      continue;
    p.holder = target;
    p.last_holder = target;
    p.granted_at_renewal = nodes_[target].renewals;
    p.epoch = next_epoch_++;
    ++counts_.grants;
    p.waiting_for.clear();
    events.push_back("profile " + name + " placed on node " + target + " (lease epoch "
                     + std::to_string(p.epoch) + ")");
  }
  rebalance(now, events);
  return events;
}

void cluster_table::rebalance(clock::time_point now, std::vector<std::string>& events) {
  // One move at a time: a profile is interrupted once, and the next move is
  // decided on the load that results.
  if (move_under_way())
    return;
  // The target is named so that, without shared storage, the store is carried
  // there (else the profile would go back to where its store is).
  auto revoke = [&](const std::string& name, profile_entry& p, const std::string& target,
                    const std::string& why) {
    p.revoking = true;
    p.move_to = target;
    ++counts_.moves;
    events.push_back("profile " + name + ": moving off node " + p.holder + " (" + why + ")");
  };
  for (auto& [name, p] : profiles_)
    if (!p.holder.empty() && !p.pin.empty() && p.pin != p.holder && alive(p.pin, now)
        && (rules_.shared_storage || offers(p.pin, name)) && !carry_failed_lately(p, now)) {
      revoke(name, p, p.pin, "pinned to node " + p.pin + ", which is back");
      return;
    }
  // Without shared storage the move carries the store over.
  std::string most, least;
  for (auto& [name, n] : nodes_) {
    if (!alive(name, now))
      continue;
    if (most.empty() || load(name) > load(most))
      most = name;
    if (least.empty() || load(name) < load(least))
      least = name;
  }
  if (most.empty() || load(most) < load(least) + 2)
    return;
  for (auto& [name, p] : profiles_)
    if (p.holder == most && p.pin.empty() && offers(least, name) && !carry_failed_lately(p, now)) {
      revoke(name, p, least, "node " + least + " has less load");
      return;
    }
}

std::string cluster_table::move(const std::string& profile, const std::string& node,
                                clock::time_point now) {
  auto i = profiles_.find(profile);
  if (i == profiles_.end())
    return "no node offers a profile named " + profile;
  auto& p = i->second;
  if (!alive(node, now) || !offers(node, profile))
    return "node " + node + " is not in the cluster or cannot serve " + profile;
  if (!p.pin.empty() && p.pin != node)
    return profile + " is pinned to node " + p.pin + " (HERMES_MATRIX_NODE)";
  if (p.holder == node && !p.revoking)
    return profile + " already runs on node " + node;
  if (move_under_way())
    return "another move is under way; try again in a moment";
  const auto& store_node = p.holder.empty() ? p.last_holder : p.holder;
  if (!rules_.shared_storage && !store_node.empty() && store_node != node
      && !alive(store_node, now))
    return "its store is on node " + store_node + ", which is not in the cluster";
  p.move_to = node;
  if (!p.holder.empty()) {
    p.revoking = true; // released on the holder's next renewal without it
    ++counts_.moves;
  }
  return {};
}

bool cluster_table::move_under_way() const {
  return std::any_of(profiles_.begin(), profiles_.end(), [](auto& kv) {
    return kv.second.revoking || !kv.second.carry_to.empty();
  });
}

bool cluster_table::carry_failed_lately(const profile_entry& p, clock::time_point now) const {
  return p.carry_failed_at && now < *p.carry_failed_at + rules_.carry_limit;
}

bool cluster_table::start_carry(const std::string& name, profile_entry& p,
                                const std::string& target, clock::time_point now,
                                std::vector<std::string>& events) {
  if (rules_.shared_storage || p.last_holder.empty() || p.last_holder == target)
    return false;
  if (!alive(p.last_holder, now)) {
    p.waiting_for = "waiting for node " + p.last_holder + " (its store is there)";
    return true;
  }
  p.carry_to = target;
  p.carry_epoch = next_epoch_++;
  p.carry_started = now;
  p.waiting_for = "its store is being carried from node " + p.last_holder + " to node " + target;
  events.push_back("profile " + name + ": carrying its store from node " + p.last_holder
                   + " to node " + target + " (lease epoch " + std::to_string(p.carry_epoch)
                   + ")");
  return true;
}

void cluster_table::check_carry(const std::string& name, profile_entry& p, clock::time_point now,
                                std::vector<std::string>& events) {
  std::string why;
  if (!alive(p.carry_to, now))
    why = "node " + p.carry_to + " is gone";
  else if (!alive(p.last_holder, now))
    why = "node " + p.last_holder + " is gone";
  else if (now >= p.carry_started + rules_.carry_limit)
    why = "not done in time";
  if (!why.empty())
    carry_failed(name, p.carry_epoch, why, now, events);
}

std::vector<std::string> cluster_table::drains_of(const std::string& node) const {
  std::vector<std::string> out;
  for (auto& [name, p] : profiles_)
    if (p.holder == node && p.revoking)
      out.push_back(name);
  return out;
}

std::vector<store_order> cluster_table::carries_of(const std::string& node) const {
  std::vector<store_order> out;
  for (auto& [name, p] : profiles_)
    if (!p.carry_to.empty() && p.last_holder == node)
      out.push_back({name, p.carry_epoch, p.carry_to});
  return out;
}

std::string cluster_table::carry_target(const std::string& profile, uint64_t epoch,
                                        const std::string& from) const {
  auto i = profiles_.find(profile);
  if (i == profiles_.end() || i->second.carry_to.empty() || i->second.carry_epoch != epoch
      || i->second.last_holder != from)
    return {};
  return i->second.carry_to;
}

bool cluster_table::carried(const std::string& profile, uint64_t epoch, clock::time_point now) {
  auto i = profiles_.find(profile);
  if (i == profiles_.end() || i->second.carry_to.empty() || i->second.carry_epoch != epoch
      || !alive(i->second.carry_to, now))
    return false;
  auto& p = i->second;
  p.holder = p.carry_to;
  p.last_holder = p.carry_to;
  p.granted_at_renewal = nodes_[p.carry_to].renewals;
  p.epoch = p.carry_epoch;
  p.carry_to.clear();
  p.waiting_for.clear();
  p.carry_failed_at.reset();
  return true;
}

void cluster_table::carry_failed(const std::string& profile, uint64_t epoch,
                                 const std::string& why, clock::time_point now,
                                 std::vector<std::string>& events) {
  auto i = profiles_.find(profile);
  if (i == profiles_.end() || i->second.carry_to.empty() || i->second.carry_epoch != epoch)
    return;
  auto& p = i->second;
  events.push_back("profile " + profile + ": carrying its store to node " + p.carry_to
                   + " failed (" + why + "); it stays with node " + p.last_holder);
  p.carry_to.clear();
  p.carry_failed_at = now;
}

std::vector<profile_status> cluster_table::status(clock::time_point now) const {
  std::vector<profile_status> out;
  for (auto& [name, p] : profiles_) {
    profile_status st;
    st.profile = name;
    if (!p.holder.empty() && alive(p.holder, now)) {
      auto& running = nodes_.at(p.holder).running;
      if (auto i = running.find(name); i != running.end())
        st = i->second;
      else
        st.state = profile_state::starting;
      st.node = p.holder;
    } else {
      st.state = profile_state::waiting;
      st.last_error = p.waiting_for;
      st.node = p.holder.empty() ? p.last_holder : p.holder;
    }
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<node_view> cluster_table::nodes(clock::time_point now) const {
  std::vector<node_view> out;
  for (auto& [name, n] : nodes_) {
    node_view v;
    v.name = name;
    v.alive = alive(name, now);
    v.leases = static_cast<uint32_t>(load(name));
    v.since_renewal = std::chrono::duration_cast<std::chrono::nanoseconds>(now - n.renewed);
    out.push_back(std::move(v));
  }
  return out;
}

notify_route cluster_table::route(const std::string& profile, clock::time_point now) const {
  notify_route r;
  auto i = profiles_.find(profile);
  if (i == profiles_.end())
    return r;
  r.known = true;
  auto& p = i->second;
  if (p.revoking)
    r.why = "it is moving off node " + p.holder + "; try again in a moment";
  else if (p.holder.empty())
    r.why = p.waiting_for.empty() ? std::string{"it is not placed yet"} : p.waiting_for;
  else if (!alive(p.holder, now))
    r.why = "its node " + p.holder + " is lost";
  else
    r.node = p.holder;
  return r;
}

} // namespace hm

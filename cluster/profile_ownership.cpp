#include "cluster/profile_ownership.hpp"

#include "matrix/bounded_json.hpp"

#include <algorithm>

namespace hm {

namespace {

using etcd::compare;
using nlohmann::json;

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 128
         && std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                     || c == '-' || c == '_' || c == '.';
            });
}

// FNV-1a: small, stable across builds and hosts (std::hash is neither promised).
std::uint64_t spread_hash(std::string_view profile, std::string_view node) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(profile);
  mix(std::string_view{"\0", 1});
  mix(node);
  return h;
}

std::optional<node_record> read_node_record(std::string_view name, const std::string& value) {
  auto doc = matrix::parse_bounded_json(value, matrix::json_limits{.max_depth = 8,
                                                                     .max_bytes = 1u << 20});
  if (!doc || !doc->is_object())
    return std::nullopt;
  node_record r;
  r.node = std::string{name};
  if (auto* offers = matrix::array_field(*doc, "offers")) {
    for (auto& o : *offers) {
      if (!o.is_object())
        return std::nullopt;
      auto profile = matrix::string_field(o, "profile");
      if (!profile || !valid_name(*profile))
        return std::nullopt;
      r.offers.push_back({*profile, matrix::string_field(o, "pin").value_or(""),
                          matrix::bool_field(o, "has_store").value_or(false)});
    }
  }
  return r;
}

} // namespace

std::optional<cluster_keys> cluster_keys::make(std::string_view cluster, std::string& why) {
  if (!valid_name(cluster)) {
    why = "a cluster name is 1 to 128 letters, digits, '-', '_' or '.'";
    return std::nullopt;
  }
  return cluster_keys{std::string{cluster}};
}

std::string cluster_keys::node_key(std::string_view node) const {
  return nodes_prefix() + std::string{node};
}

std::string cluster_keys::owner_key(std::string_view profile) const {
  return owners_prefix() + std::string{profile};
}

// ---- membership ----

std::string node_record_value(const node_record& self) {
  auto offers = json::array();
  for (auto& o : self.offers)
    offers.push_back({{"profile", o.profile}, {"pin", o.pin}, {"has_store", o.has_store}});
  return json{{"offers", offers}}.dump();
}

etcd::request join(const cluster_keys& keys, const node_record& self, std::int64_t lease) {
  return etcd::put(keys.node_key(self.node), node_record_value(self), lease);
}

etcd::request read_cluster(const cluster_keys& keys) {
  return etcd::range_prefix(keys.root());
}

etcd::result<cluster_view> parse_cluster(const cluster_keys& keys, const etcd::answer& a) {
  auto range = etcd::parse_range(a);
  if (!range)
    return hm::unexpected{range.error()};
  cluster_view view;
  view.revision = range->revision;
  auto nodes = keys.nodes_prefix();
  auto owners = keys.owners_prefix();
  for (auto& kv : range->kvs) {
    if (kv.key.starts_with(nodes)) {
      auto name = std::string_view{kv.key}.substr(nodes.size());
      auto record = valid_name(name) ? read_node_record(name, kv.value) : std::nullopt;
      if (!record) {
        view.unreadable.push_back("the node record " + kv.key + " cannot be read");
        continue;
      }
      record->lease = kv.lease;
      view.nodes.emplace(record->node, std::move(*record));
    } else if (kv.key.starts_with(owners)) {
      auto profile = std::string_view{kv.key}.substr(owners.size());
      if (!valid_name(profile) || !valid_name(kv.value)) {
        view.unreadable.push_back("the owner key " + kv.key + " cannot be read");
        continue;
      }
      view.owners.emplace(std::string{profile},
                          ownership{std::string{profile}, kv.value, kv.create_revision, kv.lease});
    }
  }
  return view;
}

// ---- ownership ----

etcd::request claim(const cluster_keys& keys, std::string_view profile, std::string_view node,
                    std::int64_t lease) {
  auto key = keys.owner_key(profile);
  compare absent{compare::target::create_revision, compare::relation::equal, key, 0, {}};
  // The range after the put reads the key the put made (etcd applies a branch's
  // operations in order), which gives the new epoch in the same round trip.
  return etcd::txn({absent}, {etcd::op_put(key, std::string{node}, lease), etcd::op_range(key)},
                   {etcd::op_range(key)});
}

etcd::result<claim_result> parse_claim(const etcd::answer& a, std::string_view profile,
                                       std::string_view node, std::int64_t lease) {
  auto txn = etcd::parse_txn(a);
  if (!txn)
    return hm::unexpected{txn.error()};
  claim_result out;
  if (txn->ranges.size() != 1)
    return hm::unexpected{etcd::error{etcd::error_kind::bad_response, a.status, 0,
                       "the claim's answer has no read of the owner key"}};
  auto& kvs = txn->ranges.front().kvs;
  if (kvs.empty()) {
    out.result = claim_result::outcome::vanished;
    return out;
  }
  auto& kv = kvs.front();
  out.owner = ownership{std::string{profile}, kv.value, kv.create_revision, kv.lease};
  if (kv.value != node)
    out.result = claim_result::outcome::taken;
  else if (kv.lease == lease && lease != 0)
    out.result = claim_result::outcome::owned;
  else
    out.result = claim_result::outcome::stale_ours;
  return out;
}

etcd::request take_back(const cluster_keys& keys, std::string_view profile,
                        std::string_view node, std::int64_t epoch) {
  auto key = keys.owner_key(profile);
  return etcd::txn({compare{compare::target::create_revision, compare::relation::equal, key,
                            epoch, {}},
                    compare{compare::target::value, compare::relation::equal, key, 0,
                            std::string{node}}},
                   {etcd::op_delete(key)}, {});
}

etcd::request release(const cluster_keys& keys, std::string_view profile, std::int64_t epoch) {
  auto key = keys.owner_key(profile);
  return etcd::txn({compare{compare::target::create_revision, compare::relation::equal, key,
                            epoch, {}}},
                   {etcd::op_delete(key)}, {});
}

etcd::result<bool> parse_release(const etcd::answer& a) {
  auto txn = etcd::parse_txn(a);
  if (!txn)
    return hm::unexpected{txn.error()};
  return txn->succeeded;
}

// ---- placement ----

std::map<std::string, std::string> place(const cluster_view& view) {
  // Which nodes offer each profile, and how.
  struct offer_of {
    std::string node;
    std::string pin;
    bool has_store = false;
  };
  std::map<std::string, std::vector<offer_of>> offered;
  for (auto& [name, record] : view.nodes)
    for (auto& o : record.offers)
      offered[o.profile].push_back({name, o.pin, o.has_store});

  std::map<std::string, std::string> out;
  std::map<std::string, std::size_t> load;
  for (auto& [name, record] : view.nodes)
    load[name] = 0;
  auto offers = [&](const std::vector<offer_of>& list, const std::string& node) {
    return std::any_of(list.begin(), list.end(), [&](auto& o) { return o.node == node; });
  };

  // First what is decided without a choice (pins, current owners), so that the load the
  // free profiles are balanced against is known; then the free ones, in name order.
  std::vector<std::string> free;
  for (auto& [profile, list] : offered) {
    std::string pin;
    for (auto& o : list)
      if (!o.pin.empty())
        pin = o.pin;
    if (!pin.empty()) {
      if (view.nodes.contains(pin) && offers(list, pin)) {
        out[profile] = pin;
        ++load[pin];
      }
      continue;
    }
    auto owner = view.owners.find(profile);
    if (owner != view.owners.end() && view.nodes.contains(owner->second.node)
        && offers(list, owner->second.node)) {
      out[profile] = owner->second.node;
      ++load[owner->second.node];
      continue;
    }
    free.push_back(profile);
  }
  for (auto& profile : free) {
    auto& list = offered[profile];
    bool any_store = std::any_of(list.begin(), list.end(), [](auto& o) { return o.has_store; });
    const offer_of* best = nullptr;
    for (auto& o : list) {
      if (any_store && !o.has_store)
        continue;
      if (!best || load[o.node] < load[best->node]
          || (load[o.node] == load[best->node]
              && spread_hash(profile, o.node) > spread_hash(profile, best->node)))
        best = &o;
    }
    if (best) {
      out[profile] = best->node;
      ++load[best->node];
    }
  }
  return out;
}

} // namespace hm

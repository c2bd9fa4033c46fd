#pragma once

// The lease table under test: a start time, rules with short leases, and the
// small helpers the cluster_table and cluster_observe suites both use.

#include "cluster/table.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace hm {

struct cluster_table_fixture {
  using clock_type = std::chrono::steady_clock;

  clock_type::time_point t0 = clock_type::now();
  cluster_rules rules;

  cluster_table_fixture() {
    using namespace std::chrono_literals;
    rules.lease = 10s;
    rules.settle = 1s;
    rules.shared_storage = true;
  }

  /// Offers of `names`, the first pinned to `pin_of_first` (empty: anywhere).
  static std::vector<profile_offer> offers(std::initializer_list<const char*> names,
                                           std::string pin_of_first = {}) {
    std::vector<profile_offer> out;
    for (auto* n : names)
      out.push_back({n, out.empty() ? pin_of_first : std::string{}});
    return out;
  }

  static std::string holder(const cluster_table& t, const std::string& profile,
                            clock_type::time_point now) {
    for (auto& st : t.status(now))
      if (st.profile == profile && st.state != profile_state::waiting)
        return st.node;
    return {};
  }

  static bool granted(const cluster_table& t, const std::string& node,
                      const std::string& profile) {
    auto grants = t.grants_of(node);
    return std::any_of(grants.begin(), grants.end(),
                       [&](const lease_grant& g) { return g.profile == profile; });
  }

  static profile_status running(const std::string& profile) {
    profile_status st;
    st.profile = profile;
    st.state = profile_state::running;
    return st;
  }
};

} // namespace hm

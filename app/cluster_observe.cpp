#include "app/cluster_observe.hpp"

#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>

namespace hm {

namespace {

/// The coordinator gives each node 1 s; this bounds the whole scrape beyond that.
constexpr auto scrape_timeout = std::chrono::seconds{3};

} // namespace

std::string metrics_node_name(const cluster_options& options) {
  if (!options.enabled())
    return {};
  if (!options.node_name.empty())
    return options.node_name;
  return options.listen.empty() ? std::string{} : std::string{"coordinator"};
}

metrics::cluster_scrape::source coordinator_metrics_source(caf::actor_system& sys,
                                                           coordinator_actor coordinator) {
  return [&sys, coordinator] {
    std::vector<metrics_snapshot> out;
    caf::scoped_actor self{sys};
    self->request(coordinator, scrape_timeout, atom::metrics_v)
      .receive([&](std::vector<metrics_snapshot>& got) { out = std::move(got); },
               [&](caf::error& err) {
                 spdlog::warn("metrics: the coordinator did not answer the scrape: {}",
                              error_text(err));
               });
    return out;
  };
}

} // namespace hm

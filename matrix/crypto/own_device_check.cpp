#include "matrix/crypto/own_device_check.hpp"

#include "matrix/crypto/device_tracker.hpp"

namespace hm::matrix::crypto {

namespace {

/// A tracker of our user alone, with the query for it in flight.
device_tracker own_tracker(const own_device& self, std::vector<std::string>& queried,
                           std::optional<http_request>& query) {
  device_tracker tracker;
  tracker.track(self.user_id);
  query = tracker.next_query(queried);
  return tracker;
}

} // namespace

http_request own_device_query(const own_device& self) {
  std::vector<std::string> queried;
  std::optional<http_request> query;
  own_tracker(self, queried, query);
  return std::move(*query); // one tracked, outdated user: there is always a query
}

result<own_device_on_server> check_own_device(const http_response& answer,
                                              const own_device& self,
                                              const identity_keys& ours) {
  std::vector<std::string> queried;
  std::optional<http_request> query;
  auto tracker = own_tracker(self, queried, query);
  auto outcome = tracker.apply_query_response(answer, queried);
  if (!outcome)
    return hm::unexpected{outcome.error()};
  for (auto& r : outcome->rejected)
    if (r.user_id == self.user_id && r.device_id == self.device_id)
      return own_device_on_server{own_device_on_server::state::other, r.reason};
  if (auto* devices = tracker.devices(self.user_id))
    if (auto i = devices->find(self.device_id); i != devices->end()) {
      if (i->second.curve25519 != ours.curve25519 || i->second.ed25519 != ours.ed25519)
        return own_device_on_server{own_device_on_server::state::other, "identity keys differ"};
      return own_device_on_server{own_device_on_server::state::ours, ""};
    }
  return own_device_on_server{};
}

} // namespace hm::matrix::crypto

#pragma once

// Answers recorded from a real etcd 3.4 (etcd_answers/record.py), read back for the
// parsers and machines under test.

#include "cluster/etcd_requests.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace hm::test {

struct recorded_answer {
  int status = 0;
  std::string body;
  [[nodiscard]] etcd::answer view() const { return {status, body, {}}; }
};

/// etcd_answers/NAME.json: {"status": ..., "body": "..."}.
inline recorded_answer recorded(const std::string& name) {
  std::ifstream in{std::string{HM_ETCD_ANSWERS_DIR} + "/" + name + ".json"};
  if (!in)
    throw std::runtime_error("no recorded etcd answer " + name);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::json::parse(text.str());
  return {doc.at("status").get<int>(), doc.at("body").get<std::string>()};
}

/// The lease ID of the recorded grant: the lease every other recording used.
inline std::int64_t recorded_lease_id() {
  auto doc = nlohmann::json::parse(recorded("lease_grant").body);
  return std::stoll(doc.at("ID").get<std::string>());
}

} // namespace hm::test

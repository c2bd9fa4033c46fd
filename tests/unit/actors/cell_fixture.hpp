#pragma once
// What the suites of a cell's actors share: CAF's deterministic scheduler, a fresh
// profile store, a logger whose lines (debug and up) the test can read, the profile's
// metrics, stepping virtual time, and the http engine as a suite scripts it. Include
// after the CAF test headers (CAF_FAIL).

#include "messages/interfaces.hpp"
#include "metrics/node_metrics.hpp"
#include "store/profile_store.hpp"

#include "caf/test/dsl.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <sstream>
#include <string>

#include "store_fixture.hpp"

namespace hm::test {

/// A 200 answer with `body`.
inline http_result http_ok(const nlohmann::json& body) {
  http_result r;
  r.status = 200;
  r.body = body.dump();
  return r;
}

/// A Matrix error answer (`extra` adds fields such as retry_after_ms).
inline http_result http_error(int status, const std::string& errcode,
                              nlohmann::json extra = nlohmann::json::object()) {
  http_result r;
  r.status = status;
  extra["errcode"] = errcode;
  extra["error"] = "scripted";
  r.body = extra.dump();
  return r;
}

/// The http engine as a suite scripts it: `answer` answers each call (the answer's id
/// is set here), `stream` takes streamed calls; cancels and status do nothing.
inline http_engine_actor::behavior_type
scripted_http(std::function<http_result(http_call&)> answer,
              std::function<void(http_call&, http_stream_sink_actor&)> stream = {}) {
  return {
    [answer](http_call& call) {
      auto res = answer(call);
      res.id = call.id;
      return res;
    },
    [stream](http_call& call, http_stream_sink_actor& sink) {
      if (stream)
        stream(call, sink);
    },
    [](atom::cancel, uint64_t) {},
    [](atom::status) { return uint64_t{0}; },
  };
}

struct cell_fixture : test_coordinator_fixture<>, store_fixture {
  std::ostringstream log_text;
  std::shared_ptr<spdlog::logger> log;
  metrics::node_metrics node_metrics;
  std::shared_ptr<metrics::profile_metrics> metrics
    = std::make_shared<metrics::profile_metrics>(node_metrics, "coder");
  std::shared_ptr<profile_store> store;

  /// `name` keeps the suites' store directories apart.
  explicit cell_fixture(const std::string& name) : store_fixture(name) {
    log = std::make_shared<spdlog::logger>(
      "coder", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text));
    log->set_level(spdlog::level::debug);
    store = open_ok(path);
  }

  /// Every message that can be handled now, and the delayed ones due now.
  void settle() {
    while (consume_messages() + advance_time(caf::timespan{0}) > 0) {
    }
  }

  /// Lets `d` of virtual time pass in steps of 100 ms (timers fire when due).
  void pass(caf::timespan d) {
    constexpr caf::timespan step = std::chrono::milliseconds{100};
    for (caf::timespan t{0}; t < d; t += step) {
      advance_time(step);
      settle();
    }
  }

  bool logged(const std::string& what) const {
    return log_text.str().find(what) != std::string::npos;
  }
};

} // namespace hm::test

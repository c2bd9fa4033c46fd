#include "actors/http/engine.hpp"

#include "actors/http/curl_thread.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace hm {

namespace {

/// The engine as spawned: the contract plus the curl thread's reports.
/// Results go through the engine rather than straight from the curl thread:
/// promises are then touched only by the actor that made them, the engine
/// knows which requesters still have calls, and a streamed result still comes
/// after its chunks (the curl thread enqueued them before it reported the end).
using engine_actor = http_engine_actor::extend<
  // Internal: the call with this serial ended (sent by the curl thread).
  caf::reacts_to<uint64_t, http_result>>;

/// How the curl thread reaches the engine's mailbox. It holds a plain pointer,
/// not a handle: a handle owned by the curl thread could be the engine's last
/// reference, and the engine would then terminate on the curl thread and wait
/// for itself to stop. The engine closes this before its state goes away.
class engine_mailbox {
public:
  explicit engine_mailbox(caf::abstract_actor* engine) : engine_(engine) {}

  void post(uint64_t serial, http_result result) {
    std::lock_guard guard{mutex_};
    if (engine_ != nullptr) // enqueueing is thread-safe; no execution unit here
      engine_->enqueue(nullptr, caf::make_message_id(),
                       caf::make_message(serial, std::move(result)), nullptr);
  }

  void close() {
    std::lock_guard guard{mutex_};
    engine_ = nullptr;
  }

private:
  std::mutex mutex_;
  caf::abstract_actor* engine_;
};

/// A call between its arrival and its result.
struct pending_call {
  caf::actor_addr requester;
  uint64_t id = 0;
  caf::typed_response_promise<http_result> promise; // replies_to calls
  http_stream_sink_actor sink;                       // streamed calls
};

void deliver(pending_call& call, http_result result) {
  if (call.sink)
    caf::anon_send(call.sink, std::move(result));
  else if (call.promise.pending())
    call.promise.deliver(std::move(result));
}

struct engine_state {
  std::shared_ptr<engine_mailbox> mailbox;
  std::unique_ptr<curl_thread> curl;
  std::unordered_map<uint64_t, pending_call> pending; // by serial
  /// Requesters with calls in flight (monitored) and how many each has.
  std::map<caf::actor_addr, size_t> calls_of;
  uint64_t next_serial = 1;

  ~engine_state() {
    if (!curl)
      return; // the behaviour failed before the thread started
    mailbox->close();
    // Joins the thread on this scheduler thread; that takes one loop turn,
    // since curl_multi_wakeup cuts the thread's only wait short.
    curl.reset();
    for (auto& [serial, call] : pending) {
      http_result result;
      result.id = call.id;
      result.error = "the http engine is shutting down";
      deliver(call, std::move(result));
    }
  }

  static inline const char* name = "http_engine";
};

using engine_pointer = engine_actor::stateful_pointer<engine_state>;

/// Hands the current message's call to the curl thread.
pending_call& admit(engine_pointer self, http_call call, http_stream_sink_actor sink) {
  auto& st = self->state;
  auto serial = st.next_serial++;
  auto requester = caf::actor_cast<caf::actor_addr>(self->current_sender());
  if (requester && st.calls_of[requester]++ == 0)
    self->monitor(requester); // its calls end when it does
  auto& entry = st.pending[serial];
  entry.requester = requester;
  entry.id = call.id;
  entry.sink = sink;
  st.curl->submit(curl_job{serial, std::move(call), std::move(sink),
                           std::chrono::steady_clock::now()});
  return entry;
}

void cancel_where(engine_pointer self, const caf::actor_addr& requester,
                  const uint64_t* id) {
  for (auto& [serial, call] : self->state.pending)
    if (call.requester == requester && (id == nullptr || call.id == *id))
      self->state.curl->cancel(serial);
}

engine_actor::behavior_type http_engine(engine_pointer self, http_engine_options options) {
  auto mailbox = std::make_shared<engine_mailbox>(caf::actor_cast<caf::abstract_actor*>(self));
  self->state.mailbox = mailbox;
  self->state.curl = std::make_unique<curl_thread>(
    options, [mailbox](uint64_t serial, http_result result) {
      mailbox->post(serial, std::move(result));
    });
  self->set_down_handler([self](caf::down_msg& msg) {
    self->state.calls_of.erase(msg.source);
    cancel_where(self, msg.source, nullptr);
  });
  return {
    [self](http_call& call) {
      // admit() first: making the promise takes the sender out of the message.
      auto& entry = admit(self, std::move(call), http_stream_sink_actor{});
      entry.promise = self->make_response_promise<http_result>();
      return entry.promise;
    },
    [self](http_call& call, http_stream_sink_actor& sink) {
      admit(self, std::move(call), std::move(sink));
    },
    [self](atom::cancel, uint64_t id) {
      auto requester = caf::actor_cast<caf::actor_addr>(self->current_sender());
      if (requester)
        cancel_where(self, requester, &id);
    },
    [self](atom::status) { return static_cast<uint64_t>(self->state.pending.size()); },
    [self](uint64_t serial, http_result& result) {
      auto& st = self->state;
      auto i = st.pending.find(serial);
      if (i == st.pending.end())
        return;
      deliver(i->second, std::move(result));
      auto requester = i->second.requester;
      st.pending.erase(i);
      auto n = st.calls_of.find(requester);
      if (n != st.calls_of.end() && --n->second == 0) {
        st.calls_of.erase(n);
        self->demonitor(requester);
      }
    },
  };
}

} // namespace

http_engine_actor spawn_http_engine(caf::actor_system& sys, http_engine_options options) {
  // Once per process. Since libcurl 7.84 this is thread-safe, so it need not
  // run before the actor system's threads exist.
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (init != CURLE_OK)
    throw std::runtime_error{std::string{"libcurl failed to initialise: "}
                             + curl_easy_strerror(init)};
  return sys.spawn(http_engine, options);
}

} // namespace hm

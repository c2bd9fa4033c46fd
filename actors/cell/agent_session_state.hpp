#pragma once

// What an agent session holds, shared by agent_session.cpp (turns, chat completions,
// the room) and agent_session_runs.cpp (Hermes' runs API: runs, approvals, stop,
// following a run after a restart). Not a header for anything else.

#include "actors/cell/agent_call.hpp"
#include "actors/cell/agent_session.hpp"

#include "agent/capabilities.hpp"
#include "agent/chat_request.hpp"
#include "agent/chat_stream.hpp"
#include "agent/reply_text.hpp"
#include "agent/runs.hpp"

#include <caf/actor_clock.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace hm::agent_session_detail {

using namespace std::chrono_literals;

/// Typing notices expire; refresh before they do.
constexpr auto typing_refresh = std::chrono::seconds{20};
/// The whole turn, however chatty the backend is.
constexpr auto turn_limit = std::chrono::minutes{30};
constexpr size_t history_kept = 40;
/// How often a running turn publishes its growing text (the outbox spaces the
/// edits a second apart per room anyway): the first text is visible within this.
constexpr auto tick_interval = std::chrono::milliseconds{500};
/// A conversation nobody has spoken in for this long ends; its actor and
/// history go (auto-threading makes a new conversation per thread, so they
/// must not pile up over months). The next message starts it afresh.
constexpr auto idle_limit = std::chrono::minutes{30};

/// A backend that answers 429 (Hermes: "Too many concurrent runs", Retry-After: 1) is
/// asked again after what it says, within these bounds per wait; the whole wait of a
/// turn is bounded by the silence limit.
constexpr auto busy_wait_min = std::chrono::seconds{1};
constexpr auto busy_wait_max = std::chrono::seconds{30};

/// An approval the agent waits for, with its prompt in the room.
struct pending_approval {
  agent::approval_request request;
  std::string prompt_txn;  // the prompt message (reactions name it)
  std::string prompt_text; // its Markdown, kept for the edit that shows the outcome
  unsigned number = 0;     // the how-many-th prompt of the turn
  caf::actor_clock::time_point deadline;
  bool answering = false;  // an answer is on its way to the server
  std::string outcome;     // what the prompt will say of that answer ("✅ Approved once by ...")
};

/// The turn being answered.
struct running_turn {
  agent_turn turn;
  uint64_t call_id = 0;
  http_call call;              // the backend request, as sent (again after a 429)
  agent::chat_stream_decoder decoder;
  std::string text;            // the reply so far
  std::optional<agent::finish> finished;
  agent::tool_activity tools;  // shown while no text has come
  std::optional<caf::actor_clock::time_point> ask_again_at; // after a 429
  caf::timespan busy_waited{0};
  bool initial_sent = false;   // the first message of the reply is queued
  std::string first_text;      // the text of that first message
  std::string published;       // the text last handed to the outbox
  std::string raw_head;        // the first bytes as sent: an error body, if the status says so
  int64_t started_unix_ms = 0; // when this gateway began answering
  std::chrono::steady_clock::time_point requested; // when the backend was asked (metrics)
  caf::actor_clock::time_point last_data;
  caf::actor_clock::time_point last_typing;
  bool interrupted = false;

  // Through Hermes' runs API (agent_session_runs.cpp):
  bool runs = false;                     // this turn is a run on the server
  std::string run_id;                    // once the server started it
  agent::run_stream_decoder run_decoder; // its event stream
  std::optional<agent::run_end> run_ended;
  std::optional<pending_approval> approval;
  unsigned approvals = 0;                // prompts posted in this turn
  /// Following the run by its status (its event stream is gone: a restart, a cut):
  /// when to ask next, and whether a request is out.
  std::optional<caf::actor_clock::time_point> poll_at;
  bool polling = false;
  bool repost = false;                   // the 429 being waited out was the POST's

  // The files the reply names (MEDIA: lines, issue 15): its final text waits for them.
  bool media_checked = false;            // the final text was looked at once
  struct final_words {
    std::string text;
    journal_outcome outcome;
    bool ok = false;
  };
  std::optional<final_words> awaiting_files; // the files are on their way
};

struct session_state {
  agent_session_config config;
  homeserver_link link; ///< for the files a reply sends (uploads)
  http_engine_actor engine;
  outbox_actor outbox;
  profile_cell_actor cell;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<metrics::profile_metrics> metrics;
  std::vector<agent::chat_message> history;
  std::deque<agent_turn> waiting;
  std::optional<running_turn> current;
  /// What the backend said of itself (GET /v1/capabilities); unknown until it answered,
  /// and again after a turn the backend failed (it may have been replaced).
  std::optional<agent::backend_capabilities> backend;
  caf::actor_clock::time_point last_activity;
  uint64_t next_call = 1;
  unsigned generation = 0; // bumped by /new: a new agent session id
  static inline const char* name = "agent_session";
};

using session_pointer = agent_session_actor::stateful_pointer<session_state>;


// -- agent_session.cpp ------------------------------------------------------------

std::string reply_txn(const agent_turn& t);
/// The content of one message of the reply, in the turn's thread or as a reply.
std::string message_content(session_pointer self, const agent_turn& t, std::string body);
/// An edit of a message of ours; the outbox fills in its event id.
std::string edit_json(session_pointer self, const agent_turn& t, std::string body);
void send_durable(session_pointer self, outgoing_event ev);
/// The agent session id of the conversation now (a new one after each /new).
std::string session_id_of(const session_state& st);
/// A piece of the reply's text arrived (the first one is timed for the metrics).
void add_reply_text(session_pointer self, const std::string& text);
/// Sends the running turn's streamed call (again after a 429).
void send_turn_request(session_pointer self);
void finish_turn(session_pointer self, std::string final_text, const journal_outcome& outcome,
                 bool ok);
/// Ends the running turn early (interrupt, /stop, silent backend).
void abandon(session_pointer self, const std::string& note, const journal_outcome& outcome);

// -- agent_session_runs.cpp ---------------------------------------------------------

/// Starts the running turn as a run (or follows the run the journal names).
void start_run(session_pointer self);
/// A chunk of the run's event stream.
void on_run_chunk(session_pointer self, const std::string& data);
/// The event stream ended.
void on_run_result(session_pointer self, const http_result& res);
/// Per tick: follow the run by its status when due, time out a prompt, ask again after a 429.
void run_tick(session_pointer self);
/// An answer to an approval prompt.
void on_approval_answer(session_pointer self, const approval_answer& answer);
/// Stops the running turn's run on the server (best effort; /stop, an interrupt).
void stop_run(session_pointer self);

} // namespace hm::agent_session_detail

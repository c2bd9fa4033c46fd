#pragma once

// Every metric family hermes-matrix exports, with its help text and labels, in one
// place. Names follow Prometheus' conventions: a `hermes_matrix_` prefix, base units
// (seconds), `_total` for counters, `_seconds` for durations.
//
// Label values are bounded: `profile` is a profile name (as many as there are
// profiles); every other label takes one of the values listed below, anything else
// becomes "other". No label ever holds a room id, a user id, message text or a secret.

#include <array>
#include <string_view>

namespace hm::metrics {

enum class family_type { counter, gauge, histogram };

struct family_info {
  std::string_view name;
  family_type type;
  std::string_view help;
  std::string_view label; ///< the label besides `profile` ("" for none)
};

// -- the families ---------------------------------------------------------------

// supervisor
inline constexpr family_info profile_up{
  "hermes_matrix_profile_up", family_type::gauge,
  "1 while the profile's cell runs and serves Matrix, else 0", ""};
inline constexpr family_info profile_state{
  "hermes_matrix_profile_state", family_type::gauge,
  "1 for the state the profile is in (starting, running, backoff, stopped, failed, "
  "invalid), 0 for the others",
  "state"};
inline constexpr family_info profile_restarts{
  "hermes_matrix_profile_restarts_total", family_type::counter,
  "Restarts of the profile's cell after it crashed", ""};

// sync actor
inline constexpr family_info sync_requests{
  "hermes_matrix_sync_requests_total", family_type::counter,
  "/sync requests by result (ok, rate_limited, client_error, server_error, "
  "network_error, bad_response)",
  "result"};
inline constexpr family_info sync_duration{
  "hermes_matrix_sync_duration_seconds", family_type::histogram,
  "Duration of /sync requests, long-poll wait included", ""};
inline constexpr family_info events_received{
  "hermes_matrix_events_received_total", family_type::counter,
  "Events received through /sync, by event type (timeline events; to-device events as "
  "\"to_device\"; invites as \"invite\")",
  "type"};

// profile actor (policy)
inline constexpr family_info messages_answered{
  "hermes_matrix_messages_answered_total", family_type::counter,
  "Messages the agent answered", ""};
inline constexpr family_info messages_ignored{
  "hermes_matrix_messages_ignored_total", family_type::counter,
  "Messages not answered, by reason", "reason"};
inline constexpr family_info messages_failed{
  "hermes_matrix_messages_failed_total", family_type::counter,
  "Messages whose answer failed (an error message went to the room instead)", ""};
inline constexpr family_info journal_backlog{
  "hermes_matrix_journal_backlog", family_type::gauge,
  "Admitted journal entries not finished yet", ""};

// agent sessions
inline constexpr family_info agent_request_duration{
  "hermes_matrix_agent_request_duration_seconds", family_type::histogram,
  "Duration of agent backend requests, from the request to the end of the stream", ""};
inline constexpr family_info agent_first_token{
  "hermes_matrix_agent_time_to_first_token_seconds", family_type::histogram,
  "Time from an agent backend request to the first text of its reply", ""};
inline constexpr family_info agent_errors{
  "hermes_matrix_agent_errors_total", family_type::counter,
  "Agent turns that failed, by kind", "kind"};

// media (issue 15)
inline constexpr family_info media_in{
  "hermes_matrix_media_in_total", family_type::counter,
  "Attachments people sent, by what became of them (image: to the model; transcribed: "
  "voice as text; saved: a file in the cache; untranscribed: voice without STT; refused: "
  "too large, undecryptable or unreadable)", "result"};
inline constexpr family_info media_out{
  "hermes_matrix_media_out_total", family_type::counter,
  "Files the agent's replies named (MEDIA:), by result (sent; refused: not sent, with a note)",
  "result"};

// outbox
inline constexpr family_info outbox_queue_depth{
  "hermes_matrix_outbox_queue_depth", family_type::gauge,
  "Durable sends (replies, final edits, reactions) waiting in the outbox", ""};
inline constexpr family_info outbox_sends{
  "hermes_matrix_outbox_sends_total", family_type::counter,
  "Sends to the homeserver by result (ok; rate_limited: HTTP 429; retry: another "
  "transient failure; refused: dropped for good; skipped: a decoration the reply went before)",
  "result"};
inline constexpr family_info outbox_rate_limit_wait{
  "hermes_matrix_outbox_rate_limit_wait_seconds_total", family_type::counter,
  "Time the outbox was told to wait by 429 responses (Retry-After, else its backoff)", ""};

// crypto actor
inline constexpr family_info decryption_failures{
  "hermes_matrix_decryption_failures_total", family_type::counter,
  "Encrypted events (room or to-device) that could not be decrypted, by reason", "reason"};
inline constexpr family_info parked_events{
  "hermes_matrix_crypto_parked_events", family_type::gauge,
  "Encrypted events waiting for their room key", ""};
inline constexpr family_info one_time_keys{
  "hermes_matrix_crypto_one_time_keys", family_type::gauge,
  "signed_curve25519 one-time keys the homeserver holds for this device", ""};
inline constexpr family_info megolm_sessions{
  "hermes_matrix_crypto_megolm_sessions", family_type::gauge,
  "Megolm sessions in the store (inbound: to decrypt, outbound: to encrypt)", "direction"};
inline constexpr family_info room_key_shares{
  "hermes_matrix_crypto_room_key_shares_total", family_type::counter,
  "Room keys shared: sent to a device (sent) or received from one (received)", "direction"};
inline constexpr family_info key_backup_sessions{
  "hermes_matrix_crypto_key_backup_sessions_total", family_type::counter,
  "Megolm sessions uploaded to the key backup (backed_up), imported from it (restored), or "
  "in it but unusable (skipped)", "result"};

/// Every family, for the exporter and the tests.
inline constexpr std::array all_families{
  profile_up,       profile_state,      profile_restarts,    sync_requests,
  sync_duration,    events_received,    messages_answered,   messages_ignored,
  messages_failed,  journal_backlog,    agent_request_duration, agent_first_token,
  agent_errors,     outbox_queue_depth, outbox_sends,        outbox_rate_limit_wait,
  decryption_failures, parked_events,   one_time_keys,       megolm_sessions,
  room_key_shares,  media_in,           media_out,           key_backup_sessions};

// -- the cluster --------------------------------------------------------------------
// In a cluster every family above also carries `node` (the node serving the profile,
// a validated short name). The coordinator adds these, computed from its lease table
// at each scrape; their `node` label names the node a series is about.

inline constexpr family_info cluster_nodes_alive{
  "hermes_matrix_cluster_nodes_alive", family_type::gauge,
  "Nodes that renewed their leases within the lease time", ""};
inline constexpr family_info cluster_node_up{
  "hermes_matrix_cluster_node_up", family_type::gauge,
  "1 while the node renews its leases in time, 0 once it is lost", "node"};
inline constexpr family_info cluster_leases{
  "hermes_matrix_cluster_leases", family_type::gauge,
  "Profiles the node holds a lease for", "node"};
inline constexpr family_info cluster_node_scrape_ok{
  "hermes_matrix_cluster_node_scrape_ok", family_type::gauge,
  "1 when the node's own series are in this scrape, 0 when it did not answer in time", "node"};
inline constexpr family_info cluster_lease_grants{
  "hermes_matrix_cluster_lease_grants_total", family_type::counter,
  "Leases granted, each with a new epoch (first placements, failovers, moves)", ""};
inline constexpr family_info cluster_failovers{
  "hermes_matrix_cluster_failovers_total", family_type::counter,
  "Profiles taken from a lost node to be placed on another (shared storage)", ""};
inline constexpr family_info cluster_nodes_lost{
  "hermes_matrix_cluster_nodes_lost_total", family_type::counter,
  "Times a node was declared lost (no renewal within the lease)", ""};
inline constexpr family_info cluster_moves{
  "hermes_matrix_cluster_moves_total", family_type::counter,
  "Profiles withdrawn from a node to run on another (rebalancing, a pinned node back, "
  "hermes-matrix move)",
  ""};
inline constexpr family_info cluster_renewals_refused{
  "hermes_matrix_cluster_renewals_refused_total", family_type::counter,
  "Lease renewals the coordinator refused because the node had not joined", ""};

/// The coordinator's families.
inline constexpr std::array cluster_families{
  cluster_nodes_alive, cluster_node_up,     cluster_leases, cluster_node_scrape_ok,
  cluster_lease_grants, cluster_failovers,  cluster_nodes_lost, cluster_moves,
  cluster_renewals_refused};

/// A cluster node's own family (with its `node` label, no `profile`).
inline constexpr family_info node_renewals_failed{
  "hermes_matrix_node_lease_renewals_failed_total", family_type::counter,
  "Lease renewals of this node that failed (no answer in time, refused)", ""};

// -- the label values -------------------------------------------------------------
// A list that ends in "other" takes values from elsewhere (policy, events, errors):
// anything unlisted is counted as "other". The direction lists are closed: only the
// handle's own methods pick them.

inline constexpr std::array<std::string_view, 7> state_values{
  "starting", "running", "backoff", "stopped", "failed", "invalid", "other"};

inline constexpr std::array<std::string_view, 7> sync_result_values{
  "ok", "rate_limited", "client_error", "server_error", "network_error", "bad_response",
  "other"};

inline constexpr std::array<std::string_view, 11> event_type_values{
  "m.room.message", "m.room.encrypted", "m.room.member", "m.reaction",
  "m.room.redaction", "m.room.encryption", "m.room.create", "m.room.power_levels",
  "to_device", "invite", "other"};

/// The policy's reasons (profiles::ignore_reason) and the profile actor's own.
inline constexpr std::array<std::string_view, 18> ignore_reason_values{
  "own_event", "bridge_sender", "ignored_pattern", "sender_not_allowed", "redacted",
  "room_not_allowed", "edit", "notice", "unsupported_msgtype", "not_mentioned",
  "other_bot_command", "empty",
  // the profile actor's
  "encrypted", "undecryptable", "not_a_message", "malformed", "plaintext", "other"};

inline constexpr std::array<std::string_view, 8> agent_error_values{
  "unreachable", "http_4xx", "http_5xx", "agent_failed", "empty_reply", "silent",
  "queue_full", "other"};

inline constexpr std::array<std::string_view, 6> media_in_values{
  "image", "transcribed", "saved", "untranscribed", "refused", "other"};

inline constexpr std::array<std::string_view, 3> media_out_values{"sent", "refused", "other"};

inline constexpr std::array<std::string_view, 5> send_result_values{
  "ok", "rate_limited", "retry", "refused", "other"};

inline constexpr std::array<std::string_view, 9> decryption_reason_values{
  "missing_key", "not_megolm", "wrong_sender", "unreadable_session", "replay",
  "undecryptable", "bad_payload", "olm", "other"};

inline constexpr std::array<std::string_view, 2> megolm_direction_values{"inbound", "outbound"};
inline constexpr std::array<std::string_view, 2> key_share_direction_values{"sent", "received"};
inline constexpr std::array<std::string_view, 3> key_backup_result_values{"backed_up", "restored",
                                                                          "skipped"};

} // namespace hm::metrics

#pragma once

// Every actor interface of hermes-matrix in one place, each handler with a
// one-line comment. An actor is reached only through these typed handles. A handler
// that starts with atom::internal is an actor's message to itself (a timer, a retry):
// nothing else sends it.

#include "messages/type_ids.hpp"
#include "messages/cluster.hpp"
#include "messages/cluster_observe.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace hm {

/// Receives the body of a streamed http_call as it arrives, then its end.
using http_stream_sink_actor = caf::typed_actor<
  // A piece of the body, in order.
  caf::reacts_to<http_chunk>,
  // The call ended (the body went out as chunks; status 0 means no response).
  caf::reacts_to<http_result>>;

/// The node's HTTP client: one thread driving libcurl's multi interface for
/// every profile, so that a thousand long-polls cost one thread.
using http_engine_actor = caf::typed_actor<
  // Performs a call and replies with its result (never an error message:
  // failures are results with status 0 and a reason).
  caf::replies_to<http_call>::with<http_result>,
  // Performs a call whose body streams to the sink as chunks, then its result.
  caf::reacts_to<http_call, http_stream_sink_actor>,
  // Cancels the sender's call with this id; its result says "cancelled".
  caf::reacts_to<atom::cancel, uint64_t>,
  // Returns how many calls are in flight (metrics, tests).
  caf::replies_to<atom::status>::with<uint64_t>>;

/// One profile cell: everything that serves one profile on Matrix. It dies and
/// restarts as a whole; nothing mutable is shared with another cell. The cell's
/// own actor is the profile actor, the brain: policy, commands, sessions.
using profile_cell_actor = caf::typed_actor<
  // Returns this profile's status as the cell itself sees it.
  caf::replies_to<atom::status>::with<profile_status>,
  // Answers at once; the supervisor's tests use it to see a cell is responsive.
  caf::replies_to<atom::ping>::with<atom::ping>,
  // A /sync batch: admitted to the journal together with its cursor, then acted
  // on. The reply means "committed": only then may the sync actor poll further.
  caf::replies_to<sync_batch>::with<atom::ok>,
  // An agent session finished a turn; the journal entry is marked done.
  caf::reacts_to<turn_done>,
  // The media intake has a message's attachment ready (or refused): its turn starts.
  caf::reacts_to<media_ready>,
  // What a file's upload for this txn id left in the store: "queued" (its message is in
  // the outbox), the upload's record (JSON: the file's hash and the message content), or
  // "" for nothing. A delivery redone after a crash uploads nothing twice.
  caf::replies_to<atom::uploaded, std::string>::with<std::string>,
  // Keeps an upload's record until its message is queued ("" forgets it).
  caf::replies_to<atom::uploaded, std::string, std::string>::with<atom::ok>,
  // An agent session notes where its turn's run stands; the reply means "journaled".
  caf::replies_to<turn_progress>::with<atom::ok>,
  // (re)start talking to the homeserver (after a failed attempt).
  caf::reacts_to<atom::internal, atom::start>,
  // The crypto actor has this device's keys on the homeserver (found there or uploaded):
  // only now can senders encrypt for it, so only now does the cell sync and join rooms.
  caf::reacts_to<atom::published>,
  // Act on a pending journal entry again: the crypto actor got the key of a parked
  // event, or a join that failed for a passing reason is due.
  caf::reacts_to<atom::retry, std::string>,
  // Queues a notification for the home room in the outbox (encrypted there when the
  // room is); replies with its txn id once persisted.
  caf::replies_to<atom::notify, notification>::with<std::string>,
  // A parked message's key wait is over; tell the room if it is still unread.
  caf::reacts_to<atom::internal, atom::unreadable, std::string>,
  // Drain: starts no new turn (new events stay pending in the journal); answers once
  // the turns in flight are finished and the outbox is empty.
  caf::replies_to<atom::drain>::with<atom::ok>,
  // While draining, look again whether the outbox is empty.
  caf::reacts_to<atom::internal, atom::tick>,
  // From the crypto actor: the SAS verifications as they stand now (for status).
  caf::reacts_to<atom::verify, std::vector<verification_view>>,
  // From the crypto actor: an in-room verification event to send (through the outbox).
  caf::reacts_to<atom::verify, outgoing_event>,
  // The operator's word on a verification, for the crypto actor: what became of it, in words.
  caf::replies_to<atom::verify, verification_action>::with<std::string>>;

/// The sync actor of a profile: long-polls /sync and hands each batch to the
/// profile actor, moving on only when the batch is committed.
using sync_actor = caf::typed_actor<
  // Start the next long-poll (at once, or after a backoff).
  caf::reacts_to<atom::internal, atom::poll>>;

/// The crypto actor of a profile: one Matrix device's Olm account and sessions.
using crypto_actor = caf::typed_actor<
  // A sync batch's to-device events and key counts, applied before its room events are acted on.
  caf::replies_to<sync_batch>::with<atom::ok>,
  // Decrypts an admitted m.room.encrypted event: the event as sent, missing_key once it is
  // parked until its key arrives, or refused.
  caf::replies_to<decrypt_request>::with<decryption>,
  // What to PUT for an event: m.room.encrypted in an encrypted room (the key shared with
  // every member's devices first), else as given; refused in required mode.
  caf::replies_to<encrypt_request>::with<event_to_send>,
  // Whether a room is encrypted (its state asked when not known yet): a file for it is
  // encrypted before it is uploaded. An error when the state cannot be read.
  caf::replies_to<atom::encrypted, std::string>::with<bool>,
  // The Olm machine's failed requests (key check, key upload, device-list query) and
  // the key backup's upload are tried again.
  caf::reacts_to<atom::internal, atom::flush>,
  // An admitted in-room verification event (plaintext or decrypted) from the cell.
  caf::reacts_to<room_verification>,
  // The operator's word on a verification: confirm, reject, cancel or timeout; what became of it.
  caf::replies_to<atom::verify, verification_action>::with<std::string>,
  // Cancel the verifications that are older than the spec's 10 minutes.
  caf::reacts_to<atom::internal, atom::verify>>;

/// The outbox of a profile: ordered, idempotent sends.
using outbox_actor = caf::typed_actor<
  // Persists an event and replies once it is durably queued; sends it in room order.
  caf::replies_to<outgoing_event>::with<atom::ok>,
  // Queues a streaming edit: the latest per message wins, one edit per second per room.
  caf::reacts_to<progress_edit>,
  // Sets or clears the bot's typing notice in a room (best effort, not queued).
  caf::reacts_to<atom::typing, std::string, bool>,
  // A room's wait (rate limit, backoff, edit spacing) is over.
  caf::reacts_to<atom::internal, atom::flush, std::string>>;

/// One conversation with the agent backend: answers turns one at a time and
/// streams each reply into the room.
using agent_session_actor = http_stream_sink_actor::extend<
  // Answers a user's message (queued while another turn runs).
  caf::reacts_to<agent_turn>,
  // /stop: ends the running turn (and its run on the server) and drops the queued ones.
  caf::reacts_to<atom::stop>,
  // An answer to an approval prompt; the session takes it if it is the asker's answer
  // to its pending prompt.
  caf::reacts_to<approval_answer>,
  // /new: forgets the conversation; the next turn starts a new agent session.
  caf::reacts_to<atom::reset>,
  // The files of the running turn's reply are sent: its final text goes out.
  caf::reacts_to<media_delivered>,
  // Publish the growing reply, refresh typing, watch for a silent backend.
  caf::reacts_to<atom::internal, atom::tick>>;

/// The supervisor of a node: spawns a cell per profile, restarts failed cells
/// with backoff, and knows the state of every profile.
using supervisor_actor = caf::typed_actor<
  // Returns the status of every profile on this node, in profile order, with what
  // each running cell reports of itself (last sync, outbox queue).
  caf::replies_to<atom::status>::with<std::vector<profile_status>>,
  // Hands a notification for a profile (by name) to that profile's running cell.
  caf::replies_to<atom::notify, std::string, notification>::with<std::string>,
  // Hands the operator's word on a verification to a profile's (by name) running cell.
  caf::replies_to<atom::verify, std::string, verification_action>::with<std::string>,
  // A cell reports it has started and serves its profile.
  caf::reacts_to<cell_ready>,
  // The backoff of a crashed profile has passed; start it again.
  caf::reacts_to<atom::internal, atom::restart, std::string, uint64_t>,
  // The shutdown grace period is over; kill cells that still run.
  caf::reacts_to<atom::internal, atom::deadline>,
  // SIGHUP: the profiles read again; starts added, stops removed, restarts changed ones.
  caf::replies_to<atom::reload, profile_reload>::with<reload_summary>,
  // A profile's cell stopping for a reload is past its grace period (name, generation).
  caf::reacts_to<atom::internal, atom::deadline, std::string, uint64_t>,
  // Drains every running cell (see profile_cell_actor); answers once all are idle.
  caf::replies_to<atom::drain>::with<atom::ok>>;

} // namespace hm

namespace hm {

/// The coordinator of a cluster: authenticates nodes, places every profile on
/// one node under a lease, and sees the status of the whole cluster. Published
/// on the cluster port; every handler but hello and nodejoin refuses a sender
/// that has not joined.
using coordinator_actor = caf::typed_actor<
  // A node asks for a challenge before joining (node name): a fresh nonce.
  caf::replies_to<atom::hello, std::string>::with<std::string>,
  // A node proves it knows the secret (node name, HMAC of the nonce) and offers the
  // profiles it can serve; refused (and logged) with a wrong proof.
  caf::replies_to<atom::nodejoin, std::string, std::string, std::vector<profile_offer>>::with<atom::ok>,
  // A joined node renews its leases, reporting the status of what it runs: the leases it holds now.
  caf::replies_to<atom::renew, std::string, std::vector<profile_status>>::with<lease_set>,
  // The status of every profile of the cluster, each with its node (this process and joined nodes).
  caf::replies_to<atom::status>::with<std::vector<profile_status>>,
  // The same for `hermes-matrix status` (client name, HMAC of the nonce hello gave it).
  caf::replies_to<atom::status, std::string, std::string>::with<std::vector<profile_status>>,
  // `hermes-matrix move` (profile, target node, client name, HMAC of its nonce): what happens, in words.
  caf::replies_to<atom::move, std::string, std::string, std::string, std::string>::with<std::string>,
  // Expire leases, place free profiles, rebalance.
  caf::reacts_to<atom::internal, atom::tick>,
  // A piece of a store the sending node was ordered to carry: passed on to the target node.
  caf::replies_to<store_piece>::with<atom::ok>,
  // The end of a carry: passed on to the target; once it verified, it gets the lease.
  caf::replies_to<store_manifest>::with<atom::ok>,
  // Admin API (this process only): every node that joined, as the lease table sees it.
  caf::replies_to<atom::nodes>::with<std::vector<node_view>>,
  // Admin API (this process only): a notification forwarded to the node holding the profile's lease.
  caf::replies_to<atom::notify, std::string, notification>::with<std::string>,
  // Admin API (this process only): a verification action forwarded the same way.
  caf::replies_to<atom::verify, std::string, verification_action>::with<std::string>,
  // /metrics (this process only): every live node's snapshot and the coordinator's cluster families.
  caf::replies_to<atom::metrics>::with<std::vector<metrics_snapshot>>>;

/// One node of a cluster: joins the coordinator, renews its leases and runs a
/// supervisor for each profile it holds a lease for, only while it holds it.
using cluster_node_actor = caf::typed_actor<
  // Returns the status of the profiles this node runs.
  caf::replies_to<atom::status>::with<std::vector<profile_status>>,
  // Connect, join or renew, and stop everything when the lease ran out.
  caf::reacts_to<atom::internal, atom::tick>,
  // The leases may have ended now: stop every profile unless renewed.
  caf::reacts_to<atom::internal, atom::deadline>,
  // From the coordinator: a piece of a store carried to this node, written to a staging directory.
  caf::replies_to<store_piece>::with<atom::ok>,
  // From the coordinator: the carry is complete; verified, the store is put in place.
  caf::replies_to<store_manifest>::with<atom::ok>,
  // From the coordinator: hands a notification to the supervisor of a profile this node serves.
  caf::replies_to<atom::notify, std::string, notification>::with<std::string>,
  // From the coordinator: hands a verification action to the same supervisor.
  caf::replies_to<atom::verify, std::string, verification_action>::with<std::string>,
  // From the coordinator: every series of this node's metrics, now.
  caf::replies_to<atom::metrics>::with<metrics_snapshot>>;

/// Hears about the node's lease in etcd (from an etcd_lease_actor).
using etcd_lease_listener_actor = caf::typed_actor<
  // A lease was granted (its ID): join, claim the profiles placed here.
  caf::reacts_to<atom::granted, int64_t>,
  // The lease (its ID) was lost, by the local clock or etcd's word: stop every profile
  // now; the text says why. A new grant follows by itself.
  caf::reacts_to<atom::lost, int64_t, std::string>>;

/// The node's lease in etcd (cluster/node_lease through the http engine): grants it,
/// keeps it alive every TTL/3, tries the next etcd member when one does not answer or
/// cannot serve, and tells its listener when a lease is granted or lost.
using etcd_lease_actor = caf::typed_actor<
  // The lease now: its ID (0: none) and whether the node may run profiles under it.
  caf::replies_to<atom::status>::with<int64_t, bool>,
  // Revokes the lease (the node stopped or released its profiles first); replies once
  // etcd answered or every member was tried.
  caf::replies_to<atom::stop>::with<atom::ok>,
  // Time to look again (a keepalive due, the lease's end); the number names the timer,
  // so that only the latest one acts.
  caf::reacts_to<atom::internal, atom::tick, uint64_t>>;

} // namespace hm

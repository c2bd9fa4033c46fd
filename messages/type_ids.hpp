#pragma once

// The CAF type-ID block of hermes-matrix: every message type and atom that
// actors exchange, so that the actor system (and, in a cluster, the middleman)
// can serialize them. Registered once in main via
// `cfg.add_message_types<caf::id_block::hermes_matrix>()`.

#include "messages/cell.hpp"
#include "messages/cluster.hpp"
#include "messages/cluster_observe.hpp"
#include "messages/http.hpp"
#include "messages/notification.hpp"
#include "messages/profile_status.hpp"
#include "messages/reload.hpp"

#include <caf/type_id.hpp>

#include <vector>

CAF_BEGIN_TYPE_ID_BLOCK(hermes_matrix, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(hermes_matrix, (hm::profile_status))
  CAF_ADD_TYPE_ID(hermes_matrix, (std::vector<hm::profile_status>))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::http_call))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::http_result))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::http_chunk))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::outgoing_event))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::progress_edit))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::agent_turn))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::turn_done))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::cell_ready))

  // Atoms (at most 10 characters in CAF 0.17).
  CAF_ADD_ATOM(hermes_matrix, hm::atom, status, "status")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, restart, "restart")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, ping, "ping")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, deadline, "deadline")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, cancel, "cancel")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, ok, "ok")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, poll, "poll")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, flush, "flush")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, typing, "typing")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, stop, "stop")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, reset, "reset")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, tick, "tick")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, start, "start")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, retry, "retry")
  // e2ee (second slice): a parked message waited too long for its key.
  CAF_ADD_ATOM(hermes_matrix, hm::atom, unreadable, "unreadable")
  // e2ee: this device's keys are on the homeserver; encrypted messages can reach it.
  CAF_ADD_ATOM(hermes_matrix, hm::atom, published, "published")

  // Admin HTTP API: a notification into a profile's home room.
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::notification))
  CAF_ADD_ATOM(hermes_matrix, hm::atom, notify, "notify")

  // Reloading profiles on SIGHUP (ops).
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::reload_summary))
  CAF_ADD_ATOM(hermes_matrix, hm::atom, reload, "reload")

  // Cluster: nodes, leases and placement.
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::profile_offer))
  CAF_ADD_TYPE_ID(hermes_matrix, (std::vector<hm::profile_offer>))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::lease_grant))
  CAF_ADD_TYPE_ID(hermes_matrix, (std::vector<hm::lease_grant>))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::lease_set))
  CAF_ADD_ATOM(hermes_matrix, hm::atom, hello, "hello")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, nodejoin, "nodejoin")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, renew, "renew")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, move, "move")


  // Cluster move: draining a profile, carrying its store to another node.
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::store_order))
  CAF_ADD_TYPE_ID(hermes_matrix, (std::vector<hm::store_order>))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::store_piece))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::store_file))
  CAF_ADD_TYPE_ID(hermes_matrix, (std::vector<hm::store_file>))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::store_manifest))
  CAF_ADD_ATOM(hermes_matrix, hm::atom, drain, "drain")

  // Agent runs: where a turn's run stands, and answers to its approval prompts.
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::turn_progress))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::approval_answer))

  // Cluster observability (observe): the coordinator's view of the nodes and
  // every node's metrics, for the coordinator's admin API and /metrics.
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::node_view))
  CAF_ADD_TYPE_ID(hermes_matrix, (std::vector<hm::node_view>))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::metric_label))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::metric_series))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::metric_family_data))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::metrics_snapshot))
  CAF_ADD_TYPE_ID(hermes_matrix, (std::vector<hm::metrics_snapshot>))
  CAF_ADD_ATOM(hermes_matrix, hm::atom, nodes, "nodes")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, metrics, "metrics")
  // First element of an actor's messages to itself (timers, retries; interfaces.hpp).
  CAF_ADD_ATOM(hermes_matrix, hm::atom, internal, "internal")
  // Media (issue 15): what a message's attachment gives its turn.
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::media_ready))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::media_delivered))
  CAF_ADD_ATOM(hermes_matrix, hm::atom, encrypted, "encrypted")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, uploaded, "uploaded")

  // SAS verification (issue 20)
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::verification_view))
  CAF_ADD_TYPE_ID(hermes_matrix, (std::vector<hm::verification_view>))
  CAF_ADD_TYPE_ID(hermes_matrix, (hm::verification_action))
  CAF_ADD_ATOM(hermes_matrix, hm::atom, verify, "verify")

  // The node's lease in etcd (issue 16): granted anew, or lost.
  CAF_ADD_ATOM(hermes_matrix, hm::atom, granted, "granted")
  CAF_ADD_ATOM(hermes_matrix, hm::atom, lost, "lost")

CAF_END_TYPE_ID_BLOCK(hermes_matrix)

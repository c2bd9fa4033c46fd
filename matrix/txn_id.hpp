#pragma once

// Transaction ids that survive a crash: derived from what caused the send, so that the
// resend after a restart carries the same txnId and the homeserver returns the first
// event instead of posting a duplicate (spec: "Transaction identifiers", scoped to the
// device and the endpoint).

#include <string>
#include <string_view>

namespace hm::matrix {

/// "hm.<32 hex>.<part>.<kind>", e.g. "hm.3f2a….0.reply": the hash is over the source
/// (usually the event id we answer; any stable string works, e.g. "startup-notice"),
/// `part` numbers several sends caused by one source (split replies, successive edits),
/// and `kind` says what was sent ("reply", "edit", "react", "redact", "keys"). `kind` is
/// reduced to [A-Za-z0-9_-] (at most 32 chars) so the result is always URL-safe and short.
/// Pure and stable across processes, platforms and versions: never change the scheme.
[[nodiscard]] std::string derive_txn_id(std::string_view source, unsigned part,
                                        std::string_view kind);

/// The txn of the first message of the answer to `source_event_id` (part 0, "reply").
[[nodiscard]] std::string reply_txn_id(std::string_view source_event_id);

/// The txn of the reaction (✅ or ❌) that ends the answer to `source_event_id` (part 0,
/// "react-done"). It is queued with the answer's final text: once it is in the outbox,
/// that answer is complete.
[[nodiscard]] std::string done_txn_id(std::string_view source_event_id);

} // namespace hm::matrix

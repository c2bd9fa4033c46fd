#pragma once

// How a journaled event ended: what the journal records for it, what the metrics count
// and what a restart reads back. Typed from the actor that decides it to the store, so
// nothing reads it back by prefix; the journal keeps it as text ("answered",
// "ignored:<reason>", "failed:<kind>", ...), the form every store version wrote.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hm {

struct journal_outcome {
  enum class kind : uint8_t {
    answered,    ///< the agent's reply went out
    ignored,     ///< not acted on; `detail` says why ("plaintext", "not-a-message", ...)
    failed,      ///< a turn or an invite that failed; `detail` says how ("http_502", "join")
    stopped,     ///< the person stopped the turn
    interrupted, ///< a newer message in the conversation interrupted the turn
    command,     ///< a gateway command was answered; `detail` is its name
    reaction,    ///< a reaction handed to the turn it answers (an approval)
    joined,      ///< an invite accepted
    declined,    ///< an invite declined
    verification, ///< an SAS verification event, handed to the crypto actor
  };

  kind what = kind::answered;
  std::string detail;

  static journal_outcome answered() { return {kind::answered, {}}; }
  static journal_outcome ignored(std::string why) { return {kind::ignored, std::move(why)}; }
  static journal_outcome failed(std::string how) { return {kind::failed, std::move(how)}; }
  static journal_outcome stopped() { return {kind::stopped, {}}; }
  static journal_outcome interrupted() { return {kind::interrupted, {}}; }
  static journal_outcome command(std::string name) { return {kind::command, std::move(name)}; }
  static journal_outcome reaction() { return {kind::reaction, {}}; }
  static journal_outcome joined() { return {kind::joined, {}}; }
  static journal_outcome declined() { return {kind::declined, {}}; }
  static journal_outcome verification() { return {kind::verification, {}}; }

  /// An invite's outcome, which is no answered, ignored or failed message.
  [[nodiscard]] bool about_an_invite() const {
    return what == kind::joined || what == kind::declined
           || (what == kind::failed && (detail == "join" || detail == "decline"));
  }

  friend bool operator==(const journal_outcome&, const journal_outcome&) = default;
};

/// The kind's word in the journal's text ("answered", "ignored", ...).
[[nodiscard]] const char* to_string(journal_outcome::kind k);

/// The journal's text: the kind's word, then ":" and the detail when there is one.
[[nodiscard]] std::string to_string(const journal_outcome& o);

/// Reads the journal's text back; nullopt for a text no version wrote.
[[nodiscard]] std::optional<journal_outcome> parse_journal_outcome(std::string_view text);

} // namespace hm

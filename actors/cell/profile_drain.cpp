// Draining a profile cell before its profile moves to another node: no new
// turn starts, the turns in flight finish (final edit, ✅) and the outbox
// empties; then the cell answers and its node stops it. Events that arrive
// meanwhile are admitted to the journal as usual but not acted on, so the
// next holder answers them from the journal, exactly once.

#include "actors/cell/profile_cell_state.hpp"

#include <chrono>

namespace hm {

namespace {

/// How often a draining cell looks whether its outbox has emptied (the outbox
/// does not report it).
constexpr auto drain_poll = std::chrono::milliseconds{200};

bool idle(const profile_cell_state& st) {
  return st.in_progress.empty() && (!st.store || st.store->pending_outbox_count() == 0);
}

} // namespace

caf::result<atom::ok> start_drain(profile_cell_pointer self) {
  auto& st = self->state;
  if (!st.draining) {
    st.draining = true;
    st.log->info("draining: no new turns; {} in flight", st.in_progress.size());
  }
  auto rp = self->make_response_promise<atom::ok>();
  st.drained.push_back(rp);
  check_drained(self);
  return rp;
}

void check_drained(profile_cell_pointer self) {
  auto& st = self->state;
  if (!st.draining || st.drained.empty())
    return;
  if (!idle(st)) {
    // Turns end with turn_done (which calls this); the outbox is polled.
    if (st.in_progress.empty() && !st.drain_polling) {
      st.drain_polling = true;
      self->delayed_send(self, drain_poll, atom::internal_v, atom::tick_v);
    }
    return;
  }
  st.log->info("drained: nothing in flight, outbox empty");
  for (auto& rp : st.drained)
    rp.deliver(atom::ok_v);
  st.drained.clear();
}

} // namespace hm

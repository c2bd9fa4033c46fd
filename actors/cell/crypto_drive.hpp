#pragma once

// The loop every request-asking machine of the crypto actor runs on (cross-signing this
// device, signing a verified user, opening and creating the key backup): perform the
// request the machine asks for, hand it the answer, repeat until it ends. Internal to the
// actors library.

#include "actors/cell/crypto_state.hpp"
#include "actors/cell/homeserver.hpp"

#include <variant>

namespace hm::crypto_detail {

/// Drives the machine `machine(self->state)` gives (a `Machine&`, alive until it ends)
/// from `step`; `on_end` gets its last step (a `Machine::step&`). The accessor is asked
/// again for every answer, so the machine may live anywhere in the state.
template <class Machine, class Access, class OnEnd>
void drive(crypto_pointer self, Access machine, typename Machine::step step, OnEnd on_end) {
  auto& st = self->state;
  if (auto* p = std::get_if<typename Machine::perform>(&step)) {
    self->request(st.link.engine, caf::infinite, to_http_call(st.link, p->request, st.next_call++))
      .then([self, machine, on_end](const http_result& res) {
        drive<Machine>(self, machine, machine(self->state).answer(to_matrix_result(res)),
                       on_end);
      });
    return;
  }
  on_end(step);
}

} // namespace hm::crypto_detail

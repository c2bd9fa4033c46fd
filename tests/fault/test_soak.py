"""Exactly once across crashes (short version; bench/soak.py runs 50+ kills): messages
stream to four profiles' plaintext DMs and to encrypted DMs of two of them (the person
on a matrix-nio device with olm) while the gateway is SIGKILLed at random moments
(HM_SOAK_KILLS times, default 10) and started again, with a 429 storm on every bot's
sends halfway through (HM_SOAK_STORM_S seconds, default 5). Then every message has
exactly one reply, in order per room, on the homeserver, showing its final text before
its ✅; in the encrypted rooms the bot sent only m.room.encrypted events, and each
decrypts on the person's device."""

import os

from soak import Soak

KILLS = int(os.environ.get("HM_SOAK_KILLS", "10"))
STORM_S = int(os.environ.get("HM_SOAK_STORM_S", "5"))


def test_every_message_answered_exactly_once_in_order_across_sigkills(tmp_path):
    soak = Soak(tmp_path, profiles=4, encrypted=2)
    try:
        survived = soak.run(KILLS, storm_s=STORM_S)
        soak.settle()
        tally = soak.tally()
    finally:
        soak.close()
    assert survived == KILLS
    assert tally["sent"] > KILLS, tally
    assert tally["sent_encrypted"] > 0, tally
    assert tally["send_errors"] == 0, tally
    assert tally["lost"] == 0, tally
    assert tally["duplicated"] == 0, tally
    assert tally["out_of_order_rooms"] == 0, tally
    assert tally["plaintext_in_encrypted"] == 0, tally
    assert tally["undecryptable"] == 0, tally
    assert tally["relation_mismatch"] == 0, tally
    assert tally["wrong_text"] == 0, tally
    assert tally["without_done"] == 0, tally
    assert tally["done_before_final"] == 0, tally

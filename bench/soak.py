#!/usr/bin/python3
"""Exactly-once soak, long version: messages stream to several profiles (plaintext DMs,
and encrypted DMs with a matrix-nio person for the first --encrypted profiles) while the
gateway is SIGKILLed at random moments; prints kills survived, messages sent, lost,
duplicated and rooms out of order (checked on the dev homeserver's event lists, the
encrypted rooms' replies decrypted by the person's device).

  /usr/bin/python3 bench/soak.py [--kills 50] [--profiles 4] [--encrypted 2]
                                 [--storm-seconds 20] [--binary build/app/hermes-matrix]
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--profiles", type=int, default=4)
    p.add_argument("--encrypted", type=int, default=2,
                   help="profiles that also get an encrypted DM (0: plaintext only)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--storm-seconds", type=int, default=0,
                   help="halfway through, 429 on every bot's sends for this long (0: none)")
    p.add_argument("--binary", default=str(ROOT / "build" / "app" / "hermes-matrix"))
    args = p.parse_args()
    os.environ["HM_BINARY"] = str(pathlib.Path(args.binary).resolve())
    os.environ["HM_SOURCE_DIR"] = str(ROOT)
    sys.path.insert(0, str(ROOT / "tests" / "fault"))
    from soak import Soak

    with tempfile.TemporaryDirectory(prefix="hm-soak-") as tmp:
        started = time.monotonic()
        soak = Soak(pathlib.Path(tmp), profiles=args.profiles,
                    encrypted=args.encrypted, seed=args.seed)
        try:
            survived = soak.run(args.kills, report=lambda s: print(s, flush=True),
                                storm_s=args.storm_seconds)
            soak.settle(timeout=300)
            tally = soak.tally()
        finally:
            soak.close()
    print(f"kills survived: {survived}/{args.kills}")
    print(f"rooms: {len(soak.rooms)}, of them encrypted: {tally['encrypted_rooms']}")
    print(f"messages sent: {tally['sent']} (encrypted: {tally['sent_encrypted']})")
    print(f"lost: {tally['lost']}")
    print(f"duplicated: {tally['duplicated']}")
    print(f"rooms out of order: {tally['out_of_order_rooms']}")
    print(f"replies whose final text is not their message's echo: {tally['wrong_text']}")
    print(f"messages without ✅/❌: {tally['without_done']}; "
          f"✅/❌ before the final text: {tally['done_before_final']}")
    print(f"bot events in encrypted rooms: {tally['bot_encrypted_events']} encrypted, "
          f"{tally['plaintext_in_encrypted']} in clear, {tally['undecryptable']} undecryptable, "
          f"{tally['relation_mismatch']} with a clear relation that disagrees")
    print(f"send errors (homeserver): {tally['send_errors']}")
    print(f"wall time: {time.monotonic() - started:.0f} s")
    bad = (tally["lost"] or tally["duplicated"] or tally["out_of_order_rooms"]
           or tally["wrong_text"] or tally["without_done"] or tally["done_before_final"]
           or tally["plaintext_in_encrypted"] or tally["undecryptable"]
           or tally["relation_mismatch"] or survived != args.kills)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

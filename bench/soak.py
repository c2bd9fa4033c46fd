#!/usr/bin/python3
"""Exactly-once soak, long version: messages stream to several profiles while the
gateway is SIGKILLed at random moments; prints kills survived, messages sent, lost,
duplicated and rooms out of order (checked on the dev homeserver's event lists).

  /usr/bin/python3 bench/soak.py [--kills 50] [--profiles 4] [--binary build/app/hermes-matrix]
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
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--binary", default=str(ROOT / "build" / "app" / "hermes-matrix"))
    args = p.parse_args()
    os.environ["HM_BINARY"] = str(pathlib.Path(args.binary).resolve())
    os.environ["HM_SOURCE_DIR"] = str(ROOT)
    sys.path.insert(0, str(ROOT / "tests" / "fault"))
    from soak import Soak

    with tempfile.TemporaryDirectory(prefix="hm-soak-") as tmp:
        started = time.monotonic()
        soak = Soak(pathlib.Path(tmp), profiles=args.profiles, seed=args.seed)
        try:
            survived = soak.run(args.kills, report=lambda s: print(s, flush=True))
            soak.settle(timeout=300)
            tally = soak.tally()
        finally:
            soak.close()
    print(f"kills survived: {survived}/{args.kills}")
    print(f"messages sent: {tally['sent']}")
    print(f"lost: {tally['lost']}")
    print(f"duplicated: {tally['duplicated']}")
    print(f"rooms out of order: {tally['out_of_order_rooms']}")
    print(f"send errors (homeserver): {tally['send_errors']}")
    print(f"wall time: {time.monotonic() - started:.0f} s")
    bad = tally["lost"] or tally["duplicated"] or tally["out_of_order_rooms"] or survived != args.kills
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

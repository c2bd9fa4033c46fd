"""Failover time of a cluster: SIGKILL of the worker serving a profile, to the
first answer from the node that takes it over, for several lease settings.

Setup per lease: the dev homeserver, the agent double (instant replies), one bot
profile in a HERMES_HOME both workers see (--shared-storage), a coordinator that
serves nothing itself and two workers, all on 127.0.0.1. After one warm-up answer
the serving worker is killed and a message is sent at once; the time until its
answer shows up is the failover time. Expected: about one lease (the coordinator
waits that long before it gives the profile to another node) plus the start of the
profile there.

    ninja -C build hermes-matrix
    /usr/bin/python3 bench/failover.py [--leases 2,6] [--runs 2]
"""

import argparse
import pathlib
import signal
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO))

from cluster_nodes import Cluster, log_size, write_secret  # noqa: E402
from harness import AgentDouble, Devhs, Human, bot_settings, write_profile  # noqa: E402


def one_run(tmp, lease):
    hs = Devhs(tmp / "devhs")
    agent = AgentDouble()
    human = Human(hs, "doru", "Doru")
    cluster = None
    try:
        bot = hs.register("bot-alpha", "Bot alpha")
        home = tmp / "shared-home"
        (home / "profiles").mkdir(parents=True)
        (home / ".env").write_text("# not on Matrix\n")
        write_profile(home, "alpha", bot_settings(hs, agent, bot, [human.user_id],
                                                  MATRIX_DEVICE_ID="BOT_BOT-ALPHA"))
        empty = tmp / "empty-home"
        empty.mkdir()
        cluster = Cluster(tmp, write_secret(tmp / "cluster.secret"), lease=lease)
        cluster.start_coordinator(empty)
        cluster.start_worker("w1", home)
        cluster.start_worker("w2", home)
        first = cluster.placed("alpha", timeout=60)
        room = human.create_room(invite=[bot], is_direct=True)
        human.wait_joined(room, bot)
        warm = human.send(room, "warm-up")
        human.wait_reply(room, warm, bot)
        mark = log_size(cluster.nodes["coordinator"])
        killed = time.monotonic()
        cluster.nodes[first].signal(signal.SIGKILL)
        probe = human.send(room, "are you there?")
        human.wait_reply(room, probe, bot, timeout=lease * 10 + 60)
        answered = time.monotonic()
        second = cluster.placed("alpha", start=mark, not_on=first)
        return answered - killed, first, second
    finally:
        if cluster:
            cluster.stop()
        human.close()
        agent.stop()
        hs.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leases", default="2,6", help="lease seconds to compare")
    ap.add_argument("--runs", type=int, default=2, help="runs per lease")
    args = ap.parse_args()
    print(f"{'lease s':>8} {'run':>4} {'failover s':>11}  moved")
    summary = {}
    for lease in [float(x) for x in args.leases.split(",")]:
        times = []
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="hm-failover-") as tmp:
                took, first, second = one_run(pathlib.Path(tmp), lease)
            times.append(took)
            print(f"{lease:>8g} {run:>4} {took:>11.2f}  {first} -> {second}", flush=True)
        summary[lease] = times
    print()
    for lease, times in summary.items():
        print(f"lease {lease:g} s: failover median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs); "
              f"failover - lease = {statistics.median(times) - lease:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

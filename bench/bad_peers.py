"""What bad peers on the cluster port cost the coordinator: its peak RSS and how
long a `hermes-matrix status` (a fresh authenticated connection) takes while they
hit it, and whether a joined worker loses the coordinator.

Setup: a coordinator serving nothing (lease 3 s) and one worker, on 127.0.0.1.
Cases: N connections that each send a BASP header announcing a ~1.4 GB payload
(garbage beginning "\\x00\\xffGET / ..."), and N that announce a 4 GB client
handshake, N = 1 and 4, kept open for 5 s while `status` is run every 0.5 s.
Run it against another build (HM_BINARY=...) to compare, e.g. one without the
screened cluster port.

    ninja -C build hermes-matrix
    /usr/bin/python3 bench/bad_peers.py [--counts 1,4] [--cases garbage,handshake]

Against a build without the screen each such connection makes the coordinator
allocate what it announces: keep --counts small there.
"""

import argparse
import os
import pathlib
import socket
import struct
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))

from cluster_nodes import GARBAGE, Cluster, write_secret  # noqa: E402
from harness import BINARY  # noqa: E402
from common import memory_kib, table, write_result  # noqa: E402

HUGE_HANDSHAKE = struct.pack(">BBBBIQQQ", 1, 0, 0, 0, 0xF0000000, 0, 0, 0)


def status_seconds(port, secret):
    t = time.monotonic()
    out = subprocess.run([BINARY, "status", "--cluster-join", f"127.0.0.1:{port}",
                          "--cluster-secret-file", str(secret)], capture_output=True, timeout=60)
    return time.monotonic() - t, out.returncode == 0


def one_case(tmp, name, data, count):
    home = tmp / "empty"
    home.mkdir(exist_ok=True)
    secret = write_secret(tmp / "secret")
    c = Cluster(tmp, secret, lease=3)
    try:
        coord = c.start_coordinator(home)
        worker = c.start_worker("w1", home)
        coord.wait_log(r"node w1 joined")
        socks = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", c.port), timeout=5)
            s.sendall(data)
            socks.append(s)
        peak, times, failed = 0, [], 0
        end = time.monotonic() + 5
        while time.monotonic() < end:
            peak = max(peak, memory_kib(coord.proc.pid).get("VmRSS", 0))
            took, ok = status_seconds(c.port, secret)
            times.append(took)
            failed += not ok
            time.sleep(0.5)
        for s in socks:
            s.close()
        lost = "lost the coordinator" in worker.stderr()
        return [name, count, round(peak / 1024), round(max(times), 2), failed, "yes" if lost else "no"]
    finally:
        c.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="1,4")
    ap.add_argument("--cases", default="garbage,handshake")
    args = ap.parse_args()
    cases = {"garbage": ("garbage", GARBAGE), "handshake": ("4 GB handshake", HUGE_HANDSHAKE)}
    rows = []
    for key in args.cases.split(","):
        name, data = cases[key]
        for count in (int(n) for n in args.counts.split(",")):
            with tempfile.TemporaryDirectory(prefix="hm-bench-bad-peers-") as d:
                rows.append(one_case(pathlib.Path(d), name, data, count))
    headers = ["case", "connections", "peak RSS MiB", "slowest status s", "status failed",
               "worker lost coordinator"]
    table(rows, headers)
    write_result("bad_peers", {"binary": os.path.relpath(BINARY, REPO),
                               "rows": [dict(zip(headers, r)) for r in rows]})


if __name__ == "__main__":
    main()

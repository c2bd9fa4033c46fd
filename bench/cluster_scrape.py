"""Scrape time of the coordinator's /metrics: the whole cluster's series, fetched
from every node at each scrape (README: "A cluster", metrics).

Setup: the dev homeserver, the agent double, 3 workers with 10 bot profiles each
(pinned, in one HERMES_HOME every node sees), a coordinator that serves nothing
itself; all on 127.0.0.1. Once every profile runs, the coordinator's /metrics is
fetched N times (as Prometheus would) and the time of each fetch is measured, with
the size of the answer and its number of series. A worker's own /metrics (its 10
profiles) is fetched the same way for comparison.

    ninja -C build hermes-matrix
    /usr/bin/python3 bench/cluster_scrape.py [--nodes 3] [--profiles 10] [--scrapes 50]
"""

import argparse
import pathlib
import statistics
import sys
import tempfile
import time
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO))

from cluster_nodes import Cluster, write_secret  # noqa: E402
from harness import AgentDouble, Devhs, bot_settings, http, wait_until, write_profile  # noqa: E402


def fetch(url):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = resp.read()
    return time.perf_counter() - start, body


def measure(url, scrapes):
    times, size, series = [], 0, 0
    for _ in range(scrapes):
        took, body = fetch(url)
        times.append(took * 1000)
        size = len(body)
        series = sum(1 for line in body.decode().splitlines() if line and line[0] != "#")
    times.sort()
    return {"median_ms": round(statistics.median(times), 1),
            "p90_ms": round(times[int(len(times) * 0.9) - 1], 1),
            "max_ms": round(times[-1], 1), "bytes": size, "series": series}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--profiles", type=int, default=10, help="per node")
    ap.add_argument("--scrapes", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        hs = Devhs(tmp / "devhs")
        agent = AgentDouble()
        cluster = None
        try:
            home = tmp / "shared-home"
            (home / "profiles").mkdir(parents=True)
            (home / ".env").write_text("# not on Matrix\n")
            for n in range(1, args.nodes + 1):
                for i in range(args.profiles):
                    name = f"p{n}x{i}"
                    bot = hs.register(f"bot-{name}")
                    write_profile(home, name, bot_settings(hs, agent, bot, ["@doru:localhost"],
                                                           HERMES_MATRIX_NODE=f"w{n}"))
            empty = tmp / "empty-home"
            empty.mkdir()
            token = tmp / "admin.token"
            token.write_text("bench-admin-token-0123456789\n")
            token.chmod(0o600)
            cluster = Cluster(tmp, write_secret(tmp / "cluster.secret"), lease=6)
            coord = cluster.start_coordinator(empty, "--metrics-listen", "127.0.0.1:0",
                                              "--admin-listen", "127.0.0.1:0",
                                              "--admin-token-file", str(token))
            port = int(coord.wait_log(r"metrics on http://[^ ]*:(\d+)/metrics").group(1))
            admin = coord.wait_log(r"admin API listening on (http://\S+)").group(1)
            workers = [cluster.start_worker(f"w{n}", home, None, "--metrics-listen", "127.0.0.1:0")
                       for n in range(1, args.nodes + 1)]
            total = args.nodes * args.profiles

            def all_running():
                status, body = http("GET", f"{admin}/v1/status", token=token.read_text().strip())
                return status == 200 and sum(p["state"] == "running" and p["synced"]
                                             for p in body["profiles"]) == total
            wait_until(all_running, 180, "every profile running")
            url = f"http://127.0.0.1:{port}/metrics"
            whole = measure(url, args.scrapes)
            wport = int(workers[0].wait_log(r"metrics on http://[^ ]*:(\d+)/metrics").group(1))
            one = measure(f"http://127.0.0.1:{wport}/metrics", args.scrapes)
            print(f"{args.nodes} nodes x {args.profiles} profiles, {args.scrapes} scrapes each")
            print(f"  coordinator /metrics (whole cluster): {whole}")
            print(f"  one worker's own /metrics:            {one}")
        finally:
            if cluster:
                cluster.stop()
            agent.stop()
            hs.stop()


if __name__ == "__main__":
    main()

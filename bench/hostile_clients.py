#!/usr/bin/python3
"""The admin API and /metrics under hostile clients, the figures the tests do not
assert: memory and files held by the gateway, /healthz latency from 127.0.0.1 while
the attack runs, how long a Matrix answer takes meanwhile, when dribblers are cut off,
and what a burst of requests gets.

    /usr/bin/python3 bench/hostile_clients.py

The setup and the attacks are those of tests/integration/test_hostile_clients.py
(tests/integration/hostile.py): one profile in a DM, the gateway at a file limit of
1,024 (soft and hard), the dev homeserver and the agent double, all on loopback.
"""

import pathlib
import sys
import tempfile
import time

import common

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "integration"))
from hostile import (Dribbler, Prober, World, burst, header_flood,  # noqa: E402
                     idle_connections, open_fds, rss_kib, send_chunked)


def latencies(results):
    ok = [r * 1000 for r, _ in results if r is not None]
    return {"probes": len(results), "failed": len(results) - len(ok),
            "p50_ms": round(common.percentile(ok, 50), 1) if ok else None,
            "max_ms": round(max(ok), 1) if ok else None}


def timed_answer(world, text):
    t0 = time.monotonic()
    world.answered(text)
    return round(time.monotonic() - t0, 2)


def main():
    rows, result = [], {}
    with tempfile.TemporaryDirectory(prefix="hm-bench-hostile-") as tmp:
        world = World(pathlib.Path(tmp))
        try:
            world.answered("warm up")
            base_rss, base_fds = rss_kib(world.pid), open_fds(world.pid)
            result["baseline"] = {"rss_kib": base_rss, "fds": base_fds,
                                  "matrix_answer_s": timed_answer(world, "baseline")}
            rows.append(["baseline", f"RSS {base_rss / 1024:.1f} MiB, {base_fds} files",
                         f"Matrix answer {result['baseline']['matrix_answer_s']} s"])

            t0 = time.monotonic()
            status, taken = header_flood(world.admin_port, 300)
            r = {"status": status, "mib_taken": taken, "seconds": round(time.monotonic() - t0, 2),
                 "rss_delta_kib": rss_kib(world.pid) - base_rss}
            result["header_flood_300mib"] = r
            rows.append(["300 MiB of headers, no token", f"{status or 'closed'} after "
                         f"{taken} MiB sent, {r['seconds']} s", f"RSS +{r['rss_delta_kib']} KiB"])

            token = world.gateway.admin_token()
            for name, tok in (("chunked_300mib_no_token", None), ("chunked_300mib_token", token)):
                status = send_chunked(world.admin_port, "/v1/profiles/hostile/notify", 300, tok)
                r = {"status": status, "rss_delta_kib": rss_kib(world.pid) - base_rss}
                result[name] = r
                rows.append([name.replace("_", " "), status or "closed",
                             f"RSS +{r['rss_delta_kib']} KiB"])

            idle = idle_connections(world.admin_port, 100, ["127.0.0.2"])
            dribblers = [Dribbler(world.admin_port, "127.0.0.2") for _ in range(4)]
            prober = Prober(f"{world.admin}/healthz")
            for t in (*dribblers, prober):
                t.start()
            answer_s = timed_answer(world, "while they dribble")
            while any(d.closed_after is None for d in dribblers):
                time.sleep(0.2)
            probes = latencies(prober.finish())
            cut = [round(d.closed_after, 1) for d in dribblers]
            for d in dribblers:
                d.close()
            for s in idle:
                s.close()
            result["dribble_4_idle_100"] = {"healthz": probes, "dribblers_cut_after_s": cut,
                                            "matrix_answer_s": answer_s}
            rows.append(["4 dribblers + 100 idle (one address)",
                         f"/healthz p50 {probes['p50_ms']} ms, max {probes['max_ms']} ms, "
                         f"{probes['failed']}/{probes['probes']} failed",
                         f"dribblers cut after {cut} s; Matrix answer {answer_s} s"])

            prober = Prober(f"{world.admin}/healthz")
            prober.start()
            socks = idle_connections(world.admin_port, 1100, [f"127.0.1.{i}" for i in range(1, 21)])
            time.sleep(1)
            peak_fds = open_fds(world.pid) - base_fds
            rss_delta = rss_kib(world.pid) - base_rss
            answer_s = timed_answer(world, "during the flood")
            for s in socks:
                s.close()
            t0 = time.monotonic()
            while not world.healthy():
                time.sleep(0.1)
            recovered = round(time.monotonic() - t0, 2)
            probes = latencies(prober.finish())
            result["idle_1100_from_20_addresses"] = {
                "extra_fds": peak_fds, "rss_delta_kib": rss_delta, "matrix_answer_s": answer_s,
                "healthz": probes, "healthz_after_close_s": recovered}
            rows.append(["1,100 idle (20 addresses, file limit 1,024)",
                         f"+{peak_fds} files, RSS +{rss_delta} KiB; /healthz "
                         f"{probes['failed']}/{probes['probes']} failed, max {probes['max_ms']} ms",
                         f"Matrix answer {answer_s} s"])

            t0 = time.monotonic()
            statuses = burst(f"{world.admin}/healthz", 200)
            seconds = round(time.monotonic() - t0, 2)
            ok = statuses.count(200)
            scrapes = burst(f"http://127.0.0.1:{world.metrics_port}/metrics", 100)
            result["burst"] = {"healthz_200_ok": ok, "seconds": seconds,
                               "metrics_100_ok": scrapes.count(200)}
            rows.append(["burst of 200 /healthz, 100 /metrics", f"{ok}/200 and "
                         f"{scrapes.count(200)}/100 answered 200", f"{seconds} s"])
            result["after"] = {"rss_kib": rss_kib(world.pid), "fds": open_fds(world.pid)}
        finally:
            world.close()
    common.table(rows, ["attack", "what the gateway did", "meanwhile"])
    common.write_result("hostile_clients", result)
    if result["burst"]["healthz_200_ok"] != 200:
        common.fail("a request of the burst was not answered")


if __name__ == "__main__":
    main()

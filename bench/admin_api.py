#!/usr/bin/python3
"""The admin HTTP API under load: how long GET /v1/status and GET /readyz take with N
profiles (the supervisor asks every cell), and how long a notification takes from the
POST to its event on the homeserver, one at a time and in a burst over all profiles.

    /usr/bin/python3 bench/admin_api.py [--profiles 10] [--requests 200] [--notifications 100]

Setup as the other benchmarks (bench/README.md), plus MATRIX_HOME_ROOM = the profile's
DM room and `--admin-listen 127.0.0.1:0`. Delivery latency is the event's
origin_server_ts (devhs, ms) minus the wall-clock time the POST was sent.
"""

import argparse
import asyncio
import re
import sys
import time
import uuid

import aiohttp

import common


def admin_url(gw, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(gw.lines):
            m = re.search(r"admin API listening on (http://\S+)", line)
            if m:
                return m.group(1)
        time.sleep(0.1)
    raise RuntimeError("the gateway never logged its admin API address")


def stats(values):
    return {"n": len(values), "p50_ms": common.percentile(values, 50),
            "p95_ms": common.percentile(values, 95), "max_ms": max(values)}


async def run(n_profiles, n_requests, n_notifications):
    hs = common.start_homeserver()
    gw = None
    try:
        with common.tmpdir("hm-bench-admin-") as tmp:
            async with aiohttp.ClientSession() as s:
                anon = common.Client(s, hs.url)
                human, human_id = await anon.register(common.HUMAN)
                names = [f"a{i}" for i in range(n_profiles)]
                bots = await common.make_bots(s, hs.url, names, human_id)
                rooms = {n: await common.make_dm(human, bots[n][0], bots[n][1]) for n in names}
                home = common.make_home(tmp, bots, hs.url, "http://127.0.0.1:9", human_id)
                for n in names:
                    env = home / "profiles" / n / ".env"
                    env.write_text(env.read_text() + f"MATRIX_HOME_ROOM={rooms[n]}\n")
                gw = common.Gateway(home, names, ["--admin-listen", "127.0.0.1:0"])
                gw.wait_running(60)
                await common.wait_past_first_sync(s, hs.url, [b[1] for b in bots.values()], 30)
                url = admin_url(gw)
                token = (home / "hermes-matrix" / "admin-token").read_text().strip()
                auth = {"Authorization": f"Bearer {token}"}

                async def timed_get(path, headers=None):
                    t0 = time.perf_counter()
                    async with s.get(url + path, headers=headers) as r:
                        await r.read()
                        ok = r.status == 200
                    return (time.perf_counter() - t0) * 1000, ok

                status_ms, ready_ms, bad = [], [], 0
                for _ in range(n_requests):
                    ms, ok = await timed_get("/v1/status", auth)
                    status_ms.append(ms)
                    bad += not ok
                    ms, ok = await timed_get("/readyz")
                    ready_ms.append(ms)
                    bad += not ok

                async def notify(name, body):
                    sent_at = time.time()
                    t0 = time.perf_counter()
                    async with s.post(f"{url}/v1/profiles/{name}/notify", json={"body": body},
                                      headers=auth) as r:
                        await r.read()
                        accepted = r.status == 202
                    return sent_at, (time.perf_counter() - t0) * 1000, accepted

                async def delivered(name, bodies, timeout):
                    """{body: origin_server_ts} once every body is in the room (or timeout)."""
                    deadline = time.monotonic() + timeout
                    while True:
                        events = await common.room_events(s, hs.url, rooms[name])
                        seen = {}
                        for e in events:
                            b = e.get("content", {}).get("body")
                            if e["sender"] != human_id and b in bodies:
                                seen.setdefault(b, []).append(e["origin_server_ts"])
                        if len(seen) == len(bodies) or time.monotonic() > deadline:
                            return seen
                        await asyncio.sleep(0.05)

                # One at a time: POST, then wait for the event.
                seq_accept, seq_deliver, problems = [], [], []
                for i in range(n_notifications):
                    name = names[i % n_profiles]
                    body = f"sequential {i} {uuid.uuid4().hex[:8]}"
                    sent_at, ms, accepted = await notify(name, body)
                    seen = await delivered(name, {body}, 30)
                    if not accepted or body not in seen:
                        problems.append(f"sequential {i} on {name}: accepted={accepted}, "
                                        f"delivered={body in seen}")
                        continue
                    seq_accept.append(ms)
                    seq_deliver.append(seen[body][0] - sent_at * 1000)

                # A burst: every notification at once, spread over the profiles.
                t0 = time.time()
                burst = {n: set() for n in names}
                jobs = []
                for i in range(n_notifications):
                    name = names[i % n_profiles]
                    body = f"burst {i} {uuid.uuid4().hex[:8]}"
                    burst[name].add(body)
                    jobs.append(notify(name, body))
                results = await asyncio.gather(*jobs)
                burst_accept = [ms for _, ms, ok in results if ok]
                last_ts, dupes, lost = 0, 0, 0
                for name in names:
                    seen = await delivered(name, burst[name], 60)
                    lost += len(burst[name]) - len(seen)
                    dupes += sum(len(v) - 1 for v in seen.values())
                    last_ts = max([last_ts] + [v[0] for v in seen.values()])
                burst_total_s = last_ts / 1000 - t0
                mem = common.memory_kib(gw.pid)
    finally:
        rc = gw.stop() if gw else None
        hs.stop()

    result = {
        "profiles": n_profiles,
        "status": stats(status_ms), "readyz": stats(ready_ms), "bad_responses": bad,
        "notify_sequential_accept": stats(seq_accept),
        "notify_sequential_delivery": stats(seq_deliver),
        "notify_burst": {"n": n_notifications, "accepted": len(burst_accept),
                         "accept": stats(burst_accept), "lost": lost, "duplicates": dupes,
                         "all_delivered_s": burst_total_s},
        "problems": problems, "gateway_exit": rc, "gateway_memory_kib": mem,
    }
    rows = [[k, v["n"], f"{v['p50_ms']:.1f}", f"{v['p95_ms']:.1f}", f"{v['max_ms']:.1f}"]
            for k, v in (("GET /v1/status", result["status"]), ("GET /readyz", result["readyz"]),
                         ("notify: 202 (one at a time)", result["notify_sequential_accept"]),
                         ("notify: POST to event", result["notify_sequential_delivery"]),
                         ("notify: 202 (burst)", result["notify_burst"]["accept"]))]
    common.table(rows, ["what", "n", "p50 ms", "p95 ms", "max ms"])
    print(f"burst of {n_notifications} over {n_profiles} profiles: all delivered in "
          f"{burst_total_s:.2f} s, lost {lost}, duplicates {dupes}; bad responses {bad}; "
          f"gateway exit {rc}")
    common.write_result("admin_api", result)
    return not problems and lost == 0 and dupes == 0 and bad == 0 and rc == 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profiles", type=int, default=10)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--notifications", type=int, default=100)
    a = p.parse_args()
    common.check_binary()
    ok = asyncio.run(run(a.profiles, a.requests, a.notifications))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Memory and idle CPU of hermes-matrix with 1, 10, 100 and 1000 idle profiles, each
its own bot user connected and long-polling /sync against the dev homeserver, with
encryption off and on (MATRIX_E2EE_MODE=required: each profile creates its Olm
account and uploads its keys at start); and the time from start to all profiles
running and synced.

    /usr/bin/python3 bench/idle_rss.py [--profiles 1,10,100,1000] [--e2ee off,on] [--idle 20]

Per case: a fresh hermes-matrix process on a fresh HERMES_HOME. "running" = the
profile's `running as` log line; "first sync" = the homeserver has seen the bot's
second /sync request (the first one is over). Then it settles 5 s and measures CPU
(utime+stime from /proc/<pid>/stat) over --idle seconds, and VmRSS/VmHWM from
/proc/<pid>/status. See bench/README.md.
"""

import argparse
import asyncio
import sys
import time

import aiohttp

import common


async def run_case(n, idle_s, settle_s, e2ee):
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    gw = None
    try:
        with common.tmpdir("hm-bench-idle-") as tmp:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as s:
                anon = common.Client(s, hs.url)
                human, human_id = await anon.register(common.HUMAN)
                names = [f"idle{i:04d}" for i in range(n)]
                t_reg = time.monotonic()
                bots = await common.make_bots(s, hs.url, names, human_id, concurrency=50)
                reg_s = time.monotonic() - t_reg
                home = common.make_home(tmp, bots, hs.url, agent.url, human_id,
                                        "MATRIX_E2EE_MODE=required\n" if e2ee else "")
                gw = common.Gateway(home, names)
                t0 = time.monotonic()
                all_running = gw.wait_running(max(60, n * 0.5))
                await common.wait_past_first_sync(s, hs.url, [bots[x][1] for x in names],
                                                  max(60, n * 0.5))
                if e2ee:  # every device's keys are on the server
                    await common.wait_device_keys(human, [bots[x][1] for x in names],
                                                  max(60, n * 0.5))
                all_synced = time.monotonic() - t0
                await asyncio.sleep(settle_s)
                mem0 = common.memory_kib(gw.pid)
                c0 = {"gw": common.cpu_seconds(gw.pid), "hs": common.cpu_seconds(hs.pid)}
                w0 = time.monotonic()
                syncs0 = sum((await common.sync_counts(s, hs.url)).values())
                await asyncio.sleep(idle_s)
                syncs1 = sum((await common.sync_counts(s, hs.url)).values())
                w = time.monotonic() - w0
                c1 = {"gw": common.cpu_seconds(gw.pid), "hs": common.cpu_seconds(hs.pid)}
                mem1 = common.memory_kib(gw.pid)
                alive = gw.proc.poll() is None
    finally:
        rc = gw.stop() if gw else None
        agent.stop()
        hs.stop()
    return {
        "profiles": n, "e2ee": e2ee, "register_s": round(reg_s, 2),
        "start_to_all_running_s": round(all_running, 2),
        "start_to_all_past_first_sync_s": round(all_synced, 2),
        "idle_window_s": round(w, 1),
        "idle_cpu_percent": round((c1["gw"] - c0["gw"]) / w * 100, 2),
        "devhs_cpu_percent": round((c1["hs"] - c0["hs"]) / w * 100, 2),
        "syncs_per_s_in_window": round((syncs1 - syncs0) / w, 2),
        "vmrss_kib": mem1["VmRSS"], "vmhwm_kib": mem1["VmHWM"], "threads": mem1["Threads"],
        "vmrss_kib_window_start": mem0["VmRSS"],
        "rss_kib_per_profile": round(mem1["VmRSS"] / n, 1),
        "alive_at_end": alive, "gateway_exit_code": rc,
        "gateway_error_lines": gw.problems[:20] if gw else [],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", default="1,10,100,1000", help="comma-separated cases (1,10,100,1000)")
    ap.add_argument("--e2ee", default="off,on", help="encryption off, on or both (off,on)")
    ap.add_argument("--idle", type=float, default=20, help="seconds of idle measurement (20)")
    ap.add_argument("--settle", type=float, default=5, help="seconds after all synced (5)")
    args = ap.parse_args()
    common.check_binary()
    cases = []
    for e2ee in args.e2ee.split(","):
        for n in (int(x) for x in args.profiles.split(",")):
            print(f"-- {n} idle profile(s), encryption {e2ee}", flush=True)
            cases.append(asyncio.run(run_case(n, args.idle, args.settle, e2ee == "on")))
    rows = [("on" if c["e2ee"] else "off", c["profiles"], c["start_to_all_running_s"], c["start_to_all_past_first_sync_s"],
             round(c["vmrss_kib"] / 1024, 1), round(c["vmhwm_kib"] / 1024, 1),
             c["rss_kib_per_profile"], c["threads"], c["idle_cpu_percent"],
             c["devhs_cpu_percent"], c["syncs_per_s_in_window"]) for c in cases]
    print()
    common.table(rows, ["e2ee", "profiles", "all running s", "all synced s", "VmRSS MiB", "VmHWM MiB",
                        "RSS KiB/profile", "threads", f"idle CPU % ({args.idle:g} s)",
                        "devhs CPU %", "/sync per s"])
    common.write_result("idle_rss", {"idle_s": args.idle, "cases": cases})
    bad = [c for c in cases if not c["alive_at_end"] or c["gateway_exit_code"] not in (0, None)]
    for c in bad:
        common.fail(f"{c['profiles']} profiles: gateway alive at end {c['alive_at_end']}, "
                    f"exit {c['gateway_exit_code']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

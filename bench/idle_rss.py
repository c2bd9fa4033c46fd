#!/usr/bin/python3
"""Memory and idle CPU of hermes-matrix with 1 to 10,000 idle profiles, each its own
bot user connected and long-polling /sync against the dev homeserver, with encryption
off and on (MATRIX_E2EE_MODE=required: each profile creates its Olm account and uploads
its keys at its first start); and the time from start to all profiles running and
synced. Each case starts the gateway twice on the same HERMES_HOME: "first" (fresh
stores: accounts created and keys uploaded) and "restart" (the stores already there:
the normal restart of an idle fleet).

    /usr/bin/python3 bench/idle_rss.py [--profiles 1,10,100,1000] [--e2ee off,on] [--idle 20]

Per start: "running" = the profile's `running as` log line; "synced" = the homeserver
has seen the bot's second /sync request (the first one is over; on a restart, which
resumes from the stored cursor, its first) and, encrypted, every bot's device keys are
on the server. Then it settles 5 s and measures CPU
(utime+stime from /proc/<pid>/stat) over --idle seconds, and VmRSS/VmHWM from
/proc/<pid>/status. See bench/README.md.
"""

import argparse
import asyncio
import os
import resource
import sys
import time

import aiohttp

import common


def raise_open_file_limit(wanted=200_000):
    """Every idle profile holds a long-poll: a socket in the gateway and one in devhs,
    plus its store's files in the gateway. Raise this process's limit (inherited by
    both); the hard limit only as root (CAP_SYS_RESOURCE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def open_files(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def measure_start(s, hs, home, names, bot_ids, human, e2ee, idle_s, settle_s, label):
    """Starts the gateway on `home`, waits until every profile runs and is synced,
    measures the idle window, stops it. The homeserver's request counts are reset
    first, so "synced" means a second /sync of this start."""
    n = len(names)
    async with s.delete(hs.url + "/_devhs/requests") as r:
        r.raise_for_status()
    # Polling every user's counts costs devhs a JSON document of all of them: less
    # often with many users (the "synced" figure is then up to that much late).
    poll = max(0.1, n / 10000)
    gw = common.Gateway(home, names)
    try:
        t0 = time.monotonic()
        all_running = gw.wait_running(max(60, n * 0.5))
        # A first start's first /sync is the initial one (timeout 0): synced once the
        # second is on the server. A restart resumes from the stored cursor: its first
        # /sync is already the long-poll at the head of the stream.
        await common.wait_past_first_sync(s, hs.url, bot_ids, max(60, n * 0.5), poll,
                                          syncs=2 if label == "first" else 1)
        if e2ee:  # every device's keys are on the server
            await common.wait_device_keys(human, bot_ids, max(60, n * 0.5))
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
        files = open_files(gw.pid)
        alive = gw.proc.poll() is None
    finally:
        rc = gw.stop()
    return {
        "profiles": n, "e2ee": e2ee, "start": label,
        "start_to_all_running_s": round(all_running, 2),
        "start_to_all_past_first_sync_s": round(all_synced, 2),
        "idle_window_s": round(w, 1),
        "idle_cpu_percent": round((c1["gw"] - c0["gw"]) / w * 100, 2),
        "devhs_cpu_percent": round((c1["hs"] - c0["hs"]) / w * 100, 2),
        "syncs_per_s_in_window": round((syncs1 - syncs0) / w, 2),
        "vmrss_kib": mem1["VmRSS"], "vmhwm_kib": mem1["VmHWM"], "threads": mem1["Threads"],
        "vmrss_kib_window_start": mem0["VmRSS"],
        "rss_kib_per_profile": round(mem1["VmRSS"] / n, 1),
        "open_files": files,
        "alive_at_end": alive, "gateway_exit_code": rc,
        "gateway_error_lines": gw.problems[:20],
    }


async def run_case(n, idle_s, settle_s, e2ee, restart):
    hs = common.start_homeserver(max_lifetime=max(900, n * 0.4))
    agent = common.start_agent_double(max_lifetime=max(900, n * 0.4))
    out = []
    try:
        with common.tmpdir("hm-bench-idle-") as tmp:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as s:
                anon = common.Client(s, hs.url)
                human, human_id = await anon.register(common.HUMAN)
                names = [f"idle{i:05d}" for i in range(n)]
                t_reg = time.monotonic()
                bots = await common.make_bots(s, hs.url, names, human_id, concurrency=50)
                reg_s = time.monotonic() - t_reg
                home = common.make_home(tmp, bots, hs.url, agent.url, human_id,
                                        "MATRIX_E2EE_MODE=required\n" if e2ee else "")
                bot_ids = [bots[x][1] for x in names]
                for label in ("first", "restart") if restart else ("first",):
                    print(f"   {label} start", flush=True)
                    case = await measure_start(s, hs, home, names, bot_ids, human, e2ee,
                                               idle_s, settle_s, label)
                    case["register_s"] = round(reg_s, 2)
                    out.append(case)
    finally:
        agent.stop()
        hs.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", default="1,10,100,1000",
                    help="comma-separated cases (1,10,100,1000; 10000 is the issue's goal)")
    ap.add_argument("--e2ee", default="off,on", help="encryption off, on or both (off,on)")
    ap.add_argument("--idle", type=float, default=30,
                    help="seconds of idle measurement (30: one long-poll period, so that every "
                         "bot's long-poll ends once in it, however their starts lined up)")
    ap.add_argument("--settle", type=float, default=5, help="seconds after all synced (5)")
    ap.add_argument("--no-restart", action="store_true",
                    help="only the first start of each case, not the restart on its stores")
    args = ap.parse_args()
    common.check_binary()
    files = raise_open_file_limit()
    cases = []
    for e2ee in args.e2ee.split(","):
        for n in (int(x) for x in args.profiles.split(",")):
            print(f"-- {n} idle profile(s), encryption {e2ee}", flush=True)
            cases += asyncio.run(run_case(n, args.idle, args.settle, e2ee == "on",
                                          not args.no_restart))
    rows = [("on" if c["e2ee"] else "off", c["profiles"], c["start"], c["start_to_all_running_s"],
             c["start_to_all_past_first_sync_s"],
             round(c["vmrss_kib"] / 1024, 1), round(c["vmhwm_kib"] / 1024, 1),
             c["rss_kib_per_profile"], c["threads"], c["open_files"], c["idle_cpu_percent"],
             c["devhs_cpu_percent"], c["syncs_per_s_in_window"]) for c in cases]
    print()
    common.table(rows, ["e2ee", "profiles", "start", "all running s", "all synced s", "VmRSS MiB",
                        "VmHWM MiB", "RSS KiB/profile", "threads", "files",
                        f"idle CPU % ({args.idle:g} s)", "devhs CPU %", "/sync per s"])
    common.write_result("idle_rss", {"idle_s": args.idle, "open_file_limit": files, "cases": cases})
    bad = [c for c in cases if not c["alive_at_end"] or c["gateway_exit_code"] not in (0, None)]
    for c in bad:
        common.fail(f"{c['profiles']} profiles: gateway alive at end {c['alive_at_end']}, "
                    f"exit {c['gateway_exit_code']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

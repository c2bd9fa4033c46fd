#!/usr/bin/python3
"""Messages per second through ONE profile and through TEN profiles, each profile its
own bot user in its own DM room with one human, against the dev homeserver and an
instant agent double (one delta, no pacing). Every message is waited for until it has
its final outcome (a ✅ or ❌ reaction from the bot). Two modes:

  burst   the human sends N messages per room as fast as the homeserver accepts them
          (one PUT at a time per room, all rooms at once). Hermes' default
          busy_input_mode is `interrupt`, so a message arriving while the previous one
          of the same DM is being answered interrupts it (❌, "interrupted").
  closed  one message in flight per room: the next goes out when the human's own
          /sync shows the previous one's final reaction. Every message is answered.

    /usr/bin/python3 bench/throughput.py [--messages 200] [--profiles 1,10] [--modes burst,closed]

ok msg/s = messages answered (✅) / wall time, wall time = first send started to the
origin_server_ts of the last final reaction. CPU seconds of every process over that
window come from /proc/<pid>/stat. See bench/README.md.
"""

import argparse
import asyncio
import json
import sys
import time

import aiohttp

import common


async def run_case(mode, n_profiles, n_messages, timeout_s):
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    gw = None
    try:
        with common.tmpdir("hm-bench-tp-") as tmp:
            async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0)) as s:
                anon = common.Client(s, hs.url)
                human, human_id = await anon.register(common.HUMAN)
                names = [f"tp{i:02d}" for i in range(n_profiles)]
                bots = await common.make_bots(s, hs.url, names, human_id)
                rooms = {}
                for name in names:
                    bot, bot_id = bots[name]
                    rooms[name] = await common.make_dm(human, bot, bot_id)
                home = common.make_home(tmp, bots, hs.url, agent.url, human_id)
                gw = common.Gateway(home, names)
                gw.wait_running(120)
                await common.wait_past_first_sync(s, hs.url, [bots[n][1] for n in names], 60)

                # Warm-up: one message per room, answered, before anything is measured
                # (the first /sync of each bot is done, connections are open).
                warm = {name: await human.send_text(rooms[name], "warm-up") for name in names}
                deadline = time.monotonic() + 60
                while True:
                    pending = [n for n in names if warm[n] not in common.final_reactions(
                        await common.room_events(s, hs.url, rooms[n]), human_id)]
                    if not pending:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"warm-up message not answered in {pending}; gateway log:\n" + "".join(gw.lines[-30:]))
                    await asyncio.sleep(0.2)

                pids = {"hermes-matrix": gw.pid, "devhs": hs.pid, "agent double": agent.pid}
                cpu0 = {k: common.cpu_seconds(p) for k, p in pids.items()}
                mem0 = common.memory_kib(gw.pid)
                bot_ids = [bots[n][1] for n in names]
                syncs0 = await common.sync_counts(s, hs.url)
                bench0 = time.process_time()
                t0 = time.time()
                sent = {}     # event id -> (room name, time the PUT returned)
                send_done = {}

                async def sender(name):
                    for i in range(n_messages):
                        eid = await human.send_text(rooms[name], f"{name} message {i}")
                        sent[eid] = name
                    send_done[name] = time.time()

                async def closed_loop_sender(name, watcher):
                    for i in range(n_messages):
                        eid = await human.send_text(rooms[name], f"{name} message {i}")
                        sent[eid] = name
                        if not await watcher.wait(eid, timeout_s):
                            break  # counted as never answered below
                    send_done[name] = time.time()

                if mode == "burst":
                    await asyncio.gather(*(sender(n) for n in names))
                else:
                    watcher = common.reaction_watcher(human, human_id, [bots[n][1] for n in names])
                    await watcher.start()
                    try:
                        await asyncio.gather(*(closed_loop_sender(n, watcher) for n in names))
                    finally:
                        await watcher.stop()
                t_sent = time.time()

                # Wait for a final reaction on every message (poll the control API;
                # wall time comes from origin_server_ts, so the poll rate adds nothing).
                finals, answered_texts = {}, {}
                deadline = time.monotonic() + timeout_s
                while True:
                    finals = {}
                    for name in names:
                        finals.update(common.final_reactions(
                            await common.room_events(s, hs.url, rooms[name]), human_id))
                    missing = [e for e in sent if e not in finals]
                    if not missing or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(1.0)
                cpu1 = {k: common.cpu_seconds(p) for k, p in pids.items()}
                bench_cpu = time.process_time() - bench0
                syncs1 = await common.sync_counts(s, hs.url)
                bot_syncs = sum(syncs1.get(u, 0) - syncs0.get(u, 0) for u in bot_ids)
                events = {}
                for name in names:
                    events[name] = await common.room_events(s, hs.url, rooms[name])
                mem = common.memory_kib(gw.pid)
                async with s.get(agent.url + "/_double/requests") as r:
                    agent_log = (await r.json())["requests"]
                agent_requests = len(agent_log) - len(names)  # minus the warm-ups
                agent_texts = "\n".join(json.dumps(q.get("body"), ensure_ascii=False)
                                        for q in agent_log)
    finally:
        rc = gw.stop() if gw else None
        agent.stop()
        hs.stop()

    per_msg = {e: finals.get(e) for e in sent}
    ok = [e for e, f in per_msg.items() if f and f[0] == "✅"]
    bad = [e for e, f in per_msg.items() if f and f[0] == "❌"]
    missing = [e for e, f in per_msg.items() if not f]
    last_ts = max((f[1] for f in per_msg.values() if f), default=t0 * 1000) / 1000
    wall = last_ts - t0
    # For each message without a final reaction: did the gateway ever act on it?
    texts = {}
    for name in names:
        for ev in events[name]:
            if ev["event_id"] in sent:
                texts[ev["event_id"]] = ev["content"].get("body", "")
    all_replies = {}
    for name in names:
        all_replies.update(common.replies(events[name], human_id))
    missing_detail = [{"event_id": e, "room_profile": sent[e], "text": texts.get(e),
                       "reply": e in all_replies,
                       "agent_request": json.dumps(texts.get(e, "?"))[1:-1] + '"' in agent_texts}
                      for e in missing]
    reply_kinds = {}
    for name in names:
        reps = common.replies(events[name], human_id)
        for e in sent:
            if sent[e] == name and e in reps:
                body = reps[e]["content"].get("body", "")
                kind = ("echo" if body.startswith("echo:") else
                        "interrupted" if "interrupted" in body else
                        "queue full" if "Too many messages" in body else "other")
                reply_kinds[kind] = reply_kinds.get(kind, 0) + 1
    cpu = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu1}
    cpu["bench client"] = round(bench_cpu, 2)
    total = n_profiles * n_messages
    return {
        "mode": mode, "profiles": n_profiles, "messages_per_profile": n_messages, "sent": total,
        "answered_ok": len(ok), "answered_failed": len(bad), "never_answered": len(missing),
        "never_answered_examples": missing[:5],
        "never_answered_detail": missing_detail,
        "reply_kinds": reply_kinds,
        "agent_requests": agent_requests,
        "bot_syncs": bot_syncs,
        "send_phase_s": round(t_sent - t0, 3),
        "wall_s": round(wall, 3),
        "last_finals_s": [round(f[1] / 1000 - t0, 3) for f in
                          sorted((f for f in per_msg.values() if f), key=lambda f: f[1])[-5:]],
        "msgs_per_s_answered": round(len(ok) / wall, 1) if wall > 0 else 0,
        "msgs_per_s_final": round((len(ok) + len(bad)) / wall, 1) if wall > 0 else 0,
        "cpu_s": cpu,
        "gateway_cpu_s_per_1000_msgs": round(cpu["hermes-matrix"] / max(1, len(ok) + len(bad))
                                             * 1000, 2),
        "gateway_rss_kib_before": mem0.get("VmRSS"),
        "gateway_rss_kib_after": mem.get("VmRSS"), "gateway_hwm_kib": mem.get("VmHWM"),
        "gateway_exit_code": rc,
        "gateway_error_lines": gw.problems[:20] if gw else [],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200, help="messages per profile (200)")
    ap.add_argument("--profiles", default="1,10", help="comma-separated cases (1,10)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait for answers")
    ap.add_argument("--modes", default="burst,closed",
                    help="burst: send all at once; closed: one message in flight per room")
    args = ap.parse_args()
    common.check_binary()
    cases = []
    for mode in args.modes.split(","):
        for n in (int(x) for x in args.profiles.split(",")):
            print(f"-- {mode}: {n} profile(s) x {args.messages} messages", flush=True)
            cases.append(asyncio.run(run_case(mode, n, args.messages, args.timeout)))
    rows = [(c["mode"], c["profiles"], c["sent"], c["answered_ok"], c["answered_failed"],
             c["never_answered"], c["wall_s"], c["msgs_per_s_answered"], c["msgs_per_s_final"],
             c["cpu_s"]["hermes-matrix"], c["cpu_s"]["devhs"], c["cpu_s"]["agent double"],
             c["cpu_s"]["bench client"], c["gateway_cpu_s_per_1000_msgs"]) for c in cases]
    print()
    common.table(rows, ["mode", "profiles", "sent", "ok ✅", "failed ❌", "missing", "wall s",
                        "ok msg/s", "final msg/s", "gw cpu s", "devhs cpu s", "agent cpu s",
                        "client cpu s", "gw cpu s/1k"])
    for c in cases:
        print(f"{c['mode']}, {c['profiles']} profile(s): replies by kind {c['reply_kinds']}; "
              f"{c['agent_requests']} agent requests; {c['bot_syncs']} bot /sync requests; send phase {c['send_phase_s']} s; "
              f"gateway RSS {c['gateway_rss_kib_before']} -> {c['gateway_rss_kib_after']} KiB")
    m = common.machine()
    print(f"machine: {m['nproc']} cores, {m['cpu_model']}, {m['ram_gib']} GiB; "
          "devhs and the agent double are single-threaded Python on the same cores: "
          "the figures are bounded by them")
    common.write_result("throughput", {"cases": cases})
    bad = [c for c in cases if c["never_answered"] or c["gateway_exit_code"] not in (0, None)]
    for c in bad:
        d = c["never_answered_detail"]
        common.fail(f"{c['mode']}, {c['profiles']} profile(s): {c['never_answered']} message(s) never got a "
                    f"final reaction; of them {sum(x['reply'] for x in d)} got a reply and "
                    f"{sum(x['agent_request'] for x in d)} reached the agent; texts "
                    f"{[x['text'] for x in d[:8]]}; gateway exit {c['gateway_exit_code']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

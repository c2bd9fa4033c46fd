#!/usr/bin/python3
"""hermes-matrix against the peer (bench/peers/nio_bot.py: a plain matrix-nio bot
with encryption on, as its documentation shows) doing the same job against the same
dev homeserver and agent double in the same run. Everything encrypted.

    /usr/bin/python3 bench/peer.py [--messages 200] [--bots 10]

1. Conversation: one bot, one encrypted DM, the human (matrix-nio) sends --messages
   messages one at a time (the next once the previous one is answered, seen by the
   human's /sync). Per bot: CPU seconds per 1,000 messages (/proc/<pid>/stat), the
   added latency (inbound = agent request received − message ts; outbound = reply ts
   − agent first delta (hermes, streamed) or agent request received (nio, not
   streamed; the instant double answers in ~0.3 ms)), RSS after.
   "answered" means: hermes-matrix's ✅ (after 👀, typing, the reply, ✅: 5 sends per
   message), the peer's reply (1 send per message).
2. Memory: --bots idle bots, connected and syncing, encryption on: hermes-matrix as
   one process with --bots profiles; the peer as --bots processes (one per profile,
   as the seed's setup runs Hermes' gateways) and as one process with --bots
   clients. RSS and PSS (/proc/<pid>/smaps_rollup: shared pages split between the
   processes that share them) per bot.

Ratios are peer ÷ hermes-matrix (above 1: hermes-matrix uses less). See bench/README.md.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid

import aiohttp

import common
from e2ee import E2EE_ENV, encrypted_dm, nio_human, nio_send

NIO_BOT = common.BENCH_DIR / "peers" / "nio_bot.py"
BOT_PASSWORD = "bench-bot-pw-1"


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


class NioBots:
    """bench/peers/nio_bot.py serving `bots` [(user id, agent url)] in one process."""

    def __init__(self, hs_url, human_id, bots, tmp, tag):
        conf = {"homeserver": hs_url, "allowed": [human_id], "bots": []}
        for i, (uid, agent_url) in enumerate(bots):
            store = tmp / f"nio-{tag}-{i}"
            store.mkdir()
            conf["bots"].append({"user_id": uid, "password": BOT_PASSWORD,
                                 "store": str(store), "agent_url": agent_url})
        path = tmp / f"nio-{tag}.json"
        path.write_text(json.dumps(conf))
        self.proc = subprocess.Popen([common.PYTHON, str(NIO_BOT), str(path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.pid = self.proc.pid

    def wait_ready(self, timeout):
        # readline blocks; the bot prints `ready N` or dies (EOF).
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready"):
            raise RuntimeError(f"nio bot did not start: {line!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


async def conversation(kind, n_messages, timeout):
    """One bot (`hermes` or `nio`), one encrypted DM, n_messages closed loop."""
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    bot_proc, nio = None, None
    try:
        with common.tmpdir(f"hm-bench-peer-{kind}-") as tmpname:
            tmp = common.pathlib.Path(tmpname)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
                anon = common.Client(s, hs.url)
                human, human_id = await anon.register(common.HUMAN, password="bench-pw-1")
                bot, bot_id = await anon.register("peerbot", password=BOT_PASSWORD)
                room = await encrypted_dm(human, bot, bot_id)
                if kind == "hermes":
                    home = common.make_home(tmp, {"peerbot": (bot, bot_id)}, hs.url,
                                            agent.url, human_id, E2EE_ENV)
                    bot_proc = common.Gateway(home, ["peerbot"])
                    bot_proc.wait_running(60)
                    await common.wait_past_first_sync(s, hs.url, [bot_id], 60)
                    finals = lambda evs: common.final_reactions(evs, human_id)  # noqa: E731
                else:
                    bot_proc = NioBots(hs.url, human_id, [(bot_id, agent.url + "/p/peerbot")],
                                       tmp, "conv")
                    bot_proc.wait_ready(120)
                    finals = lambda evs: common.replies(evs, human_id)  # noqa: E731
                await common.wait_device_keys(human, [bot_id], 60)
                (tmp / "human").mkdir()
                nio = await nio_human(hs.url, tmp / "human", "bench-pw-1")
                await nio.sync(timeout=0, full_state=True)
                if nio.should_query_keys:
                    await nio.keys_query()
                watcher = common.FinalWatcher(human, [bot_id], finals,
                                              types=("m.room.encrypted",))
                await watcher.start()
                try:
                    for i in range(2):  # warm-up: key sharing both ways, connections
                        if not await watcher.wait(await nio_send(nio, room, f"warm-up {i}"),
                                                  60):
                            raise RuntimeError(f"{kind}: warm-up not answered")
                    cpu0 = common.cpu_seconds(bot_proc.pid)
                    t0 = time.time()
                    sent = []
                    for i in range(n_messages):
                        token = uuid.uuid4().hex[:12]
                        eid = await nio_send(nio, room, f"peer message {i} tok{token}")
                        sent.append((eid, token))
                        if not await watcher.wait(eid, timeout):
                            break
                    cpu = common.cpu_seconds(bot_proc.pid) - cpu0
                finally:
                    await watcher.stop()
                mem = common.memory_kib(bot_proc.pid)
                pss = pss_kib(bot_proc.pid)
                events = await common.room_events(s, hs.url, room)
                async with s.get(agent.url + "/_double/requests") as r:
                    requests = (await r.json())["requests"]
    finally:
        if nio is not None:
            await nio.close()
        rc = bot_proc.stop() if bot_proc else None
        agent.stop()
        hs.stop()

    answered = finals(events)
    n_ok = sum(1 for e, _ in sent if e in answered)
    last = max((answered[e][1] if isinstance(answered[e], tuple) else answered[e]["origin_server_ts"])
               for e, _ in sent if e in answered) / 1000 if n_ok else t0
    by_id = {e["event_id"]: e for e in events}
    reps = common.replies(events, human_id)
    if kind == "nio":  # not streamed: no first_delta_sent; the double answers at once
        for q in requests:
            q.setdefault("first_delta_sent", q["received"])
    samples, problems = common.gateway_latency(sent, by_id, reps, {}, requests)
    plaintext = [e["event_id"] for e in events if e["sender"] == bot_id
                 and e["type"] in ("m.room.message", "m.reaction")]
    bot_sends = sum(1 for e in events if e["sender"] == bot_id and e["type"] == "m.room.encrypted")
    return {"bot": kind, "messages": n_messages, "answered": n_ok,
            "wall_s": round(last - t0, 2), "msg_per_s": round(n_ok / (last - t0), 1) if n_ok else None,
            "cpu_s": round(cpu, 2), "cpu_s_per_1k": round(cpu / max(1, n_ok) * 1000, 2),
            "room_events_sent_by_bot": bot_sends,
            "latency_ms": {k: common.stats([x[k] for x in samples])
                           for k in ("gateway_ms", "inbound_ms", "outbound_ms")},
            "latency_problems": problems[:5], "rss_kib": mem["VmRSS"], "pss_kib": pss,
            "plaintext_from_bot": plaintext[:5], "exit_code": rc}


async def memory(n_bots, settle):
    """RSS/PSS of n idle encrypted bots: hermes-matrix (one process), the peer as n
    processes and as one process of n clients."""
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    out = {}
    try:
        with common.tmpdir("hm-bench-peer-mem-") as tmpname:
            tmp = common.pathlib.Path(tmpname)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as s:
                anon = common.Client(s, hs.url)
                human, human_id = await anon.register(common.HUMAN)

                async def bots(tag):
                    got = {}
                    for i in range(n_bots):
                        got[f"{tag}{i:03d}"] = await anon.register(f"{tag}{i:03d}",
                                                                   password=BOT_PASSWORD)
                    return got

                hb = await bots("hmem")
                home = common.make_home(tmp, hb, hs.url, agent.url, human_id, E2EE_ENV)
                gw = common.Gateway(home, list(hb))
                try:
                    gw.wait_running(120)
                    await common.wait_device_keys(human, [u for _, u in hb.values()], 120)
                    await asyncio.sleep(settle)
                    m = common.memory_kib(gw.pid)
                    out["hermes"] = {"processes": 1, "rss_kib": m["VmRSS"],
                                     "pss_kib": pss_kib(gw.pid), "threads": m["Threads"]}
                finally:
                    gw.stop()

                for layout in ("processes", "one"):
                    nb = await bots(f"n{layout[0]}mem")
                    pairs = [(u, agent.url + "/p/" + name) for name, (_, u) in nb.items()]
                    procs = ([NioBots(hs.url, human_id, [p], tmp, f"{layout}{i}")
                              for i, p in enumerate(pairs)] if layout == "processes"
                             else [NioBots(hs.url, human_id, pairs, tmp, layout)])
                    try:
                        for p in procs:
                            p.wait_ready(120)
                        await common.wait_device_keys(human, [u for u, _ in pairs], 120)
                        await asyncio.sleep(settle)
                        out[f"nio_{layout}"] = {
                            "processes": len(procs),
                            "rss_kib": sum(common.memory_kib(p.pid)["VmRSS"] for p in procs),
                            "pss_kib": sum(pss_kib(p.pid) for p in procs)}
                    finally:
                        for p in procs:
                            p.stop()
    finally:
        agent.stop()
        hs.stop()
    for v in out.values():
        v["rss_kib_per_bot"] = round(v["rss_kib"] / n_bots, 1)
        v["pss_kib_per_bot"] = round(v["pss_kib"] / n_bots, 1)
    return out


def ratio(a, b):
    return round(a / b, 1) if a is not None and b else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200, help="conversation messages (200)")
    ap.add_argument("--bots", type=int, default=10, help="idle bots for memory (10)")
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    common.check_binary()
    conv = {}
    for kind in ("hermes", "nio"):
        print(f"-- conversation, {kind}", flush=True)
        conv[kind] = asyncio.run(conversation(kind, args.messages, args.timeout))
    print(f"-- memory, {args.bots} idle bots each", flush=True)
    mem = asyncio.run(memory(args.bots, args.settle))

    h, n = conv["hermes"], conv["nio"]
    lat = lambda c, k: c["latency_ms"][k]["median"] if c["latency_ms"][k] else None  # noqa: E731
    p99 = lambda c: c["latency_ms"]["gateway_ms"]["p99"] if c["latency_ms"]["gateway_ms"] else None  # noqa: E731
    rows = [
        ("CPU s per 1,000 messages", h["cpu_s_per_1k"], n["cpu_s_per_1k"],
         ratio(n["cpu_s_per_1k"], h["cpu_s_per_1k"])),
        ("added latency median ms", lat(h, "gateway_ms"), lat(n, "gateway_ms"),
         ratio(lat(n, "gateway_ms"), lat(h, "gateway_ms"))),
        ("added latency p99 ms", p99(h), p99(n), ratio(p99(n), p99(h))),
        ("  inbound median ms", lat(h, "inbound_ms"), lat(n, "inbound_ms"),
         ratio(lat(n, "inbound_ms"), lat(h, "inbound_ms"))),
        ("  outbound median ms", lat(h, "outbound_ms"), lat(n, "outbound_ms"),
         ratio(lat(n, "outbound_ms"), lat(h, "outbound_ms"))),
        ("msg/s, one at a time", h["msg_per_s"], n["msg_per_s"], ratio(h["msg_per_s"], n["msg_per_s"])),
        ("room events sent per message", round(h["room_events_sent_by_bot"] / (h["answered"] + 2), 1),
         round(n["room_events_sent_by_bot"] / (n["answered"] + 2), 1), None),
        ("RSS MiB, 1 bot after the conversation", round(h["rss_kib"] / 1024, 1),
         round(n["rss_kib"] / 1024, 1), ratio(n["rss_kib"], h["rss_kib"])),
    ]
    hm = mem["hermes"]
    for layout, label in (("nio_processes", f"{args.bots} processes"),
                          ("nio_one", f"1 process, {args.bots} clients")):
        m = mem[layout]
        rows.append((f"RSS KiB per idle bot (nio: {label})", hm["rss_kib_per_bot"],
                     m["rss_kib_per_bot"], ratio(m["rss_kib_per_bot"], hm["rss_kib_per_bot"])))
        rows.append((f"PSS KiB per idle bot (nio: {label})", hm["pss_kib_per_bot"],
                     m["pss_kib_per_bot"], ratio(m["pss_kib_per_bot"], hm["pss_kib_per_bot"])))
    print()
    common.table(rows, ["encrypted, same devhs and agent double", "hermes-matrix", "nio bot",
                        "ratio (nio ÷ hermes; msg/s: hermes ÷ nio)"])
    print(f"conversation: {args.messages} messages one at a time; hermes answered "
          f"{h['answered']}, nio {n['answered']}")
    common.write_result("peer", {"conversation": conv, "memory": mem, "bots": args.bots})
    bad = [c for c in conv.values() if c["answered"] < c["messages"] or c["plaintext_from_bot"]]
    if bad:
        common.fail(f"unanswered or plaintext: {[(c['bot'], c['answered'], c['plaintext_from_bot']) for c in bad]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

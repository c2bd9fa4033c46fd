#!/usr/bin/python3
"""Streaming under the default coalescing (at most one edit per second per room):
the time from the agent's first token to the first visible text in the room, the
edits sent per reply, and the time from the agent's last byte to the complete text
in the room (the final edit). One profile, one DM (unencrypted), the agent double
streaming a fixed ~600-character reply in several paces; messages one at a time.

    /usr/bin/python3 bench/streaming.py [--replies 8] [--paces 10x0.05,30x0.1,60x0.1]

A pace DxS = D content deltas, S seconds apart, the first after a random 0..1 s
(--first-token-delay; the gateway reads the stream on a 500 ms tick, so the phase
matters). From devhs origin_server_ts and the agent double's stamps (first_delta_sent,
last_byte_sent). See bench/README.md.
"""

import argparse
import asyncio
import random
import sys
import time
import uuid

import aiohttp

import common

REPLY = " ".join(f"word{i}" for i in range(100))  # ~600 characters, no Markdown


def edits_of(events, reply_id):
    return [e for e in events if e["type"] == "m.room.message"
            and e.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace"
            and e["content"]["m.relates_to"].get("event_id") == reply_id]


async def run(paces, n_replies, max_first_token_delay, timeout):
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    gw = None
    out = []
    try:
        with common.tmpdir("hm-bench-stream-") as tmp:
            async with aiohttp.ClientSession() as s:
                human, human_id, bot_id, room, gw = await common.one_bot_in_a_dm(
                    s, hs, agent, tmp, "stream")
                watcher = common.reaction_watcher(human, human_id, [bot_id])
                await watcher.start()
                try:
                    rng = random.Random(8)
                    for deltas, delay in paces:
                        sent = []
                        for i in range(n_replies + 1):  # the first is a warm-up
                            # The gateway looks at the stream on a 500 ms tick from the
                            # turn's start: a first token at a random phase of it.
                            script = {"reply": REPLY, "deltas": deltas, "delay": delay,
                                      "first_token_delay": rng.uniform(0, max_first_token_delay)}
                            async with s.post(agent.url + "/_double/script",
                                              json={"script": script, "count": 1}) as r:
                                r.raise_for_status()
                            token = uuid.uuid4().hex[:12]
                            eid = await human.send_text(room, f"stream {deltas}x{delay} {i} tok{token}")
                            if not await watcher.wait(eid, timeout):
                                raise RuntimeError(f"no ✅ for {eid}; log:\n" + "".join(gw.lines[-20:]))
                            if i:
                                sent.append((eid, token))
                        out.append({"deltas": deltas, "delay_s": delay, "sent": sent})
                finally:
                    await watcher.stop()
                events = await common.room_events(s, hs.url, room)
                async with s.get(agent.url + "/_double/requests") as r:
                    requests = (await r.json())["requests"]
    finally:
        rc = gw.stop() if gw else None
        agent.stop()
        hs.stop()

    reps = common.replies(events, human_id)
    fin = common.final_reactions(events, human_id)
    by_token = {}
    for q in requests:
        for m in q.get("body", {}).get("messages", []) if isinstance(q.get("body"), dict) else []:
            c = m.get("content")
            if isinstance(c, str) and "tok" in c:
                by_token.setdefault(c.rsplit("tok", 1)[1][:12], q)
    cases = []
    for case in out:
        samples = []
        for eid, token in case["sent"]:
            q, rep = by_token.get(token), reps.get(eid)
            if not q or not rep:
                continue
            ed = edits_of(events, rep["event_id"])
            last_ts = max([e["origin_server_ts"] for e in ed] or [rep["origin_server_ts"]])
            final_body = (ed[-1]["content"].get("m.new_content", {}).get("body")
                          if ed else rep["content"].get("body"))
            samples.append({
                "first_token_to_visible_ms": rep["origin_server_ts"] - q["first_delta_sent"] * 1000,
                "edits": len(ed),
                "stream_s": q["last_byte_sent"] - q["first_delta_sent"],
                "last_byte_to_complete_ms": last_ts - q["last_byte_sent"] * 1000,
                "complete": (final_body or "").strip().endswith(REPLY.split()[-1]),
                "ok": fin.get(eid, ("?",))[0] == "✅"})
        cases.append({
            "deltas": case["deltas"], "delay_s": case["delay_s"], "replies": len(samples),
            "stream_s": common.stats([x["stream_s"] for x in samples]),
            "first_token_to_visible_ms": common.stats([x["first_token_to_visible_ms"] for x in samples]),
            "edits_per_reply": common.stats([x["edits"] for x in samples]),
            "last_byte_to_complete_ms": common.stats([x["last_byte_to_complete_ms"] for x in samples]),
            "all_complete": all(x["complete"] for x in samples),
            "all_ok": all(x["ok"] for x in samples)})
    return cases, rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replies", type=int, default=8, help="measured replies per pace (8)")
    ap.add_argument("--paces", default="10x0.05,30x0.1,60x0.1",
                    help="DELTASxSECONDS, comma-separated (10x0.05,30x0.1,60x0.1)")
    ap.add_argument("--first-token-delay", type=float, default=1.0,
                    help="the agent's first token comes after a random 0..this many s (1.0)")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    common.check_binary()
    paces = [(int(d), float(x)) for d, x in (p.split("x") for p in args.paces.split(","))]
    cases, rc = asyncio.run(run(paces, args.replies, args.first_token_delay, args.timeout))
    med = lambda st, k="median": st[k] if st else None  # noqa: E731
    rows = [(f"{c['deltas']} x {c['delay_s']} s", c["replies"], med(c["stream_s"]),
             med(c["first_token_to_visible_ms"]), med(c["first_token_to_visible_ms"], "p99"),
             med(c["edits_per_reply"]), med(c["edits_per_reply"], "max"),
             med(c["last_byte_to_complete_ms"]), med(c["last_byte_to_complete_ms"], "max"),
             c["all_complete"]) for c in cases]
    common.table(rows, ["pace (deltas x gap)", "replies", "stream s", "1st token → visible ms",
                        "p99", "edits/reply", "max", "last byte → complete ms", "max",
                        "complete"])
    print("medians; ms from devhs origin_server_ts (1 ms) and the agent double's stamps")
    common.write_result("streaming", {"max_first_token_delay_s": args.first_token_delay,
                                      "cases": cases, "gateway_exit_code": rc})
    bad = [c for c in cases if not c["all_complete"] or not c["all_ok"] or not c["replies"]]
    if bad or rc not in (0, None):
        common.fail(f"incomplete or not ✅: {[(c['deltas'], c['delay_s']) for c in bad]}; exit {rc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

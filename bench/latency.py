#!/usr/bin/python3
"""The gateway's own added latency per message, agent and homeserver-side waiting
excluded, from server-side timestamps: one profile, one DM room, N messages sent one
at a time (the next only after the previous got its ✅), instant agent double.

    /usr/bin/python3 bench/latency.py [--messages 500]

For message m (devhs stamps origin_server_ts in ms; the agent double stamps its
request record with time.time()):

  inbound  = agent.received − m.origin_server_ts
             (the bot's /sync long-poll wakes, the batch is journalled, policy, the
             agent request is built and sent)
  outbound = reply.origin_server_ts − agent.first_delta_sent
             (the stream is read and decoded, the reply rendered, handed to the outbox
             and PUT to the homeserver)
  gateway  = inbound + outbound
  done     = ✅.origin_server_ts − agent.last_byte_sent  (the end of the turn, for reference)

See bench/README.md.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid

import aiohttp

import common


async def run(n_messages, timeout_s):
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    gw = None
    try:
        with common.tmpdir("hm-bench-lat-") as tmp:
            async with aiohttp.ClientSession() as s:
                human, human_id, bot_id, room, gw = await common.one_bot_in_a_dm(
                    s, hs, agent, tmp, "lat")

                # The human learns of each ✅ by its own /sync long-poll (only the bot's
                # reactions in this room).
                filt = json.dumps({"presence": {"types": []}, "account_data": {"types": []},
                                   "room": {"rooms": [room], "state": {"types": []},
                                            "ephemeral": {"types": []},
                                            "timeline": {"types": ["m.reaction"],
                                                         "senders": [bot_id], "limit": 50}}})
                first = await human.call("GET", "/sync", params={"filter": filt, "timeout": "0"})
                since = first["next_batch"]
                finals = {}

                async def wait_final(eid):
                    nonlocal since
                    deadline = time.monotonic() + timeout_s
                    while eid not in finals:
                        if time.monotonic() > deadline:
                            return False
                        data = await human.call("GET", "/sync", params={
                            "filter": filt, "since": since, "timeout": "10000"})
                        since = data["next_batch"]
                        tl = data.get("rooms", {}).get("join", {}).get(room, {}).get(
                            "timeline", {}).get("events", [])
                        for k, v in common.final_reactions(
                                [dict(e, sender=e["sender"]) for e in tl], human_id).items():
                            finals[k] = v
                    return True

                # Two warm-up messages, not measured.
                sent = []
                for i in range(n_messages + 2):
                    token = uuid.uuid4().hex[:12]
                    eid = await human.send_text(room, f"latency probe {i} {token}")
                    if not await wait_final(eid):
                        raise RuntimeError(f"message {i} ({eid}) got no final reaction in "
                                           f"{timeout_s} s; gateway log:\n"
                                           + "".join(gw.lines[-20:]))
                    if i >= 2:
                        sent.append((eid, token))
                events = await common.room_events(s, hs.url, room)
                async with s.get(agent.url + "/_double/requests") as r:
                    requests = (await r.json())["requests"]
                mem = common.memory_kib(gw.pid)
    finally:
        rc = gw.stop() if gw else None
        agent.stop()
        hs.stop()

    by_id = {e["event_id"]: e for e in events}
    reps = common.replies(events, human_id)
    fin = common.final_reactions(events, human_id)

    def request_for(token):
        for r in requests:
            if token in json.dumps(r.get("body"), ensure_ascii=False):
                return r
        return None

    samples, problems = [], []
    for eid, token in sent:
        req = request_for(token)
        rep = reps.get(eid)
        if req is None or rep is None or "first_delta_sent" not in req:
            problems.append(f"{eid}: agent request {'found' if req else 'missing'}, "
                            f"reply {'found' if rep else 'missing'}")
            continue
        m_ts = by_id[eid]["origin_server_ts"] / 1000
        inbound = req["received"] - m_ts
        outbound = rep["origin_server_ts"] / 1000 - req["first_delta_sent"]
        done = fin[eid][1] / 1000 - req["last_byte_sent"] if eid in fin else None
        agent_s = req["last_byte_sent"] - req["received"]
        total = (fin[eid][1] - by_id[eid]["origin_server_ts"]) / 1000 if eid in fin else None
        samples.append({"event_id": eid, "inbound_ms": inbound * 1000,
                        "outbound_ms": outbound * 1000, "gateway_ms": (inbound + outbound) * 1000,
                        "done_ms": done * 1000 if done is not None else None,
                        "agent_ms": agent_s * 1000,
                        "message_to_final_ms": total * 1000 if total is not None else None,
                        "final": fin.get(eid, ("?",))[0]})

    def stats(key):
        vals = [x[key] for x in samples if x[key] is not None]
        if not vals:
            return None
        return {"median": round(common.percentile(vals, 50), 1),
                "p99": round(common.percentile(vals, 99), 1),
                "min": round(min(vals), 1), "max": round(max(vals), 1), "n": len(vals)}

    return {
        "messages": n_messages, "measured": len(samples), "problems": problems,
        "not_ok": [x["event_id"] for x in samples if x["final"] != "✅"],
        "stats_ms": {k: stats(k) for k in ("gateway_ms", "inbound_ms", "outbound_ms",
                                           "done_ms", "agent_ms", "message_to_final_ms")},
        "gateway_rss_kib_after": mem.get("VmRSS"), "gateway_exit_code": rc,
        "samples": samples,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=500, help="measured messages (500)")
    ap.add_argument("--timeout", type=float, default=30, help="seconds to wait for each ✅")
    args = ap.parse_args()
    common.check_binary()
    res = asyncio.run(run(args.messages, args.timeout))
    rows = []
    labels = {"gateway_ms": "gateway (inbound+outbound)",
              "inbound_ms": "  inbound: message ts -> agent request received",
              "outbound_ms": "  outbound: agent first delta -> reply ts",
              "done_ms": "agent last byte -> ✅ ts (reference)",
              "agent_ms": "agent double: received -> last byte (excluded)",
              "message_to_final_ms": "message ts -> ✅ ts (end to end)"}
    for k, label in labels.items():
        st = res["stats_ms"][k]
        if st:
            rows.append((label, st["n"], st["median"], st["p99"], st["min"], st["max"]))
    common.table(rows, ["ms", "n", "median", "p99", "min", "max"])
    print("timestamps: devhs origin_server_ts has 1 ms resolution (truncated), the agent "
          "double's are microseconds; all clocks are this machine's")
    common.write_result("latency", res)
    failed = res["problems"] or res["not_ok"] or res["measured"] < res["messages"] \
        or res["gateway_exit_code"] not in (0, None)
    if failed:
        common.fail(f"measured {res['measured']} of {res['messages']}; problems: "
                    f"{res['problems'][:5]}; not ✅: {res['not_ok'][:5]}; "
                    f"gateway exit {res['gateway_exit_code']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

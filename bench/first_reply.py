#!/usr/bin/python3
"""First-reply latency in a fresh encrypted room with 1, 10 and 50 member devices
(the bot's not counted), key sharing included: the bot has never seen those devices,
so before its first encrypted event it queries their keys, claims a one-time key per
device, opens an Olm session to each and sends its Megolm room key to every one.

    /usr/bin/python3 bench/first_reply.py [--devices 1,10,50] [--repeats 3]

One gateway, one profile (MATRIX_E2EE_MODE=required, MATRIX_REQUIRE_MENTION=false).
Per repeat and device count: new member devices (password logins with python3-olm
accounts whose signed device and one-time keys are uploaded; users of up to 5 devices
each; the human's nio device is one of the N), a new encrypted room the human creates and everyone joins, the bot's /sync
seen past the joins, then the human sends one message through nio. From devhs'
origin_server_ts: message -> the bot's first event (👀, the first thing it encrypts),
-> its reply, -> its ✅; the agent double's own time (received -> last byte) is shown
beside it (instant double). The bot's /keys/query, /keys/claim and /sendToDevice
requests in the window come from devhs' request counts. See bench/README.md.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid

import aiohttp

import common
from e2ee import E2EE_ENV, nio_human, nio_send

DEVICES_PER_USER = 5


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def upload_device(s, hs_url, uid, password, name):
    """One new device of `uid`: a password login and an Olm account (python3-olm) whose
    signed device keys and signed one-time keys are uploaded, as any client does.
    (nio would do the same, but its store setup costs ~0.5 s per device.)"""
    import olm
    login = await common.Client(s, hs_url).call("POST", "/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": uid},
        "password": password, "initial_device_display_name": name})
    dev = login["device_id"]
    acct = olm.Account()
    ident = acct.identity_keys
    keys = {"user_id": uid, "device_id": dev,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {f"curve25519:{dev}": ident["curve25519"], f"ed25519:{dev}": ident["ed25519"]}}
    keys["signatures"] = {uid: {f"ed25519:{dev}": acct.sign(canonical(keys))}}
    acct.generate_one_time_keys(5)
    otks = {}
    for kid, key in acct.one_time_keys["curve25519"].items():
        signed = {"key": key}
        signed["signatures"] = {uid: {f"ed25519:{dev}": acct.sign(canonical(signed))}}
        otks[f"signed_curve25519:{kid}"] = signed
    await common.Client(s, hs_url, login["access_token"]).call(
        "POST", "/keys/upload", {"device_keys": keys, "one_time_keys": otks})


async def member_devices(s, hs_url, tag, n):
    """n new devices with uploaded keys over ceil(n/5) new users; returns
    [(user id, access token)], one per user."""
    anon = common.Client(s, hs_url)
    users = []
    for u in range(0, n, DEVICES_PER_USER):
        client, uid = await anon.register(f"m{tag}u{u // DEVICES_PER_USER}", password="bench-pw-1")
        users.append((uid, client.token))
        await asyncio.gather(*(upload_device(s, hs_url, uid, "bench-pw-1", f"d{d}")
                               for d in range(min(DEVICES_PER_USER, n - u))))
    return users


def bot_counts(counts, bot_id):
    mine = counts.get(bot_id, {})
    pick = lambda word: sum(v for k, v in mine.items() if word in k)  # noqa: E731
    return {"keys_query": pick("/keys/query"), "keys_claim": pick("/keys/claim"),
            "send_to_device": pick("/sendToDevice")}


async def one(s, hs, agent, nio, human, human_id, bot_id, tmp, tag, n_devices, timeout):
    members = await member_devices(s, hs.url, tag, n_devices - 1)
    # The bot joins first, by itself (an invite from an allowed user); then the members.
    room = (await human.call("POST", "/createRoom", {
        "invite": [bot_id],
        "initial_state": [{"type": "m.room.encryption", "state_key": "",
                           "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))["room_id"]
    deadline = time.monotonic() + timeout
    while bot_id not in (await human.call("GET", f"/rooms/{room}/joined_members"))["joined"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the bot did not join {room}")
        await asyncio.sleep(0.05)
    for uid, token in members:
        await human.call("POST", f"/rooms/{room}/invite", {"user_id": uid})
        await common.Client(s, hs.url, token).call("POST", f"/join/{room}", {})
    # The bot's long-poll wakes on the joins and starts the next one within
    # milliseconds; a second is ample on an idle gateway.
    base = (await common.sync_counts(s, hs.url)).get(bot_id, 0)
    deadline = time.monotonic() + 1.0
    while (await common.sync_counts(s, hs.url)).get(bot_id, 0) <= base \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await nio.sync(timeout=0)
    if nio.should_query_keys:
        await nio.keys_query()
    before = bot_counts(await control_counts(s, hs.url), bot_id)
    token = uuid.uuid4().hex[:12]
    eid = await nio_send(nio, room, f"first message tok{token}")
    deadline = time.monotonic() + timeout
    while True:
        events = await common.room_events(s, hs.url, room)
        fin = common.final_reactions(events, human_id)
        if eid in fin or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    after = bot_counts(await control_counts(s, hs.url), bot_id)
    by_id = {e["event_id"]: e for e in events}
    if eid not in fin or eid not in by_id:
        return {"devices": n_devices, "answered": False}
    m_ts = by_id[eid]["origin_server_ts"]
    first_bot = min(e["origin_server_ts"] for e in events
                    if e["sender"] == bot_id and e["type"] == "m.room.encrypted")
    rep = common.replies(events, human_id).get(eid)
    async with s.get(agent.url + "/_double/requests") as r:
        req = next((q for q in (await r.json())["requests"] if token in str(q.get("body"))), None)
    plaintext = [e["event_id"] for e in events if e["sender"] == bot_id
                 and e["type"] in ("m.room.message", "m.reaction")]
    return {"devices": n_devices, "answered": fin[eid][0] == "✅", "room": room,
            "to_first_bot_event_ms": first_bot - m_ts,
            "to_reply_ms": rep["origin_server_ts"] - m_ts if rep else None,
            "to_final_ms": fin[eid][1] - m_ts,
            "agent_ms": round((req["last_byte_sent"] - req["received"]) * 1000, 1) if req else None,
            "bot_requests": {k: after[k] - before[k] for k in after},
            "plaintext_from_bot": plaintext}


async def control_counts(s, base):
    return await common.control(s, base, "/requests")


async def run(device_counts, repeats, timeout):
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    gw, nio = None, None
    results = []
    try:
        with common.tmpdir("hm-bench-first-") as tmpname:
            tmp = common.pathlib.Path(tmpname)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
                anon = common.Client(s, hs.url)
                human, human_id = await anon.register(common.HUMAN, password="bench-pw-1")
                bots = await common.make_bots(s, hs.url, ["first"], human_id)
                bot_id = bots["first"][1]
                home = common.make_home(tmp, bots, hs.url, agent.url, human_id,
                                        E2EE_ENV + "MATRIX_REQUIRE_MENTION=false\n")
                gw = common.Gateway(home, ["first"])
                gw.wait_running(60)
                await common.wait_past_first_sync(s, hs.url, [bot_id], 60)
                await common.wait_device_keys(human, [bot_id], 60)
                (tmp / "nio").mkdir()
                nio = await nio_human(hs.url, tmp / "nio", "bench-pw-1")
                await nio.sync(timeout=0, full_state=True)
                cpu0 = common.cpu_seconds(gw.pid)
                for r in range(repeats):
                    for n in device_counts:
                        print(f"-- repeat {r + 1}, {n} member device(s)", flush=True)
                        results.append(await one(s, hs, agent, nio, human, human_id, bot_id,
                                                 tmp, f"{r}x{n}", n, timeout))
                cpu = common.cpu_seconds(gw.pid) - cpu0
                mem = common.memory_kib(gw.pid)
    finally:
        if nio is not None:
            await nio.close()
        rc = gw.stop() if gw else None
        agent.stop()
        hs.stop()
    return results, {"gateway_cpu_s": round(cpu, 2), "gateway_rss_kib": mem["VmRSS"],
                     "gateway_exit_code": rc, "gateway_error_lines": gw.problems[:10]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", default="1,10,50", help="member device counts (1,10,50)")
    ap.add_argument("--repeats", type=int, default=3, help="rooms per device count (3)")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    common.check_binary()
    counts = [int(x) for x in args.devices.split(",")]
    results, gw = asyncio.run(run(counts, args.repeats, args.timeout))
    rows, summary = [], {}
    for n in counts:
        rs = [r for r in results if r["devices"] == n and r.get("answered")]
        st = {k: common.stats([r[k] for r in rs]) for k in
              ("to_first_bot_event_ms", "to_reply_ms", "to_final_ms", "agent_ms")}
        summary[n] = st
        req = rs[-1]["bot_requests"] if rs else {}
        med = lambda k: st[k]["median"] if st[k] else None  # noqa: E731
        mx = lambda k: st[k]["max"] if st[k] else None  # noqa: E731
        rows.append((n, len(rs), med("to_first_bot_event_ms"), med("to_reply_ms"),
                     med("to_final_ms"), mx("to_reply_ms"), med("agent_ms"),
                     req.get("keys_query"), req.get("keys_claim"), req.get("send_to_device")))
    common.table(rows, ["member devices", "answered", "msg → 👀 ms", "msg → reply ms",
                        "msg → ✅ ms", "reply max ms", "agent ms", "keys/query",
                        "keys/claim", "sendToDevice"])
    print("medians over the repeats; ms from devhs origin_server_ts (1 ms resolution); "
          "requests: the bot's, in the last repeat's window")
    common.write_result("first_reply", {"repeats": args.repeats, "summary": summary,
                                        "runs": results, "gateway": gw})
    bad = [r for r in results if not r.get("answered") or r.get("plaintext_from_bot")]
    if bad or gw["gateway_exit_code"] not in (0, None):
        common.fail(f"not answered or plaintext: {bad[:3]}; exit {gw['gateway_exit_code']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

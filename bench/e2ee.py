#!/usr/bin/python3
"""Encrypted messages per second through 1 and 10 profiles (MATRIX_E2EE_MODE=required,
encrypted DMs, matrix-nio with python3-olm as the human's sending client), the
gateway's added latency in an encrypted room, its CPU seconds per 1,000 messages, and
the limit: bench/megolm_limit (raw libolm Megolm decrypt + encrypt + JSON parse of the
same kind of events, one core) run in the same run, the gateway's throughput given as
a fraction of it.

    /usr/bin/python3 bench/e2ee.py [--messages 200] [--profiles 1,10] [--modes closed,burst]

Modes as in throughput.py: `closed` = one message in flight per room (the next when
the human's /sync shows the previous one's ✅), `burst` = all messages per room sent
as fast as nio encrypts and the homeserver accepts them (the default `interrupt` busy
mode answers a message that arrives mid-answer with ❌ "interrupted": still decrypted,
answered and encrypted, so `final msg/s` counts it). Latency comes from the closed run
with one profile (no queueing). See bench/README.md.
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

LIMIT = common.REPO_ROOT / "build" / "bench" / "megolm_limit"
E2EE_ENV = "MATRIX_E2EE_MODE=required\n"


async def nio_human(hs_url, store, password):
    """The human's encrypting device: matrix-nio with its own store, logged in."""
    from nio import AsyncClient, AsyncClientConfig, LoginResponse
    client = AsyncClient(hs_url, f"@{common.HUMAN}:localhost", store_path=str(store),
                         config=AsyncClientConfig(encryption_enabled=True,
                                                  store_sync_tokens=False))
    resp = await client.login(password, device_name="bench-human")
    if not isinstance(resp, LoginResponse):
        raise RuntimeError(f"nio login failed: {resp}")
    await client.keys_upload()
    return client


async def encrypted_dm(human, bot, bot_id):
    room = await human.call("POST", "/createRoom", {
        "preset": "trusted_private_chat", "is_direct": True, "invite": [bot_id],
        "initial_state": [{"type": "m.room.encryption", "state_key": "",
                           "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]})
    await bot.call("POST", f"/join/{room['room_id']}", {})
    return room["room_id"]


async def nio_send(nio, room_id, text):
    from nio import RoomSendResponse
    resp = await nio.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text},
                               ignore_unverified_devices=True)
    if not isinstance(resp, RoomSendResponse):
        raise RuntimeError(f"nio room_send failed: {resp}")
    return resp.event_id


async def wait_finals(s, hs_url, rooms, eids, human_id, timeout):
    """Polls the control API until every event id has a final reaction."""
    deadline = time.monotonic() + timeout
    while True:
        finals = {}
        for room in rooms:
            finals.update(common.final_reactions(await common.room_events(s, hs_url, room),
                                                 human_id))
        if all(e in finals for e in eids) or time.monotonic() > deadline:
            return finals
        await asyncio.sleep(0.5)


async def run_case(mode, n_profiles, n_messages, timeout_s):
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    gw, nio = None, None
    try:
        with common.tmpdir("hm-bench-e2ee-") as tmp:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
                anon = common.Client(s, hs.url)
                # The raw device (no keys) watches for finals; nio's device encrypts.
                human, human_id = await anon.register(common.HUMAN, password="bench-pw-1")
                names = [f"e2{i:02d}" for i in range(n_profiles)]
                bots = await common.make_bots(s, hs.url, names, human_id)
                rooms = {n: await encrypted_dm(human, *bots[n]) for n in names}
                home = common.make_home(tmp, bots, hs.url, agent.url, human_id, E2EE_ENV)
                gw = common.Gateway(home, names)
                gw.wait_running(120)
                bot_ids = [bots[n][1] for n in names]
                await common.wait_past_first_sync(s, hs.url, bot_ids, 60)
                await common.wait_device_keys(human, bot_ids, 60)

                store = common.pathlib.Path(tmp) / "nio"
                store.mkdir()
                nio = await nio_human(hs.url, store, "bench-pw-1")
                await nio.sync(timeout=0, full_state=True)
                if nio.should_query_keys:
                    await nio.keys_query()

                # Warm-up, one room after the other: nio shares its room key with each
                # bot, each bot shares its own with nio's device; not measured.
                warm = [await nio_send(nio, rooms[n], "warm-up") for n in names]
                finals = await wait_finals(s, hs.url, rooms.values(), warm, human_id, 60)
                if not all(w in finals for w in warm):
                    raise RuntimeError("warm-up not answered; gateway log:\n"
                                       + "".join(gw.lines[-30:]))

                pids = {"hermes-matrix": gw.pid, "devhs": hs.pid, "agent double": agent.pid}
                cpu0 = {k: common.cpu_seconds(p) for k, p in pids.items()}
                bench0 = time.process_time()
                t0 = time.time()
                sent = []  # (event id, token, profile)

                async def one(name, i):
                    token = uuid.uuid4().hex[:12]
                    eid = await nio_send(nio, rooms[name], f"{name} message {i} tok{token}")
                    sent.append((eid, token, name))
                    return eid

                if mode == "burst":
                    async def burst(name):
                        for i in range(n_messages):
                            await one(name, i)
                    await asyncio.gather(*(burst(n) for n in names))
                else:
                    # Encrypted reactions carry their m.relates_to (the key) in clear.
                    watcher = common.reaction_watcher(human, human_id, bot_ids,
                                                      types=("m.reaction", "m.room.encrypted"))
                    await watcher.start()

                    async def closed(name):
                        for i in range(n_messages):
                            if not await watcher.wait(await one(name, i), timeout_s):
                                break
                    try:
                        await asyncio.gather(*(closed(n) for n in names))
                    finally:
                        await watcher.stop()
                finals = await wait_finals(s, hs.url, rooms.values(), [x[0] for x in sent],
                                           human_id, timeout_s)
                cpu1 = {k: common.cpu_seconds(p) for k, p in pids.items()}
                client_cpu = time.process_time() - bench0
                events = []
                for room in rooms.values():
                    events += await common.room_events(s, hs.url, room)
                async with s.get(agent.url + "/_double/requests") as r:
                    requests = (await r.json())["requests"]
                mem = common.memory_kib(gw.pid)
                bot_requests = {u: v for u, v in (await common.control(s, hs.url, "/requests")).items()
                                if u in bot_ids[:1]}
    finally:
        if nio is not None:
            await nio.close()
        rc = gw.stop() if gw else None
        agent.stop()
        hs.stop()

    ok = [e for e, *_ in sent if finals.get(e, ("?",))[0] == "✅"]
    bad = [e for e, *_ in sent if finals.get(e, ("?",))[0] == "❌"]
    missing = [e for e, *_ in sent if e not in finals]
    last_ts = max((finals[e][1] for e, *_ in sent if e in finals), default=t0 * 1000) / 1000
    wall = last_ts - t0
    final_n = len(ok) + len(bad)
    by_id = {e["event_id"]: e for e in events}
    plaintext_from_bots = [e["event_id"] for e in events if e["sender"] in bot_ids
                           and e["type"] in ("m.room.message", "m.reaction")]
    res = {"mode": mode, "profiles": n_profiles, "messages_per_profile": n_messages,
           "sent": len(sent), "ok": len(ok), "failed": len(bad), "missing": len(missing),
           "wall_s": round(wall, 3),
           "ok_msg_per_s": round(len(ok) / wall, 1) if wall > 0 else None,
           "final_msg_per_s": round(final_n / wall, 1) if wall > 0 else None,
           "cpu_s": {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0},
           "client_cpu_s": round(client_cpu, 2),
           "gateway_cpu_s_per_1k": round((cpu1["hermes-matrix"] - cpu0["hermes-matrix"])
                                         / final_n * 1000, 2) if final_n else None,
           "gateway_rss_kib_after": mem.get("VmRSS"), "gateway_exit_code": rc,
           "plaintext_events_from_bots": plaintext_from_bots[:10],
           "gateway_error_lines": gw.problems[:10], "first_bot_requests": bot_requests}
    if mode == "closed" and n_profiles == 1:
        samples, problems = common.gateway_latency(
            [(e, t) for e, t, _ in sent], by_id, common.replies(events, human_id), finals,
            requests)
        res["latency_ms"] = {k: common.stats([x[k] for x in samples])
                             for k in ("gateway_ms", "inbound_ms", "outbound_ms",
                                       "message_to_final_ms")}
        res["latency_problems"] = problems[:10]
        res["outbound_ms_in_order"] = [round(x["outbound_ms"], 1) for x in samples]
    return res


def run_limit(n):
    if not LIMIT.exists():
        common.fail(f"{LIMIT} not built: ninja -C build megolm_limit")
        sys.exit(2)
    out = subprocess.run([str(LIMIT), "--messages", str(n)], capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200, help="messages per profile (200)")
    ap.add_argument("--profiles", default="1,10", help="comma-separated cases (1,10)")
    ap.add_argument("--modes", default="closed,burst", help="closed,burst")
    ap.add_argument("--limit-messages", type=int, default=5000,
                    help="messages through megolm_limit (5000)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds to wait for finals")
    args = ap.parse_args()
    common.check_binary()
    limit_before = run_limit(args.limit_messages)
    cases = []
    for mode in args.modes.split(","):
        for n in (int(x) for x in args.profiles.split(",")):
            print(f"-- {mode}, {n} encrypted profile(s)", flush=True)
            cases.append(asyncio.run(run_case(mode, n, args.messages, args.timeout)))
    limit_after = run_limit(args.limit_messages)
    # The limit as the mean of the runs before and after (the load may change).
    limit = {k: (limit_before[k] + limit_after[k]) / 2 for k in limit_before
             if k.endswith("_per_s") or k.endswith("_per_cpu_s")}
    lim_cpu_ms = 1000 / limit["decrypt_encrypt_per_cpu_s"]
    for c in cases:
        fm = c["final_msg_per_s"] or 0
        c["fraction_of_limit"] = round(fm / limit["decrypt_encrypt_per_s"], 3)
        c["fraction_of_limit_x3"] = round(fm / limit["decrypt_encrypt_x3_per_s"], 3)
        gw_ms = c["gateway_cpu_s_per_1k"]  # CPU s per 1k = CPU ms per message
        c["gateway_cpu_vs_limit_cpu"] = round(gw_ms / lim_cpu_ms, 1) if gw_ms else None
    rows = [(c["mode"], c["profiles"], c["sent"], c["ok"], c["failed"], c["missing"],
             c["wall_s"], c["ok_msg_per_s"], c["final_msg_per_s"], c["cpu_s"]["hermes-matrix"],
             c["cpu_s"]["devhs"], c["client_cpu_s"], c["gateway_cpu_s_per_1k"],
             c["fraction_of_limit"], c["gateway_cpu_vs_limit_cpu"]) for c in cases]
    print()
    common.table(rows, ["mode", "profiles", "sent", "ok ✅", "failed ❌", "missing", "wall s",
                        "ok msg/s", "final msg/s", "gw cpu s", "devhs cpu s", "nio cpu s",
                        "gw cpu s/1k", "÷ limit", "gw cpu ÷ limit cpu"])
    print(f"limit (megolm_limit, 1 core, mean of before/after): "
          f"{limit['decrypt_encrypt_per_s']:.0f} msg/s wall "
          f"({limit['decrypt_encrypt_per_cpu_s']:.0f} per CPU s) decrypt+encrypt; "
          f"{limit['decrypt_encrypt_x3_per_s']:.0f} msg/s wall with 3 encryptions per message")
    for c in cases:
        if "latency_ms" in c:
            print()
            common.table([(k, *(v[x] for x in ("n", "median", "p99", "min", "max")))
                          for k, v in c["latency_ms"].items() if v],
                         ["encrypted, 1 profile, ms", "n", "median", "p99", "min", "max"])
    common.write_result("e2ee", {"limit": limit, "limit_before": limit_before,
                                 "limit_after": limit_after, "cases": cases})
    bad = [c for c in cases if c["missing"] or c["plaintext_events_from_bots"]
           or c["gateway_exit_code"] not in (0, None)]
    for c in bad:
        common.fail(f"{c['mode']} {c['profiles']}: missing {c['missing']}, plaintext "
                    f"{c['plaintext_events_from_bots']}, exit {c['gateway_exit_code']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

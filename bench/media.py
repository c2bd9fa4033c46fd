#!/usr/bin/python3
"""What media cost the gateway (issue 15): time added per image in and out, and memory
held per download. One profile, one DM room, plain; the agent double answers at once.

    /usr/bin/python3 bench/media.py [--rounds 20] [--big-mb 20]

Per round, one at a time (the next only after the previous got its ✅):
  in, text     a text message: agent.received − m.origin_server_ts (the baseline)
  in, small    a 64×48 PNG, passed through to the model as it is
  in, photo    a 4032×3024 JPEG photo (noise, ~3 MB), downloaded, decoded, scaled to
               2048 px, encoded again
  out, image   the agent answers with a MEDIA: line naming a 1600×1000 PNG: the image
               message's origin_server_ts − agent.last_byte_sent (read, thumbnail,
               upload twice, queue, send)
  out, text    the same for a plain answer: the reply's origin_server_ts − last_byte_sent
Memory: the gateway's peak RSS (VmHWM) before and after `--big` downloads of one
`--big-mb` MB file each (saved to the document cache), minus its RSS before them.

Timestamps are the homeserver's (ms) and the agent double's (time.time()).
See bench/README.md.
"""

import argparse
import asyncio
import io
import json
import os
import pathlib
import time
import uuid

import aiohttp

import common

from PIL import Image


def png(width, height, colour):
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def photo(width, height):
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(
        out, "JPEG", quality=40)
    return out.getvalue()


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


async def upload(session, hs_url, token, data, content_type, name):
    async with session.post(f"{hs_url}/_matrix/media/v3/upload", data=data,
                            params={"filename": name},
                            headers={"Authorization": f"Bearer {token}",
                                     "Content-Type": content_type}) as r:
        return (await r.json())["content_uri"]


async def run(rounds, big_mb, big_count, timeout_s):
    hs = common.start_homeserver()
    agent = common.start_agent_double()
    gw = None
    results = {}
    try:
        with common.tmpdir("hm-bench-media-") as tmp:
            async with aiohttp.ClientSession() as s:
                human, human_id, bot_id, room, gw = await common.one_bot_in_a_dm(
                    s, hs, agent, tmp, "eye")
                home = pathlib.Path(tmp) / "hermes-home" / "profiles" / "eye"
                watcher = common.FinalWatcher(
                    human, [bot_id], lambda evs: [e["content"]["m.relates_to"]["event_id"]
                                                  for e in evs if e["type"] == "m.reaction"
                                                  and e["content"].get("m.relates_to", {})
                                                  .get("key") == "✅"])
                await watcher.start()

                async def send(content):
                    txn = uuid.uuid4().hex
                    eid = (await human.call("PUT", f"/rooms/{room}/send/m.room.message/{txn}",
                                            content))["event_id"]
                    if not await watcher.wait(eid, timeout_s):
                        common.fail(f"no ✅ for {eid} within {timeout_s} s")
                    return eid

                async def agent_requests():
                    async with s.get(agent.url + "/_double/requests") as r:
                        return (await r.json())["requests"]

                small = png(64, 48, (200, 30, 30))
                big_photo = photo(4032, 3024)
                chart = png(1600, 1000, (20, 200, 90))
                (home / "chart.png").write_bytes(chart)
                cases = {"in, text": [], "in, small": [], "in, photo": [],
                         "out, text": [], "out, image": []}
                for i in range(rounds):
                    for case, make in (
                            ("in, text", lambda: {"msgtype": "m.text", "body": f"<hello {i}>"}),
                            ("in, small", None), ("in, photo", None)):
                        if case == "in, text":
                            content = make()
                        else:
                            data = small if case == "in, small" else big_photo
                            kind = "image/png" if case == "in, small" else "image/jpeg"
                            uri = await upload(s, hs.url, human.token, data, kind, "x")
                            content = {"msgtype": "m.image", "body": f"<{case} {i}>",
                                       "filename": "x.png" if case == "in, small" else "x.jpg",
                                       "url": uri,
                                       "info": {"mimetype": kind, "size": len(data)}}
                        eid = await send(content)
                        cases[case].append(eid)
                    # Out: the next answer names the chart.
                    async with s.post(agent.url + "/_double/script", json={
                            "script": {"reply": f"Here it is.\nMEDIA:{home}/chart.png"},
                            "count": 1}) as r:
                        assert r.status == 200
                    cases["out, image"].append(await send({"msgtype": "m.text",
                                                           "body": f"<chart {i}>"}))
                    cases["out, text"].append(cases["in, text"][-1])

                events = await common.room_events(s, hs.url, room)
                by_id = {e["event_id"]: e for e in events}
                requests = await agent_requests()

                def request_for(text):
                    for r in requests:
                        if text in json.dumps(r.get("body")):
                            return r
                    return None

                def bot_after(eid, msgtype):
                    for e in events:
                        c = e.get("content", {})
                        if (e["sender"] == bot_id and e["type"] == "m.room.message"
                                and c.get("msgtype") == msgtype
                                and c.get("m.relates_to", {}).get("m.in_reply_to", {})
                                .get("event_id") == eid):
                            return e
                    return None

                for case, eids in cases.items():
                    values = []
                    for eid in eids:
                        ev = by_id[eid]
                        body = ev["content"]["body"]
                        req = request_for(body)
                        if req is None:
                            common.fail(f"the agent never got {body!r}")
                        if case.startswith("in"):
                            values.append(req["received"] * 1000 - ev["origin_server_ts"])
                        else:
                            out = bot_after(eid, "m.image" if case == "out, image" else "m.text")
                            if out is None:
                                common.fail(f"no {case} answer to {eid}")
                            values.append(out["origin_server_ts"] - req["last_byte_sent"] * 1000)
                    results[case] = common.stats(values)

                # Memory held per download.
                before = vm(gw.pid, "VmRSS")
                big = os.urandom(big_mb * 1024 * 1024)
                hwm_before = vm(gw.pid, "VmHWM")
                for i in range(big_count):
                    uri = await upload(s, hs.url, human.token, big, "application/zip", "big.zip")
                    await send({"msgtype": "m.file", "body": f"big{i}.zip", "url": uri,
                                "info": {"mimetype": "application/zip", "size": len(big)}})
                results["memory"] = {"rss_before_kib": before, "hwm_before_kib": hwm_before,
                                     "hwm_after_kib": vm(gw.pid, "VmHWM"),
                                     "rss_after_kib": vm(gw.pid, "VmRSS"),
                                     "file_mib": big_mb, "downloads": big_count}
                await watcher.stop()
    finally:
        if gw is not None:
            gw.stop()
        agent.stop()
        hs.stop()
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--big-mb", type=int, default=20)
    p.add_argument("--big", type=int, default=3, help="downloads of the big file")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    common.check_binary()
    env_note = "HERMES_MATRIX_MEDIA_MAX_MB default (25)"
    results = asyncio.run(run(args.rounds, args.big_mb, args.big, args.timeout))
    rows = [[case, r["n"], f"{r['median']:.1f}", f"{r['p99']:.1f}", f"{r['max']:.1f}"]
            for case, r in results.items() if case != "memory"]
    common.table(rows, ["ms added", "n", "median", "p99", "max"])
    m = results["memory"]
    print(f"memory: RSS {m['rss_before_kib'] / 1024:.1f} MiB before; peak (VmHWM) "
          f"{m['hwm_before_kib'] / 1024:.1f} → {m['hwm_after_kib'] / 1024:.1f} MiB over "
          f"{m['downloads']} downloads of {m['file_mib']} MiB; RSS after "
          f"{m['rss_after_kib'] / 1024:.1f} MiB ({env_note})")
    common.write_result("media", {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()

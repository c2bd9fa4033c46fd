#!/usr/bin/python3
"""The main job of `./dev run`: the example profiles of deploy/examples talking on Matrix.

On loopback it starts the dev homeserver (tests/devhs) and the agent double
(tests/agent_double), registers @doru and one bot account per example profile, copies
deploy/examples to a temporary HERMES_HOME with the homeserver URL, the bots' access
tokens and the agent URL filled in, and runs `hermes-matrix run` on it. Then @doru, on
matrix-nio, opens a DM with each bot and sends it two messages; the conversation is
printed as the client shows it. Then, on a second nio device with encryption, @doru opens
an encrypted DM with @hermes and sends it a picture; the agent sees the picture (its bytes
are compared) and sends one back with a MEDIA: line, which @doru's device decrypts.
Everything is shut down at the end; the exit status is 0 when every message got its
answer and the gateway stopped cleanly.

Run with Debian's python3 (it sees aiohttp and matrix-nio):
    /usr/bin/python3 deploy/demo.py [--binary build/app/hermes-matrix] [--keep DIR]
"""

import argparse
import asyncio
import hashlib
import io
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO))

# The example profiles: directory under the home, bot localpart, device id, who it is.
PROFILES = [
    ("default", "hermes", "HERMES_DEFAULT", "Hermes"),
    ("coder", "hermes-coder", "HERMES_CODER", "Hermes Coder"),
    ("academic_researcher", "hermes-researcher", "HERMES_RESEARCHER", "Hermes Researcher"),
]

CONVERSATIONS = {
    "default": ["Hello! What can you do?", "Thanks, that is all for now."],
    "coder": ["Can you write a function that reverses a string?", "Now add a test for it."],
    "academic_researcher": ["What is known about sleep and memory?", "How sure are you?"],
}

# What each profile's (scripted) agent says: it names the profile and echoes the message.
FLAVOUR = {
    "default": "Hermes (default profile) here. You said: {msg}",
    "coder": "Hermes Coder (coder profile) here: test first! You said: {msg}",
    "academic_researcher": "Hermes Researcher (academic_researcher profile), citing my "
                           "sources: you said \"{msg}\"",
}


def rewrite_env(path, values):
    """Replaces the values of the given keys in a .env, keeping every other line."""
    lines = path.read_text().splitlines()
    out = []
    for line in lines:
        m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if m and m.group(1) in values:
            out.append(f"{m.group(1)}={values[m.group(1)]}")
        else:
            out.append(line)
    path.write_text("\n".join(out) + "\n")
    path.chmod(0o600)


def png(width, height, colour):
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


async def encrypted_picture_dm(hs_url, password, store, bot_id, picture, agent, reply):
    """@doru on an encrypting nio device: an encrypted DM with the bot, a picture sent
    and one received. Returns (what @doru's client shows, the received picture's bytes)."""
    from e2ee_support import Human
    from nio import RoomEncryptedImage, RoomMessageText, RoomSendResponse, UploadResponse
    from nio.crypto.attachments import decrypt_attachment
    doru = await Human(hs_url, store, user="doru", password=password).login("demo phone")
    try:
        room_id = await doru.encrypted_room([bot_id])
        uploaded, keys = await doru.client.upload(io.BytesIO(picture), content_type="image/png",
                                                  filename="red-square.png", encrypt=True,
                                                  filesize=len(picture))
        assert isinstance(uploaded, UploadResponse), uploaded
        agent.script({"reply": reply, "deltas": 1}, model="default", count=1)
        sent = await doru.client.room_send(
            room_id, "m.room.message",
            {"msgtype": "m.image", "body": "What is in this picture?", "filename": "red-square.png",
             "info": {"mimetype": "image/png", "size": len(picture), "w": 64, "h": 64},
             "file": {"url": uploaded.content_uri, **keys}},
            ignore_unverified_devices=True)
        assert isinstance(sent, RoomSendResponse), sent
        shown = [f"Doru: [picture red-square.png, {len(picture)} bytes, encrypted] "
                 "What is in this picture?"]
        text = image = None
        deadline = time.monotonic() + 60
        while (text is None or image is None) and time.monotonic() < deadline:
            resp = await doru.sync()
            room = resp.rooms.join.get(room_id) if hasattr(resp, "rooms") else None
            for ev in (room.timeline.events if room else []):
                if ev.sender != bot_id:
                    continue
                if isinstance(ev, RoomEncryptedImage):
                    got = await doru.client.download(ev.url)
                    image = decrypt_attachment(got.body, ev.key["k"], ev.hashes["sha256"], ev.iv)
                    shown.append(f"Hermes: [picture {ev.body}, {len(image)} bytes, encrypted, "
                                 f"{ev.source['content']['info']['w']}x"
                                 f"{ev.source['content']['info']['h']}]")
                elif isinstance(ev, RoomMessageText) and text is None:
                    text = ev.body
                    shown.append(f"Hermes: {text}")
        assert text is not None and image is not None, shown
        return shown, image
    finally:
        await doru.close()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default=None, help="the hermes-matrix binary "
                   "(default: $HM_BINARY or build/app/hermes-matrix)")
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="work in DIR (emptied first) and keep it: the home, logs, devhs state")
    return p.parse_args()


def main():
    args = parse_args()
    if args.binary:
        os.environ["HM_BINARY"] = str(pathlib.Path(args.binary).resolve())
    os.environ.setdefault("HM_SOURCE_DIR", str(REPO))
    import harness  # after HM_BINARY is set
    from harness import AgentDouble, Devhs, Gateway, Human, edits_of, replies_to, shown_text

    if not os.access(harness.BINARY, os.X_OK):
        print(f"demo: {harness.BINARY} is missing; build first (./dev run does)", file=sys.stderr)
        return 1
    if args.keep:
        work = pathlib.Path(args.keep).resolve()
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="hermes-matrix-demo-")
        work = pathlib.Path(cleanup.name)

    started = time.monotonic()
    hs = agent = doru = gateway = None
    status = 1
    try:
        hs = Devhs(work / "devhs")
        agent = AgentDouble()
        print(f"==> dev homeserver at {hs.url}, agent double at {agent.url}")
        doru = Human(hs, "doru", "Doru")
        bots = {}
        for name, localpart, device, display in PROFILES:
            bots[name] = hs.register(localpart, display, device_id=device)
        print("==> registered " + ", ".join([doru.user_id] + [b.user_id for b in bots.values()]))

        home = work / "hermes-home"
        shutil.copytree(REPO / "deploy" / "examples", home)
        for name, *_ in PROFILES:
            pdir = home if name == "default" else home / "profiles" / name
            rewrite_env(pdir / ".env", {"MATRIX_HOMESERVER": hs.url,
                                        "MATRIX_ACCESS_TOKEN": bots[name].token,
                                        "GATEWAY_PROXY_URL": agent.url})
        print(f"==> HERMES_HOME {home} (a copy of deploy/examples)")
        print("==> hermes-matrix check")
        check = subprocess.run([harness.BINARY, "check", "--hermes-home", str(home)],
                               capture_output=True, text=True, timeout=60)
        print(check.stdout.rstrip())
        if check.returncode != 0:
            raise RuntimeError(f"hermes-matrix check exited {check.returncode}: {check.stderr}")

        # deploy/examples holds all six of the seed's profiles; the demo serves three.
        gateway = Gateway(home, work / "gateway.stderr", hs, list(bots.values()),
                          args=["--profile", ",".join(name for name, *_ in PROFILES)])
        gateway.start()
        print(f"==> hermes-matrix run: {len(bots)} profiles on Matrix, first sync done\n")

        names = {doru.user_id: "Doru"}
        names.update({bots[n].user_id: d for n, _, _, d in PROFILES})
        for name, *_ in PROFILES:
            bot = bots[name]
            room = doru.create_room(invite=[bot], is_direct=True, name=f"Doru and {name}")
            doru.wait_joined(room, bot)
            for msg in CONVERSATIONS[name]:
                answer = FLAVOUR[name].format(msg=msg)
                agent.script({"reply": answer, "deltas": 4, "delay": 0.1}, model=name, count=1)
                source = doru.send(room, msg)
                doru.wait_reply(room, source, bot, final=answer)
                doru.wait_reactions(room, source, bot, ["✅"])
            print(f"--- DM {room} with {bot.user_id} (profile {name}) ---")
            events = doru.events(room)
            for ev in events:
                if ev.get("type") != "m.room.message":
                    continue
                rel = ev["content"].get("m.relates_to") or {}
                if rel.get("rel_type") == "m.replace":
                    continue  # shown as the text it edits
                who = names.get(ev["sender"], ev["sender"])
                text = shown_text(events, ev)
                marks = "".join(e["content"]["m.relates_to"]["key"] for e in events
                                if e.get("type") == "m.reaction"
                                and e["content"]["m.relates_to"].get("event_id") == ev["event_id"])
                edits = len(edits_of(events, ev["event_id"]))
                notes = [marks] if marks else []
                if edits:
                    notes.append(f"streamed: {edits} edit{'s' if edits > 1 else ''}")
                print(f"  {who}: {text}" + (f"   [{', '.join(notes)}]" if notes else ""))
            # Exactly once, as the homeserver saw it.
            server = hs.events(room)
            for ev in server:
                if ev["type"] == "m.room.message" and ev["sender"] == doru.user_id:
                    assert len(replies_to(server, ev["event_id"], bot.user_id)) == 1
            print()
        # Media, encrypted, both ways (issue 15).
        home_out = home / "out"
        home_out.mkdir()
        green = png(96, 64, (30, 170, 60))
        (home_out / "green-rectangle.png").write_bytes(green)
        red = png(64, 64, (200, 30, 30))
        reply = ("A red square, 64 by 64 pixels. Here is a green one for you:\n"
                 f"MEDIA:{home_out}/green-rectangle.png")
        before = len(agent.requests())
        shown, received = asyncio.run(asyncio.wait_for(encrypted_picture_dm(
            hs.url, harness.PASSWORD, work / "doru-phone", bots["default"].user_id, red, agent,
            reply), 120))
        print(f"--- encrypted DM with {bots['default'].user_id} (profile default), a picture "
              "each way ---")
        for line in shown:
            print("  " + line)
        seen = [i for r in agent.requests()[before:] for i in r.get("images", [])]
        assert seen and seen[0]["sha256"] == hashlib.sha256(red).hexdigest(), seen
        assert received == green
        print("  (the agent got Doru's picture byte for byte; Doru's phone decrypted the "
              "bot's picture to the file the agent named)\n")
        gateway.stop()
        print("==> hermes-matrix stopped cleanly (SIGTERM, exit 0)")
        status = 0
    except Exception as e:  # noqa: BLE001 - the demo reports and fails
        print(f"demo failed: {e}", file=sys.stderr)
        if gateway is not None:
            print("---- hermes-matrix stderr (last 60 lines) ----", file=sys.stderr)
            print("\n".join(gateway.stderr().splitlines()[-60:]), file=sys.stderr)
    finally:
        if gateway is not None and gateway.running():
            try:
                gateway.stop()
            except AssertionError as e:
                print(e, file=sys.stderr)
                status = 1
        for thing in (doru,):
            if thing is not None:
                thing.close()
        for thing in (agent, hs):
            if thing is not None:
                thing.stop()
        if cleanup is not None:
            cleanup.cleanup()
    print(f"==> demo {'done' if status == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Media in encrypted rooms (issue 15), with matrix-nio on the person's side: an
encrypted image reaches the agent as the same bytes; a file the agent sends back is an
encrypted attachment that nio decrypts, and nothing of it reaches the homeserver in the
clear."""

import asyncio
import base64
import hashlib
import io
import json
import time
import urllib.request

from e2ee_support import Bot, Human, hermes_and_human, room_events
from harness import AgentDouble, Homeserver

from PIL import Image


def png(width, height, color):
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


async def send_encrypted_image(human, room_id, data, caption="what is in it?", tamper=False):
    """Uploads `data` encrypted and sends it as an m.image; `tamper`: the event names
    another SHA-256 than the ciphertext's (as a swapped file would)."""
    from nio import RoomSendResponse, UploadResponse
    uploaded, keys = await human.client.upload(io.BytesIO(data), content_type="image/png",
                                               filename="secret.png", encrypt=True,
                                               filesize=len(data))
    assert isinstance(uploaded, UploadResponse), uploaded
    if tamper:
        keys = dict(keys, hashes={"sha256": base64.b64encode(b"\x00" * 32).decode().rstrip("=")})
    content = {"msgtype": "m.image", "body": caption, "filename": "secret.png",
               "info": {"mimetype": "image/png", "size": len(data)},
               "file": {"url": uploaded.content_uri, **keys}}
    sent = await human.client.room_send(room_id, "m.room.message", content,
                                        ignore_unverified_devices=True)
    assert isinstance(sent, RoomSendResponse), sent
    return uploaded.content_uri, sent.event_id


async def wait_encrypted_files(human, room_id, sender, count, timeout=60):
    """The first `count` decrypted file (or image) events from `sender`."""
    from nio import RoomEncryptedFile, RoomEncryptedImage
    found = []
    deadline = time.time() + timeout
    while time.time() < deadline and len(found) < count:
        resp = await human.sync()
        room = resp.rooms.join.get(room_id) if hasattr(resp, "rooms") else None
        for ev in (room.timeline.events if room else []):
            if ev.sender == sender and isinstance(ev, (RoomEncryptedFile, RoomEncryptedImage)):
                found.append(ev)
    assert len(found) >= count, f"{len(found)} encrypted files from the bot"
    return found


async def plain_of(human, ev):
    """The decrypted bytes of an encrypted file event, as the person's client gets them,
    and the ciphertext the homeserver holds."""
    from nio.crypto.attachments import decrypt_attachment
    ciphertext = (await human.client.download(ev.url)).body
    return decrypt_attachment(ciphertext, ev.key["k"], ev.hashes["sha256"], ev.iv), ciphertext


def test_media_in_an_encrypted_room_both_ways(tmp_path):
    image = png(48, 32, (90, 10, 160))
    chart = png(1200, 900, (200, 160, 20))
    report = b"%PDF-1.4\n" + b"quarterly figures " * 200
    agent = AgentDouble()
    try:
        with Homeserver(str(tmp_path / "hs")) as hs:
            bot, _, home = hermes_and_human(hs.url, tmp_path,
                                            extra=f"GATEWAY_PROXY_URL={agent.url}\n")
            (home / "out").mkdir()
            (home / "out" / "report.pdf").write_bytes(report)
            (home / "out" / "chart.png").write_bytes(chart)
            proc = Bot(home)
            try:
                assert proc.wait_for(r"running as"), proc.stderr

                async def scenario():
                    human = await Human(hs.url, tmp_path / "nio").login()
                    try:
                        room_id = await human.encrypted_room([bot["user_id"]])
                        uri, _ = await send_encrypted_image(human, room_id, image)
                        answers, undecrypted = await human.read(room_id, bot["user_id"], 1,
                                                                timeout=60)
                        assert answers, undecrypted
                        # A file swapped on the way (its hash is not the event's): refused.
                        await send_encrypted_image(human, room_id, image, "<tampered>",
                                                   tamper=True)
                        refusals, _ = await human.read(room_id, bot["user_id"], 1, timeout=60,
                                                       contains="not the file that was sent")
                        assert refusals, "no refusal of the tampered file"
                        agent.script({"reply": f"The report:\nMEDIA:{home}/out/report.pdf\n"
                                               f"MEDIA:{home}/out/chart.png"}, count=1)
                        await human.send(room_id, "send me the report")
                        files = await wait_encrypted_files(human, room_id, bot["user_id"], 2)
                        return room_id, uri, files, [await plain_of(human, f) for f in files]
                    finally:
                        await human.close()

                room_id, uri, files, contents = asyncio.run(asyncio.wait_for(scenario(), 180))
                events = room_events(hs.url, room_id)
            finally:
                proc.stop()
        with_images = [r for r in agent.requests() if r.get("images")]
        assert with_images, agent.requests()
        assert with_images[0]["images"][0]["sha256"] == hashlib.sha256(image).hexdigest()
        assert "what is in it?" in json.dumps(with_images[0]["body"])
        assert not [r for r in agent.requests() if "<tampered>" in json.dumps(r.get("body"))]
        assert [f.body for f in files] == ["report.pdf", "chart.png"]
        assert [plain for plain, _ in contents] == [report, chart]
        assert all(report not in cipher and chart not in cipher for _, cipher in contents)
        image_event = files[1].source["content"]
        assert image_event["msgtype"] == "m.image"
        assert "thumbnail_file" in image_event["info"] and "thumbnail_url" not in image_event["info"]
        from_bot = [e for e in events if e.get("sender") == bot["user_id"]
                    and e.get("type") in ("m.room.message", "m.room.encrypted")]
        assert from_bot and all(e["type"] == "m.room.encrypted" for e in from_bot), from_bot
        assert "report.pdf" not in json.dumps(events)
    finally:
        agent.stop()

"""Media in (issue 15): images, voice and files a person sends reach the agent.

matrix-nio plays the person and uploads through the dev homeserver's content repository;
the agent double records what the model got (the images' bytes by their hash) and stands
in for the OpenAI-compatible speech-to-text server of the profile's `stt` settings."""

import base64
import hashlib
import io
import json
import os
import signal
import stat
import urllib.request

import pytest

from harness import (AgentDouble, Devhs, Gateway, Human, bot_settings, profile_dir, replies_to,
                     shown_text, wait_until, write_profile)

from PIL import Image  # noqa: E402  (Debian's python3-pil)

PROXY_KEY = "sk-hm-media-5a4b3c2d1e0f"
STT_KEY = "sk-hm-stt-0a1b2c3d4e5f6a7b"


def png(width, height, color=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def data_url_bytes(url):
    head, _, data = url.partition(",")
    assert head.endswith(";base64"), head
    return base64.b64decode(data)


class World:
    """One homeserver, one agent double (also the STT server), doru on nio, and one
    bot profile "eye" with speech-to-text through the double and a 1 MB media limit."""

    def __init__(self, tmp, *devhs_options, stt=True):
        self.hs = Devhs(tmp / "devhs", *devhs_options)
        self.agent = AgentDouble()
        self.doru = Human(self.hs, "doru", "Doru")
        self.bot = self.hs.register("hermes-eye", "Hermes Eye")
        self.home = tmp / "hermes-home"
        write_profile(self.home, "eye", bot_settings(
            self.hs, self.agent, self.bot, [self.doru], GATEWAY_PROXY_KEY=PROXY_KEY,
            MATRIX_DEVICE_ID="BOT_EYE", STT_OPENAI_BASE_URL=self.agent.url + "/v1",
            VOICE_TOOLS_OPENAI_KEY=STT_KEY, HERMES_MATRIX_MEDIA_MAX_MB="1"))
        if stt:
            (profile_dir(self.home, "eye") / "config.yaml").write_text(
                "model: test\nstt:\n  provider: openai\n  echo_transcripts: true\n"
                "  openai:\n    model: whisper-1\n")
        (self.home / ".env").write_text("# the default profile is not on Matrix here\n")
        self.gateway = Gateway(self.home, tmp / "gateway.stderr", self.hs, [self.bot])
        self.gateway.start()
        self.room = self.doru.create_room(invite=[self.bot], is_direct=True)
        self.doru.wait_joined(self.room, self.bot)

    def upload(self, data, content_type, filename):
        from nio import UploadResponse
        resp, _ = self.doru._run(self.doru.client.upload(
            io.BytesIO(data), content_type=content_type, filename=filename,
            filesize=len(data)))
        assert isinstance(resp, UploadResponse), resp
        return resp.content_uri

    def send_media(self, msgtype, data, content_type, filename, caption=None, extra=None,
                   claimed_size=None):
        uri = self.upload(data, content_type, filename)
        content = {"msgtype": msgtype, "body": caption or filename, "url": uri,
                   "info": {"mimetype": content_type,
                            "size": len(data) if claimed_size is None else claimed_size}}
        if caption:
            content["filename"] = filename
        content.update(extra or {})
        return self.doru.send(self.room, None, content=content)

    def agent_request_for(self, text_part=None, with_images=False):
        """The last chat request whose last user message carries `text_part`."""
        def find():
            for r in reversed(self.agent.requests()):
                if r.get("path", "").endswith("/audio/transcriptions"):
                    continue
                if with_images and not r.get("images"):
                    continue
                body = json.dumps(r.get("body"))
                if text_part is None or text_part in body:
                    return r
            return None
        return wait_until(find, 60, f"the agent to get a request with {text_part!r}")

    def close(self):
        try:
            self.gateway.stop()
        finally:
            self.doru.close()
            self.agent.stop()
            self.hs.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("media"))
    yield w
    w.close()


def last_user_content(request):
    messages = request["body"]["messages"]
    return [m for m in messages if m["role"] == "user"][-1]["content"]


def test_an_image_reaches_the_agent_as_the_same_bytes(world):
    image = png(64, 48)
    event_id = world.send_media("m.image", image, "image/png", "red.png",
                                caption="what colour is this?")
    world.doru.wait_reply(world.room, event_id, world.bot)
    request = world.agent_request_for("what colour is this?", with_images=True)
    assert [i["sha256"] for i in request["images"]] == [hashlib.sha256(image).hexdigest()]
    content = last_user_content(request)
    assert content[0] == {"type": "text", "text": "what colour is this?"}
    assert content[1]["type"] == "image_url"


def test_a_large_image_is_scaled_down_for_the_model(world):
    image = png(3000, 1000, (10, 120, 240))
    event_id = world.send_media("m.image", image, "image/png", "wide.png")
    world.doru.wait_reply(world.room, event_id, world.bot)
    request = world.agent_request_for(None, with_images=True)
    assert request["images"][0]["sha256"] != hashlib.sha256(image).hexdigest()
    sent = data_url_bytes(last_user_content(request)[-1]["image_url"]["url"])
    assert Image.open(io.BytesIO(sent)).size == (2048, 683)


def test_a_sticker_reaches_the_agent_as_an_image_with_its_description(world):
    image = png(32, 32, (250, 200, 0))
    uri = world.upload(image, "image/png", "sticker.png")
    from nio import RoomSendResponse
    sent = world.doru._run(world.doru.client.room_send(
        world.room, "m.sticker", {"body": "<a waving sun>", "url": uri,
                                  "info": {"mimetype": "image/png", "size": len(image),
                                           "w": 32, "h": 32}}))
    assert isinstance(sent, RoomSendResponse), sent
    request = world.agent_request_for("<a waving sun>", with_images=True)
    assert request["images"][0]["sha256"] == hashlib.sha256(image).hexdigest()
    assert "[The user sent a sticker]" in json.dumps(request["body"])


def test_a_voice_message_is_transcribed_and_echoed(world):
    world.agent.script({"transcript": "please water the plants"}, model="whisper-1")
    voice = os.urandom(3000)  # the double transcribes any bytes; their hash is compared
    event_id = world.send_media(
        "m.audio", voice, "audio/ogg", "Voice message.ogg",
        extra={"org.matrix.msc3245.voice": {}, "org.matrix.msc1767.audio": {"duration": 1500}})
    world.doru.wait_reply(world.room, event_id, world.bot)
    stt = [r for r in world.agent.requests() if r.get("path", "").endswith("/audio/transcriptions")]
    assert stt and stt[-1]["audio"]["sha256"] == hashlib.sha256(voice).hexdigest()
    assert stt[-1]["body"]["model"] == "whisper-1"
    assert stt[-1]["has_authorization"]
    world.agent_request_for('\\"please water the plants\\"')
    echo = world.doru.wait_for(world.room, lambda evs: [
        e for e in replies_to(evs, event_id, world.bot.user_id)
        if "please water the plants" in e["content"].get("body", "")], what="the 🎙️ echo")
    assert echo[0]["content"]["body"].endswith('🎙️ "please water the plants"')
    saved = list((profile_dir(world.home, "eye") / "cache" / "audio").iterdir())
    assert any(p.read_bytes() == voice for p in saved)


def test_a_file_lands_in_the_document_cache(world):
    pdf = b"%PDF-1.4\n" + os.urandom(2000)
    event_id = world.send_media("m.file", pdf, "application/pdf", "../report 2026.pdf",
                                caption="summarise this")
    world.doru.wait_reply(world.room, event_id, world.bot)
    request = world.agent_request_for("summarise this")
    text = last_user_content(request)
    assert "report 2026.pdf" in text and "application/pdf" in text
    docs = profile_dir(world.home, "eye") / "cache" / "documents"
    saved = [p for p in docs.iterdir() if p.name.endswith("_report 2026.pdf")]
    assert len(saved) == 1 and saved[0].read_bytes() == pdf
    assert str(saved[0]) in text
    assert stat.S_IMODE(saved[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(docs.stat().st_mode) == 0o700


def test_too_large_a_file_gets_a_polite_refusal(world):
    before = len(world.agent.requests())
    big = os.urandom(1_500_000)
    # Claimed honestly: refused before a byte is downloaded.
    claimed = world.send_media("m.file", big, "application/zip", "big.zip")
    reply = world.doru.wait_reply(world.room, claimed, world.bot)
    assert "up to 1.0 MB" in shown_text(world.doru.events(world.room), reply)
    # Claimed small: the download itself stops at the limit.
    lying = world.send_media("m.file", big, "application/zip", "big2.zip", claimed_size=10)
    reply = world.doru.wait_reply(world.room, lying, world.bot)
    assert "larger than 1.0 MB" in shown_text(world.doru.events(world.room), reply)
    chats = [r for r in world.agent.requests()[before:] if "big" in json.dumps(r.get("body"))]
    assert chats == []


def test_without_speech_to_text_a_voice_message_says_once_how_to_turn_it_on(tmp_path):
    w = World(tmp_path, stt=False)
    try:
        voice = os.urandom(1200)
        extra = {"org.matrix.msc3245.voice": {}}
        first = w.send_media("m.audio", voice, "audio/ogg", "Voice message.ogg", extra=extra)
        told = w.doru.wait_for(w.room, lambda evs: [
            e for e in replies_to(evs, first, w.bot.user_id)
            if "speech-to-text is not set up" in e["content"].get("body", "")],
            what="how to turn speech-to-text on")
        assert "stt.provider" in told[0]["content"]["body"]
        request = w.agent_request_for("it was not transcribed")
        assert "/cache/audio/audio_" in json.dumps(request["body"])
        second = w.send_media("m.audio", voice, "audio/ogg", "Voice message.ogg", extra=extra)
        w.agent_request_for(None)
        text_reply(w, second)
        events = w.hs.events(w.room)
        assert sum("speech-to-text is not set up" in e["content"].get("body", "")
                   for e in events if e.get("sender") == w.bot.user_id) == 1
        assert not [r for r in w.agent.requests() if r.get("path", "").endswith("transcriptions")]
    finally:
        w.close()


def test_a_homeserver_without_authenticated_media_is_read_the_older_way(tmp_path):
    w = World(tmp_path, "--no-authenticated-media")
    try:
        image = png(32, 32)
        event_id = w.send_media("m.image", image, "image/png", "old.png")
        w.doru.wait_reply(w.room, event_id, w.bot)
        request = w.agent_request_for(None, with_images=True)
        assert request["images"][0]["sha256"] == hashlib.sha256(image).hexdigest()
        used = w.hs.requests(w.bot.user_id)
        assert any(k.startswith("GET /_matrix/media/v3/download") for k in used), used
    finally:
        w.close()


# -- out: the agent's files -------------------------------------------------------------


def bot_media_events(world, event_id):
    """The bot's media messages in the reply context of `event_id`, as the room has them."""
    return [e for e in world.hs.events(world.room)
            if e.get("sender") == world.bot.user_id and e.get("type") == "m.room.message"
            and e["content"].get("msgtype") in ("m.image", "m.file", "m.audio", "m.video")
            and e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
            == event_id]


def text_reply(world, event_id):
    """The bot's text reply to `event_id` (its media messages reply to it too)."""
    def found(evs):
        texts = [e for e in replies_to(evs, event_id, world.bot.user_id)
                 if e["content"].get("msgtype") in ("m.text", "m.notice")]
        return texts[0] if texts else None
    return world.doru.wait_for(world.room, found, what=f"the text reply to {event_id}")


def download(world, mxc):
    """The bytes of `mxc`, as the person's client downloads them."""
    server, media_id = mxc[len("mxc://"):].split("/", 1)
    req = urllib.request.Request(
        f"{world.hs.url}/_matrix/client/v1/media/download/{server}/{media_id}",
        headers={"Authorization": "Bearer " + world.doru.account.token})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


def test_the_agents_files_are_sent_and_hidden_from_the_text(world):
    out = profile_dir(world.home, "eye") / "out"
    out.mkdir(exist_ok=True)
    chart = png(1600, 1000, (20, 200, 90))
    (out / "chart.png").write_bytes(chart)
    (out / "notes.txt").write_bytes(b"plain notes\n")
    voice = b"OggS\x00\x02" + os.urandom(900)
    (out / "hello.ogg").write_bytes(voice)
    world.agent.script({"reply": f"Here is the chart.\nMEDIA:{out}/chart.png\n"
                                 f"And the notes: MEDIA:{out}/notes.txt\n"
                                 f"[[audio_as_voice]] MEDIA:{out}/hello.ogg"}, count=1)
    event_id = world.doru.send(world.room, "draw me a chart")
    reply = text_reply(world, event_id)
    media = wait_until(lambda: len(bot_media_events(world, event_id)) == 3
                       and bot_media_events(world, event_id), 60, "three media messages")
    image, text_file, spoken = media
    assert image["content"]["msgtype"] == "m.image"
    assert image["content"]["info"]["mimetype"] == "image/png"
    info = image["content"]["info"]
    assert (info["w"], info["h"]) == (1600, 1000)
    assert info["thumbnail_info"]["mimetype"] == "image/jpeg"
    assert (info["thumbnail_info"]["w"], info["thumbnail_info"]["h"]) == (800, 500)
    thumb = Image.open(io.BytesIO(download(world, info["thumbnail_url"])))
    assert thumb.size == (800, 500)
    assert download(world, image["content"]["url"]) == chart
    assert text_file["content"]["msgtype"] == "m.file"
    assert text_file["content"]["body"] == "notes.txt"
    assert download(world, text_file["content"]["url"]) == b"plain notes\n"
    assert spoken["content"]["msgtype"] == "m.audio"
    assert spoken["content"]["info"]["mimetype"] == "audio/ogg"
    assert "org.matrix.msc3245.voice" in spoken["content"]
    assert download(world, spoken["content"]["url"]) == voice
    shown = world.doru.wait_for(world.room, lambda evs: (
        (t := shown_text(evs, reply)) and "Here is the chart." in t and t), what="the final text")
    assert "MEDIA:" not in shown
    assert "MEDIA:" not in json.dumps([e["content"] for e in world.hs.events(world.room)
                                       if e.get("sender") == world.bot.user_id])


def test_a_file_outside_the_profile_is_refused_with_a_note(world, tmp_path):
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("not for the room\n")
    (profile_dir(world.home, "eye") / "sneaky.txt").symlink_to(secret)
    world.agent.script({"reply": f"Sure.\nMEDIA:{secret}\nMEDIA:~/sneaky.txt"}, count=1)
    event_id = world.doru.send(world.room, "send me that file")
    reply = text_reply(world, event_id)
    shown = world.doru.wait_for(world.room, lambda evs: (
        (t := shown_text(evs, reply)) and "was not sent" in t and t), what="the refusal note")
    assert str(secret) in shown
    assert bot_media_events(world, event_id) == []
    assert "not for the room" not in json.dumps(world.hs.events(world.room))


def test_media_are_counted_in_the_metrics(world):
    from harness import http
    status, text = http("GET", f"http://127.0.0.1:{world.gateway.metrics_port()}/metrics")
    assert status == 200

    def value(name, result):
        for line in text.splitlines():
            if line.startswith(name + "{") and f'result="{result}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None
    # What the tests before this one sent (the module's tests run in file order).
    assert value("hermes_matrix_media_in_total", "image") >= 2
    assert value("hermes_matrix_media_in_total", "transcribed") >= 1
    assert value("hermes_matrix_media_in_total", "saved") >= 1
    assert value("hermes_matrix_media_in_total", "refused") >= 2
    assert value("hermes_matrix_media_out_total", "sent") >= 3
    assert value("hermes_matrix_media_out_total", "refused") >= 2


def test_a_download_cut_by_sigkill_is_answered_once_after_the_restart(world):
    """The message is journaled before its file is fetched: SIGKILL while the download
    hangs, start again, and the picture is answered once, with the same bytes."""
    image = png(40, 30, (5, 5, 250))
    template = "GET /_matrix/client/v1/media/download/{serverName}/{mediaId}"
    before = world.hs.requests(world.bot.user_id).get(template, 0)
    world.hs.fault(user_id=world.bot.user_id, kind="fail", mode="stall", stall_s=60,
                   path_contains="/media/download", count=1)
    try:
        event_id = world.send_media("m.image", image, "image/png", "blue.png",
                                    caption="<cut download>")
        wait_until(lambda: world.hs.requests(world.bot.user_id).get(template, 0) > before, 60,
                   "the bot to start the download")
        world.gateway.stop(signal.SIGKILL)
    finally:
        world.hs.clear_faults()
    world.gateway.start()
    world.doru.wait_reply(world.room, event_id, world.bot)
    events = world.hs.events(world.room)
    assert len([e for e in replies_to(events, event_id, world.bot.user_id)
                if e["content"].get("msgtype") == "m.text"]) == 1
    asked = [r for r in world.agent.requests() if "<cut download>" in json.dumps(r.get("body"))]
    assert len(asked) == 1
    assert [i["sha256"] for i in asked[0]["images"]] == [hashlib.sha256(image).hexdigest()]

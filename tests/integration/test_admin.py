"""The admin HTTP API and `hermes-matrix status` against a running gateway: health,
readiness and status with and without the token, notifications into a plaintext and
an encrypted home room (read by matrix-nio; the homeserver holds only ciphertext for
the encrypted one), the errors a caller can make, and the status table of the CLI.

One gateway serves three profiles for most tests (the `world` fixture):
  plain     @hm-plain:localhost     home room unencrypted, MATRIX_E2EE_MODE off
  crypt     @hm-crypt:localhost     home room encrypted,   MATRIX_E2EE_MODE required
  homeless  @hm-homeless:localhost  no MATRIX_HOME_ROOM
  offcrypt  @hm-offcrypt:localhost  home room encrypted,   MATRIX_E2EE_MODE off
"""

import asyncio
import json
import re
import socket
import subprocess
import time
import urllib.parse

import pytest

from conftest import BINARY, env_values
from harness import (PASSWORD, Devhs, Gateway, Human, http, wait_until, write_profile)
from hostile import rss_kib, send_chunked

from nio import (AsyncClient, AsyncClientConfig, LoginResponse, MegolmEvent,  # noqa: E402
                 RoomCreateResponse, RoomMessageText)

AGENT_URL = "http://127.0.0.1:9"  # no agent is needed: nothing here asks the agent


class CryptoHuman:
    """A person on matrix-nio with encryption (Olm identity, one-time keys uploaded),
    run synchronously on an event loop of its own."""

    def __init__(self, hs, localpart, store_dir):
        self.loop = asyncio.new_event_loop()
        self.user_id = hs.register(localpart).user_id
        store_dir.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(hs.url, self.user_id, store_path=str(store_dir),
                                  config=AsyncClientConfig(encryption_enabled=True,
                                                           store_sync_tokens=False))
        assert isinstance(self._run(self.client.login(PASSWORD, device_name="crypto human")),
                          LoginResponse)
        self._run(self.client.keys_upload())
        self._run(self.client.sync(timeout=0))
        self.seen = []  # (room_id, nio event) of every timeline event synced

    def _run(self, coro, timeout=60):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def create_encrypted_room(self, invite):
        resp = self._run(self.client.room_create(
            invite=[invite], initial_state=[{"type": "m.room.encryption", "state_key": "",
                                             "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]))
        assert isinstance(resp, RoomCreateResponse), resp
        return resp.room_id

    def sync_until(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            resp = self._run(self.client.sync(timeout=500))
            rooms = getattr(resp, "rooms", None)  # an error response has none
            for room_id, room in (rooms.join.items() if rooms else []):
                self.seen += [(room_id, ev) for ev in room.timeline.events]
            if self.client.should_query_keys:
                self._run(self.client.keys_query())
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; seen: "
                                     + repr([(r, type(e).__name__) for r, e in self.seen[-10:]]))

    def close(self):
        try:
            self._run(self.client.close())
        finally:
            self.loop.close()


class World:
    def __init__(self, tmp):
        self.hs = Devhs(tmp / "devhs")
        self.doru = Human(self.hs, "doru", "Doru")
        self.nio = CryptoHuman(self.hs, "ana", tmp / "nio-store")
        self.plain = self.hs.register("hm-plain")
        self.crypt = self.hs.register("hm-crypt")
        self.homeless = self.hs.register("hm-homeless")
        self.offcrypt = self.hs.register("hm-offcrypt")
        # Home rooms exist (and invite their bot) before the gateway starts: the bots
        # join them on their first sync.
        self.plain_room = self.doru.create_room(invite=[self.plain], name="plain home")
        self.crypt_room = self.nio.create_encrypted_room(self.crypt.user_id)
        self.offcrypt_room = self.nio.create_encrypted_room(self.offcrypt.user_id)
        self.home = tmp / "hermes-home"
        allowed = f"{self.doru.user_id},{self.nio.user_id}"
        for name, bot, room, mode in (("plain", self.plain, self.plain_room, "off"),
                                      ("crypt", self.crypt, self.crypt_room, "required"),
                                      ("homeless", self.homeless, None, "off"),
                                      ("offcrypt", self.offcrypt, self.offcrypt_room, "off")):
            write_profile(self.home, name, {
                "MATRIX_HOMESERVER": self.hs.url, "MATRIX_ACCESS_TOKEN": bot.token,
                "MATRIX_USER_ID": bot.user_id, "MATRIX_ALLOWED_USERS": allowed,
                "GATEWAY_PROXY_URL": AGENT_URL, "MATRIX_E2EE_MODE": mode,
                "MATRIX_HOME_ROOM": room})
        (self.home / ".env").write_text("# the default profile is not on Matrix here\n")
        self.gateway = Gateway(self.home, tmp / "gateway.stderr", self.hs,
                               [self.plain, self.crypt, self.homeless, self.offcrypt])
        self.gateway.start()
        self.url = self.gateway.admin_url()
        self.token = self.gateway.admin_token()
        self.doru.wait_joined(self.plain_room, self.plain)
        self.nio.sync_until(lambda: self.crypt.user_id in self.nio.client.rooms[
            self.crypt_room].users, 60, "the crypt bot to join the encrypted room")
        self.nio.sync_until(lambda: self.offcrypt.user_id in self.nio.client.rooms[
            self.offcrypt_room].users, 60, "the offcrypt bot to join its encrypted room")

    def secrets(self):
        return env_values(self.home) | {self.token}

    def close(self):
        try:
            self.gateway.stop()
        finally:
            self.doru.close()
            self.nio.close()
            self.hs.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("admin"))
    yield w
    w.close()


def notify(world, profile, payload, token=None):
    return http("POST", f"{world.url}/v1/profiles/{profile}/notify", payload,
                token=world.token if token is None else token)


def test_healthz_needs_no_token(world):
    assert http("GET", f"{world.url}/healthz") == (200, {"status": "alive"})


def test_readyz_once_every_profile_has_synced(world):
    status, body = wait_until(
        lambda: (lambda r: r if r[0] == 200 else None)(http("GET", f"{world.url}/readyz")),
        30, "readyz to say ready")
    assert body == {"ready": True}


def test_status_needs_the_token_and_shows_every_profile(world):
    assert http("GET", f"{world.url}/v1/status")[0] == 401
    assert http("GET", f"{world.url}/v1/status", token="not-the-admin-token")[0] == 401
    assert http("GET", f"{world.url}/v1/status", token=world.token + "x")[0] == 401
    status, body = http("GET", f"{world.url}/v1/status", token=world.token)
    assert status == 200, body
    by_name = {p["profile"]: p for p in body["profiles"]}
    assert set(by_name) == {"plain", "crypt", "homeless", "offcrypt"}
    for name, bot in (("plain", world.plain), ("crypt", world.crypt),
                      ("homeless", world.homeless)):
        p = by_name[name]
        assert p["state"] == "running", p
        assert p["user_id"] == bot.user_id
        assert p["device_id"] == "BOT_" + bot.localpart.upper()
        assert p["synced"] is True and p["last_sync"], p
        assert p["last_sync_age_seconds"] >= 0
        assert p["restarts"] == 0 and p["last_error"] == ""
        assert isinstance(p["outbox_queue"], int)
    raw = json.dumps(body)
    assert not [s for s in world.secrets() if s in raw], "a secret is in /v1/status"


def test_notify_reaches_a_plaintext_home_room(world):
    status, body = notify(world, "plain", {"body": "Backup **done**", "format": "markdown"})
    assert status == 202, body
    assert body["profile"] == "plain" and body["txn_id"]
    msg = world.doru.wait_for(world.plain_room, lambda evs: next(
        (e for e in evs if e.get("sender") == world.plain.user_id
         and e.get("type") == "m.room.message"), None), 30, "the notification")
    assert msg["content"]["body"] == "Backup **done**"
    assert "<strong>done</strong>" in msg["content"]["formatted_body"]
    # Plain text by default: no HTML.
    status, _ = notify(world, "plain", {"body": "second, plain"})
    assert status == 202
    msg = world.doru.wait_for(world.plain_room, lambda evs: next(
        (e for e in evs if e.get("sender") == world.plain.user_id
         and e["content"].get("body") == "second, plain"), None), 30, "the plain notification")
    assert "formatted_body" not in msg["content"]


def test_a_retried_notification_with_the_same_key_shows_once(world):
    payload = {"body": "disk 91% full", "idempotency_key": "cron-disk-2026-11-25T01"}
    first = notify(world, "plain", payload)
    again = notify(world, "plain", payload)
    assert first[0] == again[0] == 202, (first, again)
    assert first[1]["txn_id"] == again[1]["txn_id"]
    other = notify(world, "plain", {"body": "disk 91% full"})  # no key: its own message
    assert other[0] == 202 and other[1]["txn_id"] != first[1]["txn_id"]
    world.doru.wait_for(world.plain_room, lambda evs: len(
        [e for e in evs if e.get("content", {}).get("body") == "disk 91% full"]) >= 2,
        30, "both notifications")
    shown = [e for e in world.hs.events(world.plain_room)
             if e.get("content", {}).get("body") == "disk 91% full"]
    assert len(shown) == 2, shown


def test_notify_into_an_encrypted_home_room_is_ciphertext_that_nio_decrypts(world):
    text = "Nightly report: 3 papers summarised"
    status, body = notify(world, "crypt", {"body": text})
    assert status == 202, body

    def decrypted():
        return next((ev for room_id, ev in world.nio.seen if room_id == world.crypt_room
                     and isinstance(ev, RoomMessageText) and ev.sender == world.crypt.user_id),
                    None)
    got = world.nio.sync_until(decrypted, 60, "the decrypted notification")
    assert got.body == text
    undecrypted = [ev for room_id, ev in world.nio.seen if room_id == world.crypt_room
                   and isinstance(ev, MegolmEvent)]
    assert not undecrypted, "nio could not decrypt an event of the bot"
    events = world.hs.events(world.crypt_room)
    from_bot = [e for e in events if e.get("sender") == world.crypt.user_id
                and e.get("type") in ("m.room.message", "m.room.encrypted")]
    assert from_bot and all(e["type"] == "m.room.encrypted" for e in from_bot), from_bot
    assert text not in json.dumps(events)


def test_a_profile_without_encryption_never_notifies_an_encrypted_home_room(world):
    status, body = notify(world, "offcrypt", {"body": "must not leak"})
    assert status == 409 and "encrypted" in body["error"], body
    assert "MATRIX_E2EE_MODE" in body["error"]
    assert "must not leak" not in json.dumps(world.hs.events(world.offcrypt_room))


def test_notify_errors_name_what_is_wrong(world):
    url = f"{world.url}/v1/profiles/plain/notify"
    assert http("POST", url, {"body": "x"})[0] == 401
    assert http("POST", url, {"body": "x"}, token="wrong-token")[0] == 401
    status, body = notify(world, "nosuchprofile", {"body": "x"})
    assert status == 404 and "nosuchprofile" in body["error"], body
    for payload, word in (([1, 2], "object"), ({}, "body"), ({"body": ""}, "body"),
                          ({"body": "x", "format": "html"}, "format"),
                          ({"body": "x", "room": "!r:localhost"}, "room"),
                          ({"body": "x", "idempotency_key": ""}, "idempotency_key")):
        status, body = notify(world, "plain", payload)
        assert status == 400 and word in body["error"], (payload, body)
    status, body = notify(world, "homeless", {"body": "x"})
    assert status == 409 and "MATRIX_HOME_ROOM" in body["error"], body
    # Nothing of the refused requests reached a room.
    assert not [e for e in world.hs.events(world.plain_room)
                if e.get("content", {}).get("body") == "x"]


def test_a_notification_is_accepted_only_when_it_fits_one_event(world):
    # 16 KiB of Markdown renders to far more HTML than an event holds: the plain text
    # goes (202 and in the room), never a 202 for a message the homeserver then refuses.
    body = "**bold** _it_ `code` " * 780
    assert len(body) <= 16 * 1024
    status, answer = notify(world, "plain", {"body": body, "format": "markdown"})
    assert status == 202, answer
    wait_until(lambda: any(e.get("content", {}).get("body") == body
                           for e in world.hs.events(world.plain_room)), 30,
               "the long notification in the room")
    # Control characters that JSON escapes six-fold do not fit: 413, before anything is
    # queued, with a JSON error that says why.
    status, answer = notify(world, "plain", {"body": "\x01" * 10000})
    assert status == 413 and answer["errcode"] == "too_large", answer
    assert "send it in parts" in answer["error"]
    # Over the request limit: a JSON error too, not an empty 413.
    status, answer = notify(world, "plain", {"body": "x" * (70 * 1024)})
    assert status == 413 and answer["errcode"] == "too_large", answer


def test_a_huge_chunked_body_is_never_buffered(world):
    # Before: a 300 MB chunked POST without a token grew the process by 800 MB and the
    # memory stayed taken (the body was read before the 401; the 64 KiB limit did not
    # apply to chunked bodies).
    port = int(world.url.rsplit(":", 1)[1])
    pid = world.gateway.proc.pid
    before = rss_kib(pid)
    status = send_chunked(port, "/v1/profiles/plain/notify", 100)
    assert status in ("", "HTTP/1.1 401 Unauthorized"), status
    status = send_chunked(port, "/v1/profiles/plain/notify", 100, token=world.token)
    assert status == "" or status.startswith("HTTP/1.1 413 "), status
    assert rss_kib(pid) - before < 20 * 1024, (before, rss_kib(pid))
    assert http("GET", f"{world.url}/healthz") == (200, {"status": "alive"})


def test_a_profile_name_with_a_newline_cannot_forge_a_log_line(world):
    forged = urllib.parse.quote("x\n2026-01-01T00:00:00.000 info [plain] FORGED", safe="")
    status, _ = notify(world, forged, {"body": "x"})
    assert status == 404
    wait_until(lambda: "notification for profile x" in world.gateway.stderr(), 10,
               "the refusal to be logged")
    lines = world.gateway.stderr().splitlines()
    assert not [line for line in lines if line.startswith("2026-01-01T00:00:00.000")], lines[-5:]
    assert any("profile x\\n2026-01-01" in line for line in lines), lines[-5:]


def test_status_cli_prints_every_profile_and_no_secret(world):
    res = subprocess.run([BINARY, "status", "--admin-url", world.url,
                          "--hermes-home", str(world.home)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    for name in ("plain", "crypt", "homeless", "offcrypt"):
        assert re.search(rf"^{name}\s+running\s+@hm-{name}:localhost", res.stdout, re.M), \
            res.stdout
    assert "LAST SYNC" in res.stdout and "QUEUE" in res.stdout
    out = res.stdout + res.stderr
    assert not [s for s in world.secrets() if s in out], "status printed a secret"
    res = subprocess.run([BINARY, "status", "--admin-url", world.url, "--json",
                          "--hermes-home", str(world.home)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0
    assert {p["profile"] for p in json.loads(res.stdout)["profiles"]} == {
        "plain", "crypt", "homeless", "offcrypt"}


def test_status_cli_fails_clearly_when_the_service_is_unreachable(world, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = subprocess.run([BINARY, "status", "--admin-url", f"http://127.0.0.1:{port}",
                          "--hermes-home", str(world.home)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "cannot reach the admin API" in res.stderr, res.stderr
    token_file = tmp_path / "wrong-token"
    token_file.write_text("not-the-token-of-the-service\n")
    token_file.chmod(0o600)
    res = subprocess.run([BINARY, "status", "--admin-url", world.url,
                          "--admin-token-file", str(token_file)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "refused the token" in res.stderr, res.stderr


def test_a_stopped_profile_is_not_ready_and_takes_no_notification(world, tmp_path):
    """A profile whose token the homeserver rejects stops; readyz names it, notify says
    it is not running, and /v1/status shows why it stopped."""
    home = tmp_path / "home"
    write_profile(home, "revoked", {
        "MATRIX_HOMESERVER": world.hs.url, "MATRIX_ACCESS_TOKEN": "syt_not_a_valid_token_123",
        "MATRIX_ALLOWED_USERS": world.doru.user_id, "GATEWAY_PROXY_URL": AGENT_URL,
        "MATRIX_HOME_ROOM": world.plain_room})
    (home / ".env").write_text("# the default profile is not on Matrix here\n")
    token_file = tmp_path / "given-token"
    token_file.write_text("a-token-the-operator-chose-1234\n")
    token_file.chmod(0o600)
    gateway = Gateway(home, tmp_path / "gateway.stderr", world.hs, [],
                      args=["--admin-token-file", str(token_file)])
    gateway.start()
    try:
        url = gateway.admin_url()
        token = "a-token-the-operator-chose-1234"

        def stopped():
            status, body = http("GET", f"{url}/v1/status", token=token)
            return body if status == 200 and body["profiles"][0]["state"] == "stopped" else None
        body = wait_until(stopped, 30, "the revoked profile to stop")
        assert "M_UNKNOWN_TOKEN" in body["profiles"][0]["last_error"]
        assert "syt_not_a_valid_token_123" not in json.dumps(body)
        status, body = http("GET", f"{url}/readyz")
        assert status == 503 and body["not_ready"] == [
            {"profile": "revoked", "state": "stopped", "synced": False}], body
        status, body = http("POST", f"{url}/v1/profiles/revoked/notify", {"body": "x"},
                            token=token)
        assert status == 409 and "not running" in body["error"], body
        # A given token file is used as it is: no token was generated under the home.
        assert not (home / "hermes-matrix" / "admin-token").exists()
    finally:
        gateway.stop()

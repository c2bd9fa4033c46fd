"""What the encryption tests share: the homeserver's client API and control API by
urllib, a bot's HERMES_HOME, the bot process (stderr read by a thread), and the human
as a matrix-nio client with encryption (python3-olm) on its own device and store."""

import asyncio
import json
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request

from conftest import BINARY, FREE_PORTS
from timeline_gap import fill_gaps


def api(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + "/_matrix/client/v3" + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def control(base, method, path, body=None):
    """The dev homeserver's /_devhs control API."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + "/_devhs" + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def register(base, user, password):
    return api(base, "POST", "/register", body={"username": user, "password": password,
                                                "auth": {"type": "m.login.dummy"}})


def room_events(base, room_id):
    """Every event of the room as the homeserver stores it (what went over the wire)."""
    return control(base, "GET", f"/rooms/{room_id}/events")["events"]


def bot_messages(base, room_id, bot_id):
    return [e for e in room_events(base, room_id) if e.get("sender") == bot_id
            and e.get("type") in ("m.room.message", "m.room.encrypted")]


def bot_home(home, base, token, pickle_key=None, mode="required", extra=""):
    home.mkdir(parents=True, exist_ok=True)
    env = (f"MATRIX_HOMESERVER={base}\nMATRIX_ACCESS_TOKEN={token}\n"
           f"MATRIX_ALLOWED_USERS=@human:localhost\nMATRIX_E2EE_MODE={mode}\n")
    if pickle_key:
        env += f"MATRIX_PICKLE_KEY={pickle_key}\n"
    (home / ".env").write_text(env + extra)
    (home / ".env").chmod(0o600)
    return home


def hermes_and_human(base, tmp_path, human=True, **home_options):
    """Where most encryption tests start: @hermes registered, its HERMES_HOME at
    tmp_path/home (bot_home's options: pickle_key, mode, extra), and @human registered
    unless human=False. Returns (@hermes's registration, @human's or None, the home)."""
    bot = register(base, "hermes", "pw-hermes-1")
    person = register(base, "human", "pw-human-1") if human else None
    home = bot_home(tmp_path / "home", base, bot["access_token"], **home_options)
    return bot, person, home


class Bot:
    """hermes-matrix serving `home` until stopped (SIGTERM). Its stderr is read by a
    thread, so that waiting for a line never blocks past its timeout."""

    def __init__(self, home):
        # Free ports for metrics and admin API: parallel tests never contend for 9464/9465.
        self.proc = subprocess.Popen([BINARY, "run", "--hermes-home", str(home), *FREE_PORTS],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.stderr = ""
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                break
            if line is None:
                break
            self.stderr += line
            if re.search(pattern, line):
                return True
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.stderr += line
        return self.proc.returncode


def bot_device_keys(base, token, bot_id, device_id, timeout=20):
    """The bot's device keys as another user sees them, once published."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = api(base, "POST", "/keys/query", token, {"device_keys": {bot_id: []}})
        keys = got["device_keys"].get(bot_id, {}).get(device_id)
        if keys:
            return keys
        time.sleep(0.3)
    return None


class Human:
    """@human (or another user) on one matrix-nio device with its own olm store."""

    def __init__(self, hs_url, store_dir, user="human", password="pw-human-1"):
        from nio import AsyncClient, AsyncClientConfig
        store_dir.mkdir(parents=True, exist_ok=True)
        self.user_id = f"@{user}:localhost"
        self.password = password
        self.client = AsyncClient(hs_url, self.user_id, store_path=str(store_dir),
                                  config=AsyncClientConfig(encryption_enabled=True,
                                                           store_sync_tokens=False))
        self.to_device = []  # every to-device event nio saw, in order

    async def login(self, device_name="human"):
        from nio import LoginResponse
        got = await self.client.login(self.password, device_name=device_name)
        assert isinstance(got, LoginResponse), got
        await self.client.keys_upload()
        await self.sync(0)
        return self

    async def close(self):
        await self.client.close()

    async def sync(self, timeout=1000):
        from nio import SyncResponse
        since = self.client.next_batch
        resp = await self.client.sync(timeout=timeout)
        if isinstance(resp, SyncResponse):
            await fill_gaps(self.client, resp, since)
        self.to_device += list(getattr(resp, "to_device_events", []) or [])
        # As a real client does after each sync (nio's sync_forever): keep the device
        # lists current, so that keys from a device it has not met yet are accepted.
        if self.client.should_query_keys:
            await self.client.keys_query()
        return resp

    async def encrypted_room(self, invite, is_direct=True):
        created = await self.client.room_create(
            invite=invite, is_direct=is_direct,
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        await self.wait_members(created.room_id, invite)
        return created.room_id

    async def wait_members(self, room_id, users, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            await self.sync()
            room = self.client.rooms.get(room_id)
            # room.users holds invited members too: wait for each to have joined.
            if room and all(u in room.users and u not in room.invited_users for u in users):
                return
        raise AssertionError(f"{users} did not join {room_id}")

    async def send(self, room_id, body):
        from nio import RoomSendResponse
        if self.client.should_query_keys:
            await self.client.keys_query()
        sent = await self.client.room_send(room_id, "m.room.message",
                                           {"msgtype": "m.text", "body": body},
                                           ignore_unverified_devices=True)
        assert isinstance(sent, RoomSendResponse), sent
        return sent.event_id

    async def read(self, room_id, sender, count, timeout=30, contains=None):
        """Syncs until `count` messages from `sender` decrypted (optionally only those
        whose body contains `contains`); returns (bodies, event ids left undecrypted)."""
        bodies, undecrypted = await self.read_each(room_id, [sender], count, timeout, contains)
        return bodies[sender], undecrypted

    async def read_each(self, room_id, senders, count, timeout=30, contains=None):
        """Like read, until `count` messages from each of `senders`: (sender → bodies,
        event ids left undecrypted)."""
        from nio import MegolmEvent, RoomMessageNotice, RoomMessageText
        bodies, undecrypted = {s: [] for s in senders}, []
        deadline = time.time() + timeout
        while time.time() < deadline and any(len(b) < count for b in bodies.values()):
            resp = await self.sync()
            room = resp.rooms.join.get(room_id) if hasattr(resp, "rooms") else None
            for ev in (room.timeline.events if room else []):
                if ev.sender not in bodies:
                    continue
                if isinstance(ev, (RoomMessageText, RoomMessageNotice)):
                    if contains is None or contains in ev.body:
                        bodies[ev.sender].append(ev.body)
                elif isinstance(ev, MegolmEvent):
                    undecrypted.append(ev.event_id)
        return bodies, undecrypted


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def megolm_session_ids(base, room_id, sender):
    """The Megolm session ids of `sender`'s encrypted events in the room, in order."""
    return [e["content"]["session_id"] for e in room_events(base, room_id)
            if e.get("sender") == sender and e.get("type") == "m.room.encrypted"]

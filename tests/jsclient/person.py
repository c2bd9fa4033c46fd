"""A person on matrix-js-sdk with its Rust crypto (what Element runs), for tests:
person.mjs in a Node process, driven one JSON command at a time.

    p = JsPerson(hs_url, "doru", "password", log_dir)
    p.login(); key = p.bootstrap()
    room = p.create_dm("@hermes:localhost"); p.send_text(room, "hello")

Every command has a timeout and raises PersonError when the client answers with an
error. What the person sees (a verification request, the emoji, a phase change) is
kept in `events`. The process's stderr (the SDK's logging) goes to a file in log_dir;
it exits when this process closes its stdin, which happens when this process dies."""

import itertools
import json
import pathlib
import shutil
import subprocess
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"


class PersonError(Exception):
    pass


def npm_packages_missing():
    """Why the js-sdk cannot run here (and how to fix it), or None."""
    if shutil.which("node") is None:
        return "node is not installed (Debian: apt-get install nodejs npm)"
    if not (NODE_MODULES / "matrix-js-sdk" / "package.json").exists() or \
            not (NODE_MODULES / "@matrix-org" / "matrix-sdk-crypto-wasm" / "package.json").exists():
        return f"the npm packages are not installed: run `npm ci --prefix {HERE}` (./dev test does)"
    return None


class JsPerson:
    _serial = itertools.count()

    def __init__(self, hs_url, user, password, log_dir, device_name=None):
        missing = npm_packages_missing()
        if missing:
            raise PersonError(missing)
        self.user, self.password, self.device_name = user, password, device_name
        self.user_id = self.device_id = None
        log_dir = pathlib.Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"jsperson-{user}-{next(self._serial)}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["node", str(HERE / "person.mjs"), hs_url], cwd=HERE,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True)
        self.events = []
        self._requests_seen = 0
        self._answers = {}
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = {"event": "unparsed", "line": line}
            with self._changed:
                if "id" in message and "event" not in message:
                    self._answers[message["id"]] = message
                else:
                    self.events.append(message)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def call(self, cmd, timeout=60, **args):
        """One command; its result, or PersonError with the client's error."""
        command_id = next(self._ids)
        self.proc.stdin.write(json.dumps({"id": command_id, "cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        with self._changed:
            if not self._changed.wait_for(
                    lambda: command_id in self._answers or self.proc.poll() is not None, timeout):
                raise PersonError(f"{cmd}: no answer in {timeout} s (log: {self.log_path})")
            answer = self._answers.pop(command_id, None)
        if answer is None:
            raise PersonError(f"{cmd}: the client exited (log: {self.log_path})")
        if not answer["ok"]:
            raise PersonError(f"{cmd}: {answer['error']}")
        return answer["result"]

    def wait(self, what, probe, timeout=60, interval=0.2):
        """Calls probe() until it returns something true; that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise PersonError(f"{self.user}: no {what} in {timeout} s (log: {self.log_path})")
            time.sleep(interval)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Account and rooms

    def login(self):
        got = self.call("login", user=self.user, password=self.password, device_name=self.device_name)
        self.user_id, self.device_id = got["user_id"], got["device_id"]
        return got

    def create_dm(self, user_id):
        """An encrypted DM as Element creates it (trusted_private_chat, is_direct, m.direct)."""
        return self.call("create_dm", user=user_id)["room_id"]

    def join(self, room_id):
        return self.call("join", room=room_id)["room_id"]

    def wait_joined(self, room_id, user_id, timeout=60):
        return self.wait(f"{user_id} in {room_id}",
                         lambda: user_id in self.call("room_members", room=room_id)["joined"], timeout)

    def send_text(self, room_id, text):
        return self.call("send_text", room=room_id, text=text)["event_id"]

    def texts(self, room_id):
        """The room's messages in this client's timeline: sender, body (None while it
        cannot be decrypted), encrypted, decryption_failed."""
        return self.call("texts", room=room_id)["texts"]

    def wait_for_text(self, room_id, predicate, timeout=60):
        """The first message for which predicate(message) holds."""
        def probe():
            return next((t for t in self.texts(room_id) if predicate(t)), None)
        return self.wait(f"matching message in {room_id}", probe, timeout)

    # Cross-signing, secret storage, key backup

    def bootstrap(self):
        """Cross-signing + secret storage + key backup as Element sets them up; the
        recovery key as Element shows it."""
        return self.call("bootstrap", timeout=90)["recovery_key"]

    def cross_signing(self):
        return self.call("cross_signing")

    def backup_info(self):
        """The server's current backup: version, algorithm, key count, the session ids per
        room; and the version this device backs up to (active_version)."""
        return self.call("backup_info")

    def restore_backup(self, recovery_key):
        """Element's "Verify with recovery key" on a new device, then the backup restored:
        {total, imported}."""
        return self.call("restore_backup", recovery_key=recovery_key, timeout=90)

    # Verification

    def request_verification(self, user_id, device_id=None, room_id=None):
        """To-device when device_id is given, in-room (as Element in a DM) when room_id is."""
        return self.call("request_verification", user=user_id, device=device_id, room=room_id)

    def wait_for_request(self, timeout=60):
        """The next verification request this person receives (one not returned before)."""
        def probe():
            requests = [e for e in self.events if e.get("event") == "verification_request"]
            return requests[self._requests_seen] if len(requests) > self._requests_seen else None
        request = self.wait("verification request", probe, timeout)
        self._requests_seen += 1
        return request

    def accept_verification(self):
        return self.call("accept_verification")

    def start_sas(self):
        return self.call("start_sas")

    def verification(self):
        return self.call("verification")

    def wait_for_phase(self, *phases, timeout=60):
        """The verification state once its phase is one of `phases` (Ready, Started,
        Done, Cancelled)."""
        return self.wait(f"verification phase in {phases}",
                         lambda: (lambda s: s if s["phase"] in phases else None)(self.verification()), timeout)

    def wait_for_emoji(self, timeout=60):
        """The seven (emoji, name) pairs this side shows."""
        return self.wait("emoji", lambda: self.verification()["emoji"], timeout)

    def confirm(self):
        return self.call("confirm")

    def mismatch(self):
        return self.call("mismatch")

    def device_verified(self, user_id, device_id):
        return self.call("device_verified", user=user_id, device=device_id)

    def wait_knows_device(self, user_id, device_id, timeout=60):
        """Until this client has the device's keys. The Rust crypto ignores a verification
        request from a device it does not know yet ("Could not retrieve the device data"),
        so a test lets a new device's keys reach the other side before it asks, as the
        seconds a person takes do in Element."""
        return self.wait(f"keys of {user_id}'s {device_id}",
                         lambda: self.device_verified(user_id, device_id)["known"], timeout)

    def user_verified(self, user_id):
        return self.call("user_verified", user=user_id)

"""What the conversation tests (and the demo) run: the dev homeserver, the agent double,
bot profiles under a temporary HERMES_HOME, the hermes-matrix gateway as a subprocess,
and a human on matrix-nio. Everything here is synchronous for the tests' sake: the
human's nio client runs on an event loop of its own.

Nothing here asserts timings; every wait has a generous deadline and fails with what
it saw."""

import asyncio
import itertools
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

SOURCE_DIR = pathlib.Path(os.environ.get("HM_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BINARY = os.environ.get("HM_BINARY", str(SOURCE_DIR / "build" / "app" / "hermes-matrix"))
PYTHON = "/usr/bin/python3"  # Debian's: aiohttp and nio

if str(SOURCE_DIR) not in sys.path:
    sys.path.insert(0, str(SOURCE_DIR))

from tests.devhs.launcher import Homeserver  # noqa: E402

from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomCreateResponse  # noqa: E402
from nio import RoomSendResponse, SyncResponse  # noqa: E402

from timeline_gap import fill_gaps  # noqa: E402  (beside this file, like harness itself)

PASSWORD = "correct-horse-battery"

# -- the secrets audit ------------------------------------------------------------------
# Under CTest, HM_AUDIT_DIR names a directory shared by the whole suite: every test
# session writes the secrets it used (secrets/) and copies what the gateway printed or
# logged (outputs/) there, and the last test (tests/fault/secrets_audit.py) greps every
# output for every secret. Outside CTest nothing is recorded.
AUDIT_DIR = os.environ.get("HM_AUDIT_DIR")
_AUDIT_COPIES = itertools.count(1)


def record_secrets(values):
    """Adds tokens, passwords and keys this session used to the audit's list."""
    if not AUDIT_DIR:
        return
    folder = pathlib.Path(AUDIT_DIR) / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.getpid()}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        for v in values:
            if v and len(v) >= 6 and "\n" not in v:
                f.write(v + "\n")


def record_text(name, text):
    """Adds an output (a status table, a metrics scrape, ...) for the audit to grep."""
    if not AUDIT_DIR:
        return
    folder = pathlib.Path(AUDIT_DIR) / "outputs" / f"{os.getpid()}-{next(_AUDIT_COPIES)}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, errors="replace")


def record_outputs(root):
    """Copies every gateway stderr capture and profile log under `root` for the audit."""
    if not AUDIT_DIR:
        return
    root = pathlib.Path(root)
    folder = pathlib.Path(AUDIT_DIR) / "outputs" / f"{os.getpid()}-{next(_AUDIT_COPIES)}"
    for path in list(root.rglob("*.stderr")) + list(root.rglob("gateway.log*")):
        if path.is_file():
            target = folder / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


record_secrets([PASSWORD])


def http(method, url, body=None, token=None, timeout=30):
    """(status, parsed JSON or text) of one plain HTTP call."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def ok(method, url, body=None, token=None):
    status, data = http(method, url, body, token)
    assert status == 200, (method, url.split("?")[0], status, data)
    return data


def wait_until(predicate, timeout, what, interval=0.2):
    """Calls predicate until it returns something truthy; that value, or an
    AssertionError naming `what` (a string or a callable giving one)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for "
                                 + (what() if callable(what) else what))
        time.sleep(interval)


# -- the homeserver -------------------------------------------------------------------


class Account:
    def __init__(self, user_id, token, localpart):
        self.user_id, self.token, self.localpart = user_id, token, localpart

    def __repr__(self):
        return self.user_id  # never the token


class Devhs:
    """devhs with its control API: accounts, faults, the server-side event list."""

    def __init__(self, state_dir, *flags):
        """`flags`: devhs options, e.g. "--no-authenticated-media" (tests/devhs/README.md);
        a restart keeps them."""
        self.state_dir = str(state_dir)
        self.flags = flags
        self.server = Homeserver(self.state_dir, *flags, max_lifetime=1800)
        self.url = self.server.url

    def stop(self):
        return self.server.stop()

    def restart(self):
        """Stops and starts again on the same state (the port changes)."""
        self.server.stop()
        self.server = Homeserver(self.state_dir, *self.flags, max_lifetime=1800)
        self.url = self.server.url

    def register(self, localpart, displayname=None, device_id=None):
        data = ok("POST", f"{self.url}/_matrix/client/v3/register",
                  {"username": localpart, "password": PASSWORD,
                   "auth": {"type": "m.login.dummy"},
                   "device_id": device_id or "BOT_" + localpart.upper()})
        account = Account(data["user_id"], data["access_token"], localpart)
        record_secrets([account.token])
        if displayname is not None:
            ok("PUT", f"{self.url}/_matrix/client/v3/profile/{account.user_id}/displayname",
               {"displayname": displayname}, token=account.token)
        return account

    def events(self, room_id):
        """Every event ever sent in the room, in order (as sent)."""
        return ok("GET", f"{self.url}/_devhs/rooms/{room_id}/events")["events"]

    def fault(self, **rule):
        ok("POST", f"{self.url}/_devhs/faults", rule)

    def clear_faults(self):
        ok("DELETE", f"{self.url}/_devhs/faults")

    def requests(self, user_id):
        return ok("GET", f"{self.url}/_devhs/requests?user_id={urllib.request.quote(user_id)}")\
            .get(user_id, {})

    def sync_count(self, user_id):
        return self.requests(user_id).get("GET /sync", 0)


# -- the agent double ------------------------------------------------------------------


class AgentDouble:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [PYTHON, str(SOURCE_DIR / "tests" / "agent_double" / "server.py"), "--port", "0",
             "--max-lifetime", "1800", *args],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"the agent double did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def script(self, script, profile=None, model=None, count=None):
        spec = {"script": script}
        for key, value in (("profile", profile), ("model", model), ("count", count)):
            if value is not None:
                spec[key] = value
        ok("POST", f"{self.url}/_double/script", spec)

    def clear_scripts(self):
        ok("DELETE", f"{self.url}/_double/script")

    def requests(self):
        return ok("GET", f"{self.url}/_double/requests")["requests"]

    def backend(self, kind):
        """"hermes" (answers /v1/capabilities as Hermes does, chat completions only),
        "hermes-runs" (Hermes 0.18.x with its runs API), "hermes-runs-idempotent" (runs
        with Idempotency-Key, as newer servers) or "plain" (no such endpoint, like any
        other OpenAI-compatible server)."""
        ok("POST", f"{self.url}/_double/backend", {"kind": kind})

    def runs(self):
        """Every run the double was asked for (tests/agent_double/README.md)."""
        return ok("GET", f"{self.url}/_double/runs")["runs"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


# -- profiles and the gateway ---------------------------------------------------------


def profile_dir(home, name):
    home = pathlib.Path(home)
    return home if name == "default" else home / "profiles" / name


def write_profile(home, name, settings):
    """Writes the profile's .env (mode 0600) from `settings` (key -> value)."""
    pdir = profile_dir(home, name)
    pdir.mkdir(parents=True, exist_ok=True)
    env = pdir / ".env"
    lines = [f"# {name} profile, written by the integration harness"]
    lines += [f"{k}={v}" for k, v in settings.items() if v is not None]
    env.write_text("\n".join(lines) + "\n")
    env.chmod(0o600)
    (pdir / "SOUL.md").write_text(f"You are the {name} profile of the test harness.\n")
    return env


def bot_settings(hs, agent, bot, allowed, **extra):
    settings = {
        "MATRIX_HOMESERVER": hs.url,
        "MATRIX_ACCESS_TOKEN": bot.token,
        "MATRIX_USER_ID": bot.user_id,
        "MATRIX_ALLOWED_USERS": ",".join(getattr(u, "user_id", u) for u in allowed),
        "GATEWAY_PROXY_URL": agent.url,
    }
    settings.update({k: v for k, v in extra.items()})
    return settings


GATEWAYS = []  # every gateway started, for the failure report (conftest.py)


class Gateway:
    """`hermes-matrix run --hermes-home HOME` as a subprocess; stderr goes to a file.
    Its metrics endpoint listens on a free port (tests run side by side), which
    metrics_port() reads from the log."""

    def __init__(self, home, log_path, hs, bots, metrics_listen="127.0.0.1:0",
                 admin_listen="127.0.0.1:0", args=(), preexec=None):
        self.admin_listen = admin_listen
        self.preexec = preexec  # run in the child before exec (e.g. to set an rlimit)
        self.args = list(args)  # more `run` options, e.g. ["--log-format", "json"]
        self.home = pathlib.Path(home)
        self.metrics_listen = metrics_listen
        self.log_path = pathlib.Path(log_path)
        self.hs = hs
        self.bots = list(bots)  # Accounts served (to wait for their first sync)
        # A free port for the admin API by default: gateways of parallel tests never
        # contend for the fixed default port.
        self.proc = None
        self.starts = 0
        GATEWAYS.append(self)

    def start(self, timeout=60):
        """Starts and waits until every bot has finished its first /sync after this
        start (a second /sync request means the first batch was committed)."""
        before = {b.user_id: self.hs.sync_count(b.user_id) for b in self.bots}
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"\n===== start {self.starts} =====\n")
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen([BINARY, "run", "--hermes-home", str(self.home),
                                      "--metrics-listen", self.metrics_listen,
                                      "--admin-listen", self.admin_listen, *self.args],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, preexec_fn=self.preexec)

        def synced():
            if self.proc.poll() is not None:
                raise AssertionError(f"hermes-matrix exited with {self.proc.returncode}:\n"
                                     + self.stderr())
            return all(self.hs.sync_count(b.user_id) >= before[b.user_id] + 2 for b in self.bots)
        wait_until(synced, timeout, lambda: "every profile's first sync\n" + self.stderr())

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the gateway; with SIGTERM it must exit 0 within `timeout` s."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"hermes-matrix did not exit within {timeout} s of "
                                 f"{signal.Signals(sig).name}:\n" + self.stderr())
        finally:
            self._log.close()
        if sig == signal.SIGTERM:
            assert rc == 0, f"hermes-matrix exited with {rc} on SIGTERM:\n" + self.stderr()
        return rc

    def metrics_port(self):
        """The port the metrics endpoint of the latest start listens on."""
        ports = re.findall(r"metrics on http://[^ ]*:(\d+)/metrics", self.stderr())
        assert ports, "the gateway logged no metrics endpoint:\n" + self.stderr()
        return int(ports[-1])

    def admin_url(self, timeout=30):
        """The admin API's URL this start logged ("admin API listening on URL ...")."""
        def logged():
            this_start = self.stderr().rsplit(f"===== start {self.starts} =====", 1)[-1]
            found = re.findall(r"admin API listening on (http://\S+)", this_start)
            return found[-1] if found else None
        return wait_until(logged, timeout, lambda: "the admin API's address\n" + self.stderr())

    def admin_token(self):
        """The token the gateway generated under its home (never printed by tests)."""
        return (self.home / "hermes-matrix" / "admin-token").read_text().strip()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# -- the human --------------------------------------------------------------------------


def relates(content):
    return content.get("m.relates_to") or {}


def is_edit(ev):
    return relates(ev.get("content", {})).get("rel_type") == "m.replace"


def replies_to(events, source_id, sender=None):
    """Messages (not edits) that answer `source_id`: a reply to it, or a thread message
    whose m.in_reply_to names it."""
    out = []
    for ev in events:
        if ev.get("type") != "m.room.message" or is_edit(ev):
            continue
        if sender is not None and ev.get("sender") != sender:
            continue
        rel = relates(ev.get("content", {}))
        if (rel.get("m.in_reply_to") or {}).get("event_id") == source_id:
            out.append(ev)
    return out


def edits_of(events, event_id):
    return [ev for ev in events if ev.get("type") == "m.room.message" and is_edit(ev)
            and relates(ev["content"]).get("event_id") == event_id]


def reactions_to(events, event_id, sender=None):
    return [ev["content"]["m.relates_to"]["key"] for ev in events
            if ev.get("type") == "m.reaction"
            and relates(ev.get("content", {})).get("event_id") == event_id
            and (sender is None or ev.get("sender") == sender)]


def done_and_final_text_at(events, source_id, sender):
    """(where `sender`'s first ✅ or ❌ on `source_id` is, where the event is that gave
    its reply the text shown in the end: the newest edit, else the reply itself), as
    positions in `events`; None for one that is not there."""
    done = next((i for i, ev in enumerate(events)
                 if ev.get("type") == "m.reaction" and ev.get("sender") == sender
                 and relates(ev.get("content", {})).get("event_id") == source_id
                 and relates(ev.get("content", {})).get("key") in ("✅", "❌")), None)
    replies = replies_to(events, source_id, sender)
    if not replies:
        return done, None
    edits = edits_of(events, replies[0]["event_id"])
    final_id = (edits[-1] if edits else replies[0])["event_id"]
    return done, next(i for i, ev in enumerate(events) if ev.get("event_id") == final_id)


def done_after_final_text(events, source_id, sender):
    """True when `sender`'s ✅ or ❌ on `source_id` comes after its reply's final text."""
    done, final = done_and_final_text_at(events, source_id, sender)
    return done is not None and final is not None and done > final


def shown_text(events, message):
    """What a client shows for `message`: the newest edit's m.new_content, else its body."""
    edits = edits_of(events, message["event_id"])
    if edits:
        return edits[-1]["content"]["m.new_content"]["body"]
    return message["content"]["body"]


class Human:
    """A person on matrix-nio: creates rooms, sends messages, and keeps every timeline
    event the client has seen, per room (as the raw event dicts)."""

    def __init__(self, hs, localpart, displayname=None):
        self.loop = asyncio.new_event_loop()
        self.account = hs.register(localpart, displayname)
        self.user_id = self.account.user_id
        config = AsyncClientConfig(store_sync_tokens=False, max_limit_exceeded=0,
                                   max_timeouts=0)
        self.client = AsyncClient(hs.url, self.user_id, config=config)
        resp = self._run(self.client.login(PASSWORD, device_name="integration test"))
        assert isinstance(resp, LoginResponse), resp
        record_secrets([self.client.access_token])
        self.timeline = {}  # room_id -> [event dicts]
        self.invites = set()
        self.sync(0)

    def _run(self, coro, timeout=60):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def close(self):
        try:
            self._run(self.client.close())
        finally:
            self.loop.close()

    def sync(self, timeout_ms=1000):
        since = self.client.next_batch
        resp = self._run(self.client.sync(timeout=timeout_ms))
        assert isinstance(resp, SyncResponse), resp
        self._run(fill_gaps(self.client, resp, since))
        for room_id, room in resp.rooms.join.items():
            seen = self.timeline.setdefault(room_id, [])
            for ev in room.timeline.events:
                seen.append(ev.source)
        self.invites |= set(resp.rooms.invite)
        return resp

    def events(self, room_id):
        return self.timeline.get(room_id, [])

    def wait_for(self, room_id, predicate, timeout=60, what="an event"):
        """Syncs until predicate(events of the room) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.events(room_id))
            if value:
                return value
            if time.monotonic() > deadline:
                dump = "\n".join(json.dumps({k: e.get(k) for k in ("sender", "type", "content")},
                                            ensure_ascii=False)
                                 for e in self.events(room_id)[-30:])
                raise AssertionError(f"timed out after {timeout} s waiting for {what} "
                                     f"in {room_id}; the client saw:\n{dump}")
            self.sync(500)

    def create_room(self, invite=(), is_direct=False, name=None):
        resp = self._run(self.client.room_create(
            name=name, invite=[getattr(u, "user_id", u) for u in invite], is_direct=is_direct))
        assert isinstance(resp, RoomCreateResponse), resp
        return resp.room_id

    def wait_joined(self, room_id, bot, timeout=60):
        """Waits until `bot` has joined the room."""
        uid = getattr(bot, "user_id", bot)
        return self.wait_for(room_id, lambda evs: any(
            e.get("type") == "m.room.member" and e.get("state_key") == uid
            and e["content"].get("membership") == "join" for e in evs),
            timeout, f"{uid} to join")

    def invite(self, room_id, user):
        self._run(self.client.room_invite(room_id, getattr(user, "user_id", user)))

    def send(self, room_id, body, mentions=None, formatted_body=None, thread_root=None,
             content=None):
        """Sends an m.text; returns its event id. `mentions`: user ids for m.mentions
        (None: no m.mentions field at all)."""
        if content is None:
            content = {"msgtype": "m.text", "body": body}
            if mentions is not None:
                content["m.mentions"] = {"user_ids": [getattr(u, "user_id", u) for u in mentions]}
            if formatted_body is not None:
                content["format"] = "org.matrix.custom.html"
                content["formatted_body"] = formatted_body
            if thread_root is not None:
                content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread_root,
                                           "is_falling_back": True,
                                           "m.in_reply_to": {"event_id": thread_root}}
        resp = self._run(self.client.room_send(room_id, "m.room.message", content,
                                               tx_id=uuid.uuid4().hex))
        assert isinstance(resp, RoomSendResponse), resp
        return resp.event_id

    def react(self, room_id, event_id, key):
        """Reacts to `event_id` with `key`; returns the reaction's event id."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id,
                                    "key": key}}
        resp = self._run(self.client.room_send(room_id, "m.reaction", content,
                                               tx_id=uuid.uuid4().hex))
        assert isinstance(resp, RoomSendResponse), resp
        return resp.event_id

    def wait_reply(self, room_id, source_id, bot, timeout=60, final=None):
        """Waits for the bot's reply to `source_id` (and, with `final`, until the shown
        text equals it); returns the reply event."""
        uid = getattr(bot, "user_id", bot)

        def got(evs):
            found = replies_to(evs, source_id, uid)
            if not found:
                return None
            if final is not None and shown_text(evs, found[0]) != final:
                return None
            return found[0]
        return self.wait_for(room_id, got, timeout,
                             f"{uid}'s reply to {source_id}" + (f" reading {final!r}" if final else ""))

    def wait_reactions(self, room_id, source_id, bot, keys, timeout=60):
        uid = getattr(bot, "user_id", bot)
        return self.wait_for(room_id,
                             lambda evs: set(keys) <= set(reactions_to(evs, source_id, uid)),
                             timeout, f"reactions {keys} from {uid} on {source_id}")


def secrets_leaked(texts, secrets):
    """The secrets (by position only, never printed) that appear in any text."""
    return [i for i, s in enumerate(secrets) if any(s in t for t in texts)]

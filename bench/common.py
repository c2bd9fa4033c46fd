"""What every benchmark needs: the dev homeserver, the agent double and hermes-matrix
as subprocesses on 127.0.0.1, bot and human accounts, DM rooms, a throwaway
HERMES_HOME, CPU and memory figures from /proc, the machine's description and the
JSON result file. Run with Debian's /usr/bin/python3 (aiohttp)."""

import asyncio
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import aiohttp

BENCH_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PYTHON = "/usr/bin/python3"
BINARY = pathlib.Path(os.environ.get("HM_BINARY", REPO_ROOT / "build" / "app" / "hermes-matrix"))
RESULTS = BENCH_DIR / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
HUMAN = "human"  # the human's localpart; its user id is @human:localhost


def fail(msg):
    print(f"FAILED: {msg}", file=sys.stderr, flush=True)


# -- /proc -----------------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of a process (its threads included), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def memory_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(rest.split()[0])
    return out


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"nproc": os.cpu_count() if not hasattr(os, "sched_getaffinity")
            else len(os.sched_getaffinity(0)),
            "cpu_model": model, "ram_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(),
            "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def git_commit():
    try:
        return subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        return "?"


def write_result(name, result):
    RESULTS.mkdir(exist_ok=True)
    result = {"benchmark": name, "machine": machine(), "commit": git_commit(), **result}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"result: {path.relative_to(REPO_ROOT)}")
    return path


def table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    def fmt(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    print(fmt(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


# -- subprocesses ----------------------------------------------------------------

class Child:
    """A subprocess that prints `listening http://127.0.0.1:PORT` first."""

    def __init__(self, argv, name):
        self.name = name
        self.proc = subprocess.Popen(argv, cwd=str(REPO_ROOT), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"{name} did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        self.pid = self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_homeserver(max_lifetime=900):
    # Memory only (no --state-dir): a JSON snapshot of the whole state after every
    # change would cost the homeserver more CPU than the traffic under test.
    return Child([PYTHON, "-m", "tests.devhs", "--port", "0", "--max-lifetime", str(max_lifetime)],
                 "devhs")


def start_agent_double(max_lifetime=900):
    # Instant: one content delta, no pacing.
    return Child([PYTHON, "tests/agent_double/server.py", "--port", "0", "--deltas", "1",
                  "--max-lifetime", str(max_lifetime)], "agent double")


def free_ports(extra_args=()):
    """`run` options that put the metrics and admin listeners on free ports (unless
    extra_args sets them), so that parallel runs never contend for 9464/9465."""
    return [arg for opt in ("--metrics-listen", "--admin-listen") if opt not in extra_args
            for arg in (opt, "127.0.0.1:0")]


class Gateway:
    """hermes-matrix run on a HERMES_HOME; stderr read by a thread that notes when
    each profile logged `running as`."""

    def __init__(self, home, expected, extra_args=()):
        self.expected = set(expected)
        self.running = {}  # profile -> seconds after start
        self.lines = []
        self.problems = []
        self.done = threading.Event()
        self.started = time.monotonic()
        self.proc = subprocess.Popen([str(BINARY), "run", "--hermes-home", str(home),
                                      *free_ports(extra_args), *extra_args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        pat = re.compile(r"\[([\w.-]+)\] running as")
        for line in self.proc.stderr:
            if len(self.lines) < 20000:
                self.lines.append(line)
            m = pat.search(line)
            if m and m.group(1) not in self.running:
                self.running[m.group(1)] = time.monotonic() - self.started
                if self.expected <= set(self.running):
                    self.done.set()
            elif re.search(r"\b(warn|warning|error|critical)\b", line, re.I) and len(self.problems) < 200:
                self.problems.append(line.rstrip())

    def wait_running(self, timeout):
        if not self.done.wait(timeout):
            missing = sorted(self.expected - set(self.running))
            raise RuntimeError(f"{len(missing)} profile(s) not running after {timeout} s: "
                               f"{missing[:10]}; last log lines:\n" + "".join(self.lines[-15:]))
        return max(self.running.values())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)
        return self.proc.returncode


# -- Matrix over raw HTTP ---------------------------------------------------------

class Client:
    """Raw client-server API calls (no SDK: the client must not be the bottleneck)."""

    def __init__(self, session, base, token=None):
        self.s = session
        self.base = base
        self.token = token

    def _h(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(self, method, path, body=None, params=None):
        url = self.base + "/_matrix/client/v3" + path
        async with self.s.request(method, url, json=body, params=params, headers=self._h()) as r:
            data = await r.json(content_type=None)
            if r.status != 200:
                raise RuntimeError(f"{method} {path}: {r.status} {data}")
            return data

    async def register(self, user, password="bench-pw-1"):
        data = await self.call("POST", "/register",
                               {"username": user, "password": password,
                                "auth": {"type": "m.login.dummy"}})
        return Client(self.s, self.base, data["access_token"]), data["user_id"]

    async def send_text(self, room_id, text):
        txn = uuid.uuid4().hex
        data = await self.call("PUT", f"/rooms/{room_id}/send/m.room.message/{txn}",
                               {"msgtype": "m.text", "body": text})
        return data["event_id"]


async def control(session, base, path):
    async with session.get(base + "/_devhs" + path) as r:
        return await r.json()


async def room_events(session, base, room_id):
    return (await control(session, base, f"/rooms/{room_id}/events"))["events"]


async def make_bots(session, base, names, human_id, concurrency=20):
    """Registers bot `hm-<name>` for each name; returns {name: (client, user_id)}."""
    anon = Client(session, base)
    sem = asyncio.Semaphore(concurrency)
    out = {}

    async def one(name):
        async with sem:
            out[name] = await anon.register(f"hm-{name}")
    await asyncio.gather(*(one(n) for n in names))
    return out


async def make_dm(human, bot, bot_id):
    """A DM room: the human creates it inviting the bot, the bot joins (before the
    gateway starts, so no invite handling is on the measured path)."""
    room = await human.call("POST", "/createRoom",
                            {"preset": "trusted_private_chat", "is_direct": True,
                             "invite": [bot_id]})
    await bot.call("POST", f"/join/{room['room_id']}", {})
    return room["room_id"]


def make_home(root, bots, hs_url, agent_url, human_id, extra_env=""):
    """A HERMES_HOME with one named profile per bot (the default profile stays off
    Matrix: no .env in the home itself). `extra_env`: more .env lines for every
    profile (e.g. "MATRIX_E2EE_MODE=required\n")."""
    home = pathlib.Path(root) / "hermes-home"
    for name, (client, _uid) in bots.items():
        d = home / "profiles" / name
        d.mkdir(parents=True, exist_ok=True)
        env = d / ".env"
        env.write_text(f"MATRIX_HOMESERVER={hs_url}\nMATRIX_ACCESS_TOKEN={client.token}\n"
                       f"MATRIX_ALLOWED_USERS={human_id}\n"
                       f"GATEWAY_PROXY_URL={agent_url}/p/{name}\n" + extra_env)
        env.chmod(0o600)
    return home


def final_reactions(events, human_id):
    """{human event id: (key, origin_server_ts)} of each ✅/❌ reaction the bots sent.
    Encrypted reactions count too: their m.relates_to (with the key) stays in clear."""
    out = {}
    for ev in events:
        if ev["type"] not in ("m.reaction", "m.room.encrypted") or ev["sender"] == human_id:
            continue
        rel = ev.get("content", {}).get("m.relates_to", {})
        if rel.get("key") in ("✅", "❌"):
            out[rel.get("event_id")] = (rel["key"], ev["origin_server_ts"])
    return out


def replies(events, human_id):
    """{human event id: first reply event} (bot messages with m.in_reply_to; encrypted
    ones too, whose m.relates_to is in clear)."""
    out = {}
    for ev in events:
        if ev["type"] not in ("m.room.message", "m.room.encrypted") or ev["sender"] == human_id:
            continue
        rel = ev.get("content", {}).get("m.relates_to", {})
        target = rel.get("m.in_reply_to", {}).get("event_id")
        if target and rel.get("rel_type") != "m.replace" and target not in out:
            out[target] = ev
    return out


def tmpdir(prefix):
    return tempfile.TemporaryDirectory(prefix=prefix)


def check_binary():
    if not BINARY.exists():
        fail(f"{BINARY} not built: cmake -S . -B build -G Ninja && ninja -C build")
        sys.exit(2)


async def sync_counts(session, base):
    """{user id: number of /sync requests} from the homeserver's request counts."""
    data = await control(session, base, "/requests")
    return {u: sum(n for ep, n in eps.items() if ep.startswith("GET ") and ep.endswith("/sync"))
            for u, eps in data.items()}


async def wait_past_first_sync(session, base, user_ids, timeout, poll=0.1, syncs=2):
    """Until every user has started its second /sync (the first, whose messages are
    history and never answered, is over), asking every `poll` seconds. `syncs=1`:
    its first (a bot that resumes from a stored cursor is live once that long-poll
    is on the server). Returns seconds waited."""
    t0 = time.monotonic()
    while True:
        counts = await sync_counts(session, base)
        slow = [u for u in user_ids if counts.get(u, 0) < syncs]
        if not slow:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{len(slow)} bot(s) never made {syncs} /sync requests: {slow[:5]}")
        await asyncio.sleep(poll)


async def one_bot_in_a_dm(session, hs, agent, tmp, name):
    """A human, one bot `name` in a DM with it, and the gateway serving that bot, past
    its first /sync: (human's Client, human id, bot id, room id, Gateway)."""
    human, human_id = await Client(session, hs.url).register(HUMAN)
    bots = await make_bots(session, hs.url, [name], human_id)
    bot, bot_id = bots[name]
    room = await make_dm(human, bot, bot_id)
    gw = Gateway(make_home(tmp, bots, hs.url, agent.url, human_id), [name])
    try:
        gw.wait_running(60)
        await wait_past_first_sync(session, hs.url, [bot_id], 30)
    except BaseException:
        gw.stop()
        raise
    return human, human_id, bot_id, room, gw


class FinalWatcher:
    """The human's own /sync long-poll (its own device, not nio's) over the bots' events
    of `types`; `finals(timeline events)` names the human messages now final (closed
    loop: the next message goes out when the previous one is final)."""

    def __init__(self, human, bot_ids, finals, types=("m.reaction",)):
        self.human, self.finals_of = human, finals
        self.filter = json.dumps({"presence": {"types": []}, "account_data": {"types": []},
                                  "room": {"state": {"types": []}, "ephemeral": {"types": []},
                                           "timeline": {"types": list(types),
                                                        "senders": list(bot_ids),
                                                        "limit": 100}}})
        self.done, self.waiters = set(), {}

    async def start(self):
        first = await self.human.call("GET", "/sync", params={"filter": self.filter,
                                                               "timeout": "0"})
        self.since = first["next_batch"]
        self.task = asyncio.create_task(self._loop())

    async def _loop(self):
        while True:
            data = await self.human.call("GET", "/sync", params={
                "filter": self.filter, "since": self.since, "timeout": "10000"})
            self.since = data["next_batch"]
            for room in data.get("rooms", {}).get("join", {}).values():
                for eid in self.finals_of(room.get("timeline", {}).get("events", [])):
                    self.done.add(eid)
                    w = self.waiters.pop(eid, None)
                    if w and not w.done():
                        w.set_result(True)

    async def wait(self, eid, timeout):
        """True once `eid` is final, False after `timeout` seconds."""
        if eid in self.done:
            return True
        fut = self.waiters.setdefault(eid, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            return False

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


def reaction_watcher(human, human_id, bot_ids, types=("m.reaction",)):
    """A FinalWatcher for the bots' final ✅/❌ reactions."""
    return FinalWatcher(human, bot_ids, lambda events: final_reactions(events, human_id), types)


async def wait_device_keys(client, user_ids, timeout):
    """Until every user has published device keys (an encrypting bot is up)."""
    deadline = time.monotonic() + timeout
    pending = list(user_ids)
    while pending:
        got = await client.call("POST", "/keys/query",
                                {"device_keys": {u: [] for u in pending[:100]}})
        done = {u for u, devs in got.get("device_keys", {}).items() if devs}
        pending = [u for u in pending if u not in done]
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} bot(s) published no device keys: {pending[:5]}")
        if pending:
            await asyncio.sleep(0.2)


def gateway_latency(sent, events_by_id, reps, fin, requests):
    """Per message (event id, unique token in its text): the gateway's added latency
    from server-side and agent-side timestamps, as bench/latency.py defines it."""
    by_token = {}
    for r in requests:
        text = json.dumps(r.get("body"), ensure_ascii=False)
        for m in re.findall(r"tok([0-9a-f]{12})", text):
            by_token.setdefault(m, r)
    samples, problems = [], []
    for eid, token in sent:
        req, rep = by_token.get(token), reps.get(eid)
        if req is None or rep is None or "first_delta_sent" not in req or eid not in events_by_id:
            problems.append(eid)
            continue
        m_ts = events_by_id[eid]["origin_server_ts"] / 1000
        inbound = req["received"] - m_ts
        outbound = rep["origin_server_ts"] / 1000 - req["first_delta_sent"]
        samples.append({"inbound_ms": inbound * 1000, "outbound_ms": outbound * 1000,
                        "gateway_ms": (inbound + outbound) * 1000,
                        "message_to_final_ms": (fin[eid][1] - events_by_id[eid]["origin_server_ts"])
                        if eid in fin else None})
    return samples, problems


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"n": len(values), "median": round(percentile(values, 50), 1),
            "p99": round(percentile(values, 99), 1), "min": round(min(values), 1),
            "max": round(max(values), 1)}

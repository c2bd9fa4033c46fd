"""Hostile HTTP clients for the admin API and /metrics, bounded in count and time and on
loopback only: a header flood, idle connections from many addresses, clients that dribble
a byte now and then, and a burst of requests. Used by test_hostile_clients.py and by
bench/hostile_clients.py (which prints the figures the tests do not assert)."""

import http.client as http_client
import json
import resource
import socket
import threading
import time
import urllib.error
import urllib.request

from harness import AgentDouble, Devhs, Gateway, Human, bot_settings, http, write_profile


def raise_file_limit(needed):
    """This process opens many sockets: its soft file limit goes up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid):
    import os
    return len(os.listdir(f"/proc/{pid}/fd"))


def header_flood(port, megabytes, path="/healthz"):
    """A GET followed by `megabytes` MiB of header lines (no token). Returns (status line
    or "" when none came, MiB the server took before it stopped reading)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sent = 0
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode())
        line = b"X-Flood: " + b"a" * 1013 + b"\r\n"  # 1 KiB a line
        block = line * 1024  # 1 MiB
        try:
            for _ in range(megabytes):
                sock.sendall(block)
                sent += 1
        except OSError:
            pass  # the server answered and closed: what it should do
        try:
            return sock.recv(200).decode(errors="replace").split("\r\n")[0], sent
        except OSError:
            return "", sent
    finally:
        sock.close()


def send_chunked(port, path, megabytes, token=None):
    """POSTs `megabytes` MiB as a chunked body (bounded: it stops when the server closes
    the connection) and returns the status line it got, or "" when none came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        sock.sendall((head + "\r\n").encode())
        chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
        try:
            for _ in range(megabytes):
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed early: what it should do
        try:
            return sock.recv(200).decode(errors="replace").split("\r\n")[0]
        except OSError:
            return ""
    finally:
        sock.close()


def idle_connections(port, count, sources):
    """Opens `count` TCP connections that send nothing, spread over the loopback source
    addresses `sources`; returns the sockets (some the server may already have closed)."""
    socks = []
    for i in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.bind((sources[i % len(sources)], 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def closed_by_server(sock):
    """True when the server has closed this connection (EOF or reset)."""
    try:
        sock.setblocking(False)
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class Dribbler(threading.Thread):
    """Sends a request one byte every `every` seconds from `source`, never finishing it;
    records when the server closed the connection."""

    def __init__(self, port, source, every=2.0, path="/healthz"):
        super().__init__(daemon=True)
        self.request = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Slow: {'d' * 200}\r\n".encode()
        self.sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0),
                                             timeout=every + 5)
        self.every = every
        self.started = time.monotonic()
        self.closed_after = None  # seconds from connect to the server closing it
        self.stop = threading.Event()

    def run(self):
        try:
            for b in self.request:
                if self.stop.is_set():
                    return
                self.sock.sendall(bytes([b]))
                if self.stop.wait(self.every):
                    return
                if closed_by_server(self.sock):
                    break
        except OSError:
            pass
        self.closed_after = time.monotonic() - self.started

    def close(self):
        self.stop.set()
        self.join(timeout=self.every + 5)
        self.sock.close()


class Prober(threading.Thread):
    """GETs `url` every `interval` s from 127.0.0.1 with a `timeout` s client timeout;
    records each latency, or None for a failed probe."""

    def __init__(self, url, interval=0.25, timeout=5.0):
        super().__init__(daemon=True)
        self.url, self.interval, self.timeout = url, interval, timeout
        self.results = []  # (latency in seconds or None, error text)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as r:
                    r.read()
                    self.results.append((time.monotonic() - t0, "" if r.status == 200
                                         else f"HTTP {r.status}"))
            except (OSError, urllib.error.URLError) as e:
                self.results.append((None, repr(e)))
            self.stop.wait(self.interval)

    def finish(self):
        self.stop.set()
        self.join(timeout=self.timeout + 5)
        return self.results


def burst(url, count, headers=None):
    """`count` requests at once, one thread each; returns their statuses (or error
    texts for requests that got no answer). A 503 whose JSON says the server is busy
    reads "busy"."""
    results = [None] * count
    gate = threading.Barrier(count)

    def one(i):
        req = urllib.request.Request(url, headers=headers or {})
        try:
            gate.wait(timeout=30)
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
                results[i] = r.status
        except urllib.error.HTTPError as e:
            results[i] = e.code
            if e.code == 503:
                try:
                    body = json.loads(e.read())
                    if isinstance(body, dict) and body.get("errcode") == "busy":
                        results[i] = "busy"
                except (ValueError, OSError, http_client.HTTPException):
                    pass  # stays 503: not the JSON the server promises
        except (OSError, threading.BrokenBarrierError) as e:
            results[i] = repr(e)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def systemd_default_file_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


class World:
    """One profile's bot in a DM with Doru, served by a gateway that runs with the
    systemd default file limit (1,024, soft and hard), its admin API and /metrics on
    free loopback ports."""

    def __init__(self, tmp):
        self.hs = Devhs(tmp / "devhs")
        self.agent = AgentDouble()
        self.bot = self.hs.register("hm-hostile", "Hermes Hostile")
        self.doru = Human(self.hs, "doru", "Doru")
        self.room = self.doru.create_room(invite=[self.bot], is_direct=True)
        home = tmp / "hermes-home"
        write_profile(home, "hostile", bot_settings(self.hs, self.agent, self.bot, [self.doru]))
        (home / ".env").write_text("# the default profile is not on Matrix here\n")
        self.gateway = Gateway(home, tmp / "gateway.stderr", self.hs, [self.bot],
                               preexec=systemd_default_file_limit)
        self.gateway.start()
        self.doru.wait_joined(self.room, self.bot)
        self.admin = self.gateway.admin_url()
        self.admin_port = int(self.admin.rsplit(":", 1)[1])
        self.metrics_port = self.gateway.metrics_port()
        self.pid = self.gateway.proc.pid
        raise_file_limit(4096)

    def answered(self, text):
        """Sends `text` to the bot and waits for its reply: Matrix still works."""
        source = self.doru.send(self.room, text)
        return self.doru.wait_reply(self.room, source, self.bot, timeout=60)

    def healthy(self):
        return http("GET", f"{self.admin}/healthz", timeout=5) == (200, {"status": "alive"})

    def close(self):
        try:
            self.gateway.stop()
        finally:
            self.doru.close()
            self.agent.stop()
            self.hs.stop()

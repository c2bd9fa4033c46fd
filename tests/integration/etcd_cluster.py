"""A real 3-member etcd cluster on 127.0.0.1 for tests: free ports, a temporary data
directory, members that can be killed and started again one by one, and everything
stopped at the end. Debian's etcd-server (/usr/bin/etcd, 3.4) is the program run."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdMember:
    def __init__(self, name, data_dir, client_port, peer_port):
        self.name = name
        self.data_dir = data_dir
        self.client_port = client_port
        self.peer_port = peer_port
        self.proc = None
        self.log = None

    @property
    def client_url(self):
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self):
        return f"http://127.0.0.1:{self.peer_port}"


class EtcdCluster:
    """Three members named e1..e3 under `base_dir`; `start()` waits for a leader."""

    def __init__(self, base_dir, size=3):
        self.base_dir = base_dir
        os.makedirs(base_dir, exist_ok=True)
        self.members = [EtcdMember(f"e{i + 1}", os.path.join(base_dir, f"e{i + 1}"),
                                   free_port(), free_port()) for i in range(size)]
        self.token = f"hm-test-{os.getpid()}-{free_port()}"

    @property
    def endpoints(self):
        return [m.client_url for m in self.members]

    def initial_cluster(self):
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def start_member(self, m):
        assert m.proc is None or m.proc.poll() is not None, f"{m.name} runs already"
        m.log = open(os.path.join(self.base_dir, f"{m.name}.log"), "ab")
        m.proc = subprocess.Popen(
            [ETCD, "--name", m.name, "--data-dir", m.data_dir,
             "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
             "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
             "--initial-cluster", self.initial_cluster(),
             "--initial-cluster-token", self.token, "--initial-cluster-state", "new",
             # Elections within a second on loopback (defaults: 100 ms / 1000 ms).
             "--heartbeat-interval", "50", "--election-timeout", "500"],
            stdout=m.log, stderr=subprocess.STDOUT)

    def start(self, timeout=30):
        for m in self.members:
            self.start_member(m)
        self.wait_healthy(timeout)
        return self

    def kill_member(self, m, sig=signal.SIGKILL):
        if m.proc is not None and m.proc.poll() is None:
            m.proc.send_signal(sig)
            m.proc.wait(timeout=30)
        if m.log:
            m.log.close()
            m.log = None

    def stop(self):
        for m in self.members:
            self.kill_member(m, signal.SIGTERM)

    def post(self, member, path, body, timeout=5):
        req = urllib.request.Request(member.client_url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def status(self, member):
        """The member's /v3/maintenance/status answer, or None when it does not answer."""
        try:
            return self.post(member, "/v3/maintenance/status", {}, timeout=2)[1]
        except OSError:
            return None

    def leader(self):
        """The member that is the raft leader now (asked of every running member)."""
        by_id = {}
        leader_id = None
        for m in self.members:
            if m.proc is None or m.proc.poll() is not None:
                continue
            s = self.status(m)
            if s and "header" in s:
                by_id[s["header"]["member_id"]] = m
                leader_id = s.get("leader", leader_id)
        return by_id.get(leader_id)

    def wait_healthy(self, timeout=30):
        """Until every running member answers and they agree on a leader that runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [m for m in self.members if m.proc and m.proc.poll() is None]
            stats = [self.status(m) for m in live]
            if stats and all(s and "header" in s for s in stats):
                ids = {s["header"]["member_id"] for s in stats}
                leaders = {s.get("leader") for s in stats}
                if len(leaders) == 1 and leaders <= ids:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"etcd under {self.base_dir} has no leader after {timeout} s")

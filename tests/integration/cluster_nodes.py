"""Cluster nodes for the cluster tests and bench/failover.py: a coordinator and
workers, each `hermes-matrix run` as a separate process on loopback, stderr to a
file per node. Logs are how a test sees which node serves which profile."""

import os
import pathlib
import re
import signal
import socket
import subprocess
import time

from harness import BINARY, GATEWAYS, record_secrets, wait_until

SECRET = "cluster-secret-for-tests-0123456789"


def write_secret(path, text=SECRET):
    path = pathlib.Path(path)
    record_secrets([text])  # the suite's secrets audit looks for it in every output
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


class Node:
    """One `hermes-matrix run` process of a cluster."""

    def __init__(self, name, home, log_path, args, binary=None, env=None):
        self.name = name
        self.home = pathlib.Path(home)  # the secrets audit reads its .env files
        self.log_path = pathlib.Path(log_path)
        self._log = open(self.log_path, "a")
        # Free ports unless the test chose: parallel test files never contend
        # for the default metrics and admin ports.
        for flag in ("--metrics-listen", "--admin-listen"):
            if flag not in args:
                args = [*args, flag, "127.0.0.1:0"]
        self.proc = subprocess.Popen([binary or BINARY, "run", "--hermes-home", str(home), *args],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log,
                                     env=None if env is None else {**os.environ, **env})
        GATEWAYS.append(self)  # its log in the failure report

    def stderr(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=30, start=0):
        """The first match of the regex in the log after offset `start`."""
        rx = re.compile(pattern)

        def found():
            return rx.search(self.stderr(), start)
        return wait_until(found, timeout, lambda: f"{pattern!r} in the log of {self.name}:\n"
                          + self.stderr()[-4000:])

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class Cluster:
    """A coordinator and workers. `coordinator_home` may be an empty directory so
    that the coordinator itself serves nothing."""

    def __init__(self, tmp, secret_file, lease=3, shared=True):
        self.tmp = pathlib.Path(tmp)
        self.secret_file = secret_file
        self.lease = lease
        self.shared = shared
        self.nodes = {}
        self.port = None

    def common(self):
        args = ["--cluster-secret-file", str(self.secret_file), "--lease-seconds", str(self.lease)]
        if self.shared:
            args.append("--shared-storage")
        return args

    def start_coordinator(self, home, *extra, listen="127.0.0.1", binary=None, env=None):
        node = Node("coordinator", home, self.tmp / "coordinator.log",
                    ["--cluster-listen", f"{listen}:0", *self.common(), *extra], binary, env)
        m = node.wait_log(rf"coordinator listening on {re.escape(listen)}:(\d+)")
        self.port = int(m.group(1))
        self.nodes["coordinator"] = node
        return node

    def start_worker(self, name, home, secret_file=None, *extra, join_host="127.0.0.1",
                     binary=None, env=None):
        args = ["--cluster-join", f"{join_host}:{self.port}", "--node-name", name,
                "--cluster-secret-file", str(secret_file or self.secret_file),
                "--lease-seconds", str(self.lease)]
        if self.shared:
            args.append("--shared-storage")
        node = Node(name, home, self.tmp / f"{name}.log", [*args, *extra], binary, env)
        self.nodes[name] = node
        return node

    def placed(self, profile, timeout=30, start=0, not_on=None):
        """The node the coordinator placed `profile` on (after log offset `start`)."""
        coord = self.nodes["coordinator"]
        rx = re.compile(rf"profile {re.escape(profile)} placed on node (\S+) ")

        def found():
            hits = [m.group(1) for m in rx.finditer(coord.stderr(), start)]
            hits = [h for h in hits if h != not_on]
            return hits[-1] if hits else None
        return wait_until(found, timeout, lambda: f"{profile} placed (not on {not_on}):\n"
                          + coord.stderr()[-4000:])

    def holder(self, profile):
        """Where the coordinator last placed `profile`, or None."""
        rx = re.compile(rf"profile {re.escape(profile)} placed on node (\S+) ")
        hits = rx.findall(self.nodes["coordinator"].stderr())
        return hits[-1] if hits else None

    def stop(self):
        for name, node in reversed(list(self.nodes.items())):
            node.stop()


GARBAGE = b"\x00\xffGET / HTTP/1.1\r\n\r\n" + bytes(range(256)) * 8


def send_garbage(port, data=GARBAGE):
    """Bytes on the cluster port, read until the node drops the connection. The
    default's first 32 bytes read as a BASP header announcing a ~1.4 GB payload:
    the kind that made CAF 0.17 allocate it before the cluster port screened
    its connections."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (socket.timeout, ConnectionResetError):
            pass


def log_size(node):
    return len(node.stderr())


def now():
    return time.monotonic()


__all__ = ["Cluster", "Node", "write_secret", "log_size", "now", "os", "GARBAGE", "send_garbage"]

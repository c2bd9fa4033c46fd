"""The cluster's etcd machines (cluster/node_lease, cluster/profile_ownership) against a
REAL 3-member etcd on loopback (etcd_cluster.py), driven by hm-etcd-driver, which runs
them with blocking libcurl calls and prints what happens as JSON lines.

Times in the driver's events are CLOCK_MONOTONIC seconds, the clock of time.monotonic().
"""

import json
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time

import pytest

import etcd_cluster
from conftest import SOURCE_DIR

DRIVER = os.environ.get("HM_ETCD_DRIVER",
                        str(SOURCE_DIR / "build" / "tests" / "etcd_driver" / "hm-etcd-driver"))

pytestmark = pytest.mark.skipif(not pathlib.Path(etcd_cluster.ETCD).exists(),
                                reason="etcd is not installed (Debian etcd-server)")


class Driver:
    """One hm-etcd-driver process; its events arrive in a queue as they are printed."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([DRIVER, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events = []
        self.log = []  # lines that are not events: the product's log (spdlog, stdout)
        self._queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._queue.put(json.loads(line))
            else:
                self.log.append(line)
        self._queue.put(None)

    def wait_for(self, kind, timeout):
        """The first event of `kind` not seen yet (earlier events are kept in `events`)."""
        deadline = time.monotonic() + timeout
        for e in self.events:
            if e["event"] == kind and not e.get("_taken"):
                e["_taken"] = True
                return e
        while time.monotonic() < deadline:
            try:
                e = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if e is None:
                break
            self.events.append(e)
            if e["event"] == kind:
                e["_taken"] = True
                return e
        raise AssertionError(f"no '{kind}' event within {timeout} s; events: {self.events}; "
                             f"stderr: {self.stderr_if_done()}")

    def drain(self, timeout=30):
        """Waits for the process to end and returns every event."""
        self.proc.wait(timeout=timeout)
        while True:
            e = self._queue.get(timeout=5)
            if e is None:
                return self.events
            self.events.append(e)

    def of(self, kind):
        return [e for e in self.events if e["event"] == kind]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Take in what was printed before the kill.
        try:
            while True:
                e = self._queue.get(timeout=1)
                if e is None:
                    break
                self.events.append(e)
        except queue.Empty:
            pass

    def stderr_if_done(self):
        return self.proc.stderr.read() if self.proc.poll() is not None else "(running)"


@pytest.fixture
def etcd(tmp_path):
    cluster = etcd_cluster.EtcdCluster(str(tmp_path / "etcd")).start()
    drivers = []
    yield cluster, drivers
    for d in drivers:
        d.kill()
    cluster.stop()


def endpoints(cluster, first=None):
    members = list(cluster.members)
    if first is not None:
        members.remove(first)
        members.insert(0, first)
    return ",".join(m.client_url for m in members)


def time_to_live(cluster, lease):
    """The lease's seconds left, asked of every running member until one answers."""
    for m in cluster.members:
        if m.proc and m.proc.poll() is None:
            try:
                status, body = cluster.post(m, "/v3/lease/timetolive", {"ID": str(lease)})
            except OSError:
                continue
            if status == 200:
                return int(body.get("TTL", 0))
    raise AssertionError("no etcd member answered timetolive")


def test_keepalive_survives_losing_the_leader_and_the_member_in_use(etcd):
    cluster, drivers = etcd
    leader = cluster.leader()
    # The leader first in the list: killing it takes both the member the node talks to
    # and the raft leader at once.
    d = Driver("lease", "--endpoints", endpoints(cluster, first=leader),
               "--ttl", "4", "--margin-ms", "1000", "--seconds", "16")
    drivers.append(d)
    granted = d.wait_for("granted", 10)
    d.wait_for("kept", 5)

    cluster.kill_member(leader)
    cluster.wait_healthy(timeout=10)
    second = cluster.leader()
    assert second is not None and second is not leader
    d.wait_for("failover", 5)
    kept_after = d.wait_for("kept", 5)
    assert kept_after["member"] != leader.client_url

    # Bring the first one back, then lose the new leader too.
    cluster.start_member(leader)
    cluster.wait_healthy(timeout=15)
    time.sleep(1.5)
    cluster.kill_member(second)
    cluster.wait_healthy(timeout=10)
    assert cluster.leader() is not second

    events = d.drain(timeout=30)
    if os.environ.get("HM_ETCD_SHOW"):
        print("\n".join(json.dumps(e) for e in events))
    lost = [e for e in events if e["event"] == "lost"]
    assert not lost, f"the lease was lost: {lost}"
    end = events[-1]
    assert end["event"] == "end" and end["live"] and end["lease"] == granted["lease"]
    # Kept alive throughout: etcd still has it, with time left.
    assert time_to_live(cluster, granted["lease"]) > 0
    # No gap in what the node believed: each keepalive renewed before the last ran out.
    renewals = [e for e in events if e["event"] in ("granted", "kept")]
    for before, after in zip(renewals, renewals[1:]):
        assert after["t"] < before["valid_until"], (before, after)


def test_a_second_claimant_waits_for_the_lease_then_gets_a_larger_epoch(etcd):
    cluster, drivers = etcd
    eps = endpoints(cluster)
    common = ("--endpoints", eps, "--cluster", "c1", "--profile", "alpha", "--ttl", "3",
              "--margin-ms", "800")
    first = Driver("claim", *common, "--node", "n1", "--seconds", "60")
    drivers.append(first)
    owned1 = first.wait_for("owned", 10)

    second = Driver("claim", *common, "--node", "n2", "--seconds", "40")
    drivers.append(second)
    taken = second.wait_for("taken", 10)
    assert taken["owner"] == "n1" and taken["epoch"] == owned1["epoch"]
    # While the first lease lives, the second never gets the key (it asks every 200 ms).
    time.sleep(4)
    assert not second.of("owned"), second.events
    # The first node dies: its lease runs out, then the second's claim succeeds.
    first.kill()
    died_at = time.monotonic()
    first_until = max(e["valid_until"] for e in first.events
                      if e["event"] in ("granted", "kept", "owned"))
    owned2 = second.wait_for("owned", 15)
    assert owned2["epoch"] > owned1["epoch"]
    # The first node's own clock had already told it to stop before etcd gave the key
    # to the second one (never two owners), and etcd waited for the lease's TTL.
    assert owned2["t"] > first_until
    assert owned2["t"] - died_at > 1.0


def test_epochs_keep_growing_when_every_etcd_member_restarts(etcd):
    cluster, drivers = etcd
    epochs = []
    for round_ in range(3):
        d = Driver("claim", "--endpoints", endpoints(cluster), "--cluster", "c1",
                   "--profile", "alpha", "--node", f"n{round_}", "--ttl", "3",
                   "--seconds", "3", "--release")
        drivers.append(d)
        epochs.append(d.wait_for("owned", 20)["epoch"])
        events = d.drain(timeout=30)
        released = [e for e in events if e["event"] == "released"]
        assert released and released[0]["ok"], events
        # Every member dies at once (no clean shutdown) and comes back on its data.
        for m in cluster.members:
            cluster.kill_member(m)
        for m in cluster.members:
            cluster.start_member(m)
        cluster.wait_healthy(timeout=30)
    assert epochs == sorted(epochs) and len(set(epochs)) == 3, epochs


def test_a_frozen_member_is_left_after_the_request_timeout(etcd):
    """A member that accepts connections but never answers (SIGSTOP: a hung process or a
    half-open network) costs one request timeout, then the next member is used."""
    cluster, drivers = etcd
    leader = cluster.leader()
    d = Driver("lease", "--endpoints", endpoints(cluster, first=leader),
               "--ttl", "4", "--margin-ms", "1000", "--seconds", "10")
    drivers.append(d)
    granted = d.wait_for("granted", 10)
    d.wait_for("kept", 5)
    leader.proc.send_signal(signal.SIGSTOP)
    try:
        failover = d.wait_for("failover", 5)
        assert "timeout" in failover["error"].lower() or "timed out" in failover["error"].lower(), \
            failover
        events = d.drain(timeout=30)
    finally:
        leader.proc.send_signal(signal.SIGCONT)
    assert not [e for e in events if e["event"] == "lost"], events
    assert events[-1]["event"] == "end" and events[-1]["live"]
    assert events[-1]["lease"] == granted["lease"]


def test_the_etcd_lease_actor_survives_losing_the_leader(etcd):
    """The product's etcd_lease actor over the http engine, as the node will run it."""
    cluster, drivers = etcd
    leader = cluster.leader()
    d = Driver("actor-lease", "--endpoints", endpoints(cluster, first=leader),
               "--ttl", "4", "--margin-ms", "1000", "--seconds", "10", "--release")
    drivers.append(d)
    granted = d.wait_for("granted", 10)
    time.sleep(1.5)
    cluster.kill_member(leader)
    cluster.wait_healthy(timeout=10)
    events = d.drain(timeout=30)
    assert not [e for e in events if e["event"] == "lost"], events
    statuses = [e for e in events if e["event"] == "status" and e["lease"] != 0]
    # Live from the grant to the end, never a moment without the lease.
    assert statuses and all(e["live"] and e["lease"] == granted["lease"] for e in statuses), \
        statuses
    assert [e for e in events if e["event"] == "revoked"], events
    assert time_to_live(cluster, granted["lease"]) == -1  # revoked: gone at once
    # It did have to leave the dead member (the actor logs each fail-over).
    assert any("did not serve" in line for line in d.log), d.log

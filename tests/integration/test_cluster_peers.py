"""Bad peers on the coordinator's cluster port: a node with the wrong secret,
garbage, a header announcing a huge message, a connection that never sends its
handshake, a flood of them, and nodes of another cluster protocol version (the
test-only binary announcing another app identifier). Each is refused and logged
with the peer's address and what was wrong; the log is rate-limited; a good
worker keeps its lease and its profile keeps answering.

Leases are 3 s: a bad peer no longer holds CAF's multiplexer, so nothing here
needs a long lease to survive one."""

import os
import re
import socket
import struct

import pytest

from cluster_nodes import Cluster, log_size, send_garbage, write_secret
from test_cluster import World  # noqa: F401 (the same world as the other cluster tests)

FAULTY = os.environ.get("HM_FAULTY_BINARY")
REFUSED = r"cluster: refused a connection from 127\.0\.0\.1:\d+: "


@pytest.fixture
def world(tmp_path):
    made = []

    def make(**kw):
        w = World(tmp_path, **kw)
        made.append(w)
        return w
    yield make
    for w in made:
        w.close()


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(world, sub=None, **kw):
        tmp = tmp_path / sub if sub else tmp_path
        tmp.mkdir(exist_ok=True)
        c = Cluster(tmp, world.secret, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, f"closed after {len(data)} of {n} bytes"
        data += chunk
    return data


def basp_header(operation, payload_len, flags=0, dest_actor=0):
    """A CAF 0.17 BASP header: operation, 2 padding bytes, flags, payload length,
    operation data, source and destination actor (network byte order)."""
    return struct.pack(">BBBBIQQQ", operation, 0, 0, flags, payload_len, 0, 0, dest_actor)


def test_wrong_secret_garbage_huge_and_silent_peers_are_refused_and_logged(world, cluster):
    w = world()
    c = cluster(w)
    coord = c.start_coordinator(w.empty_home)
    good = c.start_worker("w1", w.home)
    assert c.placed("alpha") == "w1"
    w.ask("alpha", "before the bad peers")

    bad_secret = write_secret(w.tmp / "wrong.secret", "not-the-cluster-secret-at-all")
    bad = c.start_worker("intruder", w.home, bad_secret)
    assert bad.proc.wait(timeout=30) != 0
    assert "refused" in bad.stderr()
    coord.wait_log(r"refused node 'intruder' .*wrong cluster secret")
    for node in (coord, good, bad):
        assert "cluster-secret-for-tests" not in node.stderr()
        assert "not-the-cluster-secret" not in node.stderr()

    # Garbage: dropped at once, and said so with the peer's address.
    mark = log_size(coord)
    send_garbage(c.port)
    coord.wait_log(REFUSED + "sent bytes that are not a cluster handshake", start=mark)

    # A client handshake announcing ~4 GB: refused before CAF allocates it.
    send_garbage(c.port, basp_header(0x01, 0xF0000000))
    coord.wait_log(REFUSED + r"announced a handshake of 4026531840 bytes \(at most 4096\)",
                   start=mark)
    assert rss_kib(coord.proc.pid) < 512 * 1024, "the coordinator allocated the announced payload"

    # A peer that completes the handshake (a made-up node id, faithful to CAF
    # 0.17.6's format) and then announces a 256 MiB message: refused too.
    with socket.create_connection(("127.0.0.1", c.port), timeout=30) as s:
        s.settimeout(30)
        server = recv_exactly(s, 32)
        (payload_len,) = struct.unpack(">I", server[4:8])
        their_node = recv_exactly(s, payload_len)[:32]
        # node id: implementation atom (8 bytes), process id (4), host id (20)
        node_id = their_node[:8] + struct.pack(">I", 4242) + os.urandom(20)
        s.sendall(basp_header(0x01, len(node_id)) + node_id)
        s.sendall(basp_header(0x02, 256 * 1024 * 1024, dest_actor=1))  # a direct message
        try:
            while s.recv(4096):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
    coord.wait_log(REFUSED + r"announced a message of 268435456 bytes \(at most 67108864\)",
                   start=mark)

    # A connection that never says anything is closed after half a lease.
    with socket.create_connection(("127.0.0.1", c.port), timeout=30) as s:
        s.settimeout(30)
        while s.recv(4096):  # our handshake, then the close
            pass
    coord.wait_log(REFUSED + r"sent no handshake within 1\.5 s", start=mark)

    # A flood: every connection is dropped; the log keeps to its rate limit.
    flood = 60
    mark = log_size(coord)
    for _ in range(flood):
        send_garbage(c.port)
    coord.wait_log(r"more refused connections (were )?not logged", start=mark, timeout=30)
    logged = len(re.findall(REFUSED, coord.stderr()[mark:]))
    assert 0 < logged < flood, logged

    # Nothing else is affected: w1 keeps its lease and alpha answers.
    assert coord.proc.poll() is None and good.proc.poll() is None
    w.ask("alpha", "after the bad peers")
    assert c.holder("alpha") == "w1"
    assert "lease ran out" not in good.stderr()
    assert "lost the coordinator" not in good.stderr()


@pytest.mark.skipif(not FAULTY, reason="needs hermes-matrix-faulty (HM_FAULTY_BINARY)")
def test_a_node_of_another_protocol_version_is_refused_both_ways(world, cluster):
    old_version = {"HM_FAULT_CLUSTER_APP_ID": "hermes-matrix-cluster-1"}
    w = world()
    c = cluster(w)
    coord = c.start_coordinator(w.empty_home)
    c.start_worker("w1", w.home)
    assert c.placed("alpha") == "w1"
    w.ask("alpha", "before the old node")

    # An old worker joins the new coordinator: its middleman refuses ours.
    old = c.start_worker("old", w.empty_home, binary=FAULTY, env=old_version)
    assert old.proc.wait(timeout=30) == 1
    assert re.search(r"node old: the coordinator at 127\.0\.0\.1:\d+ speaks another cluster "
                     r"protocol version", old.stderr()), old.stderr()
    coord.wait_log(REFUSED + r"hung up right after the handshake, before any message: another "
                             r"cluster protocol version")
    assert "node old joined" not in coord.stderr()

    # A new worker joining an old coordinator: refused the same way, by its own middleman.
    oc = cluster(w, sub="old-cluster")
    oc.start_coordinator(w.empty_home, binary=FAULTY, env=old_version)
    new = oc.start_worker("new", w.empty_home)
    assert new.proc.wait(timeout=30) == 1
    assert "speaks another cluster protocol version" in new.stderr()

    # The cluster keeps serving.
    assert coord.proc.poll() is None
    w.ask("alpha", "after the old node")
    assert c.holder("alpha") == "w1"
    assert "lease ran out" not in c.nodes["w1"].stderr()

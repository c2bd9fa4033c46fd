"""The cluster on loopback: a coordinator and workers as separate processes,
the dev homeserver, the agent double and a human on matrix-nio. Which node
serves a profile is read from the coordinator's and the workers' logs; exactly
once is read from the homeserver's list of every event of the room.

Leases are short (3 s) so that the tests take seconds; nothing asserts a timing
(bench/failover.py measures the failover time)."""

import signal

import pytest

from cluster_nodes import Cluster, log_size, send_garbage, write_secret
from harness import (AgentDouble, Devhs, Human, bot_settings, replies_to, wait_until,
                     write_profile)

PROFILES = ("alpha", "beta", "gamma")


class World:
    """One homeserver, one agent double, doru, three bot profiles in one shared
    HERMES_HOME (pins per test), and an empty home for a coordinator that serves
    nothing itself."""

    def __init__(self, tmp, pins=None):
        pins = pins or {}
        self.tmp = tmp
        self.hs = Devhs(tmp / "devhs")
        self.agent = AgentDouble()
        self.doru = Human(self.hs, "doru", "Doru")
        self.bots = {p: self.hs.register(f"bot-{p}", f"Bot {p}") for p in PROFILES}
        self.home = tmp / "shared-home"
        (self.home / "profiles").mkdir(parents=True)
        (self.home / ".env").write_text("# the default profile is not on Matrix here\n")
        for p, bot in self.bots.items():
            extra = {"MATRIX_DEVICE_ID": f"BOT_BOT-{p.upper()}"}
            if p in pins:
                extra["HERMES_MATRIX_NODE"] = pins[p]
            write_profile(self.home, p, bot_settings(self.hs, self.agent, bot,
                                                     [self.doru.user_id], **extra))
        self.empty_home = tmp / "empty-home"
        self.empty_home.mkdir()
        self.secret = write_secret(tmp / "cluster.secret")
        self.rooms = {}

    def dm(self, profile):
        if profile not in self.rooms:
            room = self.doru.create_room(invite=[self.bots[profile]], is_direct=True)
            self.doru.wait_joined(room, self.bots[profile])
            self.rooms[profile] = room
        return self.rooms[profile]

    def ask(self, profile, text, timeout=60):
        """Sends a DM and waits for the bot's answer; returns the message's event id."""
        room = self.dm(profile)
        event_id = self.doru.send(room, text)
        self.doru.wait_reply(room, event_id, self.bots[profile], timeout=timeout)
        return event_id

    def answered_once(self, profile, event_ids):
        events = self.hs.events(self.rooms[profile])
        counts = {e: len(replies_to(events, e, self.bots[profile].user_id)) for e in event_ids}
        assert all(c == 1 for c in counts.values()), counts

    def close(self):
        self.doru.close()
        self.agent.stop()
        self.hs.stop()


@pytest.fixture
def world(tmp_path):
    worlds = []

    def make(**kw):
        w = World(tmp_path, **kw)
        worlds.append(w)
        return w
    yield make
    for w in worlds:
        w.close()


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(world, **kw):
        c = Cluster(tmp_path, world.secret, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()


def test_placement_by_pin_and_by_balance(world, cluster):
    """alpha is pinned to w2; beta and gamma go where the load is least (the
    coordinator serves nothing itself): w1 gets at least one of them."""
    w = world(pins={"alpha": "w2"})
    c = cluster(w)
    c.start_coordinator(w.empty_home)
    w1 = c.start_worker("w1", w.home)
    w2 = c.start_worker("w2", w.home)
    assert c.placed("alpha") == "w2"
    w2.wait_log(r"node w2 serves profile alpha \(lease epoch \d+\)")
    # Balance: w2 holds alpha, so the first free profile goes to w1, and the
    # third to whichever has less (w1 and w2 then hold two and one, or it moves).
    holders = {p: c.placed(p) for p in ("beta", "gamma")}
    assert set(holders.values()) <= {"w1", "w2"}
    assert "w1" in holders.values(), holders
    for p in PROFILES:
        w.ask(p, f"hello {p}")
        node = c.holder(p)
        c.nodes[node].wait_log(rf"node {node} serves profile {p} ")
    assert "serves profile alpha" not in w1.stderr()
    # The status of the whole cluster names each profile's node (the coordinator logs it).
    for p in PROFILES:
        assert c.holder(p) in ("w1", "w2")


def test_worker_killed_mid_conversation_resumes_elsewhere_once(world, cluster):
    w = world()
    c = cluster(w)
    c.start_coordinator(w.empty_home)
    c.start_worker("w1", w.home)
    c.start_worker("w2", w.home)
    first = c.placed("alpha")
    asked = [w.ask("alpha", "before the crash")]
    # A slow reply: the worker dies while it streams.
    w.agent.script({"reply": "slow " * 30, "deltas": 30, "delay": 0.3}, model="alpha",
                   count=1)
    room = w.dm("alpha")
    mark = log_size(c.nodes["coordinator"])
    mid = w.doru.send(room, "answer slowly")
    w.doru.wait_reply(room, mid, w.bots["alpha"], timeout=30)  # the reply has begun
    c.nodes[first].signal(signal.SIGKILL)
    second = c.placed("alpha", start=mark, not_on=first)
    assert second != first
    # The interrupted turn is finished by the new node, once.
    w.doru.wait_reactions(room, mid, w.bots["alpha"], ["✅"], timeout=90)
    asked.append(mid)
    asked.append(w.ask("alpha", "after the crash"))
    c.nodes[second].wait_log(r"node \S+ serves profile alpha ")
    w.answered_once("alpha", asked)


def test_partitioned_worker_stops_and_never_answers_after_takeover(world, cluster):
    """The frozen worker (SIGSTOP): it neither renews nor answers. The real network
    partition, where the worker keeps running, is test_cluster_partition.py."""
    w = world()
    c = cluster(w)
    c.start_coordinator(w.empty_home)
    c.start_worker("w1", w.home)
    c.start_worker("w2", w.home)
    first = c.placed("alpha")
    asked = [w.ask("alpha", "before the partition")]
    frozen = c.nodes[first]
    mark = log_size(c.nodes["coordinator"])
    frozen.signal(signal.SIGSTOP)  # a partition: it neither renews nor answers
    second = c.placed("alpha", start=mark, not_on=first, timeout=60)
    room = w.dm("alpha")
    during = w.doru.send(room, "while the old node is frozen")
    frozen.signal(signal.SIGCONT)
    # Back, it finds its lease gone and stops the profile (before anything else).
    frozen.wait_log(rf"node {first} stops profile alpha: its lease ran out", timeout=30)
    w.doru.wait_reply(room, during, w.bots["alpha"], timeout=90)
    asked.append(during)
    asked.append(w.ask("alpha", "after the partition"))
    c.nodes[second].wait_log(rf"node {second} serves profile alpha ")
    w.answered_once("alpha", asked)
    # It never got alpha back.
    assert c.holder("alpha") == second


def test_local_workers_respawn(world, cluster):
    w = world()
    c = cluster(w, shared=False)
    coord = c.start_coordinator(w.home, "--workers", "3")
    for i in (1, 2, 3):
        coord.wait_log(rf"started worker process {i} \(pid \d+\)")
    holders = {p: c.placed(p) for p in PROFILES}
    assert sorted(holders.values()) == ["worker-1", "worker-2", "worker-3"], holders
    for p in PROFILES:
        w.ask(p, f"hello {p}")
    victim = holders["beta"]
    index = victim.split("-")[1]
    pid = int(coord.wait_log(rf"started worker process {index} \(pid (\d+)\)").group(1))
    mark = log_size(coord)
    import os
    os.kill(pid, signal.SIGKILL)
    coord.wait_log(rf"worker process {index} \(pid {pid}\) killed by .*starting it again",
                   start=mark)
    coord.wait_log(rf"node {victim} joined", start=mark)
    w.ask("beta", "after the worker crash", timeout=90)
    w.ask("alpha", "still here")


def status_table(c, secret_file):
    """`hermes-matrix status` against the cluster: (exit code, rows by profile, output)."""
    import subprocess
    from harness import BINARY
    out = subprocess.run([BINARY, "status", "--cluster-join", f"127.0.0.1:{c.port}",
                          "--cluster-secret-file", str(secret_file)],
                         capture_output=True, text=True, timeout=60)
    rows = {}
    for line in out.stdout.splitlines()[1:]:
        cols = line.split()
        if cols:
            rows[cols[0]] = cols
    return out.returncode, rows, out.stdout + out.stderr


def test_status_of_the_whole_cluster_names_each_node(world, cluster):
    w = world(pins={"gamma": "elsewhere"})
    c = cluster(w)
    c.start_coordinator(w.empty_home)
    c.start_worker("w1", w.home)
    c.start_worker("w2", w.home)
    for p in ("alpha", "beta"):
        c.placed(p)
        w.ask(p, f"hello {p}")
    # Nodes report their profiles' state with each renewal: it shows up shortly.
    seen = {}

    def all_running():
        seen["last"] = status_table(c, w.secret)
        rc, rows, _ = seen["last"]
        return rc == 0 and all(p in rows and rows[p][2] == "running" for p in ("alpha", "beta"))
    wait_until(all_running, 30, lambda: "alpha and beta running in:\n" + seen["last"][2])
    rc, rows, text = seen["last"]
    for p in ("alpha", "beta"):
        assert rows[p][1] == c.holder(p), text
        assert rows[p][2] == "running", text
        assert rows[p][3] == w.bots[p].user_id, text
    # gamma is pinned to a node that never joined: it waits, and says for what.
    assert rows["gamma"][2] == "waiting", text
    assert "waiting for node elsewhere" in text
    # The status needs the secret too.
    wrong = write_secret(w.tmp / "wrong.secret", "not-the-cluster-secret-at-all")
    rc, rows, text = status_table(c, wrong)
    assert rc == 1 and "wrong cluster secret" in text and not rows, text


def make_certificates(d):
    """A CA and one certificate for every node (CN 127.0.0.1), with the openssl CLI."""
    import subprocess

    def ssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hm test CA",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(d / "node.key"), "-out", str(d / "node.csr"))
    ssl("x509", "-req", "-in", str(d / "node.csr"), "-CA", str(d / "ca.pem"), "-CAkey",
        str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-out", str(d / "node.pem"))
    (d / "node.key").chmod(0o600)
    return ["--cluster-cert", str(d / "node.pem"), "--cluster-key", str(d / "node.key"),
            "--cluster-ca", str(d / "ca.pem")]


def test_tls_cluster_serves_and_refuses_plaintext(world, cluster):
    w = world()
    tls = make_certificates(w.tmp)
    c = cluster(w)
    coord = c.start_coordinator(w.empty_home, *tls)
    assert "(TLS)" in coord.stderr()
    c.start_worker("w1", w.home, None, *tls)
    assert c.placed("alpha") == "w1"
    w.ask("alpha", "over TLS")
    # Garbage fails the TLS handshake at once.
    send_garbage(c.port)
    w.ask("alpha", "after garbage over TLS")
    assert "lease ran out" not in c.nodes["w1"].stderr()
    # A node without TLS cannot join a TLS cluster.
    plain = c.start_worker("plain", w.empty_home)
    plain.wait_log(r"node plain: (cannot reach|joining failed)", timeout=30)
    assert "node plain joined" not in coord.stderr()


def test_move_a_profile_to_another_node(world, cluster):
    w = world()
    c = cluster(w)
    coord = c.start_coordinator(w.empty_home)
    c.start_worker("w1", w.home)
    c.start_worker("w2", w.home)
    first = c.placed("alpha")
    target = "w2" if first == "w1" else "w1"
    asked = [w.ask("alpha", "before the move")]
    mark = log_size(coord)
    out = run_move(c, w, "alpha", target)
    assert out.returncode == 0 and f"moving alpha to node {target}" in out.stdout, out
    assert c.placed("alpha", start=mark, not_on=first) == target
    c.nodes[first].wait_log(rf"node {first} stops profile alpha: drained for a move")
    asked.append(w.ask("alpha", "after the move"))
    c.nodes[target].wait_log(rf"node {target} serves profile alpha ")
    w.answered_once("alpha", asked)
    # A node that is not there: refused with the reason, nothing moves.
    out = run_move(c, w, "alpha", "nowhere")
    assert out.returncode == 1 and "node nowhere is not in the cluster" in out.stderr, out
    assert c.holder("alpha") == target


def run_move(c, w, profile, node):
    """`hermes-matrix move PROFILE NODE` against the cluster."""
    import subprocess
    from harness import BINARY
    return subprocess.run([BINARY, "move", profile, node, "--cluster-join",
                           f"127.0.0.1:{c.port}", "--cluster-secret-file", str(w.secret)],
                          capture_output=True, text=True, timeout=60)


def separate_home(w, name, profile, **extra):
    """A HERMES_HOME of its own holding only `profile`'s .env (a copy of the
    world's, plus `extra` settings): each node keeps its own store there."""
    home = w.tmp / f"home-{name}"
    pdir = home / "profiles" / profile
    pdir.mkdir(parents=True)
    (home / ".env").write_text("# the default profile is not on Matrix here\n")
    env = (w.home / "profiles" / profile / ".env").read_text()
    env += "".join(f"{k}={v}\n" for k, v in extra.items())
    (pdir / ".env").write_text(env)
    (pdir / ".env").chmod(0o600)
    return home


def two_nodes_of_their_own(w, cluster, **extra):
    """A coordinator serving nothing and workers w1 and w2, each with a HERMES_HOME
    of its own holding alpha (no shared storage); alpha placed and answering.
    Returns (cluster, coordinator, homes, the node serving alpha, the other one,
    [the event id of the answered message])."""
    homes = {n: separate_home(w, n, "alpha", **extra) for n in ("w1", "w2")}
    c = cluster(w, shared=False)
    coord = c.start_coordinator(w.empty_home)
    for n in ("w1", "w2"):
        c.start_worker(n, homes[n])
    first = c.placed("alpha")
    target = "w2" if first == "w1" else "w1"
    c.nodes[first].wait_log(rf"node {first} serves profile alpha ")
    return c, coord, homes, first, target, [w.ask("alpha", "before the move")]


def store_dir(home, profile):
    return home / "profiles" / profile / "platforms" / "matrix"


def crypto_identity(db_path):
    """The device and identity keys in a store (what must survive a move)."""
    import sqlite3
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT user_id, device_id, curve25519, ed25519 FROM crypto_account"
                           ).fetchone()
    finally:
        con.close()


def test_move_drains_the_reply_in_flight_first(world, cluster):
    """A slow streamed reply is running when `move` comes: the old node lets it
    finish (✅) before it stops the profile; a message sent during the drain
    waits in the journal and is answered once, by the new node."""
    w = world()
    c = cluster(w)
    coord = c.start_coordinator(w.empty_home)
    c.start_worker("w1", w.home)
    c.start_worker("w2", w.home)
    first = c.placed("alpha")
    target = "w2" if first == "w1" else "w1"
    old = c.nodes[first]
    asked = [w.ask("alpha", "before the move")]
    w.agent.script({"reply": "slow " * 30, "deltas": 30, "delay": 0.3}, model="alpha",
                   count=1)
    room = w.dm("alpha")
    mid = w.doru.send(room, "answer slowly")
    w.doru.wait_reply(room, mid, w.bots["alpha"], timeout=30)  # the reply has begun
    mark = log_size(coord)
    out = run_move(c, w, "alpha", target)
    assert out.returncode == 0 and f"moving alpha to node {target}" in out.stdout, out
    old.wait_log(rf"node {first} drains profile alpha")
    during = w.doru.send(room, "sent during the drain")
    w.doru.wait_reactions(room, mid, w.bots["alpha"], ["✅"], timeout=60)
    assert c.placed("alpha", start=mark, not_on=first) == target
    w.doru.wait_reply(room, during, w.bots["alpha"], timeout=60)
    asked += [mid, during, w.ask("alpha", "after the move")]
    w.answered_once("alpha", asked)
    # The drain finished (the reply done) before the old node stopped the profile,
    # and the slow turn reached the agent once: it was not resumed on the new node.
    log = old.stderr()
    drained = log.index(f"node {first} drained profile alpha: in-flight replies finished")
    stopped = log.index(f"node {first} stops profile alpha: drained for a move")
    assert drained < stopped
    slow = [r for r in w.agent.requests() if "answer slowly" in str(r)]
    assert len(slow) == 1, slow


def test_move_without_shared_storage_carries_the_store(world, cluster):
    """Two workers with their own HERMES_HOME (both have alpha's .env, only the
    source has its store): `move` carries the store over the actor link, the
    profile answers from the target as the same device with the same keys, and
    the source's copy is set aside, not deleted."""
    w = world()
    c, coord, homes, first, target, asked = two_nodes_of_their_own(
        w, cluster, MATRIX_E2EE_MODE="optional")
    # doru on a second device, with encryption: Olm and Megolm sessions with the bot.
    import asyncio
    from e2ee_support import Human as CryptoHuman, megolm_session_ids
    from harness import PASSWORD
    loop = asyncio.new_event_loop()

    def run(coro):
        return loop.run_until_complete(asyncio.wait_for(coro, 90))
    bot_id = w.bots["alpha"].user_id
    me = CryptoHuman(w.hs.url, w.tmp / "nio", user=w.doru.user_id[1:].split(":")[0],
                     password=PASSWORD)
    run(me.login("doru-e2ee"))
    secret_room = run(me.encrypted_room([bot_id]))
    run(me.send(secret_room, "a secret before the move"))
    bodies, undecrypted = run(me.read(secret_room, bot_id, 1))
    assert bodies and not undecrypted, (bodies, undecrypted)
    sessions_before = set(megolm_session_ids(w.hs.url, secret_room, bot_id))
    source_db = store_dir(homes[first], "alpha") / "hermes-matrix.db"
    wait_until(lambda: crypto_identity(source_db), 30, "the bot's device keys in its store")
    before = crypto_identity(source_db)
    assert not store_dir(homes[target], "alpha").exists()
    mark = log_size(coord)
    out = run_move(c, w, "alpha", target)
    assert out.returncode == 0 and f"moving alpha to node {target}" in out.stdout, out
    assert c.placed("alpha", start=mark, not_on=first) == target
    coord.wait_log(rf"carrying its store from node {first} to node {target}", start=mark)
    c.nodes[target].wait_log(rf"node {target} received the store of profile alpha "
                             r"\(\d+ file\(s\), \d+ bytes, verified\)")
    c.nodes[first].wait_log(rf"node {first} carried the store of profile alpha to node {target}")
    c.nodes[target].wait_log(rf"node {target} serves profile alpha ")
    asked.append(w.ask("alpha", "after the move"))
    w.answered_once("alpha", asked)
    # The encrypted room goes on: the target decrypts with the carried Megolm
    # session and answers with the carried outbound one, which doru can read.
    run(me.send(secret_room, "a secret after the move"))
    bodies, undecrypted = run(me.read(secret_room, bot_id, 1))
    assert bodies and not undecrypted, (bodies, undecrypted)
    assert megolm_session_ids(w.hs.url, secret_room, bot_id)[-1] in sessions_before
    run(me.close())
    loop.close()
    # The same device with the same keys: the target runs the carried store
    # (a fresh one would have made a new account and keys).
    target_store = store_dir(homes[target], "alpha")
    assert crypto_identity(target_store / "hermes-matrix.db") == before
    assert (target_store / "hermes-matrix.pickle-key").exists()
    assert (target_store / "hermes-matrix.pickle-key").stat().st_mode & 0o777 == 0o600
    # The source's copy is set aside, whole, and never runs again there.
    assert not store_dir(homes[first], "alpha").exists()
    aside = list((homes[first] / "profiles" / "alpha" / "platforms").glob(
        f"matrix.moved-to-{target}-*"))
    assert len(aside) == 1, aside
    assert crypto_identity(aside[0] / "hermes-matrix.db") == before
    # A node that is not there is refused, and nothing moves.
    out = run_move(c, w, "alpha", "nowhere")
    assert out.returncode == 1 and "node nowhere is not in the cluster" in out.stderr, out


def test_move_to_a_node_that_stops_answering_leaves_the_profile_on_its_source(world, cluster):
    """The target freezes as the move starts: the carry cannot finish, the
    coordinator gives it up once the target's lease is gone, and the profile
    runs again on its source, from its own store (never nowhere, never twice)."""
    w = world()
    c, coord, homes, first, target, asked = two_nodes_of_their_own(w, cluster)
    mark = log_size(coord)
    c.nodes[target].signal(signal.SIGSTOP)
    out = run_move(c, w, "alpha", target)
    assert out.returncode == 0, out
    coord.wait_log(rf"profile alpha: carrying its store to node {target} failed \(node {target} "
                   rf"is gone\); it stays with node {first}", start=mark, timeout=60)
    assert c.placed("alpha", start=mark) == first
    asked.append(w.ask("alpha", "after the failed move", timeout=60))
    w.answered_once("alpha", asked)
    assert store_dir(homes[first], "alpha").exists()
    assert not list((homes[first] / "profiles" / "alpha" / "platforms").glob("matrix.moved-to-*"))
    # Back, the target never runs alpha: its store stayed on the source.
    c.nodes[target].signal(signal.SIGCONT)
    asked.append(w.ask("alpha", "with the target back"))
    w.answered_once("alpha", asked)
    assert f"node {target} serves profile alpha" not in c.nodes[target].stderr()
    assert c.holder("alpha") == first


def test_a_new_coordinator_places_a_profile_where_its_store_is(world, cluster):
    """Without shared storage, a coordinator that never saw the cluster before (a
    fresh cluster of nodes that ran alone, or a restarted coordinator) places a
    profile on the node that has its store, though another node joined first and
    offers it too: the bot keeps its device and keys instead of starting afresh."""
    w = world()
    homes = {n: separate_home(w, n, "alpha", MATRIX_E2EE_MODE="optional") for n in ("w1", "w2")}
    (w.tmp / "earlier").mkdir()
    earlier = Cluster(w.tmp / "earlier", w.secret, shared=False)
    try:
        earlier.start_coordinator(w.empty_home)
        earlier.start_worker("w2", homes["w2"])
        assert earlier.placed("alpha") == "w2"
        asked = [w.ask("alpha", "in the earlier life")]
        db = store_dir(homes["w2"], "alpha") / "hermes-matrix.db"
        wait_until(lambda: crypto_identity(db), 30, "the bot's device keys in its store")
        identity = crypto_identity(db)
    finally:
        earlier.stop()

    c = cluster(w, shared=False)
    coord = c.start_coordinator(w.empty_home)
    # Both join within the coordinator's first seconds (before it places
    # anything); by load alone w1 would win the tie (nodes are taken by name).
    w1 = c.start_worker("w1", homes["w1"])
    c.start_worker("w2", homes["w2"])
    assert c.placed("alpha") == "w2"
    coord.wait_log(r"node w1 joined")
    asked.append(w.ask("alpha", "after the new coordinator"))
    w.answered_once("alpha", asked)
    assert crypto_identity(db) == identity
    assert not store_dir(homes["w1"], "alpha").exists()
    assert "serves profile alpha" not in w1.stderr()


def test_carry_refused_when_the_nodes_share_a_home_without_shared_storage(world, cluster):
    """Two nodes on one HERMES_HOME, run without --shared-storage: the target sees
    the sender's own store, refuses the carry, and the profile stays on its
    source with its store where it was."""
    w = world()
    c = cluster(w, shared=False)
    coord = c.start_coordinator(w.empty_home)
    c.start_worker("w1", w.home)
    c.start_worker("w2", w.home)
    first = c.placed("alpha")
    target = "w2" if first == "w1" else "w1"
    c.nodes[first].wait_log(rf"node {first} serves profile alpha ")
    asked = [w.ask("alpha", "before the move")]
    mark = log_size(coord)
    out = run_move(c, w, "alpha", target)
    assert out.returncode == 0, out
    coord.wait_log(rf"profile alpha: carrying its store to node {target} failed \(.*sees the "
                   r"sender's store itself .*--shared-storage\); it stays with node " + first,
                   start=mark)
    assert c.placed("alpha", start=mark) == first
    asked.append(w.ask("alpha", "after the refused move"))
    w.answered_once("alpha", asked)
    assert store_dir(w.home, "alpha").exists()
    assert not list((w.home / "profiles" / "alpha" / "platforms").glob("matrix.*"))

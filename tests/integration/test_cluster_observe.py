"""The whole cluster seen from the coordinator: its admin API (/v1/status with every
profile's node and the nodes, /readyz, notifications forwarded to the node holding
the profile, `hermes-matrix status` against it) and its /metrics (every node's
series with their `node` label, and the cluster families), scraped by Debian's real
Prometheus.

One coordinator that serves nothing itself and two workers; alpha is pinned to w1,
beta to w2, gamma to a node that never joins (so it waits). Leases are short (3 s)."""

import json
import re
import signal
import subprocess

import pytest

from cluster_nodes import Cluster
from harness import BINARY, http, profile_dir, record_secrets, wait_until
from test_cluster import World
from test_metrics import Prometheus

PINS = {"alpha": "w1", "beta": "w2", "gamma": "elsewhere"}


@pytest.fixture
def observed(tmp_path):
    w = World(tmp_path, pins=PINS)
    c = Cluster(tmp_path, w.secret)
    prom = None
    try:
        # alpha's home room exists before it starts: the bot joins it on its first sync.
        room = w.doru.create_room(invite=[w.bots["alpha"]], is_direct=True)
        with open(profile_dir(w.home, "alpha") / ".env", "a") as env:
            env.write(f"MATRIX_HOME_ROOM={room}\n")
        w.rooms["alpha"] = room
        token_file = tmp_path / "admin.token"
        record_secrets(["observe-admin-token-0123456789"])
        token_file.write_text("observe-admin-token-0123456789\n")
        token_file.chmod(0o600)
        coord = c.start_coordinator(w.empty_home, "--admin-listen", "127.0.0.1:0",
                                    "--admin-token-file", str(token_file),
                                    "--metrics-listen", "127.0.0.1:0")
        admin = coord.wait_log(r"admin API listening on (http://\S+)").group(1)
        metrics_port = int(coord.wait_log(r"metrics on http://[^ ]*:(\d+)/metrics").group(1))
        for name in ("w1", "w2"):
            c.start_worker(name, w.home, None, "--metrics-listen", "127.0.0.1:0")
        assert c.placed("alpha") == "w1" and c.placed("beta") == "w2"
        w.doru.wait_joined(room, w.bots["alpha"])
        prom = Prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
        yield w, c, admin, token_file, prom
    finally:
        if prom:
            prom.stop()
        c.stop()
        w.close()


def cluster_status(admin, token):
    status, body = http("GET", f"{admin}/v1/status", token=token)
    assert status == 200, body
    return {p["profile"]: p for p in body["profiles"]}, {n["name"]: n for n in body["nodes"]}


def test_the_coordinator_shows_and_reaches_the_whole_cluster(observed):
    w, c, admin, token_file, prom = observed
    token = token_file.read_text().strip()
    for p in ("alpha", "beta"):
        w.ask(p, f"hello {p}")

    # -- /v1/status: every profile with its node, and the nodes.
    assert http("GET", f"{admin}/healthz") == (200, {"status": "alive"})
    assert http("GET", f"{admin}/v1/status")[0] == 401
    seen = {}

    def both_running():
        seen["last"] = cluster_status(admin, token)
        profiles, _ = seen["last"]
        return all(profiles.get(p, {}).get("state") == "running" and profiles[p]["synced"]
                   for p in ("alpha", "beta"))
    wait_until(both_running, 30, lambda: f"alpha and beta running: {seen.get('last')}")
    profiles, nodes = seen["last"]
    for p, node in (("alpha", "w1"), ("beta", "w2")):
        assert profiles[p]["node"] == node, profiles[p]
        assert profiles[p]["user_id"] == w.bots[p].user_id, profiles[p]
        assert profiles[p]["device_id"] == f"BOT_BOT-{p.upper()}", profiles[p]
    assert profiles["gamma"]["state"] == "waiting"
    assert "waiting for node elsewhere" in profiles["gamma"]["last_error"]
    assert nodes["w1"]["alive"] and nodes["w2"]["alive"], nodes
    assert nodes["w1"]["profiles"] == 1 and nodes["w2"]["profiles"] == 1, nodes
    # The coordinator is a node too (its home is empty: it holds nothing).
    assert nodes["coordinator"]["alive"] and nodes["coordinator"]["profiles"] == 0, nodes
    # Ready means every profile served: gamma waits, and readyz names it.
    status, body = http("GET", f"{admin}/readyz")
    assert status == 503 and [p["profile"] for p in body["not_ready"]] == ["gamma"], body

    # -- `hermes-matrix status` reads the coordinator's admin API like a node's.
    out = subprocess.run([BINARY, "status", "--admin-url", admin, "--admin-token-file",
                          str(token_file)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.strip()}
    assert rows["PROFILE"][1] == "NODE", out.stdout
    assert rows["alpha"][1:3] == ["w1", "running"] and rows["beta"][1:3] == ["w2", "running"]
    assert rows["w1"][1] == "yes" and rows["w2"][1] == "yes", out.stdout

    # -- A notification through the coordinator, sent by the node holding alpha.
    status, body = http("POST", f"{admin}/v1/profiles/alpha/notify",
                        {"body": "cluster notice"}, token=token)
    assert status == 202 and body["profile"] == "alpha" and body["txn_id"], body
    room = w.rooms["alpha"]
    w.doru.wait_for(room, lambda evs: any(
        e.get("sender") == w.bots["alpha"].user_id
        and e.get("content", {}).get("body") == "cluster notice" for e in evs), 30,
        "the notification in alpha's home room")
    # Queued by the cell on w1, the node holding alpha's lease.
    c.nodes["w1"].wait_log(r"\[alpha\] notification for \S+ queued \(" + re.escape(body["txn_id"]))
    assert "serves profile alpha" not in c.nodes["w2"].stderr()
    status, body = http("POST", f"{admin}/v1/profiles/gamma/notify", {"body": "x"}, token=token)
    assert status == 503 and "not running on any node" in body["error"], body
    assert "waiting for node elsewhere" in body["error"], body
    status, body = http("POST", f"{admin}/v1/profiles/nobody/notify", {"body": "x"}, token=token)
    assert status == 404, body
    # A verification action goes the same way: to alpha's cell on w1, which has no
    # encryption to verify; its list is alpha's status as w1 reports it.
    status, body = http("POST", f"{admin}/v1/profiles/alpha/verifications/nope",
                        {"action": "confirm"}, token=token)
    assert status == 409 and "MATRIX_E2EE_MODE=off" in body["error"], body
    status, body = http("GET", f"{admin}/v1/profiles/alpha/verifications", token=token)
    assert status == 200 and body == {"profile": "alpha", "verifications": []}, body

    # -- /metrics: both workers' profiles with their node, and the cluster families.
    def scraped(expr, want):
        return wait_until(lambda: prom.value(expr) == want, 30,
                          lambda: f"{expr} == {want} in Prometheus; it has "
                          + json.dumps(prom.query('{__name__=~"hermes_matrix_(profile_up|'
                                                  'cluster_.*)"}'))[:3000])
    scraped('hermes_matrix_profile_up{profile="alpha",node="w1"}', 1)
    scraped('hermes_matrix_profile_up{profile="beta",node="w2"}', 1)
    scraped("hermes_matrix_cluster_nodes_alive", 3)  # the coordinator's own node, w1, w2
    assert prom.value('hermes_matrix_messages_answered_total{profile="alpha",node="w1"}') >= 1
    assert prom.value('hermes_matrix_cluster_leases{node="w1"}') == 1
    assert prom.value('hermes_matrix_cluster_node_scrape_ok{node="w2"}') == 1
    # Each profile's series come from its node only: nothing doubled.
    assert len(prom.query('hermes_matrix_profile_up{profile="alpha"}')) == 1
    # No label value is a secret, a room id or a user id.
    series = prom.query('{job="hermes-matrix"}')
    values = {v for labels, _ in series for k, v in labels.items() if k != "__name__"}
    for bot in w.bots.values():
        assert not any(bot.token in v or bot.user_id in v for v in values)
    assert not any(v.startswith(("!", "@", "$")) for v in values), sorted(values)
    assert not any("cluster-secret" in v or "observe-admin-token" in v for v in values)

    # -- A worker killed: the coordinator's metrics and status say so.
    c.nodes["w2"].signal(signal.SIGKILL)
    scraped("hermes_matrix_cluster_nodes_alive", 2)
    scraped('hermes_matrix_cluster_node_up{node="w2"}', 0)
    scraped("hermes_matrix_cluster_nodes_lost_total", 1)  # counted at the coordinator's next tick
    scraped("hermes_matrix_cluster_failovers_total", 1)  # beta's lease taken back
    profiles, nodes = cluster_status(admin, token)
    assert not nodes["w2"]["alive"] and nodes["w1"]["alive"], nodes
    assert profiles["beta"]["state"] == "waiting", profiles["beta"]
    assert re.search(r"waiting for node w2", profiles["beta"]["last_error"]), profiles["beta"]
    status, body = http("POST", f"{admin}/v1/profiles/beta/notify", {"body": "x"}, token=token)
    assert status == 503, body
    # alpha still answers, its series still come from w1.
    w.ask("alpha", "after w2 is gone")
    scraped('hermes_matrix_profile_up{profile="alpha",node="w1"}', 1)
    # The coordinator stops cleanly after serving scrapes (the exposer's threads end
    # before its actor system, which waits for them).
    assert c.nodes["coordinator"].stop() == 0, c.nodes["coordinator"].stderr()[-3000:]

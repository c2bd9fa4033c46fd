"""A real network partition between one worker and the coordinator, while that
worker still reaches the homeserver and the agent: the split-brain case.

CTest runs this file in a private network namespace (netns_run.sh). The
coordinator listens on every address of that namespace; the victim joins it
through 127.0.0.2 and the other worker through 127.0.0.1, so an nft rule on
127.0.0.2 and the cluster port cuts exactly the victim's link (its reconnects
included) and nothing else. The rules live and die with the namespace: the
host's network is never touched. Without a namespace or nft the test skips.

What must hold: the victim stops its profile by itself once its lease runs
out and answers nothing once the other worker holds it; every message is
answered exactly once (the homeserver's event list); after the partition heals
the victim rejoins and nothing is answered twice."""

import os
import re
import shutil
import subprocess
from datetime import datetime

import pytest

from cluster_nodes import Cluster, log_size, write_secret
from harness import AgentDouble, Devhs, Human, bot_settings, replies_to, write_profile

def in_private_netns():
    """Set by netns_run.sh, and really a fresh network namespace (loopback is
    its only interface): the nft rules below must never reach a host's network."""
    try:
        with open("/proc/self/net/dev") as f:
            interfaces = {line.split(":")[0].strip() for line in f.readlines()[2:]}
    except OSError:
        return False
    return os.environ.get("HM_NETNS") == "1" and interfaces == {"lo"}


pytestmark = [
    pytest.mark.skipif(not in_private_netns(),
                       reason="needs a private network namespace (run through netns_run.sh "
                              "as root: unshare -n)"),
    pytest.mark.skipif(shutil.which("nft") is None,
                       reason="needs nft (Debian package nftables)"),
]

TABLE = "hm_partition"


def nft(*args):
    subprocess.run(["nft", *args], check=True, capture_output=True, timeout=10)


def cut(address, port):
    """Drops every TCP packet to or from address:port (both directions of the
    victim's link, on loopback where each packet passes the output hook)."""
    nft("add", "table", "inet", TABLE)
    nft("add", "chain", "inet", TABLE, "out",
        "{ type filter hook output priority 0; policy accept; }")
    nft("add", "rule", "inet", TABLE, "out", "ip", "daddr", address, "tcp", "dport", str(port),
        "drop")
    nft("add", "rule", "inet", TABLE, "out", "ip", "saddr", address, "tcp", "sport", str(port),
        "drop")


def heal():
    nft("delete", "table", "inet", TABLE)


def stamp(node, pattern, start=0):
    """The time on the first log line of `node` after `start` matching `pattern`."""
    m = node.wait_log(r"(\S+) \S+ \[[^\]]*\] " + pattern, start=start)
    return datetime.fromisoformat(m.group(1))


@pytest.fixture
def world(tmp_path):
    hs = Devhs(tmp_path / "devhs")
    agent = AgentDouble()
    doru = Human(hs, "doru", "Doru")
    bot = hs.register("bot-alpha", "Bot alpha")
    home = tmp_path / "shared-home"
    (home / "profiles").mkdir(parents=True)
    (home / ".env").write_text("# the default profile is not on Matrix here\n")
    write_profile(home, "alpha", bot_settings(hs, agent, bot, [doru.user_id],
                                              MATRIX_DEVICE_ID="BOT_BOT-ALPHA"))
    empty = tmp_path / "empty-home"
    empty.mkdir()
    yield {"hs": hs, "agent": agent, "doru": doru, "bot": bot, "home": home, "empty": empty,
           "secret": write_secret(tmp_path / "cluster.secret"), "tmp": tmp_path}
    doru.close()
    agent.stop()
    hs.stop()


def test_partitioned_worker_stops_before_takeover_and_never_answers_twice(world):
    try:
        nft("list", "tables")
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"nft cannot manage rules here: {e}")
    hs, doru, bot = world["hs"], world["doru"], world["bot"]
    c = Cluster(world["tmp"], world["secret"])
    try:
        coord = c.start_coordinator(world["empty"], listen="0.0.0.0")
        victim = c.start_worker("victim", world["home"], join_host="127.0.0.2")
        assert c.placed("alpha") == "victim"
        other = c.start_worker("other", world["home"])
        c.nodes["coordinator"].wait_log(r"node other joined")
        room = doru.create_room(invite=[bot], is_direct=True)
        doru.wait_joined(room, bot)
        asked = []

        def ask(text, timeout=60):
            event_id = doru.send(room, text)
            doru.wait_reply(room, event_id, bot, timeout=timeout)
            asked.append(event_id)

        ask("before the partition")
        victim.wait_log(r"node victim serves profile alpha ")

        # The partition: the victim keeps running and still reaches the
        # homeserver and the agent, but neither reaches nor hears the coordinator.
        vmark, omark, cmark = log_size(victim), log_size(other), log_size(coord)
        cut("127.0.0.2", c.port)
        during = doru.send(room, "right after the cut")
        stopped = stamp(victim, r"cluster: node victim stops profile alpha: its lease ran out",
                        start=vmark)
        assert c.placed("alpha", start=cmark, timeout=60) == "other"
        granted = stamp(other, r"cluster: node other serves profile alpha ", start=omark)
        doru.wait_reply(room, during, bot, timeout=90)
        asked.append(during)
        ask("while the victim is cut off")
        # The victim is alive, cut off, serves nothing, and answered nothing
        # once the other worker held the profile.
        assert victim.proc.poll() is None
        assert "serves profile alpha" not in victim.stderr()[vmark:]
        answered = [datetime.fromisoformat(t) for t in
                    re.findall(r"(\S+) \S+ \[alpha\] answering ", victim.stderr())]
        assert answered and all(t < granted for t in answered), (answered, stopped, granted)

        # Healed: the victim rejoins; whatever it is given, nothing is answered twice.
        hmark = log_size(coord)
        heal()
        coord.wait_log(r"node victim joined", start=hmark, timeout=60)
        ask("after the partition healed")
        ask("and once more")
        events = hs.events(room)
        counts = {e: len(replies_to(events, e, bot.user_id)) for e in asked}
        assert all(n == 1 for n in counts.values()), counts
    finally:
        try:
            heal()
        except (subprocess.CalledProcessError, OSError):
            pass
        c.stop()

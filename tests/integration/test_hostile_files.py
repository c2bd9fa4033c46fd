"""Files another local user planted before the service started (issue "Hardening"): the
other user is uid 65534 (nobody), acting through `setpriv`, in folders it could write to
while they were left open (0777) and that the owner has closed since. Each planted file
is refused with a message naming it and what to do; the other profile is served; what
the attacker planted is left as it was and never receives a byte of the conversation.

Runs as root (to act as another user); skipped otherwise.
"""

import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from conftest import BINARY
from harness import AgentDouble, Devhs, Gateway, Human, bot_settings, wait_until, write_profile

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")


def as_nobody(*cmd):
    """Runs `cmd` as uid/gid 65534 with no supplementary groups."""
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", *cmd], capture_output=True, text=True, timeout=30)


def opened_for_a_while(path):
    """Makes `path` and its parents up to the profile folder writable by everyone."""
    path.mkdir(parents=True, exist_ok=True)
    for p in (path, *path.parents):
        if p.name in ("profiles", "") or not p.exists():
            break
        p.chmod(0o777)
        if p.parent.name == "profiles":
            break


def closed_again(profile_dir):
    for p in [profile_dir, *[q for q in profile_dir.rglob("*") if q.is_dir() and not q.is_symlink()]]:
        if p.stat().st_uid == 0:
            p.chmod(0o700)


@pytest.fixture
def world():
    # Nobody must reach the folders opened for it, so the world is not under pytest's
    # temp root: that is 0700, and every pytest session that starts (ctest runs two at a
    # time) closes it again, which made a planting step fail with "Permission denied".
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="hm-hostile-files-"))
    tmp_path.chmod(0o755)
    hs = Devhs(tmp_path / "devhs")
    agent = AgentDouble()
    doru = Human(hs, "doru", "Doru")
    good, victim = hs.register("hm-good"), hs.register("hm-victim")
    home = tmp_path / "home"
    for name, bot in (("good", good), ("victim", victim)):
        write_profile(home, name, bot_settings(hs, agent, bot, [doru]))
    (home / ".env").write_text("# the default profile is not on Matrix here\n")
    attacker = tmp_path / "attacker"
    attacker.mkdir()
    os.chown(attacker, NOBODY, NOBODY)
    attacker.chmod(0o755)

    class W:
        pass
    w = W()
    w.hs, w.agent, w.doru, w.good, w.victim, w.home = hs, agent, doru, good, victim, home
    w.attacker, w.tmp = attacker, tmp_path
    w.victim_dir = home / "profiles" / "victim"
    w.gateway = None

    def run():
        w.gateway = Gateway(home, tmp_path / "gateway.stderr", hs, [good])
        w.gateway.start()
        room = doru.create_room(invite=[good], is_direct=True)
        doru.wait_joined(room, good)
        source = doru.send(room, "still here?")
        doru.wait_reply(room, source, good)  # the other profile is served
        return w.gateway
    w.run = run
    yield w
    if w.gateway:
        w.gateway.stop()
    doru.close()
    agent.stop()
    hs.stop()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_store_another_user_planted_is_refused_and_left_alone(world):
    store_dir = world.victim_dir / "platforms" / "matrix"
    opened_for_a_while(store_dir)
    planted = store_dir / "hermes-matrix.db"
    res = as_nobody("sh", "-c", f"umask 0; : > '{planted}'")
    assert res.returncode == 0, res.stderr
    closed_again(world.victim_dir)
    gateway = world.run()
    wait_until(lambda: "belongs to another user (uid 65534)" in gateway.stderr(), 30,
               "the refusal of the planted store")
    text = gateway.stderr()
    assert str(planted) in text and "move it away" in text, text[-2000:]
    assert planted.stat().st_size == 0 and planted.stat().st_uid == NOBODY
    assert oct(planted.stat().st_mode & 0o777) == oct(0o666)  # not ours to change
    # The profile that is served keeps a store nobody else can read.
    good_store = world.home / "profiles" / "good" / "platforms" / "matrix" / "hermes-matrix.db"
    res = as_nobody("cat", str(good_store))
    assert res.returncode != 0 and "Permission denied" in res.stderr, res.stderr


def test_a_dangling_link_in_place_of_the_store_is_not_followed(world):
    store_dir = world.victim_dir / "platforms" / "matrix"
    opened_for_a_while(store_dir)
    target = world.attacker / "stolen.db"
    res = as_nobody("ln", "-s", str(target), str(store_dir / "hermes-matrix.db"))
    assert res.returncode == 0, res.stderr
    closed_again(world.victim_dir)
    gateway = world.run()
    wait_until(lambda: "is a symbolic link" in gateway.stderr(), 30,
               "the refusal of the linked store")
    assert not target.exists(), "the store was created where the planted link points"


def test_a_planted_logs_link_does_not_make_the_service_write_elsewhere(world):
    opened_for_a_while(world.victim_dir)
    res = as_nobody("sh", "-c", f"ln -s '{world.attacker}' '{world.victim_dir / 'logs'}'")
    assert res.returncode == 0, res.stderr
    closed_again(world.victim_dir)
    gateway = world.run()
    wait_until(lambda: "logging to stderr only" in gateway.stderr(), 30,
               "the refusal of the planted logs folder")
    assert "not writing " + str(world.victim_dir / "logs" / "gateway.log") in gateway.stderr()
    assert list(world.attacker.iterdir()) == [], "the service wrote into the attacker's folder"


def test_an_admin_token_file_others_may_read_or_too_short_is_refused(world, tmp_path):
    token = tmp_path / "token"
    for text, mode, why in (("a-long-enough-token-1234567890", 0o666, "other users"),
                            ("abcd", 0o600, "too short")):
        token.write_text(text + "\n")
        token.chmod(mode)
        res = subprocess.run([BINARY, "run", "--hermes-home", str(world.home),
                              "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                              "--admin-token-file", str(token)],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 1 and str(token) in res.stderr and why in res.stderr, res.stderr
        assert text not in res.stderr

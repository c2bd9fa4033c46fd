"""Isolation: ten profiles in one gateway, one of them the victim of a fault. While the
fault lasts the nine others answer every message exactly once; once it clears, the
victim answers what it was sent during the fault (once) and what comes after, by
itself, with no restart of the gateway. Faults that cannot clear by themselves (a
revoked token, a broken store, a full disk) stop the victim with a clear message and
leave the others alone.

Runs `hermes-matrix-faulty` (the binary with the test-only fault switch; CTest sets
HM_BINARY). HM_FAULT_STORM_S shortens the 429 storm (default 15 s; the issue's
minute is `HM_FAULT_STORM_S=60`)."""

import os
import shutil
import subprocess
import time

import pytest

from fleet import Fleet

N = 10
FAULT_S = float(os.environ.get("HM_FAULT_S", "6"))
STORM_S = float(os.environ.get("HM_FAULT_STORM_S", "15"))
# A silent agent backend is given up after this long (HERMES_MATRIX_AGENT_SILENCE).
AGENT_SILENCE_S = 5


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("faults"), N, prefix="iso",
              extra=lambda i: {"HERMES_MATRIX_AGENT_SILENCE": str(AGENT_SILENCE_S)})
    yield f
    f.close()


def others(fleet, *victims):
    return [b for b in fleet.bots if b not in victims]


def during_fault(fleet, victim, seconds, label):
    """The victim is sent a message; the others get rounds of messages for `seconds`
    (at least one round), each answered exactly once. Returns the victim's message."""
    source = fleet.send(fleet.dm(victim), f"{label}: to the victim during the fault")
    deadline = time.monotonic() + seconds
    rounds = 0
    while rounds == 0 or time.monotonic() < deadline:
        fleet.round(others(fleet, victim), f"{label} round {rounds}")
        rounds += 1
    return source


def recovers(fleet, victim, during, label):
    """After the fault: the message sent during it and a new one are answered once each,
    and everyone else still answers."""
    after = fleet.send(fleet.dm(victim), f"{label}: to the victim after the fault")
    fleet.wait_answered([(victim, fleet.dm(victim), during), (victim, fleet.dm(victim), after)],
                        timeout=120)
    fleet.round(fleet.bots, f"{label} all")


# -- the homeserver fails for the victim only ------------------------------------------

HS_MODES = ["500", "garbage", "truncated", "huge", "stall"]


@pytest.mark.parametrize("mode", HS_MODES)
def test_homeserver_failing_for_one_profile_hurts_only_it(fleet, mode):
    victim = fleet.bots[HS_MODES.index(mode) + 1]
    rule = dict(user_id=victim.user_id, kind="fail", mode=mode, duration_s=FAULT_S)
    if mode == "stall":
        rule["stall_s"] = 3 * FAULT_S  # each request waits this long, then goes through
    fleet.hs.fault(**rule)
    during = during_fault(fleet, victim, FAULT_S, f"hs {mode}")
    fleet.hs.clear_faults()
    recovers(fleet, victim, during, f"hs {mode}")


def test_rate_limit_storm_on_every_request_of_one_profile(fleet):
    victim = fleet.bots[6]
    fleet.hs.fault(user_id=victim.user_id, kind="ratelimit", retry_after_ms=2000,
                   duration_s=STORM_S)
    during = during_fault(fleet, victim, STORM_S, "429 storm")
    fleet.hs.clear_faults()
    recovers(fleet, victim, during, "429 storm")
    assert "retrying in" in fleet.gateway.stderr()


# -- the victim's agent backend fails -----------------------------------------------------

AGENT_FAULTS = {
    "refuses": {"status": 503},
    "times_out": {"hang": True},
    "streams_garbage": {"raw_body": "\x00<html>not an event stream\ndata: {broken\n\n"},
}


@pytest.mark.parametrize("fault", list(AGENT_FAULTS))
def test_agent_backend_failing_for_one_profile_hurts_only_it(fleet, fault):
    victim = fleet.bots[7]
    model = fleet.names[fleet.bots.index(victim)]
    fleet.agent.script(AGENT_FAULTS[fault], model=model)
    try:
        seconds = AGENT_SILENCE_S + 2 if fault == "times_out" else FAULT_S
        during = during_fault(fleet, victim, seconds, f"agent {fault}")
        # The victim's message is answered once, with a short error.
        fleet.wait_answered([(victim, fleet.dm(victim), during)], timeout=60)
        reply = fleet.replies(fleet.dm(victim), during, victim)[0]
        from harness import shown_text
        text = shown_text(fleet.hs.events(fleet.dm(victim)), reply)
        assert text.startswith("⚠️"), text
    finally:
        fleet.agent.clear_scripts()
    after = fleet.send(fleet.dm(victim), f"agent {fault}: after the fault")
    fleet.wait_answered([(victim, fleet.dm(victim), after)])
    fleet.round(fleet.bots, f"agent {fault} all")


# -- an exception or a failed check inside the victim's actors --------------------------


@pytest.mark.parametrize("word", ["throw", "assert"])
def test_crash_inside_one_profile_restarts_only_it_and_loses_nothing(fleet, word):
    victim = fleet.bots[8 if word == "throw" else 9]
    armed = fleet.profile_dir(victim) / "hermes-matrix.fault"
    armed.write_text(word + "\n")
    during = during_fault(fleet, victim, FAULT_S, f"switch {word}")
    # The message that set off the fault was admitted before the crash: the restarted
    # cell resumes it from the journal and answers it once.
    recovers(fleet, victim, during, f"switch {word}")
    assert not armed.exists(), "the fault switch was never reached"
    assert "injected fault" in fleet.gateway.stderr()
    assert "restarting in" in fleet.gateway.stderr()


# -- faults that stop the victim (a fleet of their own) ----------------------------------


@pytest.fixture(scope="module")
def doomed(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("doomed"), 6, prefix="doom")
    f.stopped = []
    yield f
    f.close()


def stopped_with(fleet, victim, words, since, timeout=60):
    """Waits until the gateway's output after offset `since` says the victim stopped,
    in a line holding each of `words`; then the others answer a round."""
    tag = f"[{fleet.names[fleet.bots.index(victim)]}]"
    from harness import wait_until

    def said():
        lines = [line for line in fleet.gateway.stderr()[since:].splitlines() if tag in line]
        return [line for line in lines if all(w in line for w in words)]
    wait_until(said, timeout, lambda: f"{tag} to stop saying {words}")
    fleet.stopped.append(victim)
    fleet.round(others(fleet, *fleet.stopped), f"after {tag} stopped")
    assert fleet.gateway.running()


def test_revoked_token_stops_only_that_profile(doomed):
    victim = doomed.bots[0]
    from harness import ok
    since = len(doomed.gateway.stderr())
    ok("POST", f"{doomed.hs.url}/_devhs/revoke", {"user_id": victim.user_id})
    stopped_with(doomed, victim, ["stopped:", "rejected MATRIX_ACCESS_TOKEN"], since)


def test_store_deleted_while_running_is_noticed(doomed):
    victim = doomed.bots[1]
    store = doomed.profile_dir(victim) / "platforms" / "matrix" / "hermes-matrix.db"
    since = len(doomed.gateway.stderr())
    store.unlink()
    doomed.send(doomed.dm(victim), "after the store was deleted")
    stopped_with(doomed, victim, ["cannot write the store", "was deleted while this profile ran"],
                 since)


def test_store_corrupted_while_running_stops_that_profile(doomed):
    victim = doomed.bots[2]
    store = doomed.profile_dir(victim) / "platforms" / "matrix" / "hermes-matrix.db"
    since = len(doomed.gateway.stderr())
    with open(store, "r+b") as f:
        f.write(b"\xde\xad\xbe\xef" * 4096)
    for wal in store.parent.glob("hermes-matrix.db-*"):
        with open(wal, "r+b") as f:
            f.write(b"\xde\xad\xbe\xef" * 1024)
    doomed.send(doomed.dm(victim), "after the store was corrupted")
    stopped_with(doomed, victim, ["cannot open the store", "is corrupt or not a database"], since)


def test_disk_full_stops_only_that_profile(doomed, tmp_path):
    victim = doomed.bots[3]
    store_dir = doomed.profile_dir(victim) / "platforms" / "matrix"
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    # A small tmpfs holds a copy of the store; the store's folder becomes a link to it.
    # Mounting needs root (CAP_SYS_ADMIN); without it the test cannot make a full disk.
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                        capture_output=True)
    if rc.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): " + rc.stderr.decode()[:200])
    try:
        doomed.gateway.stop()
        doomed.gateway.bots = others(doomed, *doomed.stopped)  # who must sync again
        shutil.copytree(store_dir, mnt / "matrix")
        shutil.rmtree(store_dir)
        store_dir.symlink_to(mnt / "matrix")
        doomed.gateway.start()
        doomed.round(others(doomed, *doomed.stopped), "before the disk fills")
        since = len(doomed.gateway.stderr())
        with open(mnt / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        for i in range(3):
            doomed.send(doomed.dm(victim), f"on a full disk {i}")
        stopped_with(doomed, victim, ["cannot write the store", "full"], since, timeout=90)
    finally:
        doomed.gateway.stop()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)

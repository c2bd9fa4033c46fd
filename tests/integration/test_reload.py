"""SIGHUP reloads the profiles without touching the unchanged ones, and
`--log-format json` writes one JSON object per line, on stderr and in each
profile's gateway.log."""

import json
import signal

import pytest

from harness import (AgentDouble, Devhs, Gateway, Human, bot_settings, profile_dir,
                     wait_until, write_profile)


@pytest.fixture
def world(tmp_path):
    hs = Devhs(tmp_path / "devhs")
    agent = AgentDouble()
    doru = Human(hs, "doru", "Doru")
    yield hs, agent, doru, tmp_path
    doru.close()
    agent.stop()
    hs.stop()


def starts_of(home, name):
    """How often the profile's cell was started, from its own gateway.log."""
    log = profile_dir(home, name) / "logs" / "gateway.log"
    return log.read_text().count("starting profile cell") if log.exists() else 0


def converse(doru, agent, bot, room, text):
    answer = f"{bot.localpart} answers: {text}"
    agent.script({"reply": answer}, model=bot.localpart, count=1)
    source = doru.send(room, text)
    doru.wait_reply(room, source, bot, final=answer)


def test_sighup_adds_a_profile_without_restarting_the_others(world):
    hs, agent, doru, tmp = world
    home = tmp / "home"
    first = hs.register("hermes-first", "First")
    second = hs.register("hermes-second", "Second")
    (home).mkdir()
    (home / ".env").write_text("# the default profile is not on Matrix here\n")
    write_profile(home, "first", bot_settings(hs, agent, first, [doru],
                                              HERMES_MATRIX_MODEL=first.localpart))
    gateway = Gateway(home, tmp / "gateway.stderr", hs, [first])
    gateway.start()
    try:
        dm_first = doru.create_room(invite=[first], is_direct=True)
        doru.wait_joined(dm_first, first)
        converse(doru, agent, first, dm_first, "before the reload")
        assert starts_of(home, "first") == 1

        write_profile(home, "second", bot_settings(hs, agent, second, [doru],
                                                   HERMES_MATRIX_MODEL=second.localpart))
        syncs = hs.sync_count(second.user_id)
        gateway.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: hs.sync_count(second.user_id) >= syncs + 2, 60,
                   lambda: "the added profile's first sync\n" + gateway.stderr())
        dm_second = doru.create_room(invite=[second], is_direct=True)
        doru.wait_joined(dm_second, second)
        converse(doru, agent, second, dm_second, "hello, new profile")

        # The first profile was never restarted and still answers.
        converse(doru, agent, first, dm_first, "after the reload")
        assert starts_of(home, "first") == 1
        assert starts_of(home, "second") == 1
        assert "reload done: added second;" in gateway.stderr()
        assert "unchanged first" in gateway.stderr()
    finally:
        gateway.stop()


def test_json_logs_are_one_object_per_line(world):
    hs, agent, doru, tmp = world
    home = tmp / "home"
    bot = hs.register("hermes-json", "Json")
    (home).mkdir()
    (home / ".env").write_text("# not on Matrix\n")
    write_profile(home, "jsonbot", bot_settings(hs, agent, bot, [doru]))
    gateway = Gateway(home, tmp / "gateway.stderr", hs, [bot], args=["--log-format", "json"])
    gateway.start()
    gateway.stop()
    lines = [l for l in gateway.stderr().splitlines() if l and not l.startswith("=====")]
    assert lines
    records = [json.loads(l) for l in lines]  # every line is one JSON object
    for r in records:
        assert list(r) == ["time", "level", "profile", "message"], r
        assert r["time"].endswith("Z") and "T" in r["time"]
    assert any(r["profile"] == "jsonbot" and r["message"].startswith("running as @hermes-json")
               for r in records)
    assert any(r["profile"] is None and r["message"] == "stopped" for r in records)
    own = (profile_dir(home, "jsonbot") / "logs" / "gateway.log").read_text().splitlines()
    assert own and all(json.loads(l)["profile"] == "jsonbot" for l in own)
    assert bot.token not in gateway.stderr()

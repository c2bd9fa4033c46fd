"""Turns as runs of Hermes' runs API (the agent double as Hermes 0.18.x with runs, kind
"hermes-runs"), with matrix-nio as the person: the reply streams as before, a dangerous
command asks for approval in the conversation and is answered by a reaction or a typed
command of the person who asked (a stranger's answer is ignored, no answer times out),
a pending approval survives a restart of the gateway, /stop stops the run on the
server, and a gateway killed mid-run answers the turn once from the run's status
without running the agent again.
"""

import signal
import time

import pytest

from harness import (AgentDouble, Devhs, Gateway, Human, bot_settings, edits_of,
                     reactions_to, replies_to, shown_text, wait_until, write_profile)

COMMAND = "rm -rf /tmp/hm-build"


class World:
    def __init__(self, tmp):
        self.tmp = tmp
        self.hs = Devhs(tmp / "devhs")
        self.agent = AgentDouble("--runs")
        self.bot = self.hs.register("hm-runner", "Hermes Runner")
        # Another profile whose prompts wait long enough to outlive a restart.
        self.patient = self.hs.register("hm-patient", "Hermes Patient")
        self.doru = Human(self.hs, "doru", "Doru")
        self.eve = Human(self.hs, "eve", "Eve")
        self.dm = self.doru.create_room(invite=[self.bot], is_direct=True)
        self.group = self.doru.create_room(invite=[self.bot, self.eve], name="ops")
        self.patient_dm = self.doru.create_room(invite=[self.patient], is_direct=True)
        self.home = tmp / "hermes-home"
        write_profile(self.home, "runner", bot_settings(
            self.hs, self.agent, self.bot, [self.doru, self.eve],
            MATRIX_APPROVAL_TIMEOUT_SECONDS="4", MATRIX_REQUIRE_MENTION="false"))
        write_profile(self.home, "patient", bot_settings(
            self.hs, self.agent, self.patient, [self.doru], MATRIX_APPROVAL_TIMEOUT_SECONDS="600"))
        (self.home / ".env").write_text("# the default profile is not on Matrix here\n")
        self.gateway = Gateway(self.home, tmp / "gateway.stderr", self.hs,
                               [self.bot, self.patient], args=["--log-level", "debug"])
        self.gateway.start()
        self.doru.wait_joined(self.dm, self.bot)
        self.doru.wait_joined(self.group, self.bot)
        self.doru.wait_joined(self.patient_dm, self.patient)
        self.eve._run(self.eve.client.join(self.group))

    def run_of(self, text):
        """The double's record of the run whose input is `text` (exactly one)."""
        runs = [r for r in self.agent.runs() if r["input"] == text]
        assert len(runs) == 1, f"{len(runs)} runs for {text!r}: {runs}"
        return runs[0]

    def prompt_in(self, human, room, source, bot=None):
        """The bot's approval prompt for the message `source`, once it has its reactions."""
        bot = bot or self.bot

        def found(evs):
            prompts = [e for e in evs if e.get("sender") == bot.user_id
                       and e.get("type") == "m.room.message"
                       and "needs your approval" in e["content"].get("body", "")
                       and not e["content"].get("m.new_content")
                       and e["content"].get("m.relates_to", {}).get("m.in_reply_to", {})
                       .get("event_id") == source]
            if not prompts:
                return None
            p = prompts[-1]
            keys = set(reactions_to(evs, p["event_id"], bot.user_id))
            return p if {"✅", "🌀", "♾️", "❌"} <= keys else None
        return human.wait_for(room, found, 60, "the approval prompt with its reactions")

    def close(self):
        try:
            self.gateway.stop()
        finally:
            self.doru.close()
            self.eve.close()
            self.agent.stop()
            self.hs.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("runs"))
    yield w
    w.close()


@pytest.fixture(autouse=True)
def fresh_scripts(world):
    world.agent.clear_scripts()
    yield


def answers(human, room, source, bot):
    """The bot's replies to `source` that are not approval prompts."""
    return [e for e in replies_to(human.events(room), source, bot.user_id)
            if "needs your approval" not in e["content"].get("body", "")]


def final_reply(human, room, source, bot, text=None):
    """The text the bot's answer to `source` shows once its ✅ or ❌ is there (and, with
    `text`, once it shows that)."""
    def done(evs):
        found = answers(human, room, source, bot)
        if not found or not {"✅", "❌"} & set(reactions_to(evs, source, bot.user_id)):
            return None
        shown = shown_text(evs, found[0])
        return shown if text is None or shown == text else None
    return human.wait_for(room, done, 60, f"{bot.user_id}'s answer to {source}")


def test_a_run_streams_its_reply_with_tool_lines_and_carries_the_history(world):
    world.agent.script({"tool_progress": True, "deltas": 4}, count=1)
    first = world.doru.send(world.dm, "first question")
    assert final_reply(world.doru, world.dm, first, world.bot) == "echo: first question"
    run = world.run_of("first question")
    assert run["status"] == "completed"
    assert "You are the Hermes profile" in run["instructions"]
    second = world.doru.send(world.dm, "second question")
    final_reply(world.doru, world.dm, second, world.bot, "echo: second question")
    history = world.run_of("second question")["conversation_history"]
    assert [m["content"] for m in history] == ["first question", "echo: first question"]


def test_an_approval_answered_by_a_reaction(world):
    world.agent.script({"approval": {"command": COMMAND, "description": "recursive delete"}},
                       count=1)
    source = world.doru.send(world.dm, "clean the build")
    prompt = world.prompt_in(world.doru, world.dm, source)
    assert COMMAND in prompt["content"]["body"] and "recursive delete" in prompt["content"]["body"]
    world.doru.react(world.dm, prompt["event_id"], "✅")
    assert final_reply(world.doru, world.dm, source, world.bot) == "echo: clean the build"
    assert world.run_of("clean the build")["approvals"] == ["once"]
    world.doru.wait_for(world.dm, lambda evs: any(
        "Approved once by " + world.doru.user_id in e["content"]["m.new_content"]["body"]
        for e in edits_of(evs, prompt["event_id"])), 30, "the prompt to show the answer")


def test_typed_answers_approve_for_the_session_and_deny(world):
    world.agent.script({"approval": {"command": COMMAND}}, count=2)
    source = world.doru.send(world.dm, "approve by typing")
    world.prompt_in(world.doru, world.dm, source)
    world.doru.send(world.dm, "/approve session")
    final_reply(world.doru, world.dm, source, world.bot, "echo: approve by typing")
    assert world.run_of("approve by typing")["approvals"] == ["session"]
    source = world.doru.send(world.dm, "deny by typing")
    world.prompt_in(world.doru, world.dm, source)
    world.doru.send(world.dm, "!deny")
    text = final_reply(world.doru, world.dm, source, world.bot)
    assert text.startswith("BLOCKED: the user denied"), text
    assert world.run_of("deny by typing")["approvals"] == ["deny"]


def test_only_the_person_who_asked_answers(world):
    world.agent.script({"approval": {"command": COMMAND}}, count=1)
    source = world.doru.send(world.group, "in the group")
    prompt = world.prompt_in(world.doru, world.group, source)
    world.eve.react(world.group, prompt["event_id"], "✅")
    world.eve.send(world.group, "/approve always")
    world.doru.react(world.group, prompt["event_id"], "❌")
    text = final_reply(world.doru, world.group, source, world.bot)
    assert text.startswith("BLOCKED"), text
    # Eve's reaction and command came first and changed nothing.
    assert world.run_of("in the group")["approvals"] == ["deny"]


def test_no_answer_in_time_is_a_no(world):
    # The server waits longer than the prompt (4 s), so the prompt's timeout is what shows.
    world.agent.script({"approval": {"command": COMMAND, "timeout": 8}}, count=1)
    source = world.doru.send(world.dm, "nobody answers")
    prompt = world.prompt_in(world.doru, world.dm, source)
    text = final_reply(world.doru, world.dm, source, world.bot)
    assert text.startswith("BLOCKED: no answer"), text
    assert world.run_of("nobody answers")["approvals"] == []
    world.doru.wait_for(world.dm, lambda evs: any(
        "No answer in time" in e["content"]["m.new_content"]["body"]
        for e in edits_of(evs, prompt["event_id"])), 30, "the prompt to show the timeout")


def test_a_pending_approval_survives_a_restart(world):
    world.agent.script({"approval": {"command": COMMAND, "timeout": 120}}, count=1)
    source = world.doru.send(world.patient_dm, "answer me after a restart")
    prompt = world.prompt_in(world.doru, world.patient_dm, source, world.patient)
    world.gateway.stop(signal.SIGKILL)
    world.gateway.start()
    world.doru.react(world.patient_dm, prompt["event_id"], "✅")
    final_reply(world.doru, world.patient_dm, source, world.patient,
                "echo: answer me after a restart")
    run = world.run_of("answer me after a restart")  # one run: not asked for again
    assert run["approvals"] == ["once"]
    replies = answers(world.doru, world.patient_dm, source, world.patient)
    assert len(replies) == 1, replies


def test_stop_stops_the_run_on_the_server(world):
    world.agent.script({"hang": True}, count=1)
    source = world.doru.send(world.dm, "never ending")
    wait_until(lambda: any(r["input"] == "never ending" and r["status"] == "running"
                           for r in world.agent.runs()), 30, "the run to start")
    world.doru.send(world.dm, "/stop")
    wait_until(lambda: world.run_of("never ending")["stopped"], 30, "the run to be stopped")
    assert world.run_of("never ending")["status"] == "cancelled"
    world.doru.wait_reactions(world.dm, source, world.bot, ["❌"])


def test_a_gateway_killed_mid_run_answers_once_without_running_the_agent_again(world):
    world.agent.script({"deltas": 20, "delay": 0.25}, count=1)
    source = world.doru.send(world.dm, "long answer")
    wait_until(lambda: any(r["input"] == "long answer" and r["event_reads"] >= 1
                           for r in world.agent.runs()), 30, "the run's events to be read")
    time.sleep(1)
    world.gateway.stop(signal.SIGKILL)
    world.gateway.start()
    final_reply(world.doru, world.dm, source, world.bot, "echo: long answer")
    assert world.run_of("long answer")["status"] == "completed"  # the one run
    replies = answers(world.doru, world.dm, source, world.bot)
    assert len(replies) == 1, replies


def test_an_answer_that_ended_just_before_a_crash_is_not_run_again(world):
    """A SIGKILL after an answer's ✅ was queued with its final text but before the
    journal heard the turn was done (the window the soak once hit: the resumed turn
    sent its final text again, after the ✅). On the next start the entry is finished
    without asking the agent again, and the bot sends nothing more."""
    import sqlite3
    source = world.doru.send(world.dm, "answered once")
    final_reply(world.doru, world.dm, source, world.bot, "echo: answered once")
    world.gateway.stop()
    # The store as that crash leaves it: the journal entry is still pending.
    store = world.home / "profiles" / "runner" / "platforms" / "matrix" / "hermes-matrix.db"
    with sqlite3.connect(store) as con:
        changed = con.execute("UPDATE journal SET outcome = NULL, finished_at = NULL "
                              "WHERE event_id = ?", (source,)).rowcount
    assert changed == 1
    sent_before = [e["event_id"] for e in world.hs.events(world.dm)
                   if e["sender"] == world.bot.user_id]
    world.gateway.start()
    wait_until(lambda: f"{source} was answered before the last stop" in world.gateway.stderr(),
               30, "the resumed entry to be recognised as answered")
    assert world.run_of("answered once")["status"] == "completed"  # still the one run
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
        outcome = con.execute("SELECT outcome FROM journal WHERE event_id = ?",
                              (source,)).fetchone()
    assert outcome == ("answered",)
    sent_after = [e["event_id"] for e in world.hs.events(world.dm)
                  if e["sender"] == world.bot.user_id]
    assert sent_after == sent_before


def test_a_busy_server_is_waited_out(world):
    world.agent.script({"status": 429}, count=1)
    source = world.doru.send(world.dm, "when you can")
    final_reply(world.doru, world.dm, source, world.bot, "echo: when you can")
    assert world.run_of("when you can")["status"] == "completed"


def test_an_approval_in_an_encrypted_room(tmp_path):
    """The prompt, its reactions and the person's answer are all ciphertext on the
    homeserver; matrix-nio decrypts the prompt, answers with an encrypted !approve (its
    plaintext reaction is not taken under `required`), and reads the answer."""
    import asyncio
    import json

    from e2ee_support import Bot, Human as CryptoHuman, hermes_and_human, room_events
    from nio import RoomMessageText
    from tests.devhs.launcher import Homeserver

    agent = AgentDouble("--runs")
    try:
        with Homeserver(str(tmp_path / "hs")) as hs:
            bot, _, home = hermes_and_human(
                hs.url, tmp_path, extra=f"GATEWAY_PROXY_URL={agent.url}\n")
            agent.script({"approval": {"command": COMMAND, "description": "recursive delete"}})
            gateway = Bot(home)
            try:
                assert gateway.wait_for(r"running as"), gateway.stderr

                async def scenario():
                    human = await CryptoHuman(hs.url, tmp_path / "nio").login()
                    try:
                        room = await human.encrypted_room([bot["user_id"]])
                        await human.send(room, "clean up please")
                        prompt = None
                        deadline = time.time() + 60
                        while prompt is None and time.time() < deadline:
                            resp = await human.sync()
                            joined = resp.rooms.join.get(room) if hasattr(resp, "rooms") else None
                            for ev in (joined.timeline.events if joined else []):
                                if (isinstance(ev, RoomMessageText) and ev.sender == bot["user_id"]
                                        and "needs your approval" in ev.body):
                                    prompt = ev
                        assert prompt is not None, "no decryptable approval prompt"
                        assert COMMAND in prompt.body
                        # matrix-nio sends reactions in clear: under `required` that
                        # answers nothing (a homeserver could forge it). The encrypted
                        # typed answer does.
                        sent = await human.client.room_send(
                            room, "m.reaction", {"m.relates_to": {
                                "rel_type": "m.annotation", "event_id": prompt.event_id,
                                "key": "❌"}}, ignore_unverified_devices=True)
                        assert hasattr(sent, "event_id"), sent
                        await human.send(room, "!approve")
                        bodies, _ = await human.read(room, bot["user_id"], 1, timeout=60,
                                                     contains="echo: clean up please")
                        assert bodies, "the answer did not come"
                        return room
                    finally:
                        await human.close()
                room = asyncio.new_event_loop().run_until_complete(
                    asyncio.wait_for(scenario(), 180))
            finally:
                gateway.stop()
            runs = agent.runs()
            assert [r["approvals"] for r in runs] == [["once"]], runs
            # Nothing of it crossed the homeserver in clear.
            raw = json.dumps(room_events(hs.url, room))
            assert COMMAND not in raw and "needs your approval" not in raw and "!approve" not in raw
            # The bot's reactions too went as m.room.encrypted.
            assert not [e for e in room_events(hs.url, room)
                        if e.get("sender") == bot["user_id"] and e.get("type") == "m.reaction"]
    finally:
        agent.stop()


def test_a_server_that_takes_idempotency_keys_gets_one_per_message(world):
    # Newer servers say so in their capabilities; the key is derived from the message,
    # so that asking again after a restart gives the same run.
    world.agent.backend("hermes-runs-idempotent")
    try:
        room = world.doru.create_room(invite=[world.bot], is_direct=True)  # a new conversation
        world.doru.wait_joined(room, world.bot)
        source = world.doru.send(room, "with a key")
        final_reply(world.doru, room, source, world.bot, "echo: with a key")
        assert world.run_of("with a key")["idempotency_key"] == "hermes-matrix:" + source
    finally:
        world.agent.backend("hermes-runs")


def test_a_newer_message_interrupts_a_pending_approval(world):
    # Hermes' busy mode: the newer message wins; the run waiting for an answer is
    # stopped on the server and its prompt says it is no longer pending.
    world.agent.script({"approval": {"command": COMMAND, "timeout": 120}}, count=1)
    first = world.doru.send(world.dm, "first thoughts")
    prompt = world.prompt_in(world.doru, world.dm, first)
    second = world.doru.send(world.dm, "actually, never mind")
    final_reply(world.doru, world.dm, second, world.bot, "echo: actually, never mind")
    wait_until(lambda: world.run_of("first thoughts")["stopped"], 30, "the first run to stop")
    assert world.run_of("first thoughts")["approvals"] == []
    world.doru.wait_for(world.dm, lambda evs: any(
        "No longer pending: the run was stopped" in e["content"]["m.new_content"]["body"]
        for e in edits_of(evs, prompt["event_id"])), 30, "the prompt to show the stop")

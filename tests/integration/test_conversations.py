"""Conversations end to end: matrix-nio plays the human, the dev homeserver routes,
the agent double answers, and `hermes-matrix run` serves the bot profiles.

Each test asserts what the human's client sees and, where exactly-once matters, the
homeserver's list of every event ever sent in the room. Tests that can share one
gateway do (the `world` fixture); restarts have a gateway of their own."""

import itertools
import signal

import pytest

from harness import (AgentDouble, Devhs, Gateway, Human, bot_settings,
                     done_after_final_text, edits_of, ok, profile_dir, reactions_to,
                     replies_to, shown_text, wait_until, write_profile)

PROXY_KEY = "sk-hm-integration-0f9e8d7c6b5a4f3e"
RESTARTS = itertools.count(1)


class World:
    """The shared setting: one homeserver, one agent double, a human (doru), a second
    allowed person (carol, who makes rooms "group" rooms by being the third member), a
    stranger, and two bot profiles served by one gateway:
      solo  @hermesbot:localhost    "Hermes Solo"
      two   @hermes-two:localhost   "Hermes Two"
    """

    def __init__(self, tmp):
        self.hs = Devhs(tmp / "devhs")
        self.agent = AgentDouble()
        self.doru = Human(self.hs, "doru", "Doru")
        self.carol = self.hs.register("carol", "Carol")
        self.stranger = Human(self.hs, "stranger", "Stranger")
        self.solo = self.hs.register("hermesbot", "Hermes Solo")
        self.two = self.hs.register("hermes-two", "Hermes Two")
        self.home = tmp / "hermes-home"
        # Before the gateway starts: a free-response room and two pending invites,
        # one from an allowed person and one from a stranger.
        self.free_room = self.group_room(self.solo)
        self.pending_allowed = self.doru.create_room(invite=[self.solo], name="pending ok")
        self.pending_stranger = self.stranger.create_room(invite=[self.solo], name="pending no")
        allowed = [self.doru.user_id, self.carol.user_id]
        write_profile(self.home, "solo", bot_settings(
            self.hs, self.agent, self.solo, allowed, GATEWAY_PROXY_KEY=PROXY_KEY,
            MATRIX_FREE_RESPONSE_ROOMS=self.free_room, MATRIX_DEVICE_ID="BOT_HERMESBOT"))
        write_profile(self.home, "two", bot_settings(
            self.hs, self.agent, self.two, allowed, GATEWAY_PROXY_KEY=PROXY_KEY,
            MATRIX_DEVICE_ID="BOT_HERMES-TWO"))
        # The default profile (the home itself) is not on Matrix.
        (self.home / ".env").write_text("# the default profile is not on Matrix here\n")
        self.gateway = Gateway(self.home, tmp / "gateway.stderr", self.hs, [self.solo, self.two])
        self.gateway.start()

    def group_room(self, *bots):
        """A room of doru, carol and the bots (three or more members: not a DM)."""
        room = self.doru.create_room(invite=[self.carol, *bots], name="group")
        ok("POST", f"{self.hs.url}/_matrix/client/v3/join/{room}", {}, token=self.carol.token)
        return room

    def dm(self, bot):
        room = self.doru.create_room(invite=[bot], is_direct=True)
        self.doru.wait_joined(room, bot)
        return room

    def close(self):
        try:
            self.gateway.stop()
        finally:
            self.doru.close()
            self.stranger.close()
            self.agent.stop()
            self.hs.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("conversations"))
    yield w
    w.close()


@pytest.fixture(autouse=True)
def clean_scripts(request):
    yield
    if "world" in request.fixturenames:
        w = request.getfixturevalue("world")
        w.agent.clear_scripts()
        w.hs.clear_faults()


def the_reply(world, room, source, bot, final=None):
    """The one reply of `bot` to `source`, once its shown text is `final` (when given),
    checked against the homeserver's list: exactly one reply message."""
    reply = world.doru.wait_reply(room, source, bot, final=final)
    server = replies_to(world.hs.events(room), source, bot.user_id)
    assert len(server) == 1, f"{len(server)} replies to one message on the homeserver"
    return reply


def not_answered(world, room, source, bot, sentinel_text):
    """Asserts that `bot` did not answer `source`: a later message that it does answer
    is sent and answered first (the bot acts on a room's events in order)."""
    sentinel = world.doru.send(room, sentinel_text)
    world.doru.wait_reply(room, sentinel, bot)
    assert not replies_to(world.hs.events(room), source, bot.user_id)
    assert not replies_to(world.doru.events(room), source, bot.user_id)


# -- the test client ----------------------------------------------------------------


def test_the_client_sees_every_event_of_a_burst_larger_than_a_sync_carries(world):
    # A sync carries at most 10 events of a room (Synapse's default); the test client
    # pages back over the rest as Element does. Without that, a reply in the middle of
    # a burst was missing from what the tests saw (issue 13).
    room = world.doru.create_room(name="burst")
    world.doru.wait_for(room, lambda evs: evs, 30, "the room")
    bodies = [f"burst {i}" for i in range(25)]
    for body in bodies:  # no sync in between
        world.doru.send(room, body)

    def texts(evs):
        got = [e["content"].get("body") for e in evs if e.get("type") == "m.room.message"]
        return got if got[-1:] == bodies[-1:] else None
    assert world.doru.wait_for(room, texts, 30, "the last message") == bodies


# -- DMs and invites ----------------------------------------------------------------


def test_dm_hello_gets_one_reply_with_reactions_and_the_agents_text(world):
    room = world.dm(world.solo)
    source = world.doru.send(room, "hello")
    reply = the_reply(world, room, source, world.solo, final="echo: hello")
    content = reply["content"]
    assert content["m.relates_to"]["m.in_reply_to"]["event_id"] == source
    assert "m.mentions" in content
    assert world.solo.user_id not in content["m.mentions"].get("user_ids", [])
    world.doru.wait_reactions(room, source, world.solo, ["👀", "✅"])
    assert "❌" not in reactions_to(world.hs.events(room), source)
    # The agent got the message with the profile's model and a session id.
    req = [r for r in world.agent.requests()
           if r["body"]["messages"][-1]["content"] == "hello"]
    assert len(req) == 1
    assert req[0]["body"]["model"] == "solo" and req[0]["session_id"].startswith("solo-")


def test_invite_from_an_allowed_user_is_joined(world):
    # Pending before the gateway started, and while it runs.
    world.doru.wait_joined(world.pending_allowed, world.solo)
    room = world.doru.create_room(invite=[world.solo], name="later")
    world.doru.wait_joined(room, world.solo)


def test_invite_whose_join_fails_for_a_while_is_joined_later(world):
    """The homeserver fails the bot's first two joins (500): the invite is not
    given up, the join is tried again after a delay and succeeds."""
    world.hs.fault(user_id=world.solo.user_id, kind="fail", mode="500", count=2,
                   path_contains="/join/")
    room = world.doru.create_room(invite=[world.solo], name="joined on the third try")
    world.doru.wait_joined(room, world.solo, timeout=60)
    assert world.hs.requests(world.solo.user_id).get("POST /join/{roomIdOrAlias}", 0) >= 3
    assert f"cannot join {room} yet (M_UNKNOWN" in world.gateway.stderr()


def membership_of(hs, room, user_id):
    states = [e["content"].get("membership") for e in hs.events(room)
              if e["type"] == "m.room.member" and e.get("state_key") == user_id]
    return states[-1] if states else None


def test_invite_from_a_stranger_is_declined(world):
    room = world.stranger.create_room(invite=[world.solo], name="stranger's room")
    wait_until(lambda: membership_of(world.hs, room, world.solo.user_id) == "leave", 60,
               "the bot to decline the stranger's invite")
    events = world.hs.events(room)
    assert not any(e["type"] == "m.room.member" and e.get("state_key") == world.solo.user_id
                   and e["content"].get("membership") == "join" for e in events)


def test_invite_from_a_stranger_pending_before_start_is_declined(world):
    wait_until(lambda: membership_of(world.hs, world.pending_stranger, world.solo.user_id)
               == "leave", 60, "the bot to decline the pending stranger's invite")
    assert not any(e["type"] == "m.room.member" and e.get("state_key") == world.solo.user_id
                   and e["content"].get("membership") == "join"
                   for e in world.hs.events(world.pending_stranger))


# -- group rooms: mentions, free response, threads ----------------------------------


@pytest.fixture(scope="module")
def group(world):
    room = world.group_room(world.solo)
    world.doru.wait_joined(room, world.solo)
    return room


def test_group_message_without_mention_is_not_answered(world, group):
    source = world.doru.send(group, "just chatting with carol here")
    not_answered(world, group, source, world.solo, "Hermes Solo: are you there?")


@pytest.mark.parametrize("how", ["display_name", "full_mxid", "m_mentions", "pill"])
def test_group_message_with_a_mention_is_answered(world, group, how):
    bot = world.solo
    kwargs = {}
    if how == "display_name":
        body, text = "Hermes Solo: what is up", "what is up"
    elif how == "full_mxid":
        body, text = f"{bot.user_id} what is the time", "what is the time"
    elif how == "m_mentions":
        body, text = "could you have a look", "could you have a look"
        kwargs["mentions"] = [bot]
    else:
        body, text = "Robo: what about pills", "Robo: what about pills"
        kwargs["formatted_body"] = (f'<a href="https://matrix.to/#/{bot.user_id}">Robo</a>: '
                                    "what about pills")
    source = world.doru.send(group, body, **kwargs)
    reply = the_reply(world, group, source, bot, final="echo: " + text)
    # In a group room the person answered is mentioned.
    assert world.doru.user_id in reply["content"]["m.mentions"]["user_ids"]


def test_free_response_room_answers_without_mention(world):
    world.doru.wait_joined(world.free_room, world.solo)
    source = world.doru.send(world.free_room, "no mention needed in here")
    the_reply(world, world.free_room, source, world.solo, final="echo: no mention needed in here")


def test_auto_thread_reply_is_in_a_thread_and_followups_need_no_mention(world, group):
    source = world.doru.send(group, "Hermes Solo: start a thread")
    reply = the_reply(world, group, source, world.solo, final="echo: start a thread")
    rel = reply["content"]["m.relates_to"]
    assert rel["rel_type"] == "m.thread" and rel["event_id"] == source
    followup = world.doru.send(group, "and a follow-up without a name", thread_root=source)
    second = the_reply(world, group, followup, world.solo,
                       final="echo: and a follow-up without a name")
    rel = second["content"]["m.relates_to"]
    assert rel["rel_type"] == "m.thread" and rel["event_id"] == source
    # The bot remembers the thread across a restart: still no mention needed.
    world.gateway.stop()
    world.gateway.start()
    after = world.doru.send(group, "a follow-up after a restart", thread_root=source)
    third = the_reply(world, group, after, world.solo, final="echo: a follow-up after a restart")
    assert third["content"]["m.relates_to"]["event_id"] == source


# -- streaming ----------------------------------------------------------------------


def test_streamed_reply_is_one_message_grown_by_spaced_edits(world):
    room = world.dm(world.solo)
    text = " ".join(f"word{i:02d}" for i in range(60))
    world.agent.script({"reply": text, "deltas": 30, "delay": 0.2}, model="solo", count=1)
    source = world.doru.send(room, "tell me a long story")
    reply = the_reply(world, room, source, world.solo, final=text)
    world.doru.wait_reactions(room, source, world.solo, ["✅"])
    events = world.hs.events(room)
    edits = edits_of(events, reply["event_id"])
    assert len(edits) >= 2, f"only {len(edits)} edits for a six-second stream"
    assert all(e["sender"] == world.solo.user_id for e in edits)
    stamps = [e["origin_server_ts"] for e in edits]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(g >= 1000 for g in gaps), f"edits closer than 1 s apart: gaps {gaps} ms"
    assert edits[-1]["content"]["m.new_content"]["body"] == text
    assert edits[-1]["content"]["body"] == "* " + text
    # Only the first message is a reply; the rest of the stream went out as edits.
    assert len([e for e in events if e["type"] == "m.room.message"
                and e["sender"] == world.solo.user_id]) == 1 + len(edits)


# -- the agent backend --------------------------------------------------------------


def requests_for(world, texts):
    """The agent double's records of the requests that asked about `texts`."""
    return [r for r in world.agent.requests()
            if r["body"]["messages"][-1]["content"] in texts]


def test_a_hermes_backend_gets_the_persona_once_and_no_history(world):
    # Hermes' server keeps the conversation and already has SOUL.md: a second system
    # prompt would put the persona in twice (issue 14).
    room = world.dm(world.solo)
    for text in ("who are you?", "and again?"):
        the_reply(world, room, world.doru.send(room, text), world.solo, final=f"echo: {text}")
    for r in requests_for(world, ("who are you?", "and again?")):
        messages = r["body"]["messages"]
        assert [m["role"] for m in messages] == ["system", "user"], messages
        assert "profile of the test harness" not in messages[0]["content"]  # no SOUL.md
        assert r["session_id"]


def test_a_plain_backend_gets_soul_and_the_history(world):
    world.agent.backend("plain")
    try:
        room = world.dm(world.two)
        for text in ("first plain", "second plain"):
            the_reply(world, room, world.doru.send(room, text), world.two,
                      final=f"echo: {text}")
        second = requests_for(world, ("second plain",))[0]["body"]["messages"]
        assert second[0]["role"] == "system"
        assert "You are the two profile of the test harness." in second[0]["content"]
        assert [(m["role"], m["content"]) for m in second[1:]] == [
            ("user", "first plain"), ("assistant", "echo: first plain"),
            ("user", "second plain")]
    finally:
        world.agent.backend("hermes")


def test_tool_calls_show_labelled_lines_and_the_reply_no_leading_blank_lines(world):
    room = world.dm(world.solo)
    # As Hermes sends them: running with emoji and label, completed with neither, then
    # the text starting with "\n\n"; the text comes late enough for a tool line to show.
    world.agent.script({"tool_progress": True, "first_token_delay": 2.0}, model="solo", count=1)
    source = world.doru.send(room, "run a tool")
    reply = the_reply(world, room, source, world.solo, final="echo: run a tool")
    assert reply["content"]["body"] in ("💻 echo fake-tool-ran…", "💻 echo fake-tool-ran ✓")
    events = world.hs.events(room)
    shown = [reply["content"]["body"]] + [e["content"]["m.new_content"]["body"]
                                          for e in edits_of(events, reply["event_id"])]
    assert all(not text.startswith(("\n", " ")) for text in shown), shown
    assert not any(text.strip() in ("🔧 terminal…", "💻 terminal…") for text in shown), shown


def test_a_busy_agent_backend_is_waited_out(world):
    # Hermes answers 429 "Too many concurrent runs" with Retry-After: 1 past its limit.
    room = world.dm(world.solo)
    world.agent.script({"status": 429}, model="solo", count=2)
    source = world.doru.send(room, "while it is busy")
    the_reply(world, room, source, world.solo, final="echo: while it is busy")
    world.doru.wait_reactions(room, source, world.solo, ["✅"])
    assert "❌" not in reactions_to(world.hs.events(room), source, world.solo.user_id)
    assert len(requests_for(world, ("while it is busy",))) == 3
    assert "the agent backend is busy (HTTP 429)" in world.gateway.stderr()


# -- commands -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dm(world):
    return world.dm(world.solo)


def command_reply(world, room, command):
    source = world.doru.send(room, command)
    reply = the_reply(world, room, source, world.solo)
    return reply["content"]["body"]


def test_help_lists_the_commands(world, dm):
    text = command_reply(world, dm, "/help")
    for cmd in ("/help", "/status", "/new", "/stop", "/sethome", "/profile", "/whoami", "/retry"):
        assert cmd in text


def test_status_names_profile_and_model(world, dm):
    text = command_reply(world, dm, "/status")
    assert "Profile: solo" in text and "Model: solo" in text and "Uptime" in text


@pytest.mark.parametrize("command", ["/new", "!new", "/reset"])
def test_new_starts_a_new_conversation(world, dm, command):
    before = {r["session_id"] for r in world.agent.requests()}
    assert "new conversation" in command_reply(world, dm, command).lower()
    # The next turn runs under an agent session id not used before.
    source = world.doru.send(dm, f"after {command}")
    the_reply(world, dm, source, world.solo, final=f"echo: after {command}")
    req = [r for r in world.agent.requests()
           if r["body"]["messages"][-1]["content"] == f"after {command}"]
    assert len(req) == 1 and req[0]["session_id"] not in before


def test_stop_ends_a_slow_stream(world, dm):
    world.agent.script({"reply": "slow " * 40, "deltas": 40, "delay": 0.5},
                       model="solo", count=1)
    source = world.doru.send(dm, "a slow answer please")
    world.doru.wait_reply(dm, source, world.solo)  # the stream has begun
    assert command_reply(world, dm, "/stop") == "Stopped."
    reply = world.doru.wait_reply(dm, source, world.solo)
    shown = world.doru.wait_for(dm, lambda evs: "(stopped)" in shown_text(evs, reply),
                                what="the stopped note in the reply")
    assert shown
    world.doru.wait_reactions(dm, source, world.solo, ["❌"])
    assert "✅" not in reactions_to(world.hs.events(dm), source, world.solo.user_id)


def test_sethome_writes_the_home_room_and_keeps_the_rest_of_env(world):
    room = world.dm(world.solo)
    env = profile_dir(world.home, "solo") / ".env"
    before = env.read_text().splitlines()
    assert "home room" in command_reply(world, room, "/sethome")
    after = env.read_text().splitlines()
    assert f"MATRIX_HOME_ROOM={room}" in after or f"MATRIX_HOME_ROOM='{room}'" in after \
        or f'MATRIX_HOME_ROOM="{room}"' in after, after
    assert [line for line in after if not line.startswith("MATRIX_HOME_ROOM")] == before
    assert (env.stat().st_mode & 0o777) == 0o600


def test_profile_names_the_profile(world, dm):
    assert "Hermes profile: solo" in command_reply(world, dm, "/profile")


def test_whoami_names_bot_and_sender(world, dm):
    text = command_reply(world, dm, "!whoami")
    assert world.solo.user_id in text and world.doru.user_id in text


def test_retry_answers_the_last_message_again_as_a_new_reply(world, dm):
    source = world.doru.send(dm, "a question worth asking twice")
    first = the_reply(world, dm, source, world.solo, final="echo: a question worth asking twice")
    retry = world.doru.send(dm, "/retry")
    second = the_reply(world, dm, retry, world.solo, final="echo: a question worth asking twice")
    assert second["event_id"] != first["event_id"]
    asked = [r for r in world.agent.requests()
             if r["body"]["messages"][-1]["content"] == "a question worth asking twice"]
    assert len(asked) == 2


def test_unknown_bang_command_is_a_normal_message(world, dm):
    source = world.doru.send(dm, "!foo bar")
    the_reply(world, dm, source, world.solo, final="echo: !foo bar")


# -- faults -------------------------------------------------------------------------


def test_rate_limit_storm_every_message_answered_exactly_once(world):
    room = world.dm(world.solo)
    world.hs.fault(user_id=world.solo.user_id, kind="ratelimit", retry_after_ms=1500,
                   duration_s=6, path_contains="/send/")
    sources = []
    for i in range(4):
        sources.append(world.doru.send(room, f"storm message {i}"))
        # One at a time: a message arriving while the previous turn runs would
        # interrupt it (Hermes' busy_input_mode), which is not what this test is about.
        wait_until(lambda: any(r["body"]["messages"][-1]["content"] == f"storm message {i}"
                               for r in world.agent.requests()), 60,
                   f"the agent to be asked about storm message {i}")
    for i, source in enumerate(sources):
        world.doru.wait_reply(room, source, world.solo, final=f"echo: storm message {i}",
                              timeout=90)
    # The ✅ follows the final text in the room's ordered outbox.
    world.doru.wait_reactions(room, sources[-1], world.solo, ["✅"], timeout=90)
    counts = world.hs.requests(world.solo.user_id)
    assert counts.get("PUT /rooms/{roomId}/send/{type}/{txnId}", 0) > 0
    events = world.hs.events(room)
    for source in sources:
        assert len(replies_to(events, source, world.solo.user_id)) == 1
        assert reactions_to(events, source, world.solo.user_id).count("✅") == 1
        # Once at most: a 👀 still waiting when its reply is ready gives the reply its place.
        assert reactions_to(events, source, world.solo.user_id).count("👀") <= 1
        assert done_after_final_text(events, source, world.solo.user_id)
    assert "retrying in" in world.gateway.stderr()


def test_rate_limit_on_every_request_every_message_answered_exactly_once(world):
    # /sync too: the messages of the storm reach the bot together once it lifts.
    room = world.dm(world.solo)
    world.hs.fault(user_id=world.solo.user_id, kind="ratelimit", retry_after_ms=1000,
                   duration_s=5)
    sources = [world.doru.send(room, f"sync storm {i}") for i in range(4)]
    for source in sources:
        world.doru.wait_reply(room, source, world.solo, timeout=90)
    world.doru.wait_reply(room, sources[-1], world.solo, final="echo: sync storm 3")
    sentinel = world.doru.send(room, "after the sync storm")
    world.doru.wait_reply(room, sentinel, world.solo, final="echo: after the sync storm")
    # The ✅ follows the final text; once the sentinel's is there, everything
    # before it in the room's ordered outbox is out too.
    world.doru.wait_reactions(room, sentinel, world.solo, ["✅"])
    events = world.hs.events(room)
    for source in sources + [sentinel]:
        assert len(replies_to(events, source, world.solo.user_id)) == 1
        done = reactions_to(events, source, world.solo.user_id)
        assert done.count("👀") <= 1 and done.count("✅") + done.count("❌") == 1, done
        assert done_after_final_text(events, source, world.solo.user_id)


def test_agent_401_gives_a_short_error_and_the_profile_keeps_working(world):
    room = world.dm(world.solo)
    world.agent.script({"status": 401}, model="solo", count=1)
    source = world.doru.send(room, "this one fails")
    reply = world.doru.wait_reply(room, source, world.solo)
    world.doru.wait_reactions(room, source, world.solo, ["❌"])
    text = shown_text(world.hs.events(room), reply)
    assert text.startswith("⚠️") and len(text) < 300, text
    assert PROXY_KEY not in text and PROXY_KEY[:12] not in text
    source = world.doru.send(room, "and this one works")
    the_reply(world, room, source, world.solo, final="echo: and this one works")
    world.doru.wait_reactions(room, source, world.solo, ["✅"])


# -- two profiles -------------------------------------------------------------------


def test_two_profiles_in_one_room_answer_only_when_addressed(world):
    room = world.group_room(world.solo, world.two)
    world.doru.wait_joined(room, world.solo)
    world.doru.wait_joined(room, world.two)
    # two's answer names solo; solo must not answer another bot.
    world.agent.script({"reply": "ask Hermes Solo, @hermesbot:localhost knows"}, model="two",
                       count=1)
    to_two = world.doru.send(room, "Hermes Two: who knows?")
    reply_two = the_reply(world, room, to_two, world.two,
                          final="ask Hermes Solo, @hermesbot:localhost knows")
    to_solo = world.doru.send(room, "Hermes Solo: do you?")
    the_reply(world, room, to_solo, world.solo, final="echo: do you?")
    events = world.hs.events(room)
    assert not replies_to(events, to_two, world.solo.user_id)
    assert not replies_to(events, to_solo, world.two.user_id)
    assert not replies_to(events, reply_two["event_id"])
    # And two does not answer solo's reply either (a later message proves it has seen it).
    sentinel = world.doru.send(room, "Hermes Two: still there?")
    the_reply(world, room, sentinel, world.two, final="echo: still there?")
    events = world.hs.events(room)
    bots = {world.solo.user_id, world.two.user_id}
    for ev in events:
        if ev["type"] == "m.room.message" and ev["sender"] in bots:
            assert not [r for r in replies_to(events, ev["event_id"]) if r["sender"] in bots]
    models = [r["body"]["model"] for r in world.agent.requests()
              if r["body"]["messages"][-1]["content"] in ("who knows?", "still there?")]
    assert models == ["two", "two"]


# -- secrets (last: looks at everything the gateway wrote so far) ------------------


def test_no_secret_in_stderr_or_gateway_logs(world):
    secrets = [world.solo.token, world.two.token, PROXY_KEY, world.doru.client.access_token]
    texts = [world.gateway.stderr()]
    texts += [p.read_text(errors="replace") for p in world.home.rglob("gateway.log*")]
    assert len(texts) >= 3  # stderr and the two profiles' logs
    leaked = [i for i, s in enumerate(secrets) if any(s in t for t in texts)]
    assert not leaked, f"secrets #{leaked} appear in the gateway's output"


# -- restarts (a gateway of their own) ----------------------------------------------


def restart_with_messages_waiting(world, tmp_path, sig):
    """A bot of its own: it is in the room before its first sync (a message from then
    must never be answered), answers one message, is stopped by `sig`, three messages
    come while it is down, and it starts again. Returns (room, bot, early, warm, sources)
    once the last of them and a later sentinel have been answered."""
    name = f"restart{signal.Signals(sig).name[3:].lower()}{next(RESTARTS)}"
    bot = world.hs.register(name, "Restart Bot")
    room = world.doru.create_room(invite=[bot], is_direct=True)
    ok("POST", f"{world.hs.url}/_matrix/client/v3/join/{room}", {}, token=bot.token)
    early = world.doru.send(room, "before the bot ever synced")
    home = tmp_path / "home"
    write_profile(home, name, bot_settings(world.hs, world.agent, bot, [world.doru]))
    (home / ".env").write_text("")
    gw = Gateway(home, tmp_path / "gateway.stderr", world.hs, [bot])
    gw.start()
    try:
        warm = world.doru.send(room, "warm up")
        world.doru.wait_reply(room, warm, bot, final="echo: warm up")
        gw.stop(sig)
        sources = [world.doru.send(room, f"while down {i}") for i in range(3)]
        gw.start()
        for source in sources:
            world.doru.wait_reply(room, source, bot, timeout=90)
        world.doru.wait_reactions(room, sources[-1], bot, ["✅"])
        # A sentinel: once it is answered, everything before it has been decided.
        sentinel = world.doru.send(room, "after the restart")
        world.doru.wait_reply(room, sentinel, bot, final="echo: after the restart")
    finally:
        gw.stop()
    return room, bot, early, warm, sources


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_messages_sent_while_stopped_are_answered_once_in_order(world, tmp_path, sig):
    room, bot, early, warm, sources = restart_with_messages_waiting(world, tmp_path, sig)
    events = world.hs.events(room)
    position = {e["event_id"]: i for i, e in enumerate(events)}
    replies = []
    for source in sources:
        found = replies_to(events, source, bot.user_id)
        assert len(found) == 1, f"{len(found)} replies to one message"
        replies.append(position[found[0]["event_id"]])
    assert replies == sorted(replies), "replies out of order"
    assert shown_text(events, events[replies[-1]]) == "echo: while down 2"
    assert not replies_to(events, early, bot.user_id)
    assert len(replies_to(events, warm, bot.user_id)) == 1


def test_messages_sent_while_stopped_each_get_the_agents_answer(world, tmp_path):
    room, bot, _, _, sources = restart_with_messages_waiting(world, tmp_path, signal.SIGTERM)
    events = world.hs.events(room)
    shown = [shown_text(events, replies_to(events, s, bot.user_id)[0]) for s in sources]
    assert shown == [f"echo: while down {i}" for i in range(3)]


def test_more_messages_than_one_sync_carries_are_all_answered(world, tmp_path):
    """70 messages while the bot is down: more than the sync filter's timeline limit
    (50), so the sync comes back `limited` and the gateway must fetch the gap."""
    name = f"gapbot{next(RESTARTS)}"
    bot = world.hs.register(name, "Gap Bot")
    room = world.doru.create_room(invite=[bot], is_direct=True)
    ok("POST", f"{world.hs.url}/_matrix/client/v3/join/{room}", {}, token=bot.token)
    home = tmp_path / "home"
    write_profile(home, name, bot_settings(world.hs, world.agent, bot, [world.doru]))
    (home / ".env").write_text("")
    gw = Gateway(home, tmp_path / "gateway.stderr", world.hs, [bot])
    gw.start()
    try:
        warm = world.doru.send(room, "warm up")
        world.doru.wait_reply(room, warm, bot, final="echo: warm up")
        gw.stop(signal.SIGTERM)
        sources = [world.doru.send(room, f"while away {i}") for i in range(70)]
        gw.start()
        world.doru.wait_reply(room, sources[-1], bot, timeout=120)
        sentinel = world.doru.send(room, "after the gap")
        world.doru.wait_reply(room, sentinel, bot, final="echo: after the gap", timeout=120)
    finally:
        gw.stop()
    events = world.hs.events(room)
    for i, source in enumerate(sources):
        found = replies_to(events, source, bot.user_id)
        assert len(found) == 1, f"message {i}: {len(found)} replies"

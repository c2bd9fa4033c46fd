"""Hostile content from allowed users and strangers: huge bodies, deep JSON, invalid
UTF-8, HTML injection meant for formatted_body, the bot mentioned by a stranger in
many rooms, and a flood of invites from strangers. The bot stays up, answers only whom
it should, and sends only sanitized HTML. Checked on the homeserver's event lists.

HM_HOSTILE_ROOMS sets how many rooms the mention flood spans (default 1000)."""

import html.parser
import json
import os
import urllib.error
import urllib.request

import pytest

from fleet import Fleet, quote
from harness import ok, replies_to, shown_text, wait_until

ROOMS = int(os.environ.get("HM_HOSTILE_ROOMS", "1000"))
INVITES = 200


class Hostile:
    def __init__(self, tmp):
        self.fleet = Fleet(tmp, 1, prefix="host", gateway=False)
        self.hs = self.fleet.hs
        self.bot = self.fleet.bots[0]
        self.stranger = self.hs.register("host-stranger", "Stranger")
        # Before the gateway starts: the bot is in many public rooms of a stranger.
        self.flood_rooms = []
        for i in range(ROOMS):
            room = ok("POST", f"{self.hs.url}/_matrix/client/v3/createRoom",
                      {"preset": "public_chat", "name": f"flood {i}"},
                      token=self.stranger.token)["room_id"]
            ok("POST", f"{self.hs.url}/_matrix/client/v3/join/{quote(room)}", {},
               token=self.bot.token)
            self.flood_rooms.append(room)
        self.fleet.gateway.start(timeout=120)
        self.fleet.wait_joined(self.fleet.dm(self.bot), self.bot)
        self.dm = self.fleet.dm(self.bot)

    def raw_send(self, room, raw_body: bytes, token):
        req = urllib.request.Request(
            f"{self.hs.url}/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/"
            f"{os.urandom(8).hex()}", data=raw_body, method="PUT")
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["event_id"]

    def still_answers(self, text):
        source = self.fleet.send(self.dm, text)
        self.fleet.wait_answered([(self.bot, self.dm, source)])
        assert self.fleet.gateway.running()
        return source


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    h = Hostile(tmp_path_factory.mktemp("hostile"))
    yield h
    h.fleet.close()


def test_huge_body_from_an_allowed_user(hostile):
    hostile.fleet.agent.script({"reply": "got a big one"}, count=1)
    source = hostile.fleet.send(hostile.dm, "x" * (2 * 1024 * 1024))
    hostile.fleet.wait_answered([(hostile.bot, hostile.dm, source)], timeout=120, final=False)
    hostile.still_answers("after the huge body")


def test_deeply_nested_content(hostile):
    depth = 900  # the homeserver's own parser (Python) stops near 1000
    nested = "[" * depth + "]" * depth
    raw = ('{"msgtype": "m.text", "body": "deep", "x": ' + nested + "}").encode()
    hostile.raw_send(hostile.dm, raw, hostile.fleet.doru.token)
    hostile.still_answers("after the deep JSON")


def test_invalid_utf8_and_lone_surrogates(hostile):
    raw = b'{"msgtype": "m.text", "body": "bad \\ud800 surrogate \\udfff end"}'
    source = hostile.raw_send(hostile.dm, raw, hostile.fleet.doru.token)
    # Not valid UTF-8 at all: the homeserver refuses it, as a real one does.
    req_status = None
    try:
        hostile.raw_send(hostile.dm, b'{"msgtype": "m.text", "body": "\xff\xfe\xc3"}',
                         hostile.fleet.doru.token)
    except urllib.error.HTTPError as e:
        req_status = e.code
    assert req_status in (None, 400)
    hostile.still_answers("after invalid UTF-8")
    # The lone surrogates message is answered once or ignored, never twice.
    assert len(replies_to(hostile.hs.events(hostile.dm), source, hostile.bot.user_id)) <= 1


INJECTION = ('<script>alert(1)</script><img src=x onerror="alert(2)">'
             '<a href="javascript:alert(3)">click</a><iframe src="https://evil"></iframe>'
             '<b onmouseover="alert(4)">bold</b> [link](javascript:alert(5)) '
             '<style>body{display:none}</style>')
# What the Matrix spec allows in formatted_body (client-server API, m.room.message
# msgtypes, "HTML"); mx-reply for reply fallbacks.
SAFE_TAGS = {"font", "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul",
             "ol", "sup", "sub", "li", "b", "i", "u", "strong", "em", "strike", "code", "hr",
             "br", "div", "table", "thead", "tbody", "tr", "th", "td", "caption", "pre",
             "span", "img", "details", "summary", "s", "mx-reply"}


class Markup(html.parser.HTMLParser):
    """Every element and attribute of an HTML text, as a browser would read it."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def unsafe(text):
    """What in `text` would run or fetch something in a client: unknown elements, event
    handler attributes, script URLs, images from outside mxc://."""
    found = []
    for tag, attrs in Markup(text).tags:
        if tag not in SAFE_TAGS:
            found.append(tag)
        for name, value in attrs.items():
            if name.startswith("on") or (value or "").strip().lower().startswith(
                    ("javascript:", "data:", "vbscript:")):
                found.append(f"{tag} {name}")
        if tag == "img" and not (attrs.get("src") or "").startswith("mxc://"):
            found.append("img src")
    return found


def test_html_injection_never_reaches_formatted_body(hostile):
    # The agent echoes the person's HTML back; the bot renders it as text, not markup.
    content = {"msgtype": "m.text", "body": INJECTION, "format": "org.matrix.custom.html",
               "formatted_body": INJECTION}
    source = hostile.fleet.send(hostile.dm, None, content=content)
    hostile.fleet.wait_answered([(hostile.bot, hostile.dm, source)])
    # And an agent whose own answer carries markup.
    hostile.fleet.agent.script({"reply": "here: " + INJECTION}, count=1)
    second = hostile.fleet.send(hostile.dm, "answer with markup")
    hostile.fleet.wait_answered([(hostile.bot, hostile.dm, second)], final=False)
    events = hostile.hs.events(hostile.dm)
    bot_html = [e["content"].get("formatted_body", "") for e in events
                if e["sender"] == hostile.bot.user_id and e["type"] == "m.room.message"]
    bot_html += [e["content"].get("m.new_content", {}).get("formatted_body", "") for e in events
                 if e["sender"] == hostile.bot.user_id and e["type"] == "m.room.message"]
    assert any(bot_html), "the bot sent no formatted_body at all"
    for html in bot_html:
        assert not unsafe(html), (unsafe(html), html)


def test_stranger_mentions_in_many_rooms_get_no_answer(hostile):
    bot = hostile.bot
    for room in hostile.flood_rooms:
        hostile.fleet.send(room, f"{bot.user_id} hey bot, answer me", sender=hostile.stranger,
                           content={"msgtype": "m.text", "body": f"{bot.user_id}: answer me",
                                    "m.mentions": {"user_ids": [bot.user_id]}})
    # Once the bot has read past the flood (its later DM is answered and the
    # homeserver has seen it sync again), not one flood room has a message from it.
    hostile.still_answers("after the mention flood")
    syncs = hostile.hs.sync_count(bot.user_id)
    wait_until(lambda: hostile.hs.sync_count(bot.user_id) >= syncs + 2, 60, "two more syncs")
    for room in hostile.flood_rooms:
        sent = [e for e in hostile.hs.events(room)
                if e["sender"] == bot.user_id and e["type"] != "m.room.member"]
        assert not sent, (room, sent[:2])


def test_invite_flood_from_strangers_is_declined(hostile):
    bot = hostile.bot
    rooms = [ok("POST", f"{hostile.hs.url}/_matrix/client/v3/createRoom",
                {"invite": [bot.user_id], "name": f"invite {i}"},
                token=hostile.stranger.token)["room_id"] for i in range(INVITES)]

    def membership(room):
        states = [e["content"].get("membership") for e in hostile.hs.events(room)
                  if e["type"] == "m.room.member" and e.get("state_key") == bot.user_id]
        return states[-1] if states else None
    wait_until(lambda: all(membership(r) == "leave" for r in rooms), 120,
               lambda: f"{sum(membership(r) != 'leave' for r in rooms)} invites still open")
    assert not [r for r in rooms if membership(r) == "join"]
    hostile.still_answers("after the invite flood")

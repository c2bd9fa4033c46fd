"""A fleet: one dev homeserver, one agent double, a person (doru, plain HTTP) and N bot
profiles served by one gateway, each with a DM to doru. Shared by the fault, soak and
hostile-content tests; built on tests/integration/harness.py (imported, not copied).

Everything is checked on the homeserver's side (the room's event list), which is what
"answered exactly once" means to the person. No timing is asserted; every wait has a
generous deadline and fails naming what it saw."""

import os
import pathlib
import sys
import urllib.parse
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

import harness  # noqa: E402
from harness import (AgentDouble, Devhs, Gateway, bot_settings, ok, replies_to,  # noqa: E402
                     shown_text, wait_until, write_profile)

PROXY_KEY = "sk-hm-fault-5e4d3c2b1a0f9e8d"


def quote(s):
    return urllib.parse.quote(s, safe="")


class Fleet:
    def __init__(self, tmp, n=10, prefix="fleet", extra=None, gateway=True):
        """`extra(i)`: more .env settings for profile i (e.g. an agent URL of its own)."""
        self.tmp = pathlib.Path(tmp)
        self.hs = Devhs(self.tmp / "devhs")
        self.agent = AgentDouble()
        self.doru = self.hs.register(f"{prefix}-doru", "Doru")
        self.bots = [self.hs.register(f"{prefix}{i}", f"Bot {i}") for i in range(n)]
        self.names = [f"p{i}" for i in range(n)]
        self.home = self.tmp / "hermes-home"
        for i, (name, bot) in enumerate(zip(self.names, self.bots)):
            settings = dict(GATEWAY_PROXY_KEY=PROXY_KEY, MATRIX_DEVICE_ID=f"BOT{i}")
            settings.update((extra or (lambda _: {}))(i))
            write_profile(self.home, name, bot_settings(self.hs, self.agent, bot, [self.doru],
                                                        **settings))
        (self.home / ".env").write_text("# the default profile is not on Matrix here\n")
        harness.record_secrets([PROXY_KEY, harness.PASSWORD, self.doru.token]
                               + [b.token for b in self.bots])
        self.gateway = Gateway(self.home, self.tmp / "gateway.stderr", self.hs, self.bots)
        if gateway:
            self.gateway.start()
        self.dms = {}
        for bot in self.bots:
            self.dms[bot.user_id] = self.create_dm(bot)
        if gateway:
            for bot in self.bots:
                self.wait_joined(self.dms[bot.user_id], bot)

    # -- the person's side ---------------------------------------------------------

    def create_dm(self, bot):
        return ok("POST", f"{self.hs.url}/_matrix/client/v3/createRoom",
                  {"invite": [bot.user_id], "is_direct": True, "preset": "trusted_private_chat"},
                  token=self.doru.token)["room_id"]

    def wait_joined(self, room, bot, timeout=60):
        wait_until(lambda: any(e["type"] == "m.room.member" and e.get("state_key") == bot.user_id
                               and e["content"].get("membership") == "join"
                               for e in self.hs.events(room)),
                   timeout, f"{bot} to join {room}")

    def send(self, room, body, content=None, sender=None):
        content = content or {"msgtype": "m.text", "body": body}
        token = (sender or self.doru).token
        return ok("PUT", f"{self.hs.url}/_matrix/client/v3/rooms/{quote(room)}/send/"
                         f"m.room.message/{uuid.uuid4().hex}", content, token=token)["event_id"]

    def dm(self, bot):
        return self.dms[bot.user_id]

    def profile_dir(self, bot):
        return harness.profile_dir(self.home, self.names[self.bots.index(bot)])

    # -- checks on the homeserver's side --------------------------------------------

    def replies(self, room, source, bot):
        return replies_to(self.hs.events(room), source, bot.user_id)

    def wait_answered(self, pairs, timeout=90, final=True):
        """pairs: [(bot, room, source event id)]. Waits until each has a reply from its
        bot (with `final`, one whose shown text is the agent's final echo or an error);
        then asserts each has exactly one."""
        def pending():
            left = []
            cache = {}
            for bot, room, source in pairs:
                events = cache.setdefault(room, self.hs.events(room))
                found = replies_to(events, source, bot.user_id)
                if not found:
                    left.append((bot, source))
                elif final and not shown_text(events, found[0]).startswith(("echo: ", "⚠️")):
                    left.append((bot, source))
            return left
        wait_until(lambda: not pending(), timeout,
                   lambda: f"replies to {len(pending())} message(s): {pending()[:5]}")
        for bot, room, source in pairs:
            n = len(self.replies(room, source, bot))
            assert n == 1, f"{bot} answered {source} {n} times"

    def round(self, bots, text, timeout=90):
        """One message to each bot's DM; every one answered exactly once."""
        pairs = [(b, self.dm(b), self.send(self.dm(b), f"{text} to {b.localpart}")) for b in bots]
        self.wait_answered(pairs, timeout)
        return pairs

    def close(self):
        try:
            self.gateway.stop()
        finally:
            self.agent.stop()
            self.hs.stop()
            harness.record_outputs(self.tmp)

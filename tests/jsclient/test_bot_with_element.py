"""The bot against Element's own crypto stack (matrix-js-sdk with its Rust crypto): the
key backup and secret storage the bot's owner set up in Element are the ones the bot
backs up to, and Element restores what the bot backed up; a person verifies the bot by
emoji in their DM as Element asks them to, and the operator confirms with
`hermes-matrix verify`."""

import json
import re
import subprocess
import urllib.request

import pytest

from fixtures import *  # noqa: F401,F403 (the fixtures npm_packages and hs)
from fixtures import nio_warnings
from person import JsPerson

pytestmark = nio_warnings


class World:
    """@hermes with cross-signing, secret storage and a key backup set up by its owner in
    Element (a js-sdk device of @hermes, closed once done, so that every key in the backup
    afterwards is one the bot put there), the bot serving it with the recovery key Element
    showed, and @human on js-sdk."""

    def __init__(self, hs, tmp_path):
        from e2ee_support import Bot, bot_home, register
        self.hs, self.logs, self.people = hs, tmp_path / "logs", []
        self.bot_account = register(hs.url, "hermes", "pw-hermes-1")
        register(hs.url, "human", "pw-human-1")
        owner = self.person("hermes", "pw-hermes-1")
        self.recovery_key = owner.bootstrap()
        self.backup_version = owner.backup_info()["version"]
        owner.close()
        self.home = bot_home(tmp_path / "home", hs.url, self.bot_account["access_token"],
                             extra=f"MATRIX_RECOVERY_KEY={self.recovery_key}\n")
        self.bot = Bot(self.home)
        assert self.bot.wait_for(
            rf"backing up room keys to key backup version {self.backup_version}"), self.bot.stderr
        assert "running as" in self.bot.stderr or self.bot.wait_for(r"running as"), self.bot.stderr
        self.human = self.person("human", "pw-human-1")

    def person(self, user, password):
        p = JsPerson(self.hs.url, user, password, self.logs)
        self.people.append(p)
        p.login()
        return p

    def dm(self):
        room = self.human.create_dm(self.bot_account["user_id"])
        self.human.wait_joined(room, self.bot_account["user_id"])
        return room

    def close(self):
        for p in self.people:
            p.close()
        self.bot.stop()
        assert self.recovery_key not in self.bot.stderr


@pytest.fixture
def world(hs, tmp_path):
    w = World(hs, tmp_path)
    yield w
    w.close()


def megolm_sessions(base, room_id, sender):
    with urllib.request.urlopen(f"{base}/_devhs/rooms/{room_id}/events", timeout=10) as resp:
        events = json.loads(resp.read())["events"]
    return {e["content"]["session_id"] for e in events
            if e["sender"] == sender and e["type"] == "m.room.encrypted"}


def test_the_bot_backs_up_to_the_backup_element_set_up(world):
    bot_id = world.bot_account["user_id"]
    room = world.dm()
    world.human.send_text(room, "/help")
    answer = world.human.wait_for_text(
        room, lambda t: t["sender"] == bot_id and t["body"] and not t["decryption_failed"])
    theirs = megolm_sessions(world.hs.url, room, world.human.user_id)
    ours = megolm_sessions(world.hs.url, room, bot_id)
    assert theirs and ours

    # Only the bot can have put them there: the owner's Element device closed before the
    # conversation began. A new device of the owner in Element reads nothing until...
    again = world.person("hermes", "pw-hermes-1")
    again.wait("the bot's keys in the backup Element made", lambda: (
        (info := again.backup_info())["version"] == world.backup_version
        and theirs | ours <= set(info["sessions"].get(room, []))))
    restored = again.restore_backup(world.recovery_key)
    assert restored["imported"] >= len(theirs | ours), restored
    # ...it restores the backup, whose entries, uploaded by the bot, Element decrypts:
    # both sides of the DM.
    again.wait_for_text(room, lambda t: t["body"] == "/help" and not t["decryption_failed"])
    again.wait_for_text(room, lambda t: t["sender"] == bot_id and t["body"] == answer["body"])


def admin(world, method, path, body=None):
    url = re.findall(r"admin API listening on (http://\S+)", world.bot.stderr)[-1]
    token = (world.home / "hermes-matrix" / "admin-token").read_text().strip()
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_element_verifies_the_bot_by_emoji_in_their_dm(world):
    from conftest import BINARY
    bot_id, bot_device = world.bot_account["user_id"], world.bot_account["device_id"]
    world.human.bootstrap()  # the person has cross-signing, as everyone on Element does
    room = world.dm()
    world.human.wait_knows_device(bot_id, bot_device)
    assert not world.human.device_verified(bot_id, bot_device)["verified"]

    # "Verify" in the DM's member panel: the request is a room message, the bot answers
    # ready, the person picks "Verify by emoji".
    world.human.request_verification(bot_id, room_id=room)
    world.human.wait_for_phase("Ready")
    world.human.start_sas()
    theirs = world.human.wait_for_emoji()

    # The operator sees the same seven emoji and confirms them.
    world.human.wait("the bot's emoji", lambda: any(
        v["emoji"] for v in admin(world, "GET", "/v1/profiles/default/verifications")["verifications"]))
    flow, = [v for v in admin(world, "GET", "/v1/profiles/default/verifications")["verifications"]
             if v["emoji"]]
    assert flow["transport"] == "in_room" and flow["room_id"] == room, flow
    assert flow["user_id"] == world.human.user_id and flow["device_id"] == world.human.device_id
    assert [[e["symbol"], e["name"]] for e in flow["emoji"]] == theirs, (flow, theirs)
    # Both say "they match": the operator through the verify command, which waits for the
    # flow to end; the person in Element.
    proc = subprocess.Popen([BINARY, "verify", "--profile", "default", "--hermes-home",
                             str(world.home), "--admin-url",
                             re.findall(r"admin API listening on (http://\S+)", world.bot.stderr)[-1],
                             "--confirm"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    world.human.confirm()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert world.human.wait_for_phase("Done", "Cancelled")["phase"] == "Done"
    assert world.bot.wait_for(re.escape(f"verified {world.human.user_id}'s device {world.human.device_id}"))

    # Element shows the bot's device verified, and the bot's user too: the bot MACed its
    # master key, which the person's client then signs with their user-signing key.
    world.human.wait("the bot's device verified",
                     lambda: world.human.device_verified(bot_id, bot_device)["verified"])
    world.human.wait("the bot's user verified",
                     lambda: world.human.user_verified(bot_id)["cross_signing_verified"])
    # And the bot vouches for the person: their master key signed with the bot's
    # user-signing key (from the secret storage Element set up), on the server.
    from e2ee_support import api
    def signed_by_bot():
        keys = api(world.hs.url, "POST", "/keys/query", world.bot_account["access_token"],
                   {"device_keys": {world.human.user_id: []}})
        return bot_id in keys["master_keys"][world.human.user_id].get("signatures", {})
    world.human.wait("the person's master key signed by the bot", signed_by_bot)
    # The verification never reached the agent as a message.
    texts = [t for t in world.human.texts(room) if t["sender"] == bot_id and t["body"]]
    assert not texts, texts

"""End-to-end encryption with the real binary on the dev homeserver: the crypto
actor's start (account, signed device keys, one-time keys, the same identity across
restarts, a wrong pickle key), an encrypted DM answered encrypted, the modes' plaintext
rules, and everything the bot sends under required (edits, reactions) encrypted."""

import json
import stat
import sys
import time
import urllib.request

from conftest import SOURCE_DIR, env_values
from e2ee_support import Bot, api, bot_device_keys, bot_messages, hermes_and_human
from e2ee_support import bot_home as support_home

sys.path.insert(0, str(SOURCE_DIR))
from tests.devhs.launcher import Homeserver  # noqa: E402


def bot_home(tmp_path, base, token, pickle_key=None, mode="required"):
    return support_home(tmp_path / "home", base, token, pickle_key=pickle_key, mode=mode)


def test_required_mode_publishes_device_keys_and_keeps_its_identity(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, human, home = hermes_and_human(hs.url, tmp_path)
        bot_id, device_id = bot["user_id"], bot["device_id"]
        logs = ""
        first = Bot(home)
        try:
            assert first.wait_for(r"running as"), first.stderr
            keys = bot_device_keys(hs.url, human["access_token"], bot_id, device_id)
        finally:
            assert first.stop() == 0, first.stderr
            logs += first.stderr
        assert keys is not None, logs
        assert keys["user_id"] == bot_id and keys["device_id"] == device_id
        assert "m.megolm.v1.aes-sha2" in keys["algorithms"]
        ed25519 = keys["keys"][f"ed25519:{device_id}"]
        assert keys["keys"][f"curve25519:{device_id}"]
        assert f"ed25519:{device_id}" in keys["signatures"][bot_id]
        # One-time keys are up: another device can start an Olm session with the bot.
        claimed = api(hs.url, "POST", "/keys/claim", human["access_token"],
                      {"one_time_keys": {bot_id: {device_id: "signed_curve25519"}}})
        assert claimed["one_time_keys"][bot_id][device_id], claimed
        # The pickle key file is private and beside the store; never in a log.
        store_dir = home / "platforms" / "matrix"
        key_file = store_dir / "hermes-matrix.pickle-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        pickle_key = key_file.read_text().strip()

        # A restart loads the same account: the server's keys are still ours.
        second = Bot(home)
        try:
            # The profile runs only once its device is confirmed on the server.
            assert second.wait_for(r"confirmed on the server", timeout=20), second.stderr
            assert second.wait_for(r"running as"), second.stderr
            again = bot_device_keys(hs.url, human["access_token"], bot_id, device_id)
        finally:
            assert second.stop() == 0, second.stderr
            logs += second.stderr
        assert again["keys"][f"ed25519:{device_id}"] == ed25519
        logs += "".join(p.read_text() for p in home.rglob("gateway.log"))
        assert "device_mismatch" not in logs
        for value in env_values(home) | {pickle_key}:
            assert value not in logs


def test_a_store_with_another_pickle_key_stops_the_profile(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path,
                                        human=False, pickle_key="first-pickle-key-0123456789")
        first = Bot(home)
        try:
            assert first.wait_for(r"uploaded this device's keys", timeout=20), first.stderr
            assert first.wait_for(r"running as"), first.stderr
        finally:
            first.stop()
        bot_home(tmp_path, hs.url, bot["access_token"], pickle_key="other-pickle-key-0123456789")
        second = Bot(home)
        try:
            assert second.wait_for(r"another pickle key", timeout=30), second.stderr
        finally:
            second.stop()
        logs = second.stderr + "".join(p.read_text() for p in home.rglob("gateway.log"))
        assert "first-pickle-key-0123456789" not in logs
        assert "other-pickle-key-0123456789" not in logs


def test_an_encrypted_dm_with_nio_is_answered_encrypted(tmp_path):
    """nio shares its Megolm key with the bot over Olm and sends an encrypted command in
    an encrypted DM; the required-mode bot decrypts it, shares its own Megolm key with
    nio's device and answers encrypted; nio decrypts the answer, and the server holds no
    plaintext message from the bot."""
    import asyncio

    from nio import (AsyncClient, AsyncClientConfig, LoginResponse, MegolmEvent,
                     RoomMessageText, RoomSendResponse)

    async def scenario(hs_url, bot_id):
        reg = AsyncClient(hs_url, "human")
        await reg.register("human", "pw-human-1")
        await reg.close()
        (tmp_path / "nio").mkdir()
        human = AsyncClient(hs_url, "@human:localhost", store_path=str(tmp_path / "nio"),
                            config=AsyncClientConfig(encryption_enabled=True,
                                                     store_sync_tokens=False))
        assert isinstance(await human.login("pw-human-1", device_name="human"), LoginResponse)
        await human.keys_upload()
        await human.sync(timeout=0)
        created = await human.room_create(
            invite=[bot_id], is_direct=True,
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        room_id = created.room_id
        deadline = time.time() + 30
        while time.time() < deadline:
            await human.sync(timeout=1000)
            room = human.rooms.get(room_id)
            if room and bot_id in room.users and bot_id not in room.invited_users:
                break
        room = human.rooms[room_id]
        assert bot_id in room.users and bot_id not in room.invited_users, "the bot did not join"
        if human.should_query_keys:
            await human.keys_query()
        sent = await human.room_send(room_id, "m.room.message",
                                     {"msgtype": "m.text", "body": "/help"},
                                     ignore_unverified_devices=True)
        assert isinstance(sent, RoomSendResponse), sent
        answer, undecrypted = None, []
        deadline = time.time() + 30
        while time.time() < deadline and answer is None:
            resp = await human.sync(timeout=1000)
            room = resp.rooms.join.get(room_id) if hasattr(resp, "rooms") else None
            for ev in (room.timeline.events if room else []):
                if ev.sender != bot_id:
                    continue
                if isinstance(ev, RoomMessageText):
                    answer = ev.body
                elif isinstance(ev, MegolmEvent):
                    undecrypted.append(ev.event_id)
        await human.close()
        return room_id, answer, undecrypted

    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path, human=False)
        proc = Bot(home)
        try:
            assert proc.wait_for(r"running as"), proc.stderr
            room_id, answer, undecrypted = asyncio.run(
                asyncio.wait_for(scenario(hs.url, bot["user_id"]), 90))
            with urllib.request.urlopen(f"{hs.url}/_devhs/rooms/{room_id}/events",
                                        timeout=10) as resp:
                events = json.loads(resp.read())["events"]
        finally:
            proc.stop()
        logs = proc.stderr + "".join(p.read_text() for p in home.rglob("gateway.log"))
        assert answer, (undecrypted, logs)
        from_bot = [e for e in events if e.get("sender") == bot["user_id"]
                    and e.get("type") in ("m.room.message", "m.room.encrypted")]
        assert from_bot, events
        assert all(e["type"] == "m.room.encrypted" for e in from_bot), from_bot
        assert answer not in json.dumps(events)


def plaintext_dm_with_help(base, human_token, bot_id):
    """A DM without encryption in which the human sends /help; its room id."""
    room_id = api(base, "POST", "/createRoom", human_token,
                  {"invite": [bot_id], "is_direct": True})["room_id"]
    deadline = time.time() + 20
    while time.time() < deadline:
        members = api(base, "GET", f"/rooms/{room_id}/joined_members", human_token)["joined"]
        if bot_id in members:
            break
        time.sleep(0.3)
    assert bot_id in members, "the bot did not join"
    api(base, "PUT", f"/rooms/{room_id}/send/m.room.message/t1", human_token,
        {"msgtype": "m.text", "body": "/help"})
    return room_id


def test_optional_mode_answers_a_plaintext_room_in_plaintext(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, human, home = hermes_and_human(hs.url, tmp_path, mode="optional")
        proc = Bot(home)
        try:
            assert proc.wait_for(r"running as"), proc.stderr
            room_id = plaintext_dm_with_help(hs.url, human["access_token"], bot["user_id"])
            answers = []
            deadline = time.time() + 20
            while time.time() < deadline and not answers:
                answers = bot_messages(hs.url, room_id, bot["user_id"])
                time.sleep(0.3)
        finally:
            proc.stop()
        assert answers, proc.stderr
        assert answers[0]["type"] == "m.room.message"


def test_required_mode_never_answers_a_plaintext_room(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, human, home = hermes_and_human(hs.url, tmp_path)
        proc = Bot(home)
        try:
            assert proc.wait_for(r"running as"), proc.stderr
            room_id = plaintext_dm_with_help(hs.url, human["access_token"], bot["user_id"])
            time.sleep(3)  # time enough for an answer, were one to be sent
            answers = bot_messages(hs.url, room_id, bot["user_id"])
        finally:
            proc.stop()
        assert answers == [], answers


def test_required_mode_encrypts_streamed_edits_and_reactions_too(tmp_path):
    """An agent answer streamed in parts: the first message, its edits and the 👀/✅
    reactions all reach the homeserver as m.room.encrypted (relations in clear, as the
    spec says), and no word of the reply is readable there."""
    from harness import AgentDouble
    from e2ee_support import Human, room_events, run
    reply = "Encrypted streaming works: " + " ".join(f"part{i}" for i in range(40))
    agent = AgentDouble("--deltas", "4", "--delay", "1.2")
    try:
        agent.script({"reply": reply})
        with Homeserver(str(tmp_path / "hs")) as hs:
            bot, _, home = hermes_and_human(hs.url, tmp_path,
                                            extra=f"GATEWAY_PROXY_URL={agent.url}\n")
            bot_id = bot["user_id"]
            proc = Bot(home)

            def relations(events):
                return [e["content"].get("m.relates_to", {}) for e in events
                        if e.get("sender") == bot_id]

            async def scenario():
                human = await Human(hs.url, tmp_path / "nio").login()
                try:
                    room_id = await human.encrypted_room([bot_id])
                    await human.send(room_id, "tell me something")
                    deadline = time.time() + 40
                    while time.time() < deadline:
                        await human.sync()
                        if any(r.get("key") == "✅" for r in relations(room_events(hs.url, room_id))):
                            break
                    return room_id
                finally:
                    await human.close()

            try:
                assert proc.wait_for(r"running as"), proc.stderr
                room_id = run(scenario())
            finally:
                proc.stop()
            events = room_events(hs.url, room_id)
            rels = relations(events)
            assert any(r.get("key") == "✅" for r in rels), proc.stderr
            assert any(r.get("key") == "👀" for r in rels)
            assert any(r.get("rel_type") == "m.replace" for r in rels), "no streamed edit"
            from_bot = [e for e in events if e.get("sender") == bot_id and "state_key" not in e]
            assert from_bot and all(e["type"] == "m.room.encrypted" for e in from_bot), \
                sorted({e["type"] for e in from_bot})
            wire = json.dumps(events)
            assert "part7" not in wire and "Encrypted streaming" not in wire
    finally:
        agent.stop()

"""Room keys with the real binary, matrix-nio (python3-olm) as the humans' clients and
the dev homeserver: keys that arrive late, a member who leaves, a device that joins
later."""

import sys
import time

from conftest import SOURCE_DIR
from e2ee_support import (Bot, Human, bot_messages, control, hermes_and_human,
                          megolm_session_ids, register, run)

sys.path.insert(0, str(SOURCE_DIR))
from tests.devhs.launcher import Homeserver  # noqa: E402

HELP = "/help"  # answered without an agent backend: the reply lists the commands


def test_a_bot_joins_no_room_before_its_device_keys_are_on_the_server(tmp_path):
    """The homeserver stalls the bot's first key upload. A bot that joined the human's
    encrypted room meanwhile would be sent a message encrypted for none of its devices
    (the human's client finds no keys for it), which it could never read. So the bot
    syncs, joins and reports itself running only once its keys are on the server, and
    the human's first message is answered."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path)
        bot_id = bot["user_id"]
        control(hs.url, "POST", "/faults", {"user_id": bot_id, "kind": "fail", "mode": "stall",
                                            "stall_s": 4, "count": 1,
                                            "path_contains": "/keys/upload"})
        proc = Bot(home)

        async def scenario():
            human = await Human(hs.url, tmp_path / "nio").login()
            try:
                room_id = await human.encrypted_room([bot_id])
                await human.send(room_id, HELP)
                return await human.read(room_id, bot_id, 1, contains=HELP)
            finally:
                await human.close()

        try:
            answer, undecrypted = run(scenario())
            assert proc.wait_for(r"running as"), proc.stderr
        finally:
            proc.stop()
        assert answer and not undecrypted, proc.stderr
        log = proc.stderr
        assert log.index("uploaded this device's keys") < log.index("running as"), log
        assert "parked" not in log, log


def test_a_message_whose_key_is_late_is_parked_asked_for_noticed_and_answered(tmp_path):
    """The homeserver holds the bot's to-device messages, so the human's room key does
    not arrive: the bot parks the message, asks the human's devices for the key
    (m.room_key_request), tells the room after HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS
    that it could not read it, answers it once the key is released and cancels its
    request."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path,
                                        extra="HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS=1\n")
        bot_id = bot["user_id"]
        proc = Bot(home)

        async def scenario():
            from nio import RoomKeyRequest, RoomKeyRequestCancellation
            human = await Human(hs.url, tmp_path / "nio").login()
            try:
                room_id = await human.encrypted_room([bot_id])
                control(hs.url, "POST", "/to_device/hold",
                        {"user_id": bot_id, "type": "m.room.encrypted"})
                await human.send(room_id, HELP)
                session_id = megolm_session_ids(hs.url, room_id, human.user_id)[-1]
                deadline = time.time() + 20
                asked = []
                while time.time() < deadline and not asked:
                    await human.sync()
                    asked = [e for e in human.to_device if isinstance(e, RoomKeyRequest)
                             and e.sender == bot_id and e.session_id == session_id]
                assert asked, "the bot did not ask for the missing key"
                assert asked[0].room_id == room_id
                notice, _ = await human.read(room_id, bot_id, 1, contains="could not read")
                assert notice, "the room was not told about the unreadable message"
                # Nothing but the notice yet: the message itself is not answered.
                assert len(bot_messages(hs.url, room_id, bot_id)) == 1
                released = control(hs.url, "POST", "/to_device/release",
                                   {"user_id": bot_id, "type": "m.room.encrypted"})
                assert released["released"] >= 1
                answer, undecrypted = await human.read(room_id, bot_id, 1, contains=HELP)
                # The request is cancelled once the key is here.
                deadline = time.time() + 20
                cancelled = []
                while time.time() < deadline and not cancelled:
                    await human.sync()
                    cancelled = [e for e in human.to_device
                                 if isinstance(e, RoomKeyRequestCancellation)
                                 and e.sender == bot_id and e.request_id == asked[0].request_id]
                assert cancelled, "the key request was not cancelled"
                return room_id, answer, undecrypted
            finally:
                await human.close()

        try:
            assert proc.wait_for(r"running as"), proc.stderr
            room_id, answer, undecrypted = run(scenario())
        finally:
            proc.stop()
        assert answer, (undecrypted, proc.stderr)
        assert undecrypted == []
        assert "parked" in proc.stderr
        sent = bot_messages(hs.url, room_id, bot_id)
        assert all(e["type"] == "m.room.encrypted" for e in sent), sent


def test_a_member_who_leaves_does_not_get_the_next_room_key(tmp_path):
    """Human and friend share an encrypted room with the bot. After friend leaves, the
    bot's next answer uses a new Megolm session, whose key friend's device never gets."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path)
        bot_id = bot["user_id"]
        register(hs.url, "friend", "pw-friend-1")
        proc = Bot(home)

        async def scenario():
            human = await Human(hs.url, tmp_path / "nio-human").login()
            friend = await Human(hs.url, tmp_path / "nio-friend", "friend",
                                 "pw-friend-1").login()
            try:
                created = await human.client.room_create(
                    invite=[bot_id, friend.user_id],
                    initial_state=[{"type": "m.room.encryption", "state_key": "",
                                    "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
                room_id = created.room_id
                await friend.client.join(room_id)
                await human.wait_members(room_id, [bot_id, friend.user_id])
                await human.send(room_id, HELP)
                seen, _ = await friend.read(room_id, bot_id, 1, contains=HELP)
                assert seen, "friend could not read the bot while a member"
                before = set(megolm_session_ids(hs.url, room_id, bot_id))
                await friend.client.room_leave(room_id)
                await friend.sync(0)
                await human.sync(0)
                await human.send(room_id, HELP + " again")
                answer, undecrypted = await human.read(room_id, bot_id, 1, contains=HELP)
                assert answer and not undecrypted, undecrypted
                after = [s for s in megolm_session_ids(hs.url, room_id, bot_id)
                         if s not in before]
                assert after, "the bot did not rotate its Megolm session"
                for _ in range(3):
                    await friend.sync(0)
                store = friend.client.olm.inbound_group_store
                bot_keys = [k for k in store if k.room_id == room_id]
                known = {k.id for k in bot_keys}
                assert before & known, "friend never had the first session"
                assert not (set(after) & known), "friend got the key sent after it left"
            finally:
                await human.close()
                await friend.close()

        try:
            assert proc.wait_for(r"running as"), proc.stderr
            run(scenario())
        finally:
            proc.stop()
        assert "replacing the Megolm session" in proc.stderr


def test_a_second_device_of_the_human_can_read_the_bot(tmp_path):
    """The human talks to the bot on one device, then logs in on a second one: the bot
    shares its room key with the new device, which reads the bot's next answer."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path)
        bot_id = bot["user_id"]
        proc = Bot(home)

        async def scenario():
            first = await Human(hs.url, tmp_path / "nio-1").login("first")
            second = None
            try:
                room_id = await first.encrypted_room([bot_id])
                await first.send(room_id, HELP)
                answer, _ = await first.read(room_id, bot_id, 1, contains=HELP)
                assert answer
                second = await Human(hs.url, tmp_path / "nio-2").login("second")
                await second.sync(0)
                await first.sync(0)
                await second.send(room_id, HELP)
                answer, undecrypted = await second.read(room_id, bot_id, 1, contains=HELP)
                return answer, undecrypted
            finally:
                await first.close()
                if second:
                    await second.close()

        try:
            assert proc.wait_for(r"running as"), proc.stderr
            answer, undecrypted = run(scenario())
        finally:
            proc.stop()
        assert answer, (undecrypted, proc.stderr)
        assert undecrypted == [], proc.stderr


def test_a_broken_olm_session_is_replaced_with_an_m_dummy(tmp_path):
    """The bot loses its Olm sessions (deleted from its store while it is down): the
    human's next room key fits none, so the bot claims a one-time key of the human's
    device, starts a new session and sends an m.dummy over it; the human's client moves
    to that session, and its next message is read and answered. Broken again within the
    hour, even after a restart, the session is not replaced again."""
    import sqlite3
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path)
        bot_id = bot["user_id"]
        logs = []

        def forget_olm_sessions():
            db = sqlite3.connect(home / "platforms" / "matrix" / "hermes-matrix.db")
            with db:
                assert db.execute("DELETE FROM olm_sessions").rowcount > 0
            db.close()

        async def scenario():
            from nio import DummyEvent
            human = await Human(hs.url, tmp_path / "nio").login()
            proc = Bot(home)
            try:
                assert proc.wait_for(r"uploaded this device's keys"), proc.stderr
                room_id = await human.encrypted_room([bot_id])
                await human.send(room_id, HELP)
                answer, _ = await human.read(room_id, bot_id, 1, contains=HELP)
                assert answer, proc.stderr
                assert proc.stop() == 0
                logs.append(proc.stderr)
                forget_olm_sessions()
                proc = Bot(home)
                assert proc.wait_for(r"running as"), proc.stderr
                human.client.invalidate_outbound_session(room_id)
                await human.send(room_id, HELP)  # its key fits no Olm session of the bot
                deadline = time.time() + 30
                dummies = []
                while time.time() < deadline and not dummies:
                    await human.sync()
                    dummies = [e for e in human.to_device
                               if isinstance(e, DummyEvent) and e.sender == bot_id]
                assert dummies, "no m.dummy from the bot"
                human.client.invalidate_outbound_session(room_id)
                await human.send(room_id, HELP)  # over the new session: readable
                answer, undecrypted = await human.read(room_id, bot_id, 1, contains=HELP)
                assert answer and not undecrypted, proc.stderr
                # Broken again after a restart, within the hour: not replaced again.
                assert proc.stop() == 0
                logs.append(proc.stderr)
                forget_olm_sessions()
                proc = Bot(home)
                assert proc.wait_for(r"running as"), proc.stderr
                human.client.invalidate_outbound_session(room_id)
                await human.send(room_id, HELP)
                assert proc.wait_for(r"broke again within the hour"), proc.stderr
            finally:
                proc.stop()
                logs.append(proc.stderr)
                await human.close()

        run(scenario())
        assert "".join(logs).count("replacing the broken Olm session") == 1


def test_the_rooms_rotation_period_replaces_the_session(tmp_path):
    """m.room.encryption says rotation_period_msgs=2: the bot's third encrypted event
    in the room uses a new Megolm session, and the human reads every answer."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path)
        bot_id = bot["user_id"]
        proc = Bot(home)

        async def scenario():
            human = await Human(hs.url, tmp_path / "nio").login()
            try:
                created = await human.client.room_create(
                    invite=[bot_id], is_direct=True,
                    initial_state=[{"type": "m.room.encryption", "state_key": "",
                                    "content": {"algorithm": "m.megolm.v1.aes-sha2",
                                                "rotation_period_msgs": 2}}])
                room_id = created.room_id
                await human.wait_members(room_id, [bot_id])
                for _ in range(3):
                    await human.send(room_id, HELP)
                    answer, undecrypted = await human.read(room_id, bot_id, 1, contains=HELP)
                    assert answer and not undecrypted, undecrypted
                return room_id
            finally:
                await human.close()

        try:
            assert proc.wait_for(r"running as"), proc.stderr
            room_id = run(scenario())
        finally:
            proc.stop()
        sessions = megolm_session_ids(hs.url, room_id, bot_id)
        assert len(sessions) == 3, sessions
        assert sessions[0] == sessions[1] != sessions[2], sessions
        assert "its rotation period is over" in proc.stderr


def test_a_parked_message_survives_a_restart_and_is_answered_when_its_key_comes(tmp_path):
    """The message waits for its key across a restart of the bot: the key released while
    the bot is down arrives with the next sync and the parked message is answered once."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path,
                                        extra="HERMES_MATRIX_UNDECRYPTABLE_NOTICE_SECONDS=0\n")
        bot_id = bot["user_id"]

        async def scenario():
            human = await Human(hs.url, tmp_path / "nio").login()
            proc = Bot(home)
            try:
                assert proc.wait_for(r"uploaded this device's keys"), proc.stderr
                room_id = await human.encrypted_room([bot_id])
                control(hs.url, "POST", "/to_device/hold",
                        {"user_id": bot_id, "type": "m.room.encrypted"})
                await human.send(room_id, HELP)
                assert proc.wait_for(r"parked"), proc.stderr
                assert proc.stop() == 0
                control(hs.url, "POST", "/to_device/release",
                        {"user_id": bot_id, "type": "m.room.encrypted"})
                proc = Bot(home)
                answer, undecrypted = await human.read(room_id, bot_id, 1, contains=HELP)
                assert answer and not undecrypted, (undecrypted, proc.stderr)
                return room_id
            finally:
                proc.stop()
                await human.close()

        room_id = run(scenario())
        assert len(bot_messages(hs.url, room_id, bot_id)) == 1, "answered exactly once"

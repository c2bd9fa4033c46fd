"""The crypto store with the real binary, matrix-nio as the human and the dev
homeserver: restarts keep every key, two profiles keep apart devices and stores, and a
store that is not the device's stops the profile."""

import json
import sys

from conftest import SOURCE_DIR
from e2ee_support import (Bot, Human, api, bot_device_keys, bot_home, bot_messages,
                          hermes_and_human, register, run)

sys.path.insert(0, str(SOURCE_DIR))
from tests.devhs.launcher import Homeserver  # noqa: E402

HELP = "/help"  # answered without an agent backend: the reply lists the commands
RESTARTS = 20


def test_twenty_restarts_in_a_row_still_decrypt_old_and_new_messages(tmp_path):
    """The bot is stopped and started 20 times on the same store. Each time the human
    sends one message while it is down (an older key: the session the bot learnt before
    the restarts) and one once it is back; halfway the human starts a new Megolm session.
    Every message is answered, and every answer is readable."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path)
        bot_id = bot["user_id"]
        logs = []

        async def scenario():
            human = await Human(hs.url, tmp_path / "nio").login()
            proc = Bot(home)
            try:
                assert proc.wait_for(r"uploaded this device's keys"), proc.stderr
                room_id = await human.encrypted_room([bot_id])
                await human.send(room_id, HELP)
                answer, _ = await human.read(room_id, bot_id, 1, contains=HELP)
                assert answer, proc.stderr
                for i in range(RESTARTS):
                    assert proc.stop() == 0, proc.stderr
                    logs.append(proc.stderr)
                    if i == RESTARTS // 2:
                        human.client.invalidate_outbound_session(room_id)
                    await human.send(room_id, HELP)  # while the bot is down
                    proc = Bot(home)
                    assert proc.wait_for(r"running as"), proc.stderr
                    await human.send(room_id, HELP)  # once it is back
                    answers, undecrypted = await human.read(room_id, bot_id, 2, contains=HELP)
                    assert len(answers) == 2 and not undecrypted, (i, undecrypted, proc.stderr)
                return room_id
            finally:
                proc.stop()
                logs.append(proc.stderr)
                await human.close()

        room_id = run(scenario(), timeout=240)
        sent = bot_messages(hs.url, room_id, bot_id)
        assert all(e["type"] == "m.room.encrypted" for e in sent), sent
        assert len(sent) == 1 + 2 * RESTARTS, "every message answered exactly once"
        assert "cannot decrypt" not in "".join(logs)


def test_two_profiles_in_one_encrypted_room_each_use_their_own_device(tmp_path):
    """Two profiles in one process, both in the human's encrypted room: each answers
    with its own device keys from its own store, and the human reads both."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        one = register(hs.url, "hermes", "pw-hermes-1")
        two = register(hs.url, "hermes-coder", "pw-hermes-2")
        human_reg = register(hs.url, "human", "pw-human-1")
        home = bot_home(tmp_path / "home", hs.url, one["access_token"])
        bot_home(home / "profiles" / "coder", hs.url, two["access_token"])
        proc = Bot(home)

        async def scenario():
            human = await Human(hs.url, tmp_path / "nio").login()
            try:
                created = await human.client.room_create(
                    invite=[one["user_id"], two["user_id"]],
                    initial_state=[{"type": "m.room.encryption", "state_key": "",
                                    "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
                room_id = created.room_id
                await human.wait_members(room_id, [one["user_id"], two["user_id"]])
                await human.send(room_id, HELP)
                got = await human.read_each(room_id, [one["user_id"], two["user_id"]], 1,
                                            contains=HELP)
                return room_id, got
            finally:
                await human.close()

        try:
            assert proc.wait_for(r"running as"), proc.stderr
            assert proc.wait_for(r"running as"), proc.stderr
            room_id, got = run(scenario())
        finally:
            proc.stop()
        answers, undecrypted = got
        assert undecrypted == [], proc.stderr
        for bot_id, answer in answers.items():
            assert answer, (bot_id, proc.stderr)
        keys = [bot_device_keys(hs.url, human_reg["access_token"], b["user_id"], b["device_id"])
                for b in (one, two)]
        curves = [k["keys"][f"curve25519:{k['device_id']}"] for k in keys]
        assert curves[0] != curves[1]
        for bot, curve in zip((one, two), curves):
            sent = bot_messages(hs.url, room_id, bot["user_id"])
            assert sent and all(e["type"] == "m.room.encrypted" for e in sent), sent
            assert all(e["content"]["device_id"] == bot["device_id"] for e in sent)
            assert all(e["content"].get("sender_key", curve) == curve for e in sent)
        stores = [home / "platforms/matrix/hermes-matrix.db",
                  home / "profiles/coder/platforms/matrix/hermes-matrix.db"]
        assert all(s.exists() for s in stores)


def test_a_store_that_is_not_the_devices_stops_the_profile(tmp_path):
    """The server holds keys for the bot's device; a fresh store (a new Olm account for
    the same device id) must not overwrite them: the profile stops with device_mismatch."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path, human=False)
        first = Bot(home)
        try:
            assert first.wait_for(r"uploaded this device's keys", timeout=30), first.stderr
        finally:
            assert first.stop() == 0, first.stderr
        before = api(hs.url, "POST", "/keys/query", bot["access_token"],
                     {"device_keys": {bot["user_id"]: []}})
        for f in (home / "platforms" / "matrix").iterdir():
            if f.name.startswith("hermes-matrix.db"):
                f.unlink()
        second = Bot(home)
        try:
            assert second.wait_for(r"holds other keys for device", timeout=30), second.stderr
            assert second.wait_for(r"stopped: .*device", timeout=10), second.stderr
        finally:
            second.stop()
        assert "device_mismatch" in second.stderr or "stopped" in second.stderr
        after = api(hs.url, "POST", "/keys/query", bot["access_token"],
                    {"device_keys": {bot["user_id"]: []}})
        assert json.dumps(after["device_keys"], sort_keys=True) == \
            json.dumps(before["device_keys"], sort_keys=True), "the server's keys changed"


def test_a_device_added_while_the_bot_was_down_can_read_it(tmp_path):
    """The human logs in on a second device while the bot is stopped: the sync after the
    restart brings the device list change, and the new device reads the next answer."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path)
        bot_id = bot["user_id"]

        async def scenario():
            first = await Human(hs.url, tmp_path / "nio-1").login("first")
            second = None
            proc = Bot(home)
            try:
                assert proc.wait_for(r"uploaded this device's keys"), proc.stderr
                room_id = await first.encrypted_room([bot_id])
                await first.send(room_id, HELP)
                answer, _ = await first.read(room_id, bot_id, 1, contains=HELP)
                assert answer
                assert proc.stop() == 0
                second = await Human(hs.url, tmp_path / "nio-2").login("second")
                proc = Bot(home)
                assert proc.wait_for(r"running as"), proc.stderr
                await first.send(room_id, HELP)
                answer, undecrypted = await second.read(room_id, bot_id, 1, contains=HELP)
                assert answer and not undecrypted, (undecrypted, proc.stderr)
            finally:
                proc.stop()
                await first.close()
                if second:
                    await second.close()

        run(scenario())


def test_a_lost_sync_cursor_queries_every_device_list_again(tmp_path):
    """After M_UNKNOWN_POS the bot starts a fresh sync, which reports no device list
    changes: every list it tracks is queried again, and a device the human added
    meanwhile reads the next answer."""
    from e2ee_support import control
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
                control(hs.url, "POST", "/unknown_pos", {"user_id": bot_id})
                second = await Human(hs.url, tmp_path / "nio-2").login("second")
                assert proc.wait_for(r"a fresh sync: the device lists of \d+ user"), proc.stderr
                await first.send(room_id, HELP)
                answer, undecrypted = await second.read(room_id, bot_id, 1, contains=HELP)
                assert answer and not undecrypted, (undecrypted, proc.stderr)
            finally:
                await first.close()
                if second:
                    await second.close()

        try:
            assert proc.wait_for(r"uploaded this device's keys"), proc.stderr
            run(scenario())
        finally:
            proc.stop()

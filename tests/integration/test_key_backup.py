"""Server-side key backup (m.megolm_backup.v1.curve25519-aes-sha2) with
MATRIX_RECOVERY_KEY. The bot's account is set up the way Element sets it up: secret
storage under a recovery key, the backup's private key stored in it as the secret
m.megolm_backup.v1, and a backup version whose auth_data names the public key. The
backup is read back from the homeserver and decrypted with python3-olm's PkDecryption.

What happens when a store is lost: the server still holds the old device's keys, so a
fresh store for the same device id stops the profile (device_mismatch, see
test_e2ee_store.py); the way back is to log in again as a new device. That new device
starts with an empty store, and restores every room key from the backup."""

import base64
import hashlib
import hmac
import json
import os
import re
import stat
import sys
import time
import urllib.parse

import olm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from olm.pk import PkDecryption, PkEncryption, PkMessage, ffi, lib

from conftest import SOURCE_DIR, env_values
from e2ee_support import (Bot, Human, api, bot_home, bot_messages, control, hermes_and_human,
                          megolm_session_ids, run)
from test_e2ee_cross_signing import (B58, KEY_ID, encrypt_secret, recovery_key,
                                     set_up_secret_storage)

sys.path.insert(0, str(SOURCE_DIR))
from tests.devhs.launcher import Homeserver  # noqa: E402

HELP = "/help"  # answered without an agent backend
ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"


class Backup:
    """A backup key pair (python-olm) and what Element stores for it."""

    def __init__(self, private=None):
        self.private = private or os.urandom(32)
        self.decryption = PkDecryption()
        pub = ffi.new("char[]", lib.olm_pk_key_length())
        priv = ffi.new("char[]", self.private)
        assert lib.olm_pk_key_from_private(self.decryption._pk_decryption, pub,
                                           lib.olm_pk_key_length(), priv,
                                           len(self.private)) != lib.olm_error()
        self.public_key = ffi.unpack(pub, lib.olm_pk_key_length()).decode()
        self.secret = base64.b64encode(self.private).decode()

    def create_version(self, base, token):
        return api(base, "POST", "/room_keys/version", token,
                   {"algorithm": ALGORITHM, "auth_data": {"public_key": self.public_key}})["version"]

    def read(self, data):
        sd = data["session_data"]
        return json.loads(self.decryption.decrypt(
            PkMessage(sd["ephemeral"], sd["mac"], sd["ciphertext"])))


def set_up_key_backup(base, token, user_id):
    """What Element does when a user turns on key backup: secret storage under a new
    recovery key (made the default), the backup key stored in it, a backup version.
    Returns (recovery key text, the Backup)."""
    raw, put = set_up_secret_storage(base, token, user_id)
    backup = Backup()
    put("m.megolm_backup.v1",
        {"encrypted": {KEY_ID: encrypt_secret(raw, "m.megolm_backup.v1", backup.secret.encode())}})
    assert backup.create_version(base, token) == "1"
    return recovery_key(raw), backup


def backed_up(base, token, version="1"):
    """room → session id → (KeyBackupData, its decrypted SessionData) as the server holds it."""
    got = api(base, "GET", f"/room_keys/keys?version={version}", token)
    return {room: dict(r["sessions"]) for room, r in got["rooms"].items()}


def wait_backed_up(base, token, backup, room_id, session_ids, timeout=30):
    """The backup's sessions of `room_id` once it holds all of `session_ids`, decrypted."""
    deadline = time.time() + timeout
    sessions = {}
    while time.time() < deadline:
        sessions = backed_up(base, token).get(room_id, {})
        if all(s in sessions for s in session_ids):
            break
        time.sleep(0.3)
    return {sid: (data, backup.read(data)) for sid, data in sessions.items()}


async def ask_help(base, tmp_path, bot_id):
    """The person opens an encrypted DM with the bot and sends /help: (room, answer)."""
    human = await Human(base, tmp_path / "nio").login()
    try:
        room_id = await human.encrypted_room([bot_id])
        await human.send(room_id, HELP)
        answer, _ = await human.read(room_id, bot_id, 1, contains=HELP)
        return room_id, answer
    finally:
        await human.close()


def bot_with_backup(tmp_path, hs):
    """@hermes and @human registered, @hermes's account with a key backup set up as
    Element does, its home with MATRIX_RECOVERY_KEY: (registration, home, recovery key
    text, Backup)."""
    bot, _, _ = hermes_and_human(hs.url, tmp_path)
    key_text, backup = set_up_key_backup(hs.url, bot["access_token"], bot["user_id"])
    home = bot_home(tmp_path / "home", hs.url, bot["access_token"],
                    extra=f"MATRIX_RECOVERY_KEY={key_text}\n")
    return bot, home, key_text, backup


def assert_no_secrets(logs, home, key_text, backup):
    for value in env_values(home) | {key_text, key_text.replace(" ", ""), backup.secret,
                                     backup.secret.rstrip("=")}:
        assert value not in logs


def test_the_bot_backs_up_the_keys_it_receives_and_its_own(tmp_path):
    """The person's Megolm session (received over Olm) and the bot's own outbound one
    end up in the backup; python-olm decrypts both to sessions with the same ids."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, home, key_text, backup = bot_with_backup(tmp_path, hs)
        bot_id = bot["user_id"]
        proc = Bot(home)

        try:
            assert proc.wait_for(r"backing up room keys to key backup version 1"), proc.stderr
            room_id, answer = run(ask_help(hs.url, tmp_path, bot_id))
            assert answer, proc.stderr
            theirs = megolm_session_ids(hs.url, room_id, "@human:localhost")[-1]
            ours = megolm_session_ids(hs.url, room_id, bot_id)[-1]
            sessions = wait_backed_up(hs.url, bot["access_token"], backup, room_id,
                                      [theirs, ours])
        finally:
            proc.stop()
        logs = proc.stderr + "".join(p.read_text() for p in home.rglob("gateway.log"))
        assert theirs in sessions and ours in sessions, (sessions.keys(), logs)
        for sid, (data, plain) in sessions.items():
            assert plain["algorithm"] == "m.megolm.v1.aes-sha2"
            inbound = olm.InboundGroupSession.import_session(plain["session_key"])
            assert inbound.id == sid
            assert inbound.first_known_index == data["first_message_index"]
        # The bot's own session: created by its device, index 0, vouched for.
        device_keys = api(hs.url, "POST", "/keys/query", bot["access_token"],
                          {"device_keys": {bot_id: []}})["device_keys"][bot_id][bot["device_id"]]
        assert sessions[ours][1]["sender_key"] == device_keys["keys"][f"curve25519:{bot['device_id']}"]
        assert sessions[ours][0]["first_message_index"] == 0
        assert sessions[ours][0]["is_verified"] is True
        assert sessions[theirs][0]["is_verified"] is False
        assert_no_secrets(logs, home, key_text, backup)


def put_session_in_backup(base, token, backup, room_id, outbound, human_olm):
    """Another device of the bot's account (Element, say) had `outbound`'s key and
    backed it up: the SessionData encrypted to the backup's public key."""
    inbound = olm.InboundGroupSession(outbound.session_key)
    session_data = {"algorithm": "m.megolm.v1.aes-sha2",
                    "forwarding_curve25519_key_chain": [],
                    "sender_claimed_keys": {"ed25519": human_olm.account.identity_keys["ed25519"]},
                    "sender_key": human_olm.account.identity_keys["curve25519"],
                    "session_key": inbound.export_session(0)}
    msg = PkEncryption(backup.public_key).encrypt(json.dumps(session_data))
    room = urllib.parse.quote(room_id, safe="")
    session = urllib.parse.quote(outbound.id, safe="")
    api(base, "PUT", f"/room_keys/keys/{room}/{session}?version=1", token,
        {"first_message_index": 0, "forwarded_count": 0, "is_verified": False,
         "session_data": {"ephemeral": msg.ephemeral_key, "ciphertext": msg.ciphertext,
                          "mac": msg.mac}})


def test_a_missing_key_is_restored_from_the_backup_and_answered_once(tmp_path):
    """The person's room key never reaches the bot (the homeserver holds the bot's
    to-device messages), but the backup has it (another device of the bot's account
    backed it up): the bot takes it from there before asking other devices, answers,
    and the key arriving late over Olm answers nothing twice."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, home, key_text, backup = bot_with_backup(tmp_path, hs)
        bot_id = bot["user_id"]
        proc = Bot(home)

        async def scenario():
            human = await Human(hs.url, tmp_path / "nio").login()
            try:
                room_id = await human.encrypted_room([bot_id])
                control(hs.url, "POST", "/to_device/hold",
                        {"user_id": bot_id, "type": "m.room.encrypted"})
                if human.client.should_query_keys:
                    await human.client.keys_query()
                await human.client.share_group_session(room_id, ignore_unverified_devices=True)
                outbound = human.client.olm.outbound_group_sessions[room_id]
                put_session_in_backup(hs.url, bot["access_token"], backup, room_id, outbound,
                                      human.client.olm)
                await human.send(room_id, HELP)
                answer, undecrypted = await human.read(room_id, bot_id, 1, contains=HELP)
                assert answer, (undecrypted, proc.stderr)
                assert proc.wait_for(r"restored the key of Megolm session " + re.escape(outbound.id)), \
                    proc.stderr
                first = len(bot_messages(hs.url, room_id, bot_id))
                released = control(hs.url, "POST", "/to_device/release",
                                    {"user_id": bot_id, "type": "m.room.encrypted"})
                assert released["released"] >= 1
                assert proc.wait_for(r"received the key of Megolm session " + re.escape(outbound.id)), \
                    proc.stderr
                # A second message in the same session is answered after anything the
                # late key could have caused: each message has its answer, once.
                await human.send(room_id, HELP)
                again, _ = await human.read(room_id, bot_id, 1, contains=HELP)
                assert again, proc.stderr
                # Taken from the backup: no other device was asked for the key.
                from nio import RoomKeyRequest
                assert not [e for e in human.to_device
                            if isinstance(e, RoomKeyRequest) and e.sender == bot_id]
                return room_id, first
            finally:
                await human.close()

        try:
            assert proc.wait_for(r"backing up room keys to key backup version 1"), proc.stderr
            room_id, first = run(scenario())
            total = len(bot_messages(hs.url, room_id, bot_id))
        finally:
            proc.stop()
        assert first >= 1 and total == 2 * first, (first, total, proc.stderr)
        assert_no_secrets(proc.stderr, home, key_text, backup)


def test_a_new_device_with_an_empty_store_restores_every_key_from_the_backup(tmp_path):
    """The store is lost; the bot logs in again as a new device (the only way back: the
    old device's keys on the server are not this store's). Its empty store is filled
    from the backup at start, and nothing restored is uploaded again."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, home, key_text, backup = bot_with_backup(tmp_path, hs)
        bot_id = bot["user_id"]
        first = Bot(home)

        try:
            assert first.wait_for(r"backing up room keys to key backup version 1"), first.stderr
            room_id, answer = run(ask_help(hs.url, tmp_path, bot_id))
            assert answer, first.stderr
            wanted = [megolm_session_ids(hs.url, room_id, "@human:localhost")[-1],
                      megolm_session_ids(hs.url, room_id, bot_id)[-1]]
            before = wait_backed_up(hs.url, bot["access_token"], backup, room_id, wanted)
            assert all(s in before for s in wanted), first.stderr
        finally:
            assert first.stop() == 0, first.stderr
        for f in (home / "platforms" / "matrix").iterdir():
            if f.name.startswith("hermes-matrix.db"):
                f.unlink()
        login = api(hs.url, "POST", "/login", body={
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "hermes"},
            "password": "pw-hermes-1"})
        assert login["device_id"] != bot["device_id"]
        bot_home(tmp_path / "home", hs.url, login["access_token"],
                 extra=f"MATRIX_RECOVERY_KEY={key_text}\n")
        etag = api(hs.url, "GET", "/room_keys/version", login["access_token"])["etag"]
        second = Bot(home)
        try:
            assert second.wait_for(r"the store started empty: restored 2 of 2 room keys "
                                   r"from key backup version 1"), second.stderr
        finally:
            second.stop()
        for sid in wanted:
            assert f"restored the key of Megolm session {sid}" in second.stderr
        assert "backed up" not in second.stderr
        assert api(hs.url, "GET", "/room_keys/version", login["access_token"])["etag"] == etag
        assert_no_secrets(first.stderr + second.stderr, home, key_text, backup)


def test_a_wrong_recovery_key_is_logged_and_the_bot_keeps_answering(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, _ = hermes_and_human(hs.url, tmp_path)
        bot_id = bot["user_id"]
        set_up_key_backup(hs.url, bot["access_token"], bot_id)
        wrong = recovery_key(os.urandom(32))
        home = bot_home(tmp_path / "home", hs.url, bot["access_token"],
                        extra=f"MATRIX_RECOVERY_KEY={wrong}\n")
        proc = Bot(home)

        try:
            assert proc.wait_for(r"MATRIX_RECOVERY_KEY is not the key of this account's secret "
                                 r"storage: not backing up"), proc.stderr
            assert run(ask_help(hs.url, tmp_path, bot_id))[1], proc.stderr
        finally:
            proc.stop()
        assert backed_up(hs.url, bot["access_token"]) == {}
        assert wrong not in proc.stderr and wrong.replace(" ", "") not in proc.stderr


def test_a_backup_rotated_by_another_client_stops_the_backing_up_not_the_bot(tmp_path):
    """Another client replaces the backup with one under another key: the bot's next
    upload is refused (M_WRONG_ROOM_KEYS_VERSION), it reads the new version, finds it is
    not its key, says so and goes on answering, uploading nothing to it."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, home, key_text, backup = bot_with_backup(tmp_path, hs)
        bot_id = bot["user_id"]
        proc = Bot(home)

        try:
            assert proc.wait_for(r"backing up room keys to key backup version 1"), proc.stderr
            assert Backup().create_version(hs.url, bot["access_token"]) == "2"
            assert run(ask_help(hs.url, tmp_path, bot_id))[1], proc.stderr
            assert proc.wait_for(r"key backup version 1 is no longer the account's backup"), \
                proc.stderr
            assert proc.wait_for(r"uses another key: not backing up \(rotated by another "
                                 r"client\?\)"), proc.stderr
        finally:
            proc.stop()
        assert backed_up(hs.url, bot["access_token"], version="2") == {}
        assert_no_secrets(proc.stderr, home, key_text, backup)


def decode_recovery_key(text):
    """The 32 bytes of a recovery key (spec "Key representation"), checked."""
    n = 0
    for c in text.replace(" ", ""):
        n = n * 58 + B58.index(c)
    data = n.to_bytes(35, "big")
    parity = 0
    for b in data:
        parity ^= b
    assert data[:2] == bytes([0x8B, 0x01]) and parity == 0
    return data[2:34]


def secret_keys(key, name):
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=bytes(32), info=name.encode()).derive(key)
    return okm[:32], okm[32:]


def unpadded(b):
    return base64.b64encode(b).decode().rstrip("=")


def decrypt_secret(key, name, encrypted):
    aes, mac_key = secret_keys(key, name)
    ct = base64.b64decode(encrypted["ciphertext"])
    assert unpadded(hmac.new(mac_key, ct, hashlib.sha256).digest()) == encrypted["mac"].rstrip("=")
    dec = Cipher(algorithms.AES(aes), modes.CTR(base64.b64decode(encrypted["iv"]))).decryptor()
    return dec.update(ct) + dec.finalize()


def backup_from_secret_storage(base, token, user_id, key_text):
    """What Element does with a recovery key: the default key, the proof that the
    recovery key is that key (the MAC of 32 zero bytes), the backup key."""
    raw = decode_recovery_key(key_text)
    get = lambda t: api(base, "GET", f"/user/{user_id}/account_data/{t}", token)  # noqa: E731
    key_id = get("m.secret_storage.default_key")["key"]
    description = get(f"m.secret_storage.key.{key_id}")
    assert description["algorithm"] == "m.secret_storage.v1.aes-hmac-sha2"
    aes, mac_key = secret_keys(raw, "")
    zeros = Cipher(algorithms.AES(aes), modes.CTR(base64.b64decode(description["iv"]))) \
        .encryptor().update(bytes(32))
    assert unpadded(hmac.new(mac_key, zeros, hashlib.sha256).digest()) == \
        description["mac"].rstrip("=")
    stored = get("m.megolm_backup.v1")["encrypted"][key_id]
    secret = decrypt_secret(raw, "m.megolm_backup.v1", stored).decode()
    return Backup(base64.b64decode(secret + "=" * (-len(secret) % 4)))


def test_create_makes_a_backup_writes_its_recovery_key_once_and_reuses_it(tmp_path):
    """MATRIX_KEY_BACKUP=create without a recovery key: secret storage and a backup are
    made the way Element makes them, the recovery key is written once to a 0600 file
    (the log says where, never what), keys are uploaded, and the next start reads the
    file and backs up to the same backup."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, _, home = hermes_and_human(hs.url, tmp_path, extra="MATRIX_KEY_BACKUP=create\n")
        bot_id = bot["user_id"]
        key_file = home / "platforms" / "matrix" / "hermes-matrix.recovery-key"
        proc = Bot(home)

        try:
            assert proc.wait_for(r"creating a key backup: its recovery key is in "
                                 + re.escape(str(key_file))), proc.stderr
            assert proc.wait_for(r"backing up room keys to key backup version 1"), proc.stderr
            room_id, answer = run(ask_help(hs.url, tmp_path, bot_id))
            assert answer, proc.stderr
            key_text = key_file.read_text().strip()
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            backup = backup_from_secret_storage(hs.url, bot["access_token"], bot_id, key_text)
            version = api(hs.url, "GET", "/room_keys/version", bot["access_token"])
            assert version["auth_data"]["public_key"] == backup.public_key
            assert f"ed25519:{bot['device_id']}" in version["auth_data"]["signatures"][bot_id]
            theirs = megolm_session_ids(hs.url, room_id, "@human:localhost")[-1]
            sessions = wait_backed_up(hs.url, bot["access_token"], backup, room_id, [theirs])
            assert theirs in sessions, proc.stderr
        finally:
            proc.stop()
        written = key_file.stat().st_mtime_ns
        again = Bot(home)
        try:
            assert again.wait_for(r"backing up room keys to key backup version 1"), again.stderr
        finally:
            again.stop()
        assert "creating a key backup" not in again.stderr
        assert key_file.stat().st_mtime_ns == written and key_file.read_text().strip() == key_text
        assert api(hs.url, "GET", "/room_keys/version", bot["access_token"])["version"] == "1"
        logs = proc.stderr + again.stderr + "".join(p.read_text() for p in home.rglob("gateway.log"))
        assert key_text not in logs and key_text.replace(" ", "") not in logs
        assert backup.secret not in logs and backup.secret.rstrip("=") not in logs


def test_a_backup_the_homeserver_cannot_show_at_start_is_opened_later(tmp_path):
    """The homeserver fails the first /room_keys/version: the bot says so, goes on, and
    opens the backup when it asks again."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, home, key_text, backup = bot_with_backup(tmp_path, hs)
        control(hs.url, "POST", "/faults", {"user_id": bot["user_id"], "kind": "fail",
                                            "mode": "500", "count": 1,
                                            "path_contains": "/room_keys/version"})
        proc = Bot(home)
        try:
            assert proc.wait_for(r"cannot open the key backup \(.*\); trying again later"), \
                proc.stderr
            assert proc.wait_for(r"backing up room keys to key backup version 1", timeout=90), \
                proc.stderr
        finally:
            proc.stop()
        assert_no_secrets(proc.stderr, home, key_text, backup)


def test_messages_sent_while_the_store_was_lost_are_answered_once_after_the_restore(tmp_path):
    """The bot's store is lost while the person goes on writing. The bot comes back as a
    new device (logged in again) and fills its empty store from the backup: the message
    sent meanwhile, in the Megolm session the backup holds, is read and answered once;
    the one answered before the loss is not answered again."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot, home, key_text, backup = bot_with_backup(tmp_path, hs)
        bot_id = bot["user_id"]
        procs = []

        async def scenario():
            human = await Human(hs.url, tmp_path / "nio").login()
            try:
                procs.append(Bot(home))
                assert procs[0].wait_for(r"backing up room keys to key backup version 1"), \
                    procs[0].stderr
                room_id = await human.encrypted_room([bot_id])
                await human.send(room_id, HELP)
                assert (await human.read(room_id, bot_id, 1, contains=HELP))[0], procs[0].stderr
                session = megolm_session_ids(hs.url, room_id, "@human:localhost")[-1]
                assert session in wait_backed_up(hs.url, bot["access_token"], backup, room_id,
                                                 [session])
                assert procs[0].stop() == 0, procs[0].stderr
                per_answer = len(bot_messages(hs.url, room_id, bot_id))
                for f in (home / "platforms" / "matrix").iterdir():
                    if f.name.startswith("hermes-matrix.db"):
                        f.unlink()

                # Written while the bot is gone, in the session the backup holds.
                await human.send(room_id, HELP)
                assert megolm_session_ids(hs.url, room_id, "@human:localhost")[-1] == session

                login = api(hs.url, "POST", "/login", body={
                    "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "hermes"},
                    "password": "pw-hermes-1"})
                bot_home(tmp_path / "home", hs.url, login["access_token"],
                         extra=f"MATRIX_RECOVERY_KEY={key_text}\n")
                procs.append(Bot(home))
                assert (await human.read(room_id, bot_id, 1, contains=HELP))[0], procs[1].stderr
                assert f"restored the key of Megolm session {session}" in procs[1].stderr \
                    or procs[1].wait_for(r"restored the key of Megolm session " + re.escape(session))
                # A later message is answered after it: each message has had its answer, once.
                await human.send(room_id, HELP)
                assert (await human.read(room_id, bot_id, 1, contains=HELP))[0], procs[1].stderr
                assert len(bot_messages(hs.url, room_id, bot_id)) == 3 * per_answer, procs[1].stderr
            finally:
                await human.close()

        try:
            run(scenario(), timeout=180)
        finally:
            for p in procs:
                p.stop()
        assert_no_secrets("".join(p.stderr for p in procs), home, key_text, backup)

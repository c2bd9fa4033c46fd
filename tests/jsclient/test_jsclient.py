"""matrix-js-sdk with its Rust crypto (what Element runs) as the person, on the dev
homeserver: secret storage and key backup set up as Element sets them up and restored on a
new device with the recovery key (also the bot's backup, with the keys the bot uploaded);
emoji verification in a DM and between two devices of one user; and an encrypted DM with
the bot. Without the npm packages every test fails and says how to install them (./dev
test does)."""

import json
import re
import urllib.request

import pytest

from fixtures import *  # noqa: F401,F403 (the fixtures npm_packages and hs)
from fixtures import nio_warnings
from person import JsPerson

pytestmark = nio_warnings

BACKUP_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"


@pytest.fixture
def people(tmp_path, hs):
    """people(localpart): a logged-in js-sdk person (registered on first use); each call a
    new device. All are stopped at the end."""
    started, registered = [], set()

    def person(localpart):
        password = f"pw-{localpart}-1"
        if localpart not in registered:
            register(hs.url, localpart, password)
            registered.add(localpart)
        p = JsPerson(hs.url, localpart, password, tmp_path / "logs")
        started.append(p)
        p.login()
        return p
    yield person
    for p in started:
        p.close()


def register(base, user, password):
    req = urllib.request.Request(
        base + "/_matrix/client/v3/register", method="POST",
        data=json.dumps({"username": user, "password": password,
                         "auth": {"type": "m.login.dummy"}}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def server_events(base, room_id):
    with urllib.request.urlopen(f"{base}/_devhs/rooms/{room_id}/events", timeout=10) as resp:
        return json.loads(resp.read())["events"]


def dm(a, b):
    """An encrypted DM a opens with b (as Element does), b joined; its room id."""
    room = a.create_dm(b.user_id)
    b.join(room)  # the invite is on the server once createRoom has answered
    a.wait_joined(room, b.user_id)
    return room


def sas(initiator, responder):
    """The emoji comparison once a request is out: the responder accepts, the initiator
    starts the SAS, both see the emoji; both emoji lists."""
    responder.accept_verification()
    initiator.wait_for_phase("Ready")
    initiator.start_sas()
    return initiator.wait_for_emoji(), responder.wait_for_emoji()


def ask_bot_help(human, bot_id):
    """`human` logs in, opens an encrypted DM with the bot and sends /help: the room and
    the bot's answer, decrypted."""
    human.login()
    room = human.create_dm(bot_id)
    human.wait_joined(room, bot_id)
    human.send_text(room, "/help")
    answer = human.wait_for_text(
        room, lambda t: t["sender"] == bot_id and t["body"] and not t["decryption_failed"])
    return room, answer


def test_backup_set_up_as_element_does_restores_on_a_new_device(hs, people):
    doru, friend = people("doru"), people("friend")
    recovery_key = doru.bootstrap()
    # As Element shows it: 48 base58 characters in groups of four.
    assert re.fullmatch(r"([1-9A-HJ-NP-Za-km-z]{4} ){11}[1-9A-HJ-NP-Za-km-z]{4}", recovery_key)
    state = doru.cross_signing()
    assert state["ready"] and state["secret_storage_ready"], state
    assert state["status"]["privateKeysInSecretStorage"], state
    backup = doru.backup_info()
    assert backup["algorithm"] == BACKUP_ALGORITHM and backup["active_version"] == backup["version"]

    room = dm(doru, friend)
    texts = [f"kept in the backup {i}" for i in range(3)]
    for text in texts:
        doru.send_text(room, text)
    friend.wait_for_text(room, lambda t: t["body"] == texts[-1])
    sessions = {e["content"]["session_id"] for e in server_events(hs.url, room)
                if e["sender"] == doru.user_id and e["type"] == "m.room.encrypted"}
    assert sessions
    # Every Megolm session doru sent with reaches the backup.
    doru.wait("its sessions in the backup",
              lambda: sessions <= set(doru.backup_info()["sessions"].get(room, [])))

    # A new login of doru (a new device, empty store) cannot read them yet...
    again = people("doru")
    assert again.device_id != doru.device_id
    for text in texts:
        assert not any(t["body"] == text for t in again.texts(room))
    # ...until the recovery key opens secret storage and the backup is restored.
    restored = again.restore_backup(recovery_key)
    assert restored["imported"] >= len(sessions) and restored["total"] >= len(sessions), restored
    for text in texts:
        again.wait_for_text(room, lambda t, text=text: t["body"] == text and not t["decryption_failed"])
    # The recovery key also cross-signed the new device, as Element's "Verify with recovery key".
    assert again.device_verified(doru.user_id, again.device_id)["signed_by_owner"]
    assert friend.wait("the new device as doru's",
                       lambda: friend.device_verified(doru.user_id, again.device_id).get("signed_by_owner"))


def test_emoji_verification_in_a_dm_between_two_people(people):
    ana, ben = people("ana"), people("ben")
    ana.bootstrap()
    ben.bootstrap()
    room = dm(ana, ben)
    assert not ana.user_verified(ben.user_id)["verified"]

    ana.request_verification(ben.user_id, room_id=room)
    request = ben.wait_for_request()
    assert request["from_user"] == ana.user_id and request["room_id"] == room, request
    ana_emoji, ben_emoji = sas(ana, ben)
    assert len(ana_emoji) == 7 and ana_emoji == ben_emoji
    assert ana.verification()["decimals"] == ben.verification()["decimals"]
    ana.confirm()
    ben.confirm()
    for person in (ana, ben):
        assert person.wait_for_phase("Done", "Cancelled")["phase"] == "Done"
    # Each signs the other's master key with their user-signing key; trusted once that
    # signature is back from the server (a keys/query after the upload).
    ana.wait("ben verified", lambda: ana.user_verified(ben.user_id)["cross_signing_verified"])
    ben.wait("ana verified", lambda: ben.user_verified(ana.user_id)["cross_signing_verified"])
    assert ana.device_verified(ben.user_id, ben.device_id)["cross_signing_verified"]


def test_emoji_verification_between_two_devices_of_one_person(hs, people):
    first = people("cleo")
    first.bootstrap()
    second = people("cleo")
    assert not second.device_verified(first.user_id, second.device_id)["signed_by_owner"]
    first.wait_knows_device(first.user_id, second.device_id)
    second.wait_knows_device(first.user_id, first.device_id)

    second.request_verification(first.user_id, device_id=first.device_id)
    request = first.wait_for_request()
    assert request["from_device"] == second.device_id and request["room_id"] is None, request
    first_emoji, second_emoji = sas(second, first)
    assert len(first_emoji) == 7 and first_emoji == second_emoji
    first.confirm()
    second.confirm()
    for device in (first, second):
        assert device.wait_for_phase("Done", "Cancelled")["phase"] == "Done"
    # Each trusts the other: the first device signs the new one with the self-signing key
    # (trusted once that signature is back from the server), and the new one receives the
    # private cross-signing keys (secret sharing after the verification).
    first.wait("the new device cross-signed",
               lambda: first.device_verified(first.user_id, second.device_id)["cross_signing_verified"])
    second.wait("the first device trusted",
                lambda: second.device_verified(first.user_id, first.device_id)["cross_signing_verified"])
    second.wait("the self-signing key",
                lambda: second.cross_signing()["status"]["privateKeysCachedLocally"]["selfSigningKey"])
    with urllib.request.urlopen(f"{hs.url}/_devhs/requests?user_id={first.user_id}", timeout=10) as resp:
        counts = json.loads(resp.read())[first.user_id]
    assert counts.get("PUT /sendToDevice/{type}/{txnId}"), counts


def test_emoji_mismatch_cancels_on_both_sides(people):
    first = people("dana")
    first.bootstrap()
    second = people("dana")
    first.wait_knows_device(first.user_id, second.device_id)
    second.wait_knows_device(first.user_id, first.device_id)
    second.request_verification(first.user_id, device_id=first.device_id)
    first.wait_for_request()
    sas(second, first)
    first.mismatch()
    for device in (first, second):
        state = device.wait_for_phase("Done", "Cancelled")
        assert state["phase"] == "Cancelled" and state["cancel_code"] == "m.mismatched_sas", state
    assert not first.device_verified(first.user_id, second.device_id)["cross_signing_verified"]


def test_an_encrypted_dm_with_the_bot_is_answered(tmp_path, hs):
    from e2ee_support import Bot, bot_messages, hermes_and_human

    bot, _, home = hermes_and_human(hs.url, tmp_path)
    proc = Bot(home)
    human = None
    try:
        assert proc.wait_for(r"running as"), proc.stderr
        human = JsPerson(hs.url, "human", "pw-human-1", tmp_path / "logs")
        room, answer = ask_bot_help(human, bot["user_id"])
        from_bot = bot_messages(hs.url, room, bot["user_id"])
    finally:
        if human:
            human.close()
        proc.stop()
    assert answer["encrypted"], answer
    assert from_bot and all(e["type"] == "m.room.encrypted" for e in from_bot), from_bot
    assert answer["body"] not in json.dumps(server_events(hs.url, room))

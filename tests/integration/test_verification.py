"""SAS verification of the bot's device (m.sas.v1) with matrix-nio as the person: nio
starts it to-device, the operator compares the emoji through `hermes-matrix verify`
(or the admin API) and confirms, rejects or lets it time out; a stranger is declined;
the bot keeps answering messages while a verification is open; an in-room request in an
encrypted DM (as Element sends it) goes to the verification, never to the agent."""

import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import BINARY, SOURCE_DIR
from e2ee_support import Bot, Human, api, hermes_and_human, register, run

sys.path.insert(0, str(SOURCE_DIR))
from tests.devhs.launcher import Homeserver  # noqa: E402


def admin_url(bot):
    found = re.findall(r"admin API listening on (http://\S+)", bot.stderr)
    assert found, bot.stderr
    return found[-1]


def verifications(url, home):
    token = (home / "hermes-matrix" / "admin-token").read_text().strip()
    req = urllib.request.Request(url + "/v1/profiles/default/verifications",
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
    assert body.get("profile") == "default", body
    return body["verifications"]


def verify(url, home, *args, stdin=None, timeout=60):
    return subprocess.Popen([BINARY, "verify", "--profile", "default", "--admin-url", url,
                             "--hermes-home", str(home), *args],
                            stdin=stdin if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class World:
    """The homeserver, the bot running for @human, and where its admin API is."""

    def __init__(self, hs, tmp_path, agent=None):
        extra = f"GATEWAY_PROXY_URL={agent.url}\n" if agent else ""
        self.bot_reg, _, self.home = hermes_and_human(hs.url, tmp_path, extra=extra)
        self.bot_id = self.bot_reg["user_id"]
        self.device_id = self.bot_reg["device_id"]
        self.bot = Bot(self.home)
        assert self.bot.wait_for(r"running as"), self.bot.stderr
        self.url = admin_url(self.bot)


def as_human(hs, tmp_path, world, act, user="human", password="pw-human-1"):
    """Runs `act(human)` with `user` logged in on a nio device; the bot is stopped after."""
    async def scenario():
        human = await Human(hs.url, tmp_path / f"nio-{user}", user=user,
                            password=password).login()
        try:
            return await act(human)
        finally:
            await human.close()
    try:
        return run(scenario())
    finally:
        world.bot.stop()


async def start_verification(human, world):
    """@human's nio starts a to-device verification with the bot's device; returns its
    SAS once both keys are exchanged (the emoji are there on nio's side)."""
    room_id = await human.encrypted_room([world.bot_id])
    if human.client.should_query_keys:
        await human.client.keys_query()
    device = human.client.device_store[world.bot_id][world.device_id]
    await human.client.start_key_verification(device)
    (txn, sas), = human.client.key_verifications.items()
    deadline = time.time() + 30
    while time.time() < deadline and not sas.other_key_set:
        await human.sync()
        await human.client.send_to_device_messages()
    assert sas.other_key_set, world.bot.stderr
    return room_id, txn, sas


async def bot_flow(world, txn, state="keys_exchanged", timeout=20):
    """The flow as the admin API shows it, once it reached `state`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for v in verifications(world.url, world.home):
            if v["flow_id"] == txn and v["state"] == state:
                return v
        time.sleep(0.2)
    raise AssertionError(f"{txn} never reached {state}: {verifications(world.url, world.home)}")


async def cancel_code_seen(human, txn, timeout=20):
    from nio import KeyVerificationCancel
    deadline = time.time() + timeout
    while time.time() < deadline:
        for ev in human.to_device:
            if isinstance(ev, KeyVerificationCancel) and ev.transaction_id == txn:
                return ev.code
        await human.sync()
    return None


def test_confirmed_by_the_verify_command_verifies_both_sides(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        world = World(hs, tmp_path)

        async def act(human):
            _, txn, sas = await start_verification(human, world)
            theirs = [symbol for symbol, _ in sas.get_emoji()]
            shown = await bot_flow(world, txn)
            assert [e["symbol"] for e in shown["emoji"]] == theirs
            assert shown["decimals"] == list(sas.get_decimals())
            assert shown["user_id"] == "@human:localhost"
            assert shown["transport"] == "to_device"
            # The person says they match on their side; the operator runs verify.
            await human.client.confirm_short_auth_string(txn)
            proc = verify(world.url, world.home, "--confirm")
            deadline = time.time() + 40
            while time.time() < deadline and (proc.poll() is None or not sas.verified):
                await human.sync(200)
                await human.client.send_to_device_messages()
            out, err = proc.communicate(timeout=10)
            assert proc.returncode == 0, out + err
            for symbol in theirs:
                assert symbol in out, out
            assert "Verified @human:localhost's device" in out, out
            assert sas.verified
            assert human.client.device_store[world.bot_id][world.device_id].verified
            done = await bot_flow(world, txn, "done")
            assert done["emoji"] == [], "a finished flow shows no emoji"
            assert world.bot.wait_for(r"verified @human:localhost's device", timeout=10), \
                world.bot.stderr
            # nio MACs no master key: nothing to sign, and the log says so.
            assert world.bot.wait_for(r"did not include their master key", timeout=5), \
                world.bot.stderr

        as_human(hs, tmp_path, world, act)
        # The operator saw the emoji in the log too, with the command to run.
        assert re.search(r"compare .*then run `hermes-matrix verify --profile default",
                         world.bot.stderr), world.bot.stderr


@pytest.mark.parametrize("answer", ["--reject", "n"])
def test_rejected_by_the_verify_command_cancels_with_mismatched_sas(tmp_path, answer):
    """Rejected for a script (--reject: done as asked, exit 0) or at the prompt (exit 1:
    not verified)."""
    with Homeserver(str(tmp_path / "hs")) as hs:
        world = World(hs, tmp_path)

        async def act(human):
            _, txn, sas = await start_verification(human, world)
            await bot_flow(world, txn)
            # `status` shows the flow waiting for the operator, with its emoji.
            status = subprocess.run([BINARY, "status", "--admin-url", world.url,
                                     "--hermes-home", str(world.home)],
                                    capture_output=True, text=True, timeout=30)
            assert status.returncode == 0, status.stderr
            row = [line for line in status.stdout.splitlines() if txn in line]
            assert len(row) == 1, status.stdout
            assert "keys_exchanged" in row[0] and "@human:localhost" in row[0], row
            assert sas.get_emoji()[0][0] in row[0], row
            if answer == "--reject":
                proc = verify(world.url, world.home, "--reject")
                out, err = proc.communicate(timeout=30)
            else:
                proc = verify(world.url, world.home, stdin=subprocess.PIPE)
                out, err = proc.communicate(answer + "\n", timeout=30)
                assert "Do they match? [y/N]" in out, out
            assert proc.returncode == (0 if answer == "--reject" else 1), out + err
            assert "m.mismatched_sas" in out, out
            assert await cancel_code_seen(human, txn) == "m.mismatched_sas"
            await bot_flow(world, txn, "cancelled")

        as_human(hs, tmp_path, world, act)


def test_no_answer_in_time_cancels_with_m_timeout_and_messages_are_still_answered(tmp_path):
    from harness import AgentDouble
    agent = AgentDouble()
    try:
        agent.script({"reply": "still here"})
        with Homeserver(str(tmp_path / "hs")) as hs:
            world = World(hs, tmp_path, agent)

            async def act(human):
                room_id, txn, _ = await start_verification(human, world)
                await bot_flow(world, txn)
                # A message while the verification is open gets its answer.
                await human.send(room_id, "are you there?")
                bodies, _ = await human.read(room_id, world.bot_id, 1, timeout=40,
                                             contains="still here")
                assert bodies, world.bot.stderr
                # The operator's terminal stays open and silent.
                proc = verify(world.url, world.home, "--timeout", "2", stdin=subprocess.PIPE)
                # Its stdin stays open (communicate() would close it).
                proc.wait(timeout=30)
                out, err = proc.stdout.read(), proc.stderr.read()
                proc.stdin.close()
                assert proc.returncode == 1, out + err
                assert "Do they match? [y/N]" in out, out
                assert "m.timeout" in err, err
                assert await cancel_code_seen(human, txn) == "m.timeout"
                await bot_flow(world, txn, "cancelled")

            as_human(hs, tmp_path, world, act)
            # The verification never reached the agent: one request, the message's.
            prompts = json.dumps(agent.requests())
            assert "m.key.verification" not in prompts
            assert len(agent.requests()) == 1, prompts
    finally:
        agent.stop()


def test_a_stranger_is_declined_and_nothing_is_shown(tmp_path):
    from nio.crypto import OlmDevice
    with Homeserver(str(tmp_path / "hs")) as hs:
        world = World(hs, tmp_path)
        register(hs.url, "stranger", "pw-stranger-1")

        async def act(stranger):
            keys = api(hs.url, "POST", "/keys/query", stranger.client.access_token,
                       {"device_keys": {world.bot_id: []}})
            k = keys["device_keys"][world.bot_id][world.device_id]["keys"]
            device = OlmDevice(world.bot_id, world.device_id,
                               {"ed25519": k[f"ed25519:{world.device_id}"],
                                "curve25519": k[f"curve25519:{world.device_id}"]})
            await stranger.client.start_key_verification(device)
            (txn, _), = stranger.client.key_verifications.items()
            assert await cancel_code_seen(stranger, txn) == "m.user"
            assert world.bot.wait_for(r"declined a verification request from "
                                      r"@stranger:localhost", timeout=10), world.bot.stderr
            assert verifications(world.url, world.home) == []

        as_human(hs, tmp_path, world, act, user="stranger", password="pw-stranger-1")


def test_an_in_room_request_in_an_encrypted_dm_goes_to_verification_not_the_agent(tmp_path):
    """Element's way in a DM: the request is a room message (encrypted there); the bot
    answers ready in the room, the agent never sees it, and the person's cancel ends it."""
    from harness import AgentDouble
    from nio import RoomSendResponse
    agent = AgentDouble()
    try:
        with Homeserver(str(tmp_path / "hs")) as hs:
            world = World(hs, tmp_path, agent)

            async def act(human):
                room_id = await human.encrypted_room([world.bot_id])
                sent = await human.client.room_send(
                    room_id, "m.room.message",
                    {"msgtype": "m.key.verification.request", "body": "verify?",
                     "to": world.bot_id, "from_device": human.client.device_id,
                     "methods": ["m.sas.v1"]},
                    ignore_unverified_devices=True)
                assert isinstance(sent, RoomSendResponse), sent
                flow = await bot_flow(world, sent.event_id, "ready_sent")
                assert flow["transport"] == "in_room" and flow["room_id"] == room_id, flow
                # The ready went into the room, encrypted, related to the request.
                ready = None
                deadline = time.time() + 20
                while ready is None and time.time() < deadline:
                    resp = await human.sync()
                    joined = resp.rooms.join.get(room_id) if hasattr(resp, "rooms") else None
                    for ev in (joined.timeline.events if joined else []):
                        source = getattr(ev, "source", {})
                        if ev.sender == world.bot_id \
                                and source.get("type") == "m.key.verification.ready":
                            ready = source
                assert ready is not None, world.bot.stderr
                assert ready["content"]["m.relates_to"]["event_id"] == sent.event_id
                # The person gives up; the bot logs their code.
                await human.client.room_send(
                    room_id, "m.key.verification.cancel",
                    {"code": "m.user", "reason": "changed my mind",
                     "m.relates_to": {"rel_type": "m.reference", "event_id": sent.event_id}},
                    ignore_unverified_devices=True)
                await bot_flow(world, sent.event_id, "cancelled")
                assert world.bot.wait_for(r"@human:localhost cancelled verification .*m\.user "
                                          r"\(changed my mind\)", timeout=10), world.bot.stderr
                return sent.event_id

            request_id = as_human(hs, tmp_path, world, act)
            assert agent.requests() == [], "a verification request reached the agent"
            # The journal holds both events once each, handled as verification.
            db = sqlite3.connect(world.home / "platforms" / "matrix" / "hermes-matrix.db")
            rows = db.execute("SELECT event_id, outcome FROM journal").fetchall()
            db.close()
            assert rows.count((request_id, "verification")) == 1, rows
            assert [o for e, o in rows if e.startswith("$")] == ["verification"] * 2, rows
    finally:
        agent.stop()

"""Self-test of the dev homeserver, driven by matrix-nio as a real client (and by
raw HTTP where the exact status, header or body matters)."""

import asyncio
import functools
import time
import uuid

from nio import (AsyncClient, AsyncClientConfig, InviteMemberEvent, JoinResponse, LoginResponse,
                 MegolmEvent, RegisterResponse, RoomCreateResponse, RoomMessageText,
                 RoomSendResponse, SyncResponse, ToDeviceMessage)
from nio.responses import WhoamiResponse

from .conftest import raw_session


def run_async(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 45))
    return wrapper


def name(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def nio_user(hs, prefix, store_path=None, device_id=None):
    """A registered and logged-in nio client (with olm when store_path is given)."""
    user = name(prefix)
    config = AsyncClientConfig(encryption_enabled=store_path is not None, store_sync_tokens=False,
                               max_limit_exceeded=0)
    reg = AsyncClient(hs.url, user)
    assert isinstance(await reg.register(user, "secret"), RegisterResponse)
    await reg.close()
    client = AsyncClient(hs.url, f"@{user}:localhost", device_id=device_id,
                         store_path=store_path or "", config=config)
    assert isinstance(await client.login("secret", device_name="test"), LoginResponse)
    return client


def joined_events(resp, room_id):
    room = resp.rooms.join.get(room_id)
    return room.timeline.events if room else []


@run_async
async def test_register_login_whoami(hs):
    client = await nio_user(hs, "who", device_id="FIXEDDEV")
    who = await client.whoami()
    assert isinstance(who, WhoamiResponse)
    assert who.user_id == client.user_id and client.device_id == "FIXEDDEV"
    raw, session = await raw_session(hs.url)
    raw.token = client.access_token
    assert (await raw.ok("GET", "/account/whoami"))["device_id"] == "FIXEDDEV"
    # Logging in again on the same device keeps it and retires the older token.
    old = client.access_token
    assert isinstance(await client.login("secret"), LoginResponse) and client.device_id == "FIXEDDEV"
    status, body, _ = await raw.call("GET", "/account/whoami", token=old)
    assert status == 401 and body["errcode"] == "M_UNKNOWN_TOKEN"
    await session.close()
    await client.close()


@run_async
async def test_room_invite_join_send_and_long_poll(hs):
    alice, bob = await nio_user(hs, "alice"), await nio_user(hs, "bob")
    created = await alice.room_create(name="chat", invite=[bob.user_id], is_direct=True)
    assert isinstance(created, RoomCreateResponse)
    room_id = created.room_id

    first = await bob.sync(timeout=0)
    invite = first.rooms.invite[room_id]
    member = [e for e in invite.invite_state if isinstance(e, InviteMemberEvent)]
    assert member and member[0].sender == alice.user_id and member[0].membership == "invite"
    assert isinstance(await bob.join(room_id), JoinResponse)
    joined = await bob.sync(timeout=0)
    assert room_id in joined.rooms.join

    # A long-poll wakes up when the message arrives, long before its timeout.
    poll = asyncio.create_task(bob.sync(timeout=20000))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hello"})
    assert isinstance(sent, RoomSendResponse)
    got = await poll
    assert time.monotonic() - started < 5
    bodies = [e.body for e in joined_events(got, room_id) if isinstance(e, RoomMessageText)]
    assert bodies == ["hello"]

    # A sync with nothing new waits for its timeout and returns the same position.
    started = time.monotonic()
    quiet = await bob.sync(timeout=500)
    assert time.monotonic() - started >= 0.45 and quiet.next_batch == got.next_batch
    assert (await bob.joined_rooms()).rooms == [room_id]
    await alice.close()
    await bob.close()


@run_async
async def test_txn_dedup_and_server_side_event_list(hs):
    alice = await nio_user(hs, "dedup")
    room_id = (await alice.room_create(name="dedup")).room_id
    content = {"msgtype": "m.notice", "body": "once"}
    first = await alice.room_send(room_id, "m.room.message", content, tx_id="txn-1")
    again = await alice.room_send(room_id, "m.room.message", content, tx_id="txn-1")
    assert first.event_id == again.event_id
    raw, session = await raw_session(hs.url)
    events = (await raw.ok("GET", f"/_devhs/rooms/{room_id}/events"))["events"]
    sent = [e for e in events if e["type"] == "m.room.message"]
    assert len(sent) == 1 and sent[0]["content"] == content and sent[0]["txn_id"] == "txn-1"
    # The sending device sees its transaction id; the event is readable by id.
    raw.token = alice.access_token
    ev = await raw.ok("GET", f"/rooms/{room_id}/event/{first.event_id}")
    assert ev["unsigned"]["transaction_id"] == "txn-1"
    await session.close()
    await alice.close()


@run_async
async def test_typing_and_receipts(hs):
    alice, bob = await nio_user(hs, "typa"), await nio_user(hs, "typb")
    room_id = (await alice.room_create(invite=[bob.user_id])).room_id
    await bob.join(room_id)
    await bob.sync(timeout=0)
    sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi"})
    await alice.room_typing(room_id, True, timeout=10000)
    await alice.update_receipt_marker(room_id, sent.event_id)
    resp = await bob.sync(timeout=0)
    ephemeral = resp.rooms.join[room_id].ephemeral
    typing = [e for e in ephemeral if type(e).__name__ == "TypingNoticeEvent"]
    receipts = [e for e in ephemeral if type(e).__name__ == "ReceiptEvent"]
    assert typing and typing[0].users == [alice.user_id]
    assert receipts and receipts[0].receipts[0].event_id == sent.event_id
    await alice.room_typing(room_id, False)
    resp = await bob.sync(timeout=0)
    typing = [e for e in resp.rooms.join[room_id].ephemeral if type(e).__name__ == "TypingNoticeEvent"]
    assert typing and typing[0].users == []
    await alice.close()
    await bob.close()


@run_async
async def test_to_device_delivered_until_acknowledged(hs):
    alice = await nio_user(hs, "tda")
    raw, session = await raw_session(hs.url)
    bob, bob_reg = await raw.register(name("tdb"))
    base = (await bob.ok("GET", "/sync"))["next_batch"]
    message = ToDeviceMessage("org.example.ping", bob_reg["user_id"], bob_reg["device_id"], {"n": 1})
    await alice.to_device(message, tx_id="td-1")
    await alice.to_device(message, tx_id="td-1")  # retransmission: not queued again
    first = await bob.ok("GET", "/sync", since=base)
    assert first["to_device"]["events"] == [{"sender": alice.user_id, "type": "org.example.ping",
                                             "content": {"n": 1}}]
    # Not acknowledged yet: the same since delivers it again.
    again = await bob.ok("GET", "/sync", since=base)
    assert len(again["to_device"]["events"]) == 1
    # Syncing from the batch that carried it acknowledges it.
    after = await bob.ok("GET", "/sync", since=first["next_batch"])
    assert after["to_device"]["events"] == []
    await session.close()
    await alice.close()


@run_async
async def test_key_upload_query_claim_and_device_lists(hs):
    raw, session = await raw_session(hs.url)
    alice, alice_reg = await raw.register(name("ka"))
    bob, bob_reg = await raw.register(name("kb"))
    room_id = (await alice.ok("POST", "/createRoom", {"invite": [bob_reg["user_id"]]}))["room_id"]
    await bob.ok("POST", f"/join/{room_id}")
    since = (await alice.ok("GET", "/sync"))["next_batch"]

    device_keys = {"user_id": bob_reg["user_id"], "device_id": bob_reg["device_id"],
                   "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
                   "keys": {f"curve25519:{bob_reg['device_id']}": "cKey",
                            f"ed25519:{bob_reg['device_id']}": "eKey"},
                   "signatures": {bob_reg["user_id"]: {f"ed25519:{bob_reg['device_id']}": "sig"}}}
    up = await bob.ok("POST", "/keys/upload", {
        "device_keys": device_keys,
        "one_time_keys": {"signed_curve25519:A1": {"key": "k1"}, "signed_curve25519:A2": {"key": "k2"}},
        "fallback_keys": {"signed_curve25519:F1": {"key": "fb", "fallback": True}}})
    assert up["one_time_key_counts"]["signed_curve25519"] == 2

    changed = await alice.ok("GET", "/sync", since=since, timeout="5000")
    assert bob_reg["user_id"] in changed["device_lists"]["changed"]
    keys_changes = await alice.ok("GET", "/keys/changes", **{"from": since, "to": changed["next_batch"]})
    assert bob_reg["user_id"] in keys_changes["changed"]

    query = await alice.ok("POST", "/keys/query", {"device_keys": {bob_reg["user_id"]: []}})
    got = query["device_keys"][bob_reg["user_id"]][bob_reg["device_id"]]
    assert got["keys"] == device_keys["keys"] and got["signatures"] == device_keys["signatures"]

    want = {"one_time_keys": {bob_reg["user_id"]: {bob_reg["device_id"]: "signed_curve25519"}}}
    claimed = [(await alice.ok("POST", "/keys/claim", want))["one_time_keys"][bob_reg["user_id"]]
               [bob_reg["device_id"]] for _ in range(3)]
    assert [list(c) for c in claimed] == [["signed_curve25519:A1"], ["signed_curve25519:A2"],
                                          ["signed_curve25519:F1"]]
    bob_sync = await bob.ok("GET", "/sync")
    assert bob_sync["device_one_time_keys_count"]["signed_curve25519"] == 0
    assert bob_sync["device_unused_fallback_key_types"] == []

    since = changed["next_batch"]
    await bob.ok("POST", f"/rooms/{room_id}/leave", {})
    left = await alice.ok("GET", "/sync", since=since, timeout="5000")
    assert left["device_lists"]["left"] == [bob_reg["user_id"]]
    await session.close()


@run_async
async def test_e2ee_exchange_between_two_nio_clients(hs, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    alice = await nio_user(hs, "ea", store_path=str(tmp_path / "a"))
    bob = await nio_user(hs, "eb", store_path=str(tmp_path / "b"))
    for client in (alice, bob):
        await client.keys_upload()
        await client.sync(timeout=0)
    created = await alice.room_create(
        name="secret", invite=[bob.user_id],
        initial_state=[{"type": "m.room.encryption", "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    room_id = created.room_id
    await bob.sync(timeout=0)
    await bob.join(room_id)
    await bob.sync(timeout=0)
    await alice.sync(timeout=0)
    assert alice.rooms[room_id].encrypted
    if alice.should_query_keys:
        await alice.keys_query()
    sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "top secret"},
                                 ignore_unverified_devices=True)
    assert isinstance(sent, RoomSendResponse)

    raw, session = await raw_session(hs.url)
    events = (await raw.ok("GET", f"/_devhs/rooms/{room_id}/events"))["events"]
    on_server = [e for e in events if e["event_id"] == sent.event_id][0]
    assert on_server["type"] == "m.room.encrypted" and "top secret" not in str(on_server["content"])
    await session.close()

    resp = await bob.sync(timeout=0)
    assert isinstance(resp, SyncResponse)
    timeline = joined_events(resp, room_id)
    assert [e.body for e in timeline if isinstance(e, RoomMessageText)] == ["top secret"]
    assert not [e for e in timeline if isinstance(e, MegolmEvent)]  # nothing left undecrypted
    await alice.close()
    await bob.close()


@run_async
async def test_filters_limit_timeline(hs):
    raw, session = await raw_session(hs.url)
    alice, reg = await raw.register(name("flt"))
    room_id = (await alice.ok("POST", "/createRoom", {"name": "f"}))["room_id"]
    for i in range(3):
        await alice.ok("PUT", f"/rooms/{room_id}/send/m.room.message/t{i}", {"msgtype": "m.text", "body": str(i)})
    fid = (await alice.ok("POST", f"/user/{reg['user_id']}/filter",
                          {"room": {"timeline": {"limit": 2, "types": ["m.room.message"]}}}))["filter_id"]
    assert (await alice.ok("GET", f"/user/{reg['user_id']}/filter/{fid}"))["room"]["timeline"]["limit"] == 2
    sync = await alice.ok("GET", "/sync", filter=fid)
    timeline = sync["rooms"]["join"][room_id]["timeline"]
    assert [e["content"]["body"] for e in timeline["events"]] == ["1", "2"] and timeline["limited"]
    state_types = {e["type"] for e in sync["rooms"]["join"][room_id]["state"]["events"]}
    assert {"m.room.create", "m.room.power_levels", "m.room.member", "m.room.name"} <= state_types
    back = await alice.ok("GET", f"/rooms/{room_id}/messages", dir="b", limit="1", **{"from": timeline["prev_batch"]})
    assert back["chunk"][0]["content"]["body"] == "0"
    await session.close()


@run_async
async def test_admin_switches(hs):
    raw, session = await raw_session(hs.url)
    alice, reg = await raw.register(name("adm"))
    user_id = reg["user_id"]

    await raw.ok("POST", "/_devhs/faults", {"user_id": user_id, "kind": "ratelimit", "count": 1,
                                            "retry_after_ms": 2500})
    status, body, headers = await alice.call("GET", "/account/whoami")
    assert status == 429 and body["errcode"] == "M_LIMIT_EXCEEDED" and body["retry_after_ms"] == 2500
    assert headers["Retry-After"] == "3"
    assert (await alice.ok("GET", "/account/whoami"))["user_id"] == user_id

    await raw.ok("POST", "/_devhs/faults", {"user_id": user_id, "kind": "fail", "mode": "500", "count": 1})
    status, body, _ = await alice.call("GET", "/account/whoami")
    assert status == 500 and body["errcode"] == "M_UNKNOWN"
    await raw.ok("POST", "/_devhs/faults", {"user_id": user_id, "kind": "fail", "mode": "garbage", "count": 1})
    status, body, _ = await alice.call("GET", "/account/whoami")
    assert status == 200 and isinstance(body, str)

    since = (await alice.ok("GET", "/sync"))["next_batch"]
    await raw.ok("POST", "/_devhs/unknown_pos", {"user_id": user_id})
    status, body, _ = await alice.call("GET", "/sync", since=since)
    assert status == 400 and body["errcode"] == "M_UNKNOWN_POS"
    await alice.ok("GET", "/sync", since=since)

    await raw.ok("POST", "/_devhs/faults", {"user_id": user_id, "kind": "ratelimit", "count": 1,
                                            "path_contains": "/login"})
    login = {"type": "m.login.password", "password": "pw", "identifier": {"type": "m.id.user", "user": user_id}}
    status, body, headers = await raw.call("POST", "/login", login)
    assert status == 429 and headers["Retry-After"] == "1"
    assert (await raw.ok("POST", "/login", login))["user_id"] == user_id

    counts = await raw.ok("GET", "/_devhs/requests", user_id=user_id)
    assert counts[user_id]["GET /account/whoami"] == 4

    assert (await raw.ok("POST", "/_devhs/revoke", {"token": alice.token}))["revoked"] == 1
    status, body, _ = await alice.call("GET", "/account/whoami")
    assert status == 401 and body["errcode"] == "M_UNKNOWN_TOKEN" and body["soft_logout"] is False
    status, body, _ = await raw.call("GET", "/account/whoami")
    assert status == 401 and body["errcode"] == "M_MISSING_TOKEN"
    status, body, _ = await raw.call("GET", "/no/such/endpoint")
    assert status == 404 and body["errcode"] == "M_UNRECOGNIZED"
    await session.close()


@run_async
async def test_held_to_device_released_on_command(hs):
    raw, session = await raw_session(hs.url)
    alice, _ = await raw.register(name("ha"))
    bob, bob_reg = await raw.register(name("hb"))
    since = (await bob.ok("GET", "/sync"))["next_batch"]
    await raw.ok("POST", "/_devhs/to_device/hold", {"user_id": bob_reg["user_id"], "type": "m.room.encrypted"})
    await alice.ok("PUT", "/sendToDevice/m.room.encrypted/h1",
                   {"messages": {bob_reg["user_id"]: {"*": {"ciphertext": "x"}}}})
    held = await bob.ok("GET", "/sync", since=since)
    assert held["to_device"]["events"] == []
    assert (await raw.ok("POST", "/_devhs/to_device/release",
                         {"user_id": bob_reg["user_id"], "type": "m.room.encrypted"}))["released"] == 1
    got = await bob.ok("GET", "/sync", since=held["next_batch"])
    assert [e["content"] for e in got["to_device"]["events"]] == [{"ciphertext": "x"}]
    await session.close()


@run_async
async def test_synapse_admin_api_creates_users(hs, tmp_path):
    raw, session = await raw_session(hs.url)
    plain, _ = await raw.register(name("nonadmin"))
    status, body, _ = await plain.call("PUT", "/_synapse/admin/v2/users/@x:localhost", {"password": "p"})
    assert status == 403 and body["errcode"] == "M_FORBIDDEN"
    await session.close()


@run_async
async def test_restart_keeps_state(start_hs, tmp_path):
    token_file = str(tmp_path / "admin.token")
    first = start_hs("--admin-user", "boss:bosspw", "--admin-token-file", token_file)
    raw, session = await raw_session(first.url)
    raw.token = open(token_file).read().strip()
    assert (await raw.ok("GET", "/account/whoami"))["user_id"] == "@boss:localhost"
    bot_id = f"@{name('bot')}:localhost"
    status, created, _ = await raw.call("PUT", f"/_synapse/admin/v2/users/{bot_id}",
                                        {"password": "pw", "displayname": "Bot"})
    assert status == 201 and created["displayname"] == "Bot"
    bot = raw.__class__(first.url, session)
    login = await bot.ok("POST", "/login", {"type": "m.login.password", "password": "pw",
                                            "identifier": {"type": "m.id.user", "user": bot_id}})
    bot.token = login["access_token"]
    room_id = (await bot.ok("POST", "/createRoom", {"name": "kept"}))["room_id"]
    sent = await bot.ok("PUT", f"/rooms/{room_id}/send/m.room.message/keep1", {"msgtype": "m.text", "body": "k"})
    filter_id = (await bot.ok("POST", f"/user/{bot_id}/filter", {"room": {"timeline": {"limit": 5}}}))["filter_id"]
    device_keys = {"user_id": bot_id, "device_id": login["device_id"], "algorithms": [],
                   "keys": {f"ed25519:{login['device_id']}": "E"}, "signatures": {}}
    await bot.ok("POST", "/keys/upload", {"device_keys": device_keys,
                                          "one_time_keys": {"signed_curve25519:X": {"key": "x"}}})
    since = (await bot.ok("GET", "/sync"))["next_batch"]
    await bot.ok("PUT", "/sendToDevice/org.example/k1",
                 {"messages": {bot_id: {login["device_id"]: {"kept": True}}}})
    await session.close()
    assert first.stop() == 0

    second = start_hs("--control-token", "ctl")
    raw, session = await raw_session(second.url)
    bot = raw.__class__(second.url, session, login["access_token"])
    assert (await bot.ok("GET", "/account/whoami"))["device_id"] == login["device_id"]
    again = await bot.ok("PUT", f"/rooms/{room_id}/send/m.room.message/keep1", {"msgtype": "m.text", "body": "k"})
    assert again["event_id"] == sent["event_id"]
    resumed = await bot.ok("GET", "/sync", since=since, filter=filter_id)
    assert [e["content"] for e in resumed["to_device"]["events"]] == [{"kept": True}]
    assert resumed["device_one_time_keys_count"]["signed_curve25519"] == 1
    query = await bot.ok("POST", "/keys/query", {"device_keys": {bot_id: []}})
    assert query["device_keys"][bot_id][login["device_id"]]["keys"] == device_keys["keys"]
    fresh = await bot.ok("GET", "/sync", filter=filter_id)
    assert [e["content"]["body"] for e in fresh["rooms"]["join"][room_id]["timeline"]["events"]
            if e["type"] == "m.room.message"] == ["k"]

    status, _, _ = await raw.call("GET", "/_devhs/status")
    assert status == 403  # --control-token given: the control API needs it
    assert (await raw.ok("GET", "/_devhs/status", control_token="ctl"))["rooms"] == [room_id]
    await session.close()


@run_async
async def test_power_levels_kick_and_leave_section(hs):
    raw, session = await raw_session(hs.url)
    alice, a_reg = await raw.register(name("pla"))
    bob, b_reg = await raw.register(name("plb"))
    carol, c_reg = await raw.register(name("plc"))
    room_id = (await alice.ok("POST", "/createRoom", {"invite": [b_reg["user_id"]]}))["room_id"]
    status, body, _ = await carol.call("POST", f"/join/{room_id}")
    assert status == 403 and body["errcode"] == "M_FORBIDDEN"  # invite-only
    await bob.ok("POST", f"/rooms/{room_id}/join")
    status, body, _ = await bob.call("PUT", f"/rooms/{room_id}/state/m.room.name", {"name": "x"})
    assert status == 403 and body["errcode"] == "M_FORBIDDEN"
    status, body, _ = await bob.call("POST", f"/rooms/{room_id}/invite", {"user_id": c_reg["user_id"]})
    assert status == 403
    await alice.ok("PUT", f"/rooms/{room_id}/state/m.room.name", {"name": "renamed"})
    assert (await bob.ok("GET", f"/rooms/{room_id}/state/m.room.name/"))["name"] == "renamed"
    members = await bob.ok("GET", f"/rooms/{room_id}/joined_members")
    assert set(members["joined"]) == {a_reg["user_id"], b_reg["user_id"]}
    assert members["joined"][b_reg["user_id"]]["display_name"] == b_reg["user_id"][1:].split(":")[0]

    since = (await bob.ok("GET", "/sync"))["next_batch"]
    await alice.ok("POST", f"/rooms/{room_id}/kick", {"user_id": b_reg["user_id"], "reason": "bye"})
    gone = await bob.ok("GET", "/sync", since=since)
    assert room_id not in gone["rooms"]["join"]
    last = gone["rooms"]["leave"][room_id]["timeline"]["events"][-1]
    assert last["type"] == "m.room.member" and last["content"]["membership"] == "leave"
    assert last["sender"] == a_reg["user_id"] and last["content"]["reason"] == "bye"
    status, _, _ = await bob.call("PUT", f"/rooms/{room_id}/send/m.room.message/late", {"body": "x"})
    assert status == 403
    await session.close()


@run_async
async def test_relations_and_redaction(hs):
    raw, session = await raw_session(hs.url)
    alice, _ = await raw.register(name("rel"))
    room_id = (await alice.ok("POST", "/createRoom", {}))["room_id"]
    root = (await alice.ok("PUT", f"/rooms/{room_id}/send/m.room.message/r0",
                           {"msgtype": "m.text", "body": "root"}))["event_id"]
    edit = {"msgtype": "m.text", "body": "* edited", "m.new_content": {"msgtype": "m.text", "body": "edited"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": root}}
    await alice.ok("PUT", f"/rooms/{room_id}/send/m.room.message/r1", edit)
    await alice.ok("PUT", f"/rooms/{room_id}/send/m.reaction/r2",
                   {"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "👀"}})
    every = await alice.ok("GET", f"/rooms/{room_id}/relations/{root}")
    assert [e["type"] for e in every["chunk"]] == ["m.reaction", "m.room.message"]
    edits = await alice.ok("GET", f"/rooms/{room_id}/relations/{root}/m.replace/m.room.message")
    assert [e["content"] for e in edits["chunk"]] == [edit]

    redaction = await alice.ok("PUT", f"/rooms/{room_id}/redact/{root}/x1", {"reason": "oops"})
    ev = await alice.ok("GET", f"/rooms/{room_id}/event/{root}")
    assert ev["content"] == {} and ev["unsigned"]["redacted_because"]["event_id"] == redaction["event_id"]
    listed = (await raw.ok("GET", f"/_devhs/rooms/{room_id}/events"))["events"]
    original = [e for e in listed if e["event_id"] == root][0]
    assert original["content"]["body"] == "root" and original["redacted"]
    await session.close()


@run_async
async def test_account_data_and_profile(hs):
    raw, session = await raw_session(hs.url)
    alice, reg = await raw.register(name("ad"))
    user_id = reg["user_id"]
    room_id = (await alice.ok("POST", "/createRoom", {}))["room_id"]
    since = (await alice.ok("GET", "/sync"))["next_batch"]
    await alice.ok("PUT", f"/user/{user_id}/account_data/m.direct", {"@x:localhost": [room_id]})
    await alice.ok("PUT", f"/profile/{user_id}/displayname", {"displayname": "Alice Bot"})
    got = await alice.ok("GET", "/sync", since=since)
    assert got["account_data"]["events"] == [{"type": "m.direct", "content": {"@x:localhost": [room_id]}}]
    member = [e for e in got["rooms"]["join"][room_id]["timeline"]["events"] if e["type"] == "m.room.member"]
    assert member[-1]["content"]["displayname"] == "Alice Bot"
    assert (await alice.ok("GET", f"/user/{user_id}/account_data/m.direct")) == {"@x:localhost": [room_id]}
    assert (await raw.ok("GET", f"/profile/{user_id}"))["displayname"] == "Alice Bot"
    await alice.ok("PUT", f"/presence/{user_id}/status", {"presence": "online", "status_msg": "here"})
    assert await alice.ok("GET", f"/presence/{user_id}/status") == {"presence": "online", "status_msg": "here"}
    status, body, _ = await alice.call("GET", "/sync", since="garbage")
    assert status == 400 and body["errcode"] == "M_UNKNOWN"
    await session.close()


@run_async
async def test_broken_response_modes(hs):
    import aiohttp
    raw, session = await raw_session(hs.url)
    alice, reg = await raw.register(name("brk"))
    await raw.ok("POST", "/_devhs/faults", {"user_id": reg["user_id"], "kind": "fail",
                                            "mode": "truncated", "count": 1})
    try:
        await alice.call("GET", "/sync")
        raise AssertionError("a truncated body must fail")
    except aiohttp.ClientPayloadError:
        pass
    await raw.ok("POST", "/_devhs/faults", {"user_id": reg["user_id"], "kind": "fail", "mode": "huge",
                                            "count": 1, "path_contains": "/sync"})
    status, body, _ = await alice.call("GET", "/account/whoami")
    assert status == 200  # the fault is only for /sync
    status, body, _ = await alice.call("GET", "/sync")
    assert status == 200 and len(body["padding"]) >= 10 * 1024 * 1024
    await raw.ok("POST", "/_devhs/faults", {"user_id": reg["user_id"], "kind": "fail", "mode": "stall",
                                            "stall_s": 1, "duration_s": 30})
    started = time.monotonic()
    await alice.ok("GET", "/account/whoami")
    assert time.monotonic() - started >= 1
    await raw.ok("DELETE", "/_devhs/faults")
    await session.close()


def test_stops_when_parent_dies_or_lifetime_ends(tmp_path):
    import os
    import signal
    import subprocess
    from .launcher import PYTHON, REPO_ROOT
    shell = subprocess.Popen(["/bin/sh", "-c", f"{PYTHON} -m tests.devhs --port 0 & wait"],
                             cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    url = shell.stdout.readline().split(" ", 1)[1].strip()

    async def pid_of():
        raw, session = await raw_session(url)
        pid = (await raw.ok("GET", "/_devhs/status"))["pid"]
        await session.close()
        return pid
    pid = asyncio.run(pid_of())
    shell.send_signal(signal.SIGKILL)
    shell.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("devhs outlived its parent")

    short = subprocess.Popen([PYTHON, "-m", "tests.devhs", "--port", "0", "--max-lifetime", "0.5"],
                             cwd=REPO_ROOT, stdout=subprocess.PIPE)
    assert short.wait(timeout=5) == 0


@run_async
async def test_key_backup(hs):
    raw, session = await raw_session(hs.url)
    alice, _ = await raw.register(name("bk"))
    status, body, _ = await alice.call("GET", "/room_keys/version")
    assert status == 404 and body["errcode"] == "M_NOT_FOUND"
    version = (await alice.ok("POST", "/room_keys/version",
                              {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
                               "auth_data": {"public_key": "pk"}}))["version"]
    key = {"first_message_index": 3, "forwarded_count": 0, "is_verified": False,
           "session_data": {"ciphertext": "c", "ephemeral": "e", "mac": "m"}}
    put = await alice.ok("PUT", "/room_keys/keys/!r:localhost/sess", key, version=version)
    assert put["count"] == 1
    worse = dict(key, first_message_index=9, session_data={"ciphertext": "worse"})
    await alice.ok("PUT", "/room_keys/keys", {"rooms": {"!r:localhost": {"sessions": {"sess": worse}}}},
                   version=version)
    assert (await alice.ok("GET", "/room_keys/keys/!r:localhost/sess", version=version)) == key
    status, body, _ = await alice.call("PUT", "/room_keys/keys/!r:localhost/sess", key, version="99")
    assert status == 403 and body["errcode"] == "M_WRONG_ROOM_KEYS_VERSION" and body["current_version"] == version
    info = await alice.ok("GET", "/room_keys/version")
    assert info["version"] == version and info["count"] == 1
    await session.close()


@run_async
async def test_cross_signing_and_devices(hs):
    raw, session = await raw_session(hs.url)
    alice, reg = await raw.register(name("xs"), password="xpw")
    bob, _ = await raw.register(name("xo"))
    user_id, device_id = reg["user_id"], reg["device_id"]

    def cross_key(usage, pub):
        return {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{pub}": pub}}
    keys = {"master_key": cross_key("master", "MASTER"), "self_signing_key": cross_key("self_signing", "SSK"),
            "user_signing_key": cross_key("user_signing", "USK")}
    await alice.ok("POST", "/keys/device_signing/upload", keys)  # first upload: no UIA
    status, body, _ = await alice.call("POST", "/keys/device_signing/upload", keys)
    assert status == 401 and {"stages": ["m.login.password"]} in body["flows"] and body["session"]
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id},
            "password": "xpw", "session": body["session"]}
    await alice.ok("POST", "/keys/device_signing/upload", dict(keys, auth=auth))

    device_keys = {"user_id": user_id, "device_id": device_id, "algorithms": [],
                   "keys": {f"ed25519:{device_id}": "DEV"}, "signatures": {}}
    await alice.ok("POST", "/keys/upload", {"device_keys": device_keys})
    signed = dict(device_keys, signatures={user_id: {"ed25519:SSK": "sig-by-ssk"}})
    result = await alice.ok("POST", "/keys/signatures/upload", {user_id: {device_id: signed}})
    assert result["failures"] == {}

    seen_by_bob = await bob.ok("POST", "/keys/query", {"device_keys": {user_id: []}})
    assert seen_by_bob["master_keys"][user_id]["keys"] == {"ed25519:MASTER": "MASTER"}
    assert user_id in seen_by_bob["self_signing_keys"] and user_id not in seen_by_bob["user_signing_keys"]
    assert seen_by_bob["device_keys"][user_id][device_id]["signatures"][user_id]["ed25519:SSK"] == "sig-by-ssk"
    seen_by_self = await alice.ok("POST", "/keys/query", {"device_keys": {user_id: []}})
    assert user_id in seen_by_self["user_signing_keys"]

    other = await raw.ok("POST", "/login", {"type": "m.login.password", "password": "xpw",
                                            "identifier": {"type": "m.id.user", "user": user_id},
                                            "initial_device_display_name": "second"})
    listed = {d["device_id"]: d for d in (await alice.ok("GET", "/devices"))["devices"]}
    assert listed[other["device_id"]]["display_name"] == "second"
    status, body, _ = await alice.call("DELETE", f"/devices/{other['device_id']}", {})
    assert status == 401 and "flows" in body
    await alice.ok("DELETE", f"/devices/{other['device_id']}", {"auth": dict(auth, session=body["session"])})
    status, body, _ = await alice.call("GET", "/account/whoami", token=other["access_token"])
    assert status == 401 and body["errcode"] == "M_UNKNOWN_TOKEN"
    await session.close()


@run_async
async def test_replacing_cross_signing_keys_takes_the_password_as_synapse_asks(hs):
    """Synapse's user-interactive auth for a password account: the one flow is
    m.login.password; m.login.dummy completes nothing; sessions are the server's own and
    bound to one request; the password may come without a session, as Element sends it."""
    raw, session = await raw_session(hs.url)
    alice, reg = await raw.register(name("uia"), password="upw")
    bob, bob_reg = await raw.register(name("uib"), password="bpw")
    user_id = reg["user_id"]
    keys = {"master_key": {"user_id": user_id, "usage": ["master"], "keys": {"ed25519:M1": "M1"}}}
    await alice.ok("POST", "/keys/device_signing/upload", keys)
    password = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id}}

    status, body, _ = await alice.call("POST", "/keys/device_signing/upload", keys)
    assert status == 401 and body["flows"] == [{"stages": ["m.login.password"]}] and body["params"] == {}
    assert "errcode" not in body and "completed" not in body
    first = body["session"]
    status, body, _ = await alice.call("POST", "/keys/device_signing/upload",
                                       dict(keys, auth={"type": "m.login.dummy", "session": first}))
    assert status == 401 and body["completed"] == ["m.login.dummy"] and body["session"] == first
    status, body, _ = await alice.call("POST", "/keys/device_signing/upload",
                                       dict(keys, auth=dict(password, password="wrong", session=first)))
    assert status == 401 and body["errcode"] == "M_FORBIDDEN" and body["error"] == "Invalid password"
    assert body["flows"] == [{"stages": ["m.login.password"]}] and body["session"] == first
    status, body, _ = await alice.call("POST", "/keys/device_signing/upload",
                                       dict(keys, auth=dict(password, password="upw", session="not-issued")))
    assert status == 400 and body["errcode"] == "M_UNKNOWN"
    status, body, _ = await alice.call("DELETE", f"/devices/{reg['device_id']}",
                                       {"auth": dict(password, password="upw", session=first)})
    assert status == 403 and body["errcode"] == "M_FORBIDDEN"  # a session of another request
    status, body, _ = await alice.call("POST", "/keys/device_signing/upload",
                                       dict(keys, auth={"type": "m.login.password", "password": "bpw",
                                                        "identifier": {"type": "m.id.user", "user": bob_reg["user_id"]}}))
    assert status == 403 and body["error"] == "Invalid auth"  # another user's password
    replaced = {"master_key": {"user_id": user_id, "usage": ["master"], "keys": {"ed25519:M2": "M2"}}}
    await alice.ok("POST", "/keys/device_signing/upload",
                   dict(replaced, auth=dict(password, password="upw", session=first)))
    # Without a session, as Element sends the password it just logged in with.
    await alice.ok("POST", "/keys/device_signing/upload", dict(keys, auth=dict(password, password="upw")))
    seen = await bob.ok("POST", "/keys/query", {"device_keys": {user_id: []}})
    assert seen["master_keys"][user_id]["keys"] == {"ed25519:M1": "M1"}
    await session.close()


@run_async
async def test_message_rate_limit_and_its_admin_override(start_hs, tmp_path):
    """--message-rate is Synapse's rc_message: a burst, then 429 with the wait; a repeated
    txn id is answered from the cache; an admin's override of 0 lifts the limit for one
    user, and GET/DELETE read and remove it."""
    token_file = str(tmp_path / "admin.token")
    server = start_hs("--admin-user", "boss:bosspw", "--admin-token-file", token_file,
                      "--message-rate", "0.5,3")
    raw, session = await raw_session(server.url)
    admin = raw.__class__(server.url, session, open(token_file).read().strip())
    user, _ = await raw.register(name("chatty"))
    user_id = (await user.ok("GET", "/account/whoami"))["user_id"]
    room_id = (await user.ok("POST", "/createRoom", {}))["room_id"]
    for i in range(3):
        await user.ok("PUT", f"/rooms/{room_id}/send/m.room.message/t{i}", {"body": str(i)})
    status, body, headers = await user.call("PUT", f"/rooms/{room_id}/send/m.room.message/t3",
                                            {"body": "3"})
    assert status == 429 and body["errcode"] == "M_LIMIT_EXCEEDED", body
    assert 0 < body["retry_after_ms"] <= 2000 and "Retry-After" in headers
    # A retried transaction is the same send, answered without counting.
    await user.ok("PUT", f"/rooms/{room_id}/send/m.room.message/t0", {"body": "0"})
    path = f"/_synapse/admin/v1/users/{user_id}/override_ratelimit"
    assert await admin.ok("GET", path) == {}
    status, body, _ = await user.call("POST", path, {"messages_per_second": 0})
    assert status == 403, body  # only a server admin
    status, body, _ = await admin.call("POST", path, {"messages_per_second": -1})
    assert status == 400 and body["errcode"] == "M_INVALID_PARAM"
    status, body, _ = await admin.call("POST", "/_synapse/admin/v1/users/@nobody:localhost"
                                       "/override_ratelimit", {})
    assert status == 404, body
    lifted = await admin.ok("POST", path, {"messages_per_second": 0, "burst_count": 0})
    assert lifted == {"messages_per_second": 0, "burst_count": 0}
    assert await admin.ok("GET", path) == lifted
    for i in range(4, 20):
        await user.ok("PUT", f"/rooms/{room_id}/send/m.room.message/t{i}", {"body": str(i)})
    assert await admin.ok("DELETE", path) == {}
    assert await admin.ok("GET", path) == {}
    status, body, _ = await user.call("PUT", f"/rooms/{room_id}/send/m.room.message/t20",
                                      {"body": "20"})
    assert status == 429, body  # the limit is back
    await session.close()

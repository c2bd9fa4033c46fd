"""The exactly-once soak: a steady stream of messages to several profiles while the
gateway is killed with SIGKILL at random moments and started again; afterwards every
message must have been answered exactly once, in order per room, as the homeserver's
event lists show. Used by test_soak.py (a few kills, in CI) and bench/soak.py (50+).

Some of the rooms are encrypted (m.room.encryption): there the person is a matrix-nio
device with python3-olm (its own olm store), so every message is an m.room.encrypted
whose Megolm key reached the bot over Olm (to-device, through the same crash-prone sync
as everything else). The bot's events in those rooms must all be m.room.encrypted; the
check decrypts them with the person's nio client, so a reply is matched by its decrypted
content and the relation the spec keeps in clear must agree with it."""

import asyncio
import random
import signal
import threading
import time
import uuid

from fleet import Fleet
import harness
from harness import done_and_final_text_at, replies_to, shown_text

from nio import (AsyncClient, AsyncClientConfig, LoginResponse, MegolmEvent,  # noqa: E402
                 RoomCreateResponse, RoomSendResponse, SyncResponse)


class EncryptedPerson:
    """The fleet's person (doru) on a second device: matrix-nio with encryption and its
    own olm store, synchronous for the soak's sake (an event loop of its own, used by
    one thread at a time: setup, then the sender, then the tally)."""

    def __init__(self, hs, account, store_dir):
        store_dir.mkdir(parents=True, exist_ok=True)
        self.loop = asyncio.new_event_loop()
        self.client = AsyncClient(hs.url, account.user_id, store_path=str(store_dir),
                                  config=AsyncClientConfig(encryption_enabled=True,
                                                           store_sync_tokens=False,
                                                           max_limit_exceeded=0,
                                                           max_timeouts=0))
        got = self._run(self.client.login(harness.PASSWORD, device_name="soak"))
        assert isinstance(got, LoginResponse), got
        harness.record_secrets([self.client.access_token])
        self._run(self.client.keys_upload())
        self.sync(0)
        self.decrypted = {}  # event id -> the decrypted event dict

    def _run(self, coro, timeout=60):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def sync(self, timeout_ms=0):
        resp = self._run(self.client.sync(timeout=timeout_ms))
        assert isinstance(resp, SyncResponse), resp
        # As a real client does after each sync: keep the device lists current.
        if self.client.should_query_keys:
            self._run(self.client.keys_query())
        return resp

    def create_room(self, bot):
        """An encrypted DM with `bot` (m.room.encryption in the initial state)."""
        resp = self._run(self.client.room_create(
            invite=[bot.user_id], is_direct=True,
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]))
        assert isinstance(resp, RoomCreateResponse), resp
        return resp.room_id

    def wait_member(self, room_id, bot, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sync(500)
            room = self.client.rooms.get(room_id)
            # room.users holds invited members too: wait for the join itself.
            if (room and room.encrypted and bot.user_id in room.users
                    and bot.user_id not in room.invited_users):
                return
        raise AssertionError(f"nio never saw {bot} join the encrypted room {room_id}")

    def send(self, room_id, body):
        if self.client.should_query_keys:
            self._run(self.client.keys_query())
        resp = self._run(self.client.room_send(room_id, "m.room.message",
                                               {"msgtype": "m.text", "body": body},
                                               tx_id=uuid.uuid4().hex,
                                               ignore_unverified_devices=True))
        if not isinstance(resp, RoomSendResponse):  # the homeserver is not under test
            raise AssertionError(f"nio could not send: {resp}")
        return resp.event_id

    def fetch_keys(self):
        """Syncs until no more to-device events come (the bot's room keys, over Olm)."""
        for _ in range(20):
            resp = self.sync(0)
            if not resp.to_device_events:
                return

    def decrypt(self, room_id, event):
        """The decrypted form of the server's m.room.encrypted `event` (type, content
        with the relation merged from the clear part as nio does), or None when its
        key has not reached this device (yet)."""
        if event["event_id"] in self.decrypted:
            return self.decrypted[event["event_id"]]
        parsed = MegolmEvent.from_dict(dict(event, room_id=room_id))
        if not isinstance(parsed, MegolmEvent):
            return None
        try:
            plain = self.client.olm.decrypt_megolm_event(parsed, room_id)
        except Exception:  # nio's EncryptionError: no session (yet), or a bad one
            return None
        source = getattr(plain, "source", None)
        if not isinstance(source, dict) or "content" not in source:
            return None
        out = {"type": source.get("type"), "sender": event["sender"],
               "event_id": event["event_id"], "content": source["content"]}
        self.decrypted[event["event_id"]] = out
        return out

    def close(self):
        try:
            self._run(self.client.close())
        finally:
            self.loop.close()


class Soak:
    def __init__(self, tmp, profiles=4, encrypted=2, seed=None):
        """`encrypted`: how many profiles also get an encrypted DM with the person (the
        first ones; they keep their plaintext DM too, so one profile serves both)."""
        self.random = random.Random(seed)
        # queue: every message gets its own full answer (interrupt would cut the
        # running one short when the next arrives, which is not what this measures).
        # optional: plaintext rooms are answered in plaintext, encrypted ones encrypted.
        self.fleet = Fleet(tmp, profiles, prefix="soak",
                           extra=lambda i: {"HERMES_GATEWAY_BUSY_INPUT_MODE": "queue",
                                            "MATRIX_E2EE_MODE": "optional"})
        self.person = None
        self.rooms = [(self.fleet.dm(b), b) for b in self.fleet.bots]  # (room, bot)
        self.encrypted = set()
        try:
            if encrypted:
                self.person = EncryptedPerson(self.fleet.hs, self.fleet.doru,
                                              tmp / "nio-store")
                for bot in self.fleet.bots[:encrypted]:
                    room = self.person.create_room(bot)
                    self.fleet.wait_joined(room, bot)
                    self.person.wait_member(room, bot)
                    self.rooms.append((room, bot))
                    self.encrypted.add(room)
        except BaseException:
            self.close()
            raise
        self.sent = {}  # room -> [event ids, in sending order]
        self.bodies = {}  # event id -> the body sent
        self.stop_sending = threading.Event()
        self.send_errors = []

    def _sender(self, interval):
        n = 0
        while not self.stop_sending.is_set():
            room, _ = self.random.choice(self.rooms)
            try:
                body = f"soak message {n}" + (" (encrypted)" if room in self.encrypted else "")
                if room in self.encrypted:
                    event_id = self.person.send(room, body)
                else:
                    event_id = self.fleet.send(room, body)
                self.sent.setdefault(room, []).append(event_id)
                self.bodies[event_id] = body
            except Exception as e:  # noqa: BLE001 -- counted and asserted on; the
                self.send_errors.append(repr(e))  # sender thread must not die silently
            n += 1
            time.sleep(interval)

    def run(self, kills, interval=0.15, min_up=0.3, max_up=3.0, report=None, storm_s=0):
        """Kills the gateway `kills` times at random moments while messages flow;
        returns the number of kills survived (then see `tally`). With `storm_s`, halfway
        through every bot's sends are refused with 429 (M_LIMIT_EXCEEDED, retry after
        1.5 s) for that many seconds, kills going on meanwhile."""
        sender = threading.Thread(target=self._sender, args=(interval,), daemon=True)
        sender.start()
        survived = 0
        try:
            for k in range(kills):
                if storm_s and k == kills // 2:
                    for bot in self.fleet.bots:
                        self.fleet.hs.fault(user_id=bot.user_id, kind="ratelimit",
                                            retry_after_ms=1500, duration_s=storm_s,
                                            path_contains="/send/")
                    if report:
                        report(f"429 storm on every bot's sends for {storm_s} s")
                time.sleep(self.random.uniform(min_up, max_up))
                self.fleet.gateway.stop(signal.SIGKILL)
                self.fleet.gateway.start(timeout=120)
                survived += 1
                if report:
                    report(f"kill {k + 1}/{kills} survived")
        finally:
            self.stop_sending.set()
            sender.join()
        return survived

    def settle(self, timeout=180):
        """Waits until every message sent has its final reply, decrypted where the room
        is encrypted (or the deadline passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.tally()
            if (t["lost"] == 0 and t["undecryptable"] == 0 and t["wrong_text"] == 0
                    and t["without_done"] == 0):
                return
            time.sleep(1)

    def _encrypted_view(self, room, events, bot, tally):
        """The room's events with the bot's m.room.encrypted ones replaced by their
        decrypted form; counts what the bot sent in clear, what does not decrypt, and
        decrypted relations that differ from the clear m.relates_to."""
        out = []
        for ev in events:
            if ev.get("sender") != bot.user_id or "state_key" in ev:
                out.append(ev)
                continue
            if ev.get("type") != "m.room.encrypted":
                tally["plaintext_in_encrypted"] += 1
                out.append(ev)
                continue
            tally["bot_encrypted_events"] += 1
            plain = self.person.decrypt(room, ev)
            if plain is None:
                tally["undecryptable"] += 1
                continue
            clear = ev["content"].get("m.relates_to")
            if clear is not None and plain["content"].get("m.relates_to") != clear:
                tally["relation_mismatch"] += 1
            out.append(plain)
        return out

    def tally(self):
        """messages sent, lost (no reply), duplicated (more than one reply), rooms whose
        replies came out of order, replies whose final text is not the echo of their
        message (not yet final, or another's), messages without a ✅ or ❌, and ✅ or ❌
        that came before the reply's final text; in encrypted rooms also the bot's events
        sent in clear, those that do not decrypt, and relations that disagree."""
        t = {"sent": 0, "lost": 0, "duplicated": 0, "out_of_order_rooms": 0,
             "without_done": 0, "done_before_final": 0,
             "send_errors": len(self.send_errors), "encrypted_rooms": len(self.encrypted),
             "sent_encrypted": 0, "bot_encrypted_events": 0, "plaintext_in_encrypted": 0,
             "undecryptable": 0, "relation_mismatch": 0, "wrong_text": 0}
        if self.person:
            self.person.fetch_keys()
        for room, bot in self.rooms:
            events = self.fleet.hs.events(room)
            if room in self.encrypted:
                events = self._encrypted_view(room, events, bot, t)
            position = {e["event_id"]: i for i, e in enumerate(events)}
            last = -1
            disordered = False
            for source in self.sent.get(room, []):
                t["sent"] += 1
                if room in self.encrypted:
                    t["sent_encrypted"] += 1
                found = replies_to(events, source, bot.user_id)
                if not found:
                    t["lost"] += 1
                    continue
                if len(found) > 1:
                    t["duplicated"] += 1
                # What the person sees in the end (the newest edit): the agent double's
                # echo of this very message, decrypted in the encrypted rooms.
                if shown_text(events, found[0]) != "echo: " + self.bodies[source]:
                    t["wrong_text"] += 1
                # The ✅ (or ❌) says the answer is complete: never before its final text.
                done, final_at = done_and_final_text_at(events, source, bot.user_id)
                if done is None:
                    t["without_done"] += 1
                elif done < final_at:
                    t["done_before_final"] += 1
                at = position[found[0]["event_id"]]
                disordered |= at < last
                last = max(last, at)
            t["out_of_order_rooms"] += disordered
        return t

    def close(self):
        try:
            if self.person:
                self.person.close()
        finally:
            self.fleet.close()

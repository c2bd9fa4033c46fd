"""All server state: one JSON-able dict, a stream position per change, a snapshot on disk.

Every change (room event, to-device message, account data, device keys, receipt,
typing) takes the next stream position, so a sync token is just that position and
`since` means "everything after it". The snapshot keeps users, tokens, rooms,
events, device keys, to-device queues, filters and txn ids across a restart.
"""

import asyncio
import base64
import bisect
import json
import os
import secrets
import time


def now_ms():
    return int(time.time() * 1000)


def random_id(nbytes=12):
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=")


def state_key_of(event_type, state_key):
    return event_type + "\n" + state_key


class Store:
    def __init__(self, state_dir, server_name):
        self.server_name = server_name
        self.path = os.path.join(state_dir, "devhs-state.json") if state_dir else None
        self.data = {
            "pos": 0,
            "users": {},
            "tokens": {},
            "rooms": {},
            "events": {},
            "aliases": {},
            "txns": {},
            "to_device": {},
            "to_device_held": {},
            "receipts": {},
            "room_keys_versions": {},
            "ratelimit_overrides": {},  # user_id -> {messages_per_second, burst_count}
        }
        if self.path and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.data.update(json.load(f))
        self.dirty = False
        # Ephemeral, never persisted (like a real server's typing stream).
        self.typing = {}  # room_id -> {user_id: expiry (monotonic s)}
        self.typing_pos = {}  # room_id -> stream position of the last typing change
        self.uia_sessions = {}  # session id -> {operation, completed}: user-interactive auth
        # Waiting /syncs: every one waits on the event of its user, so that a change
        # that concerns a few users (their keys, to-device messages, account data)
        # wakes only their syncs; with thousands of idle bots long-polling, waking all
        # of them on every key upload costs the server O(bots) per change.
        self._wakeups = {}  # user_id -> asyncio.Event

    # -- persistence and wake-ups -------------------------------------------------

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)
        self.dirty = False

    def next_pos(self, wake=None):
        """Takes a stream position for a change and wakes the waiting /syncs of the
        users in `wake`, or every waiting /sync when not given (a change whose
        audience the caller does not name: room events, receipts, typing)."""
        self.data["pos"] += 1
        self.dirty = True
        if wake is None:
            woken, self._wakeups = self._wakeups.values(), {}
        else:
            woken = [e for e in (self._wakeups.pop(u, None) for u in wake) if e is not None]
        for event in woken:
            event.set()
        return self.data["pos"]

    @property
    def pos(self):
        return self.data["pos"]

    async def wait_for_change(self, user_id, timeout):
        """Until a change next_pos() wakes `user_id` for, or the timeout."""
        event = self._wakeups.setdefault(user_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    # -- users, devices, tokens ---------------------------------------------------

    def user_id(self, name):
        return name if name.startswith("@") else f"@{name}:{self.server_name}"

    def user(self, user_id):
        return self.data["users"].get(user_id)

    def create_user(self, user_id, password, admin=False):
        self.data["users"][user_id] = {
            "password": password,
            "displayname": user_id[1:].split(":")[0],  # Synapse's default: the localpart
            "avatar_url": None,
            "admin": admin,
            "account_data": {},
            "room_account_data": {},
            "filters": [],
            "devices": {},
            "cross_signing": {},
            "keys_pos": 0,
        }
        self.dirty = True
        return self.data["users"][user_id]

    def login(self, user_id, device_id=None, display_name=None):
        """Issues a token for a device; an existing device keeps its keys but its
        older tokens stop working, as the spec says for a re-used device_id."""
        user = self.user(user_id)
        device_id = device_id or random_id(6).upper().replace("-", "A").replace("_", "B")
        if device_id in user["devices"]:
            for tok in [t for t, v in self.data["tokens"].items()
                        if v["user_id"] == user_id and v["device_id"] == device_id]:
                del self.data["tokens"][tok]
        else:
            user["devices"][device_id] = {
                "display_name": display_name,
                "device_keys": None,
                "one_time_keys": {},
                "fallback_keys": {},
                "last_seen_ts": now_ms(),
            }
        token = "syt_" + random_id(24)
        self.data["tokens"][token] = {"user_id": user_id, "device_id": device_id}
        self.dirty = True
        return token, device_id

    def delete_device(self, user_id, device_id):
        user = self.user(user_id)
        for tok in [t for t, v in self.data["tokens"].items()
                    if v["user_id"] == user_id and v["device_id"] == device_id]:
            del self.data["tokens"][tok]
        dev = user["devices"].pop(device_id, None)
        self.data["to_device"].get(user_id, {}).pop(device_id, None)
        if dev and dev.get("device_keys"):
            self.device_list_changed(user_id)
        self.dirty = True

    def device_list_changed(self, user_id):
        # Who sees it in device_lists.changed: the user and whoever shares a room.
        self.user(user_id)["keys_pos"] = self.next_pos(wake={user_id, *self.room_fellows(user_id)})

    # -- rooms and events ----------------------------------------------------------

    def room(self, room_id):
        return self.data["rooms"].get(room_id)

    def event(self, event_id):
        return self.data["events"].get(event_id)

    def state_event(self, room_id, event_type, state_key=""):
        room = self.room(room_id)
        eid = room["state"].get(state_key_of(event_type, state_key)) if room else None
        return self.data["events"][eid] if eid else None

    def state_content(self, room_id, event_type, state_key="", default=None):
        ev = self.state_event(room_id, event_type, state_key)
        return ev["content"] if ev else default

    def current_state(self, room_id):
        return [self.data["events"][eid] for eid in self.room(room_id)["state"].values()]

    def membership(self, room_id, user_id):
        content = self.state_content(room_id, "m.room.member", user_id)
        return content.get("membership") if content else None

    def members(self, room_id, membership="join"):
        return [ev["state_key"] for ev in self.current_state(room_id)
                if ev["type"] == "m.room.member" and ev["content"].get("membership") == membership]

    def rooms_of(self, user_id, membership="join"):
        return [rid for rid in self.data["rooms"] if self.membership(rid, user_id) == membership]

    def append_event(self, room_id, sender, event_type, content, state_key=None,
                     redacts=None, txn=None):
        """Stores a new event at the next stream position; a state event also
        becomes the room's current state for (type, state_key)."""
        room = self.room(room_id)
        event_id = "$" + random_id(32)
        event = {
            "event_id": event_id,
            "room_id": room_id,
            "sender": sender,
            "type": event_type,
            "content": content,
            "origin_server_ts": now_ms(),
            "pos": self.next_pos(),
        }
        if state_key is not None:
            event["state_key"] = state_key
            skey = state_key_of(event_type, state_key)
            if skey in room["state"]:
                event["prev_event_id"] = room["state"][skey]
            room["state"][skey] = event_id
        if redacts is not None:
            event["redacts"] = redacts
        if txn is not None:
            # Only the sending device sees unsigned.transaction_id (spec: per device).
            event["txn"] = txn
        self.data["events"][event_id] = event
        room["events"].append(event_id)
        return event

    def room_events(self, room_id, after=0, upto=None):
        """The room's events with after < pos <= upto, oldest first."""
        upto = self.pos if upto is None else upto
        ids = self.room(room_id)["events"]  # in stream order, so bisect finds the window
        events = self.data["events"]

        def pos_of(eid):
            return events[eid]["pos"]

        lo = bisect.bisect_right(ids, after, key=pos_of)
        hi = bisect.bisect_right(ids, upto, key=pos_of)
        return [self.data["events"][eid] for eid in ids[lo:hi]]

    def power_levels(self, room_id):
        return self.state_content(room_id, "m.room.power_levels", "", {})

    def power_of(self, room_id, user_id):
        pl = self.power_levels(room_id)
        return int(pl.get("users", {}).get(user_id, pl.get("users_default", 0)))

    def room_fellows(self, user_id):
        """The users joined to a room the user is joined to (the user too)."""
        return {m for rid in self.rooms_of(user_id) for m in self.members(rid, "join")}

    def shares_room(self, a, b):
        return any(self.membership(rid, a) == "join" and self.membership(rid, b) == "join"
                   for rid in self.data["rooms"])

    # -- to-device -----------------------------------------------------------------

    def queue_to_device(self, user_id, device_id, sender, event_type, content):
        queue = self.data["to_device"].setdefault(user_id, {}).setdefault(device_id, [])
        queue.append({"pos": self.next_pos(wake=[user_id]), "type": event_type, "sender": sender,
                      "content": content})

    # -- typing ----------------------------------------------------------------------

    def set_typing(self, room_id, user_id, typing, timeout_ms):
        users = self.typing.setdefault(room_id, {})
        was = user_id in users
        if typing:
            expiry = time.monotonic() + timeout_ms / 1000
            users[user_id] = expiry
            asyncio.get_running_loop().call_later(
                timeout_ms / 1000 + 0.01, self._expire_typing, room_id, user_id, expiry)
        else:
            users.pop(user_id, None)
        if typing or was:
            self.typing_pos[room_id] = self.next_pos()

    def _expire_typing(self, room_id, user_id, expiry):
        users = self.typing.get(room_id, {})
        if users.get(user_id) == expiry:
            del users[user_id]
            self.typing_pos[room_id] = self.next_pos()

    def typing_users(self, room_id):
        return sorted(self.typing.get(room_id, {}))

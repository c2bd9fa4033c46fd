"""Rooms: creation, membership, state, sending and redacting, history, relations,
typing and receipts; plus how an event looks to a client (redaction, unsigned)."""

import json

from .errors import MatrixError, bad_json, forbidden, invalid_param, not_found
from .ratelimit import take_message
from .store import now_ms, random_id

# The room-version-10 redaction algorithm: content keys that survive a redaction.
KEPT_CONTENT = {
    "m.room.member": ("membership", "join_authorised_via_users_server"),
    "m.room.create": ("creator",),
    "m.room.join_rules": ("join_rule", "allow"),
    "m.room.power_levels": ("ban", "events", "events_default", "kick", "redact",
                            "state_default", "users", "users_default"),
    "m.room.history_visibility": ("history_visibility",),
}


def register(r):
    r.add("POST", "/createRoom", create_room)
    r.add("POST", "/join/{roomIdOrAlias}", join_by_id_or_alias)
    r.add("POST", "/rooms/{roomId}/join", join_room)
    r.add("POST", "/rooms/{roomId}/leave", leave_room)
    r.add("POST", "/rooms/{roomId}/forget", forget_room)
    r.add("POST", "/rooms/{roomId}/invite", invite)
    r.add("POST", "/rooms/{roomId}/kick", kick)
    r.add("POST", "/rooms/{roomId}/ban", ban)
    r.add("POST", "/rooms/{roomId}/unban", unban)
    r.add("GET", "/rooms/{roomId}/state", get_state)
    r.add("GET", "/rooms/{roomId}/state/{type}", get_state_event)
    r.add("GET", "/rooms/{roomId}/state/{type}/{stateKey}", get_state_event)
    r.add("PUT", "/rooms/{roomId}/state/{type}", put_state_event)
    r.add("PUT", "/rooms/{roomId}/state/{type}/{stateKey}", put_state_event)
    r.add("GET", "/rooms/{roomId}/joined_members", joined_members)
    r.add("GET", "/rooms/{roomId}/members", members)
    r.add("GET", "/joined_rooms", joined_rooms)
    r.add("PUT", "/rooms/{roomId}/send/{type}/{txnId}", send)
    r.add("PUT", "/rooms/{roomId}/redact/{eventId}/{txnId}", redact)
    r.add("GET", "/rooms/{roomId}/messages", messages)
    r.add("GET", "/rooms/{roomId}/event/{eventId}", get_event)
    r.add("GET", "/rooms/{roomId}/context/{eventId}", context)
    r.add("GET", "/rooms/{roomId}/relations/{eventId}", relations)
    r.add("GET", "/rooms/{roomId}/relations/{eventId}/{relType}", relations)
    r.add("GET", "/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", relations)
    r.add("PUT", "/rooms/{roomId}/typing/{userId}", typing)
    r.add("POST", "/rooms/{roomId}/receipt/{receiptType}/{eventId}", receipt)
    r.add("POST", "/rooms/{roomId}/read_markers", read_markers)
    r.add("GET", "/directory/room/{alias}", get_alias, auth=False)
    r.add("PUT", "/directory/room/{alias}", put_alias)
    r.add("DELETE", "/directory/room/{alias}", delete_alias)


# -- how clients see events ------------------------------------------------------


def redacted_content(event):
    keep = KEPT_CONTENT.get(event["type"], ())
    return {k: v for k, v in event["content"].items() if k in keep}


def client_event(store, event, viewer_device=None, with_room_id=True):
    """The client-server format of a stored event, as seen by `viewer_device`
    ((user_id, device_id)): redactions applied, unsigned filled in."""
    out = {k: event[k] for k in ("event_id", "sender", "type", "origin_server_ts")}
    out["content"] = event["content"]
    if with_room_id:
        out["room_id"] = event["room_id"]
    if "state_key" in event:
        out["state_key"] = event["state_key"]
    if "redacts" in event:
        out["redacts"] = event["redacts"]
    unsigned = {"age": max(0, now_ms() - event["origin_server_ts"])}
    if event.get("prev_event_id"):
        prev = store.event(event["prev_event_id"])
        unsigned["replaces_state"] = prev["event_id"]
        unsigned["prev_content"] = redacted_content(prev) if prev.get("redacted_by") else prev["content"]
    txn = event.get("txn")
    if txn and viewer_device == (event["sender"], txn["device_id"]):
        unsigned["transaction_id"] = txn["txn_id"]
    if event.get("redacted_by"):
        out["content"] = redacted_content(event)
        unsigned["redacted_because"] = client_event(store, store.event(event["redacted_by"]),
                                                     viewer_device, with_room_id)
    out["unsigned"] = unsigned
    return out


def stripped_state(store, room_id, invitee):
    """invite_state: enough for the invitee to see the room and who invited it."""
    out = []
    for etype in ("m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar",
                  "m.room.topic", "m.room.canonical_alias", "m.room.encryption"):
        ev = store.state_event(room_id, etype, "")
        if ev:
            out.append({"type": etype, "state_key": "", "content": ev["content"], "sender": ev["sender"]})
    member = store.state_event(room_id, "m.room.member", invitee)
    if member:
        out.append(client_event(store, member, with_room_id=False))
    return out


# -- authorization ---------------------------------------------------------------


def room_or_404(store, room_id):
    room = store.room(room_id)
    if room is None:
        raise not_found(f"Unknown room {room_id}")
    return room


def require_joined(store, room_id, user_id):
    room_or_404(store, room_id)
    if store.membership(room_id, user_id) != "join":
        raise forbidden(f"User {user_id} not in room {room_id}")


def require_power(store, room_id, user_id, needed, action):
    if store.power_of(room_id, user_id) < needed:
        raise forbidden(f"You don't have permission to {action}")


def event_power_needed(store, room_id, event_type, is_state):
    pl = store.power_levels(room_id)
    default = pl.get("state_default", 50) if is_state else pl.get("events_default", 0)
    return int(pl.get("events", {}).get(event_type, default))


def visible_until(store, room_id, user_id):
    """The last stream position of the room the user may read: now while joined
    or invited, the leave event's position after leaving; None if never a member."""
    member = store.state_event(room_id, "m.room.member", user_id)
    if member is None:
        return None
    if member["content"].get("membership") in ("join", "invite"):
        return store.pos
    return member["pos"]


# -- membership --------------------------------------------------------------------


def set_membership(store, room_id, sender, target, membership, reason=None, extra=None):
    content = {"membership": membership}
    if membership in ("join", "invite"):
        user = store.user(target)
        if user and user["displayname"] is not None:
            content["displayname"] = user["displayname"]
        if user and user["avatar_url"] is not None:
            content["avatar_url"] = user["avatar_url"]
    if reason:
        content["reason"] = reason
    content.update(extra or {})
    return store.append_event(room_id, sender, "m.room.member", content, state_key=target)


def do_join(store, room_id, user_id):
    room_or_404(store, room_id)
    current = store.membership(room_id, user_id)
    if current == "ban":
        raise forbidden("You are banned from this room")
    rule = store.state_content(room_id, "m.room.join_rules", "", {}).get("join_rule", "invite")
    if current not in ("invite", "join") and rule != "public":
        raise forbidden("You are not invited to this room.")
    if current != "join":
        set_membership(store, room_id, user_id, user_id, "join")
    return {"room_id": room_id}


async def join_by_id_or_alias(ctx):
    target = ctx.params["roomIdOrAlias"]
    if target.startswith("#"):
        room_id = ctx.store.data["aliases"].get(target)
        if room_id is None:
            raise not_found(f"Room alias {target} not found")
    else:
        room_id = target
    return do_join(ctx.store, room_id, ctx.user_id)


async def join_room(ctx):
    return do_join(ctx.store, ctx.params["roomId"], ctx.user_id)


async def leave_room(ctx):
    room_id = ctx.params["roomId"]
    room_or_404(ctx.store, room_id)
    if ctx.store.membership(room_id, ctx.user_id) not in ("join", "invite"):
        raise forbidden(f"User {ctx.user_id} not in room {room_id}")
    body = await ctx.json()
    set_membership(ctx.store, room_id, ctx.user_id, ctx.user_id, "leave", body.get("reason"))
    return {}


async def forget_room(ctx):
    room_id = ctx.params["roomId"]
    room_or_404(ctx.store, room_id)
    if ctx.store.membership(room_id, ctx.user_id) in ("join", "invite"):
        raise MatrixError(400, "M_UNKNOWN", "User is still in the room")
    forgotten = ctx.store.user(ctx.user_id).setdefault("forgotten", [])
    if room_id not in forgotten:
        forgotten.append(room_id)
    ctx.store.dirty = True
    return {}


async def _target_of(ctx):
    body = await ctx.json()
    target = body.get("user_id")
    if not isinstance(target, str):
        raise bad_json("user_id is required")
    return body, target


def do_invite(store, room_id, sender, target, is_direct=False, reason=None):
    require_joined(store, room_id, sender)
    if store.user(target) is None:
        raise not_found(f"Unknown user {target}")
    require_power(store, room_id, sender, int(store.power_levels(room_id).get("invite", 0)), "invite")
    current = store.membership(room_id, target)
    if current == "join":
        raise forbidden(f"{target} is already in the room.")
    if current == "ban":
        raise forbidden(f"{target} is banned from the room")
    set_membership(store, room_id, sender, target, "invite", reason,
                   {"is_direct": True} if is_direct else None)


async def invite(ctx):
    body, target = await _target_of(ctx)
    do_invite(ctx.store, ctx.params["roomId"], ctx.user_id, target, reason=body.get("reason"))
    return {}


def _moderate(ctx, body, target, action, membership):
    store, room_id = ctx.store, ctx.params["roomId"]
    require_joined(store, room_id, ctx.user_id)
    pl = store.power_levels(room_id)
    require_power(store, room_id, ctx.user_id, int(pl.get(action, 50)), action)
    if target != ctx.user_id and store.power_of(room_id, target) >= store.power_of(room_id, ctx.user_id):
        raise forbidden(f"You cannot {action} a user with the same or higher power level")
    set_membership(store, room_id, ctx.user_id, target, membership, body.get("reason"))
    return {}


async def kick(ctx):
    body, target = await _target_of(ctx)
    if ctx.store.membership(ctx.params["roomId"], target) not in ("join", "invite"):
        raise forbidden(f"{target} is not in the room")
    return _moderate(ctx, body, target, "kick", "leave")


async def ban(ctx):
    body, target = await _target_of(ctx)
    return _moderate(ctx, body, target, "ban", "ban")


async def unban(ctx):
    body, target = await _target_of(ctx)
    if ctx.store.membership(ctx.params["roomId"], target) != "ban":
        raise forbidden(f"{target} is not banned")
    return _moderate(ctx, body, target, "ban", "leave")


# -- creation ----------------------------------------------------------------------


async def create_room(ctx):
    body = await ctx.json()
    store, creator = ctx.store, ctx.user_id
    preset = body.get("preset") or ("public_chat" if body.get("visibility") == "public" else "private_chat")
    if preset not in ("private_chat", "trusted_private_chat", "public_chat"):
        raise invalid_param(f"Unknown preset {preset}")
    invitees = body.get("invite", [])
    if not isinstance(invitees, list) or not all(isinstance(u, str) for u in invitees):
        raise bad_json("invite must be a list of user ids")
    for u in invitees:
        if store.user(u) is None:
            raise not_found(f"Unknown user {u}")
    alias = None
    if body.get("room_alias_name"):
        alias = f"#{body['room_alias_name']}:{store.server_name}"
        if alias in store.data["aliases"]:
            raise MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken")

    room_id = f"!{random_id(12)}:{store.server_name}"
    store.data["rooms"][room_id] = {"events": [], "state": {}}
    create_content = {"creator": creator, "room_version": str(body.get("room_version", "10")),
                      **body.get("creation_content", {})}
    store.append_event(room_id, creator, "m.room.create", create_content, state_key="")
    set_membership(store, room_id, creator, creator, "join")
    users = {creator: 100}
    if preset == "trusted_private_chat":
        users.update({u: 100 for u in invitees})
    power_levels = {"users": users, "users_default": 0, "events_default": 0, "state_default": 50,
                    "ban": 50, "kick": 50, "redact": 50, "invite": 50,
                    "events": {"m.room.name": 50, "m.room.power_levels": 100,
                               "m.room.history_visibility": 100, "m.room.canonical_alias": 50,
                               "m.room.avatar": 50, "m.room.tombstone": 100,
                               "m.room.server_acl": 100, "m.room.encryption": 100}}
    power_levels.update(body.get("power_level_content_override") or {})
    store.append_event(room_id, creator, "m.room.power_levels", power_levels, state_key="")
    if alias:
        store.data["aliases"][alias] = room_id
        store.append_event(room_id, creator, "m.room.canonical_alias", {"alias": alias}, state_key="")
    join_rule = "public" if preset == "public_chat" else "invite"
    store.append_event(room_id, creator, "m.room.join_rules", {"join_rule": join_rule}, state_key="")
    store.append_event(room_id, creator, "m.room.history_visibility",
                       {"history_visibility": "shared"}, state_key="")
    if preset != "public_chat":
        store.append_event(room_id, creator, "m.room.guest_access",
                           {"guest_access": "can_join"}, state_key="")
    for ev in body.get("initial_state", []):
        if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
            raise bad_json("initial_state entries need a type")
        store.append_event(room_id, creator, ev["type"], ev.get("content", {}),
                           state_key=ev.get("state_key", ""))
    if body.get("name"):
        store.append_event(room_id, creator, "m.room.name", {"name": body["name"]}, state_key="")
    if body.get("topic"):
        store.append_event(room_id, creator, "m.room.topic", {"topic": body["topic"]}, state_key="")
    for u in invitees:
        do_invite(store, room_id, creator, u, is_direct=bool(body.get("is_direct")))
    return {"room_id": room_id}


# -- state ---------------------------------------------------------------------------


def _readable_state(ctx):
    room_id = ctx.params["roomId"]
    room_or_404(ctx.store, room_id)
    if visible_until(ctx.store, room_id, ctx.user_id) is None:
        raise forbidden(f"User {ctx.user_id} not in room {room_id}")
    return room_id


async def get_state(ctx):
    room_id = _readable_state(ctx)
    return [client_event(ctx.store, ev) for ev in ctx.store.current_state(room_id)]


async def get_state_event(ctx):
    room_id = _readable_state(ctx)
    ev = ctx.store.state_event(room_id, ctx.params["type"], ctx.params.get("stateKey", ""))
    if ev is None:
        raise not_found("Event not found.")
    return redacted_content(ev) if ev.get("redacted_by") else ev["content"]


async def put_state_event(ctx):
    store, room_id = ctx.store, ctx.params["roomId"]
    etype, state_key = ctx.params["type"], ctx.params.get("stateKey", "")
    body = await ctx.json()
    require_joined(store, room_id, ctx.user_id)
    require_power(store, room_id, ctx.user_id, event_power_needed(store, room_id, etype, True),
                  f"send {etype}")
    if etype == "m.room.member":
        raise forbidden("Use the membership endpoints to change membership")
    if etype == "m.room.power_levels":
        # A user can't raise anyone (themselves included) above their own level.
        own = store.power_of(room_id, ctx.user_id)
        if any(int(v) > own for v in body.get("users", {}).values()):
            raise forbidden("You cannot raise a power level above your own")
    take_message(ctx)
    ev = store.append_event(room_id, ctx.user_id, etype, body, state_key=state_key)
    return {"event_id": ev["event_id"]}


async def joined_members(ctx):
    store, room_id = ctx.store, ctx.params["roomId"]
    require_joined(store, room_id, ctx.user_id)
    out = {}
    for user_id in store.members(room_id):
        content = store.state_content(room_id, "m.room.member", user_id)
        out[user_id] = {"display_name": content.get("displayname"), "avatar_url": content.get("avatar_url")}
    return {"joined": out}


async def members(ctx):
    room_id = _readable_state(ctx)
    want = ctx.query.get("membership")
    exclude = ctx.query.get("not_membership")
    chunk = [client_event(ctx.store, ev) for ev in ctx.store.current_state(room_id)
             if ev["type"] == "m.room.member"
             and (want is None or ev["content"].get("membership") == want)
             and (exclude is None or ev["content"].get("membership") != exclude)]
    return {"chunk": chunk}


async def joined_rooms(ctx):
    return {"joined_rooms": ctx.store.rooms_of(ctx.user_id)}


# -- sending ----------------------------------------------------------------------------


def _txn_key(ctx, kind):
    # Scoped like Synapse: per device and per request path (so per room and kind).
    return "|".join((kind, ctx.user_id, ctx.device_id, ctx.params["roomId"], ctx.params["txnId"]))


async def send(ctx):
    store, room_id, etype = ctx.store, ctx.params["roomId"], ctx.params["type"]
    body = await ctx.json()
    key = _txn_key(ctx, "send")
    if key in store.data["txns"]:
        return {"event_id": store.data["txns"][key]}
    require_joined(store, room_id, ctx.user_id)
    require_power(store, room_id, ctx.user_id, event_power_needed(store, room_id, etype, False),
                  f"send {etype}")
    take_message(ctx)
    ev = store.append_event(room_id, ctx.user_id, etype, body,
                            txn={"device_id": ctx.device_id, "txn_id": ctx.params["txnId"]})
    store.data["txns"][key] = ev["event_id"]
    return {"event_id": ev["event_id"]}


async def redact(ctx):
    store, room_id, target_id = ctx.store, ctx.params["roomId"], ctx.params["eventId"]
    body = await ctx.json()
    key = _txn_key(ctx, "redact")
    if key in store.data["txns"]:
        return {"event_id": store.data["txns"][key]}
    require_joined(store, room_id, ctx.user_id)
    target = store.event(target_id)
    if target is None or target["room_id"] != room_id:
        raise not_found("Event not found")
    if target["sender"] != ctx.user_id:
        require_power(store, room_id, ctx.user_id,
                      int(store.power_levels(room_id).get("redact", 50)), "redact")
    take_message(ctx)
    content = {"redacts": target_id}  # v11 puts it in content; older versions read the top level
    if "reason" in body:
        content["reason"] = body["reason"]
    ev = store.append_event(room_id, ctx.user_id, "m.room.redaction", content, redacts=target_id,
                            txn={"device_id": ctx.device_id, "txn_id": ctx.params["txnId"]})
    target.setdefault("redacted_by", ev["event_id"])
    store.data["txns"][key] = ev["event_id"]
    return {"event_id": ev["event_id"]}


# -- history ----------------------------------------------------------------------------


def parse_token(token, default):
    if token is None:
        return default
    try:
        if token[0] not in "st":
            raise ValueError
        return int(token[1:])
    except (ValueError, IndexError):
        raise invalid_param(f"Invalid pagination token {token!r}")


def event_filter_matches(flt, event):
    if not flt:
        return True
    types, not_types = flt.get("types"), flt.get("not_types", [])
    if types is not None and not any(_type_match(p, event["type"]) for p in types):
        return False
    if any(_type_match(p, event["type"]) for p in not_types):
        return False
    senders, not_senders = flt.get("senders"), flt.get("not_senders", [])
    if senders is not None and event["sender"] not in senders:
        return False
    return event["sender"] not in not_senders


def _type_match(pattern, etype):
    # The spec allows a trailing `*` wildcard in filter type lists.
    return etype.startswith(pattern[:-1]) if pattern.endswith("*") else etype == pattern


def _readable_events(ctx):
    room_id = ctx.params["roomId"]
    room_or_404(ctx.store, room_id)
    upto = visible_until(ctx.store, room_id, ctx.user_id)
    if upto is None:
        raise forbidden(f"User {ctx.user_id} not in room {room_id}")
    return room_id, upto


def _limit(ctx, default):
    try:
        return max(0, min(int(ctx.query.get("limit", default)), 1000))
    except ValueError:
        raise invalid_param("limit must be an integer")


async def messages(ctx):
    store = ctx.store
    room_id, upto = _readable_events(ctx)
    direction = ctx.query.get("dir", "b")
    if direction not in ("b", "f"):
        raise invalid_param("dir must be b or f")
    limit = _limit(ctx, 10)
    try:
        flt = json.loads(ctx.query["filter"]) if "filter" in ctx.query else None
    except ValueError:
        raise MatrixError(400, "M_NOT_JSON", "filter is not JSON")
    viewer = (ctx.user_id, ctx.device_id)
    if direction == "b":
        start = min(parse_token(ctx.query.get("from"), upto), upto)
        stop = parse_token(ctx.query.get("to"), 0)
        candidates = [ev for ev in reversed(store.room_events(room_id, stop, start))
                      if event_filter_matches(flt, ev)]
    else:
        start = parse_token(ctx.query.get("from"), 0)
        stop = min(parse_token(ctx.query.get("to"), upto), upto)
        candidates = [ev for ev in store.room_events(room_id, start, stop)
                      if event_filter_matches(flt, ev)]
    chunk = candidates[:limit]
    out = {"start": f"s{start}", "chunk": [client_event(store, ev, viewer) for ev in chunk]}
    if len(candidates) > limit and chunk:
        out["end"] = f"s{chunk[-1]['pos'] - 1}" if direction == "b" else f"s{chunk[-1]['pos']}"
    return out


async def get_event(ctx):
    room_id, upto = _readable_events(ctx)
    ev = ctx.store.event(ctx.params["eventId"])
    if ev is None or ev["room_id"] != room_id or ev["pos"] > upto:
        raise not_found("Event not found.")
    return client_event(ctx.store, ev, (ctx.user_id, ctx.device_id))


async def context(ctx):
    store = ctx.store
    room_id, upto = _readable_events(ctx)
    ev = store.event(ctx.params["eventId"])
    if ev is None or ev["room_id"] != room_id or ev["pos"] > upto:
        raise not_found("Event not found.")
    limit = _limit(ctx, 10)
    viewer = (ctx.user_id, ctx.device_id)
    before = list(reversed(store.room_events(room_id, 0, ev["pos"] - 1)))[:limit // 2]
    after = store.room_events(room_id, ev["pos"], upto)[:limit - limit // 2]
    return {
        "event": client_event(store, ev, viewer),
        "events_before": [client_event(store, e, viewer) for e in before],
        "events_after": [client_event(store, e, viewer) for e in after],
        "start": f"s{(before[-1]['pos'] if before else ev['pos']) - 1}",
        "end": f"s{after[-1]['pos'] if after else ev['pos']}",
        "state": [client_event(store, e, viewer) for e in store.current_state(room_id)],
    }


async def relations(ctx):
    store = ctx.store
    room_id, upto = _readable_events(ctx)
    parent, rel_type, etype = ctx.params["eventId"], ctx.params.get("relType"), ctx.params.get("eventType")
    direction = ctx.query.get("dir", "b")
    limit = _limit(ctx, 50)
    found = []
    for ev in store.room_events(room_id, 0, upto):
        rel = ev["content"].get("m.relates_to")
        if not isinstance(rel, dict) or rel.get("event_id") != parent or ev.get("redacted_by"):
            continue
        if rel_type is not None and rel.get("rel_type") != rel_type:
            continue
        if etype is not None and ev["type"] != etype:
            continue
        found.append(ev)
    if direction == "b":
        found.reverse()
    start = parse_token(ctx.query.get("from"), None) if "from" in ctx.query else None
    if start is not None:
        found = [e for e in found if (e["pos"] <= start if direction == "b" else e["pos"] > start)]
    chunk = found[:limit]
    out = {"chunk": [client_event(store, ev, (ctx.user_id, ctx.device_id)) for ev in chunk]}
    if len(found) > limit:
        out["next_batch"] = f"s{chunk[-1]['pos'] - 1}" if direction == "b" else f"s{chunk[-1]['pos']}"
    return out


# -- ephemeral ------------------------------------------------------------------------------


async def typing(ctx):
    store, room_id = ctx.store, ctx.params["roomId"]
    if ctx.params["userId"] != ctx.user_id:
        raise forbidden("Cannot set another user's typing state")
    body = await ctx.json()
    if not isinstance(body.get("typing"), bool):
        raise bad_json("typing must be a boolean")
    require_joined(store, room_id, ctx.user_id)
    store.set_typing(room_id, ctx.user_id, body["typing"], int(body.get("timeout", 30000)))
    return {}


def set_receipt(store, room_id, user_id, receipt_type, event_id, thread_id=None):
    """Keeps the newest receipt per (user, type, thread) with its stream position."""
    entries = store.data["receipts"].setdefault(room_id, [])
    entries[:] = [e for e in entries if not (e["user_id"] == user_id and e["type"] == receipt_type
                                              and e.get("thread_id") == thread_id)]
    entry = {"pos": store.next_pos(), "event_id": event_id, "type": receipt_type,
             "user_id": user_id, "ts": now_ms()}
    if thread_id is not None:
        entry["thread_id"] = thread_id
    entries.append(entry)


def set_fully_read(store, room_id, user_id, event_id):
    per_room = store.user(user_id)["room_account_data"].setdefault(room_id, {})
    per_room["m.fully_read"] = {"content": {"event_id": event_id}, "pos": store.next_pos()}


def _check_receipt_target(ctx, room_id, event_id):
    require_joined(ctx.store, room_id, ctx.user_id)
    ev = ctx.store.event(event_id)
    if ev is None or ev["room_id"] != room_id:
        raise not_found("Event not found")


async def receipt(ctx):
    room_id, rtype, event_id = ctx.params["roomId"], ctx.params["receiptType"], ctx.params["eventId"]
    if rtype not in ("m.read", "m.read.private", "m.fully_read"):
        raise invalid_param(f"Unknown receipt type {rtype}")
    body = await ctx.json()
    _check_receipt_target(ctx, room_id, event_id)
    if rtype == "m.fully_read":
        set_fully_read(ctx.store, room_id, ctx.user_id, event_id)
    else:
        set_receipt(ctx.store, room_id, ctx.user_id, rtype, event_id, body.get("thread_id"))
    return {}


async def read_markers(ctx):
    room_id = ctx.params["roomId"]
    body = await ctx.json()
    for rtype in ("m.fully_read", "m.read", "m.read.private"):
        event_id = body.get(rtype)
        if event_id is None:
            continue
        _check_receipt_target(ctx, room_id, event_id)
        if rtype == "m.fully_read":
            set_fully_read(ctx.store, room_id, ctx.user_id, event_id)
        else:
            set_receipt(ctx.store, room_id, ctx.user_id, rtype, event_id)
    return {}


# -- aliases ----------------------------------------------------------------------------------


async def get_alias(ctx):
    room_id = ctx.store.data["aliases"].get(ctx.params["alias"])
    if room_id is None:
        raise not_found(f"Room alias {ctx.params['alias']} not found")
    return {"room_id": room_id, "servers": [ctx.store.server_name]}


async def put_alias(ctx):
    alias = ctx.params["alias"]
    body = await ctx.json()
    if alias in ctx.store.data["aliases"]:
        raise MatrixError(409, "M_UNKNOWN", "Room alias already exists")
    require_joined(ctx.store, body.get("room_id", ""), ctx.user_id)
    ctx.store.data["aliases"][alias] = body["room_id"]
    ctx.store.dirty = True
    return {}


async def delete_alias(ctx):
    if ctx.store.data["aliases"].pop(ctx.params["alias"], None) is None:
        raise not_found("Room alias not found")
    ctx.store.dirty = True
    return {}

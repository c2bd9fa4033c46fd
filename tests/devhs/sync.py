"""GET /sync: everything that changed for one device after a stream position,
long-polled until something does; also the device-list delta /keys/changes reuses."""

import json
import time

from . import rooms
from .errors import MatrixError, invalid_param
from .rooms import client_event, event_filter_matches

DEFAULT_TIMELINE_LIMIT = 10  # Synapse's default when the filter gives none


def register(r):
    r.add("GET", "/sync", sync)


def parse_since(store, token):
    """Our tokens are `s<pos>`. Garbage is 400 M_UNKNOWN as in Synapse; a position
    beyond ours (a token from a server whose state was thrown away) is M_UNKNOWN_POS."""
    if token is None:
        return None
    try:
        if not token.startswith("s"):
            raise ValueError
        pos = int(token[1:])
    except ValueError:
        raise MatrixError(400, "M_UNKNOWN", "Invalid stream token")
    if pos > store.pos or pos < 0:
        raise MatrixError(400, "M_UNKNOWN_POS", "Unknown position")
    return pos


def load_filter(ctx):
    raw = ctx.query.get("filter")
    if raw is None:
        return {}
    if raw.lstrip().startswith("{"):
        try:
            flt = json.loads(raw)
        except ValueError:
            raise MatrixError(400, "M_NOT_JSON", "filter is not JSON")
        return flt if isinstance(flt, dict) else {}
    try:
        return ctx.store.user(ctx.user_id)["filters"][int(raw)]
    except (ValueError, IndexError):
        raise invalid_param("No such filter")


async def sync(ctx):
    store = ctx.store
    since = parse_since(store, ctx.query.get("since"))
    if since is not None and ctx.server.faults.take_unknown_pos(ctx.user_id):
        raise MatrixError(400, "M_UNKNOWN_POS", "Unknown position")
    flt = load_filter(ctx)
    full_state = ctx.query.get("full_state") == "true"
    try:
        timeout = max(0, int(ctx.query.get("timeout", 0))) / 1000
    except ValueError:
        raise invalid_param("timeout must be an integer")
    if since is not None:
        acknowledge_to_device(store, ctx.user_id, ctx.device_id, since)
    deadline = time.monotonic() + timeout
    while True:
        upto = store.pos
        response, has_news = build(ctx, since, upto, flt, full_state)
        remaining = deadline - time.monotonic()
        if since is None or full_state or has_news or remaining <= 0 or ctx.server.stopping.is_set():
            return response
        await store.wait_for_change(ctx.user_id, remaining)


def acknowledge_to_device(store, user_id, device_id, since):
    """A sync with `since` proves the client has what came before it: drop it."""
    queue = store.data["to_device"].get(user_id, {}).get(device_id)
    if queue and queue[0]["pos"] <= since:
        queue[:] = [m for m in queue if m["pos"] > since]
        store.dirty = True


def build(ctx, since, upto, flt, full_state):
    store, user_id, device_id = ctx.store, ctx.user_id, ctx.device_id
    room_flt = flt.get("room", {})
    joined, invited, left = {}, {}, {}
    forgotten = store.user(user_id).get("forgotten", [])
    for room_id in store.data["rooms"]:
        if room_id in room_flt.get("not_rooms", []):
            continue
        if "rooms" in room_flt and room_id not in room_flt["rooms"]:
            continue
        member = store.state_event(room_id, "m.room.member", user_id)
        if member is None:
            continue
        membership = member["content"].get("membership")
        if membership == "join":
            entry = joined_room(ctx, room_id, since, upto, room_flt, full_state)
            if entry is not None:
                joined[room_id] = entry
        elif membership == "invite":
            if since is None or member["pos"] > since:
                invited[room_id] = {"invite_state": {"events": rooms.stripped_state(store, room_id, user_id)}}
        elif room_id not in forgotten and member["pos"] <= upto and (
                (since is not None and member["pos"] > since)
                or (since is None and room_flt.get("include_leave"))):
            left[room_id] = left_room(ctx, room_id, since, member["pos"], room_flt)

    account_data = [{"type": t, "content": e["content"]}
                    for t, e in store.user(user_id)["account_data"].items()
                    if since is None or e["pos"] > since]
    account_data = [e for e in account_data if event_filter_matches(flt.get("account_data"), e)]
    # Every pending message goes out at once: next_batch covers them all, so holding
    # some back (Synapse sends 100 at a time) would acknowledge them unseen.
    to_device = [{"sender": m["sender"], "type": m["type"], "content": m["content"]}
                 for m in store.data["to_device"].get(user_id, {}).get(device_id, [])
                 if m["pos"] <= upto]
    changed, gone = (set(), set()) if since is None else device_list_delta(store, user_id, since, upto)
    device = store.user(user_id)["devices"].get(device_id, {})
    otk_counts = {"signed_curve25519": 0}
    for key_id in device.get("one_time_keys", {}):
        alg = key_id.split(":", 1)[0]
        otk_counts[alg] = otk_counts.get(alg, 0) + 1
    unused_fallback = sorted({k.split(":", 1)[0] for k, v in device.get("fallback_keys", {}).items()
                              if not v["used"]})
    response = {
        "next_batch": f"s{upto}",
        "rooms": {"join": joined, "invite": invited, "leave": left, "knock": {}},
        "account_data": {"events": account_data},
        "presence": {"events": []},
        "to_device": {"events": to_device},
        "device_lists": {"changed": sorted(changed), "left": sorted(gone)},
        "device_one_time_keys_count": otk_counts,
        "device_unused_fallback_key_types": unused_fallback,
        "org.matrix.msc2732.device_unused_fallback_key_types": unused_fallback,
    }
    has_news = bool(joined or invited or left or account_data or to_device or changed or gone)
    return response, has_news


def membership_at(store, room_id, user_id, pos):
    state = None
    for ev in store.room_events(room_id, 0, pos):
        if ev["type"] == "m.room.member" and ev["state_key"] == user_id:
            state = ev["content"].get("membership")
    return state


def state_between(store, room_id, after, before, state_flt):
    """The latest state event per (type, state_key) with after < pos < before:
    the room state at the start of a timeline (or its change across a gap)."""
    latest = {}
    for ev in store.room_events(room_id, after, before - 1):
        if "state_key" in ev:
            latest[(ev["type"], ev["state_key"])] = ev
    return [ev for ev in latest.values() if event_filter_matches(state_flt, ev)]


def joined_room(ctx, room_id, since, upto, room_flt, full_state):
    store, user_id = ctx.store, ctx.user_id
    viewer = (user_id, ctx.device_id)
    tl_flt = room_flt.get("timeline", {})
    limit = int(tl_flt.get("limit", DEFAULT_TIMELINE_LIMIT))
    fresh = since is None or membership_at(store, room_id, user_id, since) != "join"
    window = store.room_events(room_id, 0 if fresh else since, upto)
    events = [ev for ev in window if event_filter_matches(tl_flt, ev)]
    timeline = events[-limit:] if limit > 0 else []
    limited = len(events) > len(timeline)
    start = timeline[0]["pos"] if timeline else upto + 1
    if fresh or full_state:
        state = state_between(store, room_id, 0, start, room_flt.get("state"))
    elif limited:
        state = state_between(store, room_id, since, start, room_flt.get("state"))
    else:
        state = []

    ephemeral = []
    if since is None or store.typing_pos.get(room_id, 0) > since:
        typing = store.typing_users(room_id)
        if typing or since is not None:
            ephemeral.append({"type": "m.typing", "content": {"user_ids": typing}})
    receipts = {}
    for r in store.data["receipts"].get(room_id, []):
        if (since is None or r["pos"] > since) and r["pos"] <= upto and (
                r["type"] != "m.read.private" or r["user_id"] == user_id):
            data = {"ts": r["ts"]}
            if "thread_id" in r:
                data["thread_id"] = r["thread_id"]
            receipts.setdefault(r["event_id"], {}).setdefault(r["type"], {})[r["user_id"]] = data
    if receipts:
        ephemeral.append({"type": "m.receipt", "content": receipts})
    ephemeral = [e for e in ephemeral if event_filter_matches(room_flt.get("ephemeral"), {**e, "sender": ""})]
    account_data = [{"type": t, "content": e["content"]}
                    for t, e in store.user(user_id)["room_account_data"].get(room_id, {}).items()
                    if since is None or fresh or e["pos"] > since]

    if not (fresh or full_state or timeline or state or ephemeral or account_data):
        return None
    joined_count = len(store.members(room_id, "join"))
    heroes = [u for u in store.members(room_id, "join") + store.members(room_id, "invite")
              if u != user_id][:5]
    return {
        "timeline": {"events": [client_event(store, ev, viewer, with_room_id=False) for ev in timeline],
                     "limited": limited, "prev_batch": f"s{start - 1}"},
        "state": {"events": [client_event(store, ev, viewer, with_room_id=False) for ev in state]},
        "ephemeral": {"events": ephemeral},
        "account_data": {"events": account_data},
        "unread_notifications": {"highlight_count": 0, "notification_count": 0},
        "summary": {"m.heroes": heroes, "m.joined_member_count": joined_count,
                    "m.invited_member_count": len(store.members(room_id, "invite"))},
    }


def left_room(ctx, room_id, since, leave_pos, room_flt):
    """A room the user left (or was kicked/banned from): the timeline up to the
    leave event, so the client sees why."""
    store = ctx.store
    tl_flt = room_flt.get("timeline", {})
    limit = int(tl_flt.get("limit", DEFAULT_TIMELINE_LIMIT))
    events = [ev for ev in store.room_events(room_id, since or 0, leave_pos)
              if event_filter_matches(tl_flt, ev)]
    timeline = events[-limit:] if limit > 0 else []
    start = timeline[0]["pos"] if timeline else leave_pos + 1
    viewer = (ctx.user_id, ctx.device_id)
    state = state_between(store, room_id, since or 0, start, room_flt.get("state")) \
        if len(events) > len(timeline) else []
    return {
        "timeline": {"events": [client_event(store, ev, viewer, with_room_id=False) for ev in timeline],
                     "limited": len(events) > len(timeline), "prev_batch": f"s{start - 1}"},
        "state": {"events": [client_event(store, ev, viewer, with_room_id=False) for ev in state]},
        "account_data": {"events": []},
    }


def device_list_delta(store, user_id, since, upto):
    """Users whose devices the client must re-query (changed) or stop tracking (left)
    between two positions: key uploads by anyone sharing a room, members joining a
    shared room, the user's own new rooms; left once no room is shared any more."""
    changed, gone = set(), set()
    # Only the user and its room fellows can be in `changed` by their keys: looking
    # at them, not at every user, keeps a sync cheap on a server with many users.
    for other_id in store.room_fellows(user_id) | {user_id}:
        if since < store.user(other_id).get("keys_pos", 0) <= upto:
            changed.add(other_id)
    for room_id in store.data["rooms"]:
        if store.state_event(room_id, "m.room.member", user_id) is None:
            continue
        for ev in store.room_events(room_id, since, upto):
            if ev["type"] != "m.room.member":
                continue
            target, membership = ev["state_key"], ev["content"].get("membership")
            if target == user_id:
                others = set(store.members(room_id, "join")) - {user_id}
                (changed if membership == "join" else gone).update(others)
            elif membership == "join":
                changed.add(target)
            elif membership in ("leave", "ban"):
                gone.add(target)
    changed = {u for u in changed if u == user_id or store.shares_room(user_id, u)}
    gone = {u for u in gone if u != user_id and not store.shares_room(user_id, u)}
    return changed, gone

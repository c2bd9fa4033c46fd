"""The test control API under /_devhs/ and the faults it injects into a user's
requests (rate limits, errors, broken bodies, stalls), plus the switches the
bot's recovery paths need (revoked tokens, held to-device messages, M_UNKNOWN_POS)."""

import asyncio
import itertools
import os
import time

from aiohttp import web

from . import rooms
from .errors import MatrixError, bad_json, forbidden, limit_exceeded, not_found

FAIL_MODES = ("500", "garbage", "truncated", "huge", "stall")
HUGE_BODY_BYTES = 10 * 1024 * 1024


def register(r):
    r.add("POST", "/_devhs/faults", add_fault, auth=False, client=False)
    r.add("GET", "/_devhs/faults", list_faults, auth=False, client=False)
    r.add("DELETE", "/_devhs/faults", clear_faults, auth=False, client=False)
    r.add("POST", "/_devhs/revoke", revoke, auth=False, client=False)
    r.add("POST", "/_devhs/to_device/hold", hold_to_device, auth=False, client=False)
    r.add("POST", "/_devhs/to_device/release", release_to_device, auth=False, client=False)
    r.add("POST", "/_devhs/unknown_pos", force_unknown_pos, auth=False, client=False)
    r.add("GET", "/_devhs/rooms/{roomId}/events", room_events, auth=False, client=False)
    r.add("GET", "/_devhs/requests", request_counts, auth=False, client=False)
    r.add("DELETE", "/_devhs/requests", reset_request_counts, auth=False, client=False)
    r.add("GET", "/_devhs/status", status, auth=False, client=False)
    r.add("POST", "/_devhs/shutdown", shutdown, auth=False, client=False)


def check_control_token(ctx):
    """With --control-token the control API needs it (Bearer or ?control_token=);
    without, loopback-only binding is the protection."""
    expected = ctx.server.args.control_token
    if expected is None:
        return
    header = ctx.request.headers.get("Authorization", "")
    given = header[len("Bearer "):] if header.startswith("Bearer ") else ctx.query.get("control_token")
    if given != expected:
        raise forbidden("Bad control token")


class Faults:
    """Active fault rules. A rule hits the requests of one user whose endpoint
    template contains `path_contains`, for `count` requests or `duration_s` seconds
    (or until cleared)."""

    def __init__(self):
        self.rules = []
        self.unknown_pos = set()
        self._ids = itertools.count(1)

    def add(self, rule):
        rule["id"] = next(self._ids)
        if rule.get("duration_s") is not None:
            rule["until"] = time.monotonic() + float(rule["duration_s"])
        self.rules.append(rule)
        return rule["id"]

    def _take(self, user_id, template):
        now = time.monotonic()
        self.rules = [r for r in self.rules
                      if r.get("until", now + 1) > now and (r.get("count") is None or r["count"] > 0)]
        for rule in self.rules:
            if rule["user_id"] == user_id and rule.get("path_contains", "") in template:
                if rule.get("count") is not None:
                    rule["count"] -= 1
                return rule
        return None

    def take_unknown_pos(self, user_id):
        if user_id in self.unknown_pos:
            self.unknown_pos.discard(user_id)
            return True
        return False

    async def apply(self, ctx, template, user_id=None):
        """Returns a broken response to send instead of the real one, raises an
        injected error, stalls, or returns None to let the request through."""
        rule = self._take(user_id or ctx.user_id, template)
        if rule is None:
            return None
        if rule["kind"] == "ratelimit":
            raise limit_exceeded(rule.get("retry_after_ms", 1000 * rule.get("retry_after_s", 1)))
        mode = rule["mode"]
        if mode == "500":
            raise MatrixError(500, "M_UNKNOWN", "Internal server error (injected by devhs)")
        if mode == "garbage":
            return web.Response(status=200, body=b"<html>\x00not json at all", content_type="application/json")
        if mode == "huge":
            body = b'{"padding":"' + b"x" * HUGE_BODY_BYTES + b'"}'
            return web.Response(status=200, body=body, content_type="application/json")
        if mode == "truncated":
            # Promise more bytes than are sent, then drop the connection.
            resp = web.StreamResponse(status=200)
            resp.content_type = "application/json"
            resp.content_length = 4096
            await resp.prepare(ctx.request)
            await resp.write(b'{"next_batch": "s1", "rooms": {"jo')
            ctx.request.transport.close()
            return resp
        await asyncio.sleep(float(rule.get("stall_s", 5)))  # stall, then answer normally
        return None


async def add_fault(ctx):
    body = await ctx.json()
    kind = body.get("kind")
    if not isinstance(body.get("user_id"), str):
        raise bad_json("user_id is required")
    if kind == "fail" and body.get("mode") not in FAIL_MODES:
        raise bad_json(f"mode must be one of {FAIL_MODES}")
    if kind not in ("ratelimit", "fail"):
        raise bad_json("kind must be ratelimit or fail")
    fields = ("user_id", "kind", "mode", "count", "duration_s", "retry_after_ms", "retry_after_s",
              "stall_s", "path_contains")
    rule = {k: body[k] for k in fields if k in body}
    return {"id": ctx.server.faults.add(rule)}


async def list_faults(ctx):
    return {"faults": [{k: v for k, v in r.items() if k != "until"} for r in ctx.server.faults.rules]}


async def clear_faults(ctx):
    ctx.server.faults.rules.clear()
    ctx.server.faults.unknown_pos.clear()
    return {}


async def revoke(ctx):
    """Drops one token, or every token of a user; the device and its keys stay, as
    when an admin invalidates a session."""
    body = await ctx.json()
    tokens = ctx.store.data["tokens"]
    if "token" in body:
        doomed = [body["token"]] if body["token"] in tokens else []
    elif "user_id" in body:
        doomed = [t for t, s in tokens.items() if s["user_id"] == body["user_id"]]
    else:
        raise bad_json("token or user_id is required")
    for t in doomed:
        del tokens[t]
    ctx.store.dirty = True
    return {"revoked": len(doomed)}


def _user_and_type(ctx, body):
    if ctx.store.user(body.get("user_id", "")) is None:
        raise not_found("Unknown user")
    if not isinstance(body.get("type"), str):
        raise bad_json("type is required")
    return body["user_id"], body["type"]


async def hold_to_device(ctx):
    body = await ctx.json()
    user_id, etype = _user_and_type(ctx, body)
    ctx.store.data["to_device_held"].setdefault(user_id, {}).setdefault(etype, [])
    ctx.store.dirty = True
    return {}


async def release_to_device(ctx):
    """Delivers what was held, in order, and stops holding that type."""
    body = await ctx.json()
    user_id, etype = _user_and_type(ctx, body)
    held = ctx.store.data["to_device_held"].get(user_id, {}).pop(etype, [])
    for m in held:
        ctx.store.queue_to_device(user_id, m["device_id"], m["sender"], etype, m["content"])
    ctx.store.dirty = True
    return {"released": len(held)}


async def force_unknown_pos(ctx):
    body = await ctx.json()
    if ctx.store.user(body.get("user_id", "")) is None:
        raise not_found("Unknown user")
    ctx.server.faults.unknown_pos.add(body["user_id"])
    return {}


async def room_events(ctx):
    """Every event ever sent in the room, as sent (redacted ones with their
    original content), for exactly-once checks on the server side."""
    store, room_id = ctx.store, ctx.params["roomId"]
    rooms.room_or_404(store, room_id)
    out = []
    for eid in store.room(room_id)["events"]:
        ev = store.event(eid)
        item = {k: ev[k] for k in ("event_id", "sender", "type", "content", "origin_server_ts") if k in ev}
        if "state_key" in ev:
            item["state_key"] = ev["state_key"]
        if ev.get("txn"):
            item["device_id"] = ev["txn"]["device_id"]
            item["txn_id"] = ev["txn"]["txn_id"]
        item["redacted"] = bool(ev.get("redacted_by"))
        out.append(item)
    return {"events": out}


async def request_counts(ctx):
    counts = ctx.server.request_counts
    user_id = ctx.query.get("user_id")
    return {user_id: counts.get(user_id, {})} if user_id else counts


async def reset_request_counts(ctx):
    ctx.server.request_counts.clear()
    return {}


async def status(ctx):
    return {"pid": os.getpid(), "pos": ctx.store.pos, "users": sorted(ctx.store.data["users"]),
            "rooms": sorted(ctx.store.data["rooms"])}


async def shutdown(ctx):
    asyncio.get_running_loop().call_later(0.05, ctx.server.stopping.set)
    return {}

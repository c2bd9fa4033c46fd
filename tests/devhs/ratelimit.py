"""Synapse's message rate limit (rc_message) and its per-user override through the
admin API (/_synapse/admin/v1/users/{userId}/override_ratelimit).

The limit is off unless devhs is started with --message-rate PER_SECOND,BURST (Synapse's
defaults are 0.2,10). It counts what Synapse counts: events sent into rooms (send,
non-member state, redactions); a repeated transaction id is answered from the
transaction cache before the limit is consulted, as Synapse does. The algorithm is
Synapse's Ratelimiter.can_do_action: a leaky bucket of `burst` actions draining at
`per_second`, denied with 429 M_LIMIT_EXCEEDED and the wait until one more fits."""

import time

from .errors import MatrixError, limit_exceeded, not_found
from . import accounts


def register(r):
    path = "/_synapse/admin/v1/users/{userId}/override_ratelimit"
    r.add("GET", path, get_override, client=False)
    r.add("POST", path, set_override, client=False)
    r.add("DELETE", path, delete_override, client=False)


class MessageLimit:
    """rc_message for every user: (action_count, time_start) per user, as Synapse keeps."""

    def __init__(self, per_second, burst):
        self.per_second, self.burst = per_second, burst
        self.actions = {}

    def take(self, store, user_id):
        override = store.data["ratelimit_overrides"].get(user_id)
        rate, burst = self.per_second, self.burst
        if override is not None:
            if not override["messages_per_second"]:
                return  # 0 (or null) lifts the limit for this user altogether
            rate, burst = override["messages_per_second"], override["burst_count"]
        now = time.monotonic()
        count, start = self.actions.get(user_id, (0.0, now))
        performed = count - (now - start) * rate
        if performed < 0:
            performed, count, start = 0.0, 0.0, now
        allowed = not performed > burst - 1
        if allowed:
            count += 1
        self.actions[user_id] = (count, start)
        if allowed:
            return
        retry_at = max(now, start + (count - burst + 1) / rate)
        raise limit_exceeded(int((retry_at - now) * 1000))


def take_message(ctx):
    """Counts one event `ctx`'s user sends into a room, when the limit is on."""
    limit = ctx.server.message_limit
    if limit is not None:
        limit.take(ctx.store, ctx.user_id)


def _local_user(ctx):
    user_id = ctx.params["userId"]
    if not user_id.endswith(":" + ctx.store.server_name):
        raise MatrixError(400, "M_INVALID_PARAM", "Can only look up local users")
    if ctx.store.user(user_id) is None:
        raise not_found("User does not exist")
    return user_id


async def get_override(ctx):
    accounts._require_server_admin(ctx)
    return dict(ctx.store.data["ratelimit_overrides"].get(_local_user(ctx), {}))


async def set_override(ctx):
    accounts._require_server_admin(ctx)
    user_id = _local_user(ctx)
    body = await ctx.json()
    values = {}
    for field in ("messages_per_second", "burst_count"):
        value = body.get(field, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MatrixError(400, "M_INVALID_PARAM", f"{field!r} parameter must be a positive int")
        values[field] = value
    ctx.store.data["ratelimit_overrides"][user_id] = values
    ctx.store.dirty = True
    return dict(values)


async def delete_override(ctx):
    accounts._require_server_admin(ctx)
    ctx.store.data["ratelimit_overrides"].pop(_local_user(ctx), None)
    ctx.store.dirty = True
    return {}

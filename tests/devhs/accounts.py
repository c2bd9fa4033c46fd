"""Accounts: versions, login/register/logout, whoami, profiles, account data,
filters, and the Synapse admin user API that `hermes-matrix provision` calls."""

import re
import time

from . import rooms
from .errors import MatrixError, bad_json, forbidden, limit_exceeded, missing_param, not_found
from .store import random_id

LOCALPART = re.compile(r"^[a-z0-9._=/+-]+$")


def register(r):
    r.add("GET", "/_matrix/client/versions", versions, auth=False, client=False)
    r.add("GET", "/.well-known/matrix/client", well_known, auth=False, client=False)
    r.add("GET", "/login", login_flows, auth=False)
    r.add("POST", "/login", login, auth=False)
    r.add("POST", "/register", register_user, auth=False)
    r.add("GET", "/register/available", username_available, auth=False)
    r.add("POST", "/logout", logout)
    r.add("POST", "/logout/all", logout_all)
    r.add("GET", "/account/whoami", whoami)
    r.add("GET", "/capabilities", capabilities)
    r.add("GET", "/pushrules", push_rules)
    r.add("GET", "/profile/{userId}", get_profile, auth=False)
    r.add("GET", "/profile/{userId}/{field}", get_profile_field, auth=False)
    r.add("PUT", "/profile/{userId}/{field}", set_profile_field)
    r.add("GET", "/presence/{userId}/status", get_presence)
    r.add("PUT", "/presence/{userId}/status", set_presence)
    r.add("GET", "/user/{userId}/account_data/{type}", get_account_data)
    r.add("PUT", "/user/{userId}/account_data/{type}", put_account_data)
    r.add("GET", "/user/{userId}/rooms/{roomId}/account_data/{type}", get_room_account_data)
    r.add("PUT", "/user/{userId}/rooms/{roomId}/account_data/{type}", put_room_account_data)
    r.add("POST", "/user/{userId}/filter", create_filter)
    r.add("GET", "/user/{userId}/filter/{filterId}", get_filter)
    r.add("GET", "/_synapse/admin/v1/server_version", server_version, auth=False, client=False)
    r.add("GET", "/_synapse/admin/v2/users/{userId}", admin_get_user, client=False)
    r.add("PUT", "/_synapse/admin/v2/users/{userId}", admin_put_user, client=False)


async def versions(ctx):
    versions = ["r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6"]
    if not ctx.server.args.no_authenticated_media:
        # v1.11 is what tells a client to use authenticated media (media.py); the
        # versions between are not claimed.
        versions.append("v1.11")
    return {"versions": versions, "unstable_features": {}}


async def well_known(ctx):
    return {"m.homeserver": {"base_url": f"http://{ctx.request.host}"}}


async def login_flows(ctx):
    return {"flows": [{"type": "m.login.password"}]}


def _canonical_user_id(ctx, given):
    # Localparts are registered lower-case; Synapse lower-cases them at login too.
    localpart, _, server = given.lstrip("@").partition(":")
    return f"@{localpart.lower()}:{server or ctx.store.server_name}"


def _identifier_user(ctx, body):
    ident = body.get("identifier")
    if isinstance(ident, dict):
        if ident.get("type") != "m.id.user" or not isinstance(ident.get("user"), str):
            raise MatrixError(400, "M_UNKNOWN", "Only m.id.user identifiers are supported")
        return _canonical_user_id(ctx, ident["user"])
    if isinstance(body.get("user"), str):  # legacy r0 field
        return _canonical_user_id(ctx, body["user"])
    raise missing_param("Missing identifier")


class LoginLimit:
    """Synapse's rc_login as a token bucket for all clients (they are all on loopback):
    `burst` logins at once, one more every `refill_s`; past it 429 M_LIMIT_EXCEEDED with
    the wait until the next token (Synapse's default is a burst of 3)."""

    def __init__(self, burst, refill_s):
        self.burst, self.refill_s = burst, refill_s
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) / self.refill_s)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return
        raise limit_exceeded(int((1 - self.tokens) * self.refill_s * 1000) + 1)


async def login(ctx):
    body = await ctx.json()
    if ctx.server.login_limit is not None:
        ctx.server.login_limit.take()
    if body.get("type") != "m.login.password":
        raise MatrixError(400, "M_UNKNOWN", "Unknown login type")
    user_id = _identifier_user(ctx, body)
    user = ctx.store.user(user_id)
    if user is not None:
        # Faults for this user cover its logins too (a bot's password login on start).
        faulty = await ctx.server.faults.apply(ctx, "/login", user_id)
        if faulty is not None:
            return faulty
    if user is None or user["password"] is None or user["password"] != body.get("password"):
        raise forbidden("Invalid username or password")
    token, device_id = ctx.store.login(user_id, body.get("device_id"),
                                       body.get("initial_device_display_name"))
    return {"user_id": user_id, "access_token": token, "device_id": device_id,
            "home_server": ctx.store.server_name}


def _uia_challenge(session=None):
    return MatrixError(401, None, None,
                       flows=[{"stages": ["m.login.dummy"]}], params={},
                       session=session or random_id(12))


async def register_user(ctx):
    """Open registration behind the m.login.dummy stage, like Synapse with
    enable_registration_without_verification."""
    body = await ctx.json()
    if ctx.query.get("kind", "user") != "user":
        raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled")
    auth = body.get("auth")
    if not isinstance(auth, dict) or auth.get("type") != "m.login.dummy":
        raise _uia_challenge(auth.get("session") if isinstance(auth, dict) else None)
    name = body.get("username") or random_id(8).lower()
    if not isinstance(name, str) or not LOCALPART.match(name.lower()):
        raise MatrixError(400, "M_INVALID_USERNAME", "Invalid username")
    user_id = ctx.store.user_id(name.lower())
    if ctx.store.user(user_id):
        raise MatrixError(400, "M_USER_IN_USE", "User ID already taken.")
    ctx.store.create_user(user_id, body.get("password"))
    if body.get("inhibit_login"):
        return {"user_id": user_id, "home_server": ctx.store.server_name}
    token, device_id = ctx.store.login(user_id, body.get("device_id"),
                                       body.get("initial_device_display_name"))
    return {"user_id": user_id, "access_token": token, "device_id": device_id,
            "home_server": ctx.store.server_name}


async def username_available(ctx):
    name = ctx.query.get("username", "")
    if ctx.store.user(ctx.store.user_id(name)):
        raise MatrixError(400, "M_USER_IN_USE", "User ID already taken.")
    return {"available": True}


async def logout(ctx):
    # The spec deletes the device (and its keys) along with the token.
    ctx.store.delete_device(ctx.user_id, ctx.device_id)
    return {}


async def logout_all(ctx):
    for device_id in list(ctx.store.user(ctx.user_id)["devices"]):
        ctx.store.delete_device(ctx.user_id, device_id)
    return {}


async def whoami(ctx):
    return {"user_id": ctx.user_id, "device_id": ctx.device_id, "is_guest": False}


async def capabilities(ctx):
    return {"capabilities": {"m.change_password": {"enabled": True},
                             "m.room_versions": {"default": "10", "available": {"10": "stable"}}}}


async def push_rules(ctx):
    return {"global": {"override": [], "content": [], "room": [], "sender": [], "underride": []}}


def _profile_user(ctx):
    user = ctx.store.user(ctx.params["userId"])
    if user is None:
        raise not_found("Profile not found")
    return user


def _profile(user):
    out = {}
    if user["displayname"] is not None:
        out["displayname"] = user["displayname"]
    if user["avatar_url"] is not None:
        out["avatar_url"] = user["avatar_url"]
    return out


async def get_profile(ctx):
    return _profile(_profile_user(ctx))


async def get_profile_field(ctx):
    field = ctx.params["field"]
    value = _profile_user(ctx).get(field) if field in ("displayname", "avatar_url") else None
    if value is None:
        raise not_found("Profile field not found")
    return {field: value}


async def set_profile_field(ctx):
    field = ctx.params["field"]
    if field not in ("displayname", "avatar_url"):
        raise MatrixError(400, "M_UNRECOGNIZED", "Unknown profile field")
    if ctx.params["userId"] != ctx.user_id:
        raise forbidden("Cannot set another user's profile")
    body = await ctx.json()
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise bad_json(f"{field} must be a string")
    ctx.store.user(ctx.user_id)[field] = value
    # Like Synapse: the new profile shows in every joined room's member event.
    for room_id in ctx.store.rooms_of(ctx.user_id):
        rooms.set_membership(ctx.store, room_id, ctx.user_id, ctx.user_id, "join")
    ctx.store.dirty = True
    return {}


async def get_presence(ctx):
    user = _profile_user(ctx)
    return dict(user.get("presence", {"presence": "offline"}))


async def set_presence(ctx):
    """Kept so clients can read it back; /sync carries no presence (it is off, as
    on many deployments)."""
    if ctx.params["userId"] != ctx.user_id:
        raise forbidden("Cannot set another user's presence")
    body = await ctx.json()
    if body.get("presence") not in ("online", "offline", "unavailable"):
        raise bad_json("presence must be online, offline or unavailable")
    presence = {"presence": body["presence"]}
    if isinstance(body.get("status_msg"), str):
        presence["status_msg"] = body["status_msg"]
    ctx.store.user(ctx.user_id)["presence"] = presence
    ctx.store.dirty = True
    return {}


def _own(ctx):
    if ctx.params["userId"] != ctx.user_id:
        raise forbidden("Cannot access another user's data")
    return ctx.store.user(ctx.user_id)


async def get_account_data(ctx):
    entry = _own(ctx)["account_data"].get(ctx.params["type"])
    if entry is None:
        raise not_found("Account data not found")
    return entry["content"]


async def put_account_data(ctx):
    user = _own(ctx)
    body = await ctx.json()
    user["account_data"][ctx.params["type"]] = {"content": body, "pos": ctx.store.next_pos(wake=[ctx.user_id])}
    return {}


async def get_room_account_data(ctx):
    entry = _own(ctx)["room_account_data"].get(ctx.params["roomId"], {}).get(ctx.params["type"])
    if entry is None:
        raise not_found("Room account data not found")
    return entry["content"]


async def put_room_account_data(ctx):
    user = _own(ctx)
    body = await ctx.json()
    per_room = user["room_account_data"].setdefault(ctx.params["roomId"], {})
    per_room[ctx.params["type"]] = {"content": body, "pos": ctx.store.next_pos(wake=[ctx.user_id])}
    return {}


async def create_filter(ctx):
    user = _own(ctx)
    body = await ctx.json()
    user["filters"].append(body)
    ctx.store.dirty = True
    return {"filter_id": str(len(user["filters"]) - 1)}


async def get_filter(ctx):
    user = _own(ctx)
    try:
        return user["filters"][int(ctx.params["filterId"])]
    except (ValueError, IndexError):
        raise not_found("No such filter")


async def server_version(ctx):
    return {"server_version": "devhs"}


def _require_server_admin(ctx):
    if not ctx.store.user(ctx.user_id)["admin"]:
        raise forbidden("You are not a server admin")


def _admin_user_view(store, user_id):
    user = store.user(user_id)
    return {"name": user_id, "displayname": user["displayname"], "avatar_url": user["avatar_url"],
            "admin": user["admin"], "deactivated": False, "user_type": None,
            "threepids": [], "external_ids": []}


async def admin_get_user(ctx):
    _require_server_admin(ctx)
    if ctx.store.user(ctx.params["userId"]) is None:
        raise not_found("User not found")
    return _admin_user_view(ctx.store, ctx.params["userId"])


async def admin_put_user(ctx):
    """Creates (201) or modifies (200) a user, as Synapse's admin API v2 does."""
    _require_server_admin(ctx)
    user_id = ctx.params["userId"]
    if not user_id.endswith(":" + ctx.store.server_name):
        raise MatrixError(400, "M_INVALID_PARAM", "This endpoint can only be used with local users")
    body = await ctx.json()
    user = ctx.store.user(user_id)
    created = user is None
    if created:
        user = ctx.store.create_user(user_id, None)
    if "password" in body:
        user["password"] = body["password"]
        if not created and body.get("logout_devices", True):
            for device_id in list(user["devices"]):
                ctx.store.delete_device(user_id, device_id)
    if "displayname" in body:
        user["displayname"] = body["displayname"]
    if "avatar_url" in body:
        user["avatar_url"] = body["avatar_url"]
    if "admin" in body:
        user["admin"] = bool(body["admin"])
    ctx.store.dirty = True
    return (201 if created else 200), _admin_user_view(ctx.store, user_id)

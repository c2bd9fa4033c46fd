"""Server-side key backup (/room_keys): opaque encrypted Megolm session data per
backup version. Like every E2EE part here, the server never reads what it stores."""

from .errors import MatrixError, bad_json, missing_param, not_found


def register(r):
    r.add("GET", "/room_keys/version", get_version)
    r.add("GET", "/room_keys/version/{version}", get_version)
    r.add("POST", "/room_keys/version", create_version)
    r.add("PUT", "/room_keys/version/{version}", update_version)
    r.add("DELETE", "/room_keys/version/{version}", delete_version)
    for template in ("/room_keys/keys", "/room_keys/keys/{roomId}", "/room_keys/keys/{roomId}/{sessionId}"):
        r.add("GET", template, get_keys)
        r.add("PUT", template, put_keys)
        r.add("DELETE", template, delete_keys)


def _versions(ctx):
    return ctx.store.data["room_keys_versions"].setdefault(ctx.user_id, [])


def _count(version):
    return sum(len(sessions) for sessions in version["rooms"].values())


def _view(version):
    return {"version": version["version"], "algorithm": version["algorithm"],
            "auth_data": version["auth_data"], "count": _count(version), "etag": str(version["etag"])}


def _find(ctx, wanted=None):
    live = [v for v in _versions(ctx) if not v.get("deleted")]
    found = [v for v in live if wanted is None or v["version"] == wanted]
    if not found:
        raise not_found("No current backup version" if wanted is None else "Unknown backup version")
    return found[-1]


async def get_version(ctx):
    return _view(_find(ctx, ctx.params.get("version")))


async def create_version(ctx):
    body = await ctx.json()
    if not isinstance(body.get("algorithm"), str) or not isinstance(body.get("auth_data"), dict):
        raise bad_json("algorithm and auth_data are required")
    versions = _versions(ctx)
    version = str(len(versions) + 1)
    versions.append({"version": version, "algorithm": body["algorithm"], "auth_data": body["auth_data"],
                     "rooms": {}, "etag": 0})
    ctx.store.dirty = True
    return {"version": version}


async def update_version(ctx):
    version = _find(ctx, ctx.params["version"])
    body = await ctx.json()
    if body.get("algorithm") != version["algorithm"] or not isinstance(body.get("auth_data"), dict):
        raise bad_json("algorithm must stay the same and auth_data is required")
    version["auth_data"] = body["auth_data"]
    ctx.store.dirty = True
    return {}


async def delete_version(ctx):
    _find(ctx, ctx.params["version"])["deleted"] = True
    ctx.store.dirty = True
    return {}


def _current_for_write(ctx):
    """Writes go to the current version only; the spec's error names it."""
    wanted = ctx.query.get("version")
    if wanted is None:
        raise missing_param("version is required")
    try:
        current = _find(ctx)
    except MatrixError:
        raise not_found("No current backup version")
    if current["version"] != wanted:
        raise MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version",
                          current_version=current["version"])
    return current


def _better(new, old):
    """The spec's rule for replacing a backed-up key: verified first, then the
    lowest first_message_index, then the lowest forwarded_count."""
    def rank(k):
        return (not k.get("is_verified", False), k.get("first_message_index", 0), k.get("forwarded_count", 0))
    return old is None or rank(new) < rank(old)


async def put_keys(ctx):
    version = _current_for_write(ctx)
    body = await ctx.json()
    room_id, session_id = ctx.params.get("roomId"), ctx.params.get("sessionId")
    if session_id is not None:
        incoming = {room_id: {"sessions": {session_id: body}}}
    elif room_id is not None:
        incoming = {room_id: body}
    else:
        incoming = body.get("rooms", {})
    for rid, room in incoming.items():
        stored = version["rooms"].setdefault(rid, {})
        for sid, key in room.get("sessions", {}).items():
            if _better(key, stored.get(sid)):
                stored[sid] = key
    version["etag"] += 1
    ctx.store.dirty = True
    return {"etag": str(version["etag"]), "count": _count(version)}


async def get_keys(ctx):
    version = _find(ctx, ctx.query.get("version"))
    room_id, session_id = ctx.params.get("roomId"), ctx.params.get("sessionId")
    rooms = version["rooms"]
    if session_id is not None:
        key = rooms.get(room_id, {}).get(session_id)
        if key is None:
            raise not_found("No room_keys found")
        return key
    if room_id is not None:
        return {"sessions": rooms.get(room_id, {})}
    return {"rooms": {rid: {"sessions": sessions} for rid, sessions in rooms.items()}}


async def delete_keys(ctx):
    version = _current_for_write(ctx)
    room_id, session_id = ctx.params.get("roomId"), ctx.params.get("sessionId")
    if session_id is not None:
        version["rooms"].get(room_id, {}).pop(session_id, None)
    elif room_id is not None:
        version["rooms"].pop(room_id, None)
    else:
        version["rooms"].clear()
    version["etag"] += 1
    ctx.store.dirty = True
    return {"etag": str(version["etag"]), "count": _count(version)}

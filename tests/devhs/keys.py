"""E2EE plumbing. The server stores and routes key material and to-device messages;
it never decrypts anything. Also the devices API, whose changes touch device lists."""

from . import sync
from .errors import MatrixError, bad_json, forbidden, missing_param, not_found
from .store import random_id


def register(r):
    r.add("POST", "/keys/upload", upload)
    r.add("POST", "/keys/query", query)
    r.add("POST", "/keys/claim", claim)
    r.add("GET", "/keys/changes", changes)
    r.add("PUT", "/sendToDevice/{type}/{txnId}", send_to_device)
    r.add("POST", "/keys/device_signing/upload", device_signing_upload)
    r.add("POST", "/keys/signatures/upload", signatures_upload)
    r.add("GET", "/devices", list_devices)
    r.add("GET", "/devices/{deviceId}", get_device)
    r.add("PUT", "/devices/{deviceId}", put_device)
    r.add("DELETE", "/devices/{deviceId}", delete_device)


def _otk_counts(device):
    counts = {"signed_curve25519": 0}
    for key_id in device["one_time_keys"]:
        alg = key_id.split(":", 1)[0]
        counts[alg] = counts.get(alg, 0) + 1
    return counts


async def upload(ctx):
    store = ctx.store
    body = await ctx.json()
    device = store.user(ctx.user_id)["devices"][ctx.device_id]
    device_keys = body.get("device_keys")
    if device_keys is not None:
        if device_keys.get("user_id") != ctx.user_id or device_keys.get("device_id") != ctx.device_id:
            raise MatrixError(400, "M_UNKNOWN", "device_keys user_id/device_id do not match the access token")
        if device["device_keys"] != device_keys:
            # Keep signatures uploaded for this device by other keys (cross-signing: the
            # user's own self-signing key too); the device's own signature is the new one.
            own_key = f"ed25519:{ctx.device_id}"
            old_sigs = (device["device_keys"] or {}).get("signatures", {})
            for signer, sigs in old_sigs.items():
                kept = {k: v for k, v in sigs.items() if not (signer == ctx.user_id and k == own_key)}
                if kept:
                    device_keys.setdefault("signatures", {}).setdefault(signer, {}).update(kept)
            device["device_keys"] = device_keys
            store.device_list_changed(ctx.user_id)
    for key_id, key in (body.get("one_time_keys") or {}).items():
        # Like Synapse: an id already held keeps its first key.
        device["one_time_keys"].setdefault(key_id, key)
    fallback = body.get("fallback_keys") or body.get("org.matrix.msc2732.fallback_keys") or {}
    for key_id, key in fallback.items():
        alg = key_id.split(":", 1)[0]
        # One fallback key per algorithm: a new one replaces the old.
        device["fallback_keys"] = {k: v for k, v in device["fallback_keys"].items()
                                   if not k.startswith(alg + ":")}
        device["fallback_keys"][key_id] = {"key": key, "used": False}
    store.dirty = True
    if body.get("one_time_keys") or fallback:
        # Counts reach the device through /sync: wake it.
        store.next_pos(wake=[ctx.user_id])
    return {"one_time_key_counts": _otk_counts(device)}


def _device_keys_view(device):
    keys = dict(device["device_keys"])
    unsigned = dict(keys.get("unsigned", {}))
    if device.get("display_name"):
        unsigned["device_display_name"] = device["display_name"]
    keys["unsigned"] = unsigned
    return keys


async def query(ctx):
    store = ctx.store
    body = await ctx.json()
    wanted = body.get("device_keys")
    if not isinstance(wanted, dict):
        raise bad_json("device_keys is required")
    out = {"device_keys": {}, "failures": {}, "master_keys": {}, "self_signing_keys": {},
           "user_signing_keys": {}}
    for user_id, device_ids in wanted.items():
        user = store.user(user_id)
        if user is None:
            out["device_keys"][user_id] = {}
            continue
        per_user = {}
        for device_id, device in user["devices"].items():
            if device["device_keys"] and (not device_ids or device_id in device_ids):
                per_user[device_id] = _device_keys_view(device)
        out["device_keys"][user_id] = per_user
        cross = user.get("cross_signing", {})
        if "master" in cross:
            out["master_keys"][user_id] = cross["master"]
        if "self_signing" in cross:
            out["self_signing_keys"][user_id] = cross["self_signing"]
        # The user-signing key is private to its owner.
        if "user_signing" in cross and user_id == ctx.user_id:
            out["user_signing_keys"][user_id] = cross["user_signing"]
    return out


async def claim(ctx):
    """One key per requested device: a one-time key (removed), else the fallback key
    (kept, marked used so the device knows to replace it)."""
    store = ctx.store
    body = await ctx.json()
    wanted = body.get("one_time_keys")
    if not isinstance(wanted, dict):
        raise bad_json("one_time_keys is required")
    out = {}
    for user_id, devices in wanted.items():
        user = store.user(user_id)
        if user is None:
            continue
        for device_id, alg in devices.items():
            device = user["devices"].get(device_id)
            if device is None:
                continue
            key_id = next((k for k in device["one_time_keys"] if k.startswith(alg + ":")), None)
            if key_id is not None:
                key = device["one_time_keys"].pop(key_id)
            else:
                key_id = next((k for k in device["fallback_keys"] if k.startswith(alg + ":")), None)
                if key_id is None:
                    continue
                entry = device["fallback_keys"][key_id]
                entry["used"] = True
                key = entry["key"]
            out.setdefault(user_id, {}).setdefault(device_id, {})[key_id] = key
            # The owner's sync shows the lower count (or the used fallback key).
            store.next_pos(wake=[user_id])
    return {"one_time_keys": out, "failures": {}}


async def changes(ctx):
    store = ctx.store
    if "from" not in ctx.query or "to" not in ctx.query:
        raise missing_param("from and to are required")
    since = sync.parse_since(store, ctx.query["from"])
    upto = sync.parse_since(store, ctx.query["to"])
    changed, gone = sync.device_list_delta(store, ctx.user_id, since, upto)
    return {"changed": sorted(changed), "left": sorted(gone)}


async def send_to_device(ctx):
    store, etype = ctx.store, ctx.params["type"]
    body = await ctx.json()
    key = "|".join(("to_device", ctx.user_id, ctx.device_id, ctx.params["txnId"]))
    if key in store.data["txns"]:
        return {}
    messages = body.get("messages")
    if not isinstance(messages, dict):
        raise bad_json("messages is required")
    held = store.data["to_device_held"]
    for user_id, per_device in messages.items():
        user = store.user(user_id)
        if user is None:
            continue
        for device_id, content in per_device.items():
            targets = list(user["devices"]) if device_id == "*" else [device_id]
            for target in targets:
                if target not in user["devices"]:
                    continue
                if etype in held.get(user_id, {}):
                    # Held back by /_devhs/ for late-key tests until released.
                    held[user_id][etype].append({"device_id": target, "sender": ctx.user_id,
                                                 "content": content})
                    store.dirty = True
                else:
                    store.queue_to_device(user_id, target, ctx.user_id, etype, content)
    store.data["txns"][key] = True
    return {}


PASSWORD_FLOWS = [{"stages": ["m.login.password"]}]


def _check_uia(ctx, body):
    """User-interactive auth for key and device changes, as Synapse does it for an account
    with a password: the one flow is m.login.password. Without `auth`: 401 with the flows,
    `params` and a new `session`. A session may be left out (the password is checked at
    once) but one the server did not issue is 400, and one started for another request
    403. A wrong password: 401 M_FORBIDDEN "Invalid password" with the flows again and
    `completed`. A stage outside the flow (m.login.dummy) completes, but finishes
    nothing. A password for another user than the caller: 403 "Invalid auth"."""
    sessions = ctx.store.uia_sessions
    operation = f"{ctx.request.method} {ctx.request.path}"
    auth = body.get("auth")
    if not isinstance(auth, dict):
        session = random_id(24)
        sessions[session] = {"operation": operation, "completed": []}
        raise MatrixError(401, None, None, flows=PASSWORD_FLOWS, params={}, session=session)
    session = auth.get("session")
    if session is None:
        session = random_id(24)
        sessions[session] = {"operation": operation, "completed": []}
    elif session not in sessions:
        raise MatrixError(400, "M_UNKNOWN", f"Unknown session ID: {session}")
    state = sessions[session]
    if state["operation"] != operation:
        raise forbidden("Requested operation has changed during the UI authentication session.")
    if auth.get("type") == "m.login.password":
        identifier = auth.get("identifier") or {"type": "m.id.user", "user": auth.get("user")}
        named = identifier.get("user") if identifier.get("type") == "m.id.user" else None
        user_id = ctx.store.user_id(named.lower()) if isinstance(named, str) and named else None
        user = ctx.store.user(user_id) if user_id else None
        if user and user["password"] is not None and auth.get("password") == user["password"]:
            if user_id != ctx.user_id:
                raise forbidden("Invalid auth")
            del sessions[session]
            return
        errcode, error = "M_FORBIDDEN", "Invalid password"
    elif auth.get("type") == "m.login.dummy":
        errcode = error = None
        if "m.login.dummy" not in state["completed"]:
            state["completed"].append("m.login.dummy")
    else:
        errcode, error = "M_UNRECOGNIZED", "Unrecognized login type"
    raise MatrixError(401, errcode, error, flows=PASSWORD_FLOWS, params={}, session=session,
                      completed=list(state["completed"]))


async def device_signing_upload(ctx):
    store = ctx.store
    body = await ctx.json()
    user = store.user(ctx.user_id)
    cross = user.setdefault("cross_signing", {})
    # Like Synapse (MSC3967): the first upload needs no extra auth, a replacement does.
    if "master" in cross:
        _check_uia(ctx, body)
    for field, name in (("master_key", "master"), ("self_signing_key", "self_signing"),
                        ("user_signing_key", "user_signing")):
        if field in body:
            if body[field].get("user_id") != ctx.user_id:
                raise MatrixError(400, "M_INVALID_PARAM", f"{field} is for another user")
            cross[name] = body[field]
    store.device_list_changed(ctx.user_id)
    return {}


async def signatures_upload(ctx):
    """Merges signatures into the stored device or cross-signing key they sign."""
    store = ctx.store
    body = await ctx.json()
    failures = {}
    touched = set()
    for user_id, per_key in body.items():
        user = store.user(user_id)
        for key_id, signed in per_key.items():
            target = None
            if user is not None:
                if key_id in user["devices"] and user["devices"][key_id]["device_keys"]:
                    target = user["devices"][key_id]["device_keys"]
                else:
                    for cross_key in user.get("cross_signing", {}).values():
                        if any(k.split(":", 1)[1] == key_id for k in cross_key.get("keys", {})):
                            target = cross_key
            if target is None:
                failures.setdefault(user_id, {})[key_id] = {"errcode": "M_NOT_FOUND", "error": "Unknown key"}
                continue
            for signer, sigs in signed.get("signatures", {}).items():
                target.setdefault("signatures", {}).setdefault(signer, {}).update(sigs)
            touched.add(user_id)
    for user_id in touched:
        store.device_list_changed(user_id)
    return {"failures": failures}


def _device_view(device_id, device):
    return {"device_id": device_id, "display_name": device.get("display_name"),
            "last_seen_ip": "127.0.0.1", "last_seen_ts": device.get("last_seen_ts")}


async def list_devices(ctx):
    devices = ctx.store.user(ctx.user_id)["devices"]
    return {"devices": [_device_view(d, v) for d, v in devices.items()]}


def _own_device(ctx):
    device = ctx.store.user(ctx.user_id)["devices"].get(ctx.params["deviceId"])
    if device is None:
        raise not_found("Device not found")
    return device


async def get_device(ctx):
    return _device_view(ctx.params["deviceId"], _own_device(ctx))


async def put_device(ctx):
    device = _own_device(ctx)
    body = await ctx.json()
    if "display_name" in body:
        device["display_name"] = body["display_name"]
        if device["device_keys"]:
            ctx.store.device_list_changed(ctx.user_id)
        ctx.store.dirty = True
    return {}


async def delete_device(ctx):
    _own_device(ctx)
    body = await ctx.json()
    _check_uia(ctx, body)
    ctx.store.delete_device(ctx.user_id, ctx.params["deviceId"])
    return {}

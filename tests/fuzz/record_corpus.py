#!/usr/bin/python3
"""Seeds the fuzz corpora from the dev homeserver's real output: starts tests/devhs,
plays a short conversation (messages, a reply, a thread, an edit, a reaction, HTML,
a redaction, an invite, a leave, encryption state), and records what a bot would read:

  corpus/sync/devhs-*            /sync bodies (initial, incremental, filtered, invite)
  corpus/event_content/devhs-*   every timeline event of those syncs, one per file
  corpus/matrix_error/devhs-*    error answers, in the target's layout: a status byte,
                                 the Retry-After header line, then the body

Run from anywhere; it rewrites only its own devhs-* files:
  /usr/bin/python3 tests/fuzz/record_corpus.py
"""

import hashlib
import json
import pathlib
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
sys.path.insert(0, str(ROOT))

from tests.devhs.launcher import Homeserver  # noqa: E402

# matrix_error_fuzz.cpp picks the status from the first byte: statuses[byte % 8].
STATUSES = [400, 401, 403, 404, 429, 500, 502, 503]


def call(url, method="GET", body=None, token=None, raw=None):
    """(status, Retry-After header or '', body bytes)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Retry-After", ""), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Retry-After", ""), e.read()


class Recorder:
    def __init__(self):
        self.written = {"sync": 0, "event_content": 0, "matrix_error": 0}
        for target in self.written:
            for old in (CORPUS / target).glob("devhs-*"):
                old.unlink()

    def write(self, target, name, data: bytes):
        digest = hashlib.sha1(data).hexdigest()[:10]
        (CORPUS / target / f"devhs-{name}-{digest}").write_bytes(data)
        self.written[target] += 1

    def sync(self, name, body: bytes):
        self.write("sync", name, body)
        parsed = json.loads(body)
        for section in ("join", "leave"):
            for room in parsed.get("rooms", {}).get(section, {}).values():
                for ev in room.get("timeline", {}).get("events", []):
                    self.write("event_content", ev["type"].replace(".", "_"),
                               json.dumps(ev, ensure_ascii=False).encode())

    def error(self, name, status, retry_after, body: bytes):
        assert status in STATUSES, (name, status)
        head = bytes([STATUSES.index(status)]) + retry_after.encode() + b"\n"
        self.write("matrix_error", name, head + body)


def main():
    rec = Recorder()
    with tempfile.TemporaryDirectory() as tmp, Homeserver(tmp) as hs:
        api = f"{hs.url}/_matrix/client/v3"

        def register(name):
            status, _, body = call(f"{api}/register", "POST",
                                   {"username": name, "password": "corpus-pass",
                                    "auth": {"type": "m.login.dummy"}})
            assert status == 200, body
            return json.loads(body)

        person, bot = register("person"), register("bot")
        pt, bt = person["access_token"], bot["access_token"]

        def send(room, content, etype="m.room.message"):
            _, _, body = call(f"{api}/rooms/{urllib.parse.quote(room)}/send/{etype}/"
                              f"{uuid.uuid4().hex}", "PUT", content, token=pt)
            return json.loads(body)["event_id"]

        def sync(token, since=None, filt=None, timeout=0):
            q = {"timeout": str(timeout)}
            if since:
                q["since"] = since
            if filt:
                q["filter"] = json.dumps(filt)
            status, _, body = call(f"{api}/sync?{urllib.parse.urlencode(q)}", token=token)
            assert status == 200, body
            return body

        _, _, body = call(f"{api}/createRoom", "POST",
                          {"invite": [bot["user_id"]], "is_direct": True, "name": "corpus",
                           "initial_state": [{"type": "m.room.encryption", "state_key": "",
                                              "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]},
                          token=pt)
        room = json.loads(body)["room_id"]
        rec.sync("invite", sync(bt))
        call(f"{api}/join/{urllib.parse.quote(room)}", "POST", {}, token=bt)
        first = sync(bt)
        rec.sync("initial", first)
        since = json.loads(first)["next_batch"]

        root = send(room, {"msgtype": "m.text", "body": "hello **bot** @bot:localhost",
                           "format": "org.matrix.custom.html",
                           "formatted_body": "hello <b>bot</b> <a href=\"https://matrix.to/#/"
                                             "@bot:localhost\">bot</a>",
                           "m.mentions": {"user_ids": [bot["user_id"]]}})
        send(room, {"msgtype": "m.text", "body": "> <@person:localhost> hello\n\nreply",
                    "m.relates_to": {"m.in_reply_to": {"event_id": root}}})
        send(room, {"msgtype": "m.text", "body": "in a thread",
                    "m.relates_to": {"rel_type": "m.thread", "event_id": root,
                                     "is_falling_back": True,
                                     "m.in_reply_to": {"event_id": root}}})
        send(room, {"msgtype": "m.text", "body": "* edited",
                    "m.new_content": {"msgtype": "m.text", "body": "edited"},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": root}})
        send(room, {"m.relates_to": {"rel_type": "m.annotation", "event_id": root,
                                     "key": "👀"}}, "m.reaction")
        send(room, {"msgtype": "m.notice", "body": "ünïcødé ✅ \u202e"})
        gone = send(room, {"msgtype": "m.text", "body": "to be redacted"})
        call(f"{api}/rooms/{urllib.parse.quote(room)}/redact/{urllib.parse.quote(gone)}/"
             f"{uuid.uuid4().hex}", "PUT", {"reason": "corpus"}, token=pt)
        incremental = sync(bt, since)
        rec.sync("incremental", incremental)
        rec.sync("filtered", sync(bt, since, {"room": {"timeline": {"limit": 2}}}))
        call(f"{api}/rooms/{urllib.parse.quote(room)}/leave", "POST", {}, token=bt)
        rec.sync("leave", sync(bt, json.loads(incremental)["next_batch"]))

        # Errors, as the homeserver really sends them.
        status, ra, body = call(f"{api}/account/whoami", token="not-a-token")
        rec.error("unknown_token", status, ra, body)
        status, ra, body = call(f"{api}/account/whoami")
        rec.error("missing_token", status, ra, body)
        status, ra, body = call(f"{api}/rooms/!nope:localhost/event/$nope", token=pt)
        rec.error("not_found", status, ra, body)
        status, ra, body = call(f"{api}/createRoom", "POST", raw=b"{not json", token=pt)
        rec.error("not_json", status, ra, body)
        status, ra, body = call(f"{api}/sync?since=garbage", token=bt)
        rec.error("bad_since", status, ra, body)
        status, ra, body = call(f"{api}/rooms/{urllib.parse.quote(room)}/send/m.room.message/x",
                                "PUT", {"body": "x"}, token=bt)
        rec.error("forbidden", status, ra, body)
        for rule, name in (({"kind": "ratelimit", "retry_after_ms": 2500}, "rate_limited"),
                           ({"kind": "fail", "mode": "500"}, "internal")):
            call(f"{hs.url}/_devhs/faults", "POST", {"user_id": bot["user_id"], "count": 1, **rule})
            status, ra, body = call(f"{api}/account/whoami", token=bt)
            rec.error(name, status, ra, body)
        call(f"{hs.url}/_devhs/unknown_pos", "POST", {"user_id": bot["user_id"]})
        status, ra, body = call(f"{api}/sync?since={since}&timeout=0", token=bt)
        rec.error("unknown_pos", status, ra, body)
    print("recorded: " + ", ".join(f"{n} {t}" for t, n in rec.written.items()))


if __name__ == "__main__":
    main()

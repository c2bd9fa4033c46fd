"""The HTTP side: routing by spec path templates, access tokens, fault injection,
request counting, and the process lifecycle (port 0, parent watch, max lifetime)."""

import asyncio
import json
import os
import re
import signal
import sys
import traceback
from urllib.parse import unquote

from aiohttp import web

from . import accounts, admin, backup, keys, media, ratelimit, rooms, sync
from .errors import MatrixError, unknown_token
from .store import Store

CLIENT_PREFIX = r"/_matrix/client/(?:r0|v3|v1|unstable)"


class Router:
    """Routes on the raw (still percent-encoded) path, so an encoded `/` inside a
    txn id or event id never splits a segment; segments are decoded after matching."""

    def __init__(self):
        self.routes = []

    def add(self, method, template, handler, auth=True, client=True, prefix=None):
        """`prefix`, when given, is (regex, label): the path starts with something the
        regex matches (e.g. any of a media API's versions), and counts and faults see
        the template under `label` (one name whichever version a client used)."""
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        if prefix is not None:
            regex, label = prefix
        else:
            regex, label = (CLIENT_PREFIX if client else ""), ""
        self.routes.append((method, re.compile(f"^{regex}{pattern}/?$"), label + template, handler, auth))

    def match(self, method, raw_path):
        path_known = False
        for m, regex, template, handler, auth in self.routes:
            found = regex.match(raw_path)
            if found:
                path_known = True
                if m == method:
                    params = {k: unquote(v) for k, v in found.groupdict().items()}
                    return template, handler, auth, params
        raise MatrixError(405 if path_known else 404, "M_UNRECOGNIZED", "Unrecognized request")


class Ctx:
    """What a handler gets: the store, the caller (when authenticated), path
    parameters, the query and the JSON body."""

    def __init__(self, server, request, params):
        self.server = server
        self.store = server.store
        self.request = request
        self.params = params
        self.query = request.query
        self.user_id = None
        self.device_id = None
        self.token = None
        self._body = None

    async def json(self):
        if self._body is None:
            raw = await self.request.read()
            if not raw.strip():
                self._body = {}
            else:
                try:
                    self._body = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    raise MatrixError(400, "M_NOT_JSON", "Content not JSON.")
                if not isinstance(self._body, dict):
                    raise MatrixError(400, "M_BAD_JSON", "Content must be a JSON object.")
        return self._body

    def access_token(self):
        header = self.request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer "):].strip()
        return self.query.get("access_token")


class Server:
    def __init__(self, args):
        self.args = args
        self.store = Store(args.state_dir, args.server_name)
        self.faults = admin.Faults()
        self.login_limit = (accounts.LoginLimit(args.login_burst, args.login_refill_s)
                            if args.login_burst > 0 else None)
        self.message_limit = (ratelimit.MessageLimit(*args.message_rate)
                              if args.message_rate else None)
        self.media = media.MediaRepo(args.state_dir)
        self.request_counts = {}  # user_id (or "anonymous") -> {"METHOD template": n}
        self.stopping = asyncio.Event()
        self.router = Router()
        for module in (accounts, rooms, sync, keys, backup, admin, ratelimit, media):
            module.register(self.router)

    async def handle(self, request):
        try:
            template, handler, auth, params = self.router.match(request.method, request.rel_url.raw_path)
            ctx = Ctx(self, request, params)
            if template.startswith("/_devhs/"):
                admin.check_control_token(ctx)
            else:
                self._authenticate(ctx, auth)
            if not template.startswith("/_devhs/"):
                # Requests without a token (legacy media downloads, logins) count too,
                # under "anonymous", which no user id can be.
                counts = self.request_counts.setdefault(ctx.user_id or "anonymous", {})
                key = f"{request.method} {template}"
                counts[key] = counts.get(key, 0) + 1
            if ctx.user_id:
                faulty = await self.faults.apply(ctx, template)
                if faulty is not None:
                    return faulty
            result = await handler(ctx)
            if isinstance(result, web.StreamResponse):
                return result
            status, body = result if isinstance(result, tuple) else (200, result)
            return web.json_response(body, status=status)
        except MatrixError as e:
            return web.json_response(e.body(), status=e.status, headers=e.headers)
        except Exception:
            # A bug in devhs itself: say so in the test's output, answer like a server would.
            traceback.print_exc()
            return web.json_response({"errcode": "M_UNKNOWN", "error": "devhs internal error"}, status=500)

    def _authenticate(self, ctx, required):
        token = ctx.access_token()
        if token is None:
            if required:
                raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token")
            return
        session = self.store.data["tokens"].get(token)
        if session is None:
            if required:
                raise unknown_token()
            return
        ctx.token = token
        ctx.user_id = session["user_id"]
        ctx.device_id = session["device_id"]

    def make_app(self):
        # 50 MB: key uploads and state snapshots from tests can be large.
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def bootstrap_admin(self):
        """Creates the admin account named on the command line and writes its token."""
        args = self.args
        if not (args.admin_user or args.admin_token_file):
            return
        name, _, password = (args.admin_user or "admin:").partition(":")
        user_id = self.store.user_id(name)
        if self.store.user(user_id) is None:
            self.store.create_user(user_id, password or None, admin=True)
        self.store.user(user_id)["admin"] = True
        if args.admin_token_file:
            token, _ = self.store.login(user_id, "DEVHSADMIN")
            fd = os.open(args.admin_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
        self.store.save()

    async def _flush_loop(self):
        while True:
            await asyncio.sleep(0.5)
            if self.store.dirty:
                self.store.save()

    async def _watch_parent(self):
        # A test that dies without cleaning up must not leave the server behind.
        parent = os.getppid()
        while os.getppid() == parent:
            await asyncio.sleep(0.5)
        self.stopping.set()

    async def run(self):
        if self.args.state_dir:
            os.makedirs(self.args.state_dir, exist_ok=True)
        self.bootstrap_admin()
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        # Long-polling /sync requests must not hold up the exit. The backlog: thousands
        # of bots connect at once when a gateway starts (bench/idle_rss.py); with
        # aiohttp's 128 the dropped SYNs came back after 1, 3, 7 s and key uploads hit
        # the gateway's 10 s connect timeout. The kernel caps it at net.core.somaxconn.
        site = web.TCPSite(runner, "127.0.0.1", self.args.port, shutdown_timeout=0.5,
                           backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(f"listening http://127.0.0.1:{port}", flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.call_later(self.args.max_lifetime, self.stopping.set)
        tasks = [asyncio.create_task(self._flush_loop()), asyncio.create_task(self._watch_parent())]
        await self.stopping.wait()
        for t in tasks:
            t.cancel()
        self.store.save()
        await runner.cleanup()
        self.store.save()


def _message_rate(text):
    per_second, _, burst = text.partition(",")
    try:
        rate, count = float(per_second), int(burst)
    except ValueError:
        raise ValueError(f"not PER_SECOND,BURST: {text!r}")
    if rate <= 0 or count < 1:
        raise ValueError(f"PER_SECOND must be above 0 and BURST at least 1: {text!r}")
    return rate, count


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="devhs", description="Matrix homeserver for tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--state-dir", default=None, help="persist state here (JSON snapshot)")
    p.add_argument("--server-name", default="localhost")
    p.add_argument("--max-lifetime", type=float, default=3600.0, help="seconds, then exit")
    p.add_argument("--admin-user", default=None, help="NAME:PASSWORD of a server admin")
    p.add_argument("--admin-token-file", default=None, help="write the admin's access token here")
    p.add_argument("--control-token", default=None, help="required by /_devhs/ when given")
    p.add_argument("--login-burst", type=int, default=0,
                   help="Synapse's rc_login: this many logins, then 429 (0: no limit)")
    p.add_argument("--login-refill-s", type=float, default=1.0,
                   help="with --login-burst: seconds until one more login is allowed")
    p.add_argument("--message-rate", type=_message_rate, default=None, metavar="PER_SECOND,BURST",
                   help="Synapse's rc_message per user (its defaults: 0.2,10); off when not given")
    p.add_argument("--max-upload-bytes", type=int, default=media.DEFAULT_MAX_UPLOAD_BYTES,
                   help="media uploads above this get 413 M_TOO_LARGE (default 50 MiB)")
    p.add_argument("--no-authenticated-media", action="store_true",
                   help="a homeserver before Matrix 1.11: no /_matrix/client/v1/media/*")
    p.add_argument("--freeze-legacy-media", action="store_true",
                   help="Synapse's enable_authenticated_media: media uploaded now are not "
                        "served by the legacy download/thumbnail endpoints")
    args = p.parse_args(argv)
    if args.max_upload_bytes < 0:
        p.error("--max-upload-bytes must not be negative")
    asyncio.run(Server(args).run())
    sys.stdout.flush()

#!/usr/bin/python3
"""The agent double: an OpenAI-compatible chat completions server speaking the Hermes
proxy protocol (../../../shared/reference/hermes-compat.md, "The agent backend"), and
optionally Hermes' runs API (runs.py), whose behaviour each test chooses by a script.
Usage: README.md in this folder.

Runs with Debian's /usr/bin/python3 (aiohttp from python3-aiohttp).
"""

import os

# Who started us, read before the slow imports: a parent that dies while aiohttp loads
# must still be noticed (the watch compares with this).
PARENT = os.getppid()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from aiohttp import web  # noqa: E402

import content_parts  # noqa: E402
import runs  # noqa: E402
import scripts  # noqa: E402
import transcriptions  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description="Hermes agent backend double")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    p.add_argument("--key-file", help="file holding the bearer key every request must carry")
    p.add_argument("--max-lifetime", type=float, default=3600.0,
                   help="exit after this many seconds, whatever happens (default 3600)")
    p.add_argument("--script", default="{}",
                   help="default script as JSON, e.g. '{\"deltas\": 5, \"delay\": 0.05}'")
    p.add_argument("--deltas", type=int, help="default number of content deltas")
    p.add_argument("--delay", type=float, help="default seconds between deltas")
    p.add_argument("--first-token-delay", type=float, help="default seconds before the first delta")
    p.add_argument("--keepalive-interval", type=float,
                   help="default seconds of silence after which ': keepalive' is sent")
    p.add_argument("--max-concurrent-runs", type=int, default=10,
                   help="chat completions and runs at once before 429 (Hermes: 10)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--plain", dest="kind", action="store_const", const="plain",
                      help="a plain OpenAI-compatible server: no /v1/capabilities")
    kind.add_argument("--runs", dest="kind", action="store_const", const="hermes-runs",
                      help="Hermes 0.18.x with /v1/runs")
    kind.add_argument("--runs-idempotent", dest="kind", action="store_const",
                      const="hermes-runs-idempotent",
                      help="/v1/runs with Idempotency-Key, as the newest Hermes has it")
    p.set_defaults(kind="hermes")
    return p.parse_args(argv)


def default_script(args):
    script = json.loads(args.script)
    if not isinstance(script, dict):
        raise SystemExit("--script must be a JSON object")
    for flag, key in (("deltas", "deltas"), ("delay", "delay"),
                      ("first_token_delay", "first_token_delay"),
                      ("keepalive_interval", "keepalive_interval")):
        value = getattr(args, flag)
        if value is not None:
            script[key] = value
    return scripts.validate(script)


def openai_error(status, message, code, err_type, param=None):
    return web.json_response({"error": {"message": message, "type": err_type,
                                        "param": param, "code": code}}, status=status)


class Double:
    def __init__(self, key, defaults, max_runs=10, kind="hermes"):
        self.key = key
        self.scripts = scripts.ScriptBook(defaults)
        self.requests = []
        self.next_id = 1
        self.max_runs = max_runs
        self.runs = 0  # chat completions being answered now
        self.kind = kind  # one of runs.KINDS
        self.run_api = runs.Runs(self)
        self.capability_asks = 0

    def key_ok(self, request):
        """None without --key-file, else whether the bearer key matches (Hermes' rule:
        the text after "Bearer ", trimmed)."""
        if self.key is None:
            return None
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:].strip() == self.key

    def busy(self):
        """Hermes' max_concurrent_runs counts chat completions and runs together; a run
        holds its slot from its POST until it ends."""
        return self.runs + len(self.run_api.active) >= self.max_runs

    # -- recording ---------------------------------------------------------------

    def record(self, request, profile, raw_body, key_ok):
        try:
            body = json.loads(raw_body)
        except ValueError:
            body = raw_body.decode("utf-8", "replace")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        entry = {
            "id": self.next_id,
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "profile": profile,
            "session_id": request.headers.get("X-Hermes-Session-Id"),
            # Whether a key came and whether it matched; never the key itself.
            "has_authorization": "Authorization" in request.headers,
            "key_ok": key_ok,
            "headers": headers,
            "body": body,
            # Images in the messages (chat) or input list (runs), decoded and hashed.
            "images": content_parts.images_of_request(body),
        }
        self.next_id += 1
        self.requests.append(entry)
        return entry

    # -- the OpenAI-compatible endpoint -------------------------------------------

    async def chat_completions(self, request):
        received = time.time()
        profile = request.match_info.get("profile")
        raw = await request.read()
        key_ok = self.key_ok(request)
        entry = self.record(request, profile, raw, key_ok)
        entry["received"] = received
        if key_ok is False:
            return openai_error(401, "Invalid API key", "invalid_api_key", "invalid_request_error")
        body = entry["body"]
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return openai_error(400, "body must be a JSON object with messages",
                                "invalid_request", "invalid_request_error")
        refused = content_parts.check_messages(body["messages"])
        if refused is not None:
            index, err = refused
            return openai_error(400, err.message, err.code, "invalid_request_error",
                                param=f"messages[{index}].content")
        model = body.get("model") if isinstance(body.get("model"), str) else ""
        if self.busy():
            entry["script"] = None
            return scripts.too_many_runs(self.max_runs)
        script = self.scripts.take(profile, model)
        entry["script"] = script
        self.runs += 1
        try:
            return await scripts.perform(script, request, body, model or profile or "double",
                                         entry)
        finally:
            self.runs -= 1

    async def capabilities(self, request):
        """GET /v1/capabilities as Hermes answers it: with runs in the runs kinds (0.18.x's
        answer), else with the features of a Hermes the gateway should use through chat
        completions only; a plain server has no such endpoint."""
        key_ok = self.key_ok(request)
        # Counted apart: the request record is of the turns (chat and runs), which tests read.
        self.capability_asks += 1
        if self.kind == "plain":
            return web.json_response({"detail": "Not Found"}, status=404)
        if key_ok is False:
            return openai_error(401, "Invalid API key", "invalid_api_key", "invalid_request_error")
        if self.kind in runs.RUN_KINDS:
            return web.json_response(runs.capabilities(
                self.key is not None, idempotent=self.kind == "hermes-runs-idempotent"))
        return web.json_response({
            "object": "hermes.api_server.capabilities", "platform": "hermes-agent",
            "model": "hermes-agent", "auth": {"type": "bearer", "required": self.key is not None},
            "features": {"chat_completions": True, "chat_completions_streaming": True,
                         "responses_api": False, "run_submission": False, "run_status": False,
                         "run_events_sse": False, "run_stop": False,
                         "run_approval_response": False, "tool_progress_events": True,
                         "approval_events": False,
                         "session_continuity_header": "X-Hermes-Session-Id"},
            "endpoints": {"chat_completions": {"method": "POST",
                                               "path": "/v1/chat/completions"}}})

    async def transcriptions(self, request):
        return await transcriptions.transcribe(self, request)

    async def set_backend(self, request):
        try:
            kind = (await request.json()).get("kind")
        except (ValueError, AttributeError):
            kind = None
        if kind not in runs.KINDS:
            return web.json_response({"error": "kind must be one of: " + ", ".join(runs.KINDS)},
                                     status=400)
        self.kind = kind
        return web.json_response({"ok": True})

    # -- admin ----------------------------------------------------------------------

    async def set_script(self, request):
        try:
            spec = await request.json()
            self.scripts.add(spec)
        except (ValueError, TypeError) as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"ok": True})

    async def clear_scripts(self, _request):
        self.scripts.clear()
        return web.json_response({"ok": True})

    async def get_requests(self, _request):
        return web.json_response({"requests": self.requests})

    async def clear_requests(self, _request):
        self.requests.clear()
        return web.json_response({"ok": True})

    async def health(self, _request):
        return web.json_response({"ok": True, "requests": len(self.requests),
                                  "runs": len(self.run_api.runs),
                                  "capability_asks": self.capability_asks})


def make_app(double):
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", double.chat_completions)
    app.router.add_post("/p/{profile}/v1/chat/completions", double.chat_completions)
    app.router.add_get("/v1/capabilities", double.capabilities)
    app.router.add_get("/p/{profile}/v1/capabilities", double.capabilities)
    app.router.add_post("/v1/audio/transcriptions", double.transcriptions)
    app.router.add_post("/p/{profile}/v1/audio/transcriptions", double.transcriptions)
    r = double.run_api  # answered 404 unless the backend kind has runs
    for prefix in ("", "/p/{profile}"):
        app.router.add_post(prefix + "/v1/runs", r.create)
        app.router.add_get(prefix + "/v1/runs/{run_id}", r.status)
        app.router.add_get(prefix + "/v1/runs/{run_id}/events", r.events)
        app.router.add_post(prefix + "/v1/runs/{run_id}/approval", r.approve)
        app.router.add_post(prefix + "/v1/runs/{run_id}/stop", r.stop)
    app.router.add_post("/_double/backend", double.set_backend)
    app.router.add_post("/_double/script", double.set_script)
    app.router.add_delete("/_double/script", double.clear_scripts)
    app.router.add_get("/_double/requests", double.get_requests)
    app.router.add_get("/_double/runs", r.listing)
    app.router.add_delete("/_double/requests", double.clear_requests)
    app.router.add_get("/_double/health", double.health)
    return app


def die_with_parent():
    """Ask Linux to SIGTERM us when the parent exits (a crashed test leaves no orphan)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the ppid watch below still catches it


async def watch_parent(parent, stop):
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(0.5)


async def main(argv):
    args = parse_args(argv)
    key = None
    if args.key_file:
        with open(args.key_file, encoding="utf-8") as f:
            key = f.read().strip()
    double = Double(key, default_script(args), args.max_concurrent_runs, args.kind)

    parent = PARENT
    die_with_parent()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(args.max_lifetime, stop.set)

    runner = web.AppRunner(make_app(double), handle_signals=False, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))  # never on other interfaces: it accepts any script
    site = web.SockSite(runner, sock, shutdown_timeout=0.5)
    await site.start()
    print(f"listening http://127.0.0.1:{sock.getsockname()[1]}", flush=True)

    watcher = asyncio.create_task(watch_parent(parent, stop))
    await stop.wait()
    watcher.cancel()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

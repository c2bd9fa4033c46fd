"""Hermes' runs API (`/v1/runs`) for the agent double, as Hermes 0.18.x has it
(gateway/platforms/api_server.py of 0.18.1: _handle_runs, _handle_get_run,
_handle_run_events, _handle_run_approval, _handle_stop_run), plus the newest server's
Idempotency-Key on POST /v1/runs (api_server_runs.py). A run performs the same scripts as
chat completions, as run events instead of chat chunks. Usage: README.md in this folder.
"""

import asyncio
import hashlib
import json
import time
import uuid

from aiohttp import web

import content_parts
import scripts

# What POST /_double/backend takes. "hermes": chat completions only (runs false in
# capabilities); "plain": an OpenAI-compatible server without Hermes' extras;
# "hermes-runs": Hermes 0.18.x; "hermes-runs-idempotent": 0.18.x runs plus the newest
# server's Idempotency-Key on POST /v1/runs.
KINDS = ("hermes", "plain", "hermes-runs", "hermes-runs-idempotent")
RUN_KINDS = ("hermes-runs", "hermes-runs-idempotent")

MODEL = "hermes-agent"  # the name Hermes advertises when nothing else is configured
CHOICES = ["once", "session", "always", "deny"]  # 0.18.x offers all four, always
CHOICE_ALIASES = {"approve": "once", "approved": "once", "allow": "once"}
STREAM_KEEPALIVE = 30.0  # the events stream's keepalive (not the chat completions one)

# Hermes' security middleware adds these to every answer whose headers it can still
# change, so to JSON answers but (probably) not to an event stream already begun.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "0",
    "Referrer-Policy": "no-referrer",
}

# A literal dict in Hermes' _check_auth: no "param", unlike _openai_error.
INVALID_KEY = {"error": {"message": "Invalid API key", "type": "invalid_request_error",
                         "code": "invalid_api_key"}}


def answer(body, status=200, headers=None):
    return web.json_response(body, status=status, headers={**SECURITY_HEADERS, **(headers or {})})


def openai_error(status, message, code=None, err_type="invalid_request_error", headers=None):
    """Hermes' _openai_error body, which always has "param": null."""
    return answer({"error": {"message": message, "type": err_type, "param": None, "code": code}},
                  status, headers)


def run_not_found(run_id):
    return openai_error(404, f"Run not found: {run_id}", "run_not_found")


def too_many_runs(limit):
    return openai_error(429, f"Too many concurrent runs (max {limit})", "rate_limit_exceeded",
                        "rate_limit_error", {"Retry-After": "1"})


def crash():
    """What aiohttp answers when a Hermes handler raises, e.g. on `body.get` when the JSON
    body is a list: its own 500, without the security headers, closing the connection."""
    response = web.Response(status=500, text="500 Internal Server Error\n\n"
                                             "Server got itself in trouble")
    response.force_close()
    return response


def capabilities(key_required, idempotent):
    """GET /v1/capabilities as Hermes 0.18.x answers it (its _handle_capabilities, key
    for key), with the newest server's runs_idempotency when `idempotent`. It claims
    what 0.18.x has, including endpoints this double does not imitate (responses,
    sessions, skills)."""
    features = {
        "chat_completions": True, "chat_completions_streaming": True,
        "responses_api": True, "responses_streaming": True, "run_submission": True,
    }
    if idempotent:
        features["runs_idempotency"] = {"supported": True, "durable": True,
                                        "retention_seconds": 24 * 60 * 60}
    features.update({
        "run_status": True, "run_events_sse": True, "run_stop": True,
        "run_approval_response": True, "tool_progress_events": True, "approval_events": True,
        "session_resources": True, "session_chat": True, "session_chat_streaming": True,
        "session_fork": True, "admin_config_rw": False, "jobs_admin": False,
        "memory_write_api": False, "skills_api": True, "audio_api": False,
        "realtime_voice": False, "session_continuity_header": "X-Hermes-Session-Id",
        "session_key_header": "X-Hermes-Session-Key", "cors": False,
    })
    endpoints = {name: {"method": method, "path": path} for name, method, path in (
        ("health", "GET", "/health"), ("health_detailed", "GET", "/health/detailed"),
        ("models", "GET", "/v1/models"), ("chat_completions", "POST", "/v1/chat/completions"),
        ("responses", "POST", "/v1/responses"), ("runs", "POST", "/v1/runs"),
        ("run_status", "GET", "/v1/runs/{run_id}"),
        ("run_events", "GET", "/v1/runs/{run_id}/events"),
        ("run_approval", "POST", "/v1/runs/{run_id}/approval"),
        ("run_stop", "POST", "/v1/runs/{run_id}/stop"),
        ("skills", "GET", "/v1/skills"), ("toolsets", "GET", "/v1/toolsets"),
        ("sessions", "GET", "/api/sessions"), ("session_create", "POST", "/api/sessions"),
        ("session", "GET", "/api/sessions/{session_id}"),
        ("session_update", "PATCH", "/api/sessions/{session_id}"),
        ("session_delete", "DELETE", "/api/sessions/{session_id}"),
        ("session_messages", "GET", "/api/sessions/{session_id}/messages"),
        ("session_fork", "POST", "/api/sessions/{session_id}/fork"),
        ("session_chat", "POST", "/api/sessions/{session_id}/chat"),
        ("session_chat_stream", "POST", "/api/sessions/{session_id}/chat/stream"))}
    return {
        "object": "hermes.api_server.capabilities", "platform": "hermes-agent", "model": MODEL,
        "auth": {"type": "bearer", "required": key_required},
        "runtime": {"mode": "server_agent", "tool_execution": "server", "split_runtime": False,
                    "description": ("The API server creates a server-side Hermes AIAgent; "
                                    "tools execute on the API-server host unless a future "
                                    "explicit split-runtime mode is enabled.")},
        "features": features,
        "endpoints": endpoints,
    }


def content_text(content):
    """The text of a message content: a string, or OpenAI content parts joined."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else str(content)


def run_event(run_id, name, **fields):
    # Key order is part of the wire format: event, run_id, timestamp, then the fields.
    return {"event": name, "run_id": run_id, "timestamp": time.time(), **fields}


class Run:
    """One admitted run: its script, its pollable status, its event queue, and what the
    double tells tests about it (/_double/runs)."""

    def __init__(self, run_id, profile, script, body, user_message, idempotency_key):
        self.id = run_id
        self.profile = profile
        self.script = script
        self.body = body
        self.user_message = user_message
        self.idempotency_key = idempotency_key or None
        self.status = {}     # Hermes' _run_statuses entry, in its key order
        # Made at POST, before the run starts, so a GET after the POST misses nothing.
        self.queue = asyncio.Queue()
        self.task = None
        self.pending = None  # the future an approval answer resolves, while one is asked
        self.approvals = []  # choices answered, as Hermes normalised them
        self.stopped = False
        self.event_reads = 0
        self.replays = 0

    def set_status(self, status, **fields):
        """Hermes' _set_run_status: fields accumulate, created_at is set once."""
        now = time.time()
        self.status.update({"object": "hermes.run", "run_id": self.id, "status": status,
                            "updated_at": now})
        self.status.setdefault("created_at", fields.pop("created_at", now))
        self.status.update(fields)

    def put(self, name, **fields):
        self.queue.put_nowait(run_event(self.id, name, **fields))

    def push_tool(self, name, **fields):
        """A tool event, as Hermes' _push: last_event changes, the status does not (so a
        timed-out approval leaves `waiting_for_approval` standing)."""
        self.set_status(self.status["status"], last_event=name)
        self.put(name, **fields)

    def described(self):
        body = self.body
        return {"run_id": self.id, "status": self.status["status"],
                "input": body.get("input"), "session_id": body.get("session_id"),
                "instructions": body.get("instructions"),
                "conversation_history": body.get("conversation_history"),
                "approvals": list(self.approvals), "stopped": self.stopped,
                "event_reads": self.event_reads, "idempotency_key": self.idempotency_key,
                "profile": self.profile, "replays": self.replays,
                "images": content_parts.images_of_request(body)}


class Runs:
    """The runs endpoints and their state, inside a server.Double (its key, scripts,
    request record, backend kind and concurrency count)."""

    def __init__(self, double):
        self.double = double
        self.runs = {}         # run_id -> Run, all of them (Hermes: _run_statuses)
        self.streams = {}      # run_id -> Run until its event stream has been read once
        self.active = {}       # run_id -> Run until it ends (stop and approvals need it)
        self.idempotency = {}  # (scope, key) -> (fingerprint, run_id)

    # -- shared steps --------------------------------------------------------------

    async def begin(self, request):
        """Records the request; returns (entry, raw body, an early answer or None)."""
        raw = await request.read()
        entry = self.double.record(request, request.match_info.get("profile"), raw,
                                   self.double.key_ok(request))
        entry["script"] = None
        entry["run_id"] = request.match_info.get("run_id")
        if self.double.kind not in RUN_KINDS:
            raise web.HTTPNotFound()  # as a server without these routes answers
        if entry["key_ok"] is False:
            return entry, raw, answer(INVALID_KEY, 401)
        return entry, raw, None

    def find(self, table, request):
        """The run of this path's id in `table`, if it belongs to this path's profile (a
        run of another profile is not found, as in Hermes' multi-profile servers)."""
        run = table.get(request.match_info["run_id"])
        if run is None or run.profile != request.match_info.get("profile"):
            return None
        return run

    def session_key(self, request):
        """Hermes' _parse_session_key_header: (key or None, error answer or None)."""
        raw = request.headers.get("X-Hermes-Session-Key", "").strip()
        if not raw:
            return None, None
        if self.double.key is None:
            return None, openai_error(403, "X-Hermes-Session-Key requires API key "
                                           "authentication. Configure API_SERVER_KEY to "
                                           "enable this feature.")
        if any(c in raw for c in "\r\n\x00"):
            return None, answer({"error": {"message": "Invalid session key",
                                           "type": "invalid_request_error"}}, 400)
        if len(raw) > 256:
            return None, answer({"error": {"message": "Session key too long",
                                           "type": "invalid_request_error"}}, 400)
        return raw, None

    def scripted_error(self, script):
        if script["error_body"] is None and script["status"] == 401:
            return answer(INVALID_KEY, 401)
        if script["error_body"] is None and script["status"] == 429:
            return too_many_runs(self.double.max_runs)
        return scripts.error_answer(script)

    # -- POST /v1/runs ---------------------------------------------------------------

    async def create(self, request):
        entry, raw, early = await self.begin(request)
        if early is not None:
            return early
        profile = request.match_info.get("profile")
        session_key, err = self.session_key(request)
        if err is not None:
            return err
        idempotent = self.double.kind == "hermes-runs-idempotent"
        # 0.18.x counts slots before it reads the body; the newest server only after
        # looking up the Idempotency-Key, so that a replay never gets 429.
        if not idempotent and self.double.busy():
            return too_many_runs(self.double.max_runs)
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return openai_error(400, "Invalid JSON")
        key = request.headers.get("Idempotency-Key", "").strip()
        if idempotent and (len(key) > 255 or any(ord(c) < 33 or ord(c) > 126 for c in key)):
            return openai_error(400, "Idempotency-Key must be 1-255 visible ASCII characters",
                                "invalid_idempotency_key")
        if not isinstance(body, dict):
            return crash()
        raw_input = body.get("input")
        if not raw_input:
            return openai_error(400, "Missing 'input' field")
        if isinstance(raw_input, list):
            if not isinstance(raw_input[-1], dict):
                return crash()
            user_message = raw_input[-1].get("content", "")
        else:
            user_message = raw_input if isinstance(raw_input, str) else ""
        if not user_message:
            return openai_error(400, "No user message found in input")
        history = body.get("conversation_history")
        if history:
            if not isinstance(history, list):
                return openai_error(400, "'conversation_history' must be an array of "
                                         "message objects")
            for i, m in enumerate(history):
                if not isinstance(m, dict) or "role" not in m or "content" not in m:
                    return openai_error(400, f"conversation_history[{i}] must have 'role' "
                                             "and 'content' fields")

        extra = {"X-Hermes-Session-Key": session_key} if session_key else {}
        if idempotent and key:
            # Scoped by profile and credential; the fingerprint is the whole body plus
            # the session key, as the newest server computes them.
            slot = ((profile or "default", self.double.key or ""), key)
            fingerprint = hashlib.sha256(json.dumps(
                {"body": body, "gateway_session_key": session_key or ""}, sort_keys=True,
                separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
            known = self.idempotency.get(slot)
            if known and known[0] != fingerprint:
                return openai_error(409, "Idempotency-Key was already used with a different "
                                         "request payload", "idempotency_key_conflict")
            if known:
                run = self.runs[known[1]]
                run.replays += 1
                entry["run_id"] = run.id
                return answer({"run_id": run.id, "status": run.status.get("status", "queued"),
                               "replayed": True}, 202,
                              {"Idempotency-Replayed": "true", **extra})
        if idempotent and self.double.busy():
            return too_many_runs(self.double.max_runs)

        model = body.get("model") if isinstance(body.get("model"), str) else ""
        script = self.double.scripts.take(profile, model)
        entry["script"] = script
        if script["status"] != 200:
            return self.scripted_error(script)
        run = Run("run_" + uuid.uuid4().hex, profile, script, body,
                  content_text(user_message), key)
        entry["run_id"] = run.id
        run.set_status("queued", created_at=time.time(),
                       session_id=body.get("session_id") or run.id,
                       model=body.get("model", MODEL))
        self.runs[run.id] = self.streams[run.id] = self.active[run.id] = run
        if idempotent and key:
            self.idempotency[slot] = (fingerprint, run.id)
        # Detached: the run goes on whatever happens to this request or its stream.
        run.task = asyncio.create_task(self.perform(run))
        accepted = {"run_id": run.id, "status": "started"}
        if idempotent:
            accepted["replayed"] = False
        return answer(accepted, 202, extra)

    # -- what a run does -------------------------------------------------------------

    async def perform(self, run):
        script = run.script
        try:
            run.set_status("running")
            if script["hang"]:
                await asyncio.Event().wait()  # until /stop
            text = await self.tools_and_approval(run)
            if text is None:
                reply = script["reply"]
                text = reply if reply is not None else "echo: " + run.user_message
            pieces = scripts.split_text(text, script["deltas"])
            await asyncio.sleep(script["first_token_delay"])
            for i, piece in enumerate(pieces):
                if i == script["error_after"]:
                    break
                if i == script["hang_after_deltas"]:
                    await asyncio.Event().wait()
                if i > 0:
                    await asyncio.sleep(script["delay"])
                run.put("message.delta", delta=piece)  # deltas leave last_event alone
            hang_after = script["hang_after_deltas"]
            if hang_after is not None and hang_after >= len(pieces):
                await asyncio.Event().wait()
            if script["error_after"] is not None and script["error_after"] < len(pieces):
                error = script["error_message"]
                run.put("run.failed", error=error)
                run.set_status("failed", error=error, last_event="run.failed")
            else:
                usage = self.usage(run, text)
                run.put("run.completed", output=text, usage=usage)
                run.set_status("completed", output=text, usage=usage, last_event="run.completed")
        except asyncio.CancelledError:  # /stop
            run.set_status("cancelled", last_event="run.cancelled")
            run.put("run.cancelled")
            raise
        except Exception as exc:  # a script the double cannot perform, as an agent crash
            run.set_status("failed", error=str(exc), last_event="run.failed")
            run.put("run.failed", error=str(exc))
        finally:
            run.queue.put_nowait(None)  # the stream's end: ": stream closed"
            self.active.pop(run.id, None)
            run.pending = None

    async def tools_and_approval(self, run):
        """Tool events (without emoji or call id: runs carry neither) and the approval,
        asked after the first tool.started, else before the text. Returns the reply
        text an unapproved command makes, else None."""
        tools = run.script["tool_progress"]
        approval = run.script["approval"]
        blocked, asked, started = None, approval is None, {}
        for progress in (scripts.DEFAULT_TOOL_PROGRESS if tools is True else tools or []):
            tool = progress.get("tool")
            if progress.get("status") == "completed":
                began = started.pop(tool, time.monotonic())
                run.push_tool("tool.completed", tool=tool,
                              duration=round(time.monotonic() - began, 3), error=False)
                continue
            started[tool] = time.monotonic()
            run.push_tool("tool.started", tool=tool, preview=progress.get("label"))
            if not asked:
                blocked, asked = await self.ask(run, approval), True
        if not asked:
            blocked = await self.ask(run, approval)
        return blocked

    async def ask(self, run, approval):
        """approval.request, then a wait for an answer, a stop, or the timeout. Returns
        the reply text when the command may not run, else None."""
        command, description = approval["command"], approval["description"]
        # The payload keys first (as tools/approval.py builds them), then the envelope.
        event = {"command": command, "pattern_key": description, "pattern_keys": [description],
                 "description": description, "allow_permanent": approval["allow_permanent"]}
        event.update(run_event(run.id, "approval.request", choices=list(CHOICES)))
        run.set_status("waiting_for_approval", last_event="approval.request")
        run.queue.put_nowait(event)
        run.pending = asyncio.get_running_loop().create_future()
        try:
            choice = await asyncio.wait_for(run.pending, approval["timeout"])
        except asyncio.TimeoutError:
            # No event and no status change: 0.18.x leaves waiting_for_approval standing.
            return f"BLOCKED: no answer to the approval of `{command}`; I did not run it."
        finally:
            run.pending = None
        if choice == "deny":
            return f"BLOCKED: the user denied `{command}`; I did not run it."
        return None

    @staticmethod
    def usage(run, text):
        body = run.body
        history = body.get("conversation_history")
        prompt = len(run.user_message) + len(str(body.get("instructions") or ""))
        if isinstance(history, list):
            prompt += sum(len(str(m.get("content", ""))) for m in history if isinstance(m, dict))
        usage = {"input_tokens": max(1, prompt // 4), "output_tokens": max(1, len(text) // 4)}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        return usage

    # -- GET /v1/runs/{id} -----------------------------------------------------------

    async def status(self, request):
        _entry, _raw, early = await self.begin(request)
        if early is not None:
            return early
        run = self.find(self.runs, request)
        if run is None:
            return run_not_found(request.match_info["run_id"])
        return answer(run.status)

    # -- GET /v1/runs/{id}/events ----------------------------------------------------

    async def events(self, request):
        _entry, _raw, early = await self.begin(request)
        if early is not None:
            return early
        for _ in range(20):  # Hermes waits up to 1 s for the run to appear
            run = self.find(self.streams, request)
            if run is not None:
                break
            await asyncio.sleep(0.05)
        else:
            return run_not_found(request.match_info["run_id"])
        run.event_reads += 1
        interval = run.script["keepalive_interval"]
        if not interval or interval <= 0:
            interval = STREAM_KEEPALIVE
        response = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(run.queue.get(), timeout=interval)
                except asyncio.TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if event is None:
                    await response.write(b": stream closed\n\n")
                    break
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-write
        finally:
            # One reading only: however it ended (also when the client disconnected and
            # aiohttp cancelled us), the next GET waits 1 s and gets 404.
            self.streams.pop(run.id, None)
        return response

    # -- POST /v1/runs/{id}/approval -------------------------------------------------

    async def approve(self, request):
        _entry, raw, early = await self.begin(request)
        if early is not None:
            return early
        run_id = request.match_info["run_id"]
        run = self.find(self.runs, request)
        if run is None:
            return run_not_found(run_id)
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return openai_error(400, "Invalid JSON")
        if not isinstance(body, dict):
            return crash()
        raw_choice = str(body.get("choice", "")).strip().lower()
        choice = CHOICE_ALIASES.get(raw_choice, raw_choice)
        if choice not in CHOICES:
            return openai_error(400, "Invalid approval choice; expected one of: once, session, "
                                     "always, deny", "invalid_approval_choice")
        if run_id not in self.active:
            return openai_error(409, f"Run has no active approval session: {run_id}",
                                "approval_not_active")
        if run.pending is None or run.pending.done():
            return openai_error(409, f"Run has no pending approval: {run_id}",
                                "approval_not_pending")
        run.pending.set_result(choice)  # the run goes on once this handler yields
        run.approvals.append(choice)
        run.set_status("running", last_event="approval.responded")
        if run_id in self.streams:  # Hermes queues it only while the stream is unread
            run.put("approval.responded", choice=choice, resolved=1)
        return answer({"object": "hermes.run.approval_response", "run_id": run_id,
                       "choice": choice, "resolved": 1})

    # -- POST /v1/runs/{id}/stop -----------------------------------------------------

    async def stop(self, request):
        _entry, _raw, early = await self.begin(request)
        if early is not None:
            return early
        run_id = request.match_info["run_id"]
        run = self.find(self.active, request)
        if run is None:  # unknown or already finished: 0.18.x has no 409 here
            return run_not_found(run_id)
        run.set_status("stopping", last_event="run.stopping")
        run.stopped = True
        if not run.task.done():
            run.task.cancel()
            try:  # Hermes waits up to 5 s for the run to wind down
                await asyncio.wait_for(asyncio.shield(run.task), timeout=5.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                pass
        return answer({"run_id": run_id, "status": "stopping"})

    # -- GET /_double/runs -------------------------------------------------------------

    async def listing(self, _request):
        return web.json_response({"runs": [run.described() for run in self.runs.values()]})

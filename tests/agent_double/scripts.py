"""Scripts: what the agent double does with one request, and where scripts are kept.

A script is a JSON object; every key is optional (defaults in DEFAULTS). See README.md.
"""

import asyncio
import json
import time
import uuid

from aiohttp import web

# As Hermes 0.18.2 sends them (../../../shared/reference/hermes-api-server/): `running`
# with emoji, label and the call's id; `completed` with the id only, no emoji or label.
DEFAULT_TOOL_PROGRESS = [
    {"tool": "terminal", "emoji": "💻", "label": "echo fake-tool-ran", "status": "running"},
    {"tool": "terminal", "status": "completed"},
]

DEFAULTS = {
    "reply": None,              # fixed reply text; None: "echo: <last user message>"
    "deltas": 3,                # the reply is split into this many content deltas
    "delay": 0.0,               # seconds between deltas
    "first_token_delay": 0.0,   # seconds between the role chunk and the first delta
    "keepalive_interval": 0.0,  # > 0: ": keepalive" after this much silence in any wait
    "keepalives": 0,            # ": keepalive" comments sent right after the role chunk
    "tool_progress": False,     # true, or a list of {tool, emoji?, label?, status}; each
                                # call gets a toolCallId, and the text after it "\n\n"
    "error_after": None,        # int: after that many deltas, finish_reason "error"
    "error_message": "the model provider failed",
    "garbage": False,           # true: bad events (not JSON, not UTF-8) before the first delta
    "status": 200,              # non-200: an error answer (401, 500, 503 have Hermes' bodies)
    "error_body": None,         # the body of a non-200 answer, overriding the default
    "hang": False,              # never answer at all
    "hang_after_deltas": None,  # int: stream that many deltas, then go silent forever
    "truncate_after_deltas": None,  # int: that many deltas, then end the body (no finish, no [DONE])
    "line_ending": "\n",        # "\n", "\r\n" or "\r"
    "usage": True,              # usage on the final chunk
    "done": True,               # data: [DONE] at the end
    "raw_body": None,           # a string sent as the whole 200 body instead (UTF-8)
    "transcript": None,         # /v1/audio/transcriptions only: the text it answers;
                                # None: "transcript of <n> bytes"
    "approval": None,           # runs only: {command, description?, allow_permanent?,
                                # timeout?}: ask before the text (see APPROVAL_DEFAULTS)
}

# The keys of a script's `approval`; `command` has no default. The description is Hermes'
# own fallback text, the timeout its approvals.gateway_timeout default.
APPROVAL_DEFAULTS = {"command": None, "description": "dangerous command",
                     "allow_permanent": True, "timeout": 300}

_INT_OR_NONE = ("error_after", "hang_after_deltas", "truncate_after_deltas")


def validate(script):
    """The script with unknown keys refused and types checked (ValueError)."""
    if not isinstance(script, dict):
        raise ValueError("a script is a JSON object")
    unknown = set(script) - set(DEFAULTS)
    if unknown:
        raise ValueError("unknown script keys: " + ", ".join(sorted(unknown)))
    for key in _INT_OR_NONE:
        if script.get(key) is not None and not isinstance(script[key], int):
            raise ValueError(key + " must be an integer")
    if "deltas" in script and (not isinstance(script["deltas"], int) or script["deltas"] < 1):
        raise ValueError("deltas must be a positive integer")
    if script.get("transcript") is not None and not isinstance(script["transcript"], str):
        raise ValueError("transcript must be a string or null")
    if script.get("line_ending", "\n") not in ("\n", "\r\n", "\r"):
        raise ValueError("line_ending must be \\n, \\r\\n or \\r")
    script = dict(script)
    if script.get("approval") is not None:
        script["approval"] = validate_approval(script["approval"])
    return script


def validate_approval(approval):
    """A script's `approval` laid over APPROVAL_DEFAULTS, checked (ValueError)."""
    if not isinstance(approval, dict):
        raise ValueError("approval must be an object or null")
    unknown = set(approval) - set(APPROVAL_DEFAULTS)
    if unknown:
        raise ValueError("unknown approval keys: " + ", ".join(sorted(unknown)))
    approval = {**APPROVAL_DEFAULTS, **approval}
    if not isinstance(approval["command"], str) or not approval["command"]:
        raise ValueError("approval.command must be a non-empty string")
    if not isinstance(approval["description"], str):
        raise ValueError("approval.description must be a string")
    if not isinstance(approval["allow_permanent"], bool):
        raise ValueError("approval.allow_permanent must be true or false")
    timeout = approval["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError("approval.timeout must be a positive number of seconds")
    return approval


class ScriptBook:
    """Scripts by scope. A request of profile P (path /p/P/...) for model M takes the
    first of: P's next-N scripts, P's standing script, then the same for M, then global,
    then the command-line defaults. The chosen script overlays the defaults."""

    def __init__(self, defaults):
        self.defaults = {**DEFAULTS, **defaults}
        self.clear()

    def clear(self):
        self.scopes = {}  # scope -> {"standing": script or None, "queue": [[script, n]]}

    def add(self, spec):
        """spec: {"script": {...}, "profile"?: P, "model"?: M, "count"?: N}."""
        if not isinstance(spec, dict) or "script" not in spec:
            raise ValueError('expected {"script": {...}, "profile"?, "model"?, "count"?}')
        script = validate(spec["script"])
        if spec.get("profile") is not None:
            scope = "profile:" + str(spec["profile"])
        elif spec.get("model") is not None:
            scope = "model:" + str(spec["model"])
        else:
            scope = "global"
        slot = self.scopes.setdefault(scope, {"standing": None, "queue": []})
        count = spec.get("count")
        if count is None:
            slot["standing"] = script
        elif isinstance(count, int) and count > 0:
            slot["queue"].append([script, count])
        else:
            raise ValueError("count must be a positive integer")

    def take_for_model(self, model):
        """Only the model's own scripts, else the defaults (transcriptions use this)."""
        return self._take_first(["model:" + model])

    def take(self, profile, model):
        scopes = []
        if profile:
            scopes.append("profile:" + profile)
        if model:
            scopes.append("model:" + model)
        scopes.append("global")
        return self._take_first(scopes)

    def _take_first(self, scopes):
        for scope in scopes:
            slot = self.scopes.get(scope)
            if not slot:
                continue
            if slot["queue"]:
                entry = slot["queue"][0]
                entry[1] -= 1
                if entry[1] == 0:
                    slot["queue"].pop(0)
                return {**self.defaults, **entry[0]}
            if slot["standing"] is not None:
                return {**self.defaults, **slot["standing"]}
        return dict(self.defaults)


# -- performing a script -------------------------------------------------------------


def last_user_text(body):
    for m in reversed(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # OpenAI content parts
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def split_text(text, n):
    """n pieces (by characters, never inside a code point) that join to text."""
    n = max(1, min(n, len(text))) if text else 1
    size, extra = divmod(len(text), n)
    pieces, at = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        pieces.append(text[at:at + step])
        at += step
    return pieces


def error_answer(script):
    status = script["status"]
    if script["error_body"] is not None:
        body = script["error_body"]
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/plain")
        return web.json_response(body, status=status)
    if status == 401:
        return web.json_response({"error": {"message": "Invalid API key",
                                            "type": "invalid_request_error",
                                            "param": None, "code": "invalid_api_key"}},
                                 status=401)
    if status == 429:  # Hermes' answer past max_concurrent_runs
        return too_many_runs(10)
    if status == 500:
        return web.Response(status=500, text="Internal Server Error", content_type="text/plain")
    if status == 503:
        return web.json_response({"error": {"message": "The agent is not ready, try again",
                                            "type": "server_error",
                                            "code": "service_unavailable"}}, status=503)
    return web.json_response({"error": {"message": f"scripted HTTP {status}",
                                        "type": "server_error", "code": None}}, status=status)


def too_many_runs(limit):
    return web.json_response({"error": {"message": f"Too many concurrent runs (max {limit})",
                                        "type": "rate_limit_error",
                                        "code": "rate_limit_exceeded"}},
                             status=429, headers={"Retry-After": "1"})


class Completion:
    """The reply to one request: ids, text, pieces, the chunks of the stream."""

    def __init__(self, script, body, model):
        self.script = script
        self.model = model
        self.id = "chatcmpl-" + uuid.uuid4().hex[:12]
        self.created = int(time.time())
        reply = script["reply"]
        self.text = reply if reply is not None else "echo: " + last_user_text(body)
        self.pieces = split_text(self.text, script["deltas"])
        prompt = sum(len(str(m.get("content", ""))) for m in body["messages"]
                     if isinstance(m, dict))
        self.usage = {"prompt_tokens": max(1, prompt // 4),
                      "completion_tokens": max(1, len(self.text) // 4)}
        self.usage["total_tokens"] = self.usage["prompt_tokens"] + self.usage["completion_tokens"]

    def chunk(self, delta, finish_reason=None, **extra):
        c = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
             "model": self.model,
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        c.update(extra)
        return c

    def final_chunk(self, sent_text, error=None):
        extra = {}
        if self.script["usage"]:
            extra["usage"] = self.usage
        if error is None:  # the real server sends no `hermes` object on success
            return self.chunk({}, "stop", **extra)
        extra["error"] = {"message": error, "type": "server_error", "code": "agent_error"}
        extra["hermes"] = {"completed": False, "partial": bool(sent_text), "failed": True,
                           "error": error, "error_code": "agent_error"}
        return self.chunk({}, "error", **extra)

    def whole(self):
        """The non-streaming answer (stream: false)."""
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.text},
                             "finish_reason": "stop"}],
                "usage": self.usage}


class Stream:
    """Writes SSE to one response, with keepalives during waits."""

    def __init__(self, response, script):
        self.response = response
        self.eol = script["line_ending"]
        self.keepalive_interval = script["keepalive_interval"]

    async def write(self, text):
        await self.response.write(text.encode("utf-8"))

    async def event(self, data, event=None):
        lines = []
        if event:
            lines.append("event: " + event)
        payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        lines.append("data: " + payload)
        await self.write(self.eol.join(lines) + self.eol + self.eol)

    async def keepalive(self):
        await self.write(": keepalive" + self.eol + self.eol)

    async def wait(self, seconds):
        """Sleeps; every keepalive_interval of it is broken by a keepalive comment."""
        if self.keepalive_interval and self.keepalive_interval > 0:
            deadline = time.monotonic() + seconds
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                if left < self.keepalive_interval:
                    await asyncio.sleep(left)
                    return
                await asyncio.sleep(self.keepalive_interval)
                await self.keepalive()
        elif seconds > 0:
            await asyncio.sleep(seconds)

    async def forever(self):
        while True:
            await self.wait(3600)


async def perform(script, request, body, model, stamps=None):
    """Answers one request as `script` says. `stamps` (a dict, e.g. the request's
    record) gets `first_byte_sent`, `first_delta_sent` and `last_byte_sent` (time.time()
    right after that write returned) for streamed answers."""
    stamps = {} if stamps is None else stamps
    if script["hang"]:
        await asyncio.Event().wait()  # until the client goes away (aiohttp cancels us)
    if script["status"] != 200:
        return error_answer(script)
    completion = Completion(script, body, model)
    if body.get("stream") is not True:
        return web.json_response(completion.whole())

    response = web.StreamResponse(status=200, headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    stamps["first_byte_sent"] = time.time()
    if script["raw_body"] is not None:
        await response.write(script["raw_body"].encode("utf-8"))
        await response.write_eof()
        return response

    s = Stream(response, script)
    await s.event(completion.chunk({"role": "assistant"}))
    for _ in range(script["keepalives"]):
        await s.keepalive()
    tools = script["tool_progress"]
    if tools:
        # One id per call: a `running` opens one, the next `completed` of that tool
        # closes it, as the real server reports a call.
        open_calls = {}
        for progress in DEFAULT_TOOL_PROGRESS if tools is True else tools:
            progress = dict(progress)
            if progress.get("status") == "completed":
                progress["toolCallId"] = open_calls.pop(progress.get("tool"), "call_unknown")
            else:
                progress["toolCallId"] = open_calls[progress.get("tool")] = \
                    "call_" + uuid.uuid4().hex[:8]
            await s.event(progress, event="hermes.tool.progress")
    if script["garbage"]:
        await s.event("{this is not json")
        await response.write(b"data: \xff\xfe not utf-8" + (s.eol * 2).encode())
        await s.event({"choices": "not an array"})
    await s.wait(script["first_token_delay"])

    sent = ""
    for i, piece in enumerate(completion.pieces):
        if i == script["error_after"]:
            break
        if i == script["hang_after_deltas"]:
            await s.forever()
        if i == script["truncate_after_deltas"]:
            await response.write_eof()
            return response
        if i > 0:
            await s.wait(script["delay"])
        if i == 0 and tools:
            piece = "\n\n" + piece  # the real server's text after a tool call
        await s.event(completion.chunk({"content": piece}))
        if i == 0:
            stamps["first_delta_sent"] = time.time()
        sent += piece
    n = len(completion.pieces)
    if script["hang_after_deltas"] is not None and script["hang_after_deltas"] >= n:
        await s.forever()
    if script["truncate_after_deltas"] is not None and script["truncate_after_deltas"] >= n:
        await response.write_eof()
        return response
    failed = script["error_after"] is not None and script["error_after"] < n
    final = completion.final_chunk(sent, script["error_message"] if failed else None)
    await s.event(final)
    if script["done"]:
        await s.event("[DONE]")
    await response.write_eof()
    stamps["last_byte_sent"] = time.time()
    return response

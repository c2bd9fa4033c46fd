"""Self-test of the agent double: start it, script it, check what it sends against the
stream format the C++ decoder (agent/chat_stream) is tested to expect."""

import http.client
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

import sse_items

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SERVER = HERE / "server.py"
PYTHON = "/usr/bin/python3"


class Running:
    def __init__(self, *args):
        self.proc = subprocess.Popen([PYTHON, str(SERVER), "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True)  # stderr: pytest captures it
        line = self.proc.stdout.readline()
        assert line.startswith("listening http://127.0.0.1:"), line
        self.port = int(line.rsplit(":", 1)[1])

    def request(self, method, path, body=None, headers=None, timeout=10):
        status, hdrs, payload = self.call(method, path, body, headers, timeout)
        return status, hdrs.get("Content-Type", ""), payload

    def call(self, method, path, body=None, headers=None, timeout=10, raw=None):
        """(status, response headers, body bytes); `raw` is sent as the body instead."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        return resp.status, resp.headers, payload

    def chat(self, text="hello", path="/v1/chat/completions", model="coder", stream=True,
             headers=None, timeout=10):
        body = {"model": model, "stream": stream,
                "messages": [{"role": "system", "content": "ctx"},
                             {"role": "user", "content": text}]}
        return self.request("POST", path, body, headers, timeout)

    def script(self, script, **where):
        status, _, _ = self.request("POST", "/_double/script", {"script": script, **where})
        assert status == 200

    def recorded(self):
        return json.loads(self.request("GET", "/_double/requests")[2])["requests"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


@pytest.fixture
def double():
    d = Running()
    yield d
    d.stop()


def test_recorded_fixture_matches_the_cpp_expectations():
    # The same items tests/unit/agent/chat_stream_test.cpp expects of this fixture:
    # the Python twin agrees with the C++ decoder.
    data = (ROOT / "tests/fixtures/agent/hermes_stream.sse").read_bytes()
    assert sse_items.items(data) == [
        "tool web_search 🔍 [Searching the web] running",
        "keepalive",
        "tool web_search 🔍 [Searching the web] completed",
        "text [Grüße]",
        "text [ aus Köln 🌧,]",
        "text [\nzweite Zeile.]",
        "finish stop usage=12/5/17 hermes=C--",
        "done",
    ]


def test_echo_stream_has_the_hermes_shape(double):
    status, ctype, body = double.chat("héllo 🌧")
    assert status == 200 and ctype.startswith("text/event-stream")
    records = sse_items.sse_records(body)
    first = json.loads(records[0][2])
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant"}
    got = sse_items.items(body)
    assert got[-2].startswith("finish stop usage=") and "hermes=" not in got[-2]
    assert got[-1] == "done"
    texts = [g[len("text ["):-1] for g in got if g.startswith("text [")]
    assert len(texts) == 3
    assert "".join(texts) == "echo: héllo 🌧"
    # Same chunk keys as the real server's successful turn: no `hermes` object.
    final = json.loads(records[-2][2])
    assert set(final) == {"id", "object", "created", "model", "choices", "usage"}


def test_requests_are_recorded_without_the_key(double):
    double.chat("one", headers={"X-Hermes-Session-Id": "matrix:coder:!r", "Authorization": "Bearer sk-xyz"})
    double.chat("two", path="/p/writer/v1/chat/completions")
    reqs = double.recorded()
    assert [r["session_id"] for r in reqs] == ["matrix:coder:!r", None]
    assert [r["has_authorization"] for r in reqs] == [True, False]
    assert [r["profile"] for r in reqs] == [None, "writer"]
    assert reqs[0]["body"]["messages"][-1]["content"] == "one"
    assert "sk-xyz" not in json.dumps(reqs)
    assert double.request("DELETE", "/_double/requests")[0] == 200
    assert double.recorded() == []


def test_key_file():
    with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
        f.write("sk-right\n")
        f.flush()
        d = Running("--key-file", f.name)
        try:
            status, _, body = d.chat()
            assert status == 401
            assert json.loads(body)["error"]["code"] == "invalid_api_key"
            status, _, _ = d.chat(headers={"Authorization": "Bearer sk-wrong"})
            assert status == 401
            status, _, _ = d.chat(headers={"Authorization": "Bearer sk-right"})
            assert status == 200
            reqs = d.recorded()
            assert [r["key_ok"] for r in reqs] == [False, False, True]
            assert "sk-right" not in json.dumps(reqs) and "sk-wrong" not in json.dumps(reqs)
        finally:
            d.stop()


def test_scripts_by_scope_and_count(double):
    double.script({"reply": "global"})
    double.script({"reply": "for model m"}, model="m")
    double.script({"reply": "for profile p, twice"}, profile="p", count=2)
    def reply(**kw):
        return "".join(t[6:-1] for t in sse_items.items(double.chat(**kw)[2]) if t.startswith("text"))
    assert reply(model="other") == "global"
    assert reply(model="m") == "for model m"
    assert reply(model="m", path="/p/p/v1/chat/completions") == "for profile p, twice"
    assert reply(model="m", path="/p/p/v1/chat/completions") == "for profile p, twice"
    assert reply(model="m", path="/p/p/v1/chat/completions") == "for model m"
    assert double.request("DELETE", "/_double/script")[0] == 200
    assert reply() == "echo: hello"
    status, _, _ = double.request("POST", "/_double/script", {"script": {"nope": 1}})
    assert status == 400


def test_tool_progress_keepalives_and_pacing(double):
    double.script({"tool_progress": True, "keepalives": 2, "deltas": 2, "delay": 0.2,
                   "first_token_delay": 0.3, "keepalive_interval": 0.1})
    started = time.monotonic()
    _, _, body = double.chat("x")
    assert time.monotonic() - started >= 0.5
    got = sse_items.items(body)
    call_id = got[2].rsplit("#", 1)[1]
    assert got[:4] == ["keepalive", "keepalive",
                       f"tool terminal 💻 [echo fake-tool-ran] running #{call_id}",
                       f"tool terminal  [] completed #{call_id}"]
    assert got.count("keepalive") >= 4  # two up front, more during the waits
    assert got[-1] == "done"


def test_mid_stream_error(double):
    double.script({"deltas": 4, "error_after": 2, "error_message": "provider down"})
    got = sse_items.items(double.chat("abcdefgh")[2])
    assert [g for g in got if g.startswith("text")] == ["text [echo]", "text [: ab]"]
    assert got[-2] == ("finish error usage=%s error=[provider down] "
                       "hermes=-PF[provider down|agent_error]" % got[-2].split("usage=")[1].split()[0])
    assert got[-1] == "done"


@pytest.mark.parametrize("status,needle", [(401, b"invalid_api_key"), (500, b"Internal Server Error"),
                                           (503, b"service_unavailable"), (418, b"scripted HTTP 418")])
def test_error_statuses(double, status, needle):
    double.script({"status": status})
    got_status, _, body = double.chat()
    assert got_status == status and needle in body


def test_garbage_is_reported_and_the_stream_goes_on(double):
    double.script({"garbage": True})
    got = sse_items.items(double.chat()[2])
    assert got.count("malformed") == 3
    assert got[-1] == "done" and any(g.startswith("text") for g in got)


@pytest.mark.parametrize("eol", ["\r\n", "\r"])
def test_line_endings(double, eol):
    double.script({"line_ending": eol})
    body = double.chat()[2]
    assert eol.encode() + eol.encode() in body
    assert sse_items.items(body)[-1] == "done"


def test_non_streaming(double):
    status, ctype, body = double.chat("hi", stream=False)
    answer = json.loads(body)
    assert status == 200 and ctype.startswith("application/json")
    assert answer["choices"][0]["message"]["content"] == "echo: hi"


def test_hang_and_truncation(double):
    double.script({"hang": True}, count=1)
    with pytest.raises(TimeoutError):
        double.chat(timeout=0.5)
    double.script({"truncate_after_deltas": 1}, count=1)
    got = sse_items.items(double.chat()[2])
    assert len(got) == 1 and got[0].startswith("text")
    assert double.chat()[0] == 200  # the double is still well


def test_exits_after_max_lifetime():
    d = Running("--max-lifetime", "0.5")
    assert d.proc.wait(timeout=10) == 0


def test_exits_when_the_parent_dies():
    # A shell starts the double in the background and exits; the orphan must follow.
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp, "out")
        # The shell exits once the double is listening (however long it takes to start
        # on a loaded machine), not after a fixed sleep.
        subprocess.run(["/bin/sh", "-c", f'{PYTHON} "{SERVER}" --port 0 > "{out}" & '
                        f'echo $! > "{out}.pid"; while [ ! -s "{out}" ]; do sleep 0.05; done'],
                       check=True, timeout=20)
        pid = int(pathlib.Path(f"{out}.pid").read_text())
        assert out.read_text().startswith("listening")
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the double outlived its parent")


def test_sigterm_exits_cleanly(double):
    assert double.stop() == 0


if __name__ == "__main__":
    sys.exit(pytest.main([str(HERE), "-q", "-p", "no:cacheprovider"]))


def without_call_ids(items):
    return [re.sub(r" #call_[0-9a-f]+$", " #call", i) for i in items]


def test_a_tool_turn_reads_like_the_recorded_real_server(double):
    # tests/fixtures/agent/hermes-0.18.2-tool-turn.sse: the exact bytes of Hermes
    # 0.18.2's tool turn (../../../shared/reference/hermes-api-server/).
    real = sse_items.items((ROOT / "tests/fixtures/agent/hermes-0.18.2-tool-turn.sse")
                           .read_bytes())
    double.script({"tool_progress": True, "reply": "real-hermes says: please FAKE_TOOL now",
                   "deltas": 5})
    ours = sse_items.items(double.chat("please FAKE_TOOL now")[2])

    def shape(items):
        """Tool events, the text joined, then the rest; the call id and the token
        counts (which differ by nature) left out."""
        tools = [i for i in without_call_ids(items) if i.startswith("tool ")]
        text = "".join(i[len("text ["):-1] for i in items if i.startswith("text ["))
        rest = [re.sub(r"usage=\d+/\d+/\d+", "usage=n", i) for i in items
                if not i.startswith(("tool ", "text ["))]
        return tools, text, rest
    assert shape(ours) == shape(real)
    assert shape(real)[1] == "\n\nreal-hermes says: please FAKE_TOOL now"
    assert len([i for i in ours if i.startswith("text [")]) == 5


def test_capabilities_as_hermes_and_none_when_plain(double):
    status, _, body = double.request("GET", "/v1/capabilities")
    caps = json.loads(body)
    assert status == 200 and caps["platform"] == "hermes-agent"
    assert caps["features"]["session_continuity_header"] == "X-Hermes-Session-Id"
    assert caps["features"]["run_submission"] is False  # the double has no runs yet
    status, _, _ = double.request("POST", "/_double/backend", {"kind": "plain"})
    assert status == 200
    assert double.request("GET", "/p/coder/v1/capabilities")[0] == 404
    assert double.recorded() == []  # capability asks are not chat requests
    assert json.loads(double.request("GET", "/_double/health")[2])["capability_asks"] == 2


def test_past_max_concurrent_runs_is_hermes_429():
    d = Running("--max-concurrent-runs", "1")
    try:
        d.script({"delay": 1.0, "deltas": 2})
        import threading
        slow = threading.Thread(target=d.chat, args=("slow",))
        slow.start()
        time.sleep(0.3)
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
        conn.request("POST", "/v1/chat/completions", body=json.dumps(
            {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}),
            headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 429 and resp.getheader("Retry-After") == "1"
        assert body == {"error": {"message": "Too many concurrent runs (max 1)",
                                  "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
        slow.join()
    finally:
        d.stop()


# -- the runs API (runs.py) -------------------------------------------------------------

def hermes_error(message, code=None, err_type="invalid_request_error"):
    """Hermes' _openai_error body."""
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


INVALID_KEY = (b'{"error": {"message": "Invalid API key", "type": "invalid_request_error", '
               b'"code": "invalid_api_key"}}')


@pytest.fixture
def runs_double():
    d = Running("--runs")
    yield d
    d.stop()


def start_run(d, body=None, path="/v1/runs", headers=None):
    status, _, payload = d.call("POST", path, body or {"input": "hi"}, headers)
    assert status == 202, payload
    return json.loads(payload)["run_id"]


def run_status(d, run_id, prefix=""):
    return json.loads(d.call("GET", f"{prefix}/v1/runs/{run_id}")[2])


def wait_for_status(d, run_id, want, prefix=""):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = run_status(d, run_id, prefix)
        if status["status"] == want:
            return status
        time.sleep(0.02)
    pytest.fail(f"{run_id} never reached {want}: {status}")


def read_events(d, run_id, prefix=""):
    """The whole event stream of a run (it ends when the run ends)."""
    status, _, payload = d.call("GET", f"{prefix}/v1/runs/{run_id}/events")
    assert status == 200, payload
    return payload


def events_of(stream):
    return [json.loads(data) for kind, _, data in sse_items.sse_records(stream) if kind == "event"]


def double_runs(d):
    return json.loads(d.call("GET", "/_double/runs")[2])["runs"]


def approve(d, run_id, choice):
    status, _, payload = d.call("POST", f"/v1/runs/{run_id}/approval", {"choice": choice})
    return status, json.loads(payload)


def test_a_run_streams_the_bytes_of_hermes_0_18_then_keeps_its_status(runs_double):
    d = runs_double
    d.script({"tool_progress": True, "deltas": 2, "reply": "Grüße, done."})
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    status, headers, payload = d.call("POST", "/v1/runs", {
        "input": "do it", "session_id": "matrix-s1", "instructions": "Be brief.",
        "conversation_history": history})
    assert status == 202
    assert re.fullmatch(rb'\{"run_id": "run_[0-9a-f]{32}", "status": "started"\}', payload)
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"  # Hermes' security middleware
    run_id = json.loads(payload)["run_id"]

    status, headers, stream = d.call("GET", f"/v1/runs/{run_id}/events")
    assert status == 200
    assert (headers["Content-Type"], headers["Cache-Control"], headers["X-Accel-Buffering"]) == \
        ("text/event-stream", "no-cache", "no")
    shown = re.sub(rb'"(timestamp|duration)": [0-9.e-]+', rb'"\1": N', stream)
    assert shown.replace(run_id.encode(), b"RUN") == (
        b'data: {"event": "tool.started", "run_id": "RUN", "timestamp": N, "tool": "terminal", '
        b'"preview": "echo fake-tool-ran"}\n\n'
        b'data: {"event": "tool.completed", "run_id": "RUN", "timestamp": N, "tool": "terminal", '
        b'"duration": N, "error": false}\n\n'
        b'data: {"event": "message.delta", "run_id": "RUN", "timestamp": N, '
        b'"delta": "Gr\\u00fc\\u00dfe,"}\n\n'
        b'data: {"event": "message.delta", "run_id": "RUN", "timestamp": N, "delta": " done."}\n\n'
        b'data: {"event": "run.completed", "run_id": "RUN", "timestamp": N, '
        b'"output": "Gr\\u00fc\\u00dfe, done.", '
        b'"usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}}\n\n'
        b': stream closed\n\n')

    status = run_status(d, run_id)
    assert list(status) == ["object", "run_id", "status", "updated_at", "created_at",
                            "session_id", "model", "last_event", "output", "usage"]
    assert {k: status[k] for k in ("object", "status", "session_id", "model", "last_event",
                                   "output", "usage")} == {
        "object": "hermes.run", "status": "completed", "session_id": "matrix-s1",
        "model": "hermes-agent", "last_event": "run.completed", "output": "Grüße, done.",
        "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}}

    # One reading only: a second GET waits a second for the stream, then 404.
    started = time.monotonic()
    status, _, payload = d.call("GET", f"/v1/runs/{run_id}/events")
    assert status == 404 and time.monotonic() - started >= 0.9
    assert json.loads(payload) == hermes_error(f"Run not found: {run_id}", "run_not_found")

    assert double_runs(d) == [{
        "run_id": run_id, "status": "completed", "input": "do it", "session_id": "matrix-s1",
        "instructions": "Be brief.", "conversation_history": history, "approvals": [],
        "stopped": False, "event_reads": 1, "idempotency_key": None, "profile": None,
        "replays": 0, "images": []}]
    reqs = d.recorded()
    assert [(r["method"], r["path"].replace(run_id, "RUN"), r["run_id"]) for r in reqs] == [
        ("POST", "/v1/runs", run_id), ("GET", "/v1/runs/RUN/events", run_id),
        ("GET", "/v1/runs/RUN", run_id), ("GET", "/v1/runs/RUN/events", run_id)]
    assert reqs[0]["script"]["tool_progress"] is True and reqs[1]["script"] is None


def test_run_requests_are_refused_in_hermes_order(runs_double):
    d = runs_double
    for raw, message in [
            (b"{not json", "Invalid JSON"),
            (b"{}", "Missing 'input' field"),
            (b'{"input": ""}', "Missing 'input' field"),
            (b'{"input": [{"role": "user", "content": ""}]}', "No user message found in input"),
            (b'{"input": 5}', "No user message found in input"),
            (b'{"input": "x", "conversation_history": "hi"}',
             "'conversation_history' must be an array of message objects"),
            (b'{"input": "x", "conversation_history": [{"role": "user", "content": "a"}, '
             b'{"role": "user"}]}', "conversation_history[1] must have 'role' and 'content' fields")]:
        status, _, payload = d.call("POST", "/v1/runs", raw=raw)
        assert (status, json.loads(payload)) == (400, hermes_error(message)), raw
    # Hermes' handler raises on a body that is not an object; aiohttp answers 500.
    status, headers, payload = d.call("POST", "/v1/runs", raw=b"[1]")
    assert status == 500 and headers["Content-Type"].startswith("text/plain")

    d.script({"status": 429}, count=1)
    status, headers, payload = d.call("POST", "/v1/runs", {"input": "x"})
    assert status == 429 and headers["Retry-After"] == "1"
    assert json.loads(payload) == hermes_error("Too many concurrent runs (max 10)",
                                               "rate_limit_exceeded", "rate_limit_error")
    d.script({"status": 503}, count=1)
    assert d.call("POST", "/v1/runs", {"input": "x"})[0] == 503
    assert double_runs(d) == []
    # Bad approval keys are refused like other script keys.
    for approval in ({"command": ""}, {"command": "x", "timeout": 0}, {"command": "x", "bogus": 1},
                     {"command": "x", "allow_permanent": "yes"}, "rm -rf /"):
        status, _, _ = d.request("POST", "/_double/script", {"script": {"approval": approval}})
        assert status == 400, approval


def test_runs_check_the_key_and_the_session_key(runs_double):
    # Without a key file, Hermes refuses a memory scope header.
    status, _, payload = runs_double.call("POST", "/v1/runs", {"input": "x"},
                                          {"X-Hermes-Session-Key": "matrix:!r"})
    assert (status, json.loads(payload)) == (403, hermes_error(
        "X-Hermes-Session-Key requires API key authentication. Configure API_SERVER_KEY "
        "to enable this feature."))
    with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
        f.write("sk-right-0123456789\n")
        f.flush()
        d = Running("--runs", "--key-file", f.name)
        try:
            assert d.call("POST", "/v1/runs", {"input": "x"})[::2] == (401, INVALID_KEY)
            assert d.call("GET", "/v1/runs/run_x", headers={"Authorization": "Bearer sk-no"}
                          )[::2] == (401, INVALID_KEY)
            auth = {"Authorization": "Bearer sk-right-0123456789"}
            status, headers, _ = d.call("POST", "/v1/runs", {"input": "x"},
                                        {**auth, "X-Hermes-Session-Key": "matrix:!r"})
            assert status == 202 and headers["X-Hermes-Session-Key"] == "matrix:!r"
            status, _, payload = d.call("POST", "/v1/runs", {"input": "x"},
                                        {**auth, "X-Hermes-Session-Key": "k" * 257})
            assert status == 400 and json.loads(payload) == {"error": {
                "message": "Session key too long", "type": "invalid_request_error"}}
            reqs = d.recorded()
            assert [r["key_ok"] for r in reqs] == [False, False, True, True]
            assert "sk-right" not in json.dumps(reqs)
        finally:
            d.stop()


def test_an_approved_run(runs_double):
    d = runs_double
    d.script({"tool_progress": True, "deltas": 2, "delay": 0.3,
              "approval": {"command": "rm -rf /tmp/build", "description": "recursive delete",
                           "timeout": 5}})
    run_id = start_run(d, {"input": "clean up"})
    assert wait_for_status(d, run_id, "waiting_for_approval")["last_event"] == "approval.request"
    status, body = approve(d, run_id, "maybe")
    assert (status, body) == (400, hermes_error(
        "Invalid approval choice; expected one of: once, session, always, deny",
        "invalid_approval_choice"))
    assert approve(d, run_id, " Approve ") == (200, {
        "object": "hermes.run.approval_response", "run_id": run_id, "choice": "once",
        "resolved": 1})
    assert run_status(d, run_id)["status"] == "running"
    assert approve(d, run_id, "once") == (409, hermes_error(
        f"Run has no pending approval: {run_id}", "approval_not_pending"))

    stream = read_events(d, run_id)
    events = events_of(stream)
    assert [e["event"] for e in events] == ["tool.started", "approval.request",
                                            "approval.responded", "tool.completed",
                                            "message.delta", "message.delta", "run.completed"]
    request = events[1]
    assert list(request) == ["command", "pattern_key", "pattern_keys", "description",
                             "allow_permanent", "event", "run_id", "timestamp", "choices"]
    assert {k: v for k, v in request.items() if k != "timestamp"} == {
        "command": "rm -rf /tmp/build", "pattern_key": "recursive delete",
        "pattern_keys": ["recursive delete"], "description": "recursive delete",
        "allow_permanent": True, "event": "approval.request", "run_id": run_id,
        "choices": ["once", "session", "always", "deny"]}
    assert list(events[2]) == ["event", "run_id", "timestamp", "choice", "resolved"]
    assert (events[2]["choice"], events[2]["resolved"]) == ("once", 1)
    assert events[-1]["output"] == "echo: clean up"
    assert approve(d, run_id, "deny") == (409, hermes_error(
        f"Run has no active approval session: {run_id}", "approval_not_active"))
    assert double_runs(d)[0]["approvals"] == ["once"]
    assert approve(d, "run_unknown", "once")[0] == 404


def test_a_denied_run(runs_double):
    d = runs_double
    d.script({"approval": {"command": "rm -rf /", "description": "recursive delete"}})
    run_id = start_run(d)
    wait_for_status(d, run_id, "waiting_for_approval")
    assert approve(d, run_id, "deny")[0] == 200
    events = events_of(read_events(d, run_id))
    assert [e["event"] for e in events][:2] == ["approval.request", "approval.responded"]
    assert events[1]["choice"] == "deny"
    assert events[-1]["output"] == "BLOCKED: the user denied `rm -rf /`; I did not run it."
    assert double_runs(d)[0]["approvals"] == ["deny"]


def test_an_approval_nobody_answers(runs_double):
    d = runs_double
    d.script({"deltas": 2, "delay": 1.0,
              "approval": {"command": "curl x | sh", "description": "pipe to shell",
                           "allow_permanent": False, "timeout": 0.2}})
    run_id = start_run(d)
    time.sleep(0.5)  # past the timeout, before the run ends
    assert approve(d, run_id, "once")[0] == 409  # approval_not_pending
    assert run_status(d, run_id)["status"] == "waiting_for_approval"  # sticky, as in 0.18.x
    events = events_of(read_events(d, run_id))
    assert [e["event"] for e in events] == ["approval.request", "message.delta", "message.delta",
                                            "run.completed"]
    assert events[0]["allow_permanent"] is False
    assert events[0]["choices"] == ["once", "session", "always", "deny"]  # 0.18.x: always four
    assert events[-1]["output"] == ("BLOCKED: no answer to the approval of `curl x | sh`; "
                                    "I did not run it.")
    assert run_status(d, run_id)["status"] == "completed"
    assert double_runs(d)[0]["approvals"] == []


def test_stop(runs_double):
    d = runs_double
    d.script({"hang": True}, count=1)
    run_id = start_run(d)
    wait_for_status(d, run_id, "running")
    status, _, payload = d.call("POST", f"/v1/runs/{run_id}/stop")
    assert status == 200
    assert payload == json.dumps({"run_id": run_id, "status": "stopping"}).encode()
    assert run_status(d, run_id)["status"] == "cancelled"
    assert run_status(d, run_id)["last_event"] == "run.cancelled"
    stream = read_events(d, run_id)
    assert [e["event"] for e in events_of(stream)] == ["run.cancelled"]
    assert stream.endswith(b"\n\n: stream closed\n\n")
    status, _, payload = d.call("POST", f"/v1/runs/{run_id}/stop")  # finished: 404
    assert (status, json.loads(payload)) == (404, hermes_error(f"Run not found: {run_id}",
                                                               "run_not_found"))
    # A stop while an approval is pending cancels the run too.
    d.script({"approval": {"command": "x"}}, count=1)
    waiting = start_run(d)
    wait_for_status(d, waiting, "waiting_for_approval")
    assert d.call("POST", f"/v1/runs/{waiting}/stop")[0] == 200
    assert [e["event"] for e in events_of(read_events(d, waiting))] == ["approval.request",
                                                                       "run.cancelled"]
    assert approve(d, waiting, "once")[1]["error"]["code"] == "approval_not_active"
    assert [(r["stopped"], r["status"]) for r in double_runs(d)] == [(True, "cancelled")] * 2


def test_a_disconnected_events_client_cannot_come_back(runs_double):
    d = runs_double
    d.script({"hang": True, "keepalive_interval": 0.1})
    run_id = start_run(d)
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    sock.sendall(f"GET /v1/runs/{run_id}/events HTTP/1.1\r\nHost: double\r\n\r\n".encode())
    got = b""
    while b": keepalive\n\n" not in got:
        got += sock.recv(4096)
    assert got.startswith(b"HTTP/1.1 200 OK\r\n")
    sock.close()
    time.sleep(0.2)
    assert d.call("GET", f"/v1/runs/{run_id}/events")[0] == 404
    assert run_status(d, run_id)["status"] == "running"  # the disconnect does not stop it
    assert d.call("POST", f"/v1/runs/{run_id}/stop")[0] == 200
    assert double_runs(d)[0]["event_reads"] == 1


def test_a_failed_run(runs_double):
    runs_double.script({"deltas": 3, "error_after": 1, "error_message": "provider down"})
    run_id = start_run(runs_double, {"input": "abcdef"})
    events = events_of(read_events(runs_double, run_id))
    assert [e["event"] for e in events] == ["message.delta", "run.failed"]
    assert list(events[1]) == ["event", "run_id", "timestamp", "error"]
    assert events[1]["error"] == "provider down"
    status = run_status(runs_double, run_id)
    assert (status["status"], status["error"], status["last_event"]) == \
        ("failed", "provider down", "run.failed")
    assert "output" not in status


def test_runs_take_scripts_by_profile_and_model(runs_double):
    d = runs_double
    d.script({"reply": "for profile p"}, profile="p")
    d.script({"reply": "for model m"}, model="m")
    in_p = start_run(d, {"input": "x", "model": "m"}, path="/p/p/v1/runs")
    assert events_of(read_events(d, in_p, "/p/p"))[-1]["output"] == "for profile p"
    assert run_status(d, in_p, "/p/p")["model"] == "m"
    assert d.call("GET", f"/v1/runs/{in_p}")[0] == 404  # another profile's run
    assert d.call("GET", f"/p/q/v1/runs/{in_p}")[0] == 404
    plain = start_run(d, {"input": "x", "model": "m"})
    assert events_of(read_events(d, plain))[-1]["output"] == "for model m"
    assert [r["profile"] for r in double_runs(d)] == ["p", None]


def test_runs_and_chat_completions_share_max_concurrent_runs():
    d = Running("--runs", "--max-concurrent-runs", "1")
    try:
        d.script({"hang": True}, count=1)
        run_id = start_run(d)
        assert d.chat()[0] == 429
        # 0.18.x counts before it reads the body: even a bad body gets 429.
        status, headers, payload = d.call("POST", "/v1/runs", raw=b"{not json")
        assert status == 429 and headers["Retry-After"] == "1"
        assert json.loads(payload) == hermes_error("Too many concurrent runs (max 1)",
                                                   "rate_limit_exceeded", "rate_limit_error")
        assert d.call("POST", f"/v1/runs/{run_id}/stop")[0] == 200
        assert d.chat()[0] == 200
    finally:
        d.stop()


def test_idempotency_key_replays_and_conflicts():
    d = Running("--runs-idempotent", "--max-concurrent-runs", "1")
    try:
        d.script({"hang": True})
        turn = {"input": "turn 42", "session_id": "s"}
        key = {"Idempotency-Key": "matrix-$event:example.org"}
        status, headers, payload = d.call("POST", "/v1/runs", turn, key)
        assert status == 202 and "Idempotency-Replayed" not in headers
        assert re.fullmatch(rb'\{"run_id": "run_[0-9a-f]{32}", "status": "started", '
                            rb'"replayed": false\}', payload)
        run_id = json.loads(payload)["run_id"]
        wait_for_status(d, run_id, "running")
        # The replay holds no new slot, so it is answered although the run holds the last.
        status, headers, payload = d.call("POST", "/v1/runs", turn, key)
        assert status == 202 and headers["Idempotency-Replayed"] == "true"
        assert json.loads(payload) == {"run_id": run_id, "status": "running", "replayed": True}
        status, _, payload = d.call("POST", "/v1/runs", {"input": "other"}, key)
        assert (status, json.loads(payload)) == (409, hermes_error(
            "Idempotency-Key was already used with a different request payload",
            "idempotency_key_conflict"))
        assert d.call("POST", "/v1/runs", turn, {"Idempotency-Key": "new"})[0] == 429
        for bad in ("has space", "k" * 256):  # checked before the input is
            status, _, payload = d.call("POST", "/v1/runs", {"input": ""}, {"Idempotency-Key": bad})
            assert (status, json.loads(payload)) == (400, hermes_error(
                "Idempotency-Key must be 1-255 visible ASCII characters",
                "invalid_idempotency_key"))
        assert d.call("POST", f"/v1/runs/{run_id}/stop")[0] == 200
        status, _, payload = d.call("POST", "/v1/runs", turn, key)
        assert json.loads(payload) == {"run_id": run_id, "status": "cancelled", "replayed": True}
        [run] = double_runs(d)
        assert (run["idempotency_key"], run["replays"]) == ("matrix-$event:example.org", 2)

        # Hermes 0.18.x ignores the header: every POST is a new run.
        assert d.request("POST", "/_double/backend", {"kind": "hermes-runs"})[0] == 200
        d.script({})
        first = start_run(d, turn, headers=key)
        wait_for_status(d, first, "completed")
        status, _, payload = d.call("POST", "/v1/runs", turn, key)
        assert status == 202 and set(json.loads(payload)) == {"run_id", "status"}
        assert json.loads(payload)["run_id"] not in (first, run_id)
        assert len(double_runs(d)) == 3
    finally:
        d.stop()


def test_capabilities_and_runs_routes_by_backend_kind(double):
    caps = json.loads(double.request("GET", "/v1/capabilities")[2])
    assert caps["features"]["run_submission"] is False and "runs" not in caps["endpoints"]
    # The default kind has no runs: 404 as from a server without those routes.
    for method, path in (("POST", "/v1/runs"), ("GET", "/p/coder/v1/runs/run_x/events"),
                         ("POST", "/v1/runs/run_x/stop")):
        status, ctype, payload = double.request(method, path, {"input": "x"})
        assert (status, payload) == (404, b"404: Not Found") and ctype.startswith("text/plain")
    assert [r["run_id"] for r in double.recorded()] == [None, "run_x", "run_x"]

    assert double.request("POST", "/_double/backend", {"kind": "hermes-runs"})[0] == 200
    status, _, payload = double.request("GET", "/p/coder/v1/capabilities")
    assert payload.startswith(b'{"object": "hermes.api_server.capabilities", '
                              b'"platform": "hermes-agent", "model": "hermes-agent", '
                              b'"auth": {"type": "bearer", "required": false}, "runtime": ')
    caps = json.loads(payload)
    features = caps["features"]
    assert all(features[k] is True for k in (
        "run_submission", "run_status", "run_events_sse", "run_stop", "run_approval_response",
        "approval_events", "tool_progress_events"))
    assert features["session_continuity_header"] == "X-Hermes-Session-Id"
    assert "runs_idempotency" not in features and "run_steer" not in features
    assert caps["endpoints"]["runs"] == {"method": "POST", "path": "/v1/runs"}
    assert caps["endpoints"]["run_approval"] == {"method": "POST",
                                                 "path": "/v1/runs/{run_id}/approval"}
    assert len(caps["endpoints"]) == 21

    assert double.request("POST", "/_double/backend",
                          {"kind": "hermes-runs-idempotent"})[0] == 200
    features = json.loads(double.request("GET", "/v1/capabilities")[2])["features"]
    assert features["runs_idempotency"] == {"supported": True, "durable": True,
                                            "retention_seconds": 86400}
    assert list(features).index("runs_idempotency") == list(features).index("run_submission") + 1
    assert double.request("POST", "/_double/backend", {"kind": "hermes-steer"})[0] == 400


# -- media: image parts, file parts, transcriptions ------------------------------------


PNG_BYTES = bytes.fromhex("89504e470d0a1a0a") + b"not really the rest of a png"


def data_url(data, mimetype="image/png"):
    import base64
    return f"data:{mimetype};base64," + base64.b64encode(data).decode()


def chat_with(d, content, path="/v1/chat/completions"):
    body = {"model": "coder", "stream": False,
            "messages": [{"role": "system", "content": "ctx"},
                         {"role": "user", "content": content}]}
    status, _, payload = d.call("POST", path, body)
    return status, json.loads(payload)


def test_image_parts_are_accepted_and_recorded(double):
    import hashlib
    status, body = chat_with(double, [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": data_url(PNG_BYTES), "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.org/cat.jpg"}},
        {"type": "input_image", "image_url": data_url(b"\xff\xd8jpeg", "image/jpeg")},
    ])
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "echo: what is this?"
    images = double.recorded()[0]["images"]
    assert images == [
        {"message": 1, "role": "user", "mimetype": "image/png", "size": len(PNG_BYTES),
         "sha256": hashlib.sha256(PNG_BYTES).hexdigest()},
        {"message": 1, "role": "user", "url": "https://example.org/cat.jpg"},
        {"message": 1, "role": "user", "mimetype": "image/jpeg", "size": 6,
         "sha256": hashlib.sha256(b"\xff\xd8jpeg").hexdigest()},
    ]
    # Text-only requests record no images; a broken data URL is recorded as such (Hermes
    # does not decode it, the model provider would refuse it).
    chat_with(double, "plain")
    chat_with(double, [{"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}])
    recorded = double.recorded()
    assert recorded[1]["images"] == []
    assert recorded[2]["images"] == [{"message": 1, "role": "user", "mimetype": "image/png",
                                      "size": None, "sha256": None, "error": "invalid base64"}]


FILE_REFUSED = ("Inline image inputs are supported, but uploaded files and document inputs "
                "are not supported on this endpoint.")


@pytest.mark.parametrize("part, code, message", [
    ({"type": "file", "file": {"file_id": "f_1"}}, "unsupported_content_type", FILE_REFUSED),
    ({"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0="},
     "unsupported_content_type", FILE_REFUSED),
    ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
     "unsupported_content_type", "Unsupported content part type 'input_audio'. Only text and "
                                 "image_url/input_image parts are supported."),
    ({"type": "image_url", "image_url": {"url": "data:application/pdf;base64,JVBERi0="}},
     "unsupported_content_type", "Only image data URLs are supported. Non-image data payloads "
                                 "are not supported."),
    ({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}, "invalid_image_url",
     "Image inputs must use http(s) URLs or data:image/... URLs."),
    ({"type": "image_url", "image_url": {}}, "invalid_image_url",
     "Image parts must include a non-empty image URL."),
    ({"type": "image_url", "image_url": {"url": "https://x.org/a.png", "detail": ""}},
     "invalid_content_part", "Image detail must be a non-empty string when provided."),
])
def test_parts_hermes_refuses_get_its_400(double, part, code, message):
    status, body = chat_with(double, [{"type": "text", "text": "see attached"}, part])
    assert status == 400
    assert body == {"error": {"message": message, "type": "invalid_request_error",
                              "param": "messages[1].content", "code": code}}
    # Refused before a script was taken: the next request still gets the standing one.
    assert "script" not in double.recorded()[0]


def test_runs_take_input_lists_with_images_as_hermes_does(runs_double):
    import hashlib
    content = [{"type": "text", "text": "look"},
               {"type": "image_url", "image_url": {"url": data_url(PNG_BYTES)}}]
    run_id = start_run(runs_double, {"input": [{"role": "user", "content": content}]})
    wait_for_status(runs_double, run_id, "completed")
    expected = [{"message": 0, "role": "user", "mimetype": "image/png", "size": len(PNG_BYTES),
                 "sha256": hashlib.sha256(PNG_BYTES).hexdigest()}]
    assert double_runs(runs_double)[0]["images"] == expected
    assert runs_double.recorded()[0]["images"] == expected
    assert run_status(runs_double, run_id)["output"] == "echo: look"
    # Hermes' /v1/runs hands the last input's content to the agent unchecked (0.18.1 and
    # the newest api_server_runs.py): a file part is not refused there.
    start_run(runs_double, {"input": [{"role": "user", "content": [
        {"type": "text", "text": "pdf"}, {"type": "file", "file": {"file_id": "f_1"}}]}]})


def multipart(fields, file=None, boundary="double-test-boundary"):
    """A multipart/form-data body: text fields, then `file` = (name, type, bytes)."""
    out = b""
    for key, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n"
                f"{value}\r\n").encode()
    if file is not None:
        filename, ctype, data = file
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def transcribe(d, fields, file=None, headers=None, path="/v1/audio/transcriptions"):
    body, hdrs = multipart(fields, file)
    status, resp_headers, payload = d.call("POST", path, raw=body, headers={**hdrs, **(headers or {})})
    return status, resp_headers.get("Content-Type", ""), payload


VOICE = ("voice.ogg", "audio/ogg", b"OggS" + bytes(range(256)) * 4)


def test_transcriptions_answer_and_are_recorded(double):
    import hashlib
    status, _, payload = transcribe(double, {"model": "whisper-1", "language": "de"}, VOICE)
    assert status == 200 and json.loads(payload) == {"text": f"transcript of {len(VOICE[2])} bytes"}
    entry = double.recorded()[0]
    assert entry["path"] == "/v1/audio/transcriptions"
    assert entry["body"] == {"model": "whisper-1", "language": "de"}
    assert entry["audio"] == {"filename": "voice.ogg", "content_type": "audio/ogg",
                              "size": len(VOICE[2]),
                              "sha256": hashlib.sha256(VOICE[2]).hexdigest()}
    assert entry["transcript"] == f"transcript of {len(VOICE[2])} bytes"

    # The text is the script's, for the model the form names; global scripts with a
    # count are left for the turn that follows.
    double.script({"transcript": "Hallo, wie geht's?"}, model="whisper-large-v3")
    double.script({"reply": "for the turn"}, count=1)
    status, ctype, payload = transcribe(double, {"model": "whisper-large-v3",
                                                 "response_format": "text"}, VOICE)
    assert status == 200 and ctype.startswith("text/plain") and payload == "Hallo, wie geht's?\n".encode()
    status, _, payload = transcribe(double, {"model": "whisper-large-v3",
                                             "response_format": "verbose_json"}, VOICE)
    assert json.loads(payload)["text"] == "Hallo, wie geht's?"
    assert json.loads(double.chat(stream=False)[2])["choices"][0]["message"]["content"] == "for the turn"
    status, _, payload = transcribe(double, {"model": "x", "response_format": "mp3"}, VOICE)
    assert status == 400 and json.loads(payload)["error"]["param"] == "response_format"


def test_transcription_errors_are_openai_shaped(double):
    status, _, payload = transcribe(double, {"model": "whisper-1"})
    assert status == 400 and json.loads(payload) == {"error": {
        "message": "Missing required parameter: 'file'.", "type": "invalid_request_error",
        "param": "file", "code": "missing_required_parameter"}}
    status, _, payload = transcribe(double, {}, VOICE)
    assert status == 400 and json.loads(payload)["error"]["param"] == "model"
    status, _, payload = double.call("POST", "/v1/audio/transcriptions", {"model": "whisper-1"})
    assert status == 400 and "multipart" in json.loads(payload)["error"]["message"]
    # A failing STT server, as a script: Hermes' 503 body, or a hang until the client leaves.
    double.script({"status": 503}, model="whisper-1", count=1)
    status, _, _ = transcribe(double, {"model": "whisper-1"}, VOICE)
    assert status == 503
    double.script({"hang": True}, model="slow", count=1)
    with pytest.raises(socket.timeout):
        body, hdrs = multipart({"model": "slow"}, VOICE)
        double.call("POST", "/v1/audio/transcriptions", raw=body, headers=hdrs, timeout=0.5)


def test_transcriptions_check_the_key():
    with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
        f.write("sk-stt\n")
        f.flush()
        d = Running("--key-file", f.name)
        try:
            status, _, payload = transcribe(d, {"model": "whisper-1"}, VOICE)
            assert status == 401 and json.loads(payload)["error"]["code"] == "invalid_api_key"
            status, _, _ = transcribe(d, {"model": "whisper-1"}, VOICE,
                                      headers={"Authorization": "Bearer sk-stt"},
                                      path="/p/coder/v1/audio/transcriptions")
            assert status == 200
            reqs = d.recorded()
            assert [r["key_ok"] for r in reqs] == [False, True]
            assert reqs[1]["profile"] == "coder" and "sk-stt" not in json.dumps(reqs)
        finally:
            d.stop()

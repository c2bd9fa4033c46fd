"""Self-test of the agent double: start it, script it, check what it sends against the
stream format the C++ decoder (agent/chat_stream) is tested to expect."""

import http.client
import json
import os
import pathlib
import re
import signal
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
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        return resp.status, resp.getheader("Content-Type", ""), payload

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
        subprocess.run(["/bin/sh", "-c", f'{PYTHON} "{SERVER}" --port 0 > "{out}" & echo $! > "{out}.pid"; sleep 1'],
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

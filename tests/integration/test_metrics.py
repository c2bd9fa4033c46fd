"""Prometheus metrics end to end: Debian's real `prometheus` server scrapes the gateway
every second while a human has a short conversation with a bot, and the test asks
Prometheus itself (its HTTP query API) whether the expected series exist and moved, and
that no label value carries the bot's access token, a room id or a user id."""

import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request

import pytest

from harness import AgentDouble, Devhs, Gateway, Human, bot_settings, http, wait_until, \
    write_profile

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROFILE = "watched"

# Every family of metrics/families.hpp, as Prometheus names its series (histograms by
# their _count series).
FAMILIES = [
    "hermes_matrix_profile_up", "hermes_matrix_profile_state",
    "hermes_matrix_profile_restarts_total", "hermes_matrix_sync_requests_total",
    "hermes_matrix_sync_duration_seconds_count", "hermes_matrix_events_received_total",
    "hermes_matrix_messages_answered_total", "hermes_matrix_messages_ignored_total",
    "hermes_matrix_messages_failed_total", "hermes_matrix_journal_backlog",
    "hermes_matrix_agent_request_duration_seconds_count",
    "hermes_matrix_agent_time_to_first_token_seconds_count",
    "hermes_matrix_agent_errors_total", "hermes_matrix_outbox_queue_depth",
    "hermes_matrix_outbox_sends_total", "hermes_matrix_outbox_rate_limit_wait_seconds_total",
    "hermes_matrix_decryption_failures_total", "hermes_matrix_crypto_parked_events",
    "hermes_matrix_crypto_one_time_keys", "hermes_matrix_crypto_megolm_sessions",
    "hermes_matrix_crypto_room_key_shares_total",
    "hermes_matrix_crypto_key_backup_sessions_total", "hermes_matrix_media_in_total",
    "hermes_matrix_media_out_total",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """`prometheus` scraping one target every second, with its data in a temp dir."""

    def __init__(self, tmp, target):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: hermes-matrix\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        self.log = open(tmp / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        wait_until(self.ready, 30, "prometheus to be ready")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}")
        try:
            return http("GET", self.url + "/-/ready", timeout=2)[0] == 200
        except OSError:
            return False

    def query(self, expr):
        """The instant vector `expr` evaluates to: [(labels, float value)]."""
        status, data = http("GET", self.url + "/api/v1/query?"
                            + urllib.parse.urlencode({"query": expr}))
        assert status == 200 and data["status"] == "success", (expr, status, data)
        return [(r["metric"], float(r["value"][1])) for r in data["data"]["result"]]

    def value(self, expr):
        """The single value of `expr` (None while it has no result)."""
        result = self.query(expr)
        assert len(result) <= 1, (expr, result)
        return result[0][1] if result else None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def setting(tmp_path):
    hs = Devhs(tmp_path / "devhs")
    agent = AgentDouble()
    started = []
    try:
        doru = Human(hs, "doru", "Doru")
        started.append(doru.close)
        bot = hs.register("hermes-watched", "Hermes Watched")
        home = tmp_path / "hermes-home"
        write_profile(home, PROFILE, bot_settings(hs, agent, bot, [doru]))
        (home / ".env").write_text("# the default profile is not on Matrix here\n")
        gateway = Gateway(home, tmp_path / "gateway.stderr", hs, [bot])
        gateway.start()
        started.append(gateway.stop)
        prometheus = Prometheus(tmp_path, f"127.0.0.1:{gateway.metrics_port()}")
        started.append(prometheus.stop)
        yield hs, doru, bot, gateway, prometheus
    finally:
        for stop in reversed(started):
            stop()
        agent.stop()
        hs.stop()


def test_prometheus_scrapes_the_conversation(setting):
    hs, doru, bot, gateway, prom = setting
    room = doru.create_room(invite=[bot], is_direct=True)
    doru.wait_joined(room, bot)
    source = doru.send(room, "hello metrics")
    doru.wait_reply(room, source, bot, final="echo: hello metrics")
    doru.wait_reactions(room, source, bot, ["👀", "✅"])

    p = f'profile="{PROFILE}"'
    # Prometheus scrapes every second: wait until a scrape after the answer is stored.
    wait_until(lambda: (prom.value(f"hermes_matrix_messages_answered_total{{{p}}}") or 0) >= 1,
               20, lambda: "messages answered to reach Prometheus; it has: "
               + json.dumps(prom.query(f'{{__name__=~"hermes_matrix_.*",{p}}}'))[:3000])

    assert prom.value('up{job="hermes-matrix"}') == 1
    assert prom.value(f"hermes_matrix_profile_up{{{p}}}") == 1
    assert prom.value(f'hermes_matrix_profile_state{{{p},state="running"}}') == 1
    assert prom.value(f'hermes_matrix_profile_state{{{p},state="failed"}}') == 0
    assert prom.value(f"hermes_matrix_profile_restarts_total{{{p}}}") == 0
    assert prom.value(f'hermes_matrix_sync_requests_total{{{p},result="ok"}}') > 0
    assert prom.value(f"hermes_matrix_sync_duration_seconds_count{{{p}}}") > 0
    assert prom.value(f'hermes_matrix_events_received_total{{{p},type="m.room.message"}}') >= 1
    assert prom.value(f'hermes_matrix_events_received_total{{{p},type="invite"}}') >= 1
    assert prom.value(f"hermes_matrix_messages_failed_total{{{p}}}") == 0
    assert prom.value(f"hermes_matrix_agent_request_duration_seconds_count{{{p}}}") >= 1
    assert prom.value(f"hermes_matrix_agent_time_to_first_token_seconds_count{{{p}}}") >= 1
    assert prom.value(f"sum(hermes_matrix_agent_errors_total{{{p}}})") == 0
    # The reply, the reactions (and perhaps an edit) went out.
    assert prom.value(f'hermes_matrix_outbox_sends_total{{{p},result="ok"}}') >= 3
    wait_until(lambda: prom.value(f"hermes_matrix_journal_backlog{{{p}}}") == 0, 10,
               "the journal backlog to reach 0")
    wait_until(lambda: prom.value(f"hermes_matrix_outbox_queue_depth{{{p}}}") == 0, 10,
               "the outbox to drain")

    # Every family is there for the profile.
    names = {m["__name__"] for m, _ in prom.query(f'{{__name__=~"hermes_matrix_.*",{p}}}')}
    missing = [f for f in FAMILIES if f not in names]
    assert not missing, missing

    # No label value carries a secret, a room id or a user id.
    series = prom.query('{job="hermes-matrix"}')
    values = {v for labels, _ in series for k, v in labels.items() if k != "__name__"}
    assert values, "no series scraped"
    assert not any(bot.token in v for v in values), "the access token is in a label value"
    for forbidden in (room, doru.user_id, bot.user_id):
        assert not any(forbidden in v for v in values), f"{forbidden} is in a label value"
    assert not any(v.startswith(("!", "@", "$")) for v in values), sorted(values)
    # Nor is any of them anywhere in what the endpoint serves.
    status, text = http("GET", f"http://127.0.0.1:{gateway.metrics_port()}/metrics")
    assert status == 200
    assert bot.token not in text and room not in text and doru.user_id not in text


def test_slow_clients_do_not_hold_up_a_scrape(tmp_path):
    hs = Devhs(tmp_path / "devhs")
    agent = AgentDouble()
    try:
        bot = hs.register("hermes-slowed", "Hermes Slowed")
        home = tmp_path / "hermes-home"
        write_profile(home, PROFILE, bot_settings(hs, agent, bot, []))
        (home / ".env").write_text("# the default profile is not on Matrix here\n")
        gateway = Gateway(home, tmp_path / "gateway.stderr", hs, [bot])
        gateway.start()
        try:
            port = gateway.metrics_port()
            # Two clients that start a request and then say nothing more.
            stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
            for s in stalled:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            try:
                status, body = http("GET", f"http://127.0.0.1:{port}/metrics", timeout=10)
                assert status == 200 and "hermes_matrix_" in body
            finally:
                for s in stalled:
                    s.close()
        finally:
            gateway.stop()
    finally:
        agent.stop()
        hs.stop()

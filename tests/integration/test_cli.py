"""The command line on real profile trees: `check` names every problem and never
prints a secret; `run` serves the usable profiles and stops cleanly on a signal."""

import re
import signal
import stat
import subprocess
import time

from conftest import BINARY, env_values
from harness import Homeserver, ok


def serve_from_devhs(home, tmp_path):
    """Points the two usable profiles of the six-profile tree (default, token;
    profile-architect, password) at a dev homeserver named chiabur.xyz, with accounts
    for them; the broken profiles stay as they are. Returns the started server."""
    hs = Homeserver(str(tmp_path / "devhs"), "--server-name", "chiabur.xyz")
    register = f"{hs.url}/_matrix/client/v3/register"
    token = ok("POST", register, {"username": "hermes", "password": "x" * 12,
                                  "auth": {"type": "m.login.dummy"}})["access_token"]
    ok("POST", register, {"username": "hermes-architect", "auth": {"type": "m.login.dummy"},
                          "password": "correct horse battery staple", "inhibit_login": True})
    for env, values in ((home / ".env", {"MATRIX_HOMESERVER": hs.url,
                                         "MATRIX_ACCESS_TOKEN": token}),
                        (home / "profiles" / "profile-architect" / ".env",
                         {"MATRIX_HOMESERVER": hs.url})):
        lines = [line for line in env.read_text().splitlines()
                 if line.split("=", 1)[0] not in values]
        env.write_text("\n".join(lines + [f"{k}={v}" for k, v in values.items()]) + "\n")
    return hs


def run_cli(*args, **kw):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=60, **kw)


def test_version_and_help():
    out = run_cli("version")
    assert out.returncode == 0
    assert re.match(r"hermes-matrix \d+\.\d+\.\d+", out.stdout)
    for sub in ("check", "run", "version"):
        res = run_cli(sub, "--help")
        assert res.returncode == 0, sub
        assert "Usage" in res.stdout or "usage" in res.stdout.lower()


def test_bad_command_line_exits_2():
    assert run_cli().returncode == 2
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("check", "--no-such-flag").returncode == 2


def test_check_six_profiles_names_each_problem(hermes_home):
    home = hermes_home("six-profiles")
    res = run_cli("check", "--hermes-home", str(home))
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout
    # The table: one row per profile, with the columns the issue asks for.
    header = out.splitlines()[2]
    for col in ("PROFILE", "MATRIX USER", "HOMESERVER", "E2EE", "DEVICE", "HOME ROOM",
                "ALLOWED USERS", "PROBLEMS"):
        assert col in header
    for profile in ("default", "coder", "academic_researcher", "locallama", "on-docker",
                    "profile-architect"):
        assert re.search(rf"^{re.escape(profile)}\s", out, re.M), profile
    # Token-only profiles show "(token)" only when no MXID is configured.
    assert re.search(r"^locallama\s+\(token\)", out, re.M)
    # Every problem names file:line: KEY.
    researcher = home / "profiles" / "academic_researcher" / ".env"
    assert re.search(rf"{re.escape(str(researcher))}:4: MATRIX_ALLOWED_USERS: ", out)
    assert re.search(rf"{re.escape(str(researcher))}:6: MATRIX_HOME_ROOM: ", out)
    llama = home / "profiles" / "locallama" / ".env"
    assert re.search(rf"{re.escape(str(llama))}:2: MATRIX_HOMESERVER: ", out)
    docker = home / "profiles" / "on-docker" / ".env"
    assert re.search(rf"{re.escape(str(docker))}:3: MATRIX_ACCESS_TOKEN: .*coder", out)
    # Nothing secret, anywhere.
    for value in env_values(home):
        assert value not in out and value not in res.stderr, "a secret was printed"


def test_check_selected_good_profiles_exits_0(hermes_home):
    home = hermes_home("six-profiles")
    res = run_cli("check", "--hermes-home", str(home), "--profile", "default",
                  "--profile", "profile-architect")
    assert res.returncode == 0, res.stdout
    assert "coder" not in res.stdout
    unknown = run_cli("check", "--hermes-home", str(home), "--profile", "nope")
    assert unknown.returncode == 1
    assert "nope" in unknown.stdout


def test_run_serves_usable_profiles_and_stops_on_sigterm(hermes_home, tmp_path):
    home = hermes_home("six-profiles")
    hs = serve_from_devhs(home, tmp_path)
    proc = subprocess.Popen([BINARY, "run", "--hermes-home", str(home)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        running = set()
        deadline = time.time() + 30
        lines = []
        while time.time() < deadline and running != {"default", "profile-architect"}:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"\[([\w-]+)\] running as", line)
            if m:
                running.add(m.group(1))
        assert running == {"default", "profile-architect"}, "".join(lines)
        proc.send_signal(signal.SIGTERM)
        started = time.time()
        _, rest = proc.communicate(timeout=15)
        stderr = "".join(lines) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
        hs.stop()
    assert proc.returncode == 0
    assert time.time() - started < 15
    assert "stopped" in stderr
    # The unusable ones are named, and not started.
    assert "profile locallama has errors and is not started" in stderr
    # Per-profile state and logs, private.
    for name, pdir in (("default", home), ("profile-architect", home / "profiles" / "profile-architect")):
        store = pdir / "platforms" / "matrix" / "hermes-matrix.db"
        assert store.exists(), name
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
        log = pdir / "logs" / "gateway.log"
        assert "profile cell started" in log.read_text()
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert "store closed" in log.read_text()
    for value in env_values(home):
        assert value not in stderr
        for log in home.rglob("gateway.log"):
            assert value not in log.read_text()


def test_run_refuses_when_no_profile_is_usable(tmp_path):
    (tmp_path / ".env").write_text("MATRIX_HOMESERVER=not a url\nMATRIX_ACCESS_TOKEN=syt_x_1234567\n")
    res = run_cli("run", "--hermes-home", str(tmp_path))
    assert res.returncode == 1
    assert "hermes-matrix check" in res.stderr
    assert "syt_x_1234567" not in res.stderr


def test_second_process_on_the_same_profile_is_refused(hermes_home, tmp_path):
    home = hermes_home("six-profiles")
    hs = serve_from_devhs(home, tmp_path)
    first = subprocess.Popen([BINARY, "run", "--hermes-home", str(home), "--profile", "default"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            line = first.stderr.readline()
            if "running as" in line or not line:
                break
        second = subprocess.Popen([BINARY, "run", "--hermes-home", str(home), "--profile", "default"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen = ""
        deadline = time.time() + 30
        while time.time() < deadline and "in use by another hermes-matrix process" not in seen:
            line = second.stderr.readline()
            if not line:
                break
            seen += line
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=15)
        assert "in use by another hermes-matrix process" in seen
    finally:
        for p in (first,):
            p.send_signal(signal.SIGTERM)
            p.communicate(timeout=15)
        hs.stop()

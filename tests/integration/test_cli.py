"""The command line on real profile trees: `check` names every problem and never
prints a secret; `run` serves the usable profiles and stops cleanly on a signal."""

import json
import os
import pathlib
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request

from conftest import BINARY, FREE_PORTS, SOURCE_DIR, env_values

sys.path.insert(0, str(SOURCE_DIR))
from tests.devhs.launcher import Homeserver  # noqa: E402


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


def test_check_prints_a_homeserver_url_without_its_credentials(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = home / ".env"
    env.write_text("MATRIX_HOMESERVER=http://alice:s3cret-pw@hs.example.org:8008\n"
                   "MATRIX_ACCESS_TOKEN=syt_not_printed\n"
                   "MATRIX_ALLOWED_USERS=@doru:example.org\n")
    env.chmod(0o600)
    res = run_cli("check", "--hermes-home", str(home))
    out = res.stdout + res.stderr
    assert "http://[redacted]@hs.example.org:8008" in out, out
    assert "s3cret-pw" not in out and "alice" not in out and "syt_not_printed" not in out


def test_check_validates_the_recovery_key_without_printing_it(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = home / ".env"
    good = "EsT1 H3Wm yHnZ VYce KwM9 c6Gk nX71 3FkR Yz9x vary hjQh 5m7X"  # a valid key
    bad = good[:-1] + ("Y" if good[-1] != "Y" else "Z")  # its parity no longer fits
    base = ("MATRIX_HOMESERVER=http://hs.example.org\nMATRIX_ACCESS_TOKEN=syt_x\n"
            "MATRIX_ALLOWED_USERS=@doru:example.org\n")
    env.write_text(base + f"MATRIX_RECOVERY_KEY={good}\n")
    env.chmod(0o600)
    res = run_cli("check", "--hermes-home", str(home))
    assert "MATRIX_RECOVERY_KEY" not in res.stdout, res.stdout
    env.write_text(base + f"MATRIX_RECOVERY_KEY={bad}\n")
    res = run_cli("check", "--hermes-home", str(home))
    assert f"{env}:4: warning: MATRIX_RECOVERY_KEY: is not a recovery key" in res.stdout, \
        res.stdout
    # Every recovery key starts "EsT" (its prefix byte); what follows is the secret.
    secret_part = bad.replace(" ", "")[8:]
    assert secret_part[:12] not in res.stdout.replace(" ", ""), res.stdout


def test_check_refuses_a_profile_folder_others_may_write(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = home / ".env"
    env.write_text("MATRIX_HOMESERVER=http://hs.example.org\nMATRIX_ACCESS_TOKEN=syt_x\n"
                   "MATRIX_ALLOWED_USERS=@doru:example.org\n")
    env.chmod(0o600)
    home.chmod(0o777)
    res = run_cli("check", "--hermes-home", str(home))
    assert res.returncode == 1, res.stdout
    assert f"{home}: the profile's folder is writable by other users; chmod go-w {home}" \
        in res.stdout, res.stdout
    env.chmod(0o666)
    res = run_cli("check", "--hermes-home", str(home))
    assert "other users may change it" in res.stdout, res.stdout


def test_check_selected_good_profiles_exits_0(hermes_home):
    home = hermes_home("six-profiles")
    res = run_cli("check", "--hermes-home", str(home), "--profile", "default",
                  "--profile", "profile-architect")
    assert res.returncode == 0, res.stdout
    assert "coder" not in res.stdout
    unknown = run_cli("check", "--hermes-home", str(home), "--profile", "nope")
    assert unknown.returncode == 1
    assert "nope" in unknown.stdout


def register(base, user, password):
    body = json.dumps({"username": user, "password": password,
                       "auth": {"type": "m.login.dummy"}}).encode()
    req = urllib.request.Request(base + "/_matrix/client/v3/register", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def served_home(tmp_path, base):
    """A HERMES_HOME on the dev homeserver: `default` with a token, `architect` with a
    password (logs in itself), `broken` with a bad homeserver URL. Nothing here ever
    talks to anything but the loopback dev homeserver."""
    hermes = register(base, "hermes", "pw-hermes-1")
    register(base, "hermes-architect", "pw-architect-1")
    home = tmp_path / "home"
    (home / "profiles" / "architect").mkdir(parents=True)
    (home / "profiles" / "broken").mkdir(parents=True)
    files = {
        home / ".env": f"MATRIX_HOMESERVER={base}\nMATRIX_ACCESS_TOKEN={hermes['access_token']}\n"
                       "MATRIX_ALLOWED_USERS=@doru:localhost\n",
        home / "profiles" / "architect" / ".env":
            f"MATRIX_HOMESERVER={base}\nMATRIX_USER_ID=@hermes-architect:localhost\n"
            "MATRIX_PASSWORD=pw-architect-1\nMATRIX_ALLOWED_USERS=@doru:localhost\n",
        home / "profiles" / "broken" / ".env":
            "MATRIX_HOMESERVER=not a url\nMATRIX_ACCESS_TOKEN=syt_broken_token_123456\n",
    }
    for path, text in files.items():
        path.write_text(text)
        path.chmod(0o600)
    return home


def read_until(stream, pattern, timeout=30):
    """Lines of `stream` up to the first one matching `pattern` (all of them on timeout)."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            break
    return "".join(seen)


def test_run_serves_usable_profiles_and_stops_on_sigterm(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        home = served_home(tmp_path, hs.url)
        proc = subprocess.Popen([BINARY, "run", "--hermes-home", str(home), *FREE_PORTS],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            running = set()
            lines = ""
            deadline = time.time() + 30
            while time.time() < deadline and running != {"default", "architect"}:
                line = proc.stderr.readline()
                if not line:
                    break
                lines += line
                m = re.search(r"\[([\w-]+)\] running as", line)
                if m:
                    running.add(m.group(1))
            assert running == {"default", "architect"}, lines
            proc.send_signal(signal.SIGTERM)
            started = time.time()
            _, rest = proc.communicate(timeout=15)
            stderr = lines + rest
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0
        assert time.time() - started < 15
        assert "stopped" in stderr
        assert "profile broken has errors and is not started" in stderr
        assert "running as @hermes-architect:localhost" in stderr
        for name, pdir in (("default", home), ("architect", home / "profiles" / "architect")):
            store = pdir / "platforms" / "matrix" / "hermes-matrix.db"
            assert store.exists(), name
            assert stat.S_IMODE(store.stat().st_mode) == 0o600
            log = pdir / "logs" / "gateway.log"
            assert "profile cell started" in log.read_text()
            assert stat.S_IMODE(log.stat().st_mode) == 0o600
            assert "store closed" in log.read_text()
        secrets = env_values(home) | {"pw-architect-1"}
        logs = stderr + "".join(p.read_text() for p in home.rglob("gateway.log"))
        for value in secrets:
            assert value not in logs


def test_run_refuses_when_no_profile_is_usable(tmp_path):
    (tmp_path / ".env").write_text("MATRIX_HOMESERVER=not a url\nMATRIX_ACCESS_TOKEN=syt_x_1234567\n")
    res = run_cli("run", "--hermes-home", str(tmp_path))
    assert res.returncode == 1
    assert "hermes-matrix check" in res.stderr
    assert "syt_x_1234567" not in res.stderr


def test_run_refuses_an_admin_address_off_loopback_unless_told_plaintext(tmp_path):
    for where in ("0.0.0.0:0", "[::]:0", "10.1.2.3:9465"):
        res = run_cli("run", "--hermes-home", str(tmp_path), "--admin-listen", where)
        assert res.returncode == 2, (where, res.stderr)
        assert "not a loopback address" in res.stderr and "--admin-listen-plaintext" in res.stderr
        assert "--admin-tls-cert" in res.stderr
    # Told: it goes on (and stops at the next thing, the home with no profile on Matrix).
    res = run_cli("run", "--hermes-home", str(tmp_path), "--admin-listen", "0.0.0.0:0",
                  "--admin-listen-plaintext")
    assert "not a loopback address" not in res.stderr and res.returncode == 1, res.stderr


def self_signed(d):
    """A certificate for 127.0.0.1 (as its subjectAltName) and its key, with openssl."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "admin.key"), "-out", str(d / "admin.pem")],
                   check=True, capture_output=True, timeout=60)
    (d / "admin.key").chmod(0o600)
    return d / "admin.pem", d / "admin.key"


def test_the_admin_api_over_tls(tmp_path):
    import ssl
    cert, key = self_signed(tmp_path)
    tls = ["--admin-tls-cert", str(cert), "--admin-tls-key", str(key)]
    # With TLS an address off loopback is taken (the run then stops at the empty home).
    res = run_cli("run", "--hermes-home", str(tmp_path), "--admin-listen", "0.0.0.0:0", *tls)
    assert "not a loopback address" not in res.stderr and res.returncode == 1, res.stderr
    # A key others may read, or half of the pair, is refused before anything starts.
    key.chmod(0o644)
    res = run_cli("run", "--hermes-home", str(tmp_path), *tls)
    assert res.returncode == 2 and str(key) in res.stderr, res.stderr
    key.chmod(0o600)
    res = run_cli("run", "--hermes-home", str(tmp_path), "--admin-tls-cert", str(cert))
    assert res.returncode == 2 and "go together" in res.stderr, res.stderr
    with Homeserver(str(tmp_path / "hs")) as hs:
        home = served_home(tmp_path, hs.url)
        proc = subprocess.Popen([BINARY, "run", "--hermes-home", str(home), *FREE_PORTS, *tls],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            seen = read_until(proc.stderr, r"admin API listening on https://")
            url = re.search(r"admin API listening on (https://\S+)", seen).group(1)
            context = ssl.create_default_context(cafile=str(cert))
            with urllib.request.urlopen(f"{url}/healthz", context=context, timeout=10) as r:
                assert r.status == 200 and json.loads(r.read()) == {"status": "alive"}
            # Plain HTTP to the TLS port gets no answer of the API.
            try:
                with urllib.request.urlopen(url.replace("https:", "http:") + "/healthz",
                                            timeout=10) as r:
                    assert r.status != 200
            except (OSError, ValueError):
                pass
            res = run_cli("status", "--admin-url", url, "--hermes-home", str(home),
                          "--admin-ca-file", str(cert))
            assert res.returncode == 0 and "architect" in res.stdout, res.stdout + res.stderr
            # Without the certificate to trust, status says it cannot reach it.
            res = run_cli("status", "--admin-url", url, "--hermes-home", str(home))
            assert res.returncode == 1 and "cannot reach the admin API" in res.stderr, res.stderr
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=15)


def test_run_raises_its_open_file_limit_to_the_hard_one(tmp_path):
    import resource

    def low_soft_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))

    with Homeserver(str(tmp_path / "hs")) as hs:
        home = served_home(tmp_path, hs.url)
        proc = subprocess.Popen([BINARY, "run", "--hermes-home", str(home), *FREE_PORTS],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                preexec_fn=low_soft_limit)
        try:
            assert "running as" in read_until(proc.stderr, "running as")
            limits = pathlib.Path(f"/proc/{proc.pid}/limits").read_text()
            soft, hard = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits).groups()
            assert (soft, hard) == ("4096", "4096"), limits
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=15)


def test_second_process_on_the_same_profile_is_refused(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        home = served_home(tmp_path, hs.url)
        args = [BINARY, "run", "--hermes-home", str(home), "--profile", "default", *FREE_PORTS]
        first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        second = None
        try:
            assert "running as" in read_until(first.stderr, "running as")
            # Everything it would serve is served: it says so and exits 1 at once.
            second = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True)
            _, err = second.communicate(timeout=30)
            assert second.returncode == 1, err
            assert "served by another hermes-matrix process already" in err, err
            assert "default" in err
        finally:
            for p in (second, first):
                if p is not None:
                    p.send_signal(signal.SIGTERM)
                    p.communicate(timeout=15)

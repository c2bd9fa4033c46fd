"""`hermes-matrix login` and `provision` against the dev homeserver: credentials land in
the profile's .env (mode 0600, one atomic write), existing ones are kept unless --force,
and no password or token is ever printed."""

import json
import os
import pathlib
import pty
import select
import stat
import subprocess
import sys
import time
import urllib.request

from conftest import BINARY, SOURCE_DIR

sys.path.insert(0, str(SOURCE_DIR))
from tests.devhs.launcher import Homeserver  # noqa: E402

import pytest  # noqa: E402

PASSWORD = "pw-login-test-7f3a9c"


def cli(*args, stdin=None, **kw):
    return subprocess.run([BINARY, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, **kw)


def call(hs, method, path, body=None, token=None):
    req = urllib.request.Request(hs.url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def env_of(path):
    out = {}
    for line in pathlib.Path(path).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            out[key.strip()] = value.strip()
    return out


@pytest.fixture
def hs(tmp_path):
    token_file = tmp_path / "admin.token"
    server = Homeserver(str(tmp_path / "hs"), "--admin-user", "boss:boss-pw-91",
                        "--admin-token-file", str(token_file))
    server.admin_token_file = token_file
    yield server
    server.stop()


def register(hs, localpart, password=PASSWORD):
    status, body = call(hs, "POST", "/_matrix/client/v3/register",
                        {"username": localpart, "password": password,
                         "auth": {"type": "m.login.dummy"}})
    assert status == 200, body
    return body


def coder_home(tmp_path, hs, **extra):
    home = tmp_path / "home"
    pdir = home / "profiles" / "coder"
    pdir.mkdir(parents=True)
    lines = ["# Matrix Gateway — Coder Profile", f"MATRIX_HOMESERVER={hs.url}",
             "MATRIX_USER_ID=@hermes-coder:localhost", "MATRIX_ALLOWED_USERS=@doru:localhost"]
    lines += [f"{k}={v}" for k, v in extra.items()]
    (pdir / ".env").write_text("\n".join(lines) + "\n")
    (pdir / ".env").chmod(0o600)
    return home, pdir / ".env"


def whoami(hs, token):
    status, body = call(hs, "GET", "/_matrix/client/v3/account/whoami", token=token)
    assert status == 200, body
    return body


# -- login ------------------------------------------------------------------------------


def test_login_with_the_right_password_writes_token_user_and_device(tmp_path, hs):
    register(hs, "hermes-coder")
    home, env = coder_home(tmp_path, hs)
    res = cli("login", "--hermes-home", str(home), "--profile", "coder", "--password-stdin",
              stdin=PASSWORD + "\n")
    assert res.returncode == 0, res.stderr
    values = env_of(env)
    me = whoami(hs, values["MATRIX_ACCESS_TOKEN"])
    assert me["user_id"] == values["MATRIX_USER_ID"] == "@hermes-coder:localhost"
    assert me["device_id"] == values["MATRIX_DEVICE_ID"]
    # Every other line is kept, the mode too; nothing secret is printed.
    text = env.read_text()
    assert text.startswith("# Matrix Gateway — Coder Profile\n")
    assert "MATRIX_ALLOWED_USERS=@doru:localhost" in text
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    for secret in (PASSWORD, values["MATRIX_ACCESS_TOKEN"]):
        assert secret not in res.stdout + res.stderr
    # The profile is now usable as far as `check` can tell.
    check = cli("check", "--hermes-home", str(home), "--profile", "coder")
    assert check.returncode == 0, check.stdout


def test_login_with_a_wrong_password_fails_and_changes_nothing(tmp_path, hs):
    register(hs, "hermes-coder")
    home, env = coder_home(tmp_path, hs)
    before = env.read_text()
    res = cli("login", "--hermes-home", str(home), "--profile", "coder", "--password-stdin",
              stdin="not-the-password\n")
    assert res.returncode == 1
    assert "M_FORBIDDEN" in res.stderr and "@hermes-coder:localhost" in res.stderr
    assert "not-the-password" not in res.stdout + res.stderr
    assert env.read_text() == before


def test_login_keeps_an_existing_token_unless_forced(tmp_path, hs):
    reg = register(hs, "hermes-coder")
    home, env = coder_home(tmp_path, hs, MATRIX_ACCESS_TOKEN=reg["access_token"],
                           MATRIX_DEVICE_ID=reg["device_id"])
    before = env.read_text()
    res = cli("login", "--hermes-home", str(home), "--profile", "coder", "--password-stdin",
              stdin=PASSWORD + "\n")
    assert res.returncode == 1
    assert "--force" in res.stderr and "MATRIX_ACCESS_TOKEN" in res.stderr
    assert env.read_text() == before
    forced = cli("login", "--hermes-home", str(home), "--profile", "coder",
                 "--password-stdin", "--force", stdin=PASSWORD + "\n")
    assert forced.returncode == 0, forced.stderr
    values = env_of(env)
    assert values["MATRIX_ACCESS_TOKEN"] != reg["access_token"]
    # The profile's device is kept (its E2EE identity with it).
    assert values["MATRIX_DEVICE_ID"] == reg["device_id"]
    assert whoami(hs, values["MATRIX_ACCESS_TOKEN"])["device_id"] == reg["device_id"]
    assert env.read_text().count("MATRIX_ACCESS_TOKEN=") == 1


def test_login_asks_on_the_terminal_without_echo(tmp_path, hs):
    register(hs, "hermes-coder")
    home, env = coder_home(tmp_path, hs)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.execv(BINARY, [BINARY, "login", "--hermes-home", str(home), "--profile", "coder"])
    seen = b""

    def read_until(marker, timeout=30):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 1024)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
        return marker in seen

    assert read_until(b"Password for @hermes-coder:localhost: "), seen
    os.write(fd, (PASSWORD + "\n").encode())
    read_until(b"Wrote MATRIX_ACCESS_TOKEN")
    deadline = time.monotonic() + 30
    done, status = os.waitpid(pid, os.WNOHANG)
    while done == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError(f"login did not finish; the terminal showed {seen!r}")
    os.close(fd)
    assert os.WEXITSTATUS(status) == 0, seen
    assert PASSWORD.encode() not in seen, "the password was echoed"
    assert "MATRIX_ACCESS_TOKEN" in env_of(env)


def test_login_without_a_terminal_or_stdin_says_what_to_do(tmp_path, hs):
    home, env = coder_home(tmp_path, hs)
    res = cli("login", "--hermes-home", str(home), "--profile", "coder",
              start_new_session=True)  # no controlling terminal
    assert res.returncode == 1
    assert "--password-stdin" in res.stderr


# -- provision --------------------------------------------------------------------------


def devhs_password(hs, user_id):
    """The password devhs keeps for a user (its state file, written on stop)."""
    hs.stop()
    state = json.loads((pathlib.Path(hs.state_dir) / "devhs-state.json").read_text())
    return state["users"][user_id]["password"]


def test_provision_creates_the_bot_and_writes_the_profile(tmp_path, hs):
    home = tmp_path / "home"
    res = cli("provision", "--hermes-home", str(home), "--profile", "academic_researcher",
              "--homeserver", hs.url, "--admin-token-file", str(hs.admin_token_file),
              "--user", "hermes-researcher", "--displayname", "Hermes Researcher")
    assert res.returncode == 0, res.stderr
    env = home / "profiles" / "academic_researcher" / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = env_of(env)
    assert values["MATRIX_HOMESERVER"] == hs.url
    assert values["MATRIX_USER_ID"] == "@hermes-researcher:localhost"
    me = whoami(hs, values["MATRIX_ACCESS_TOKEN"])
    assert me == {"user_id": "@hermes-researcher:localhost",
                  "device_id": values["MATRIX_DEVICE_ID"], "is_guest": False}
    admin_token = hs.admin_token_file.read_text().strip()
    status, user = call(hs, "GET", "/_synapse/admin/v2/users/@hermes-researcher:localhost",
                        token=admin_token)
    assert status == 200 and user["displayname"] == "Hermes Researcher"
    assert user["admin"] is False
    out = res.stdout + res.stderr
    assert values["MATRIX_ACCESS_TOKEN"] not in out and admin_token not in out
    password = devhs_password(hs, "@hermes-researcher:localhost")
    assert len(password) >= 32
    assert password not in out, "the generated password was printed"
    assert password not in env.read_text(), "the generated password was kept"


def sends_until_limited(hs, token, count):
    """Sends `count` messages into a new room as `token`'s user; how many were taken
    before the first 429 (all of them when none was refused)."""
    status, room = call(hs, "POST", "/_matrix/client/v3/createRoom", {}, token=token)
    assert status == 200, room
    for i in range(count):
        status, body = call(hs, "PUT", f"/_matrix/client/v3/rooms/{room['room_id']}/send/"
                            f"m.room.message/t{i}", {"msgtype": "m.text", "body": str(i)},
                            token=token)
        if status == 429:
            return i
        assert status == 200, body
    return count


@pytest.fixture
def limited_hs(tmp_path):
    """A dev homeserver with Synapse's default message rate limit (0.2/s, burst 10)."""
    token_file = tmp_path / "admin.token"
    server = Homeserver(str(tmp_path / "hs"), "--admin-user", "boss:boss-pw-91",
                        "--admin-token-file", str(token_file), "--message-rate", "0.2,10")
    server.admin_token_file = token_file
    yield server
    server.stop()


def test_provision_lifts_the_message_rate_limit_for_the_bot(tmp_path, limited_hs):
    hs = limited_hs
    home = tmp_path / "home"
    res = cli("provision", "--hermes-home", str(home), "--profile", "coder",
              "--homeserver", hs.url, "--admin-token-file", str(hs.admin_token_file))
    assert res.returncode == 0, res.stderr
    assert "Lifted the homeserver's message rate limit" in res.stdout
    admin_token = hs.admin_token_file.read_text().strip()
    status, limit = call(hs, "GET", "/_synapse/admin/v1/users/@hermes-coder:localhost/"
                         "override_ratelimit", token=admin_token)
    assert status == 200 and limit == {"messages_per_second": 0, "burst_count": 0}
    token = env_of(home / "profiles" / "coder" / ".env")["MATRIX_ACCESS_TOKEN"]
    assert sends_until_limited(hs, token, 25) == 25
    # Anyone else on the server still meets the limit after its burst of 10.
    other = register(hs, "someone")
    assert sends_until_limited(hs, other["access_token"], 25) == 10


def test_provision_keeps_the_rate_limit_when_asked_or_when_it_cannot_lift_it(tmp_path, limited_hs):
    hs = limited_hs
    args = ("--homeserver", hs.url, "--admin-token-file", str(hs.admin_token_file))
    kept = cli("provision", "--hermes-home", str(tmp_path / "a"), "--profile", "coder", *args,
               "--keep-rate-limit")
    assert kept.returncode == 0, kept.stderr
    assert "rate limit" not in kept.stdout + kept.stderr
    admin_token = hs.admin_token_file.read_text().strip()
    status, limit = call(hs, "GET", "/_synapse/admin/v1/users/@hermes-coder:localhost/"
                         "override_ratelimit", token=admin_token)
    assert status == 200 and limit == {}
    # The homeserver refuses the override (not Synapse, or a failure): the bot is
    # provisioned all the same, and the operator is told.
    call(hs, "POST", "/_devhs/faults", {"user_id": "@boss:localhost", "kind": "fail",
                                        "mode": "500", "path_contains": "override_ratelimit"})
    refused = cli("provision", "--hermes-home", str(tmp_path / "b"), "--profile", "writer", *args)
    assert refused.returncode == 0, refused.stderr
    assert "could not lift the message rate limit for @hermes-writer:localhost" in refused.stderr
    assert env_of(tmp_path / "b" / "profiles" / "writer" / ".env")["MATRIX_ACCESS_TOKEN"]


def test_provision_refuses_to_replace_credentials_without_force(tmp_path, hs):
    reg = register(hs, "hermes-coder")
    home, env = coder_home(tmp_path, hs, MATRIX_ACCESS_TOKEN=reg["access_token"])
    before = env.read_text()
    args = ["provision", "--hermes-home", str(home), "--profile", "coder", "--homeserver",
            hs.url, "--admin-token-file", str(hs.admin_token_file)]
    res = cli(*args)
    assert res.returncode == 1 and "--force" in res.stderr
    assert env.read_text() == before
    assert whoami(hs, reg["access_token"])["user_id"] == "@hermes-coder:localhost"
    forced = cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    values = env_of(env)
    assert values["MATRIX_ACCESS_TOKEN"] != reg["access_token"]
    assert whoami(hs, values["MATRIX_ACCESS_TOKEN"])["user_id"] == "@hermes-coder:localhost"
    # The new password logged out the old session, as Synapse's admin API does.
    status, _ = call(hs, "GET", "/_matrix/client/v3/account/whoami", token=reg["access_token"])
    assert status == 401
    assert "MATRIX_ALLOWED_USERS=@doru:localhost" in env.read_text()


def test_provision_refuses_an_existing_account_without_force(tmp_path, hs):
    reg = register(hs, "hermes")
    home = tmp_path / "home"
    res = cli("provision", "--hermes-home", str(home), "--profile", "default",
              "--homeserver", hs.url, "--admin-token-file", str(hs.admin_token_file))
    assert res.returncode == 1
    assert "@hermes:localhost already exists" in res.stderr and "--force" in res.stderr
    assert not (home / ".env").exists()
    assert whoami(hs, reg["access_token"])["user_id"] == "@hermes:localhost"


def test_provision_with_a_token_that_is_not_an_admins_fails_clearly(tmp_path, hs):
    reg = register(hs, "someone")
    token_file = tmp_path / "not-admin.token"
    token_file.write_text(reg["access_token"] + "\n")
    home = tmp_path / "home"
    res = cli("provision", "--hermes-home", str(home), "--profile", "coder",
              "--homeserver", hs.url, "--admin-token-file", str(token_file))
    assert res.returncode == 1
    assert "M_FORBIDDEN" in res.stderr
    assert reg["access_token"] not in res.stdout + res.stderr
    assert not (home / "profiles" / "coder" / ".env").exists()


def test_provision_bad_command_lines_exit_2(tmp_path, hs):
    base = ["provision", "--hermes-home", str(tmp_path), "--admin-token-file",
            str(hs.admin_token_file)]
    assert cli(*base, "--profile", "Bad Name", "--homeserver", hs.url).returncode == 2
    assert cli(*base, "--profile", "coder", "--homeserver", "not a url").returncode == 2
    assert cli(*base, "--profile", "coder").returncode == 2  # --homeserver missing


def test_provision_of_six_bots_in_a_row_waits_out_the_login_rate_limit(tmp_path):
    # Synapse allows a burst of 3 logins; provision logs each new bot in.
    token_file = tmp_path / "admin.token"
    server = Homeserver(str(tmp_path / "hs"), "--admin-user", "boss:boss-pw-91",
                        "--admin-token-file", str(token_file),
                        "--login-burst", "3", "--login-refill-s", "1")
    try:
        home = tmp_path / "home"
        home.mkdir()
        for i in range(6):
            res = cli("provision", "--hermes-home", str(home), "--profile", f"bot{i}",
                      "--homeserver", server.url, "--admin-token-file", str(token_file))
            assert res.returncode == 0, res.stderr
            env = env_of(home / "profiles" / f"bot{i}" / ".env")
            assert env["MATRIX_ACCESS_TOKEN"] and env["MATRIX_USER_ID"].startswith(f"@hermes-bot{i}")
        # The later ones met the limit and said so.
        assert "rate limiting (HTTP 429); trying again" in res.stderr
    finally:
        server.stop()


def test_provision_finishes_its_own_account_after_a_failed_login(tmp_path, hs):
    home = tmp_path / "home"
    home.mkdir()
    args = ("provision", "--hermes-home", str(home), "--profile", "coder",
            "--homeserver", hs.url, "--admin-token-file", str(hs.admin_token_file))
    # The bot's logins fail for good (500) while the account is created.
    call(hs, "POST", "/_devhs/faults", {"user_id": "@hermes-coder:localhost", "kind": "fail",
                                        "mode": "500", "path_contains": "/login"})
    first = cli(*args)
    assert first.returncode != 0 and "run the same provision again" in first.stderr
    env = env_of(home / "profiles" / "coder" / ".env")
    assert env["MATRIX_USER_ID"] == "@hermes-coder:localhost" and "MATRIX_ACCESS_TOKEN" not in env
    call(hs, "DELETE", "/_devhs/faults")
    again = cli(*args)  # no --force: it is the account this profile was being given
    assert again.returncode == 0, again.stderr
    assert env_of(home / "profiles" / "coder" / ".env")["MATRIX_ACCESS_TOKEN"]

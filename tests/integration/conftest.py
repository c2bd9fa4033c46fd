"""Shared helpers of the integration tests: where the binary is, and fresh
HERMES_HOME trees in temporary directories (never the user's ~/.hermes)."""

import os
import pathlib
import shutil

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("HM_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BINARY = os.environ.get("HM_BINARY", str(SOURCE_DIR / "build" / "app" / "hermes-matrix"))
# `run` options for a gateway started outside harness.Gateway: metrics and admin API on
# free ports, so that tests running in parallel never contend for the default 9464/9465.
FREE_PORTS = ("--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")


def env_values(home: pathlib.Path, keys=("MATRIX_ACCESS_TOKEN", "MATRIX_PASSWORD",
                                          "GATEWAY_PROXY_KEY", "MATRIX_RECOVERY_KEY",
                                          "MATRIX_PICKLE_KEY", "VOICE_TOOLS_OPENAI_KEY",
                                          "OPENAI_API_KEY", "GROQ_API_KEY")):
    """Every secret value written in the .env files under `home` (for leak checks)."""
    found = set()
    for env in home.rglob(".env"):
        for line in env.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("export "):
                line = line[len("export "):]
            key, sep, value = line.partition("=")
            if sep and key.strip() in keys:
                value = value.split(" #")[0].strip().strip("'\"")
                if len(value) >= 6:
                    found.add(value)
    return found


@pytest.fixture
def hermes_home(tmp_path):
    """A copy of a fixture tree, with .env files at mode 0600 as Hermes keeps them."""
    def make(fixture: str) -> pathlib.Path:
        home = tmp_path / "hermes-home"
        shutil.copytree(SOURCE_DIR / "tests" / "fixtures" / fixture, home)
        for env in home.rglob(".env"):
            env.chmod(0o600)
        return home
    return make


def pytest_configure(config):
    # Debian's nio 0.20 (and python3-future under it) import modules Python 3.11
    # deprecates; not ours to fix, and they would bury our own warnings.
    for message in ("the imp module is deprecated", "'cgi' is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows the end of every gateway's stderr (harness.Gateway)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        import harness  # only the conversation tests start gateways
        for gw in harness.GATEWAYS:
            tail = "\n".join(gw.stderr().splitlines()[-150:])
            report.sections.append((f"hermes-matrix stderr ({gw.log_path})", tail))


def pytest_sessionfinish(session, exitstatus):
    """Hands what every gateway of this session wrote, and the secrets in its profiles'
    .env files, to the suite's secrets audit (harness.AUDIT_DIR; CTest only)."""
    import sys
    harness = sys.modules.get("harness")
    if harness is None or not harness.AUDIT_DIR:
        return
    for gw in harness.GATEWAYS:
        harness.record_secrets(sorted(env_values(gw.home)))
        for name in ("hermes-matrix.pickle-key", "hermes-matrix.recovery-key"):
            for key_file in gw.home.rglob(name):
                harness.record_secrets([key_file.read_text(errors="replace").strip()])
        harness.record_outputs(gw.home)
        if gw.log_path.exists():
            harness.record_text(gw.log_path.name, gw.stderr())

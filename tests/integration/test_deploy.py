"""deploy/: the Prometheus config and alert rules pass promtool (and the rules' own unit
tests), the Grafana dashboard is valid JSON over hermes_matrix_* series, the systemd
unit, Dockerfile and compose file hold what running the service needs, and
deploy/examples (the seed's six profiles) passes `hermes-matrix check` cleanly."""

import configparser
import json
import re
import shutil
import subprocess

import yaml

from conftest import BINARY, SOURCE_DIR

DEPLOY = SOURCE_DIR / "deploy"
SEED_PROFILES = ["default", "academic_researcher", "coder", "locallama", "on-docker",
                 "profile-architect"]


def promtool(*args):
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: install Debian's prometheus package (deploy/debian-packages.txt)"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60,
                          cwd=DEPLOY)


def test_prometheus_config_and_alert_rules_are_valid():
    for args in (("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml")):
        res = promtool(*args)
        assert res.returncode == 0, res.stdout + res.stderr


def test_alert_rules_fire_for_the_right_profile():
    res = promtool("test", "rules", "alerts_test.yml")
    assert res.returncode == 0, res.stdout + res.stderr


def test_alert_rules_cover_the_four_conditions():
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    exprs = {r["alert"]: r["expr"] for r in rules}
    assert "hermes_matrix_profile_up" in exprs["HermesMatrixProfileDown"]
    assert "hermes_matrix_sync_requests_total" in exprs["HermesMatrixSyncStalled"]
    assert "hermes_matrix_decryption_failures_total" in exprs["HermesMatrixDecryptionFailuresRising"]
    assert "hermes_matrix_agent_errors_total" in exprs["HermesMatrixAgentErrors"]


def test_grafana_dashboard_is_valid_json_over_hermes_matrix_series():
    dash = json.loads((DEPLOY / "grafana" / "hermes-matrix.json").read_text())
    assert dash["uid"] and dash["title"] and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = re.findall(r"\b(hermes_matrix_[a-z_]+)", target["expr"])
            assert names, target["expr"]
    provisioning = DEPLOY / "grafana" / "provisioning"
    for f in provisioning.rglob("*.yaml"):
        assert yaml.safe_load(f.read_text())["apiVersion"] == 1


def test_systemd_unit_is_hardened_and_reloads_with_sighup():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(DEPLOY / "hermes-matrix.service")
    svc = unit["Service"]
    assert "hermes-matrix run" in svc["ExecStart"]
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert svc["Restart"] == "on-failure"
    assert svc["NoNewPrivileges"] == "yes"
    assert svc["ProtectSystem"] == "strict"
    assert svc["ProtectHome"] == "read-only"
    assert svc["PrivateTmp"] == "yes"
    assert svc["ReadWritePaths"].endswith("/.hermes")
    assert svc["User"] != "root"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # Enough descriptors for hundreds of long-polls; memory and threads bounded.
    assert int(svc["LimitNOFILE"]) >= 65536
    assert svc["MemoryMax"] and svc["MemoryHigh"] and int(svc["TasksMax"]) > 0
    assert svc["SystemCallFilter"]  # configparser keeps the last: "~@privileged @resources"
    # systemd's own judgement of the sandbox (exposure 1.5 of 10 today; the threshold is
    # in tenths): a change that opens it up past 2.0 fails here.
    analyze = shutil.which("systemd-analyze")
    if analyze:
        res = subprocess.run([analyze, "security", "--offline=true", "--threshold=20",
                              str(DEPLOY / "hermes-matrix.service")],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


def test_dockerfile_and_compose_run_as_a_service_with_prometheus_and_grafana():
    docker = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM debian:bookworm", docker, re.M)
    assert "deploy/debian-packages.txt" in docker
    user = re.findall(r"^USER (\S+)", docker, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^VOLUME \["/home/hermes/.hermes"\]', docker, re.M)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]) == {"hermes-matrix", "prometheus", "grafana"}
    mounts = " ".join(compose["services"]["prometheus"]["volumes"])
    assert "prometheus.yml" in mounts and "alerts.yml" in mounts
    target = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]
    host = target["static_configs"][0]["targets"][0].split(":")[0]
    assert host in compose["services"]


def test_examples_are_the_seeds_six_profiles_and_check_cleanly(tmp_path):
    home = tmp_path / "examples"
    shutil.copytree(DEPLOY / "examples", home)
    for env in home.rglob(".env"):
        env.chmod(0o600)  # git keeps no modes; Hermes keeps .env files private
    res = subprocess.run([BINARY, "check", "--hermes-home", str(home)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Problems:" not in res.stdout, res.stdout
    for name in SEED_PROFILES:
        row = re.search(rf"^{re.escape(name)}\s+(@\S+)\s+.*\sok$", res.stdout, re.M)
        assert row, f"{name} missing or not ok:\n{res.stdout}"
        assert (home if name == "default" else home / "profiles" / name / "SOUL.md").exists()

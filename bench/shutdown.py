"""How long `hermes-matrix run` takes from SIGTERM to exit while six profiles long-poll
a dev homeserver on loopback. Run: /usr/bin/python3 bench/shutdown.py"""
import tempfile
import json, pathlib, signal, statistics, subprocess, sys, time, urllib.request
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.devhs.launcher import Homeserver
def register(base, user):
    body = json.dumps({"username": user, "password": "pw-" + user, "auth": {"type": "m.login.dummy"}}).encode()
    r = urllib.request.Request(base + "/_matrix/client/v3/register", data=body, method="POST", headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(r).read())
tmp = pathlib.Path(tempfile.mkdtemp(prefix="hm-bench-shutdown-"))
with Homeserver(str(tmp / "hs")) as hs:
    home = tmp / "home"; home.mkdir()
    for i in range(6):
        d = home if i == 0 else home / "profiles" / f"p{i}"
        d.mkdir(parents=True, exist_ok=True)
        tok = register(hs.url, f"bot{i}")["access_token"]
        (d / ".env").write_text(f"MATRIX_HOMESERVER={hs.url}\nMATRIX_ACCESS_TOKEN={tok}\nMATRIX_ALLOWED_USERS=@doru:localhost\nGATEWAY_PROXY_URL=http://127.0.0.1:9\n")
        (d / ".env").chmod(0o600)
    times = []
    for run in range(5):
        p = subprocess.Popen([str(ROOT / "build" / "app" / "hermes-matrix"), "run", "--hermes-home", str(home), "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
        n = 0
        while n < 6:
            if "running as" in p.stderr.readline(): n += 1
        time.sleep(1.0)  # let every sync long-poll be in flight
        t0 = time.time(); p.send_signal(signal.SIGTERM); p.communicate(timeout=20); times.append(time.time() - t0)
        assert p.returncode == 0
    print("SIGTERM to exit with 6 profiles long-polling, 5 runs: median %.3f s, max %.3f s" % (statistics.median(times), max(times)))
import shutil
shutil.rmtree(tmp, ignore_errors=True)

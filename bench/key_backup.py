#!/usr/bin/python3
"""Restoring a key backup: how long a bot whose store starts empty takes to import N
Megolm sessions from the account's backup (m.megolm_backup.v1.curve25519-aes-sha2, set
up as Element sets it up, the sessions made and encrypted by python-olm), its CPU
seconds for it and its peak RSS. One bot, the dev homeserver, loopback.

    /usr/bin/python3 bench/key_backup.py [--keys 1000,5000]

The clock runs from the process start to its log line "the store started empty:
restored N of N"; CPU is the process's utime+stime at that moment, less that of the
same start against an empty backup (start-up, keys upload, first sync). See
bench/README.md.
"""

import argparse
import json
import os
import pathlib
import sys
import time
import urllib.parse

import common

sys.path.insert(0, str(common.REPO_ROOT / "tests" / "integration"))
sys.path.insert(0, str(common.REPO_ROOT))
os.environ.setdefault("HM_BINARY", str(common.BINARY))
os.environ.setdefault("HM_SOURCE_DIR", str(common.REPO_ROOT))

import olm  # noqa: E402
from olm.pk import PkEncryption  # noqa: E402

from e2ee_support import Bot, api, bot_home, register  # noqa: E402
from test_key_backup import set_up_key_backup  # noqa: E402
from tests.devhs.launcher import Homeserver  # noqa: E402


def fill_backup(base, token, backup, n, room_id="!bench:localhost"):
    """n sessions of one sender in the backup's version 1, uploaded 500 at a time."""
    sender = olm.Account()
    enc = PkEncryption(backup.public_key)
    batch = {}

    def flush():
        if batch:
            api(base, "PUT", "/room_keys/keys?version=1", token,
                {"rooms": {room_id: {"sessions": dict(batch)}}})
            batch.clear()
    for _ in range(n):
        out = olm.OutboundGroupSession()
        inbound = olm.InboundGroupSession(out.session_key)
        data = {"algorithm": "m.megolm.v1.aes-sha2", "forwarding_curve25519_key_chain": [],
                "sender_claimed_keys": {"ed25519": sender.identity_keys["ed25519"]},
                "sender_key": sender.identity_keys["curve25519"],
                "session_key": inbound.export_session(0)}
        msg = enc.encrypt(json.dumps(data))
        batch[out.id] = {"first_message_index": 0, "forwarded_count": 0, "is_verified": False,
                         "session_data": {"ephemeral": msg.ephemeral_key,
                                          "ciphertext": msg.ciphertext, "mac": msg.mac}}
        if len(batch) >= 500:
            flush()
    flush()


def one_start(root, n):
    """A new bot account with a backup of n sessions, started with an empty store:
    (seconds to restored, CPU seconds, peak RSS KiB)."""
    with Homeserver(str(root / f"hs-{n}")) as hs:
        bot = register(hs.url, "hermes", "pw-hermes-1")
        key_text, backup = set_up_key_backup(hs.url, bot["access_token"], bot["user_id"])
        fill_backup(hs.url, bot["access_token"], backup, n)
        home = bot_home(root / f"home-{n}", hs.url, bot["access_token"],
                        extra=f"MATRIX_RECOVERY_KEY={key_text}\n")
        began = time.monotonic()
        proc = Bot(home)
        try:
            line = (rf"the store started empty: restored {n} of {n} room keys" if n
                    else r"backing up room keys to key backup version 1")
            if not proc.wait_for(line, timeout=600):
                raise RuntimeError(f"no restore of {n} keys:\n{proc.stderr[-3000:]}")
            seconds = time.monotonic() - began
            cpu = common.cpu_seconds(proc.proc.pid)
            rss = common.memory_kib(proc.proc.pid)["VmHWM"]
        finally:
            proc.stop()
        return seconds, cpu, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", default="1000,5000", help="comma-separated backup sizes (1000,5000)")
    args = ap.parse_args()
    common.check_binary()
    with common.tmpdir("hm-bench-key-backup-") as tmp:
        run(pathlib.Path(tmp), [int(k) for k in args.keys.split(",")])


def run(root, sizes):
    base_s, base_cpu, base_rss = one_start(root, 0)
    rows, result = [], {"baseline": {"seconds": base_s, "cpu_s": base_cpu, "peak_rss_kib": base_rss},
                        "cases": []}
    for n in sizes:
        seconds, cpu, rss = one_start(root, n)
        extra_cpu = max(cpu - base_cpu, 0.0)
        result["cases"].append({"keys": n, "seconds": seconds, "cpu_s": cpu,
                                "cpu_ms_per_key": 1000 * extra_cpu / n, "peak_rss_kib": rss})
        rows.append([n, f"{seconds:.2f}", f"{cpu:.2f}", f"{1000 * extra_cpu / n:.3f}",
                     f"{rss / 1024:.1f}", f"{(rss - base_rss) / 1024:+.1f}"])
    print(f"baseline (empty backup): start to backing up {base_s:.2f} s, CPU {base_cpu:.2f} s, "
          f"peak RSS {base_rss / 1024:.1f} MiB")
    common.table(rows, ["keys", "start→restored s", "CPU s", "CPU ms/key over baseline",
                              "peak RSS MiB", "vs baseline MiB"])
    common.write_result("key_backup", result)


if __name__ == "__main__":
    main()

"""Starting devhs from a Python test: `with Homeserver(state_dir) as hs: hs.url`."""

import os
import signal
import subprocess

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"  # Debian's, which sees aiohttp, nio and olm


class Homeserver:
    """One devhs subprocess on a free port, its URL read from the line it prints.
    stop() sends SIGTERM and waits; devhs also exits by itself if this process dies."""

    def __init__(self, state_dir, *extra, max_lifetime=300):
        self.state_dir = state_dir
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "tests.devhs", "--port", "0", "--state-dir", state_dir,
             "--max-lifetime", str(max_lifetime), *extra],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"devhs did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

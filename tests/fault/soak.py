"""The exactly-once soak: a steady stream of messages to several profiles while the
gateway is killed with SIGKILL at random moments and started again; afterwards every
message must have been answered exactly once, in order per room, as the homeserver's
event lists show. Used by test_soak.py (a few kills, in CI) and bench/soak.py (50+)."""

import random
import signal
import threading
import time

from fleet import Fleet
from harness import replies_to


class Soak:
    def __init__(self, tmp, profiles=4, seed=None):
        self.random = random.Random(seed)
        # queue: every message gets its own full answer (interrupt would cut the
        # running one short when the next arrives, which is not what this measures).
        self.fleet = Fleet(tmp, profiles, prefix="soak",
                           extra=lambda i: {"HERMES_GATEWAY_BUSY_INPUT_MODE": "queue"})
        self.sent = {}  # room -> [event ids, in sending order]
        self.stop_sending = threading.Event()
        self.send_errors = []

    def _sender(self, interval):
        rooms = [self.fleet.dm(b) for b in self.fleet.bots]
        n = 0
        while not self.stop_sending.is_set():
            room = self.random.choice(rooms)
            try:
                self.sent.setdefault(room, []).append(self.fleet.send(room, f"soak message {n}"))
            except AssertionError as e:  # the homeserver is not what is under test
                self.send_errors.append(str(e))
            n += 1
            time.sleep(interval)

    def run(self, kills, interval=0.15, min_up=0.3, max_up=3.0, report=None):
        """Kills the gateway `kills` times at random moments while messages flow;
        returns the tally (see `tally`)."""
        sender = threading.Thread(target=self._sender, args=(interval,), daemon=True)
        sender.start()
        survived = 0
        try:
            for k in range(kills):
                time.sleep(self.random.uniform(min_up, max_up))
                self.fleet.gateway.stop(signal.SIGKILL)
                self.fleet.gateway.start(timeout=120)
                survived += 1
                if report:
                    report(f"kill {k + 1}/{kills} survived")
        finally:
            self.stop_sending.set()
            sender.join()
        return survived

    def settle(self, timeout=180):
        """Waits until every message sent has a reply (or the deadline passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.tally()["lost"] == 0:
                return
            time.sleep(1)

    def tally(self):
        """messages sent, lost (no reply), duplicated (more than one reply), and rooms
        whose replies came out of order."""
        sent = lost = duplicated = 0
        out_of_order = []
        for bot in self.fleet.bots:
            room = self.fleet.dm(bot)
            events = self.fleet.hs.events(room)
            position = {e["event_id"]: i for i, e in enumerate(events)}
            last = -1
            for source in self.sent.get(room, []):
                sent += 1
                found = replies_to(events, source, bot.user_id)
                if not found:
                    lost += 1
                    continue
                if len(found) > 1:
                    duplicated += 1
                at = position[found[0]["event_id"]]
                if at < last and room not in out_of_order:
                    out_of_order.append(room)
                last = max(last, at)
        return {"sent": sent, "lost": lost, "duplicated": duplicated,
                "out_of_order_rooms": len(out_of_order), "send_errors": len(self.send_errors)}

    def close(self):
        self.fleet.close()

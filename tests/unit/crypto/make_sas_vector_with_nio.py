#!/usr/bin/python3
"""Known-answer vector for the SAS suite, made with matrix-nio's own SAS code
(nio.crypto.sas.Sas over python-olm), not with ours. Run with Debian's python3:

    /usr/bin/python3 tests/unit/crypto/make_sas_vector_with_nio.py

nio gives no way to choose a SAS key, so python-olm's random source is replaced by
fixed bytes while each Sas is made: Alice (the person, nio as starter) gets bytes
1..32, the bot (nio as responder, standing in for our machine) bytes 33..64. The
printed JSON is pasted into sas_test.cpp. The second part checks the v2 MAC (which
nio does not speak) with python-olm's calculate_mac_fixed_base64 and the spec's
info strings.
"""
import json

import olm.sas
from nio.api import Api
from nio.crypto.device import OlmDevice
from nio.crypto.sas import Sas
from nio.events.to_device import (KeyVerificationAccept, KeyVerificationKey,
                                  KeyVerificationMac, KeyVerificationStart)

ALICE = ("@alice:example.org", "ALICEDEV", "QGjCOpCsjWBtVgtMEatdMVIyHhIYfgGBuOhk95EwmZ0")
BOT = ("@bot:example.org", "BOTDEV", "6jpE0sQPh0VRUCBZRN8Yax6zSxhn+fXDIvM2xW3qR0Y")
TXN = "txn-known-answer-1"


def fixed(first):
    return lambda n: bytes(range(first, first + n))


def make(first, fn):
    saved = olm.sas.URANDOM
    olm.sas.URANDOM = fixed(first)
    try:
        return fn()
    finally:
        olm.sas.URANDOM = saved


def event(cls, sender, type_, content):
    return cls.from_dict({"sender": sender, "type": type_, "content": content})


alice_dev = OlmDevice(ALICE[0], ALICE[1], {"ed25519": ALICE[2], "curve25519": "unused"})
bot_dev = OlmDevice(BOT[0], BOT[1], {"ed25519": BOT[2], "curve25519": "unused"})

alice = make(1, lambda: Sas(ALICE[0], ALICE[1], ALICE[2], bot_dev, TXN))
start = alice.start_verification().content
start_ev = event(KeyVerificationStart, ALICE[0], "m.key.verification.start", start)
bot = make(33, lambda: Sas.from_key_verification_start(BOT[0], BOT[1], BOT[2], alice_dev, start_ev))
accept = bot.accept_verification().content
alice.receive_accept_event(event(KeyVerificationAccept, BOT[0], "m.key.verification.accept", accept))
alice_key = alice.share_key().content
bot.receive_key_event(event(KeyVerificationKey, ALICE[0], "m.key.verification.key", alice_key))
bot_key = bot.share_key().content
alice.receive_key_event(event(KeyVerificationKey, BOT[0], "m.key.verification.key", bot_key))
assert not alice.canceled, alice.cancel_code
assert alice.get_emoji() == bot.get_emoji()
alice.accept_sas()
bot.accept_sas()
alice_mac = alice.get_mac().content
bot_mac = bot.get_mac().content
bot.receive_mac_event(event(KeyVerificationMac, ALICE[0], "m.key.verification.mac", alice_mac))
alice.receive_mac_event(event(KeyVerificationMac, BOT[0], "m.key.verification.mac", bot_mac))
assert bot.verified and alice.verified

emoji_index = [Sas.emoji.index(e) for e in bot.get_emoji()]

# v2 MACs over the same key exchange: python-olm's fixed-base64 MAC, spec info strings.
info_bot = f"MATRIX_KEY_VERIFICATION_MAC{BOT[0]}{BOT[1]}{ALICE[0]}{ALICE[1]}{TXN}"
kid = f"ed25519:{BOT[1]}"
bot_mac_v2 = {kid: bot.calculate_mac_fixed_base64(BOT[2], info_bot + kid),
              "keys": bot.calculate_mac_fixed_base64(kid, info_bot + "KEY_IDS")}

print(json.dumps({
    "alice": {"user_id": ALICE[0], "device_id": ALICE[1], "ed25519": ALICE[2]},
    "bot": {"user_id": BOT[0], "device_id": BOT[1], "ed25519": BOT[2]},
    "transaction_id": TXN,
    "start": start,
    "start_canonical": Api.to_canonical_json(start),
    "accept": accept,
    "alice_key": alice_key["key"],
    "bot_key": bot_key["key"],
    "emoji_index": emoji_index,
    "decimals": list(bot.get_decimals()),
    "alice_mac": alice_mac,
    "bot_mac": bot_mac,
    "bot_mac_v2": bot_mac_v2,
}, separators=(",", ":"), ensure_ascii=True))

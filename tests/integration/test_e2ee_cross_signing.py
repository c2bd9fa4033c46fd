"""Cross-signing with MATRIX_RECOVERY_KEY: the owner (here set up as Element does it:
cross-signing keys uploaded, the self-signing seed in secret storage under a recovery
key) gives the bot its recovery key; the bot reads the self-signing key from secret
storage and signs its device, and other users see that signature (checked here with
python3-olm)."""

import base64
import hashlib
import hmac
import json
import os
import sys

import olm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from conftest import SOURCE_DIR, env_values
from e2ee_support import Bot, api, bot_device_keys, bot_home, register

sys.path.insert(0, str(SOURCE_DIR))
from tests.devhs.launcher import Homeserver  # noqa: E402

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
KEY_ID = "hmtestkey"


def b58encode(data):
    n, out = int.from_bytes(data, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def recovery_key(raw):
    """The recovery key as Element shows it (spec: "Key representation")."""
    prefixed = bytes([0x8B, 0x01]) + raw
    parity = 0
    for b in prefixed:
        parity ^= b
    text = b58encode(prefixed + bytes([parity]))
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def encrypt_secret(key, name, plaintext):
    """m.secret_storage.v1.aes-hmac-sha2: HKDF-SHA-256 (zero salt, info = name) gives
    the AES-CTR and HMAC keys."""
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=bytes(32), info=name.encode()).derive(key)
    iv = bytearray(os.urandom(16))
    iv[8] &= 0x7F
    enc = Cipher(algorithms.AES(okm[:32]), modes.CTR(bytes(iv))).encryptor()
    ct = enc.update(plaintext) + enc.finalize()
    mac = hmac.new(okm[32:], ct, hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {"iv": b64(bytes(iv)), "ciphertext": b64(ct), "mac": b64(mac)}


def signable(obj):
    return json.dumps({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def set_up_secret_storage(base, token, user_id):
    """A new secret storage key made the default, as Element makes it. Returns the raw
    key and a function that puts account data."""
    raw = os.urandom(32)
    check = encrypt_secret(raw, "", bytes(32))
    put = lambda t, c: api(base, "PUT", f"/user/{user_id}/account_data/{t}", token, c)  # noqa: E731
    put(f"m.secret_storage.key.{KEY_ID}", {"algorithm": "m.secret_storage.v1.aes-hmac-sha2",
                                           "iv": check["iv"], "mac": check["mac"]})
    put("m.secret_storage.default_key", {"key": KEY_ID})
    return raw, put


def set_up_cross_signing(base, token, user_id):
    """What Element does for a new account: master and self-signing keys uploaded, the
    self-signing seed in secret storage. Returns (recovery key text, self-signing key)."""
    master_seed, ssk_seed = olm.PkSigning.generate_seed(), olm.PkSigning.generate_seed()
    master, ssk = olm.PkSigning(master_seed), olm.PkSigning(ssk_seed)
    master_key = {"user_id": user_id, "usage": ["master"],
                  "keys": {f"ed25519:{master.public_key}": master.public_key}}
    self_signing = {"user_id": user_id, "usage": ["self_signing"],
                    "keys": {f"ed25519:{ssk.public_key}": ssk.public_key}}
    self_signing["signatures"] = {
        user_id: {f"ed25519:{master.public_key}": master.sign(signable(self_signing))}}
    api(base, "POST", "/keys/device_signing/upload", token,
        {"master_key": master_key, "self_signing_key": self_signing})
    raw, put = set_up_secret_storage(base, token, user_id)
    seed_b64 = base64.b64encode(ssk_seed).decode().rstrip("=")
    put("m.cross_signing.self_signing",
        {"encrypted": {KEY_ID: encrypt_secret(raw, "m.cross_signing.self_signing",
                                              seed_b64.encode())}})
    return recovery_key(raw), ssk


def test_the_recovery_key_signs_the_device_with_the_self_signing_key(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot = register(hs.url, "hermes", "pw-hermes-1")
        human = register(hs.url, "human", "pw-human-1")
        bot_id, device_id = bot["user_id"], bot["device_id"]
        key_text, ssk = set_up_cross_signing(hs.url, bot["access_token"], bot_id)
        home = bot_home(tmp_path / "home", hs.url, bot["access_token"],
                        extra=f"MATRIX_RECOVERY_KEY={key_text}\n")
        logs = ""
        proc = Bot(home)
        try:
            assert proc.wait_for(r"signed this device with", timeout=30), proc.stderr
        finally:
            proc.stop()
            logs += proc.stderr
        keys = bot_device_keys(hs.url, human["access_token"], bot_id, device_id)
        signature = keys["signatures"][bot_id][f"ed25519:{ssk.public_key}"]
        olm.ed25519_verify(ssk.public_key, signable(keys), signature)  # raises if bad
        # The device's own signature is still there and good.
        own = keys["signatures"][bot_id][f"ed25519:{device_id}"]
        olm.ed25519_verify(keys["keys"][f"ed25519:{device_id}"], signable(keys), own)
        # A restart finds the signature in place and signs nothing again.
        again = Bot(home)
        try:
            assert again.wait_for(r"is cross-signed by", timeout=30), again.stderr
        finally:
            again.stop()
            logs += again.stderr
        logs += "".join(p.read_text() for p in home.rglob("gateway.log"))
        for value in env_values(home) | {key_text, key_text.replace(" ", "")}:
            assert value not in logs


def test_a_wrong_recovery_key_is_reported_and_signs_nothing(tmp_path):
    with Homeserver(str(tmp_path / "hs")) as hs:
        bot = register(hs.url, "hermes", "pw-hermes-1")
        human = register(hs.url, "human", "pw-human-1")
        bot_id, device_id = bot["user_id"], bot["device_id"]
        _, ssk = set_up_cross_signing(hs.url, bot["access_token"], bot_id)
        home = bot_home(tmp_path / "home", hs.url, bot["access_token"],
                        extra=f"MATRIX_RECOVERY_KEY={recovery_key(os.urandom(32))}\n")
        proc = Bot(home)
        try:
            assert proc.wait_for(r"not the key of this account's secret storage",
                                 timeout=30), proc.stderr
        finally:
            proc.stop()
        keys = bot_device_keys(hs.url, human["access_token"], bot_id, device_id)
        assert f"ed25519:{ssk.public_key}" not in keys["signatures"][bot_id]

#!/usr/bin/python3
# Known-answer vector for hermes-matrix key backup: session_data encrypted by python-olm's
# PkEncryption (libolm's m.megolm_backup.v1.curve25519-aes-sha2 scheme).
import base64, hashlib, json
import olm
from olm.pk import PkDecryption, PkEncryption, ffi, lib

priv = hashlib.sha256(b"hermes-matrix key backup vector").digest()
dec = PkDecryption()
pub_len = lib.olm_pk_key_length()
pub = ffi.new("char[]", pub_len)
privbuf = ffi.new("char[]", priv)
r = lib.olm_pk_key_from_private(dec._pk_decryption, pub, pub_len, privbuf, len(priv))
assert r != lib.olm_error()
public_key = ffi.unpack(pub, pub_len).decode()

room = "!backup:hs"
acct = olm.Account()
out = olm.OutboundGroupSession()
inbound = olm.InboundGroupSession(out.session_key)
payload = json.dumps({"type": "m.room.message", "room_id": room,
                      "content": {"msgtype": "m.text", "body": "restored from the backup"}})
megolm_ct = out.encrypt(payload)
session_data = {
    "algorithm": "m.megolm.v1.aes-sha2",
    "forwarding_curve25519_key_chain": [],
    "sender_claimed_keys": {"ed25519": acct.identity_keys["ed25519"]},
    "sender_key": acct.identity_keys["curve25519"],
    "session_key": inbound.export_session(0),
}
msg = PkEncryption(public_key).encrypt(json.dumps(session_data))
# Sanity: python-olm decrypts it with the same private key.
assert json.loads(dec.decrypt(msg)) == session_data
print(json.dumps({
    "private_key": base64.b64encode(priv).decode(),
    "public_key": public_key,
    "room_id": room,
    "session_id": out.id,
    "sender_key": acct.identity_keys["curve25519"],
    "sender_ed25519": acct.identity_keys["ed25519"],
    "megolm_ciphertext": megolm_ct,
    "session_data": {"ephemeral": msg.ephemeral_key, "ciphertext": msg.ciphertext, "mac": msg.mac},
}, indent=1))

#!/usr/bin/python3
"""Checks, once and by hand, that libolm's Python binding reads a key backup our C++ wrote.

    HM_KEY_BACKUP_VECTOR_OUT=/tmp/backup.json \
        ./build/tests/unit/crypto/hm-test-crypto -n -s key_backup
    /usr/bin/python3 tests/unit/crypto/check_key_backup_with_python_olm.py /tmp/backup.json

The other direction (python-olm wrote it, we read it) is a known-answer test in
key_backup_test.cpp. Needs Debian's python3-olm (hence /usr/bin/python3).
"""
import base64
import json
import sys

import olm
from olm.pk import PkDecryption, PkMessage, ffi, lib

v = json.load(open(sys.argv[1]))
priv = base64.b64decode(v["private_key"] + "=" * (-len(v["private_key"]) % 4))
dec = PkDecryption()
pub = ffi.new("char[]", lib.olm_pk_key_length())
privbuf = ffi.new("char[]", priv)
assert lib.olm_pk_key_from_private(dec._pk_decryption, pub, lib.olm_pk_key_length(),
                                   privbuf, len(priv)) != lib.olm_error()
assert ffi.unpack(pub, lib.olm_pk_key_length()).decode() == v["public_key"], "other public key"

sd = v["key_backup_data"]["session_data"]
session_data = json.loads(dec.decrypt(PkMessage(sd["ephemeral"], sd["mac"], sd["ciphertext"])))
assert session_data["algorithm"] == "m.megolm.v1.aes-sha2"
assert session_data["sender_key"] == v["sender_key"]
assert isinstance(session_data["forwarding_curve25519_key_chain"], list)
assert "ed25519" in session_data["sender_claimed_keys"]
inbound = olm.InboundGroupSession.import_session(session_data["session_key"])
assert inbound.id == v["session_id"], "the backed-up key is another session"
assert inbound.first_known_index == v["key_backup_data"]["first_message_index"]
plain, index = inbound.decrypt(v["megolm_ciphertext"])
payload = json.loads(plain)
assert payload["room_id"] == v["room_id"]
print("python-olm restored session", inbound.id, "and read:", payload["content"]["body"])

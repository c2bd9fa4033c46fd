#!/usr/bin/python3
"""Checks, once and by hand, that matrix-nio decrypts an attachment our C++ encrypted.

    HM_ATTACHMENT_VECTOR_OUT=/tmp/ours.json \
        ./build/tests/unit/crypto/hm-test-crypto -n -s attachment
    /usr/bin/python3 tests/unit/crypto/check_attachment_with_nio.py /tmp/ours.json

The vector that passed is embedded in attachment_test.cpp ("nio decrypted what we
encrypted"), so the unit test itself needs no Python. Needs Debian's python3-matrix-nio
(hence /usr/bin/python3, not the pyenv one).
"""
import json
import sys

from nio.crypto.attachments import decrypt_attachment

vector = json.load(open(sys.argv[1]))
f = vector["file"]
plain = decrypt_attachment(bytes.fromhex(vector["ciphertext_hex"]), f["key"]["k"],
                           f["hashes"]["sha256"], f["iv"])
assert plain == bytes.fromhex(vector["plaintext_hex"]), "nio decrypted something else"
print("nio decrypted it:", plain.decode(errors="replace"))

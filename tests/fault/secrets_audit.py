#!/usr/bin/python3
"""The secrets audit: greps every output the suite recorded (gateway stderr, profile
logs, status tables, metrics scrapes: AUDIT_DIR/outputs/) for every token, password
and key the tests used (AUDIT_DIR/secrets/), and fails on any hit. It names the file
and the secret's position in the list, never the secret. Run by CTest after every test
that records (fixture `secrets_audit`); `python3 secrets_audit.py AUDIT_DIR` by hand."""

import pathlib
import sys


def main(argv):
    audit = pathlib.Path(argv[1])
    secrets = set()
    for path in sorted((audit / "secrets").glob("*.txt")):
        secrets |= {line for line in path.read_text(errors="replace").splitlines() if line}
    outputs = [p for p in sorted((audit / "outputs").rglob("*")) if p.is_file()]
    if not outputs:
        # Nothing was recorded: only when no test that starts a gateway ran (ctest -R ...).
        print(f"secrets audit: no outputs recorded under {audit}; nothing to check")
        return 0
    ordered = sorted(secrets)
    hits = []
    for path in outputs:
        data = path.read_bytes().decode("utf-8", "replace")
        for i, secret in enumerate(ordered):
            if secret in data:
                hits.append((path.relative_to(audit), i))
    print(f"secrets audit: {len(ordered)} secrets, {len(outputs)} outputs "
          f"({sum(p.stat().st_size for p in outputs)} bytes)")
    for path, i in hits:
        print(f"LEAK: secret #{i} appears in {path}")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Records the answers of a real etcd (Debian's 3.4, v3 JSON gateway) that the unit
tests of cluster/etcd_requests and cluster/profile_ownership parse. Starts its own
3-member cluster on free loopback ports in a temporary directory and stops it.

Usage: /usr/bin/python3 record.py [OUT_DIR]   (default: this file's directory)
Each answer is saved as NAME.json: {"status": HTTP status, "body": the body as sent}.
"""
import base64
import json
import pathlib
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "integration"))
import etcd_cluster  # noqa: E402

OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE


def b64(text):
    return base64.b64encode(text.encode()).decode()


def raw_post(member, path, body, headers=None, timeout=15):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(member.client_url + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def record(name, member, path, body, headers=None):
    status, text = raw_post(member, path, body, headers)
    (OUT / f"{name}.json").write_text(json.dumps({"status": status, "body": text}, indent=1)
                                      + "\n")
    print(name, status, text[:100])
    return json.loads(text)


def main():
    with tempfile.TemporaryDirectory(prefix="hm-etcd-record-") as tmp:
        c = etcd_cluster.EtcdCluster(tmp).start()
        try:
            m = c.members[0]
            owner = b64("/hermes-matrix/c1/owners/alpha")
            lease = record("lease_grant", m, "/v3/lease/grant", {"TTL": "10"})["ID"]
            record("lease_keepalive", m, "/v3/lease/keepalive", {"ID": lease})
            record("lease_keepalive_expired", m, "/v3/lease/keepalive", {"ID": "12345"})
            record("lease_timetolive", m, "/v3/lease/timetolive", {"ID": lease})
            record("lease_timetolive_expired", m, "/v3/lease/timetolive", {"ID": "12345"})
            claim = {"compare": [{"target": "CREATE", "key": owner, "create_revision": "0"}],
                     "success": [{"request_put": {"key": owner, "value": b64("n1"),
                                                  "lease": lease}},
                                 {"request_range": {"key": owner}}],
                     "failure": [{"request_range": {"key": owner}}]}
            record("txn_claim_succeeded", m, "/v3/kv/txn", claim)
            record("txn_claim_failed", m, "/v3/kv/txn", claim)
            record("put_node", m, "/v3/kv/put",
                   {"key": b64("/hermes-matrix/c1/nodes/n1"), "value": b64("{}"),
                    "lease": lease})
            record("range_prefix", m, "/v3/kv/range",
                   {"key": b64("/hermes-matrix/c1/"), "range_end": b64("/hermes-matrix/c10")})
            record("range_empty", m, "/v3/kv/range",
                   {"key": b64("/nothing/"), "range_end": b64("/nothing0")})
            record("put_lease_not_found", m, "/v3/kv/put",
                   {"key": b64("/x"), "value": b64("y"), "lease": "999"})
            record("deleterange", m, "/v3/kv/deleterange",
                   {"key": b64("/hermes-matrix/c1/nodes/n1")})
            record("lease_revoke", m, "/v3/lease/revoke", {"ID": lease})
            record("lease_revoke_not_found", m, "/v3/lease/revoke", {"ID": lease})
            record("error_not_json", m, "/v3/kv/put", b"{nope")
            record("auth_not_enabled", m, "/v3/auth/authenticate",
                   {"name": "root", "password": "x"})
            # Authentication on: a user "root" with the root role.
            record("auth_user_add", m, "/v3/auth/user/add", {"name": "root", "password": "pw"})
            raw_post(m, "/v3/auth/user/grant", {"user": "root", "role": "root"})
            record("auth_enable", m, "/v3/auth/enable", {})
            token = record("auth_authenticate", m, "/v3/auth/authenticate",
                           {"name": "root", "password": "pw"})["token"]
            record("auth_failed", m, "/v3/auth/authenticate",
                   {"name": "root", "password": "wrong"})
            record("range_without_token", m, "/v3/kv/range", {"key": b64("/x")})
            record("range_with_token", m, "/v3/kv/range", {"key": b64("/x")},
                   {"Authorization": token})
            raw_post(m, "/v3/auth/disable", {}, {"Authorization": token})
            # Quorum lost: two of three members gone, the third cannot commit.
            leader = c.leader()
            others = [x for x in c.members if x is not leader]
            c.kill_member(leader)
            c.kill_member(others[0])
            record("no_quorum_put", others[1], "/v3/kv/put", {"key": b64("/x"), "value": ""})
            record("no_quorum_grant", others[1], "/v3/lease/grant", {"TTL": "10"})
        finally:
            c.stop()


if __name__ == "__main__":
    main()

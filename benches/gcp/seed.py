#!/usr/bin/env python3
"""Seeds the GCP stand-in with the GCP benchmark estate and writes the matching
nhi configuration (setup for scripts/bench-gcp; not measured).

Estate, in the stand-in's project nhi-standin (after POST /_standin/reset): N
service accounts (default 1,000) `svc-00000`..., each with
  - 1 user-managed key, named `primary` by nhi's record on the last line of the
    description: nhi:{"keys":{"<key id>":"primary"},"owner":"<owner>"},
  - 2 project-level role bindings (two of four roles, by account number),
  - every 100th account also a conditional binding (title `bench-artifacts`).
All through the stand-in's normal REST API, as another client would: create the
account, create the key, PATCH the description with the record; then one
read-modify-write of the project policy (getIamPolicy / setIamPolicy with the
etag) holding every binding.
The configuration declares exactly that, so `nhi plan --detailed-exitcode` exits 0.

Usage: seed.py --endpoint URL --out DIR [--accounts N] [--concurrency C ...] [--threads T]
Writes DIR/nhi.yaml (concurrency 8, the default) and DIR/nhi-c<C>.yaml for every
other --concurrency given. Standard library only.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

PROJECT = "nhi-standin"
ROLES = [
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/storage.objectViewer",
    "roles/pubsub.publisher",
]
CONDITION = {
    "title": "bench-artifacts",
    "expression": 'resource.name.startsWith("projects/_/buckets/bench-artifacts")',
    "description": "Benchmark artifacts bucket only",
}
CONDITION_ROLE = "roles/storage.objectAdmin"
CONDITION_EVERY = 100


def account_id(i):
    return f"svc-{i:05d}"


def email(i):
    return f"{account_id(i)}@{PROJECT}.iam.gserviceaccount.com"


def owner(i):
    return f"team-{i % 20:02d}@example.com"


def description(i):
    return f"Benchmark account {i:05d}"


def roles(i):
    return [ROLES[i % len(ROLES)], ROLES[(i + 1) % len(ROLES)]]


def conditional(i):
    return i % CONDITION_EVERY == 0


def record_line(key_id, owner_):
    """nhi's record as nhi writes it (serde_json: sorted keys, compact)."""
    record = {"keys": {key_id: "primary"}, "owner": owner_}
    return "nhi:" + json.dumps(record, sort_keys=True, separators=(",", ":"))


class Api:
    """One keep-alive connection per thread to the stand-in."""

    def __init__(self, endpoint):
        url = urllib.parse.urlsplit(endpoint)
        self.host, self.port = url.hostname, url.port
        self.local = threading.local()
        self.calls = 0
        self.lock = threading.Lock()

    def call(self, method, path, body=None):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        with self.lock:
            self.calls += 1
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {raw.decode(errors='replace')}")
        return json.loads(raw) if raw else {}


def create(api, i):
    base = f"/v1/projects/{PROJECT}/serviceAccounts"
    api.call("POST", base, {
        "accountId": account_id(i),
        "serviceAccount": {"description": description(i)},
    })
    sa = f"{base}/{email(i)}"
    key = api.call("POST", f"{sa}/keys", {})
    key_id = key["name"].rsplit("/", 1)[-1]
    api.call("PATCH", sa, {
        "serviceAccount": {"description": f"{description(i)}\n{record_line(key_id, owner(i))}"},
        "updateMask": "description",
    })


def grant_all(api, n):
    """Adds every account's bindings to the project policy in one
    read-modify-write (retried if the etag moved)."""
    path = f"/v3/projects/{PROJECT}"
    for _ in range(5):
        policy = api.call("POST", f"{path}:getIamPolicy",
                          {"options": {"requestedPolicyVersion": 3}})
        bindings = policy.setdefault("bindings", [])
        for role in ROLES:
            bindings.append({
                "role": role,
                "members": [f"serviceAccount:{email(i)}" for i in range(n) if role in roles(i)],
            })
        members = [f"serviceAccount:{email(i)}" for i in range(n) if conditional(i)]
        if members:
            bindings.append({"role": CONDITION_ROLE, "members": members,
                             "condition": dict(CONDITION)})
        policy["version"] = 3
        try:
            api.call("POST", f"{path}:setIamPolicy", {"policy": policy})
            return
        except RuntimeError as e:
            if " 409 " not in str(e):
                raise
    sys.exit("seed.py: the policy kept changing under setIamPolicy")


def config(n, concurrency, endpoint):
    """The nhi configuration for the estate (YAML, written by hand)."""
    out = [
        "# Generated by benches/gcp/seed.py: the GCP benchmark estate (no-change plan).",
        "version: 1",
        "providers:",
        "  - name: prod",
        "    type: gcp",
        "    prune: false",
        "    settings:",
        f"      project: {PROJECT}",
        f"      endpoint: {endpoint}",
        "      credentials: anonymous",
        "      max_attempts: 1",
        f"      concurrency: {concurrency}",
        "identities:",
    ]
    for i in range(n):
        name = account_id(i)
        out += [
            f"  - name: {name}",
            "    provider: prod",
            f"    owner: {owner(i)}",
            f"    description: {description(i)}",
            "    keys:",
            "      - name: primary",
            "        rotate_after: 3650d",
            f"        sink: {{file: secrets/{name}.json}}",
            "    bindings:",
        ]
        out += [f"      - role: {role}" for role in roles(i)]
        if conditional(i):
            out += [
                f"      - role: {CONDITION_ROLE}",
                f"        resource: condition:{CONDITION['title']}",
                "        policy:",
                f"          expression: {json.dumps(CONDITION['expression'])}",
                f"          description: {CONDITION['description']}",
            ]
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="the stand-in's base URL")
    p.add_argument("--out", required=True, help="directory for nhi.yaml")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--concurrency", type=int, action="append", default=[],
                   help="also write nhi-c<C>.yaml with this concurrency (repeatable)")
    p.add_argument("--threads", type=int, default=4, help="seeding threads")
    args = p.parse_args()
    if not 1 <= args.accounts <= 99999:
        sys.exit("seed.py: --accounts must be from 1 to 99999")

    started = time.monotonic()
    api = Api(args.endpoint)
    api.call("POST", "/_standin/reset", {})
    with ThreadPoolExecutor(args.threads) as pool:
        # list() re-raises the first failure.
        list(pool.map(lambda i: create(api, i), range(args.accounts)))
    grant_all(api, args.accounts)

    state = api.call("GET", "/_standin/state")["projects"][PROJECT]
    ours = [a for a in state["serviceAccounts"]
            if a["email"].endswith(f"@{PROJECT}.iam.gserviceaccount.com")]
    if len(ours) != args.accounts:
        sys.exit(f"seed.py: expected {args.accounts} service accounts, the stand-in has {len(ours)}")
    api.call("DELETE", "/_standin/calls")

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "nhi.yaml"), "w") as f:
        f.write(config(args.accounts, 8, args.endpoint))
    for c in args.concurrency:
        with open(os.path.join(args.out, f"nhi-c{c}.yaml"), "w") as f:
            f.write(config(args.accounts, c, args.endpoint))
    print(
        f"seeded {args.accounts} service accounts ({api.calls} calls) in "
        f"{time.monotonic() - started:.1f} s; wrote {args.out}/nhi.yaml",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()

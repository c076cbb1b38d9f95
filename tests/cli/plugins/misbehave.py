#!/usr/bin/env python3
"""A plugin that misbehaves on purpose, in the way NHI_TEST_MODE says, once it
is asked to `read`: crash, hang, garbage, secret (mints a key, then leaks its secret on
stderr and crashes in `record_key`); or, in mode apply-crash, once it is asked to create
an identity: it creates it, then dies before answering. Until then it is a correct plugin
of an estate kept in `misbehave.json` (identities and their bindings only)."""

import json
import os
import sys
import time

MODE = os.environ.get("NHI_TEST_MODE", "")
SECRET = "canary-5d41402abc4b2a76b9719d911017c592"
STATE = "misbehave.json"


def load():
    try:
        with open(STATE, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def save(identities):
    with open(STATE, "w", encoding="utf-8") as f:
        json.dump(sorted(identities, key=lambda i: i["name"]), f)


def change(op):
    """Applies a create of an identity or a binding: the only changes the tests plan."""
    identities = load()
    if op["op"] == "create_identity":
        identities.append(dict(op["identity"], keys=[], bindings=[]))
    elif op["op"] == "create_binding":
        for i in identities:
            if i["name"] == op["identity"]:
                i["bindings"].append(op["binding"])
    save(identities)


def reply(rid, result):
    print(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}), flush=True)


for line in sys.stdin:
    request = json.loads(line)
    rid, method = request["id"], request["method"]
    if method == "initialize":
        reply(rid, {
            "protocol": "nhi-provider/1",
            "plugin": {"name": "misbehave", "version": "1.0.0"},
            "capabilities": {"type_name": "misbehave", "kinds": ["service_account"], "calls": []},
        })
    elif method == "check_settings":
        reply(rid, {"problem": None})
    elif method == "connect":
        reply(rid, {"provider": 1})
    elif method == "describe":
        reply(rid, {"scope": "nothing at all", "files": []})
    elif method == "read" and MODE == "crash":
        print("misbehave: lost the database connection", file=sys.stderr, flush=True)
        sys.exit(3)
    elif method == "read" and MODE == "hang":
        time.sleep(60)
    elif method == "read" and MODE == "garbage":
        print("hello from a stray print", flush=True)
    elif method == "read" and MODE == "secret":
        reply(rid, {"state": {"identities": [{
            "name": "svc", "kind": "service_account", "owner": "team@example.com",
            "description": "", "tags": {}, "keys": [], "bindings": []}]}, "api_calls": 1})
    elif method == "apply" and MODE == "secret":
        reply(rid, {"new_key_id": "K1", "secret": {"key_id": "K1", "secret": SECRET, "form": "opaque"}})
    elif method == "record_key" and MODE == "secret":
        print(f"debug: recording the key whose secret is {SECRET}", file=sys.stderr, flush=True)
        sys.exit(4)
    elif method == "read":
        reply(rid, {"state": {"identities": load()}, "api_calls": 0})
    elif method == "apply" and MODE == "apply-crash" and request["params"]["operation"]["op"] == "create_identity":
        change(request["params"]["operation"])
        print("misbehave: created it, then lost the connection", file=sys.stderr, flush=True)
        sys.exit(5)
    elif method == "apply" and request["params"]["operation"]["op"] in ("create_identity", "create_binding"):
        change(request["params"]["operation"])
        reply(rid, {})
    elif method == "lock":
        reply(rid, {"lock": 1})
    elif method == "shutdown":
        reply(rid, {})
        break
    else:
        reply(rid, {})

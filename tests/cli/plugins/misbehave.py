#!/usr/bin/env python3
"""A plugin that misbehaves on purpose, in the way NHI_TEST_MODE says, once it
is asked to `read`: crash, hang, garbage, secret (mints a key, then leaks its secret on
stderr and crashes in `record_key`). Until then it is a correct plugin of an empty estate."""

import json
import os
import sys
import time

MODE = os.environ.get("NHI_TEST_MODE", "")
SECRET = "canary-5d41402abc4b2a76b9719d911017c592"


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
        reply(rid, {"state": {"identities": []}, "api_calls": 0})
    elif method == "shutdown":
        reply(rid, {})
        break
    else:
        reply(rid, {})

#!/usr/bin/env python3
"""A correct plugin of an empty estate that announces every optional call the
plan path may make and appends each method it is asked to `calls.log` in its
working directory (the configuration's): the tests count its round trips.
With a `validates.json` there it announces those fields as the ones its
`validate` reads, and keeps each `validate` request's params in `validate.log`."""

import json
import os
import sys

CALLS = ["validate", "normalize_policy", "normalize_attributes", "advice", "retire_first",
         "scopes_overlap", "preflight"]


def answer(method, params):
    if method == "initialize":
        capabilities = {"type_name": "counting", "kinds": ["service_account"], "calls": CALLS}
        if os.path.exists("validates.json"):
            with open("validates.json", encoding="utf-8") as f:
                capabilities["validates"] = json.load(f)
        return {
            "protocol": "nhi-provider/1",
            "plugin": {"name": "counting", "version": "1.0.0"},
            "capabilities": capabilities,
        }
    if method in ("check_settings",):
        return {"problem": None}
    if method == "validate":
        if os.path.exists("validates.json"):
            with open("validate.log", "a", encoding="utf-8") as f:
                f.write(json.dumps(params) + "\n")
        return {"problems": []}
    if method == "normalize_policy":
        return {"policy": params["policy"]}
    if method == "normalize_attributes":
        return {"attributes": params["attributes"]}
    if method == "advice":
        return {"advice": ["counted" for _ in params["operations"]]}
    if method == "retire_first":
        return {"attribute": None}
    if method == "scopes_overlap":
        return {"overlap": None}
    if method == "preflight":
        return {"problems": []}
    if method == "connect":
        return {"provider": 1}
    if method == "describe":
        return {"scope": "nothing at all", "files": []}
    if method == "read":
        return {"state": {"identities": []}, "api_calls": 0}
    if method == "lock":
        return {"lock": 1}
    return {}


with open("calls.log", "a", encoding="utf-8") as log:
    for line in sys.stdin:
        request = json.loads(line)
        log.write(request["method"] + "\n")
        log.flush()
        result = answer(request["method"], request.get("params") or {})
        print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}), flush=True)
        if request["method"] == "shutdown":
            break

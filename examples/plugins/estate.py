#!/usr/bin/env python3
"""A minimal nhi provider plugin in Python, standard library only.

It speaks `nhi-provider/1` (docs/plugin-protocol.md): JSON-RPC 2.0, one object
per line on stdin/stdout. It keeps its identities in a JSON file named by the
block's `state` setting, like the built-in `local` provider, and offers the
conformance kit's `test_mutate` hook. Run it from a provider block:

    providers:
      - name: py
        type: plugin
        settings:
          plugin: {path: plugins/estate.py, sha256: "sha256:<sha256sum of the file>"}
          state: py-estate.json
"""

import datetime
import json
import os
import secrets
import sys

PROTOCOL = "nhi-provider/1"
KINDS = ["service_account"]


class Failure(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Estate:
    def __init__(self, name, settings, base_dir):
        state = settings.get("state")
        if not isinstance(state, str) or not state:
            raise Failure("settings", "`state` names the estate file")
        self.name = name
        self.path = os.path.join(base_dir, state)
        self.shown = state

    def load(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise Failure("corrupt", f"estate file `{self.shown}`: {e}")
        return {i["name"]: i for i in data.get("identities", [])}

    def save(self, identities):
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"identities": [identities[n] for n in sorted(identities)]}, f)
        os.replace(tmp, self.path)

    def read(self):
        identities = self.load()
        return {"state": {"identities": [identities[n] for n in sorted(identities)]}, "api_calls": 1}

    def apply(self, op, sink):
        ids = self.load()
        kind = op["op"]
        result = {}

        def get(name):
            if name not in ids:
                raise Failure("not_found", f"identity `{name}`")
            return ids[name]

        if kind == "create_identity":
            identity = op["identity"]
            if identity["name"] in ids:
                raise Failure("already_exists", f"identity `{identity['name']}`")
            ids[identity["name"]] = dict(identity, keys=[], bindings=[])
        elif kind == "update_identity":
            current = get(op["before"]["name"])
            ids[op["after"]["name"]] = dict(op["after"], keys=current["keys"], bindings=current["bindings"])
        elif kind == "delete_identity":
            get(op["identity"]["name"])
            del ids[op["identity"]["name"]]
        elif kind == "create_key":
            identity = get(op["identity"])
            key_id = "PY" + secrets.token_hex(8).upper()
            local = sink is None or sink == "stdout" or (isinstance(sink, dict) and "file" in sink)
            identity["keys"].append({
                "id": key_id,
                "name": None if local else op["key"],
                "created": now(),
                "status": "active",
            })
            result["new_key_id"] = key_id
            if local:
                result["secret"] = {"key_id": key_id, "secret": secrets.token_urlsafe(24), "form": "opaque"}
        elif kind in ("delete_key", "deactivate_key"):
            identity = get(op["identity"])
            key_id = op["key"]["id"]
            if kind == "delete_key":
                identity["keys"] = [k for k in identity["keys"] if k["id"] != key_id]
            else:
                for k in identity["keys"]:
                    if k["id"] == key_id:
                        k["status"] = "inactive"
        elif kind == "create_binding":
            get(op["identity"])["bindings"].append(op["binding"])
        elif kind in ("update_binding", "delete_binding"):
            identity = get(op["identity"])
            old = op["before"] if kind == "update_binding" else op["binding"]
            identity["bindings"] = [
                b for b in identity["bindings"]
                if (b["role"], b["resource"]) != (old["role"], old["resource"])
            ]
            if kind == "update_binding":
                identity["bindings"].append(op["after"])
        else:
            raise Failure("unsupported", f"the example plugin cannot `{kind}`")
        for identity in ids.values():
            identity["bindings"].sort(key=lambda b: (b["role"], b["resource"]))
        self.save(ids)
        return result

    def record_key(self, identity, key, key_id):
        ids = self.load()
        if identity not in ids:
            raise Failure("not_found", f"identity `{identity}`")
        for k in ids[identity]["keys"]:
            if k["id"] == key_id:
                k["name"] = key
        self.save(ids)


class Server:
    def __init__(self):
        self.providers = {}
        self.next = 1

    def handle(self, method, params):
        if method == "initialize":
            if PROTOCOL not in params.get("protocols", []):
                raise Failure("unsupported", f"this plugin speaks `{PROTOCOL}` only")
            return {
                "protocol": PROTOCOL,
                "plugin": {"name": "py-estate", "version": "0.1.0"},
                "capabilities": {
                    "type_name": "py_estate",
                    "kinds": KINDS,
                    "key_slots": None,
                    "replaces_identities": False,
                    "reports_key_use": False,
                    "read_beside_config": True,
                    "sinks": [],
                    "locks": False,
                    "imports": True,
                    "calls": ["test_mutate"],
                },
            }
        if method == "check_settings":
            state = params["settings"].get("state")
            return {"problem": None if isinstance(state, str) and state else "`state` names the estate file"}
        if method == "connect":
            estate = Estate(params["name"], params["settings"], params["base_dir"])
            handle = self.next
            self.next += 1
            self.providers[handle] = estate
            return {"provider": handle}
        if method == "shutdown":
            return {}
        if method == "unlock":
            return {}
        estate = self.providers.get(params.get("provider"))
        if estate is None:
            raise Failure("other", "no such provider handle")
        if method == "describe":
            return {"scope": f"python estate file `{estate.shown}`", "files": [estate.path]}
        if method == "read":
            return estate.read()
        if method == "lock":
            return {"lock": 1}
        if method == "apply":
            return estate.apply(params["operation"], params.get("sink"))
        if method == "test_mutate":
            estate.apply(params["operation"], None)
            return {}
        if method == "record_key":
            estate.record_key(params["identity"], params["key"], params["key_id"])
            return {}
        return None


def main():
    server = Server()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            rid, method, params = request["id"], request["method"], request.get("params") or {}
        except (ValueError, KeyError, TypeError) as e:
            reply = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": f"not a request: {e}"}}
            print(json.dumps(reply), flush=True)
            continue
        try:
            result = server.handle(method, params)
            if result is None:
                reply = {"jsonrpc": "2.0", "id": rid,
                         "error": {"code": -32601, "message": f"unknown method `{method}`"}}
            else:
                reply = {"jsonrpc": "2.0", "id": rid, "result": result}
        except Failure as f:
            reply = {"jsonrpc": "2.0", "id": rid,
                     "error": {"code": -32000, "message": f.message, "data": {"kind": f.kind}}}
        except (KeyError, TypeError, ValueError) as e:
            reply = {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": f"invalid params: {e}"}}
        print(json.dumps(reply), flush=True)
        if method == "shutdown":
            return


if __name__ == "__main__":
    main()

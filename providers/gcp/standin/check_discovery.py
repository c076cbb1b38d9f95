#!/usr/bin/env python3
"""Checks the GCP stand-in (server.py) against Google's discovery documents.

    .venv/bin/python providers/gcp/standin/check_discovery.py [--verbose]

Loads `iam.v1.json`, `cloudresourcemanager.v3.json` and `secretmanager.v1.json`
as bundled with google-api-python-client (scripts/moto-install puts it in
.venv), then:

1. statically: every route of the stand-in (HTTP method, flatPath, request and
   response schema, query parameters) is a documented method, every field of
   the stand-in's own schemas is a documented property with the same type, and
   its enums list the documented values in the documented order;
2. dynamically: starts the stand-in on a free port, drives every implemented
   method (with and without `$alt=json;enum-encoding=int`), and checks every
   request body it sends and every response body it gets against the
   documented schema, recursively, with the JSON types of Google's REST
   encoding; error bodies must have Google's shape.

Exits 0 when everything matches, 1 and a list of mismatches otherwise.
Standard library only; works from any working directory. The documents'
directory can be forced with NHI_DISCOVERY_DIR.
"""

import base64
import glob
import http.client
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
INT_ALT = "%24alt=json%3Benum-encoding%3Dint"
DOCUMENTS = (("iam", "iam.v1.json"), ("crm", "cloudresourcemanager.v3.json"),
             ("sm", "secretmanager.v1.json"), ("op", "orgpolicy.v2.json"))
METHOD_ID_PREFIX = {"iam": "iam.projects.", "crm": "cloudresourcemanager.projects.",
                    "op": "orgpolicy.projects.",
                    "sm": "secretmanager.projects."}

CANONICAL_HTTP = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499,
    "INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500, "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}

problems = []
notes = []
VERBOSE = "--verbose" in sys.argv


def problem(msg):
    problems.append(msg)


def find_documents():
    candidates = []
    if os.environ.get("NHI_DISCOVERY_DIR"):
        candidates.append(os.environ["NHI_DISCOVERY_DIR"])
    spec = importlib.util.find_spec("googleapiclient")
    if spec and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(os.path.join(loc, "discovery_cache", "documents"))
    candidates += sorted(glob.glob(os.path.join(
        REPO, ".venv", "lib", "python3*", "site-packages", "googleapiclient",
        "discovery_cache", "documents")))
    for c in candidates:
        if all(os.path.isfile(os.path.join(c, f)) for _, f in DOCUMENTS):
            return c
    sys.exit("check_discovery: cannot find googleapiclient's discovery documents; "
             "run scripts/moto-install (or set NHI_DISCOVERY_DIR)")


def load_server():
    sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
    spec = importlib.util.spec_from_file_location("nhi_gcp_standin", os.path.join(HERE, "server.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def api_of(name, flat):
    """Which discovery document documents a stand-in route."""
    if name.startswith("secrets."):
        return "sm"
    if name.startswith("policies."):
        return "op"
    return "crm" if flat.startswith("v3/") else "iam"


def all_methods(resources):
    for res in resources.values():
        yield from res.get("methods", {}).values()
        yield from all_methods(res.get("resources", {}))


# --------------------------------------------------------------------------
# Static checks
# --------------------------------------------------------------------------

def check_static(srv, docs):
    checked_schemas = {}
    for http_method, _rx, name, flat, req, resp, params, served in srv.ROUTES:
        api = api_of(name, flat)
        doc = docs[api]
        found = [m for m in all_methods(doc["resources"])
                 if m.get("flatPath") == flat and m["httpMethod"] == http_method]
        if len(found) != 1:
            problem(f"route {http_method} {flat} ({name}): {len(found)} documented methods match")
            continue
        m = found[0]
        if not m["id"].endswith("." + name):
            problem(f"route {name}: documented method id is {m['id']}")
        if not served:
            continue
        doc_req = m.get("request", {}).get("$ref")
        if doc_req != req:
            problem(f"route {name}: request schema {req}, documented {doc_req}")
        if m.get("response", {}).get("$ref") != resp:
            problem(f"route {name}: response schema {resp}, "
                    f"documented {m.get('response', {}).get('$ref')}")
        doc_params = {k for k, v in m.get("parameters", {}).items() if v["location"] == "query"}
        for p in params - doc_params:
            problem(f"route {name}: query parameter {p} is not documented")
        for p in doc_params - params:
            notes.append(f"route {name}: documented query parameter {p} is not served")
        for schema in [req, resp]:
            if schema:
                collect_schemas(srv, schema, api, checked_schemas)
    for schema, api in sorted(checked_schemas.items()):
        check_schema(srv, docs[api], schema, api)
    for name in srv.SCHEMAS:
        if name not in checked_schemas:
            problem(f"stand-in schema {name} is not reachable from any route")
    # Enums the stand-in reads from query parameters.
    iam = docs["iam"]
    key_list = find_method(iam, "iam.projects.serviceAccounts.keys.list")
    compare_enum(srv, "KeyType", key_list["parameters"]["keyTypes"].get("enum"), "keys.list keyTypes")
    key_get = find_method(iam, "iam.projects.serviceAccounts.keys.get")
    compare_enum(srv, "ServiceAccountPublicKeyType",
                 key_get["parameters"]["publicKeyType"].get("enum"), "keys.get publicKeyType")
    list_sa = find_method(iam, "iam.projects.serviceAccounts.list")
    if "default is 20, and the maximum is 100" not in list_sa["parameters"]["pageSize"]["description"]:
        problem("serviceAccounts.list pageSize: documented default/maximum changed (stand-in: 20/100)")
    # Secret Manager limits the stand-in enforces, as documented.
    sm = docs["sm"]
    documented = [
        (sm["schemas"]["SecretPayload"]["properties"]["data"]["description"],
         "Must be no larger than 64KiB", f"payload limit (stand-in: {srv.SECRET_PAYLOAD_LIMIT})"),
        (find_method(sm, "secretmanager.projects.secrets.create")["parameters"]["secretId"]
         ["description"], "maximum length of 255 characters and can contain uppercase and "
         "lowercase letters, numerals, and the hyphen (`-`) and underscore (`_`)",
         f"secretId pattern (stand-in: {srv.SECRET_ID_RE.pattern})"),
        (find_method(sm, "secretmanager.projects.secrets.versions.access")["description"],
         "versions/latest` is an alias to the most recently created SecretVersion",
         "the `latest` alias"),
        (sm["schemas"]["Secret"]["properties"]["labels"]["description"],
         "No more than 64 labels", f"label count (stand-in: {srv.SECRET_LABEL_LIMIT})"),
        (sm["schemas"]["Secret"]["properties"]["annotations"]["description"],
         "The total size of annotation keys and values must be less than 16KiB",
         f"annotation size (stand-in: < {srv.ANNOTATIONS_SIZE_LIMIT})"),
        (sm["schemas"]["SecretPayload"]["properties"]["dataCrc32c"]["description"],
         "will verify the integrity of the received data", "dataCrc32c verification"),
        (sm["schemas"]["SecretVersion"]["properties"]["name"]["description"],
         "start at 1 and are incremented", "version numbering"),
    ]
    for text, phrase, what in documented:
        if phrase not in text:
            problem(f"Secret Manager: documented {what} changed: {text[:200]!r}")
    if srv.SECRET_PAYLOAD_LIMIT != 64 * 1024:
        problem(f"Secret Manager payload limit {srv.SECRET_PAYLOAD_LIMIT} is not 64KiB")


def find_method(doc, method_id):
    for m in all_methods(doc["resources"]):
        if m["id"] == method_id:
            return m
    raise KeyError(method_id)


def collect_schemas(srv, schema, api, out):
    if schema in out:
        return
    out[schema] = api
    for ftype in srv.SCHEMAS[schema].values():
        while isinstance(ftype, tuple) and ftype[0] == "list":
            ftype = ftype[1]
        if isinstance(ftype, tuple) and ftype[0] == "msg":
            collect_schemas(srv, ftype[1], api, out)


def compare_enum(srv, enum, documented, where):
    if list(srv.ENUMS[enum]) != list(documented or []):
        problem(f"enum {enum} ({where}): stand-in {srv.ENUMS[enum]}, documented {documented}")


def check_schema(srv, doc, schema, api):
    dschema = doc["schemas"].get(schema)
    if dschema is None:
        problem(f"schema {schema} is not documented in {api}")
        return
    props = dschema.get("properties", {})
    for field, ftype in srv.SCHEMAS[schema].items():
        prop = props.get(field)
        if prop is None:
            problem(f"{schema}.{field} is not a documented property")
            continue
        check_field_type(srv, f"{schema}.{field}", ftype, prop)
    for field in props:
        if field not in srv.SCHEMAS[schema]:
            notes.append(f"{schema}.{field} is documented but not modelled by the stand-in")


def check_field_type(srv, where, ftype, prop):
    if isinstance(ftype, tuple):
        kind, arg = ftype
        if kind == "msg":
            if prop.get("$ref") != arg:
                problem(f"{where}: stand-in message {arg}, documented {prop}")
        elif kind == "list":
            if prop.get("type") != "array":
                problem(f"{where}: stand-in list, documented type {prop.get('type')}")
            else:
                check_field_type(srv, where + "[]", arg, prop["items"])
        elif kind == "enum":
            if prop.get("type") != "string" or "enum" not in prop:
                problem(f"{where}: stand-in enum, documented {prop.get('type')}")
            else:
                compare_enum(srv, arg, prop["enum"], where)
        elif kind == "map":
            if prop.get("type") != "object" or "additionalProperties" not in prop:
                problem(f"{where}: stand-in map, documented {prop}")
            else:
                check_field_type(srv, where + "{}", arg, prop["additionalProperties"])
        return
    want = {
        "string": ("string", None), "bytes": ("string", "byte"),
        "timestamp": ("string", "google-datetime"), "fieldmask": ("string", "google-fieldmask"),
        "bool": ("boolean", None), "int32": ("integer", "int32"), "int64": ("string", "int64"),
    }[ftype]
    got = (prop.get("type"), prop.get("format"))
    if got != want:
        problem(f"{where}: stand-in {ftype} {want}, documented {got}")


# --------------------------------------------------------------------------
# Dynamic checks: JSON values against documented schemas
# --------------------------------------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def check_value(doc, value, prop, where, int_enums):
    if "$ref" in prop:
        return check_object(doc, value, prop["$ref"], where, int_enums)
    t = prop.get("type")
    if t == "string":
        if "enum" in prop:
            if int_enums:
                if not (isinstance(value, int) and not isinstance(value, bool)
                        and 0 <= value < len(prop["enum"])):
                    problem(f"{where}: {value!r} is not an int-encoded documented enum value")
            elif value not in prop["enum"]:
                problem(f"{where}: {value!r} is not one of {prop['enum']}")
            return
        if not isinstance(value, str):
            problem(f"{where}: {value!r} should be a JSON string")
            return
        fmt = prop.get("format")
        if fmt == "byte":
            try:
                base64.b64decode(value, validate=True)
            except Exception:
                problem(f"{where}: {value[:40]!r} is not base64")
        elif fmt == "google-datetime" and not RFC3339.match(value):
            problem(f"{where}: {value!r} is not an RFC 3339 UTC timestamp")
        elif fmt in ("int64", "uint64") and not re.fullmatch(r"-?\d+", value):
            problem(f"{where}: {value!r} is not a decimal int64 string")
    elif t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            problem(f"{where}: {value!r} should be a JSON integer")
    elif t == "boolean":
        if not isinstance(value, bool):
            problem(f"{where}: {value!r} should be a JSON boolean")
    elif t == "array":
        if not isinstance(value, list):
            problem(f"{where}: {value!r} should be a JSON array")
            return
        for i, v in enumerate(value):
            check_value(doc, v, prop["items"], f"{where}[{i}]", int_enums)
    elif t == "object":
        if not isinstance(value, dict):
            problem(f"{where}: should be a JSON object")
            return
        if "additionalProperties" in prop:
            for k, v in value.items():
                check_value(doc, v, prop["additionalProperties"], f"{where}.{k}", int_enums)
    elif t == "any":
        pass
    else:
        problem(f"{where}: unknown documented type {t}")


def check_object(doc, value, schema, where, int_enums):
    if not isinstance(value, dict):
        problem(f"{where}: should be a {schema} object, got {value!r}")
        return
    props = doc["schemas"][schema].get("properties", {})
    for k, v in value.items():
        if k not in props:
            problem(f"{where}: field {k!r} is not a property of {schema}")
            continue
        check_value(doc, v, props[k], f"{where}.{k}", int_enums)


class Client:
    def __init__(self, port, docs):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.docs = docs
        self.exercised = set()

    def raw(self, method, path, body=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        payload = r.read()
        return r.status, r.getheader("Content-Type", ""), payload

    def call(self, api, method_id, method, path, body=None, int_enums=True, expect=200):
        """Sends a request of a documented method and checks both bodies."""
        doc = self.docs[api]
        m = find_method(doc, method_id)
        if body is not None and "request" in m:
            check_object(doc, body, m["request"]["$ref"], f"{method_id} request", False)
        sep = "&" if "?" in path else "?"
        full = path + (sep + INT_ALT if int_enums else "")
        status, ctype, payload = self.raw(method, full, body)
        try:
            value = json.loads(payload)
        except ValueError:
            problem(f"{method_id}: response is not JSON: {payload[:100]!r}")
            return status, None
        if "application/json" not in ctype:
            problem(f"{method_id}: Content-Type {ctype!r}")
        if status != expect:
            problem(f"{method} {path}: HTTP {status}, expected {expect}: {payload[:300]!r}")
        if status == 200:
            self.exercised.add(method_id)
            check_object(doc, value, m["response"]["$ref"], f"{method_id} response", int_enums)
        else:
            check_error(value, status, f"{method} {path}")
        return status, value


def check_error(value, status, where):
    err = value.get("error") if isinstance(value, dict) else None
    if not isinstance(value, dict) or set(value) != {"error"} or not isinstance(err, dict):
        problem(f"{where}: error body is not {{'error': {{...}}}}: {value!r}")
        return
    extra = set(err) - {"code", "message", "status", "details"}
    if extra:
        problem(f"{where}: unexpected error fields {sorted(extra)}")
    if err.get("code") != status:
        problem(f"{where}: error.code {err.get('code')!r} != HTTP {status}")
    if not isinstance(err.get("message"), str) or not err["message"]:
        problem(f"{where}: error.message missing")
    if CANONICAL_HTTP.get(err.get("status")) != status:
        problem(f"{where}: error.status {err.get('status')!r} does not map to HTTP {status}")
    for d in err.get("details", []):
        if not isinstance(d, dict) or not str(d.get("@type", "")).startswith("type.googleapis.com/"):
            problem(f"{where}: malformed error detail {d!r}")


def drive(c, srv):
    P = srv.DEFAULT_PROJECT
    SAS = f"/v1/projects/{P}/serviceAccounts"
    iam, crm = "iam", "crm"
    pre = "iam.projects.serviceAccounts."
    # Both encodings of every read.
    for ints in (True, False):
        c.call(iam, pre + "list", "GET", SAS + "?pageSize=0&pageToken=", int_enums=ints)
    st, sa = c.call(iam, pre + "create", "POST", SAS, {
        "accountId": "checker-one",
        "serviceAccount": {"displayName": "Checker", "description": "drives every method"}})
    email = sa["email"] if sa else f"checker-one@{P}.iam.gserviceaccount.com"
    name = f"/v1/projects/{P}/serviceAccounts/{email}"
    for i in range(3):
        c.call(iam, pre + "create", "POST", SAS, {"accountId": f"checker-page-{i}"})
    st, page = c.call(iam, pre + "list", "GET", SAS + "?pageSize=2")
    if not (page and page.get("nextPageToken") and len(page.get("accounts", [])) == 2):
        problem(f"serviceAccounts.list: pageSize=2 gave no second page: {page}")
    else:
        c.call(iam, pre + "list", "GET",
               SAS + "?pageSize=2&pageToken=" + urllib.parse.quote(page["nextPageToken"]))
    for ints in (True, False):
        c.call(iam, pre + "get", "GET", name, int_enums=ints)
        c.call(iam, pre + "get", "GET", f"/v1/projects/-/serviceAccounts/{sa['uniqueId']}",
               int_enums=ints)
    c.call(iam, pre + "patch", "PATCH", name, {
        "serviceAccount": {"displayName": "Checker 2", "description": "patched"},
        "updateMask": "displayName,description"})
    c.call(iam, pre + "disable", "POST", name + ":disable", {})
    c.call(iam, pre + "enable", "POST", name + ":enable", {})
    # Keys.
    for ints in (True, False):
        st, key = c.call(iam, pre + "keys.create", "POST", name + "/keys",
                         {"privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE",
                          "keyAlgorithm": "KEY_ALG_RSA_2048"} if not ints else {}, int_enums=ints)
    if key:
        creds = json.loads(base64.b64decode(key["privateKeyData"]))
        if creds.get("type") != "service_account" or creds.get("client_email") != email:
            problem(f"keys.create: privateKeyData is not a credentials file: {creds}")
        if "-----BEGIN PRIVATE KEY-----" not in creds.get("private_key", ""):
            problem("keys.create: private_key is not a PEM private key")
    key_path = "/v1/" + key["name"]
    for ints in (True, False):
        c.call(iam, pre + "keys.list", "GET", name + "/keys", int_enums=ints)
        c.call(iam, pre + "keys.list", "GET", name + "/keys?keyTypes=1&keyTypes=2", int_enums=ints)
        c.call(iam, pre + "keys.list", "GET", name + "/keys?keyTypes=USER_MANAGED", int_enums=ints)
        for pkt in ("0", "1", "TYPE_RAW_PUBLIC_KEY"):
            c.call(iam, pre + "keys.get", "GET", key_path + "?publicKeyType=" + pkt, int_enums=ints)
    c.call(iam, pre + "keys.disable", "POST", key_path + ":disable", {})
    c.call(iam, pre + "keys.get", "GET", key_path, int_enums=False)
    c.call(iam, pre + "keys.enable", "POST", key_path + ":enable", {})
    c.call(iam, pre + "keys.delete", "DELETE", key_path)
    # Policy.
    crm_path = f"/v3/projects/{P}"
    for ints in (True, False):
        c.call(crm, "cloudresourcemanager.projects.getIamPolicy", "POST", crm_path + ":getIamPolicy",
               {}, int_enums=ints)
        st, pol = c.call(crm, "cloudresourcemanager.projects.getIamPolicy", "POST",
                         crm_path + ":getIamPolicy", {"options": {"requestedPolicyVersion": 3}},
                         int_enums=ints)
    pol["bindings"].append({"role": "roles/iam.serviceAccountUser",
                            "members": [f"serviceAccount:{email}"],
                            "condition": {"title": "t", "description": "d",
                                          "expression": "request.time < timestamp('2100-01-01T00:00:00Z')"}})
    pol["version"] = 3
    pol["auditConfigs"] = [{"service": "allServices", "auditLogConfigs": [
        {"logType": "DATA_READ", "exemptedMembers": ["user:quiet@example.com"]}]}]
    st, pol2 = c.call(crm, "cloudresourcemanager.projects.setIamPolicy", "POST",
                      crm_path + ":setIamPolicy",
                      {"policy": pol, "updateMask": "bindings,etag,auditConfigs"}, int_enums=False)
    c.call(crm, "cloudresourcemanager.projects.getIamPolicy", "POST", crm_path + ":getIamPolicy",
           {"options": {"requestedPolicyVersion": 3}}, int_enums=True)
    # The effective organization policy of a boolean constraint.
    for ints in (True, False):
        c.call("op", "orgpolicy.projects.policies.getEffectivePolicy", "GET",
               f"/v2/projects/{P}/policies/iam.disableServiceAccountKeyCreation:getEffectivePolicy",
               int_enums=ints)
    c.call("op", "orgpolicy.projects.policies.getEffectivePolicy", "GET",
           f"/v2/projects/{P}/policies/no.suchConstraint:getEffectivePolicy", expect=400)
    # Errors, and their shape.
    c.call(crm, "cloudresourcemanager.projects.setIamPolicy", "POST", crm_path + ":setIamPolicy",
           {"policy": pol}, expect=409)  # stale etag
    c.call(iam, pre + "create", "POST", SAS, {"accountId": "checker-one"}, expect=409)
    c.call(iam, pre + "create", "POST", SAS, {"accountId": "Bad_Id"}, expect=400)
    c.call(iam, pre + "get", "GET", SAS + "/nobody@example.com", expect=404)
    c.call(iam, pre + "get", "GET", "/v1/projects/unknown-project/serviceAccounts/x@y.z", expect=403)
    status, ctype, payload = c.raw("POST", SAS + "?" + INT_ALT,
                                   json.dumps({"accountId": "checker-x", "bogus": 1}).encode())
    expect_error(status, payload, 400, "unknown request field")
    status, ctype, payload = c.raw("POST", SAS, b"{not json")
    expect_error(status, payload, 400, "malformed JSON")
    status, ctype, payload = c.raw("GET", SAS + "?bogus=1")
    expect_error(status, payload, 400, "unknown query parameter")
    status, ctype, payload = c.raw("GET", "/v1/nothing/here")
    expect_error(status, payload, 404, "unknown route")
    status, ctype, payload = c.raw("POST", name + ":signBlob", b"{}")
    expect_error(status, payload, 501, "documented but unserved method")
    # Injected faults have Google's shape too.
    for fault, code in (("429", 429), ("500", 500), ("503", 503)):
        c.raw("POST", "/_standin/faults", json.dumps(
            {"method": "serviceAccounts.list", "fault": fault, "count": 1}).encode())
        status, ctype, payload = c.raw("GET", SAS)
        expect_error(status, payload, code, f"fault {fault}")
    c.call(iam, pre + "delete", "DELETE", name)
    drive_secrets(c, srv)


def crc32c_ref(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def drive_secrets(c, srv):
    P = srv.DEFAULT_PROJECT
    sm, spre = "sm", "secretmanager.projects.secrets."
    number = srv.project_number(P)
    SEC = f"/v1/projects/{P}/secrets"
    if srv.crc32c(b"123456789") != 0xE3069283 or srv.crc32c(b"") != 0:
        problem("stand-in CRC32C does not match the Castagnoli check value")
    # Both encodings; the bodies are what google-cloud-secretmanager-v1 serializes.
    for ints in (True, False):
        c.call(sm, spre + "create", "POST", f"{SEC}?secretId=checker-auto-{int(ints)}",
               {"replication": {"automatic": {}}, "labels": {"team": "nhi", "empty": ""},
                "annotations": {"nhi.owner": "checker"}}, int_enums=ints)
    st, um = c.call(sm, spre + "create", "POST", f"{SEC}?secretId=checker_user_managed", {
        "replication": {"userManaged": {"replicas": [
            {"location": "us-east1"}, {"location": "europe-west1"}]}}})
    for ints in (True, False):
        st, sec = c.call(sm, spre + "get", "GET", f"{SEC}/checker-auto-1", int_enums=ints)
        c.call(sm, spre + "get", "GET", f"/v1/projects/{number}/secrets/checker_user_managed",
               int_enums=ints)
    if sec and sec.get("name") != f"projects/{number}/secrets/checker-auto-1":
        problem(f"secrets.get: name {sec.get('name')!r} does not carry the project number")
    for ints in (True, False):
        for secret in ("checker-auto-1", "checker_user_managed"):
            data = f"value {ints} {secret}".encode()
            c.call(sm, spre + "addVersion", "POST", f"{SEC}/{secret}:addVersion",
                   {"payload": {"data": base64.b64encode(data).decode(),
                                "dataCrc32c": str(crc32c_ref(data))}}, int_enums=ints)
            st, ver = c.call(sm, spre + "addVersion", "POST", f"{SEC}/{secret}:addVersion",
                             {"payload": {"data": base64.b64encode(data).decode()}},
                             int_enums=ints)
    for ints in (True, False):
        for v in ("latest", "1"):
            st, acc = c.call(sm, spre + "versions.access", "GET",
                             f"{SEC}/checker-auto-1/versions/{v}:access", int_enums=ints)
    if not acc or acc.get("payload", {}).get("dataCrc32c") != str(crc32c_ref(
            base64.b64decode((acc or {}).get("payload", {}).get("data", "")))):
        problem(f"versions.access: dataCrc32c is not the payload's CRC32C: {acc}")
    # Errors.
    auto = {"replication": {"automatic": {}}}
    c.call(sm, spre + "create", "POST", f"{SEC}?secretId=checker-auto-1", auto, expect=409)
    c.call(sm, spre + "create", "POST", f"{SEC}?secretId=bad.id", auto, expect=400)
    c.call(sm, spre + "create", "POST", f"{SEC}?secretId=no-replication", {}, expect=400)
    c.call(sm, spre + "create", "POST", "/v1/projects/unknown-project/secrets?secretId=x", auto,
           expect=403)
    c.call(sm, spre + "get", "GET", f"{SEC}/missing", expect=404)
    c.call(sm, spre + "addVersion", "POST", f"{SEC}/checker-auto-1:addVersion",
           {"payload": {"data": base64.b64encode(b"x").decode(),
                        "dataCrc32c": str(crc32c_ref(b"y"))}}, expect=400)
    c.call(sm, spre + "addVersion", "POST", f"{SEC}/checker-auto-1:addVersion",
           {"payload": {"data": base64.b64encode(b"x" * (64 * 1024 + 1)).decode()}}, expect=400)
    c.call(sm, spre + "addVersion", "POST", f"{SEC}/missing:addVersion",
           {"payload": {"data": "eA=="}}, expect=404)
    c.call(sm, spre + "versions.access", "GET", f"{SEC}/checker-auto-1/versions/99:access",
           expect=404)
    status, ctype, payload = c.raw("GET", f"{SEC}/checker-auto-1/versions/1")
    expect_error(status, payload, 501, "documented but unserved Secret Manager method")
    for method in ("secrets.create", "secrets.get", "secrets.addVersion",
                   "secrets.versions.access"):
        c.raw("POST", "/_standin/faults", json.dumps(
            {"method": method, "fault": "429", "count": 1}).encode())
    status, ctype, payload = c.raw("POST", f"{SEC}?secretId=faulted", json.dumps(auto).encode())
    expect_error(status, payload, 429, "fault 429 on secrets.create")
    status, ctype, payload = c.raw("GET", f"{SEC}/checker-auto-1")
    expect_error(status, payload, 429, "fault 429 on secrets.get")
    status, ctype, payload = c.raw("POST", f"{SEC}/checker-auto-1:addVersion",
                                   json.dumps({"payload": {"data": "eA=="}}).encode())
    expect_error(status, payload, 429, "fault 429 on secrets.addVersion")
    status, ctype, payload = c.raw("GET", f"{SEC}/checker-auto-1/versions/latest:access")
    expect_error(status, payload, 429, "fault 429 on secrets.versions.access")
    # The control plane's state carries no payload.
    status, ctype, payload = c.raw("GET", "/_standin/state")
    if b"value True checker" in payload or b"dmFsdWUg" in payload or b"dataCrc32c" in payload:
        problem("/_standin/state leaks secret payloads")


def expect_error(status, payload, code, what):
    if status != code:
        problem(f"{what}: HTTP {status}, expected {code}: {payload[:200]!r}")
    try:
        check_error(json.loads(payload), status, what)
    except ValueError:
        problem(f"{what}: error body is not JSON")


def main():
    docs_dir = find_documents()
    docs = {}
    for api, fname in DOCUMENTS:
        with open(os.path.join(docs_dir, fname)) as fh:
            docs[api] = json.load(fh)
    srv = load_server()
    check_static(srv, docs)

    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0",
                                 "--port-file", port_file], stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file):
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit("check_discovery: the stand-in did not start")
                time.sleep(0.02)
            with open(port_file) as fh:
                port = int(fh.read())
            client = Client(port, docs)
            drive(client, srv)
            served = {METHOD_ID_PREFIX[api_of(r[2], r[3])] + r[2] for r in srv.ROUTES if r[7]}
            for missing in sorted(served - client.exercised):
                problem(f"method {missing} was not exercised successfully")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.returncode not in (0, -15):
            problem(f"stand-in exited with {proc.returncode} on SIGTERM")

    if VERBOSE:
        for n in notes:
            print("note:", n)
    if problems:
        print(f"check_discovery: {len(problems)} mismatch(es) with the discovery documents "
              f"in {docs_dir}:")
        for p in problems:
            print("  -", p)
        return 1
    print(f"check_discovery: ok ({len(srv.ROUTES)} routes, {len(srv.SCHEMAS)} schemas, "
          f"{len(served)} methods driven; revisions iam {docs['iam'].get('revision')}, "
          f"cloudresourcemanager {docs['crm'].get('revision')}, "
          f"secretmanager {docs['sm'].get('revision')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

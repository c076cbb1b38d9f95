#!/usr/bin/env python3
"""End-to-end checks of the stand-in's behaviour (not its schema: see
check_discovery.py). Standard library only:

    python3 providers/gcp/standin/selftest.py
"""

import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
P = "nhi-standin"
ALT = "%24alt=json%3Benum-encoding%3Dint"
SAS = f"/v1/projects/{P}/serviceAccounts"
POL = f"/v3/projects/{P}"

results = {"passed": 0, "failed": 0}


class Api:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def __call__(self, method, path, body=None, alt=True):
        if alt:
            path += ("&" if "?" in path else "?") + ALT
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data,
                          headers={"Content-Type": "application/json"} if data else {})
        r = self.conn.getresponse()
        payload = r.read()
        return r.status, json.loads(payload) if payload else None

    def ok(self, method, path, body=None, alt=True):
        status, value = self(method, path, body, alt)
        assert status == 200, (method, path, status, value)
        return value

    def err(self, method, path, body, code, status_name):
        status, value = self(method, path, body)
        assert status == code, (method, path, status, value)
        assert value["error"]["status"] == status_name, value
        assert value["error"]["code"] == code, value
        return value["error"]["message"]

    def policy(self, version=3):
        return self.ok("POST", POL + ":getIamPolicy", {"options": {"requestedPolicyVersion": version}})

    def set_policy(self, policy, **extra):
        return self("POST", POL + ":setIamPolicy", {"policy": policy, **extra})


def test(fn):
    def run(api):
        api.ok("POST", "/_standin/reset", alt=False)
        try:
            fn(api)
            results["passed"] += 1
            print(f"ok    {fn.__name__}")
        except Exception as e:  # noqa: BLE001 - report and continue
            results["failed"] += 1
            print(f"FAIL  {fn.__name__}: {e!r}")
    run.__name__ = fn.__name__
    TESTS.append(run)
    return run


TESTS = []


def members(policy, role, with_condition=False):
    return [m for b in policy.get("bindings", []) if b["role"] == role
            and ("condition" in b) == with_condition for m in b["members"]]


@test
def keep_alive_is_fast(api):
    start = time.perf_counter()
    for _ in range(200):
        api.ok("GET", SAS + "?pageSize=0&pageToken=")
    per_call = (time.perf_counter() - start) / 200
    assert per_call < 0.01, f"{per_call * 1000:.1f} ms per call"


@test
def seeded_project(api):
    accts = api.ok("GET", SAS)["accounts"]
    assert len(accts) == 1 and accts[0]["email"].endswith("-compute@developer.gserviceaccount.com")
    number = accts[0]["email"].split("-")[0]
    pol = api.policy()
    assert pol["version"] == 3
    agents = [m for b in pol["bindings"] for m in b["members"] if "@gcp-sa-" in m]
    assert agents and all(m.startswith(f"serviceAccount:service-{number}@") for m in agents)
    keys = api.ok("GET", f"/v1/{accts[0]['name']}/keys")["keys"]
    assert [k["keyType"] for k in keys] == [2], keys  # one SYSTEM_MANAGED key


@test
def pagination_over_100_accounts(api):
    for i in range(150):
        api.ok("POST", SAS, {"accountId": f"bulk-account-{i:03d}"})
    api.ok("DELETE", "/_standin/calls", alt=False)
    seen, token, pages = [], "", 0
    while True:
        page = api.ok("GET", f"{SAS}?pageSize=0&pageToken={urllib.parse.quote(token)}")
        pages += 1
        assert len(page["accounts"]) <= 20
        seen += [a["email"] for a in page["accounts"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert len(seen) == 151 and len(set(seen)) == 151, len(seen)
    assert pages == 8, pages
    big = api.ok("GET", f"{SAS}?pageSize=500")
    assert len(big["accounts"]) == 100 and big["nextPageToken"]
    calls = api.ok("GET", "/_standin/calls", alt=False)
    assert calls["counts"] == {"serviceAccounts.list": 9}, calls["counts"]
    assert [e["pageToken"] != "" for e in calls["log"]][:2] == [False, True]
    api.err("GET", f"{SAS}?pageToken=garbage", None, 400, "INVALID_ARGUMENT")


@test
def create_get_patch_disable_delete(api):
    sa = api.ok("POST", SAS, {"accountId": "deployer", "serviceAccount": {
        "displayName": "Deployer", "description": "ships things"}})
    assert sa["email"] == f"deployer@{P}.iam.gserviceaccount.com"
    assert len(sa["uniqueId"]) == 21 and sa["uniqueId"] == sa["oauth2ClientId"]
    assert "disabled" not in sa
    api.err("POST", SAS, {"accountId": "deployer"}, 409, "ALREADY_EXISTS")
    for bad in ("short", "Upper-case", "ends-with-dash-", "x" * 31, "9starts-with-digit"):
        api.err("POST", SAS, {"accountId": bad}, 400, "INVALID_ARGUMENT")
    by_uid = api.ok("GET", f"/v1/projects/-/serviceAccounts/{sa['uniqueId']}")
    assert by_uid == sa
    patched = api.ok("PATCH", f"/v1/{sa['name']}", {
        "serviceAccount": {"description": "ships more things", "email": sa["email"]},
        "updateMask": "description"})
    assert patched["description"] == "ships more things" and patched["displayName"] == "Deployer"
    api.err("PATCH", f"/v1/{sa['name']}", {"serviceAccount": {"email": "x@y"},
                                           "updateMask": "email"}, 400, "INVALID_ARGUMENT")
    assert api.ok("POST", f"/v1/{sa['name']}:disable", {}) == {}
    assert api.ok("GET", f"/v1/{sa['name']}")["disabled"] is True
    api.ok("POST", f"/v1/{sa['name']}:enable", {})
    assert "disabled" not in api.ok("GET", f"/v1/{sa['name']}")
    assert api.ok("DELETE", f"/v1/{sa['name']}") == {}
    api.err("GET", f"/v1/{sa['name']}", None, 404, "NOT_FOUND")
    api.err("GET", f"/v1/projects/-/serviceAccounts/{sa['email']}", None, 403, "PERMISSION_DENIED")
    api.err("GET", "/v1/projects/other/serviceAccounts", None, 403, "PERMISSION_DENIED")
    api.err("POST", SAS, {"accountId": "deployer2", "unknownField": 1}, 400, "INVALID_ARGUMENT")


@test
def keys_lifecycle_and_limit(api):
    sa = api.ok("POST", SAS, {"accountId": "key-holder"})
    keys_path = f"/v1/{sa['name']}/keys"
    created = api.ok("POST", keys_path, {})
    assert created["keyType"] == 1 and created["keyOrigin"] == 2 and created["keyAlgorithm"] == 2
    assert created["privateKeyType"] == 2
    assert created["validBeforeTime"] == "9999-12-31T23:59:59Z"
    creds = json.loads(base64.b64decode(created["privateKeyData"]))
    assert creds["private_key_id"] == created["name"].rsplit("/", 1)[1]
    assert creds["client_email"] == sa["email"] and creds["client_id"] == sa["uniqueId"]
    assert creds["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")
    listed = api.ok("GET", keys_path)["keys"]
    assert len(listed) == 2 and all("privateKeyData" not in k for k in listed)
    user = api.ok("GET", keys_path + "?keyTypes=1")["keys"]
    assert [k["name"] for k in user] == [created["name"]]
    system = api.ok("GET", keys_path + "?keyTypes=SYSTEM_MANAGED", alt=False)["keys"]
    assert len(system) == 1 and system[0]["keyType"] == "SYSTEM_MANAGED"
    api.err("GET", keys_path + "?keyTypes=0", None, 400, "INVALID_ARGUMENT")
    got = api.ok("GET", f"/v1/{created['name']}?publicKeyType=0")
    assert "privateKeyData" not in got and "publicKeyData" not in got
    pem = api.ok("GET", f"/v1/{created['name']}?publicKeyType=1")
    assert base64.b64decode(pem["publicKeyData"]).startswith(b"-----BEGIN CERTIFICATE-----")
    api.ok("POST", f"/v1/{created['name']}:disable", {})
    assert api.ok("GET", f"/v1/{created['name']}")["disabled"] is True
    api.ok("POST", f"/v1/{created['name']}:enable", {})
    api.err("DELETE", f"/v1/{system[0]['name']}", None, 400, "INVALID_ARGUMENT")
    for _ in range(9):
        api.ok("POST", keys_path, {"privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE"})
    api.err("POST", keys_path, {}, 400, "FAILED_PRECONDITION")
    api.ok("DELETE", f"/v1/{created['name']}")
    api.ok("POST", keys_path, {})
    api.err("GET", f"/v1/{created['name']}", None, 404, "NOT_FOUND")
    api.ok("DELETE", f"/v1/{sa['name']}")
    api.err("GET", keys_path, None, 404, "NOT_FOUND")


@test
def stale_etag_is_aborted_and_writes_nothing(api):
    first = api.policy()
    first["bindings"].append({"role": "roles/viewer", "members": ["user:a@example.com"]})
    status, second = api.set_policy(first)
    assert status == 200 and second["etag"] != first["etag"]
    first["bindings"].append({"role": "roles/viewer", "members": ["user:b@example.com"]})
    status, err = api.set_policy(first)
    assert status == 409 and err["error"]["status"] == "ABORTED", err
    assert api.policy() == second
    # Without an etag, the write overwrites whatever is there.
    status, third = api.set_policy({"version": 3, "bindings": [
        {"role": "roles/owner", "members": ["user:owner@example.com"]}]})
    assert status == 200 and third["bindings"] == [
        {"role": "roles/owner", "members": ["user:owner@example.com"]}] and third["version"] == 1


@test
def etag_race_fault(api):
    api.ok("POST", "/_standin/faults", {"method": "setIamPolicy", "fault": "etag_race",
                                        "count": 1}, alt=False)
    pol = api.policy()
    pol["bindings"].append({"role": "roles/logging.viewer", "members": ["user:me@example.com"]})
    status, err = api.set_policy(pol)
    assert status == 409 and err["error"]["status"] == "ABORTED", err
    again = api.policy()
    assert "user:other-writer@example.com" in members(again, "roles/viewer")
    assert "user:me@example.com" not in members(again, "roles/logging.viewer")
    again["bindings"].append({"role": "roles/logging.viewer", "members": ["user:me@example.com"]})
    status, done = api.set_policy(again)
    assert status == 200, done
    assert "user:other-writer@example.com" in members(done, "roles/viewer")
    assert "user:me@example.com" in members(done, "roles/logging.viewer")
    assert api.ok("GET", "/_standin/faults", alt=False) == {"faults": []}
    assert api.ok("GET", "/_standin/calls", alt=False)["counts"] == {
        "getIamPolicy": 2, "setIamPolicy": 2}


@test
def conditional_bindings_need_version_3(api):
    v1 = api.policy(1)
    assert v1["version"] == 1
    downgraded = [b for b in v1["bindings"] if "_withcond_" in b["role"]]
    assert len(downgraded) == 1 and "condition" not in downgraded[0]
    assert downgraded[0]["role"].startswith("roles/iam.securityReviewer_withcond_")
    # Writing the version 1 view back is refused, and so is a v1 write with an etag.
    status, err = api.set_policy(v1)
    assert status == 400 and err["error"]["status"] == "INVALID_ARGUMENT", err
    v3 = api.policy(3)
    assert v1["etag"] == v3["etag"]
    cond = {"title": "t", "expression": "request.time < timestamp('2100-01-01T00:00:00Z')"}
    v3_copy = json.loads(json.dumps(v3))
    v3_copy["version"] = 1
    v3_copy["bindings"].append({"role": "roles/viewer", "members": ["user:c@example.com"],
                                "condition": cond})
    status, err = api.set_policy(v3_copy)
    assert status == 400, err
    v3["bindings"].append({"role": "roles/viewer", "members": ["user:c@example.com"],
                           "condition": cond})
    status, written = api.set_policy(v3)
    assert status == 200 and written["version"] == 3, written
    assert written["bindings"] == v3["bindings"]  # order of bindings and members preserved
    status, err = api.set_policy({"version": 3, "etag": written["etag"], "bindings": [
        {"role": "roles/viewer", "members": ["user:c@example.com"], "condition": {"title": "x"}}]})
    assert status == 400, err
    # Without any condition left, the policy is version 1 again.
    plain = [b for b in written["bindings"] if "condition" not in b]
    status, after = api.set_policy({"version": 3, "etag": written["etag"], "bindings": plain})
    assert status == 200 and after["version"] == 1, after


@test
def deleted_account_stays_in_policy(api):
    sa = api.ok("POST", SAS, {"accountId": "short-lived"})
    member = f"serviceAccount:{sa['email']}"
    pol = api.policy()
    pol["bindings"].append({"role": "roles/storage.admin", "members": [member]})
    status, pol = api.set_policy(pol)
    assert status == 200, pol
    api.ok("DELETE", f"/v1/{sa['name']}")
    after = api.policy()
    assert after["etag"] != pol["etag"]
    assert members(after, "roles/storage.admin") == [
        f"deleted:serviceAccount:{sa['email']}?uid={sa['uniqueId']}"]
    # Binding an account of this project that does not exist is refused.
    after["bindings"].append({"role": "roles/viewer", "members": [member]})
    status, err = api.set_policy(after)
    assert status == 400 and "does not exist" in err["error"]["message"], err


@test
def update_mask_and_validation(api):
    pol = api.policy()
    status, out = api.set_policy({"auditConfigs": [{"service": "allServices", "auditLogConfigs": [
        {"logType": 3}]}]}, updateMask="auditConfigs")
    assert status == 200 and out["bindings"] == pol["bindings"], out
    assert out["auditConfigs"][0]["auditLogConfigs"][0]["logType"] == 3
    status, err = api.set_policy({"bindings": []}, updateMask="owner")
    assert status == 400, err
    status, err = api.set_policy({"bindings": [{"role": "owner", "members": ["user:x@example.com"]}]})
    assert status == 400, err
    status, err = api.set_policy({"bindings": [{"role": "roles/viewer", "members": ["x@example.com"]}]})
    assert status == 400, err
    status, err = api("POST", POL + ":getIamPolicy", {"options": {"requestedPolicyVersion": 2}})
    assert status == 400, err
    status, err = api("POST", "/v3/projects/nope:getIamPolicy", {})
    assert status == 403, err


@test
def injected_errors(api):
    api.ok("POST", "/_standin/faults", [
        {"method": "serviceAccounts.get", "fault": "429", "count": 1},
        {"method": "*", "fault": "503", "count": 2},
        {"method": "getIamPolicy", "fault": "500"},
    ], alt=False)
    sa_name = api.ok("GET", "/_standin/state", alt=False)["projects"][P]["serviceAccounts"][0]["name"]
    api.err("GET", f"/v1/{sa_name}", None, 429, "RESOURCE_EXHAUSTED")
    api.err("GET", f"/v1/{sa_name}", None, 503, "UNAVAILABLE")
    api.err("POST", POL + ":getIamPolicy", {}, 503, "UNAVAILABLE")
    api.err("POST", POL + ":getIamPolicy", {}, 500, "INTERNAL")
    api.ok("GET", f"/v1/{sa_name}")
    counts = api.ok("GET", "/_standin/calls", alt=False)["counts"]
    assert counts == {"serviceAccounts.get": 3, "getIamPolicy": 2}, counts
    status, _ = api("POST", "/_standin/faults", {"method": "serviceAccounts.get",
                                                 "fault": "etag_race"}, alt=False)
    assert status == 400


@test
def quota_errors_say_when_to_retry(api):
    api.ok("POST", "/_standin/faults", {"method": "serviceAccounts.list", "fault": "429",
                                        "retryDelay": 1.5}, alt=False)
    status, body = api("GET", f"/v1/projects/{P}/serviceAccounts")
    assert status == 429, body
    details = {d["@type"]: d for d in body["error"]["details"]}
    assert details["type.googleapis.com/google.rpc.RetryInfo"]["retryDelay"] == "1.5s", body
    status, _ = api("POST", "/_standin/faults", {"method": "serviceAccounts.list",
                                                 "fault": "503", "retryDelay": 1}, alt=False)
    assert status == 400


@test
def new_accounts_are_hidden_while_they_propagate(api):
    import time
    api.ok("POST", "/_standin/propagation", {"seconds": 0.6}, alt=False)
    sa = api.ok("POST", f"/v1/projects/{P}/serviceAccounts", {"accountId": "fresh-account"})
    api.err("GET", f"/v1/{sa['name']}", None, 404, "NOT_FOUND")
    api.err("POST", f"/v1/{sa['name']}/keys", {}, 404, "NOT_FOUND")
    policy = api.ok("POST", POL + ":getIamPolicy", {"options": {"requestedPolicyVersion": 3}})
    policy["bindings"].append({"role": "roles/viewer",
                               "members": [f"serviceAccount:{sa['email']}"]})
    status, err = api.set_policy({**policy, "version": 3})
    assert status == 400 and "does not exist" in err["error"]["message"], err
    listed = api.ok("GET", f"/v1/projects/{P}/serviceAccounts")
    assert any(a["email"] == sa["email"] for a in listed["accounts"]), listed
    time.sleep(0.7)
    api.ok("GET", f"/v1/{sa['name']}")
    api.ok("POST", "/_standin/propagation", {"seconds": 0}, alt=False)


SECRETS = f"/v1/projects/{P}/secrets"
AUTO = {"replication": {"automatic": {}}}


def crc32c(data):
    """Bitwise CRC-32C, independent of the server's table-driven one."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def payload(data, crc=True):
    out = {"data": base64.b64encode(data).decode()}
    if crc:
        out["dataCrc32c"] = str(crc32c(data))  # int64 as a string, as the Rust client sends it
    return {"payload": out}


def project_number(api):
    return api.ok("GET", "/_standin/state", alt=False)["projects"][P]["projectNumber"]


@test
def secret_create_and_get(api):
    number = project_number(api)
    assert crc32c(b"123456789") == 0xE3069283
    sec = api.ok("POST", SECRETS + "?secretId=db-password", {
        "replication": {"automatic": {}}, "labels": {"team": "nhi", "tier": ""}})
    # Google names secrets by project number, whichever form the request used.
    assert sec["name"] == f"projects/{number}/secrets/db-password", sec
    assert sec["replication"] == {"automatic": {}} and sec["labels"] == {"team": "nhi", "tier": ""}
    assert sec["createTime"].endswith("Z") and sec["etag"].startswith('"')
    assert api.ok("GET", f"{SECRETS}/db-password") == sec
    assert api.ok("GET", f"/v1/projects/{number}/secrets/db-password") == sec
    msg = api.err("POST", SECRETS + "?secretId=db-password", AUTO, 409, "ALREADY_EXISTS")
    assert f"projects/{number}/secrets/db-password" in msg, msg
    api.err("POST", f"/v1/projects/{number}/secrets?secretId=db-password", AUTO, 409,
            "ALREADY_EXISTS")
    um = api.ok("POST", SECRETS + "?secretId=Mixed_Case-9", {"replication": {"userManaged": {
        "replicas": [{"location": "us-east1"}, {"location": "europe-west1"}]}}})
    assert [r["location"] for r in um["replication"]["userManaged"]["replicas"]] == [
        "us-east1", "europe-west1"]
    api.ok("POST", SECRETS + "?secretId=" + "x" * 255, AUTO)
    for bad in ("", "x" * 256, "has.dot", "has%20space", "%C3%A9t%C3%A9"):
        api.err("POST", SECRETS + "?secretId=" + bad, AUTO, 400, "INVALID_ARGUMENT")
    api.err("POST", SECRETS, AUTO, 400, "INVALID_ARGUMENT")  # no secretId at all
    api.err("POST", SECRETS + "?secretId=no-replication", {}, 400, "INVALID_ARGUMENT")
    api.err("POST", SECRETS + "?secretId=both", {"replication": {
        "automatic": {}, "userManaged": {"replicas": [{"location": "us-east1"}]}}},
        400, "INVALID_ARGUMENT")
    api.err("POST", SECRETS + "?secretId=no-replicas", {"replication": {"userManaged": {}}},
            400, "INVALID_ARGUMENT")
    for labels in ({"Upper": "x"}, {"9lead": "x"}, {"ok": "UPPER"}, {"": "x"},
                   {f"k{i}": "" for i in range(65)}):
        api.err("POST", SECRETS + "?secretId=bad-labels", {**AUTO, "labels": labels},
                400, "INVALID_ARGUMENT")
    api.err("POST", SECRETS + "?secretId=unknown-field", {**AUTO, "bogus": 1},
            400, "INVALID_ARGUMENT")
    api.err("GET", f"{SECRETS}/bad-labels", None, 404, "NOT_FOUND")
    msg = api.err("GET", f"{SECRETS}/missing", None, 404, "NOT_FOUND")
    assert msg == f"Secret [projects/{number}/secrets/missing] not found.", msg
    api.err("POST", "/v1/projects/nope/secrets?secretId=x", AUTO, 403, "PERMISSION_DENIED")
    api.err("GET", "/v1/projects/nope/secrets/x", None, 403, "PERMISSION_DENIED")


@test
def secret_versions_and_access(api):
    number = project_number(api)
    api.ok("POST", SECRETS + "?secretId=api-token", AUTO)
    api.err("GET", f"{SECRETS}/api-token/versions/latest:access", None, 404, "NOT_FOUND")
    v1 = api.ok("POST", f"{SECRETS}/api-token:addVersion", payload(b"first value"))
    assert v1["name"] == f"projects/{number}/secrets/api-token/versions/1", v1
    assert v1["state"] == 1 and v1["clientSpecifiedPayloadChecksum"] is True, v1
    assert v1["replicationStatus"] == {"automatic": {}} and v1["createTime"].endswith("Z")
    assert "payload" not in v1
    # Without a checksum, with the camelCase or snake_case name, or as a JSON number.
    v2 = api.ok("POST", f"{SECRETS}/api-token:addVersion", payload(b"second value", crc=False),
                alt=False)
    assert v2["name"].endswith("/versions/2") and v2["state"] == "ENABLED", v2
    assert "clientSpecifiedPayloadChecksum" not in v2
    latest = api.ok("GET", f"{SECRETS}/api-token/versions/latest:access")
    assert latest["name"] == f"projects/{number}/secrets/api-token/versions/2", latest
    assert base64.b64decode(latest["payload"]["data"]) == b"second value"
    assert latest["payload"]["dataCrc32c"] == str(crc32c(b"second value")), latest
    first = api.ok("GET", f"/v1/projects/{number}/secrets/api-token/versions/1:access")
    assert base64.b64decode(first["payload"]["data"]) == b"first value"
    for missing in ("3", "0", "some-alias"):
        api.err("GET", f"{SECRETS}/api-token/versions/{missing}:access", None, 404, "NOT_FOUND")
    data = b"third"
    api.ok("POST", f"{SECRETS}/api-token:addVersion",
           {"payload": {"data": base64.b64encode(data).decode(), "data_crc32c": crc32c(data)}})
    # A wrong checksum is refused and stores nothing.
    bad = payload(b"tampered")
    bad["payload"]["dataCrc32c"] = str(crc32c(b"tampered") ^ 1)
    api.err("POST", f"{SECRETS}/api-token:addVersion", bad, 400, "INVALID_ARGUMENT")
    api.err("POST", f"{SECRETS}/api-token:addVersion",
            {"payload": {"data": "", "dataCrc32c": "1"}}, 400, "INVALID_ARGUMENT")
    latest = api.ok("GET", f"{SECRETS}/api-token/versions/latest:access")
    assert latest["name"].endswith("/versions/3"), latest
    # 64 KiB is the limit.
    big = bytes(range(256)) * 256
    assert len(big) == 65536
    v4 = api.ok("POST", f"{SECRETS}/api-token:addVersion", payload(big))
    assert v4["name"].endswith("/versions/4")
    api.err("POST", f"{SECRETS}/api-token:addVersion", payload(big + b"!"), 400,
            "INVALID_ARGUMENT")
    api.err("POST", f"{SECRETS}/api-token:addVersion", payload(big + b"!", crc=False), 400,
            "INVALID_ARGUMENT")
    got = api.ok("GET", f"{SECRETS}/api-token/versions/latest:access")
    assert got["name"].endswith("/versions/4") and base64.b64decode(got["payload"]["data"]) == big
    # Empty payloads have CRC32C 0, which is still sent (the field has presence).
    api.ok("POST", SECRETS + "?secretId=empty", AUTO)
    api.ok("POST", f"{SECRETS}/empty:addVersion", {"payload": {}})
    empty = api.ok("GET", f"{SECRETS}/empty/versions/1:access")
    assert empty["payload"] == {"dataCrc32c": "0"}, empty
    api.err("POST", f"{SECRETS}/empty:addVersion", {}, 400, "INVALID_ARGUMENT")
    api.err("POST", f"{SECRETS}/missing:addVersion", payload(b"x"), 404, "NOT_FOUND")
    api.err("GET", f"{SECRETS}/missing/versions/latest:access", None, 404, "NOT_FOUND")
    # User-managed replication shows in the version's replication status.
    api.ok("POST", SECRETS + "?secretId=regional", {"replication": {"userManaged": {
        "replicas": [{"location": "us-east1"}]}}})
    rv = api.ok("POST", f"{SECRETS}/regional:addVersion", payload(b"r"))
    assert rv["replicationStatus"] == {"userManaged": {"replicas": [{"location": "us-east1"}]}}
    counts = api.ok("GET", "/_standin/calls", alt=False)["counts"]
    assert counts == {"secrets.create": 3, "secrets.addVersion": 12,
                      "secrets.versions.access": 10}, counts


@test
def secret_state_never_holds_payloads(api):
    number = project_number(api)
    api.ok("POST", SECRETS + "?secretId=leak-check", {**AUTO, "labels": {"k": "v"}})
    values = [b"s3cr3t-VALUE-one", b"s3cr3t-VALUE-two"]
    created = [api.ok("POST", f"{SECRETS}/leak-check:addVersion", payload(v)) for v in values]
    state = api.ok("GET", "/_standin/state", alt=False)
    secrets = state["projects"][P]["secrets"]
    assert [s["name"] for s in secrets] == [f"projects/{number}/secrets/leak-check"], secrets
    assert secrets[0]["labels"] == {"k": "v"} and secrets[0]["createTime"].endswith("Z")
    assert secrets[0]["versions"] == [
        {"version": i + 1, "name": c["name"], "createTime": c["createTime"], "state": "ENABLED"}
        for i, c in enumerate(created)], secrets[0]["versions"]
    dumped = json.dumps(state)
    for v in values:
        for form in (v.decode(), base64.b64encode(v).decode(), str(crc32c(v))):
            assert form not in dumped, f"state leaks {form}"
    assert "payload" not in dumped and "dataCrc32c" not in dumped
    log = json.dumps(api.ok("GET", "/_standin/calls", alt=False))
    assert all(base64.b64encode(v).decode() not in log for v in values)


@test
def secret_faults(api):
    api.ok("POST", SECRETS + "?secretId=flaky", AUTO)
    api.ok("POST", "/_standin/faults", [
        {"method": "secrets.create", "fault": "429"},
        {"method": "secrets.get", "fault": "404"},
        {"method": "secrets.addVersion", "fault": "503"},
        {"method": "secrets.versions.access", "fault": "500", "count": 2},
    ], alt=False)
    status, err = api("POST", SECRETS + "?secretId=flaky-2", AUTO)
    assert status == 429 and err["error"]["status"] == "RESOURCE_EXHAUSTED", err
    assert "secretmanager.googleapis.com" in err["error"]["message"], err
    api.err("GET", f"{SECRETS}/flaky", None, 404, "NOT_FOUND")
    api.err("POST", f"{SECRETS}/flaky:addVersion", payload(b"v"), 503, "UNAVAILABLE")
    api.err("GET", f"{SECRETS}/flaky/versions/latest:access", None, 500, "INTERNAL")
    api.err("GET", f"{SECRETS}/flaky/versions/latest:access", None, 500, "INTERNAL")
    assert api.ok("GET", "/_standin/faults", alt=False) == {"faults": []}
    # The faulted calls changed nothing: no flaky-2, no version.
    api.ok("GET", f"{SECRETS}/flaky")
    api.err("GET", f"{SECRETS}/flaky-2", None, 404, "NOT_FOUND")
    api.err("GET", f"{SECRETS}/flaky/versions/latest:access", None, 404, "NOT_FOUND")
    counts = api.ok("GET", "/_standin/calls", alt=False)["counts"]
    assert counts == {"secrets.create": 2, "secrets.get": 3, "secrets.addVersion": 1,
                      "secrets.versions.access": 3}, counts
    status, _ = api("POST", "/_standin/faults", {"method": "secrets.addVersion",
                                                 "fault": "etag_race"}, alt=False)
    assert status == 400
    status, _ = api("POST", "/_standin/faults", {"method": "secrets.nope", "fault": "500"},
                    alt=False)
    assert status == 400
    # Documented methods the stand-in does not serve.
    api.err("GET", SECRETS, None, 501, "UNIMPLEMENTED")
    api.err("DELETE", f"{SECRETS}/flaky", None, 501, "UNIMPLEMENTED")
    api.err("GET", f"{SECRETS}/flaky/versions/1", None, 501, "UNIMPLEMENTED")


@test
def rust_client_request_shapes(api):
    # What google-cloud-secretmanager-v1 sends: `secretId` and `$alt` in the query,
    # the Secret itself as the body of create; `{payload}` for addVersion.
    path = SECRETS + "?secretId=from-rust&%24alt=json%3Benum-encoding%3Dint"
    sec = api.ok("POST", path, {"replication": {"automatic": {}}, "labels": {"managed-by": "nhi"}},
                 alt=False)
    assert sec["name"].endswith("/secrets/from-rust")
    ver = api.ok("POST", f"{SECRETS}/from-rust:addVersion?%24alt=json%3Benum-encoding%3Dint",
                 payload(b"{\"k\": 1}"), alt=False)
    assert ver["state"] == 1
    status, err = api("GET", f"{SECRETS}/from-rust?secretId=x")
    assert status == 400, err  # secretId only binds on create


@test
def reset_restores_seed(api):
    before = api.ok("GET", "/_standin/state", alt=False)
    api.ok("POST", SAS, {"accountId": "temporary"})
    api.ok("POST", SECRETS + "?secretId=temporary", AUTO)
    api.ok("POST", f"{SECRETS}/temporary:addVersion", payload(b"gone after reset"))
    api.ok("POST", "/_standin/reset", alt=False)
    assert api.ok("GET", "/_standin/state", alt=False) == before
    api.ok("POST", "/_standin/reset", {"conditionalSeed": False}, alt=False)
    assert api.policy()["version"] == 1


def main():
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"),
                                 "--port", "0", "--port-file", port_file])
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file):
                assert proc.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.02)
            api = Api(int(open(port_file).read()))
            for t in TESTS:
                t(api)
        finally:
            proc.terminate()
            rc = proc.wait(timeout=5)
        if rc == 0:
            results["passed"] += 1
            print("ok    sigterm_exits_cleanly")
        else:
            results["failed"] += 1
            print(f"FAIL  sigterm_exits_cleanly: exit code {rc}")
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

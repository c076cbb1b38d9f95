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
def reset_restores_seed(api):
    before = api.ok("GET", "/_standin/state", alt=False)
    api.ok("POST", SAS, {"accountId": "temporary"})
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

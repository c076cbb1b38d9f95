#!/usr/bin/env python3
"""A local stand-in for Google Cloud IAM (v1), Cloud Resource Manager (v3) and Secret Manager (v1).

Serves the subset of the REST surface that `nhi`'s GCP provider uses, on one
origin, so that the official Rust client crates can be pointed at it in tests.
Standard library only. See README.md beside this file for what is served, what
is deliberately not, and the `/_standin/` control plane.

    python3 server.py --port 0 --port-file PATH [--project ID ...] [--verbose]
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import unicodedata
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_PROJECT = "nhi-standin"

# --------------------------------------------------------------------------
# Schemas. A faithful subset of the discovery documents (iam.v1,
# cloudresourcemanager.v3 and secretmanager.v1); check_discovery.py verifies
# every entry here against the bundled discovery documents. Field types:
#   "string", "bool", "int32", "int64" (decimal string; a JSON number is
#   accepted on input), "bytes" (base64 string), "timestamp" (RFC 3339 string),
#   "fieldmask" (comma-separated string), ("enum", NAME), ("msg", NAME),
#   ("list", TYPE), ("map", TYPE) (JSON object with string keys).
# --------------------------------------------------------------------------

ENUMS = {
    # Enum values in proto-number order: the index is the integer encoding.
    "ServiceAccountKeyAlgorithm": ["KEY_ALG_UNSPECIFIED", "KEY_ALG_RSA_1024", "KEY_ALG_RSA_2048"],
    "ServiceAccountPrivateKeyType": [
        "TYPE_UNSPECIFIED",
        "TYPE_PKCS12_FILE",
        "TYPE_GOOGLE_CREDENTIALS_FILE",
    ],
    "ServiceAccountPublicKeyType": ["TYPE_NONE", "TYPE_X509_PEM_FILE", "TYPE_RAW_PUBLIC_KEY"],
    "ServiceAccountKeyOrigin": ["ORIGIN_UNSPECIFIED", "USER_PROVIDED", "GOOGLE_PROVIDED"],
    "KeyType": ["KEY_TYPE_UNSPECIFIED", "USER_MANAGED", "SYSTEM_MANAGED"],
    "ServiceAccountKeyDisableReason": [
        "SERVICE_ACCOUNT_KEY_DISABLE_REASON_UNSPECIFIED",
        "SERVICE_ACCOUNT_KEY_DISABLE_REASON_USER_INITIATED",
        "SERVICE_ACCOUNT_KEY_DISABLE_REASON_EXPOSED",
        "SERVICE_ACCOUNT_KEY_DISABLE_REASON_COMPROMISE_DETECTED",
    ],
    "ExtendedStatusKey": [
        "SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_UNSPECIFIED",
        "SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_EXPOSED",
        "SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_COMPROMISE_DETECTED",
    ],
    "LogType": ["LOG_TYPE_UNSPECIFIED", "ADMIN_READ", "DATA_WRITE", "DATA_READ"],
    "SecretVersion.State": ["STATE_UNSPECIFIED", "ENABLED", "DISABLED", "DESTROYED"],
}

SCHEMAS = {
    # iam.v1
    "ServiceAccount": {
        "name": "string",
        "projectId": "string",
        "uniqueId": "string",
        "email": "string",
        "displayName": "string",
        "etag": "bytes",
        "description": "string",
        "oauth2ClientId": "string",
        "disabled": "bool",
    },
    "CreateServiceAccountRequest": {
        "accountId": "string",
        "serviceAccount": ("msg", "ServiceAccount"),
    },
    "PatchServiceAccountRequest": {
        "serviceAccount": ("msg", "ServiceAccount"),
        "updateMask": "fieldmask",
    },
    "ListServiceAccountsResponse": {
        "accounts": ("list", ("msg", "ServiceAccount")),
        "nextPageToken": "string",
    },
    "EnableServiceAccountRequest": {},
    "DisableServiceAccountRequest": {},
    "ServiceAccountKey": {
        "name": "string",
        "privateKeyType": ("enum", "ServiceAccountPrivateKeyType"),
        "keyAlgorithm": ("enum", "ServiceAccountKeyAlgorithm"),
        "privateKeyData": "bytes",
        "publicKeyData": "bytes",
        "validAfterTime": "timestamp",
        "validBeforeTime": "timestamp",
        "keyOrigin": ("enum", "ServiceAccountKeyOrigin"),
        "keyType": ("enum", "KeyType"),
        "disabled": "bool",
        "disableReason": ("enum", "ServiceAccountKeyDisableReason"),
        "extendedStatus": ("list", ("msg", "ExtendedStatus")),
    },
    "ExtendedStatus": {"key": ("enum", "ExtendedStatusKey"), "value": "string"},
    "CreateServiceAccountKeyRequest": {
        "privateKeyType": ("enum", "ServiceAccountPrivateKeyType"),
        "keyAlgorithm": ("enum", "ServiceAccountKeyAlgorithm"),
    },
    "ListServiceAccountKeysResponse": {
        "keys": ("list", ("msg", "ServiceAccountKey")),
    },
    "EnableServiceAccountKeyRequest": {},
    "DisableServiceAccountKeyRequest": {},
    "Empty": {},
    # cloudresourcemanager.v3 (google.iam.v1 types)
    "GetIamPolicyRequest": {"options": ("msg", "GetPolicyOptions")},
    "GetPolicyOptions": {"requestedPolicyVersion": "int32"},
    "SetIamPolicyRequest": {"policy": ("msg", "Policy"), "updateMask": "fieldmask"},
    "Policy": {
        "version": "int32",
        "bindings": ("list", ("msg", "Binding")),
        "auditConfigs": ("list", ("msg", "AuditConfig")),
        "etag": "bytes",
    },
    "Binding": {
        "role": "string",
        "members": ("list", "string"),
        "condition": ("msg", "Expr"),
    },
    "Expr": {
        "expression": "string",
        "title": "string",
        "description": "string",
        "location": "string",
    },
    "AuditConfig": {
        "service": "string",
        "auditLogConfigs": ("list", ("msg", "AuditLogConfig")),
    },
    "AuditLogConfig": {
        "logType": ("enum", "LogType"),
        "exemptedMembers": ("list", "string"),
    },
    # orgpolicy.v2
    "GoogleCloudOrgpolicyV2Policy": {
        "name": "string",
        "spec": ("msg", "GoogleCloudOrgpolicyV2PolicySpec"),
    },
    "GoogleCloudOrgpolicyV2PolicySpec": {
        "rules": ("list", ("msg", "GoogleCloudOrgpolicyV2PolicySpecPolicyRule")),
    },
    "GoogleCloudOrgpolicyV2PolicySpecPolicyRule": {
        "enforce": "bool",
        "condition": ("msg", "GoogleTypeExpr"),
    },
    "GoogleTypeExpr": {
        "expression": "string",
        "title": "string",
        "description": "string",
        "location": "string",
    },
    # secretmanager.v1
    "Secret": {
        "name": "string",
        "replication": ("msg", "Replication"),
        "createTime": "timestamp",
        "labels": ("map", "string"),
        "annotations": ("map", "string"),
        "etag": "string",
    },
    "Replication": {
        "automatic": ("msg", "Automatic"),
        "userManaged": ("msg", "UserManaged"),
    },
    "Automatic": {"customerManagedEncryption": ("msg", "CustomerManagedEncryption")},
    "UserManaged": {"replicas": ("list", ("msg", "Replica"))},
    "Replica": {
        "location": "string",
        "customerManagedEncryption": ("msg", "CustomerManagedEncryption"),
    },
    "CustomerManagedEncryption": {"kmsKeyName": "string"},
    "AddSecretVersionRequest": {"payload": ("msg", "SecretPayload")},
    "SecretPayload": {"data": "bytes", "dataCrc32c": "int64"},
    "SecretVersion": {
        "name": "string",
        "createTime": "timestamp",
        "state": ("enum", "SecretVersion.State"),
        "replicationStatus": ("msg", "ReplicationStatus"),
        "etag": "string",
        "clientSpecifiedPayloadChecksum": "bool",
    },
    "ReplicationStatus": {
        "automatic": ("msg", "AutomaticStatus"),
        "userManaged": ("msg", "UserManagedStatus"),
    },
    "AutomaticStatus": {},
    "UserManagedStatus": {"replicas": ("list", ("msg", "ReplicaStatus"))},
    "ReplicaStatus": {"location": "string"},
    "AccessSecretVersionResponse": {
        "name": "string",
        "payload": ("msg", "SecretPayload"),
    },
}

# Protobuf oneofs among the modelled fields: at most one member may be set.
ONEOFS = {
    "Replication": ("replication", ["automatic", "userManaged"]),
}

# Query parameters every Google REST method accepts (the discovery documents'
# top-level "parameters"), besides the method's own.
SYSTEM_QUERY_PARAMS = {
    "$alt", "alt", "$.xgafv", "access_token", "callback", "fields", "key",
    "oauth_token", "prettyPrint", "quotaUser", "uploadType", "upload_protocol",
}

SA = r"projects/(?P<project>[^/:]+)/serviceAccounts/(?P<sa>[^/:]+)"
KEY = SA + r"/keys/(?P<key>[^/:]+)"
SECRET = r"projects/(?P<project>[^/:]+)/secrets/(?P<secret>[^/:]+)"
VERSION = SECRET + r"/versions/(?P<version>[^/:]+)"
SM_FLAT = "v1/projects/{projectsId}/secrets"

# Routes: (HTTP method, regex on the path, method name, discovery flatPath,
# request schema or None, response schema, query parameters of the method,
# whether this stand-in implements it). Method names are the ones used by the
# control plane (faults, call counts).
ROUTES = [
    ("GET", r"/v1/projects/(?P<project>[^/:]+)/serviceAccounts", "serviceAccounts.list",
     "v1/projects/{projectsId}/serviceAccounts", None, "ListServiceAccountsResponse",
     {"pageSize", "pageToken"}, True),
    ("POST", r"/v1/projects/(?P<project>[^/:]+)/serviceAccounts", "serviceAccounts.create",
     "v1/projects/{projectsId}/serviceAccounts", "CreateServiceAccountRequest", "ServiceAccount",
     set(), True),
    ("GET", "/v1/" + SA, "serviceAccounts.get",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}", None, "ServiceAccount",
     set(), True),
    ("PATCH", "/v1/" + SA, "serviceAccounts.patch",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}", "PatchServiceAccountRequest",
     "ServiceAccount", set(), True),
    ("DELETE", "/v1/" + SA, "serviceAccounts.delete",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}", None, "Empty", set(), True),
    ("POST", "/v1/" + SA + ":disable", "serviceAccounts.disable",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}:disable",
     "DisableServiceAccountRequest", "Empty", set(), True),
    ("POST", "/v1/" + SA + ":enable", "serviceAccounts.enable",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}:enable",
     "EnableServiceAccountRequest", "Empty", set(), True),
    ("GET", "/v1/" + SA + "/keys", "serviceAccounts.keys.list",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}/keys", None,
     "ListServiceAccountKeysResponse", {"keyTypes"}, True),
    ("POST", "/v1/" + SA + "/keys", "serviceAccounts.keys.create",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}/keys",
     "CreateServiceAccountKeyRequest", "ServiceAccountKey", set(), True),
    ("GET", "/v1/" + KEY, "serviceAccounts.keys.get",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}/keys/{keysId}", None,
     "ServiceAccountKey", {"publicKeyType"}, True),
    ("DELETE", "/v1/" + KEY, "serviceAccounts.keys.delete",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}/keys/{keysId}", None,
     "Empty", set(), True),
    ("POST", "/v1/" + KEY + ":disable", "serviceAccounts.keys.disable",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}/keys/{keysId}:disable",
     "DisableServiceAccountKeyRequest", "Empty", set(), True),
    ("POST", "/v1/" + KEY + ":enable", "serviceAccounts.keys.enable",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}/keys/{keysId}:enable",
     "EnableServiceAccountKeyRequest", "Empty", set(), True),
    ("POST", r"/v3/projects/(?P<project>[^/:]+):getIamPolicy", "getIamPolicy",
     "v3/projects/{projectsId}:getIamPolicy", "GetIamPolicyRequest", "Policy", set(), True),
    ("POST", r"/v3/projects/(?P<project>[^/:]+):setIamPolicy", "setIamPolicy",
     "v3/projects/{projectsId}:setIamPolicy", "SetIamPolicyRequest", "Policy", set(), True),
    # Organization Policy v2: the project's effective policy of one constraint.
    ("GET", r"/v2/projects/(?P<project>[^/:]+)/policies/(?P<constraint>[^/:]+):getEffectivePolicy",
     "policies.getEffectivePolicy", "v2/projects/{projectsId}/policies/{policiesId}:getEffectivePolicy",
     None, "GoogleCloudOrgpolicyV2Policy", set(), True),
    # Secret Manager v1. The Rust client sends the Secret itself as the body of
    # create and the secret id as a query parameter.
    ("POST", r"/v1/projects/(?P<project>[^/:]+)/secrets", "secrets.create",
     SM_FLAT, "Secret", "Secret", {"secretId"}, True),
    ("GET", "/v1/" + SECRET, "secrets.get",
     SM_FLAT + "/{secretsId}", None, "Secret", set(), True),
    ("POST", "/v1/" + SECRET + ":addVersion", "secrets.addVersion",
     SM_FLAT + "/{secretsId}:addVersion", "AddSecretVersionRequest", "SecretVersion", set(),
     True),
    ("GET", "/v1/" + VERSION + ":access", "secrets.versions.access",
     SM_FLAT + "/{secretsId}/versions/{versionsId}:access", None,
     "AccessSecretVersionResponse", set(), True),
    # Documented by Google, not served here: answered with 501 UNIMPLEMENTED.
    ("PUT", "/v1/" + SA, "serviceAccounts.update",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}", None, None, set(), False),
    ("POST", "/v1/" + SA + ":undelete", "serviceAccounts.undelete",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}:undelete", None, None, set(),
     False),
    ("POST", "/v1/" + SA + ":signBlob", "serviceAccounts.signBlob",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}:signBlob", None, None, set(),
     False),
    ("POST", "/v1/" + SA + ":signJwt", "serviceAccounts.signJwt",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}:signJwt", None, None, set(),
     False),
    ("POST", "/v1/" + SA + ":getIamPolicy", "serviceAccounts.getIamPolicy",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}:getIamPolicy", None, None,
     set(), False),
    ("POST", "/v1/" + SA + ":setIamPolicy", "serviceAccounts.setIamPolicy",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}:setIamPolicy", None, None,
     set(), False),
    ("POST", "/v1/" + SA + ":testIamPermissions", "serviceAccounts.testIamPermissions",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}:testIamPermissions", None,
     None, set(), False),
    ("POST", "/v1/" + SA + "/keys:upload", "serviceAccounts.keys.upload",
     "v1/projects/{projectsId}/serviceAccounts/{serviceAccountsId}/keys:upload", None, None,
     set(), False),
    ("GET", r"/v1/projects/(?P<project>[^/:]+)/secrets", "secrets.list", SM_FLAT, None, None,
     set(), False),
    ("PATCH", "/v1/" + SECRET, "secrets.patch", SM_FLAT + "/{secretsId}", None, None, set(),
     False),
    ("DELETE", "/v1/" + SECRET, "secrets.delete", SM_FLAT + "/{secretsId}", None, None, set(),
     False),
    ("GET", "/v1/" + SECRET + ":getIamPolicy", "secrets.getIamPolicy",
     SM_FLAT + "/{secretsId}:getIamPolicy", None, None, set(), False),
    ("POST", "/v1/" + SECRET + ":setIamPolicy", "secrets.setIamPolicy",
     SM_FLAT + "/{secretsId}:setIamPolicy", None, None, set(), False),
    ("GET", "/v1/" + SECRET + "/versions", "secrets.versions.list",
     SM_FLAT + "/{secretsId}/versions", None, None, set(), False),
    ("GET", "/v1/" + VERSION, "secrets.versions.get",
     SM_FLAT + "/{secretsId}/versions/{versionsId}", None, None, set(), False),
    ("POST", "/v1/" + VERSION + ":disable", "secrets.versions.disable",
     SM_FLAT + "/{secretsId}/versions/{versionsId}:disable", None, None, set(), False),
    ("POST", "/v1/" + VERSION + ":enable", "secrets.versions.enable",
     SM_FLAT + "/{secretsId}/versions/{versionsId}:enable", None, None, set(), False),
    ("POST", "/v1/" + VERSION + ":destroy", "secrets.versions.destroy",
     SM_FLAT + "/{secretsId}/versions/{versionsId}:destroy", None, None, set(), False),
]
COMPILED_ROUTES = [(m, re.compile("^" + rx + "$"), *rest) for (m, rx, *rest) in ROUTES]

STATUS_FOR_HTTP = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}

# Google's service account etag is a deprecated constant.
SA_ETAG = base64.b64encode(b"01021920").decode()
# What Google returns as the etag of a resource that has no policy at all.
EMPTY_POLICY_ETAG = b"\x00\x20\x01"

ACCOUNT_ID_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
ROLE_RE = re.compile(
    r"^(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+)$")
MEMBER_PREFIXES = (
    "user:", "serviceAccount:", "group:", "domain:", "deleted:user:",
    "deleted:serviceAccount:", "deleted:group:", "principal://", "principalSet://",
    "projectOwner:", "projectEditor:", "projectViewer:",
)
MEMBER_WORDS = ("allUsers", "allAuthenticatedUsers")
RACE_MEMBER = "user:other-writer@example.com"
RACE_ROLES = ["roles/viewer", "roles/browser", "roles/iam.securityReviewer", "roles/logging.viewer"]
FAULTS = ("404", "429", "500", "503", "etag_race")
USER_KEY_LIMIT = 10
POLICY_PRINCIPAL_LIMIT = 1500
SECRET_ID_RE = re.compile(r"[a-zA-Z0-9_-]{1,255}")
ANNOTATION_KEY_RE = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?")
SECRET_PAYLOAD_LIMIT = 65536  # "Must be no larger than 64KiB."
SECRET_LABEL_LIMIT = 64
ANNOTATIONS_SIZE_LIMIT = 16384
NO_EXPIRY = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)


class ApiError(Exception):
    def __init__(self, http, message, status=None, details=None):
        super().__init__(message)
        self.http = http
        self.status = status or STATUS_FOR_HTTP[http]
        self.message = message
        self.details = details

    def body(self):
        err = {"code": self.http, "message": self.message, "status": self.status}
        if self.details:
            err["details"] = self.details
        return {"error": err}


def invalid(message):
    return ApiError(400, message)


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_precise():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339_precise(t):
    # Secret Manager's times carry fractional seconds.
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as Secret Manager's dataCrc32c: crc32c(b"123456789") == 0xE3069283."""
    crc = 0xFFFFFFFF
    table = CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def b64(data):
    return base64.b64encode(data).decode()


def snake_to_camel(s):
    head, *rest = s.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def project_number(project_id):
    digest = int.from_bytes(hashlib.sha256(project_id.encode()).digest()[:8], "big")
    return str(100000000000 + digest % 900000000000)


# --------------------------------------------------------------------------
# Request decoding: proto3 JSON as Google's front end parses it. Unknown
# fields are rejected, lowerCamel and original snake_case names are both
# accepted, null means "not set", enums may be names or numbers.
# --------------------------------------------------------------------------

def decode_message(value, schema, path):
    if not isinstance(value, dict):
        raise invalid(f"Invalid JSON payload received. Expected an object at '{path or 'body'}'.")
    fields = SCHEMAS[schema]
    out = {}
    for raw_key, raw_val in value.items():
        key = snake_to_camel(raw_key) if "_" in raw_key else raw_key
        if key not in fields:
            where = f" at '{path}'" if path else ""
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{raw_key}"{where}: Cannot find field.')
        if raw_val is None:
            continue
        sub = f"{path}.{key}" if path else key
        out[key] = decode_value(raw_val, fields[key], sub)
    if schema in ONEOFS:
        oneof, members = ONEOFS[schema]
        present = [k for k in members if k in out]
        if len(present) > 1:
            raise invalid(f"Invalid JSON payload received. Oneof field '{oneof}' is already set. "
                          f"Cannot set '{present[1]}'")
    return out


def decode_value(value, ftype, path):
    def bad():
        return invalid(f"Invalid value at '{path}' ({type_label(ftype)}), {json.dumps(value)}")

    if isinstance(ftype, tuple):
        kind, arg = ftype
        if kind == "msg":
            return decode_message(value, arg, path)
        if kind == "list":
            if not isinstance(value, list):
                raise bad()
            return [decode_value(v, arg, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "enum":
            return decode_enum(value, arg, bad)
        if kind == "map":
            if not isinstance(value, dict):
                raise bad()
            out = {}
            for k, v in value.items():
                if v is None:
                    raise invalid(f"Invalid value at '{path}[{k}]', null")
                out[k] = decode_value(v, arg, f"{path}[{k}]")
            return out
    if ftype in ("string", "fieldmask", "timestamp"):
        if not isinstance(value, str):
            raise bad()
        if ftype == "fieldmask":
            return [p.strip() for p in value.split(",") if p.strip()]
        return value
    if ftype == "bytes":
        if not isinstance(value, str):
            raise bad()
        try:
            padded = value + "=" * (-len(value) % 4)
            return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise bad() from None
    if ftype == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if ftype in ("int32", "int64"):
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad()
    raise AssertionError(ftype)


def decode_enum(value, enum, bad):
    names = ENUMS[enum]
    if isinstance(value, bool):
        raise bad()
    if isinstance(value, int):
        if 0 <= value < len(names):
            return names[value]
        raise bad()
    if isinstance(value, str):
        if value in names:
            return value
        if re.fullmatch(r"\d+", value) and int(value) < len(names):
            return names[int(value)]
    raise bad()


def type_label(ftype):
    if isinstance(ftype, tuple):
        return {"msg": "TYPE_MESSAGE", "list": "TYPE_REPEATED", "enum": "TYPE_ENUM",
                "map": "TYPE_MESSAGE"}[ftype[0]]
    return {"string": "TYPE_STRING", "fieldmask": "TYPE_STRING", "timestamp": "TYPE_STRING",
            "bytes": "TYPE_BYTES", "bool": "TYPE_BOOL", "int32": "TYPE_INT32",
            "int64": "TYPE_INT64"}[ftype]


# --------------------------------------------------------------------------
# Response encoding: default values are omitted, enums are names, or numbers
# when the caller asked for `$alt=json;enum-encoding=int` (the Rust clients do).
# --------------------------------------------------------------------------

def encode_message(value, schema, int_enums):
    fields = SCHEMAS[schema]
    out = {}
    for key, val in value.items():
        if key not in fields:
            raise AssertionError(f"{schema}.{key} is not in the schema")
        enc = encode_value(val, fields[key], int_enums)
        if enc is not None:
            out[key] = enc
    return out


def encode_value(value, ftype, int_enums):
    if value is None:
        return None
    if isinstance(ftype, tuple):
        kind, arg = ftype
        if kind == "msg":
            return encode_message(value, arg, int_enums)
        if kind == "list":
            return [encode_value(v, arg, int_enums) for v in value] or None
        if kind == "enum":
            if value == ENUMS[arg][0]:
                return None
            return ENUMS[arg].index(value) if int_enums else value
        if kind == "map":
            # Map entries are kept even when their value is the default.
            out = {}
            for k, v in value.items():
                enc = encode_value(v, arg, int_enums)
                out[k] = enc if enc is not None else ("" if arg == "string" else enc)
            return out or None
    if ftype == "int64":
        # Only optional int64 fields (with presence) are modelled: 0 is kept.
        return str(value)
    if ftype == "bytes":
        return b64(value) if value else None
    if ftype == "int32":
        return value or None
    if ftype == "bool":
        return True if value else None
    return value or None


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------

class State:
    def __init__(self, projects, conditional_seed=True, user_key_validity_hours=0):
        self.project_ids = list(projects)
        self.user_key_validity_hours = user_key_validity_hours
        # Seeded resources carry this time, so a reset reproduces them exactly.
        self.epoch = now()
        self.lock = threading.RLock()
        self.reset(conditional_seed)

    # ---- seeding -------------------------------------------------------

    def reset(self, conditional_seed=True):
        with self.lock:
            self.rng = random.Random("nhi-standin:" + ",".join(self.project_ids))
            self.etag_counter = 0
            self.projects = {}
            self.faults = []
            self.calls = {}
            self.log = []
            # Seconds a new service account stays invisible to everything but
            # the listing (see `hidden`).
            self.propagation = 0.0
            for pid in self.project_ids:
                self.projects[pid] = self.seed_project(pid, conditional_seed)

    def seed_project(self, pid, conditional_seed):
        number = project_number(pid)
        proj = {"id": pid, "number": number, "accounts": {}, "keys": {}, "policy": None,
                "secrets": {}, "enforced": set()}
        compute = f"{number}-compute@developer.gserviceaccount.com"
        self.add_account(proj, account_id=f"{number}-compute", email=compute,
                         display_name="Compute Engine default service account", description="",
                         at=self.epoch)
        bindings = [
            {"role": "roles/owner", "members": ["user:owner@example.com"]},
            {"role": "roles/editor", "members": [
                f"serviceAccount:{compute}",
                f"serviceAccount:{number}@cloudservices.gserviceaccount.com",
            ]},
            {"role": "roles/viewer", "members": [
                "group:auditors@example.com", "user:alice@example.com"]},
            {"role": "roles/compute.serviceAgent", "members": [
                f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com"]},
            {"role": "roles/pubsub.serviceAgent", "members": [
                f"serviceAccount:service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com"]},
            {"role": "roles/artifactregistry.serviceAgent", "members": [
                f"serviceAccount:service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"]},
        ]
        if conditional_seed:
            bindings.append({
                "role": "roles/iam.securityReviewer",
                "members": ["group:oncall@example.com"],
                "condition": {
                    "title": "until end of 2030",
                    "description": "temporary access for the on-call rotation",
                    "expression": "request.time < timestamp('2031-01-01T00:00:00Z')",
                },
            })
        proj["policy"] = {"bindings": bindings, "auditConfigs": [], "etag": self.new_etag()}
        return proj

    def new_etag(self):
        self.etag_counter += 1
        # Google's policy etags are 8 opaque bytes, typically starting with 0x07.
        return b"\x07\x06" + self.etag_counter.to_bytes(2, "big") + self.rng.randbytes(4)

    def new_unique_id(self):
        return "1" + "".join(str(self.rng.randrange(10)) for _ in range(20))

    def add_account(self, proj, account_id, email, display_name, description, at=None):
        uid = self.new_unique_id()
        acct = {
            "accountId": account_id,
            "email": email,
            "uniqueId": uid,
            "displayName": display_name,
            "description": description,
            "disabled": False,
        }
        if self.propagation:
            acct["visibleAt"] = time.monotonic() + self.propagation
        proj["accounts"][uid] = acct
        after = at or now()
        proj["keys"][uid] = [self.new_key(after, after + datetime.timedelta(days=16),
                                          "SYSTEM_MANAGED", "KEY_ALG_RSA_2048")]
        return acct

    def new_key(self, valid_after, valid_before, key_type, algorithm):
        return {
            "id": self.rng.randbytes(20).hex(),
            "validAfterTime": valid_after,
            "validBeforeTime": valid_before,
            "keyAlgorithm": algorithm,
            "keyOrigin": "GOOGLE_PROVIDED",
            "keyType": key_type,
            "disabled": False,
        }

    # ---- lookups -------------------------------------------------------

    def project(self, pid, permission):
        proj = self.projects.get(pid)
        if proj is None:
            raise ApiError(403, f"Permission '{permission}' denied on resource "
                                "(or it may not exist).")
        return proj

    def secret_project(self, ref, permission):
        """Secret Manager takes a project id or number; its names use the number."""
        for proj in self.projects.values():
            if ref in (proj["id"], proj["number"]):
                return proj
        raise ApiError(403, f"Permission '{permission}' denied for resource 'projects/{ref}' "
                            "(or it may not exist).")

    def find_secret(self, ref, secret_id, permission):
        proj = self.secret_project(ref, permission)
        sec = proj["secrets"].get(secret_id)
        if sec is None:
            raise ApiError(404, f"Secret [projects/{proj['number']}/secrets/{secret_id}] "
                                "not found.")
        return proj, sec

    def find_account(self, pid, ident, permission):
        """Resolves `projects/{pid}/serviceAccounts/{ident}` (email or unique id)."""
        if pid == "-":
            candidates = list(self.projects.values())
        else:
            candidates = [self.project(pid, permission)]
        ident_l = ident.lower()
        for proj in candidates:
            for acct in proj["accounts"].values():
                if acct["uniqueId"] == ident or acct["email"].lower() == ident_l:
                    if hidden(acct):
                        break
                    return proj, acct
        if pid == "-":
            raise ApiError(403, f"Permission '{permission}' denied on resource "
                                "(or it may not exist).")
        raise ApiError(404, f"Unknown service account")

    def find_key(self, pid, ident, key_id, permission):
        proj, acct = self.find_account(pid, ident, permission)
        for key in proj["keys"][acct["uniqueId"]]:
            if key["id"] == key_id:
                return proj, acct, key
        raise ApiError(404, f"Unknown service account key")

    # ---- resource views ------------------------------------------------

    def account_view(self, proj, acct):
        return {
            "name": f"projects/{proj['id']}/serviceAccounts/{acct['email']}",
            "projectId": proj["id"],
            "uniqueId": acct["uniqueId"],
            "email": acct["email"],
            "displayName": acct["displayName"],
            "etag": base64.b64decode(SA_ETAG),
            "description": acct["description"],
            "oauth2ClientId": acct["uniqueId"],
            "disabled": acct["disabled"],
        }

    def key_view(self, proj, acct, key):
        return {
            "name": f"projects/{proj['id']}/serviceAccounts/{acct['email']}/keys/{key['id']}",
            "validAfterTime": rfc3339(key["validAfterTime"]),
            "validBeforeTime": rfc3339(key["validBeforeTime"]),
            "keyAlgorithm": key["keyAlgorithm"],
            "keyOrigin": key["keyOrigin"],
            "keyType": key["keyType"],
            "disabled": key["disabled"],
            "disableReason": key.get("disableReason", ENUMS["ServiceAccountKeyDisableReason"][0]),
            "extendedStatus": key.get("extendedStatus", []),
        }

    def secret_view(self, proj, sec):
        return {
            "name": f"projects/{proj['number']}/secrets/{sec['id']}",
            "replication": sec["replication"],
            "createTime": rfc3339_precise(sec["createTime"]),
            "labels": sec["labels"],
            "annotations": sec["annotations"],
            "etag": sec["etag"],
        }

    def version_view(self, proj, sec, ver):
        if "userManaged" in sec["replication"]:
            status = {"userManaged": {"replicas": [
                {"location": r.get("location", "")}
                for r in sec["replication"]["userManaged"]["replicas"]]}}
        else:
            status = {"automatic": {}}
        return {
            "name": f"projects/{proj['number']}/secrets/{sec['id']}/versions/{ver['number']}",
            "createTime": rfc3339_precise(ver["createTime"]),
            "state": ver["state"],
            "replicationStatus": status,
            "etag": ver["etag"],
            "clientSpecifiedPayloadChecksum": ver["clientChecksum"],
        }

    def policy_view(self, proj, requested_version):
        pol = proj["policy"]
        has_conditions = any("condition" in b for b in pol["bindings"])
        bindings = []
        for b in pol["bindings"]:
            b = json.loads(json.dumps(b))
            if "condition" in b and requested_version < 3:
                # Google's documented downgrade for callers that cannot see
                # conditions: the role name gets a `_withcond_` suffix and the
                # condition is left out.
                digest = hashlib.sha256(
                    json.dumps(b["condition"], sort_keys=True).encode()).hexdigest()[:20]
                b["role"] = f"{b['role']}_withcond_{digest}"
                del b["condition"]
            bindings.append(b)
        version = 3 if has_conditions and requested_version >= 3 else 1
        return {"version": version, "bindings": bindings,
                "auditConfigs": pol["auditConfigs"], "etag": pol["etag"]}

    # ---- faults and accounting ---------------------------------------------

    def record(self, method, status, query):
        self.calls[method] = self.calls.get(method, 0) + 1
        entry = {"method": method, "status": status, "at": round(time.monotonic(), 3)}
        if method == "serviceAccounts.list":
            entry["pageToken"] = query.get("pageToken", [""])[0]
            entry["pageSize"] = query.get("pageSize", [""])[0]
        self.log.append(entry)

    def take_fault(self, method):
        for f in self.faults:
            if f["method"] not in (method, "*"):
                continue
            if f["fault"] == "etag_race" and method != "setIamPolicy":
                continue
            f["count"] -= 1
            if f["count"] <= 0:
                self.faults.remove(f)
            return f
        return None

    def race(self, proj):
        """Another writer changes the policy (and so its etag)."""
        pol = proj["policy"]
        for role in RACE_ROLES:
            existing = [b for b in pol["bindings"] if b["role"] == role and "condition" not in b]
            if existing and RACE_MEMBER in existing[0]["members"]:
                continue
            if existing:
                existing[0]["members"].append(RACE_MEMBER)
            else:
                pol["bindings"].append({"role": role, "members": [RACE_MEMBER]})
            break
        pol["etag"] = self.new_etag()

    def dump(self):
        out = {"projects": {}, "faults": json.loads(json.dumps(self.faults))}
        for pid, proj in self.projects.items():
            accounts = sorted(proj["accounts"].values(), key=lambda a: a["email"])
            out["projects"][pid] = {
                "projectNumber": proj["number"],
                "serviceAccounts": [
                    encode_message(self.account_view(proj, a), "ServiceAccount", False)
                    for a in accounts],
                "keys": {
                    a["email"]: [encode_message(self.key_view(proj, a, k), "ServiceAccountKey",
                                                False) for k in proj["keys"][a["uniqueId"]]]
                    for a in accounts},
                "policy": encode_message(self.policy_view(proj, 3), "Policy", False),
                # Metadata only: payloads (and their checksums) are never dumped.
                "secrets": [self.secret_state(proj, s)
                            for _, s in sorted(proj["secrets"].items())],
            }
        return out

    def secret_state(self, proj, sec):
        out = encode_message(self.secret_view(proj, sec), "Secret", False)
        out["versions"] = []
        for ver in sec["versions"]:
            v = encode_message(self.version_view(proj, sec, ver), "SecretVersion", False)
            out["versions"].append({"version": ver["number"], "name": v["name"],
                                    "createTime": v["createTime"], "state": v["state"]})
        return out


# --------------------------------------------------------------------------
# API methods. Each takes (state, match groups, query, decoded body) and
# returns (response schema value).
# --------------------------------------------------------------------------

def page_token_encode(email):
    return base64.urlsafe_b64encode(("after:" + email).encode()).decode().rstrip("=")


def page_token_decode(token):
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raw = ""
    if not raw.startswith("after:"):
        raise invalid("Invalid page token.")
    return raw[len("after:"):]


def query_int(query, name, default):
    vals = query.get(name)
    if not vals or vals[-1] == "":
        return default
    try:
        return int(vals[-1])
    except ValueError:
        raise invalid(f"Invalid value at '{snake(name)}' (TYPE_INT32), \"{vals[-1]}\"") from None


def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def sa_list(st, g, q, body):
    proj = st.project(g["project"], "iam.serviceAccounts.list")
    size = query_int(q, "pageSize", 0)
    if size < 0:
        raise invalid("Invalid page size: must not be negative.")
    size = 20 if size == 0 else min(size, 100)
    token = q.get("pageToken", [""])[-1]
    after = page_token_decode(token) if token else None
    accounts = sorted(proj["accounts"].values(), key=lambda a: a["email"])
    if after is not None:
        accounts = [a for a in accounts if a["email"] > after]
    page = accounts[:size]
    resp = {"accounts": [st.account_view(proj, a) for a in page]}
    if len(accounts) > size:
        resp["nextPageToken"] = page_token_encode(page[-1]["email"])
    return resp


def sa_create(st, g, q, body):
    if g["project"] == "-":
        raise invalid("The project ID `-` is not allowed when creating a service account.")
    proj = st.project(g["project"], "iam.serviceAccounts.create")
    account_id = body.get("accountId", "")
    if not account_id:
        raise invalid("account_id is required.")
    if not (6 <= len(account_id) <= 30) or not ACCOUNT_ID_RE.match(account_id):
        raise invalid(
            f"Invalid account ID '{account_id}'. Account ID must be between 6 and 30 characters, "
            "start with a lowercase letter, and consist of lowercase alphanumeric characters "
            "and dashes, ending with a letter or digit ([a-z]([-a-z0-9]*[a-z0-9])).")
    sa = body.get("serviceAccount", {})
    check_sa_text(sa)
    email = f"{account_id}@{proj['id']}.iam.gserviceaccount.com"
    if any(a["email"] == email for a in proj["accounts"].values()):
        raise ApiError(409, f"Service account {account_id} already exists within project "
                            f"projects/{proj['id']}.", status="ALREADY_EXISTS")
    acct = st.add_account(proj, account_id, email, sa.get("displayName", ""),
                          sa.get("description", ""))
    return st.account_view(proj, acct)


def check_sa_text(sa):
    if len(sa.get("displayName", "")) > 100:
        raise invalid("Display name must be at most 100 characters.")
    if len(sa.get("description", "")) > 256:
        raise invalid("Description must be at most 256 characters.")


def sa_get(st, g, q, body):
    proj, acct = st.find_account(g["project"], g["sa"], "iam.serviceAccounts.get")
    return st.account_view(proj, acct)


def sa_patch(st, g, q, body):
    proj, acct = st.find_account(g["project"], g["sa"], "iam.serviceAccounts.update")
    sa = body.get("serviceAccount")
    if sa is None:
        raise invalid("service_account is required.")
    mask = body.get("updateMask", [])
    if not mask:
        raise invalid("update_mask is required.")
    paths = set()
    for p in mask:
        p = snake_to_camel(p)
        if p not in ("displayName", "description"):
            raise invalid(f"Invalid update_mask path '{p}': only display_name and description "
                          "can be updated.")
        paths.add(p)
    check_sa_text(sa)
    for p in paths:
        acct[p] = sa.get(p, "")
    return st.account_view(proj, acct)


def sa_delete(st, g, q, body):
    proj, acct = st.find_account(g["project"], g["sa"], "iam.serviceAccounts.delete")
    del proj["accounts"][acct["uniqueId"]]
    del proj["keys"][acct["uniqueId"]]
    # Google keeps the bindings of a deleted service account, rewritten to
    # `deleted:serviceAccount:EMAIL?uid=UNIQUE_ID`, until someone removes them;
    # an undelete (within 30 days) of that very account reverts them
    # (https://cloud.google.com/iam/docs/service-accounts-delete-undelete,
    # https://cloud.google.com/iam/docs/principal-identifiers#deleted).
    old = f"serviceAccount:{acct['email']}"
    new = f"deleted:serviceAccount:{acct['email']}?uid={acct['uniqueId']}"
    for other in st.projects.values():
        changed = False
        for b in other["policy"]["bindings"]:
            if old in b["members"]:
                b["members"] = [new if m == old else m for m in b["members"]]
                changed = True
        if changed:
            other["policy"]["etag"] = st.new_etag()
    return {}


def sa_set_disabled(disabled):
    def handler(st, g, q, body):
        perm = "iam.serviceAccounts.disable" if disabled else "iam.serviceAccounts.enable"
        _, acct = st.find_account(g["project"], g["sa"], perm)
        acct["disabled"] = disabled
        return {}
    return handler


def keys_list(st, g, q, body):
    proj, acct = st.find_account(g["project"], g["sa"], "iam.serviceAccountKeys.list")
    wanted = []
    for raw in q.get("keyTypes", []):
        name = decode_enum(raw, "KeyType",
                           lambda: invalid(f"Invalid value at 'key_types' (TYPE_ENUM), \"{raw}\""))
        if name == "KEY_TYPE_UNSPECIFIED":
            raise invalid("Key type KEY_TYPE_UNSPECIFIED is not allowed.")
        if name in wanted:
            raise invalid(f"Duplicate key type {name}.")
        wanted.append(name)
    keys = [k for k in proj["keys"][acct["uniqueId"]] if not wanted or k["keyType"] in wanted]
    return {"keys": [st.key_view(proj, acct, k) for k in keys]}


def keys_get(st, g, q, body):
    proj, acct, key = st.find_key(g["project"], g["sa"], g["key"], "iam.serviceAccountKeys.get")
    raw = q.get("publicKeyType", ["0"])[-1] or "0"
    kind = decode_enum(raw, "ServiceAccountPublicKeyType",
                       lambda: invalid(f"Invalid value at 'public_key_type' (TYPE_ENUM), \"{raw}\""))
    view = st.key_view(proj, acct, key)
    if kind == "TYPE_X509_PEM_FILE":
        view["publicKeyData"] = fake_pem("CERTIFICATE", key["id"].encode() + b"cert", 780)
    elif kind == "TYPE_RAW_PUBLIC_KEY":
        view["publicKeyData"] = fake_der(key["id"].encode() + b"raw", 270)
    return view


def keys_create(st, g, q, body):
    proj, acct = st.find_account(g["project"], g["sa"], "iam.serviceAccountKeys.create")
    keys = proj["keys"][acct["uniqueId"]]
    refused = key_creation_refused(proj)
    if refused is not None:
        raise refused
    if sum(1 for k in keys if k["keyType"] == "USER_MANAGED") >= USER_KEY_LIMIT:
        # What Google answers today at the documented limit of 10 keys.
        raise ApiError(400, "Precondition check failed.", status="FAILED_PRECONDITION")
    key_type = body.get("privateKeyType", "TYPE_UNSPECIFIED")
    if key_type == "TYPE_UNSPECIFIED":
        key_type = "TYPE_GOOGLE_CREDENTIALS_FILE"
    algorithm = body.get("keyAlgorithm", "KEY_ALG_UNSPECIFIED")
    if algorithm == "KEY_ALG_UNSPECIFIED":
        algorithm = "KEY_ALG_RSA_2048"
    after = now()
    if st.user_key_validity_hours:
        before = after + datetime.timedelta(hours=st.user_key_validity_hours)
    else:
        before = NO_EXPIRY
    key = st.new_key(after, before, "USER_MANAGED", algorithm)
    keys.append(key)
    view = st.key_view(proj, acct, key)
    view["privateKeyType"] = key_type
    if key_type == "TYPE_GOOGLE_CREDENTIALS_FILE":
        view["privateKeyData"] = credentials_file(st, proj, acct, key, algorithm)
    else:
        view["privateKeyData"] = st.rng.randbytes(2500)  # stands in for a PKCS#12 file
    return view


def keys_delete(st, g, q, body):
    proj, acct, key = st.find_key(g["project"], g["sa"], g["key"],
                                  "iam.serviceAccountKeys.delete")
    if key["keyType"] == "SYSTEM_MANAGED":
        raise invalid("System-managed keys cannot be deleted.")
    proj["keys"][acct["uniqueId"]].remove(key)
    return {}


def keys_set_disabled(disabled):
    def handler(st, g, q, body):
        perm = "iam.serviceAccountKeys.disable" if disabled else "iam.serviceAccountKeys.enable"
        _, _, key = st.find_key(g["project"], g["sa"], g["key"], perm)
        if key["keyType"] == "SYSTEM_MANAGED":
            raise invalid("System-managed keys cannot be disabled or enabled.")
        key["disabled"] = disabled
        if disabled:
            key.setdefault("disableReason", "SERVICE_ACCOUNT_KEY_DISABLE_REASON_USER_INITIATED")
        else:
            key.pop("disableReason", None)
        return {}
    return handler


def fake_der(seed, size):
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:size]


def fake_pem(label, seed, size):
    body = base64.b64encode(fake_der(seed, size)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def credentials_file(st, proj, acct, key, algorithm):
    """A service account credentials file: well-formed, the key inside is not."""
    size = 1216 if algorithm == "KEY_ALG_RSA_2048" else 634
    # PKCS#8 header for an RSA key of the usual length, then filler bytes.
    header = bytes.fromhex("308204bc020100300d06092a864886f70d0101010500048204a6") \
        if size == 1216 else bytes.fromhex("30820276020100300d06092a864886f70d0101010500048202")
    der = header + st.rng.randbytes(size - len(header))
    body = base64.b64encode(der).decode()
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(
        body[i:i + 64] for i in range(0, len(body), 64)) + "\n-----END PRIVATE KEY-----\n"
    email = acct["email"]
    doc = {
        "type": "service_account",
        "project_id": proj["id"],
        "private_key_id": key["id"],
        "private_key": pem,
        "client_email": email,
        "client_id": acct["uniqueId"],
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
                                + urllib.parse.quote(email),
        "universe_domain": "googleapis.com",
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


# ---- Secret Manager --------------------------------------------------------

def secret_etag(t):
    # Secret Manager's etags are a quoted hex string.
    return '"%x"' % (int(t.timestamp()) * 1000000 + t.microsecond)


def is_label_char(ch, first):
    cat = unicodedata.category(ch)
    if cat in ("Ll", "Lo"):
        return True
    return not first and (cat in ("Nd", "Nl", "No") or ch in "_-")


def check_labels(labels):
    if len(labels) > SECRET_LABEL_LIMIT:
        raise invalid(f"A resource can have at most {SECRET_LABEL_LIMIT} labels.")
    for k, v in labels.items():
        if not (1 <= len(k) <= 63 and len(k.encode()) <= 128
                and is_label_char(k[0], True) and all(is_label_char(c, False) for c in k[1:])):
            raise invalid(f"Invalid label key '{k}': label keys must start with a lowercase "
                          "letter and contain only lowercase letters, digits, '_' and '-' "
                          "(at most 63 characters).")
        if not (len(v) <= 63 and len(v.encode()) <= 128
                and all(is_label_char(c, False) for c in v)):
            raise invalid(f"Invalid value '{v}' for label key '{k}': label values contain only "
                          "lowercase letters, digits, '_' and '-' (at most 63 characters).")


def check_annotations(annotations):
    size = 0
    for k, v in annotations.items():
        if not ANNOTATION_KEY_RE.fullmatch(k) or len(k.encode()) > 128:
            raise invalid(f"Invalid annotation key '{k}'.")
        size += len(k.encode()) + len(v.encode())
    if size >= ANNOTATIONS_SIZE_LIMIT:
        raise invalid("The total size of annotation keys and values must be less than 16KiB.")


def check_replication(rep):
    if not rep:
        raise invalid("Secret.replication is required: set replication.automatic or "
                      "replication.user_managed.")
    if "userManaged" in rep:
        replicas = rep["userManaged"].get("replicas", [])
        if not replicas:
            raise invalid("Secret.replication.user_managed.replicas must not be empty.")
        seen = set()
        for i, r in enumerate(replicas):
            loc = r.get("location", "")
            if not loc:
                raise invalid(f"Secret.replication.user_managed.replicas[{i}].location is "
                              "required.")
            if loc in seen:
                raise invalid(f"Duplicate replica location '{loc}'.")
            seen.add(loc)
            if "customerManagedEncryption" in r:
                raise ApiError(501, "Customer-managed encryption is not implemented by the nhi "
                                    "stand-in.")
    elif "customerManagedEncryption" in rep.get("automatic", {}):
        raise ApiError(501, "Customer-managed encryption is not implemented by the nhi stand-in.")


def secrets_create(st, g, q, body):
    proj = st.secret_project(g["project"], "secretmanager.secrets.create")
    secret_id = q.get("secretId", [""])[-1]
    if not secret_id:
        raise invalid("secret_id is required.")
    if not SECRET_ID_RE.fullmatch(secret_id):
        raise invalid(f"Invalid secret ID '{secret_id}': a secret ID has at most 255 characters "
                      "and contains only letters, digits, '-' and '_'.")
    check_replication(body.get("replication"))
    labels = body.get("labels", {})
    check_labels(labels)
    annotations = body.get("annotations", {})
    check_annotations(annotations)
    if secret_id in proj["secrets"]:
        raise ApiError(409, f"Secret [projects/{proj['number']}/secrets/{secret_id}] already "
                            "exists.", status="ALREADY_EXISTS")
    created = now_precise()
    # Output-only fields in the body (name, createTime, etag) are ignored.
    sec = {"id": secret_id, "createTime": created, "etag": secret_etag(created),
           "replication": body["replication"], "labels": dict(labels),
           "annotations": dict(annotations), "versions": []}
    proj["secrets"][secret_id] = sec
    return st.secret_view(proj, sec)


def secrets_get(st, g, q, body):
    proj, sec = st.find_secret(g["project"], g["secret"], "secretmanager.secrets.get")
    return st.secret_view(proj, sec)


def secrets_add_version(st, g, q, body):
    proj, sec = st.find_secret(g["project"], g["secret"], "secretmanager.versions.add")
    if "payload" not in body:
        raise invalid("payload is required.")
    payload = body["payload"]
    data = payload.get("data", b"")
    if len(data) > SECRET_PAYLOAD_LIMIT:
        raise invalid(f"Secret payload is {len(data)} bytes; it must be no larger than "
                      f"{SECRET_PAYLOAD_LIMIT} bytes (64KiB).")
    actual = crc32c(data)
    claimed = payload.get("dataCrc32c")
    if claimed is not None and claimed != actual:
        raise invalid("Checksum mismatch: the data_crc32c of the payload does not match "
                      "the CRC32C of the received data.")
    created = now_precise()
    ver = {"number": len(sec["versions"]) + 1, "createTime": created, "state": "ENABLED",
           "etag": secret_etag(created), "data": data, "crc32c": actual,
           "clientChecksum": claimed is not None}
    sec["versions"].append(ver)
    return st.version_view(proj, sec, ver)


def secrets_versions_access(st, g, q, body):
    proj, sec = st.find_secret(g["project"], g["secret"], "secretmanager.versions.access")
    ref = g["version"]
    name = f"projects/{proj['number']}/secrets/{sec['id']}"
    if ref == "latest":
        if not sec["versions"]:
            raise ApiError(404, f"Secret [{name}] not found or has no versions.")
        ver = sec["versions"][-1]
    else:
        # Numbers, or aliases (not modelled, so never found).
        n = int(ref) if ref.isdigit() else 0
        if not 1 <= n <= len(sec["versions"]):
            raise ApiError(404, f"Secret Version [{name}/versions/{ref}] not found.")
        ver = sec["versions"][n - 1]
    return {"name": f"{name}/versions/{ver['number']}",
            "payload": {"data": ver["data"], "dataCrc32c": ver["crc32c"]}}


def get_iam_policy(st, g, q, body):
    proj = st.project(g["project"], "resourcemanager.projects.getIamPolicy")
    version = body.get("options", {}).get("requestedPolicyVersion", 0)
    if version not in (0, 1, 3):
        raise invalid(f"Invalid requested policy version {version}: valid values are 0, 1 and 3.")
    return st.policy_view(proj, version)


def set_iam_policy(st, g, q, body):
    proj = st.project(g["project"], "resourcemanager.projects.setIamPolicy")
    if "policy" not in body:
        raise invalid("Request contains an invalid argument: policy is required.")
    new = body["policy"]
    mask = [snake_to_camel(p) for p in body.get("updateMask", [])] or ["bindings", "etag"]
    for p in mask:
        if p not in ("bindings", "etag", "auditConfigs", "version"):
            raise invalid(f"Invalid update_mask path '{p}'.")
    cur = proj["policy"]
    version = new.get("version", 0)
    if version not in (0, 1, 3):
        raise invalid(f"Invalid policy version {version}: valid values are 0, 1 and 3.")
    bindings = new.get("bindings", [])
    has_conditions = any("condition" in b for b in bindings)
    cur_conditions = any("condition" in b for b in cur["bindings"])
    etag = new.get("etag")

    # The etag is compared whenever the caller sends one, whatever the mask.
    if etag is not None and etag != cur["etag"]:
        raise ApiError(409, "There were concurrent policy changes. Please retry the whole "
                            "read-modify-write with exponential backoff.")
    if has_conditions and version < 3:
        raise invalid("Policy with conditional role bindings must specify version 3.")
    if cur_conditions and etag is not None and version < 3 and "bindings" in mask:
        raise invalid("The policy contains conditional role bindings: a setIamPolicy "
                      "request with an etag must specify version 3.")

    if "bindings" in mask:
        stored = []
        for i, b in enumerate(bindings):
            stored_b = check_binding(st, proj, b, i)
            if stored_b is not None:
                stored.append(stored_b)
        # "An allow policy can contain up to 1,500 principals", every appearance
        # counted, deleted: members too
        # (https://cloud.google.com/iam/docs/allow-policies#limits).
        principals = sum(len(b["members"]) for b in stored)
        if principals > POLICY_PRINCIPAL_LIMIT:
            raise invalid(f"The number of members in the policy ({principals}) is larger than "
                          f"the maximum allowed size {POLICY_PRINCIPAL_LIMIT}.")
        cur["bindings"] = stored
    if "auditConfigs" in mask:
        cur["auditConfigs"] = new.get("auditConfigs", [])
    cur["etag"] = st.new_etag()
    return st.policy_view(proj, 3)


# Boolean constraints the stand-in knows; others answer 400 as Google does for
# a constraint that does not exist.
BOOLEAN_CONSTRAINTS = (
    "iam.disableServiceAccountKeyCreation",
    "iam.managed.disableServiceAccountKeyCreation",
    "iam.disableServiceAccountKeyUpload",
)


def get_effective_policy(st, g, q, body):
    proj = st.project(g["project"], "orgpolicy.policy.get")
    constraint = g["constraint"]
    if constraint not in BOOLEAN_CONSTRAINTS:
        raise invalid(f"Constraint constraints/{constraint} is invalid or does not exist.")
    rule = {"enforce": True} if constraint in proj["enforced"] else {}
    return {"name": f"projects/{proj['number']}/policies/{constraint}",
            "spec": {"rules": [rule]}}


def key_creation_refused(proj):
    """What keys.create answers while an organization policy forbids new keys
    (https://cloud.google.com/resource-manager/docs/organization-policy/restricting-service-accounts#disable_service_account_key_creation)."""
    for constraint in ("iam.disableServiceAccountKeyCreation",
                       "iam.managed.disableServiceAccountKeyCreation"):
        if constraint in proj["enforced"]:
            text = "Key creation is not allowed on this service account."
            return ApiError(400, text, status="FAILED_PRECONDITION", details=[{
                "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                "violations": [{"type": f"constraints/{constraint}",
                                "subject": f"projects/{proj['id']}",
                                "description": text}],
            }])
    return None


def hidden(acct):
    """Whether a service account created a moment ago is not usable yet.

    Google documents that a new service account may take 60 seconds or more to
    be usable, and that calls in the meantime may answer that it does not exist
    (https://cloud.google.com/iam/docs/service-accounts-create#creating, and
    https://cloud.google.com/iam/docs/access-change-propagation). The stand-in
    shows this for `POST /_standin/propagation` seconds after each create: every
    call but the listing answers 404, and setIamPolicy refuses the member.
    """
    return acct.get("visibleAt", 0) > time.monotonic()


def valid_member(m):
    if m in MEMBER_WORDS:
        return True
    return any(m.startswith(p) and len(m) > len(p) for p in MEMBER_PREFIXES)


def check_binding(st, proj, b, i):
    role = b.get("role", "")
    if not role:
        raise invalid(f"Policy binding {i} has no role.")
    if "_withcond_" in role:
        raise invalid(f"Role {role} is the version 1 view of a conditional role binding; "
                      "read and write the policy with version 3.")
    if not ROLE_RE.match(role):
        raise invalid(f"Role {role} is not supported for this resource.")
    members = []
    for m in b.get("members", []):
        if not valid_member(m):
            raise invalid(f"Invalid principal: {m}")
        if m.startswith("serviceAccount:"):
            email = m[len("serviceAccount:"):]
            domain = email.rsplit("@", 1)[-1]
            for other in st.projects.values():
                if domain == f"{other['id']}.iam.gserviceaccount.com" and not any(
                        a["email"] == email and not hidden(a)
                        for a in other["accounts"].values()):
                    raise invalid(f"Service account {email} does not exist.")
        if m not in members:
            members.append(m)
    if not members:
        return None  # Google drops bindings without members
    out = {"role": role, "members": members}
    if "condition" in b:
        cond = b["condition"]
        if not cond.get("expression"):
            raise invalid(f"Condition of policy binding {i} has no expression.")
        if not cond.get("title"):
            raise invalid(f"Condition of policy binding {i} has no title.")
        out["condition"] = cond
    return out


HANDLERS = {
    "serviceAccounts.list": sa_list,
    "serviceAccounts.create": sa_create,
    "serviceAccounts.get": sa_get,
    "serviceAccounts.patch": sa_patch,
    "serviceAccounts.delete": sa_delete,
    "serviceAccounts.disable": sa_set_disabled(True),
    "serviceAccounts.enable": sa_set_disabled(False),
    "serviceAccounts.keys.list": keys_list,
    "serviceAccounts.keys.create": keys_create,
    "serviceAccounts.keys.get": keys_get,
    "serviceAccounts.keys.delete": keys_delete,
    "serviceAccounts.keys.disable": keys_set_disabled(True),
    "serviceAccounts.keys.enable": keys_set_disabled(False),
    "getIamPolicy": get_iam_policy,
    "setIamPolicy": set_iam_policy,
    "policies.getEffectivePolicy": get_effective_policy,
    "secrets.create": secrets_create,
    "secrets.get": secrets_get,
    "secrets.addVersion": secrets_add_version,
    "secrets.versions.access": secrets_versions_access,
}
METHOD_NAMES = [r[2] for r in ROUTES]


def service_of(method):
    if method.startswith("secrets."):
        return "secretmanager.googleapis.com"
    if method.startswith("policies."):
        return "orgpolicy.googleapis.com"
    if method in ("getIamPolicy", "setIamPolicy"):
        return "cloudresourcemanager.googleapis.com"
    return "iam.googleapis.com"


def fault_error(fault, proj_number, method, retry_delay=None):
    service = service_of(method)
    if fault == "429":
        details = [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {"service": service, "consumer": f"projects/{proj_number}"},
        }]
        if retry_delay is not None:
            # Google says how long to wait in a RetryInfo detail
            # (https://cloud.google.com/apis/design/errors#retry_info); its
            # retryDelay is a google.protobuf.Duration in JSON ("1.5s").
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": f"{retry_delay:g}s"})
        return ApiError(429, "Quota exceeded for quota metric 'Requests' and limit 'Requests per "
                             f"minute' of service '{service}' for consumer "
                             f"'project_number:{proj_number}'.", details=details)
    if fault == "500":
        return ApiError(500, "Internal error encountered.")
    if fault == "404":
        # Google's IAM reads are eventually consistent: an object created a moment
        # ago may still be missing from a read.
        return ApiError(404, "Not found; the object is not visible yet.")
    return ApiError(503, "The service is currently unavailable.")


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nhi-gcp-standin"
    sys_version = ""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("standin: " + (fmt % args) + "\n")

    def do_GET(self):
        self.dispatch()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = do_GET

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, code, value, pretty=False):
        data = (json.dumps(value, indent=2) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def dispatch(self):
        st = self.server.state
        raw = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        try:
            if path.startswith("/_standin/"):
                return self.control(st, path, raw)
            for http_method, rx, name, _flat, req_schema, resp_schema, params, served in \
                    COMPILED_ROUTES:
                m = rx.match(path)
                if m and http_method == self.command:
                    break
            else:
                raise ApiError(404, f"The requested URL {url.path} was not found on this server.")
            with st.lock:
                try:
                    result = self.call(st, name, m.groupdict(), query, raw, req_schema,
                                       resp_schema, params, served)
                except ApiError as e:
                    st.record(name, e.http, query)
                    raise
                st.record(name, 200, query)
            self.send_json(200, result)
        except ApiError as e:
            self.send_json(e.http, e.body())
        except Exception as e:  # pragma: no cover - a bug in the stand-in
            import traceback
            traceback.print_exc()
            self.send_json(500, ApiError(500, f"stand-in bug: {e!r}").body())

    def call(self, st, name, groups, query, raw, req_schema, resp_schema, params, served):
        if not served:
            raise ApiError(501, f"Method {name} is not implemented by the nhi stand-in.")
        for k in query:
            if k not in params and k not in SYSTEM_QUERY_PARAMS:
                raise invalid(f'Invalid JSON payload received. Unknown name "{k}": '
                              "Cannot bind query parameter.")
        alt = (query.get("$alt") or query.get("alt") or ["json"])[-1]
        int_enums = "enum-encoding=int" in alt
        if req_schema is None:
            body = {}
        else:
            try:
                parsed = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise invalid(f"Invalid JSON payload received. {e}") from None
            body = decode_message(parsed, req_schema, "")
        fault = st.take_fault(name)
        if fault is not None and fault["fault"] == "etag_race":
            proj = st.projects.get(groups.get("project"))
            if proj is not None:
                st.race(proj)
        elif fault is not None:
            ref = groups.get("project")
            proj = next((p for p in st.projects.values() if ref in (p["id"], p["number"])), None)
            raise fault_error(fault["fault"], proj["number"] if proj else "0", name,
                              fault.get("retryDelay"))
        value = HANDLERS[name](st, groups, query, body)
        return encode_message(value, resp_schema, int_enums)

    # ---- control plane -------------------------------------------------

    def control(self, st, path, raw):
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise invalid(f"malformed JSON: {e}") from None
        cmd = self.command
        with st.lock:
            if path == "/_standin/state" and cmd == "GET":
                return self.send_json(200, st.dump())
            if path == "/_standin/reset" and cmd == "POST":
                seed = True
                if isinstance(body, dict):
                    seed = bool(body.get("conditionalSeed", True))
                st.reset(seed)
                return self.send_json(200, {})
            if path == "/_standin/faults" and cmd == "GET":
                return self.send_json(200, {"faults": st.faults})
            if path == "/_standin/faults" and cmd == "DELETE":
                st.faults = []
                return self.send_json(200, {"faults": []})
            if path == "/_standin/faults" and cmd == "POST":
                items = body if isinstance(body, list) else [body]
                parsed = [parse_fault(f) for f in items]
                st.faults.extend(parsed)
                return self.send_json(200, {"faults": st.faults})
            if path == "/_standin/propagation" and cmd == "POST":
                seconds = body.get("seconds") if isinstance(body, dict) else None
                if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                        or not 0 <= seconds <= 600:
                    raise invalid("body {\"seconds\": N}, 0 to 600")
                st.propagation = float(seconds)
                return self.send_json(200, {"seconds": st.propagation})
            if path == "/_standin/orgpolicy" and cmd == "POST":
                if not isinstance(body, dict) or body.get("constraint") not in BOOLEAN_CONSTRAINTS \
                        or not isinstance(body.get("enforce"), bool):
                    raise invalid(f'body {{"project"?, "constraint": one of '
                                  f'{list(BOOLEAN_CONSTRAINTS)}, "enforce": bool}}')
                proj = st.project(body.get("project", st.project_ids[0]), "orgpolicy")
                (proj["enforced"].add if body["enforce"] else proj["enforced"].discard)(
                    body["constraint"])
                return self.send_json(200, {"enforced": sorted(proj["enforced"])})
            if path == "/_standin/leak" and cmd == "POST":
                return self.send_json(200, leak(st, body))
            if path == "/_standin/calls" and cmd == "GET":
                return self.send_json(200, {"counts": st.calls, "total": sum(st.calls.values()),
                                            "log": st.log})
            if path == "/_standin/calls" and cmd == "DELETE":
                st.calls, st.log = {}, []
                return self.send_json(200, {"counts": {}, "total": 0, "log": []})
        raise ApiError(404, f"unknown control-plane endpoint {cmd} {path}")


def leak(st, body):
    """Google finds a user-managed key's private key in public (`exposed`) or
    used in an attack (`compromised`). It records that for the key's lifetime in
    `extendedStatus` and, under the organization policy
    `iam.serviceAccountKeyExposureResponse` (disabling is the default for new
    organizations), disables the key with that `disableReason`
    (https://cloud.google.com/iam/docs/best-practices-for-managing-service-account-keys#leaked-keys,
    https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys).
    Body: {"email", "keyId", "kind": "exposed"|"compromised", "value"?, "disable"?}."""
    if not isinstance(body, dict) or set(body) - {"email", "keyId", "kind", "value", "disable"}:
        raise invalid('body {"email", "keyId", "kind": "exposed"|"compromised", "value", '
                      '"disable"}')
    kind = body.get("kind")
    if kind not in ("exposed", "compromised"):
        raise invalid('kind is "exposed" or "compromised"')
    found = None
    for proj in st.projects.values():
        for acct in proj["accounts"].values():
            if acct["email"] == body.get("email"):
                for key in proj["keys"][acct["uniqueId"]]:
                    if key["id"] == body.get("keyId") and key["keyType"] == "USER_MANAGED":
                        found = key
    if found is None:
        raise ApiError(404, "no user-managed key with that email and keyId")
    word = "EXPOSED" if kind == "exposed" else "COMPROMISE_DETECTED"
    status = {"key": f"SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_KEY_{word}"}
    if body.get("value"):
        status["value"] = str(body["value"])
    found.setdefault("extendedStatus", []).append(status)
    if body.get("disable", True):
        found["disabled"] = True
        found["disableReason"] = f"SERVICE_ACCOUNT_KEY_DISABLE_REASON_{word}"
    return {"extendedStatus": found["extendedStatus"], "disabled": found["disabled"]}


def parse_fault(f):
    if not isinstance(f, dict):
        raise invalid("a fault is an object {method, fault, count}")
    unknown = set(f) - {"method", "fault", "count", "retryDelay"}
    if unknown:
        raise invalid(f"unknown fault fields {sorted(unknown)}")
    method = f.get("method", "*")
    fault = str(f.get("fault", ""))
    count = f.get("count", 1)
    if method != "*" and method not in METHOD_NAMES:
        raise invalid(f"unknown method {method!r}; one of {METHOD_NAMES} or '*'")
    if fault not in FAULTS:
        raise invalid(f"unknown fault {fault!r}; one of {list(FAULTS)}")
    if fault == "etag_race" and method not in ("setIamPolicy", "*"):
        raise invalid("fault etag_race applies to setIamPolicy only")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise invalid("count must be a positive integer")
    out = {"method": method, "fault": fault, "count": count}
    if "retryDelay" in f:
        delay = f["retryDelay"]
        if fault != "429" or isinstance(delay, bool) or not isinstance(delay, (int, float)) \
                or not 0 <= delay <= 3600:
            raise invalid("retryDelay (seconds, 0 to 3600) goes with fault 429 only")
        out["retryDelay"] = delay
    return out


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    verbose = False

    def handle_error(self, request, client_address):
        # Clients dropping connections is routine in tests: quiet unless asked.
        if self.verbose:
            super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    ap.add_argument("--port-file", help="write the chosen port here once listening")
    ap.add_argument("--project", action="append", default=[],
                    help=f"project id to serve (repeatable; default {DEFAULT_PROJECT})")
    ap.add_argument("--no-conditional-seed", action="store_true",
                    help="seed policies without the conditional role binding")
    ap.add_argument("--user-key-validity-hours", type=int, default=0,
                    help="like the org policy iam.serviceAccountKeyExpiryHours; 0: no expiry")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args(argv)

    projects = args.project or [DEFAULT_PROJECT]
    state = State(projects, conditional_seed=not args.no_conditional_seed,
                  user_key_validity_hours=args.user_key_validity_hours)
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = state
    server.verbose = args.verbose

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    port = server.server_address[1]
    if args.port_file:
        tmp = f"{args.port_file}.tmp.{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    if args.verbose:
        sys.stderr.write(f"standin: listening on 127.0.0.1:{port} for {projects}\n")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

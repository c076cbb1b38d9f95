"""A fault-injecting HTTP proxy in front of moto, for what real IAM enforces and
moto does not.

    iam_proxy.py UPSTREAM PORT

Listens on 127.0.0.1:PORT and forwards every request to moto at UPSTREAM, except:

- `DeleteUser` answers IAM's `DeleteConflict` (HTTP 409) while the user still
  holds anything IAM refuses to delete it with: a login profile, MFA devices,
  SSH public keys, signing certificates, service-specific credentials, group
  memberships, access keys, inline or attached policies. Moto deletes anyway.
  (IAM API reference, DeleteUser:
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteUser.html)
- `CreateServiceSpecificCredential`, `ListServiceSpecificCredentials` and
  `DeleteServiceSpecificCredential` are answered here, from memory: moto has
  no service-specific credentials.
- Faults: `POST /_proxy/faults` with `{"action": "ListAccessKeys", "code":
  "Throttling", "status": 400, "count": 1}` answers the next `count` requests
  of `action` with that error instead of forwarding them.
- `POST /_proxy/debris` with `{"user": "ci"}` gives the user one of each thing
  IAM refuses to delete it with (through moto, and the service-specific
  credential here); it answers what it made.
- `GET /_proxy/calls` returns how many requests of each action arrived
  (faulted ones included), so a test can count attempts.

The proxy exits when its standard input closes (the test process's lifeline).
"""

import http.client
import json
import os
import sys
import threading
import urllib.parse
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

NS = "https://iam.amazonaws.com/doc/2010-05-08/"

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
PORT = int(sys.argv[2])

LOCK = threading.Lock()
FAULTS = []  # [{"action", "code", "status", "count", "message"}]
CALLS = {}  # action -> count
SERVICE_CREDENTIALS = {}  # user -> [{"id", "service", "created"}]

IAM = boto3.client(
    "iam",
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)


def xml_escape(text):
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def error_body(code, message):
    return (
        f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type>'
        f"<Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message>"
        f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def result_body(action, inner):
    return (
        f'<{action}Response xmlns="{NS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )


def credential_xml(user, c):
    return (
        f"<ServiceSpecificCredentialId>{c['id']}</ServiceSpecificCredentialId>"
        f"<ServiceName>{xml_escape(c['service'])}</ServiceName>"
        f"<UserName>{xml_escape(user)}</UserName>"
        f"<ServiceUserName>{xml_escape(user)}-at-123456789012</ServiceUserName>"
        f"<Status>Active</Status><CreateDate>{c['created']}</CreateDate>"
    )


def what_blocks_deletion(user):
    """What the user still holds that IAM refuses to delete it with."""
    blocking = []
    try:
        IAM.get_login_profile(UserName=user)
        blocking.append("login profile")
    except IAM.exceptions.NoSuchEntityException:
        pass
    checks = [
        ("MFA devices", lambda: IAM.list_mfa_devices(UserName=user)["MFADevices"]),
        ("SSH public keys", lambda: IAM.list_ssh_public_keys(UserName=user)["SSHPublicKeys"]),
        (
            "signing certificates",
            lambda: IAM.list_signing_certificates(UserName=user)["Certificates"],
        ),
        ("groups", lambda: IAM.list_groups_for_user(UserName=user)["Groups"]),
        ("access keys", lambda: IAM.list_access_keys(UserName=user)["AccessKeyMetadata"]),
        ("inline policies", lambda: IAM.list_user_policies(UserName=user)["PolicyNames"]),
        (
            "attached policies",
            lambda: IAM.list_attached_user_policies(UserName=user)["AttachedPolicies"],
        ),
    ]
    for what, listing in checks:
        if listing():
            blocking.append(what)
    if SERVICE_CREDENTIALS.get(user):
        blocking.append("service-specific credentials")
    return blocking


def make_debris(user):
    """One of each thing that keeps IAM from deleting `user`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    IAM.create_login_profile(UserName=user, Password="Not-a-secret-0")
    serial = IAM.create_virtual_mfa_device(VirtualMFADeviceName=f"{user}-mfa")[
        "VirtualMFADevice"
    ]["SerialNumber"]
    IAM.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    ssh = IAM.upload_ssh_public_key(
        UserName=user,
        SSHPublicKeyBody="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKLsHfVwiY2Bl3mlj0Fz6L2k0o6n8bHhL5q1y0o8iR0J test",
    )["SSHPublicKey"]["SSHPublicKeyId"]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nhi-test")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1))
        .not_valid_after(datetime(2040, 1, 1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    cert = IAM.upload_signing_certificate(UserName=user, CertificateBody=pem)[
        "Certificate"
    ]["CertificateId"]
    group = f"{user}-debris"
    IAM.create_group(GroupName=group)
    IAM.add_user_to_group(GroupName=group, UserName=user)
    credential = {
        "id": "ACCA" + uuid.uuid4().hex[:16].upper(),
        "service": "codecommit.amazonaws.com",
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    SERVICE_CREDENTIALS.setdefault(user, []).append(credential)
    return {
        "mfa": serial,
        "ssh": ssh,
        "certificate": cert,
        "group": group,
        "service_credential": credential["id"],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="text/xml"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_proxy/calls":
            with LOCK:
                return self.reply(200, json.dumps(CALLS), "application/json")
        self.forward(b"")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_proxy/faults":
            fault = json.loads(body)
            fault.setdefault("count", 1)
            fault.setdefault("status", 400)
            fault.setdefault("message", "injected by the test proxy")
            with LOCK:
                FAULTS.append(fault)
            return self.reply(200, "{}", "application/json")
        if self.path == "/_proxy/debris":
            with LOCK:
                made = make_debris(json.loads(body)["user"])
            return self.reply(200, json.dumps(made), "application/json")
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        action = (form.get("Action") or [""])[0]
        field = lambda name: (form.get(name) or [""])[0]
        with LOCK:
            CALLS[action] = CALLS.get(action, 0) + 1
            for fault in FAULTS:
                if fault["action"] == action and fault["count"] > 0:
                    fault["count"] -= 1
                    return self.reply(
                        fault["status"], error_body(fault["code"], fault["message"])
                    )
            user = field("UserName")
            if action == "CreateServiceSpecificCredential":
                credential = {
                    "id": "ACCA" + uuid.uuid4().hex[:16].upper(),
                    "service": field("ServiceName"),
                    "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                SERVICE_CREDENTIALS.setdefault(user, []).append(credential)
                inner = (
                    "<ServiceSpecificCredential>"
                    + credential_xml(user, credential)
                    + "<ServicePassword>not-a-secret</ServicePassword>"
                    + "</ServiceSpecificCredential>"
                )
                return self.reply(200, result_body(action, inner))
            if action == "ListServiceSpecificCredentials":
                members = "".join(
                    f"<member>{credential_xml(user, c)}</member>"
                    for c in SERVICE_CREDENTIALS.get(user, [])
                )
                inner = (
                    f"<ServiceSpecificCredentials>{members}</ServiceSpecificCredentials>"
                    "<IsTruncated>false</IsTruncated>"
                )
                return self.reply(200, result_body(action, inner))
            if action == "DeleteServiceSpecificCredential":
                wanted = field("ServiceSpecificCredentialId")
                held = SERVICE_CREDENTIALS.get(user, [])
                if not any(c["id"] == wanted for c in held):
                    return self.reply(
                        404, error_body("NoSuchEntity", f"credential {wanted} not found")
                    )
                SERVICE_CREDENTIALS[user] = [c for c in held if c["id"] != wanted]
                return self.reply(200, result_body(action, ""))
            if action == "DeleteUser":
                try:
                    blocking = what_blocks_deletion(user)
                except IAM.exceptions.NoSuchEntityException:
                    blocking = []
                if blocking:
                    return self.reply(
                        409,
                        error_body(
                            "DeleteConflict",
                            "Cannot delete entity, must remove "
                            + ", ".join(blocking)
                            + " first.",
                        ),
                    )
        self.forward(body)

    def forward(self, body):
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding")
        }
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The lifeline: stop when the test process closes our standard input.
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()

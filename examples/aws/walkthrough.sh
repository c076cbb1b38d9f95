#!/usr/bin/env bash
# Runs examples/aws against moto, a local IAM emulator: create the estate, make
# out-of-band drift with boto3, see it in the next plan, and correct it.
# Usage: examples/aws/walkthrough.sh [path/to/nhi]    (installs moto into .venv)
set -euo pipefail
nhi=${1:-nhi}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/scripts/moto-install"
work=$(mktemp -d)
port=$("$root/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_IAM_LOAD_MANAGED_POLICIES=true "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

cp "$here/nhi.yaml" "$work/"
cd "$work"
# A demo trust policy that needs no signatures; see the README for real ones.
touch allowed_signers
printf 'allowed_signers: allowed_signers\nrequire_author_signature: false\napprovals:\n  required: 0\n' > trust.yaml

echo "== plan and apply the estate"
"$nhi" plan -o create.plan | tail -n 2
"$nhi" apply create.plan --trust trust.yaml
echo "== someone attaches AdministratorAccess by hand and adds a user under /nhi/"
"$root/.venv/bin/python" - <<'PY'
import boto3
iam = boto3.client("iam")
iam.attach_user_policy(UserName="ci-deployer", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
iam.create_user(UserName="hand-made", Path="/nhi/")
PY
echo "== the next plan shows the drift"
"$nhi" plan -o drift.plan
"$nhi" apply drift.plan --trust trust.yaml
echo "== converged"
"$nhi" plan --detailed-exitcode | tail -n 3

#!/usr/bin/env bash
# Runs examples/gcp against the local Google Cloud IAM stand-in: create the
# service accounts, make out-of-band drift with the REST API, see it in the next
# plan, and correct it. Needs python3 (standard library only).
# Usage: examples/gcp/walkthrough.sh [path/to/nhi]
set -euo pipefail
nhi=${1:-nhi}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
python3 "$root/providers/gcp/standin/server.py" --port 0 --port-file "$work/port" &
standin=$!
trap 'kill "$standin" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
base="http://127.0.0.1:$(cat "$work/port")"
call() { # METHOD PATH [JSON]: one call to the stand-in, as an operator would make it
  python3 - "$1" "$base$2" "${3:-}" <<'PY'
import sys, urllib.request
method, url, body = sys.argv[1:]
req = urllib.request.Request(url, method=method, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req).read().decode())
PY
}

sed "s|http://127.0.0.1:8931|$base|" "$here/nhi.yaml" > "$work/nhi.yaml"
cd "$work"
# A demo trust policy that needs no signatures; see the README for real ones.
touch allowed_signers
printf 'allowed_signers: allowed_signers\nrequire_author_signature: false\napprovals:\n  required: 0\n' > trust.yaml

echo "== plan and apply the project's service accounts"
"$nhi" plan -o create.plan | tail -n 2
"$nhi" apply create.plan --trust trust.yaml
echo "== someone grants roles/owner by hand and adds a key to web-runtime"
policy=$(call POST /v3/projects/nhi-standin:getIamPolicy '{"options": {"requestedPolicyVersion": 3}}')
python3 -c '
import json, sys
policy = json.loads(sys.argv[1])
policy["bindings"].append({"role": "roles/owner", "members": ["serviceAccount:web-runtime@nhi-standin.iam.gserviceaccount.com"]})
print(json.dumps({"policy": policy}))' "$policy" > grant.json
call POST /v3/projects/nhi-standin:setIamPolicy "$(cat grant.json)" > /dev/null
call POST /v1/projects/nhi-standin/serviceAccounts/web-runtime@nhi-standin.iam.gserviceaccount.com/keys '{}' > /dev/null
echo "== the next plan shows the drift"
"$nhi" plan -o drift.plan
"$nhi" apply drift.plan --trust trust.yaml
echo "== converged"
"$nhi" plan --detailed-exitcode | tail -n 3

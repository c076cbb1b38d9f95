#!/usr/bin/env bash
# The whole governance flow on the quickstart estate, in a scratch directory with
# throwaway keys: plan and sign as alice, approve as bob and carol, verify, apply,
# verify the receipt, and plan again.
# Usage: examples/quickstart/walkthrough.sh [path/to/nhi]
set -euo pipefail
nhi=${1:-nhi}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/nhi.yaml" "$here/estate.json" "$work/"
cd "$work"

for who in alice bob carol; do
  ssh-keygen -q -t ed25519 -N '' -C "$who@example.com" -f "$who.key"
  echo "$who@example.com $(cut -d' ' -f1,2 "$who.key.pub")" >> allowed_signers
done
cat > trust.yaml <<'YAML'
allowed_signers: allowed_signers
approvals:
  required: 1
rules:
  - when: destructive
    required: 2
YAML

echo "== alice plans and signs"
"$nhi" plan -o change.plan --sign-key alice.key > /dev/null
echo "== bob and carol approve"
"$nhi" approve change.plan --key bob.key --yes --comment "diff reviewed"
"$nhi" approve change.plan --key carol.key --yes
echo "== anyone verifies offline"
"$nhi" verify change.plan --trust trust.yaml
echo "== carol applies and signs the receipt"
"$nhi" apply change.plan --trust trust.yaml --key carol.key
"$nhi" verify change.plan.receipt.json --trust trust.yaml --plan change.plan
echo "== nothing left to do"
"$nhi" plan --detailed-exitcode | tail -n 3

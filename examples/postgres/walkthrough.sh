#!/usr/bin/env bash
# Runs examples/postgres against a throwaway PostgreSQL cluster: create the login
# roles through the postgres plugin, log in with a delivered password, make
# drift by hand with psql, see it in the next plan, and correct it.
# Needs PostgreSQL's server binaries (scripts/postgres-install).
# Usage: examples/postgres/walkthrough.sh [path/to/nhi] [path/to/nhi-provider-postgres]
set -euo pipefail
nhi=${1:-nhi}
plugin=${2:-$(dirname "$(command -v "$nhi")")/nhi-provider-postgres}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -n 1)")")
work=$(mktemp -d)
as_owner=()
if [ "$(id -u)" = 0 ]; then
  # initdb and postgres refuse to run as root.
  chown nobody:nogroup "$work"
  as_owner=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
trap '"${as_owner[@]}" "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
echo admin-password-for-the-demo > "$work/admin.password"
[ ${#as_owner[@]} = 0 ] || chown nobody:nogroup "$work/admin.password"
"${as_owner[@]}" "$bin/initdb" -D "$work/data" -U nhi --auth=scram-sha-256 \
  --pwfile="$work/admin.password" --no-sync >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_owner[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
  -o "-h 127.0.0.1 -p $port -k $work" start >/dev/null
sql() { PGPASSWORD=$(cat "$work/admin.password") psql -X -q -A -t -h 127.0.0.1 -p "$port" -U nhi -d postgres -c "$1"; }
sql "CREATE SCHEMA app; CREATE TABLE app.orders (id int); INSERT INTO app.orders VALUES (1);
     CREATE ROLE app_readers NOLOGIN; GRANT USAGE ON SCHEMA app TO app_readers;
     GRANT SELECT ON app.orders TO app_readers;"

cd "$work"
mkdir bin && cp "$plugin" bin/nhi-provider-postgres
digest="sha256:$(sha256sum bin/nhi-provider-postgres | cut -d' ' -f1)"
sed -e "s|@PORT@|$port|" -e "s|@PASSWORD_FILE@|$work/admin.password|" -e "s|@SHA256@|$digest|" \
  "$here/nhi.yaml.in" > nhi.yaml
# A demo trust policy that needs no signatures; see the README for real ones.
touch allowed_signers
printf 'allowed_signers: allowed_signers\nrequire_author_signature: false\napprovals:\n  required: 0\n' > trust.yaml

echo "== plan and apply the login roles"
"$nhi" plan -o create.plan | tail -n 2
"$nhi" apply create.plan --trust trust.yaml
echo "== app_reports logs in with its delivered password"
PGPASSWORD=$(python3 -c 'import json; print(json.load(open("secrets/app_reports.json"))["secret"])') \
  psql -X -q -A -t -h 127.0.0.1 -p "$port" -U app_reports -d postgres -c 'SELECT count(*) FROM app.orders'
echo "== someone grants DELETE by hand and adds a login role of their own"
sql "GRANT DELETE ON app.orders TO app_migrator; CREATE ROLE app_backdoor LOGIN PASSWORD 'x';"
"$nhi" plan -o drift.plan | grep -E '^  # |^Plan:'
echo "== apply the correction; the next plan has no changes"
"$nhi" apply drift.plan --trust trust.yaml
"$nhi" plan --detailed-exitcode | tail -n 1

#!/usr/bin/env bash
# A stand-in for `gh` (GitHub) and `glab` (GitLab) in tests/cli/ci.rs: records
# every call in $FAKE_CI/calls.log and answers the few API calls the example
# pipelines make from JSON files under $FAKE_CI, as the real services would.
set -euo pipefail
state="$FAKE_CI"
tool=$(basename "$0")
printf '%s %s\n' "$tool" "$*" >> "$state/calls.log"

json() { # FILE: its JSON, or [] when it does not exist yet
  if [ -f "$state/$1" ]; then cat "$state/$1"; else echo '[]'; fi
}
store() { # FILE JQ-FILTER [jq args...]: rewrites FILE through the filter
  local file=$1 filter=$2
  shift 2
  json "$file" | jq "$@" "$filter" > "$state/$file.new"
  mv "$state/$file.new" "$state/$file"
}
out() { # JSON: printed, through --jq when given
  if [ -n "$jq_expr" ]; then jq -r "$jq_expr" <<< "$1"; else printf '%s\n' "$1"; fi
}
unknown() {
  echo "fake-forge: no stand-in for \`$tool $*\`" >&2
  exit 90
}

jq_expr=""
if [ "${1:-}" = api ]; then
  shift
  method=GET
  path=""
  fields='{}'
  while [ $# -gt 0 ]; do
    case "$1" in
      --method | -X) method=$2; shift 2 ;;
      --paginate) shift ;;
      --jq | -q) jq_expr=$2; shift 2 ;;
      -F | --field | -f | --raw-field)
        key=${2%%=*}
        value=${2#*=}
        if [ "$1" = -F ] || [ "$1" = --field ]; then
          case "$value" in @*) value=$(cat "${value#@}") ;; esac
        fi
        fields=$(jq -c --arg k "$key" --arg v "$value" '. + {($k): $v}' <<< "$fields")
        shift 2
        ;;
      -*) unknown "$@" ;;
      *) path=$1; shift ;;
    esac
  done
  case "$tool $method $path" in
    "gh GET repos/"*"/issues/"*"/comments") out "$(json comments.json)" ;;
    "gh POST repos/"*"/issues/"*"/comments")
      store comments.json '. + [{id: (length + 1), user: {login: "github-actions[bot]"}, body: $f.body}]' --argjson f "$fields"
      out '{}' ;;
    "gh PATCH repos/"*"/issues/comments/"*)
      store comments.json 'map(if .id == ($id | tonumber) then .body = $f.body else . end)' --arg id "${path##*/}" --argjson f "$fields"
      out '{}' ;;
    "gh GET repos/"*"/pulls/"*"/reviews") out "$(json reviews.json)" ;;
    "gh GET repos/"*"/commits/"*"/pulls") out '[{"number": 7}]' ;;
    "gh GET repos/"*"/pulls/"*) out "{\"number\": 7, \"head\": {\"sha\": \"$FAKE_HEAD_SHA\"}}" ;;
    "gh POST repos/"*"/statuses/"*)
      store statuses.json '. + [$f + {sha: $sha}]' --argjson f "$fields" --arg sha "${path##*/}"
      out '{}' ;;
    "glab GET user") out '{"username": "nhi-bot"}' ;;
    "glab GET projects/"*"/merge_requests/"*"/notes") out "$(json notes.json)" ;;
    "glab POST projects/"*"/merge_requests/"*"/notes")
      store notes.json '. + [{id: (length + 1), author: {username: "nhi-bot"}, body: $f.body}]' --argjson f "$fields"
      out '{}' ;;
    "glab PUT projects/"*"/merge_requests/"*"/notes/"*)
      store notes.json 'map(if .id == ($id | tonumber) then .body = $f.body else . end)' --arg id "${path##*/}" --argjson f "$fields"
      out '{}' ;;
    "glab GET projects/"*"/repository/commits/"*"/merge_requests") out '[{"iid": 7}]' ;;
    "glab GET projects/"*"/jobs/artifacts/"*"/raw/plan.nhi?job=nhi-plan") cat "$state/artifacts/nhi-plan/plan.nhi" ;;
    "glab GET projects/"*"/issues?"*) out "$(json issues.json | jq '[.[] | select(.state == "opened")]')" ;;
    "glab POST projects/"*"/issues")
      store issues.json '. + [{iid: (length + 1), state: "opened"} + $f]' --argjson f "$fields"
      out '{}' ;;
    "glab PUT projects/"*"/issues/"*)
      store issues.json 'map(if .iid == ($id | tonumber) then (. + ($f | del(.state_event))) | (if $f.state_event == "close" then .state = "closed" else . end) else . end)' --arg id "${path##*/}" --argjson f "$fields"
      out '{}' ;;
    *) unknown "$method $path" ;;
  esac
  exit 0
fi

# gh's other commands the pipelines use.
command="${1:-} ${2:-}"
shift 2 || true
declare -A flag=()
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --jq) jq_expr=$2; shift 2 ;;
    --*) flag[$1]=$2; shift 2 ;;
    *) positional+=("$1"); shift ;;
  esac
done
case "$tool $command" in
  "gh run list") out '[{"databaseId": 4242}]' ;;
  "gh run download") cp -R "$state/artifacts/${flag[--name]}/." "${flag[--dir]}/" ;;
  "gh issue list") out "$(json issues.json | jq '[.[] | select(.state == "open")]')" ;;
  "gh issue create")
    store issues.json '. + [{number: (length + 1), state: "open", title: $t, body: $b}]' --arg t "${flag[--title]}" --rawfile b "${flag[--body-file]}" ;;
  "gh issue edit")
    store issues.json 'map(if .number == ($n | tonumber) then .body = $b else . end)' --arg n "${positional[0]}" --rawfile b "${flag[--body-file]}" ;;
  "gh issue close")
    store issues.json 'map(if .number == ($n | tonumber) then .state = "closed" else . end)' --arg n "${positional[0]}" ;;
  *) unknown "$command" ;;
esac

#!/usr/bin/env bash
# Starts the compose setup (PostgreSQL, two app instances, nginx), checks it through nginx as a
# client would, and removes it (volumes included). Skipped, with a message and exit 0, when no
# container engine runs here.
#   deploy/smoke.sh            (IAP_PORT=18080 by default)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/compose"

if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    compose() { docker compose "$@"; }
elif podman info >/dev/null 2>&1 && podman compose version >/dev/null 2>&1; then
    compose() { podman compose "$@"; }
else
    echo "deploy/smoke.sh: skipped: no container engine runs here (docker or podman with compose)"
    exit 0
fi

export IAP_SECRET_KEY="${IAP_SECRET_KEY:-$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export IAP_PORT="${IAP_PORT:-18080}"
export IAP_BASE_URL="http://127.0.0.1:$IAP_PORT"
base="$IAP_BASE_URL"
trap 'compose down --volumes --remove-orphans >/dev/null 2>&1 || true' EXIT

compose up --detach --build --wait
fail() { echo "deploy/smoke.sh: FAILED: $*" >&2; compose logs --tail 50 >&2 || true; exit 1; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

[ "$(status "$base/readyz")" = 200 ] || fail "/readyz through nginx"
curl -fsS "$base/api/v1/openapi.json" | grep -q '"openapi": "3.1.0"' || fail "the OpenAPI document"
[ "$(status "$base/metrics")" = 404 ] || fail "/metrics must not be served through nginx"
for app in app1 app2; do
    compose exec -T "$app" bash -c \
        'exec 3<>/dev/tcp/127.0.0.1/9464; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' \
        | grep -q '^iap_database_up 1' || fail "$app's metrics"
done

# A customer database whose SMS account holds 5 credits, made on one instance, charged through
# nginx (both instances answer): exactly 5 charges of 1 credit pass.
compose exec -T app1 iap-credits create-database "Smoke Test" --subscription none >/dev/null
token="$(compose exec -T app2 iap-credits show-account --database "Smoke Test" --service sms \
    | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')"
[ -n "$token" ] || fail "no account token"
compose exec -T app1 iap-credits grant --database "Smoke Test" --service sms --credits 5 \
    --reason "smoke test" >/dev/null
passed=0
for _ in 1 2 3 4 5 6 7; do
    code="$(status -X POST "$base/api/v1/charges" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d '{"credits": "1"}')"
    case "$code" in
        201) passed=$((passed + 1)) ;;
        402) ;;
        *) fail "a charge answered $code" ;;
    esac
done
[ "$passed" = 5 ] || fail "$passed charges passed, not 5"
compose exec -T app2 iap-credits verify-ledger >/dev/null || fail "verify-ledger"

# One instance down: nginx sends everything to the other.
compose stop app1 >/dev/null
for _ in 1 2 3 4; do
    [ "$(status "$base/api/v1/balance" -H "Authorization: Bearer $token")" = 200 ] \
        || fail "with app1 stopped"
done
echo "deploy/smoke.sh: passed"

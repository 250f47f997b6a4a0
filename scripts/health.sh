#!/usr/bin/env bash
# `make health`: one line per service of the local stack, non-zero when any is down.
# Ports are the compose file's; override with APP_URL, … when yours differ.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f .env ] && set -a && . ./.env && set +a

APP_URL="${APP_URL:-http://127.0.0.1:${PORT:-8080}}"
REDIS_REST_URL="${REDIS_REST_URL:-http://127.0.0.1:8079}"
QDRANT_HEALTH_URL="${QDRANT_HEALTH_URL:-http://127.0.0.1:6333}"
PROMETHEUS_HEALTH_URL="${PROMETHEUS_HEALTH_URL:-http://127.0.0.1:9090}"
TEMPO_HEALTH_URL="${TEMPO_HEALTH_URL:-http://127.0.0.1:3200}"
GRAFANA_HEALTH_URL="${GRAFANA_HEALTH_URL:-http://127.0.0.1:3000}"
down=0

line() { # name, ok(0/1), detail
  if [ "$2" = 0 ]; then printf '  ok    %-11s %s\n' "$1" "$3"; else printf '  DOWN  %-11s %s\n' "$1" "$3"; down=$((down + 1)); fi
}
probe() { # name, url, [curl args…]
  local name=$1 url=$2; shift 2
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" "$url")
  [ "$code" -ge 200 ] 2>/dev/null && [ "$code" -lt 300 ]
  line "$name" $? "$url → ${code/000/no answer}"
}

probe app "$APP_URL/health"
probe app-ready "$APP_URL/ready"
# Compose v2 or v1, whichever scripts/compose.sh finds; without either (or without the stack) the host's pg_isready.
if bash scripts/compose.sh -p myca-edge ps -q postgres 2>/dev/null | grep -q .; then
  bash scripts/compose.sh -p myca-edge exec -T postgres pg_isready -U myca -d myca >/dev/null 2>&1
  line postgres $? "pg_isready in the postgres container"
else
  pg_isready -h 127.0.0.1 -p "${POSTGRES_PORT:-5433}" -q >/dev/null 2>&1
  line postgres $? "pg_isready 127.0.0.1:${POSTGRES_PORT:-5433}"
fi
probe redis-rest "$REDIS_REST_URL/" -X POST -H "Authorization: Bearer ${UPSTASH_REDIS_REST_TOKEN:-}" -d '["PING"]'
probe qdrant "$QDRANT_HEALTH_URL/readyz"
probe prometheus "$PROMETHEUS_HEALTH_URL/-/ready"
probe tempo "$TEMPO_HEALTH_URL/ready"
probe grafana "$GRAFANA_HEALTH_URL/api/health"

if [ "$down" -gt 0 ]; then echo "$down down"; exit 1; fi
echo "all up"

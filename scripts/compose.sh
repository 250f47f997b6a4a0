#!/usr/bin/env bash
# Runs Docker Compose as `make` needs it, whichever is installed: v2 (`docker compose`, preferred) or
# v1 (`docker-compose`). v1 has no `up --wait`: it is dropped there and the stack is polled with
# scripts/health.sh instead. Without either, says what to install and exits 127.
# Usage: scripts/compose.sh <compose arguments…>   (MYCA_COMPOSE=… forces a command, for tests)
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${MYCA_COMPOSE:-}" ]; then
  read -r -a compose <<<"$MYCA_COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  cat >&2 <<'MSG'
Docker Compose is not installed. Install one of:
  - Compose v2, the Docker CLI plugin (`docker compose`): Docker Desktop has it; on Debian/Ubuntu
    `apt-get install docker-compose-plugin` from Docker's apt repository
  - Compose v1 (`docker-compose`): `apt-get install docker-compose`
MSG
  exit 127
fi

args=()
wait=0
for arg in "$@"; do
  if [ "$arg" = --wait ] && [ "${compose[0]}" = docker-compose ]; then wait=1; else args+=("$arg"); fi
done
"${compose[@]}" "${args[@]}" || exit $?
if [ "$wait" = 1 ]; then
  echo "docker-compose (v1) cannot wait for health checks: polling make health for up to 180 s" >&2
  for _ in $(seq 1 60); do
    bash scripts/health.sh >/dev/null 2>&1 && { bash scripts/health.sh; exit 0; }
    sleep 3
  done
  bash scripts/health.sh
  exit 1
fi

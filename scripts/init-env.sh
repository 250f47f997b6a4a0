#!/usr/bin/env bash
# `make up` on a fresh clone: writes .env from .env.example with a random value for each secret the
# stack needs (POSTGRES_PASSWORD, UPSTASH_REDIS_REST_TOKEN, GRAFANA_ADMIN_PASSWORD, LITELLM_MASTER_KEY).
# An existing .env is never touched. Usage: scripts/init-env.sh [dir] (default: the repository).
set -euo pipefail
dir="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
env_file="$dir/.env"
if [ -e "$env_file" ]; then
  echo ".env exists; leaving it as it is" >&2
  exit 0
fi
random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
umask 077
tmp="$(mktemp "$dir/.env.XXXXXX")"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    POSTGRES_PASSWORD=|UPSTASH_REDIS_REST_TOKEN=|GRAFANA_ADMIN_PASSWORD=|LITELLM_MASTER_KEY=)
      echo "${line}$(random)" ;;
    *) echo "$line" ;;
  esac
done <"$dir/.env.example" >"$tmp"
mv "$tmp" "$env_file"
echo "created .env with random POSTGRES_PASSWORD, UPSTASH_REDIS_REST_TOKEN, GRAFANA_ADMIN_PASSWORD and LITELLM_MASTER_KEY (add provider keys there)" >&2

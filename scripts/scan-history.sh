#!/usr/bin/env bash
# Scans every version of every file in the whole git history (not just the tree): a secret that was
# committed and later deleted is still in the history and must be rotated.
# Each blob is scanned once; a finding names the commit and path where it appeared.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
seen=$(mktemp)
trap 'rm -f "$seen"' EXIT
while read -r commit; do
  while IFS=$'\t' read -r meta path; do
    blob=$(echo "$meta" | awk '{print $3}')
    grep -qx "$blob" "$seen" && continue
    echo "$blob" >>"$seen"
    case "$path" in package-lock.json|*.png|*.jpg|*.ico|*.woff*) continue ;; esac
    if ! git cat-file -p "$blob" | node_modules/.bin/secretlint --stdinFileName "$path" >/tmp/myca-scan.out 2>&1; then
      echo "commit $commit: $path"
      sed 's/^/  /' /tmp/myca-scan.out
      status=1
    fi
  done < <(git ls-tree -r "$commit")
done < <(git rev-list --all)
[ $status -eq 0 ] && echo "scan:history: no secrets in $(git rev-list --all | wc -l) commits"
exit $status

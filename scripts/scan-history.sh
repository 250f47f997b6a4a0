#!/usr/bin/env bash
# Scans every version of every file in the whole git history (not only the tree): a secret that was
# committed and later deleted is still in the history and must be rotated.
# Each distinct blob is written once under a temporary folder named after it (keeping its file name,
# which some rules use) and secretlint runs once over all of them; a finding names the blob, and the
# commits and path where it appears are listed after it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Inside the repository (secretlint reads only below its working folder); .data/ is git-ignored.
mkdir -p .data
work=$(mktemp -d -p "$PWD/.data" scan-history.XXXXXX)
printf "" >"$work/no-ignore"
trap 'rm -rf "$work"' EXIT
index="$work/index.tsv"
: >"$index"
declare -A seen=()
# Reviewed fake canaries (scripts/history-allowlist.txt) are not scanned again.
declare -A allowed=()
while read -r blob _; do [ -n "$blob" ] && allowed[$blob]=1; done < <(grep -v '^#' scripts/history-allowlist.txt 2>/dev/null || true)
commits=0
while read -r commit; do
  commits=$((commits + 1))
  while IFS=$'\t' read -r meta path; do
    blob=$(awk '{print $3}' <<<"$meta")
    printf '%s\t%s\t%s\n' "$blob" "$commit" "$path" >>"$index"
    [ -n "${seen[$blob]:-}" ] && continue
    seen[$blob]=1
    [ -n "${allowed[$blob]:-}" ] && continue
    case "$path" in package-lock.json|*.png|*.jpg|*.ico|*.woff*|patches/*) continue ;; esac
    mkdir -p "$work/blobs/$blob/$(dirname "$path")"
    git cat-file -p "$blob" >"$work/blobs/$blob/$path"
  done < <(git ls-tree -r "$commit")
done < <(git rev-list --all)
if [ ! -d "$work/blobs" ]; then echo "scan:history: nothing to scan"; exit 0; fi
if node_modules/.bin/secretlint --secretlintignore "$work/no-ignore" "${work#"$PWD"/}/blobs/**/*" >"$work/report.txt" 2>&1; then
  echo "scan:history: no secrets in ${#seen[@]} file versions across $commits commits"
  exit 0
fi
sed "s#$work/blobs/##; s#${work#"$PWD"/}/blobs/##" "$work/report.txt"
echo
echo "Where the flagged file versions appear (blob, commit, path):"
sed "s#$work/blobs/##; s#${work#"$PWD"/}/blobs/##" "$work/report.txt" | grep -o '^[0-9a-f]\{40\}' | sort -u | while read -r blob; do grep "^$blob" "$index"; done
exit 1

#!/usr/bin/env bash
# style-check.sh: banned functions and clang-format conformance of our own C sources.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^third_party/' || true)
[ -n "$files" ] || { echo "no sources"; exit 1; }
status=0
# curl's list, plus VLAs are caught by -Wvla. Unbounded or unchecked string functions only.
banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strncat|strtok|gets|atoi|atol|atoll|alloca|sscanf)[[:space:]]*\('
if grep -nE "$banned" $files | grep -vE '^\S+:[0-9]+:\s*(//|/\*|\*)'; then
  echo "style: banned function used (see above)"
  status=1
fi
if command -v clang-format >/dev/null; then
  bad=$(for f in $files; do clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
  if [ -n "$bad" ]; then
    echo "style: not clang-formatted: $bad"
    status=1
  fi
fi
[ $status = 0 ] && echo "style: ok ($(echo $files | wc -w) files)"
exit $status

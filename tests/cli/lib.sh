# Sourced by the CLI test scripts (tests/cli/*.sh, each run as `script.sh path/to/moevk`): sets
# MOEVK, HERE (this folder), SHARED (../shared or MOEVK_SHARED_DIR) and a temporary TMP removed at
# exit, and defines fail (count a failure), refuse (expect a clean refusal) and finish (the verdict).
# Not a test itself: ctest registers only the scripts that do not start with "lib".
set -uo pipefail
MOEVK=${1:?usage: $(basename "$0") path/to/moevk}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=${MOEVK_SHARED_DIR:-$HERE/../../../shared}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Expects a command to fail cleanly (exit 1 or 2, not a signal) with `pattern` in its stderr.
refuse() {
  local pattern=$1; shift
  "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ $rc -eq 0 ] || [ $rc -gt 2 ]; then fail "expected a clean refusal (rc 1/2), got rc $rc: $*"; return; fi
  grep -q -- "$pattern" "$TMP/err" || fail "stderr of '$*' lacks '$pattern': $(cat "$TMP/err")"
}

# Prints the verdict and exits non-zero after any failure.
finish() {
  local name
  name=$(basename "$0")
  if [ "$fails" -eq 0 ]; then echo "$name: all checks passed"; else echo "$name: $fails failure(s)"; exit 1; fi
}

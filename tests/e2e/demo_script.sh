#!/usr/bin/env bash
# demo_script.sh - the README's first command works without sudo: scripts/demo.sh run by
# a user who is not root, on a machine without sudo, says what to do and exits 1 (as
# root it runs; with sudo it re-runs itself with sudo). Needs root for runuser; else 77.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[[ $(id -u) -eq 0 ]] && command -v runuser >/dev/null || { echo "skip: needs root and runuser"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
# A PATH with what the script needs before its check, and no sudo.
mkdir "$W/bin"
for t in id; do ln -s "$(command -v $t)" "$W/bin/$t"; done
set +e
runuser -u nobody -- /bin/bash -c "PATH=$W/bin; cd /; /bin/bash '$ROOT/scripts/demo.sh'" \
	>"$W/out" 2>&1
rc=$?
set -e
cat "$W/out"
[[ $rc -eq 1 ]] || { echo "FAIL: exit $rc, want 1"; exit 1; }
grep -q "run this as root" "$W/out" || { echo "FAIL: no advice"; exit 1; }
grep -q "sudo is not installed" "$W/out" || { echo "FAIL: does not say sudo is missing"; exit 1; }
echo "ok   demo.sh without root and without sudo: says what to do, exit 1"

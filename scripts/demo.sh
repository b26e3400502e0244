#!/usr/bin/env bash
# demo.sh - the README's first command: install what is missing, build the
# release preset, and run `mqttids demo` (about two minutes; needs root for
# network namespaces, else it falls back to loopback addresses).
set -euo pipefail
# Installing packages and making namespaces take root: re-run with sudo when
# it is there, else say what to do (a container or a root shell has no sudo).
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo -- "$0" "$@"
	fi
	echo "demo.sh: run this as root (for example: su -c '$0'), it installs" \
		"Debian packages and creates network namespaces; sudo is not installed" >&2
	exit 1
fi
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j2 >/dev/null
exec build/release/mqttids demo "$@"

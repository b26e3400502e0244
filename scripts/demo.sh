#!/usr/bin/env bash
# demo.sh - the README's first command: install what is missing, build the
# release preset, and run `mqttids demo` (about two minutes; needs root for
# network namespaces, else it falls back to loopback addresses).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j2 >/dev/null
exec build/release/mqttids demo "$@"

#!/usr/bin/env bash
# install-deps.sh - install the Debian packages mqttids needs to build, test and
# run its demo; only the missing ones are installed. Needs root (apt-get).
#   scripts/install-deps.sh          build, tests and demo
#   scripts/install-deps.sh --ci     also the fuzzing toolchain (clang, libFuzzer)
set -euo pipefail

PKGS=(build-essential cmake pkg-config
      libpcap-dev libyaml-dev libcjson-dev libjsmn-dev libcmocka-dev libssl-dev libmosquitto-dev
      libsqlite3-dev sqlite3
      mosquitto mosquitto-clients tshark tcpdump python3 iproute2 procps ca-certificates)
[[ ${1:-} == --ci ]] && PKGS+=(clang llvm libclang-rt-14-dev)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
if ((EUID != 0)); then
	echo "install-deps.sh: missing packages: ${missing[*]}; run as root (sudo $0) to install them" >&2
	exit 1
fi
echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# install-suricata.sh - install Suricata 7 from Debian bookworm-backports for bench/run.sh.
#
# usage: bench/install-suricata.sh        (root; Debian 12 bookworm)
#
# bookworm itself has no suricata package (apt-cache policy lists only bookworm-backports' 7.0.x
# here). The script
#   1. adds /etc/apt/sources.list.d/bookworm-backports.sources (deb822, deb.debian.org,
#      the archive keyring, like debian.sources) unless a bookworm-backports entry exists;
#   2. runs apt-get update;
#   3. installs suricata from bookworm-backports (-t);
#   4. checks that `suricata --build-info` says version 7.
# Idempotent: a second run changes nothing and exits 0 when Suricata 7 is installed.
# Only Debian's mirror is contacted. Suricata's own service is not started by the bench
# (it runs `suricata -r FILE` with bench/suricata.yaml); on a machine without systemd the
# package's postinst does not start it either.
set -euo pipefail

die() { echo "install-suricata.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root"
. /etc/os-release
[[ ${VERSION_CODENAME:-} == bookworm ]] || die "this is for Debian 12 bookworm (found ${PRETTY_NAME:-unknown})"

# (the output is captured first: grep -q closing the pipe early would fail it under pipefail)
INFO=
is_v7() {
	command -v suricata >/dev/null && INFO=$(suricata --build-info 2>/dev/null) &&
		[[ $INFO == "This is Suricata version 7."* ]]
}
if is_v7; then
	echo "${INFO%%$'\n'*}"
	exit 0
fi

SRC=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat >"$SRC" <<-'EOF'
		Types: deb
		URIs: http://deb.debian.org/debian
		Suites: bookworm-backports
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	echo "install-suricata.sh: added $SRC" >&2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q -t bookworm-backports suricata
is_v7 || die "suricata --build-info does not report version 7: ${INFO%%$'\n'*}"
echo "${INFO%%$'\n'*}"

#!/usr/bin/env bash
# run_selftest.sh - prove that sv_check accepts right EVE output and rejects wrong or malformed input.
#
# Usage: run_selftest.sh SV_CHECK_BINARY [--regen]
#
#   pass/       test.yaml whose every filter must PASS (or SKIP) on eve.jsonl
#   fail/       test.yaml whose every filter must FAIL on eve.jsonl
#   malformed/  broken YAML/JSON that must give exit status 2 and name file:line
#
# pass/ and fail/ also hold expected.txt, sv_check's exact report; --regen
# rewrites those on purpose after a deliberate change of wording.

set -u

prog=run_selftest.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
passed=0 failed=0 regen=0

if (($# < 1 || $# > 2)) || { (($# == 2)) && [[ $2 != --regen ]]; }; then
	echo "usage: $prog SV_CHECK_BINARY [--regen]" >&2
	exit 2
fi
case $1 in
/*) sv_check=$1 ;;
*) sv_check=$PWD/$1 ;;
esac
(($# == 2)) && regen=1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sv_check-selftest.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

# ok MESSAGE / bad MESSAGE - record one outcome.
ok() {
	echo "ok: $1"
	((passed += 1))
}
bad() {
	echo "FAILED: $1"
	((failed += 1))
}

# run_pair DIR WANT_STATUS LINE_STATUS - run sv_check in DIR on the pair
# there; it must exit WANT_STATUS, every filter line must carry LINE_STATUS
# (SKIP lines allowed only for the PASS pair), and the report must equal
# DIR/expected.txt.
run_pair() {
	local dir=$1 want=$2 status=$3 rc filters lines other
	(cd "$here/$dir" && "$sv_check" test.yaml eve.jsonl >"$tmp/$dir.out" 2>"$tmp/$dir.err")
	rc=$?
	if ((rc == want)); then
		ok "$dir: exit status $rc"
	else
		bad "$dir: exit status $rc, want $want"
		sed 's/^/    /' "$tmp/$dir.err"
	fi

	filters=$(grep -c '^  - [a-z-]*:' "$here/$dir/test.yaml")
	lines=$(grep -c "^$status check " "$tmp/$dir.out")
	if [[ $status == PASS ]]; then
		other=$(grep -vc '^\(PASS\|SKIP\) check ' "$tmp/$dir.out")
		lines=$((lines + $(grep -c '^SKIP check ' "$tmp/$dir.out")))
	else
		other=$(grep -vc "^$status check " "$tmp/$dir.out")
	fi
	if ((other == 0 && lines == filters)); then
		ok "$dir: every one of the $filters checks gave ${status/%PASS/PASS (or SKIP)}"
	else
		bad "$dir: $lines of $filters checks gave $status; other lines:"
		grep -v "^$status check " "$tmp/$dir.out" | sed 's/^/    /'
	fi

	if ((regen)); then
		cp "$tmp/$dir.out" "$here/$dir/expected.txt"
		echo "regenerated $dir/expected.txt"
	elif diff -u "$here/$dir/expected.txt" "$tmp/$dir.out" >"$tmp/$dir.diff"; then
		ok "$dir: report equals expected.txt"
	else
		bad "$dir: report differs from expected.txt:"
		sed 's/^/    /' "$tmp/$dir.diff"
	fi
}

# run_malformed YAML JSONL WHERE - sv_check must exit 2 and its message must
# name WHERE (file:line).
run_malformed() {
	local yaml=$1 jsonl=$2 where=$3 rc
	(cd "$here" && "$sv_check" "$yaml" "$jsonl" >"$tmp/m.out" 2>"$tmp/m.err")
	rc=$?
	if ((rc == 2)) && grep -qF -- "$where" "$tmp/m.err" && [[ ! -s $tmp/m.out ]]; then
		ok "malformed: $where reported"
	else
		bad "malformed: $yaml $jsonl: exit status $rc (want 2), want \"$where\" in:"
		sed 's/^/    /' "$tmp/m.err" "$tmp/m.out"
	fi
}

run_pair pass 0 PASS
run_pair fail 1 FAIL
run_malformed malformed/bad_syntax.yaml pass/eve.jsonl "malformed/bad_syntax.yaml:6:"
run_malformed malformed/bad_schema.yaml pass/eve.jsonl "malformed/bad_schema.yaml:4:"
run_malformed malformed/good.yaml malformed/bad.jsonl "malformed/bad.jsonl:3:"
run_malformed malformed/good.yaml malformed/array.jsonl "malformed/array.jsonl:2:"
run_malformed malformed/missing.yaml pass/eve.jsonl "malformed/missing.yaml"

echo "selftest: $passed passed, $failed failed"
((failed == 0))

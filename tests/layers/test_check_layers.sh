#!/usr/bin/env bash
# test_check_layers.sh - scripts/check_layers.py on small fake src/ trees:
# each case builds a tree in a temp dir, runs the checker from the tree's
# parent (so paths print as src/...), and checks exit status and messages.
# Usage: tests/layers/test_check_layers.sh   (PYTHON3 overrides /usr/bin/python3)
set -u
here=$(cd "$(dirname "$0")" && pwd)
checker="$here/../../scripts/check_layers.py"
py=${PYTHON3:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# put FILE TEXT: write TEXT (printf %b) to $tree/src/FILE, creating folders
put() { mkdir -p "$(dirname "$tree/src/$1")"; printf '%b' "$2" >"$tree/src/$1"; }

# base: a clean tree that every case starts from
new_tree() {
    tree="$tmp/$1"
    put util/rd.h '#pragma once\n#include <stdint.h>\n'
    put mqtt/mqtt_types.h '#include "util/rd.h"\n'
    put net/flow.h '#include <string.h>\n#include "../util/rd.h"\n'
    put event/event.h '#include "mqtt/mqtt_types.h"\n'
    put rules/rules.h '#include "event/event.h"\n'
    put rules/rule_int.h '#include "rules.h" /* next to the file */\n'
    put sensor/sensor.h '#include "event/event.h"  // trailing comment\n'
    put detect/detect.h '#include "rules/rules.h"\n#include "sensor/sensor.h"\n'
    put output/out.h '#include "event/event.h"\n'
    put engine/engine.h '#include "detect/detect.h"\n#include "output/out.h"\n'
    put capture/capture.c '#include "engine/engine.h"\n#include "net/flow.h"\n'
    put demo/demo.c '#include "rules/rules.h"\n'
    put main.c '#include <stdio.h>\n#include "capture/capture.c"\n'
}

# run NAME WANT_RC [ARGS...]: run the checker on $tree, keep output in $out
run() {
    local name=$1 want=$2; shift 2
    out=$(cd "$tree" && "$py" "$checker" "$@" src 2>&1)
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit $rc, want $want"; echo "$out" | sed 's/^/    /'
        fails=$((fails + 1))
    fi
}

# expect NAME LINE: the last run printed exactly LINE as one of its lines
expect() {
    if ! grep -qxF -- "$2" <<<"$out"; then
        echo "FAIL $1: no line: $2"; echo "$out" | sed 's/^/    /'
        fails=$((fails + 1))
    fi
}

# 1. clean tree (relative includes, angle includes, trailing comments)
new_tree clean
run clean 0
expect clean "check_layers: 13 files, 15 quoted includes, 0 errors"
run clean-quiet 0 --quiet
[ -z "$out" ] || { echo "FAIL clean-quiet: printed: $out"; fails=$((fails + 1)); }
run clean-graph 0 --graph
expect clean-graph "detect   (5) -> rules    (4)    1"

# 2. upward include, and the cycle it closes
new_tree upward
put event/event.h '#include "mqtt/mqtt_types.h"\n\n#include "rules/rules.h"\n'
run upward 1
expect upward "src/event/event.h:3: upward include of rules/rules.h (event, layer 3 -> rules, layer 4)"
expect upward "src: folder cycle event -> rules -> event (via src/event/event.h:3, src/rules/rules.h:1)"
expect upward "check_layers: 13 files, 16 quoted includes, 2 errors (1 cycle, 1 upward)"
run upward-quiet 1 --quiet
[ "$(wc -l <<<"$out")" -eq 2 ] || { echo "FAIL upward-quiet: $out"; fails=$((fails + 1)); }
run upward-graph 1 --graph
expect upward-graph "event    (3) -> rules    (4)    1  ! upward"

# 3. include between two folders of one layer
new_tree same
put net/flow.h '#include "mqtt/mqtt_types.h"\n'
run same 1
expect same "src/net/flow.h:1: same-layer include of mqtt/mqtt_types.h (net, layer 2 -> mqtt, layer 2)"

# 4. a folder that the table does not place
new_tree unplaced
put plugins/plugin.c '#include "util/rd.h"\n'
run unplaced 1
expect unplaced "src/plugins: folder plugins is not in the layer table"

# 5. includes in comments and dead #if blocks are not includes
new_tree comments
put util/rd.c '// #include "engine/engine.h"\n/* #include "engine/engine.h" */\n/*\n#include "engine/engine.h"\n*/\n#if 0\n#include "engine/engine.h"\n#endif\n#if 1\n#else\n#include "engine/engine.h"\n#endif\nconst char *s = "/* not a comment";\n#include "util/rd.h"\n'
run comments 0
expect comments "check_layers: 14 files, 16 quoted includes, 0 errors"

# 6. a quoted include found nowhere
new_tree unknown
put sensor/sensor.c '#include "sensor/sensor.h"\n#include "nosuch/missing.h"\n'
run unknown 1
expect unknown 'src/sensor/sensor.c:2: unknown include "nosuch/missing.h" (not under src, not a system header)'

if [ "$fails" -ne 0 ]; then echo "test_check_layers: $fails failure(s)"; exit 1; fi
echo "test_check_layers: all cases passed"

#!/usr/bin/python3
"""check_layers.py - enforce the include layering of src/.

The rule: every folder directly under src/ sits on one layer of LAYERS below
(bottom first). A file may #include "..." a file of its own folder, or of a
folder on a LOWER layer. It is an error to include
  - a folder on a higher layer            ("upward include"),
  - another folder on the same layer      ("same-layer include"),
  - a quoted header found neither under src/ nor in the system include
    directories                           ("unknown include").
It is also an error for a folder under src/ to be missing from LAYERS, and
every cycle in the folder graph is reported on its own (the layer rules imply
there are none, but the table may one day put folders side by side).
Files directly in src/ (main.c) count as the pseudo-folder TOP ("main");
src/a/b/x.c belongs to folder "a". Angle includes <...> are ignored, and so
are includes inside comments and in #if 0 blocks (and #else of #if 1).
A quoted include is looked up next to the including file, then under src/.

To change the layering, edit LAYERS: one inner list per layer, bottom first;
folders in the same inner list are side by side and may not include each
other. A folder named in LAYERS that does not exist is only a note.

Usage: scripts/check_layers.py [--graph] [--quiet] [SRC_DIR]
  SRC_DIR   default: the src/ of this checkout (../src from this script)
  --quiet   print only the error lines (no notes, no summary)
  --graph   print the folder dependency graph instead (edges with include
            counts, violating edges marked); the exit status is unchanged
Exit status: 1 if any error was found, else 0. Standard library only.
"""

import argparse
import glob
import os
import re
import sys

TOP = "main"  # pseudo-folder for the files directly in src/
LAYERS = [
    ["util"],
    ["net", "mqtt"],
    ["event"],
    ["rules", "sensor"],
    ["detect"],
    ["output"],
    ["engine"],
    ["capture"],
    ["demo"],
    [TOP],
]

SYSTEM_DIRS = ["/usr/local/include", "/usr/include"] + sorted(
    d for d in glob.glob("/usr/include/*-linux-gnu*") if os.path.isdir(d))
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
DIRECTIVE_RE = re.compile(r'^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)')


def strip_comments(text):
    """Blank out /* */ and // comments, keeping newlines and string literals."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            j = i + 1  # a literal ends at its quote or, unterminated, at \n
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" and text[j + 1:j + 2] != "\n" else 1
            j = min(j + 1, n) if j < n and text[j] == c else j
            out.append(text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def quoted_includes(path):
    """(line number, name) of each live #include "name" of a file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = strip_comments(f.read()).split("\n")
    stack, found = [], []  # stack: [skip this branch, constant 0/1/None]
    for num, line in enumerate(lines, 1):
        m = DIRECTIVE_RE.match(line)
        if m:
            kind, arg = m.group(1), m.group(2).strip()
            if kind.startswith("if"):
                const = {"0": 0, "1": 1}.get(arg) if kind == "if" else None
                stack.append([const == 0, const])
            elif stack and kind in ("elif", "else"):
                frame = stack[-1]
                frame[0] = frame[1] == 1  # dead after a taken #if 1
                if frame[1] == 0 and kind == "elif":
                    frame[1] = None
            elif stack and kind == "endif":
                stack.pop()
            continue
        if any(frame[0] for frame in stack):
            continue
        m = INCLUDE_RE.match(line)
        if m:
            found.append((num, m.group(1)))
    return found


def folder_of(rel):
    parts = rel.split("/")
    return TOP if len(parts) == 1 else parts[0]


def resolve(src, including, name):
    """Path relative to src/ of an include, '' for a system header, None."""
    for base in (os.path.dirname(including), src):
        cand = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(cand):
            rel = os.path.relpath(cand, src).replace(os.sep, "/")
            if not rel.startswith("../"):
                return rel
    if any(os.path.isfile(os.path.join(d, name)) for d in SYSTEM_DIRS):
        return ""
    return None


def find_cycles(edges):
    """Each elementary cycle once, as a node list starting at its least node."""
    succ = {}
    for a, b in edges:
        if a != b:
            succ.setdefault(a, set()).add(b)
    cycles = []

    def walk(start, path, on_path):
        for nxt in sorted(succ.get(path[-1], ())):
            if nxt == start:
                cycles.append(path + [start])
            elif nxt > start and nxt not in on_path and len(cycles) < 100:
                on_path.add(nxt)
                walk(start, path + [nxt], on_path)
                on_path.discard(nxt)

    for start in sorted(succ):
        walk(start, [start], {start})
    return cycles


def main():
    default_src = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    ap = argparse.ArgumentParser(
        description="Check the include layering of src/ (see the header).")
    ap.add_argument("src", nargs="?", default=default_src)
    ap.add_argument("--graph", action="store_true", help="print the graph")
    ap.add_argument("--quiet", action="store_true", help="only errors")
    args = ap.parse_args()
    src = os.path.abspath(args.src)
    if not os.path.isdir(src):
        sys.exit("check_layers: %s is not a directory" % args.src)

    def show(rel):
        return os.path.relpath(os.path.join(src, rel)) if rel else \
            os.path.relpath(src)

    layer = {f: i + 1 for i, names in enumerate(LAYERS) for f in names}
    if len(layer) != sum(map(len, LAYERS)):
        sys.exit("check_layers: a folder is named twice in LAYERS")

    files, folders = [], set()
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if root == src:
            folders.update(dirs)
        files += [os.path.join(root, n) for n in names
                  if n.endswith((".c", ".h"))]
    files.sort()

    errors, counts, notes, n_includes = [], {}, [], 0
    edges = {}  # (from folder, to folder) -> [count, first "file:line"]

    def error(kind, msg):
        errors.append(msg)
        counts[kind] = counts.get(kind, 0) + 1

    for f in sorted(folders - set(layer)):
        error("unplaced folder",
              "%s: folder %s is not in the layer table" % (show(f), f))
    for f in sorted(set(layer) - folders - {TOP}):
        notes.append("note: layer table names %s, which is not a folder "
                     "under %s" % (f, show("")))

    bad_edges = {}
    for path in files:
        rel = os.path.relpath(path, src).replace(os.sep, "/")
        a = folder_of(rel)
        for num, name in quoted_includes(path):
            n_includes += 1
            where = "%s:%d" % (show(rel), num)
            target = resolve(src, path, name)
            if target is None:
                error("unknown include",
                      "%s: unknown include \"%s\" (not under %s, not a "
                      "system header)" % (where, name, show("")))
                continue
            if target == "":
                continue
            b = folder_of(target)
            edge = edges.setdefault((a, b), [0, where])
            edge[0] += 1
            if a == b or a not in layer or b not in layer:
                continue
            if layer[a] < layer[b]:
                kind = "upward"
            elif layer[a] == layer[b]:
                kind = "same-layer"
            else:
                continue
            bad_edges[(a, b)] = kind
            error(kind, "%s: %s include of %s (%s, layer %d -> %s, layer %d)"
                  % (where, kind, target, a, layer[a], b, layer[b]))

    for cyc in find_cycles(edges):
        via = ", ".join(edges[(x, y)][1] for x, y in zip(cyc, cyc[1:]))
        error("cycle", "%s: folder cycle %s (via %s)"
              % (show(""), " -> ".join(cyc), via))

    if args.graph:
        def key(e):
            return (-layer.get(e[0], 0), e[0], -layer.get(e[1], 0), e[1])
        print("# folder include graph of %s: from (layer) -> to (layer), "
              "#include lines" % show(""))
        for a, b in sorted((e for e in edges if e[0] != e[1]), key=key):
            mark = "  ! " + bad_edges[(a, b)] if (a, b) in bad_edges else ""
            print("%-8s (%s) -> %-8s (%s) %4d%s"
                  % (a, layer.get(a, "?"), b, layer.get(b, "?"),
                     edges[(a, b)][0], mark))
        return 1 if errors else 0

    for line in errors:
        print(line)
    if not args.quiet:
        for line in notes:
            print(line)
        detail = ", ".join("%d %s" % (counts[k], k) for k in sorted(counts))
        print("check_layers: %d files, %d quoted includes, %d errors%s"
              % (len(files), n_includes, len(errors),
                 " (%s)" % detail if detail else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

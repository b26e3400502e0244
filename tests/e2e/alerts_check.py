#!/usr/bin/env python3
"""alerts_check.py - checks the IDS's alerts against a testbed run's ground truth.

Given labels.jsonl, the expectation file (tools/testbed/expected-alerts.json,
described in docs/detection-tests.md) and one or two EVE files (the live
IDS's and `mqttids read`'s on the same capture), it checks, for each EVE:

  - every label gets exactly the alerts its kind expects (classification,
    priority, sid, src = the attacker), raised inside its window (start - 1 s
    to end + 5 s), with as many alert records and as large a total_violation
    (after alert_update records) as the label's own counts say;
  - an alert is explained only by a label whose kind expects its
    classification and whose window holds it, from the label's attacker (or,
    where the kind allows it, from the victim device; or, for findings of a
    device itself such as tampering and silence, with the label's device in
    metadata.detector.device); every other alert is
    a false positive: benign traffic raises none;
  - when two attacks of one attacker touch the same rule within its
    cooldown, the later one's matches are added to the earlier alert (that
    is what cooldowns do): the later label is "aggregated", and the counts of
    both are only bounded, not exact;

and with two EVE files, that they agree: the same multiset of (sid, src,
classification) alert records, with final totals within 5 % (at least 2).

usage: alerts_check.py --labels LABELS --expect EXPECTED --eve EVE [--eve EVE2]
                       [--name NAME]... [--kinds K1,K2,...] [--quiet]
Prints one line per check; exits 1 if any failed, 2 on bad input.
"""
import argparse
import ast
import collections
import datetime
import json
import sys


def ts_of(s):
    """EVE timestamp ("2025-01-01T00:00:17.709033+0000") to epoch seconds."""
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def ts_of_iso(s):
    """Seed-004 time ("2025-01-01T00:00:17.709033+00:00") to epoch seconds."""
    return datetime.datetime.fromisoformat(s).timestamp()


def contribution(meta, lab):
    """The most matches of a classification another attack (label) can have
    added to an alert's count: its "contributed_by" expression, where fields
    the label lacks count 0; 0 when its condition does not hold."""
    cb = meta.get("contributed_by")
    if not cb or not condition(cb.get("when"), lab):
        return 0
    return evaluate(cb["expr"], lab, lenient=True)


# ---------------------------------------------------------------- expectations

class ExpectError(Exception):
    pass


def label_value(label, path):
    """A label field by dotted path ("detail.refused"); duration_s is derived."""
    if path == "duration_s":
        return (label["end_us"] - label["start_us"]) / 1e6
    v = label
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            raise ExpectError(f"label has no field '{path}'")
        v = v[part]
    return v


def evaluate(expr, label, lenient=False):
    """A number, or an arithmetic expression (+ - * / // and parentheses) over
    numbers and dotted label paths (lenient: a missing field is 0)."""
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        return expr
    if not isinstance(expr, str):
        raise ExpectError(f"expected a number or an expression, got {expr!r}")

    def walk(n):
        if isinstance(n, ast.Expression):
            return walk(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return n.value
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -walk(n.operand)
        if isinstance(n, ast.BinOp):
            a, b = walk(n.left), walk(n.right)
            if isinstance(n.op, ast.Add):
                return a + b
            if isinstance(n.op, ast.Sub):
                return a - b
            if isinstance(n.op, ast.Mult):
                return a * b
            if isinstance(n.op, ast.Div):
                return a / b
            if isinstance(n.op, ast.FloorDiv):
                return a // b
        if isinstance(n, (ast.Name, ast.Attribute)):
            parts = []
            while isinstance(n, ast.Attribute):
                parts.append(n.attr)
                n = n.value
            if isinstance(n, ast.Name):
                parts.append(n.id)
                try:
                    v = label_value(label, ".".join(reversed(parts)))
                except ExpectError:
                    if lenient:
                        return 0
                    raise
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ExpectError(f"label field {'.'.join(reversed(parts))} is not a number")
                return v
        raise ExpectError(f"unsupported expression {expr!r}")

    try:
        return walk(ast.parse(expr, mode="eval"))
    except SyntaxError:
        raise ExpectError(f"bad expression {expr!r}")


def count_range(spec, label):
    """(lo, hi) of a count spec: N, "expr", {"expr", "below", "above", "pct"}
    or {"min", "max"}."""
    if isinstance(spec, dict):
        if "expr" in spec:
            v = evaluate(spec["expr"], label)
            pct = abs(v) * spec.get("pct", 0) / 100
            return (v - evaluate(spec.get("below", 0), label) - pct,
                    v + evaluate(spec.get("above", 0), label) + pct)
        lo = evaluate(spec.get("min", 0), label)
        hi = evaluate(spec["max"], label) if "max" in spec else float("inf")
        return lo, hi
    v = evaluate(spec, label)
    return v, v


def topic_levels(s):
    return s.split("/")


def filters_overlap(rule, sub):
    """Whether some topic matches both MQTT filters (a topic name is a filter
    without wildcards); a '$' first level is reached only literally (MQTT 5.0
    4.7.2), as src/rules/topic.c does."""
    a, b = topic_levels(rule), topic_levels(sub)
    wild = lambda lv: lv[0] in ("+", "#")
    if wild(a) != wild(b):
        lit = b if wild(a) else a
        if lit[0].startswith("$"):
            return False
    i = 0
    while True:
        if i < len(a) and a[i] == "#" and i == len(a) - 1:
            return True
        if i < len(b) and b[i] == "#" and i == len(b) - 1:
            return True
        if i >= len(a) or i >= len(b):
            return len(a) == len(b)
        if a[i] != "+" and b[i] != "+" and a[i] != b[i]:
            return False
        i += 1


def condition(c, label):
    """Evaluates a "when" condition; a missing label field makes it false."""
    if c is None:
        return True
    if "any" in c:
        return any(condition(x, label) for x in c["any"])
    if "all" in c:
        return all(condition(x, label) for x in c["all"])
    try:
        v = label_value(label, c["path"])
    except ExpectError:
        return False
    for op, want in c.items():
        if op == "path":
            continue
        if op == "ge" and not v >= want:
            return False
        if op == "gt" and not v > want:
            return False
        if op == "le" and not v <= want:
            return False
        if op == "lt" and not v < want:
            return False
        if op == "eq" and v != want:
            return False
        if op == "in" and v not in want:
            return False
        if op == "prefix" and not str(v).startswith(want):
            return False
        if op == "overlaps" and not filters_overlap(want, str(v)):
            return False
        if op in ("eq_path", "ne_path"):
            try:
                same = v == label_value(label, want)
            except ExpectError:
                return False
            if same != (op == "eq_path"):
                return False
        if op not in ("ge", "gt", "le", "lt", "eq", "in", "prefix", "overlaps", "eq_path", "ne_path"):
            raise ExpectError(f"unknown condition operator '{op}'")
    return True


def expected_for(label, exp):
    """The expect entries of the label's kind whose condition holds, or None
    when the file has no such kind."""
    k = exp["kinds"].get(label["kind"])
    if k is None:
        return None
    return [e for e in k["expect"] if condition(e.get("when"), label)]


# ---------------------------------------------------------------- alerts

class Alert:
    def __init__(self, rec):
        m = rec.get("mqttids", {})
        a = rec.get("alert", {})
        md = m.get("metadata", {})
        self.uuid = m.get("uuid")
        self.sid = a.get("signature_id")
        self.cls = m.get("classification", a.get("signature"))
        self.priority = m.get("priority")
        self.src = m.get("src")
        self.t = ts_of(rec["timestamp"])
        fv = md.get("first_violation")
        self.first = min(self.t, ts_of_iso(fv)) if fv else self.t
        self.total = md.get("total_violation", 0)
        self.client_ids = (md.get("mqtt") or {}).get("client_id") or []
        # A data detector's finding names its device (docs/sensors.md).
        self.device = (md.get("detector") or {}).get("device")
        self.updates = 0
        self.label = None
        self.victim = False

    def short(self, t0):
        return (f"{self.cls!r} sid {self.sid} src {self.src} at +{self.t - t0:.1f}s "
                f"total {self.total}{' (' + str(self.updates) + ' updates)' if self.updates else ''}")


def load_alerts(path):
    alerts, by_uuid, orphans = [], {}, 0
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise ExpectError(f"{path}:{n}: not JSON: {e}")
            et = rec.get("event_type")
            if et == "alert":
                a = Alert(rec)
                alerts.append(a)
                by_uuid[a.uuid] = a
            elif et == "alert_update":
                u = rec.get("mqttids", {})
                a = by_uuid.get(u.get("uuid"))
                if a is None:
                    orphans += 1
                    continue
                a.total = max(a.total, u.get("metadata", {}).get("total_violation", 0))
                a.updates += 1
    alerts.sort(key=lambda a: a.t)
    return alerts, orphans


# ---------------------------------------------------------------- the check

class Report:
    def __init__(self, name, quiet):
        self.name = name
        self.failed = 0
        self.quiet = quiet

    def line(self, ok, what, detail):
        if ok and self.quiet:
            return
        print(f"{'ok  ' if ok else 'FAIL'} [{self.name}] {what:<18} {detail}")
        if not ok:
            self.failed += 1


def fmt_range(lo, hi):
    lo_s = f"{lo:g}" if lo == int(lo) else f"{lo:.1f}"
    if hi == float("inf"):
        return f">= {lo_s}"
    hi_s = f"{hi:g}" if hi == int(hi) else f"{hi:.1f}"
    return lo_s if lo == hi else f"{lo_s}..{hi_s}"


def check_eve(name, path, labels, exp, quiet):
    rep = Report(name, quiet)
    alerts, orphans = load_alerts(path)
    if orphans:
        rep.line(False, "alert_update", f"{orphans} alert_update records without their alert")
    before, after = exp["window"]["before_s"], exp["window"]["after_s"]
    classes = exp["classifications"]
    t0 = min([l["start_us"] / 1e6 for l in labels] + [a.t for a in alerts] or [0])

    # What each label expects.
    plan = []
    for lab in labels:
        try:
            ents = expected_for(lab, exp)
        except ExpectError as e:
            rep.line(False, lab["kind"], f"expectation does not fit the label: {e}")
            ents = []
        if ents is None:
            rep.line(False, lab["kind"], "no expectation for this kind in the expectation file")
            ents = []
        k = exp["kinds"].get(lab["kind"], {})
        # An entry may widen the window after the label ("after_s": a device
        # back from a silence is seen at its next reading).
        w_after = max([after] + [e.get("after_s", 0) for e in ents])
        plan.append({
            "lab": lab, "ents": ents, "classes": {e["classification"] for e in ents},
            # Classifications raised by the device itself (tampering, silence):
            # the alert's metadata.detector.device is the label's device.
            "from_device": {e["classification"] for e in ents if e.get("from") == "device"},
            "victim": set(k.get("victim_may_raise", [])),
            "w0": lab["start_us"] / 1e6 - before, "w1": lab["end_us"] / 1e6 + w_after,
        })

    # Each alert to the label that explains it: one that expects its
    # classification from its src, whose window holds the alert (else whose
    # window meets the alert's evidence, first_violation to the alert); the
    # most recent of them.
    for a in alerts:
        best = None
        for p in plan:
            lab = p["lab"]
            if not (p["w0"] <= a.t and a.first <= p["w1"]):
                continue
            own = a.src == lab["attacker"] and a.cls in p["classes"]
            if a.cls in p["from_device"] and lab.get("device") and a.device == lab["device"]:
                own = True
            vic = (a.src != lab["attacker"] and a.cls in p["victim"] and lab.get("device")
                   and lab["device"] in a.client_ids)
            if not (own or vic):
                continue
            rank = (p["w0"] <= a.t <= p["w1"], lab["start_us"])
            if best is None or rank > best[0]:
                best = (rank, p, bool(vic and not own))
        if best:
            a.label, a.victim = best[1]["lab"], best[2]

    # Every label's expected alerts.
    for p in plan:
        lab = p["lab"]
        rel = lab["start_us"] / 1e6 - t0
        tag = f"{lab['kind']} +{rel:.0f}s"
        if not p["ents"]:
            got = [a for a in alerts if a.label is lab]
            rep.line(not got, tag, "no alert expected" if not got else
                     f"{len(got)} alerts, none expected")
            continue
        for e in p["ents"]:
            c = e["classification"]
            meta = classes.get(c)
            if meta is None:
                rep.line(False, tag, f"{c!r} is not in the expectation file's classifications")
                continue
            cool = meta["cooldown_s"]
            owned = [a for a in alerts if a.label is lab and a.cls == c and not a.victim]
            # Shared with an earlier attack: its alert was still cooling when this one began.
            earlier = [a for a in alerts if a.cls == c and a.src == lab["attacker"] and a.label is not lab
                       and c not in p["from_device"]
                       and a.t < lab["start_us"] / 1e6 and a.t + cool >= p["w0"] + before]
            # Shared with neighbours: other attacks of this attacker whose packets fell
            # between the first event counted and the end of the cooldown also count.
            neigh = []
            if owned:
                s0, s1 = min(a.first for a in owned), max(a.t for a in owned) + cool
                neigh = [q for q in plan if q is not p and q["lab"]["attacker"] == lab["attacker"]
                         and q["w0"] <= s1 and s0 <= q["w1"] and contribution(meta, q["lab"]) > 0]
            bad_meta = [a for a in owned if a.priority != meta["priority"] or a.sid not in meta["sids"]]
            if bad_meta:
                a = bad_meta[0]
                rep.line(False, tag, f"{c!r}: priority {a.priority} sid {a.sid}, expected "
                         f"{meta['priority']} sid {meta['sids']}")
            try:
                alo, ahi = count_range(e.get("alerts", 1), lab)
                tlo, thi = count_range(e.get("total", e.get("alerts", 1)), lab)
            except ExpectError as x:
                rep.line(False, tag, f"{c!r}: {x}")
                continue
            total = sum(a.total for a in owned)
            delay = f", first after {owned[0].t - lab['start_us'] / 1e6:+.2f}s" if owned else ""
            if not owned and not earlier and e.get("optional"):
                rep.line(True, tag, f"{c!r}: no alert (optional: {e.get('why', '')[:60]})")
            elif not owned and not earlier:
                rep.line(False, tag, f"{c!r}: no alert (expected {fmt_range(alo, ahi)} with total "
                         f"{fmt_range(tlo, thi)})")
            elif earlier or neigh:
                # Bounded: this attack's own count, give or take what the neighbours sent.
                how = []
                if earlier:
                    how.append(f"its first matches counted in the alert raised at +{earlier[-1].t - t0:.1f}s "
                               f"({earlier[-1].label['kind'] if earlier[-1].label else '?'})")
                if neigh:
                    how.append("with matches of " + ", ".join(q["lab"]["kind"] for q in neigh))
                extra = sum(contribution(meta, q["lab"]) for q in neigh)
                lo_ok = not owned or total >= (1 if earlier else tlo)
                ok = len(owned) <= ahi + len(neigh) and lo_ok and total <= thi + extra
                rep.line(ok, tag, f"{c!r}: {len(owned)} alerts, total {total} (shared: "
                         f"{'; '.join(how)}; alone {fmt_range(alo, ahi)} alerts, total "
                         f"{fmt_range(tlo, thi)}; bounds {fmt_range(1 if earlier else tlo, thi + extra)})"
                         f"{delay}")
            else:
                ok = alo <= len(owned) <= ahi and tlo <= total <= thi
                rep.line(ok, tag, f"{c!r}: {len(owned)} alerts (expected {fmt_range(alo, ahi)}), "
                         f"total {total} (expected {fmt_range(tlo, thi)}){delay}")
        vic = [a for a in alerts if a.label is lab and a.victim]
        if vic:
            rep.line(True, tag, f"{len(vic)} alerts from the victim device ({lab.get('device')}) "
                     f"allowed: " + ", ".join(f"{a.cls!r} src {a.src}" for a in vic))

    # False positives.
    fp = [a for a in alerts if a.label is None]
    if fp:
        by = collections.Counter((a.cls, a.src) for a in fp)
        rep.line(False, "false positives", f"{len(fp)} alerts not explained by any label: " +
                 "; ".join(f"{n} x {c!r} from {s}" for (c, s), n in by.most_common()))
        for a in fp[:10]:
            print(f"       {a.short(t0)}")
    else:
        rep.line(True, "false positives", f"none ({len(alerts)} alerts, all explained by "
                 f"{len([p for p in plan if p['ents']])} attack labels)")
    return rep, alerts


def agree(name_a, alerts_a, name_b, alerts_b, quiet):
    rep = Report(f"{name_a}={name_b}", quiet)
    key = lambda a: (a.sid, a.src, a.cls)
    ka = collections.defaultdict(list)
    kb = collections.defaultdict(list)
    for a in alerts_a:
        ka[key(a)].append(a)
    for a in alerts_b:
        kb[key(a)].append(a)
    diff = []
    for k in sorted(set(ka) | set(kb), key=str):
        la, lb = ka.get(k, []), kb.get(k, [])
        if len(la) != len(lb):
            diff.append(f"{k[2]!r} sid {k[0]} src {k[1]}: {len(la)} in {name_a}, {len(lb)} in {name_b}")
            continue
        for x, y in zip(la, lb):
            tol = max(2, 0.05 * max(x.total, y.total))
            if abs(x.total - y.total) > tol:
                diff.append(f"{k[2]!r} sid {k[0]} src {k[1]}: total {x.total} in {name_a}, "
                            f"{y.total} in {name_b}")
            if abs(x.t - y.t) > 1.0:
                diff.append(f"{k[2]!r} sid {k[0]} src {k[1]}: raised {x.t - y.t:+.3f}s apart")
    rep.line(not diff, "agreement", f"{len(alerts_a)} alerts in {name_a}, {len(alerts_b)} in {name_b}" +
             ("; same alerts, totals within 5 %" if not diff else ": " + "; ".join(diff[:12])))
    return rep


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--eve", action="append", required=True, help="EVE file (once or twice)")
    ap.add_argument("--name", action="append", help="a name per EVE file (default live, read)")
    ap.add_argument("--kinds", help="comma-separated kinds that must all be labelled")
    ap.add_argument("--quiet", action="store_true", help="print failures only")
    a = ap.parse_args()
    if len(a.eve) > 2:
        ap.error("at most two --eve")
    names = a.name or (["live", "read"] if len(a.eve) == 2 else ["eve"])
    if len(names) != len(a.eve):
        ap.error("one --name per --eve")
    try:
        exp = json.load(open(a.expect))
        labels = [json.loads(l) for l in open(a.labels) if l.strip()]
        labels.sort(key=lambda l: l["start_us"])
        failed = 0
        results = []
        for n, path in zip(names, a.eve):
            rep, alerts = check_eve(n, path, labels, exp, a.quiet)
            failed += rep.failed
            results.append((n, alerts))
        if len(results) == 2:
            failed += agree(results[0][0], results[0][1], results[1][0], results[1][1], a.quiet).failed
        if a.kinds:
            missing = set(a.kinds.split(",")) - {l["kind"] for l in labels}
            if missing:
                print(f"FAIL labels: missing kinds {sorted(missing)}")
                failed += 1
    except (OSError, ExpectError, ValueError, KeyError) as e:
        print(f"alerts_check: {e}", file=sys.stderr)
        return 2
    n_alerts = ", ".join(f"{len(al)} alerts in {n}" for n, al in results)
    print(f"alerts_check: {len(labels)} labels, {n_alerts}: "
          f"{'all checks passed' if not failed else f'{failed} checks FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

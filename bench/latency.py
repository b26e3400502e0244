#!/usr/bin/env python3
"""latency.py - alert latency of `mqttids live` on loopback.

usage: bench/latency.py [--mqttids PATH] [--count 5000] [--rate 500] [--threshold 5]
                        [--reader c|python] [--port P] [--json FILE] [--keep DIR]

Starts a private mosquitto on 127.0.0.1 (the first free port from 18883 up, never
another address), then

    mqttids live -i lo --filter "tcp port P" --mqtt-port P --rules RULE --eve - --no-console

with one rule,

    mqtt any -> any src; name: bench latency; threshold: T; interval: 10; cooldown: 0;
        msg_type: publish; sid: 1999001

and publishes COUNT QoS 0 messages, one every 1/RATE s on an absolute schedule
(not in one burst, so queueing does not dominate), with `mosquitto_pub -l
--nodelay` fed by a pacer process. Every T-th publish of the connection crosses
the threshold and raises an alert, so COUNT/T alerts are expected. mqttids
flushes its EVE stream right after each alert record.

The reader of mqttids' stdout stamps each read() with CLOCK_REALTIME as soon as it
returns, and every alert line completed by that read gets the stamp. By default
the reader is bench/out/eve_stamp (a plain C read() loop, built by `make -C
bench`) and this script collects its stamped lines; --reader python reads the
pipe here instead (to see the interpreter's own jitter). The latency of an alert is that stamp minus the alert's "timestamp",
which is the capture time (kernel timestamp, same clock) of the packet that
crossed the threshold. It covers the kernel's delivery to libpcap, decoding,
rule matching, the alert record, the write and the pipe to this reader.

--floor measures the baseline instead: bench/out/pcap_lat, a libpcap reader opened
as mqttids live opens lo, records for every publish packet to the broker the time
from its capture timestamp to its delivery (the same traffic, no decoding, no
rules, no output). mqttids' latency minus this floor is its own share.

Prints one summary line and, with --json, writes the figures
(count, expected, min/mean/p50/p90/p99/max in µs, the raw latencies).
Everything is bounded: --duration for mqttids, a deadline for the whole run,
and the broker, publisher and mqttids are stopped on every exit path (by
process group id, never by name). Exit status 0 when COUNT/T alerts arrived.
"""
import argparse
import datetime
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"  # loopback only
SID = 1999001
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def pace(count, rate, delay):
    """Pacer mode: COUNT JSON readings on stdout, one every 1/RATE s."""
    out = sys.stdout.buffer
    time.sleep(delay)  # let mosquitto_pub connect first, so nothing queues
    t0 = time.monotonic()
    for i in range(count):
        due = t0 + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        out.write(b'{"device":"bench-latency","seq":%d,"temperature":21.%d,"humidity":4%d}\n'
                  % (i, i % 10, i % 7))
        out.flush()


def free_port(start=18883, stop=18983):
    for p in range(start, stop):
        r = subprocess.run(["ss", "-Htan", "( sport = :%d or dport = :%d )" % (p, p)],
                           capture_output=True, text=True)
        if r.returncode == 0 and not r.stdout.strip():
            return p
    raise SystemExit("latency.py: no free port in %d-%d" % (start, stop - 1))


def ts_us(s):
    """EVE timestamp ("2024-01-01T12:00:00.123456+0000") to µs since the epoch."""
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")
    return (d - EPOCH) // datetime.timedelta(microseconds=1)


def pct(v, p):
    """Nearest-rank percentile of a sorted list."""
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))
    return v[int(k)]


class Procs:
    """Children started in their own sessions, stopped by process group id."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=3.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mqttids", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "build", "release", "mqttids"))
    ap.add_argument("--count", type=int, default=5000, help="messages published (default 5000)")
    ap.add_argument("--rate", type=float, default=500, help="messages per second (default 500)")
    ap.add_argument("--threshold", type=int, default=5, help="the rule's threshold (default 5)")
    ap.add_argument("--reader", choices=("c", "python"), default="c",
                    help="who stamps the EVE lines: bench/out/eve_stamp (default) or this script")
    ap.add_argument("--floor", action="store_true",
                    help="the capture floor instead: bench/out/pcap_lat in mqttids' place")
    ap.add_argument("--port", type=int, help="broker port (default: first free from 18883)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", help="keep the rule, EVE alert lines and logs in this directory")
    ap.add_argument("--pace", nargs=3, metavar=("COUNT", "RATE", "DELAY"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.pace:
        try:
            pace(int(a.pace[0]), float(a.pace[1]), float(a.pace[2]))
        except BrokenPipeError:
            pass
        return 0
    for t in ("mosquitto", "mosquitto_pub", "ss"):
        if not shutil.which(t):
            raise SystemExit("latency.py: %s is not installed" % t)
    if not os.access(a.mqttids, os.X_OK):
        raise SystemExit("latency.py: no mqttids at %s" % a.mqttids)
    here = os.path.dirname(os.path.abspath(__file__))
    stamper = os.path.join(here, "out", "eve_stamp")
    if a.reader == "c" or a.floor:
        subprocess.run(["make", "-s", "-C", here], check=True, stdout=subprocess.DEVNULL)
    floor_lat = None

    port = a.port or free_port()
    expected = a.count // a.threshold
    send_s = a.count / a.rate
    deadline = time.monotonic() + send_s + 60  # the whole run, startup included
    work = tempfile.mkdtemp(prefix="mqttids-latency.")
    procs = Procs()
    # SIGTERM/SIGINT end the run through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    alerts = []  # (receipt ns, line)
    try:
        with open(os.path.join(work, "mosquitto.conf"), "w") as f:
            f.write("listener %d %s\nallow_anonymous true\npersistence false\nlog_dest none\n"
                    % (port, HOST))
        rule = os.path.join(work, "latency.rules")
        with open(rule, "w") as f:
            f.write("mqtt any -> any src; name: bench latency; priority: 1; threshold: %d; "
                    "interval: 10; cooldown: 0; msg_type: publish; sid: %d\n" % (a.threshold, SID))
        broker = procs.start(["mosquitto", "-c", os.path.join(work, "mosquitto.conf")],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "mosquitto.log"), "w"))
        for _ in range(100):
            try:
                socket.create_connection((HOST, port), timeout=0.2).close()
                break
            except OSError:
                if broker.poll() is not None:
                    raise SystemExit("latency.py: mosquitto exited: %s" %
                                     open(os.path.join(work, "mosquitto.log")).read())
                time.sleep(0.05)
        else:
            raise SystemExit("latency.py: mosquitto did not listen on %d" % port)

        errpath = os.path.join(work, "mqttids.err")
        if a.floor:
            cmd = [os.path.join(here, "out", "pcap_lat"), "lo", "tcp port %d" % port, str(port)]
        else:
            cmd = [a.mqttids, "live", "-i", "lo", "--filter", "tcp port %d" % port,
                   "--mqtt-port", str(port), "--rules", rule, "--eve", "-", "--no-console",
                   "--duration", str(int(send_s + 45))]
        ids = procs.start(cmd, stdout=subprocess.PIPE, stderr=open(errpath, "w"), stdin=subprocess.DEVNULL)
        src = ids.stdout
        if a.reader == "c" and not a.floor:
            stamp = procs.start([stamper], stdin=ids.stdout, stdout=subprocess.PIPE)
            ids.stdout.close()
            src = stamp.stdout
        while "capturing on" not in open(errpath).read():
            if ids.poll() is not None or time.monotonic() > deadline - send_s - 30:
                raise SystemExit("latency.py: %s did not start:\n%s" % (cmd[0], open(errpath).read()))
            time.sleep(0.02)
        time.sleep(0.2)

        pacer = procs.start([sys.executable, os.path.abspath(__file__), "--pace", str(a.count),
                             str(a.rate), "0.3"], stdout=subprocess.PIPE)
        pub = procs.start(["mosquitto_pub", "-h", HOST, "-p", str(port), "-i", "bench-latency",
                           "-t", "bench/latency/dev-1", "-q", "0", "-l", "--nodelay", "--quiet"],
                          stdin=pacer.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pacer.stdout.close()

        if a.floor:
            # pcap_lat prints its per-packet latencies when it stops.
            while pub.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            procs.stop(pub)
            procs.stop(pacer)
            ids.send_signal(signal.SIGINT)
            out, _ = ids.communicate(timeout=20)
            floor_lat = [int(x) for x in out.split()]
            rc_pub = pub.returncode
            src = None
        # The measuring loop: read, stamp, keep the alert lines (with --reader c, collect
        # the lines eve_stamp stamped).
        fd = src.fileno() if src else -1
        if fd >= 0:
            os.set_blocking(fd, False)
            sel = selectors.DefaultSelector()
            sel.register(fd, selectors.EVENT_READ)
        clock = time.clock_gettime_ns
        RT = time.CLOCK_REALTIME
        buf = b""
        pub_done_at = None
        eof = False
        while fd >= 0 and len(alerts) < expected and not eof:
            now = time.monotonic()
            if now > deadline:
                print("latency.py: deadline reached", file=sys.stderr)
                break
            if pub_done_at is None and pub.poll() is not None:
                pub_done_at = now
            if pub_done_at is not None and now - pub_done_at > 3:
                break  # the publisher is done and nothing more came for 3 s
            if not sel.select(0.5):
                continue
            while True:
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    break
                t = clock(RT)
                if not chunk:
                    eof = True
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for ln in lines:
                    if a.reader == "c":
                        sec, _, ln = ln.partition(b" ")
                        s_, _, ns = sec.partition(b".")
                        alerts.append((int(s_) * 1000000000 + int(ns), ln))
                    elif b'"event_type":"alert"' in ln:
                        alerts.append((t, ln))
                if pub_done_at is not None:
                    pub_done_at = time.monotonic()
        if fd >= 0:
            procs.stop(pub)
            procs.stop(pacer)
            procs.stop(ids, signal.SIGINT, grace=5)
            rc_pub = pub.returncode
    finally:
        procs.stop_all()
        if a.keep:
            os.makedirs(a.keep, exist_ok=True)
            with open(os.path.join(a.keep, "alerts.json"), "wb") as f:
                f.writelines(ln + b"\n" for _, ln in alerts)
            for n in os.listdir(work):
                shutil.copy(os.path.join(work, n), a.keep)
        shutil.rmtree(work, ignore_errors=True)

    lat = []
    bad = 0
    for t, ln in alerts:
        r = json.loads(ln)
        if r.get("alert", {}).get("signature_id") != SID:
            bad += 1
            continue
        lat.append(t // 1000 - ts_us(r["timestamp"]))
    if a.floor:
        lat, expected = list(floor_lat), a.count
    series = list(lat)  # in arrival order, for looking at when the slow ones came
    lat.sort()
    res = {
        "count": len(lat), "expected": expected, "messages": a.count, "rate": a.rate,
        "threshold": a.threshold, "port": port, "other_alerts": bad,
        "reader": "pcap_lat" if a.floor else a.reader, "floor": a.floor,
        "publisher_exit": rc_pub,
        "min_us": lat[0] if lat else None,
        "mean_us": round(sum(lat) / len(lat), 1) if lat else None,
        "p50_us": pct(lat, 50), "p90_us": pct(lat, 90), "p99_us": pct(lat, 99),
        "max_us": lat[-1] if lat else None,
        "over_1ms": sum(1 for v in lat if v >= 1000),
        "negative": sum(1 for v in lat if v < 0),
        "latencies_us": series,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f)
    if lat:
        print("latency (%s): %d/%d %s (%d messages at %g/s): min %d µs, mean %.0f µs, p50 %d µs, "
              "p90 %d µs, p99 %d µs, max %d µs; %d at >= 1 ms"
              % ("capture floor, pcap_lat" if a.floor else a.reader + " reader", len(lat), expected,
                 "publish packets" if a.floor else "alerts", a.count, a.rate, res["min_us"], res["mean_us"], res["p50_us"],
                 res["p90_us"], res["p99_us"], res["max_us"], res["over_1ms"]))
    else:
        print("latency: no alerts (%d expected)" % expected)
    return 0 if len(lat) == expected or (a.floor and len(lat) >= expected) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""pcap_gaps.py - does a capture hold every TCP payload byte? (stdlib + tshark)

Usage: pcap_gaps.py CAPTURE.pcap

For every TCP stream direction, the payload byte ranges [seq, seq+len) (tshark
relative sequence numbers, so 1 is the first byte after the SYN) must cover
1..end without a hole, where end is the highest of: the last payload byte seen,
the FIN's sequence number, and the peer's highest ACK minus one (so a lost
tail is caught too).  A hole means the capture lost packets (kernel
drops: ring buffer too small for a burst), and then a decoder and tshark may
legitimately disagree about what follows it.  Out-of-order segments are fine.

Exit status: 0 no gaps, 1 gaps (each is printed), 2 tshark failed.
Fields used: tcp.stream ip.src tcp.srcport ip.dst tcp.dstport tcp.seq tcp.len
             tcp.ack tcp.flags.fin tcp.flags.ack
"""

import collections
import subprocess
import sys


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    cmd = ["tshark", "-r", argv[1], "-Y", "tcp", "-o", "tcp.relative_sequence_numbers:TRUE",
           "-T", "fields", "-E", "separator=\t",
           "-e", "tcp.stream", "-e", "ip.src", "-e", "tcp.srcport",
           "-e", "ip.dst", "-e", "tcp.dstport", "-e", "tcp.seq", "-e", "tcp.len",
           "-e", "tcp.ack", "-e", "tcp.flags.fin", "-e", "tcp.flags.ack"]
    try:
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print("pcap_gaps: ERROR: tshark failed: %s" % e)
        return 2
    ranges = collections.defaultdict(list)
    end = collections.defaultdict(int)     # direction -> sequence number data must reach
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 10 or not f[5] or not f[6]:
            continue
        src, dst = "%s:%s" % (f[1], f[2]), "%s:%s" % (f[3], f[4])
        key, rev = (int(f[0]), src, dst), (int(f[0]), dst, src)
        seq, ln = int(f[5]), int(f[6])
        if ln > 0:
            ranges[key].append((seq, seq + ln))
            end[key] = max(end[key], seq + ln)
        if f[8] in ("1", "True"):          # FIN at seq: all data before it was sent
            end[key] = max(end[key], seq)
        if f[9] in ("1", "True") and f[7]:  # the peer acknowledged up to ack-1 (maybe a FIN)
            end[rev] = max(end[rev], int(f[7]) - 1)
    gaps = []
    total = 0
    for key in sorted(set(ranges) | set(end)):
        pos = 1
        for a, b in sorted(ranges[key]):
            if a > pos:
                gaps.append((key, pos, a))
            pos = max(pos, b)
        if end[key] > pos:
            gaps.append((key, pos, end[key]))
        total += pos - 1
    for (stream, src, dst), a, b in gaps:
        print("pcap_gaps: tcp.stream %d %s -> %s: bytes %d..%d (%d bytes) never captured"
              % (stream, src, dst, a, b - 1, b - a))
    if gaps:
        print("pcap_gaps: FAIL: %d holes in %d stream directions: the capture dropped packets"
              % (len(gaps), len(set(ranges) | set(end))))
        return 1
    print("pcap_gaps: OK: %d stream directions, %d payload bytes, no holes" % (len(set(ranges) | set(end)), total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""make_seeds.py - builds the seed corpora in fuzz/corpus/<target>/.

Seeds come from two places:
  * the suricata-verify MQTT captures in ../shared/conformance/, read in
    place: their MQTT messages, per-direction TCP payload streams, TCP
    segment sequences and Ethernet frames are re-encoded in each target's
    input format (only small derived files are written, plus a few whole
    pcaps under 20 KB for the pcap pipeline);
  * hand-built edge cases: MQTT 3.1/3.1.1/5.0 messages that hit each
    decoder branch, other link types, VLANs, IPv6, IP fragments,
    reordered and overlapping TCP segments, and YAML configurations.

Usage: fuzz/make_seeds.py [--shared DIR] [--out fuzz/corpus]
Seeds are named seed-*; files libFuzzer found are kept beside them (the
script never deletes anything but seed-* files of the targets it writes).
"""
import argparse
import glob
import hashlib
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SEED = 8192          # bytes; keeps libFuzzer's default -max_len sane
MAX_WHOLE_PCAP = 20000   # whole captures copied for pcap_pipeline

# ---------------------------------------------------------------- MQTT ----


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s16(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def msg(first, body, rl=None):
    return bytes([first]) + (varint(len(body)) if rl is None else rl) + body


def props(*items):
    blk = b"".join(items)
    return varint(len(blk)) + blk


def p_byte(i, v): return bytes([i, v])
def p_u16(i, v): return bytes([i]) + struct.pack(">H", v)
def p_u32(i, v): return bytes([i]) + struct.pack(">I", v)
def p_str(i, s): return bytes([i]) + s16(s)
def p_var(i, v): return bytes([i]) + varint(v)
def p_pair(k, v): return bytes([38]) + s16(k) + s16(v)


def connect(level=4, name="MQTT", flags=0x02, cid="c1", keep=60, prp=None,
            will=None, user=None, pw=None):
    body = s16(name) + bytes([level, flags]) + struct.pack(">H", keep)
    if level == 5:
        body += prp if prp is not None else props()
    body += s16(cid)
    if will is not None:
        wprops, wtopic, wmsg = will
        if level == 5:
            body += wprops
        body += s16(wtopic) + s16(wmsg)
    if user is not None:
        body += s16(user)
    if pw is not None:
        body += s16(pw)
    return msg(0x10, body)


def hand_messages():
    """One list of (name, bytes): decoder edge cases of every type."""
    all5 = props(p_byte(1, 1), p_u32(2, 60), p_str(3, "text/plain"),
                 p_str(8, "resp/t"), p_str(9, b"\x00\x01corr"), p_var(11, 7),
                 p_u16(35, 3), p_pair("k", "v"), p_pair("k", "v2"))
    m = []
    m.append(("connect-v311", connect()))
    m.append(("connect-v31", connect(3, "MQIsdp")))
    m.append(("connect-v5-props", connect(
        5, prp=props(p_u32(17, 3600), p_u16(33, 20), p_u16(34, 10),
                     p_u32(39, 65536), p_byte(23, 1), p_byte(25, 1),
                     p_str(21, "SCRAM"), p_str(22, b"\x01\x02"),
                     p_pair("dev", "x1")))))
    m.append(("connect-v5-will", connect(
        5, flags=0x2e | 0xc0, will=(props(p_u32(24, 5), p_byte(1, 1),
                                           p_str(3, "json")),
                                     "will/t", "bye"),
        user="alice", pw="secret")))
    m.append(("connect-v311-userpass", connect(
        4, flags=0xc2, user="u", pw=b"\xff\x00pw")))
    m.append(("connect-reserved-bit", connect(4, flags=0x03)))
    m.append(("connect-pw-no-user", connect(4, flags=0x42, pw="p")))
    m.append(("connect-will-qos3", connect(
        4, flags=0x1e, will=(b"", "w", "m"))))
    m.append(("connect-bad-name", connect(4, "MQTX")))
    m.append(("connect-level-6", connect(6)))
    m.append(("connect-v5-unknown-prop", connect(
        5, prp=props(p_u16(33, 1), bytes([0x7f, 0, 0])))))
    m.append(("connect-v5-proplen-overrun", connect(
        5, prp=b"\x20" + p_u16(33, 1))))
    m.append(("connect-v5-misplaced", connect(
        5, prp=props(p_u16(35, 1), p_u16(33, 1), p_u16(33, 2)))))
    m.append(("connect-utf8-bad", connect(4, cid=b"\xc0\x80\xed\xa0\x80")))
    m.append(("connect-utf8-null", connect(4, cid=b"a\x00b")))
    m.append(("connect-short", msg(0x10, s16("MQTT") + b"\x04")))
    m.append(("connack-v311", msg(0x20, b"\x00\x00")))
    m.append(("connack-v311-bad-rc", msg(0x20, b"\x01\x06")))
    m.append(("connack-v5-props", msg(0x20, b"\x00\x00" + props(
        p_str(18, "auto-1234"), p_u16(19, 30), p_byte(36, 1), p_byte(37, 0),
        p_byte(40, 1), p_byte(41, 1), p_byte(42, 0), p_str(26, "info"),
        p_str(28, "other"), p_str(31, "ok"), p_pair("a", "b")))))
    m.append(("connack-v5-134", msg(0x20, b"\x00\x86" + props())))
    m.append(("publish-qos0", msg(0x30, s16("a/b") + b"hello")))
    m.append(("publish-qos1", msg(0x32, s16("a/b") + b"\x00\x01" + b"x")))
    m.append(("publish-qos2-dup-retain",
              msg(0x3d, s16("a/b") + b"\x12\x34" + b"payload")))
    m.append(("publish-qos3", msg(0x36, s16("t") + b"\x00\x02")))
    m.append(("publish-wildcard", msg(0x30, s16("a/+/#") + b"z")))
    m.append(("publish-empty-topic", msg(0x30, s16("") + b"z")))
    m.append(("publish-zero-id", msg(0x32, s16("t") + b"\x00\x00")))
    m.append(("publish-v5-all-props",
              msg(0x32, s16("t/1") + b"\x00\x07" + all5 + b"data")))
    m.append(("publish-v5-alias-zero",
              msg(0x30, s16("") + props(p_u16(35, 0)) + b"d")))
    m.append(("publish-binary", msg(0x30, s16("bin") + bytes(range(256)))))
    m.append(("publish-overlong-len",
              msg(0x30, s16("t") + b"x", rl=b"\x84\x80\x80\x00")))
    m.append(("publish-short", msg(0x30, b"\x00\x09ab")))
    for t, name in ((0x40, "puback"), (0x50, "pubrec"), (0x62, "pubrel"),
                    (0x70, "pubcomp")):
        m.append((name, msg(t, b"\x00\x01")))
        m.append((name + "-v5", msg(t, b"\x00\x01\x10" +
                                    props(p_str(31, "why"), p_pair("x", "y")))))
        m.append((name + "-v5-rc-only", msg(t, b"\x00\x01\x92")))
    m.append(("pubrel-bad-flags", msg(0x60, b"\x00\x01")))
    m.append(("subscribe", msg(0x82, b"\x00\x02" + s16("a/#") + b"\x01")))
    m.append(("subscribe-many", msg(0x82, b"\x00\x03" + b"".join(
        s16("t/%d" % i) + bytes([i % 3]) for i in range(6)))))
    m.append(("subscribe-v5", msg(0x82, b"\x00\x04" + props(p_var(11, 9),
                                                             p_pair("s", "1"))
                                  + s16("$share/g/a/+") + b"\x2e")))
    m.append(("subscribe-bad-filter",
              msg(0x82, b"\x00\x05" + s16("a#") + b"\x00" + s16("") + b"\x03"
                  + s16("a/+b") + b"\xc0")))
    m.append(("subscribe-no-topics", msg(0x82, b"\x00\x06")))
    m.append(("subscribe-trailing", msg(0x82, b"\x00\x06" + s16("x") + b"\x00\x00")))
    m.append(("suback", msg(0x90, b"\x00\x02\x00\x01\x02\x80")))
    m.append(("suback-v5", msg(0x90, b"\x00\x02" + props(p_str(31, "r")) +
                               b"\x00\x01\x02\x80\x8f\x9e\xa1\xa2\x05")))
    m.append(("unsubscribe", msg(0xa2, b"\x00\x07" + s16("a/#") + s16("b"))))
    m.append(("unsubscribe-v5", msg(0xa2, b"\x00\x07" +
                                    props(p_pair("u", "p")) + s16("a"))))
    m.append(("unsuback", msg(0xb0, b"\x00\x07")))
    m.append(("unsuback-v5", msg(0xb0, b"\x00\x07" + props() + b"\x00\x11\x87")))
    m.append(("pingreq", msg(0xc0, b"")))
    m.append(("pingresp", msg(0xd0, b"")))
    m.append(("pingreq-bad-flags", msg(0xc3, b"")))
    m.append(("disconnect", msg(0xe0, b"")))
    m.append(("disconnect-v5", msg(0xe0, b"\x04" + props(
        p_u32(17, 0), p_str(28, "srv"), p_str(31, "bye")))))
    m.append(("auth-v5", msg(0xf0, b"\x18" + props(
        p_str(21, "SCRAM"), p_str(22, b"\x00\x01")))))
    m.append(("auth-bad-rc", msg(0xf0, b"\x55")))
    m.append(("reserved-type0", msg(0x00, b"\x01\x02")))
    m.append(("varint-5-bytes", b"\x30\x80\x80\x80\x80\x01"))
    m.append(("varint-max", b"\x30\xff\xff\xff\x7f"))
    m.append(("props-many", msg(0x20, b"\x00\x00" + props(
        *[p_pair("k%d" % i, "v") for i in range(12)]))))
    m.append(("props-varint-id-overlong", msg(0x20, b"\x00\x00" +
                                              props(b"\x9f\x00" + s16("x")))))
    return m


def split_frames(stream):
    """Splits a byte stream into MQTT frames (last one may be cut)."""
    out, off = [], 0
    while off < len(stream):
        n, mul, i = 0, 1, off + 1
        ok = False
        while i < len(stream) and i < off + 5:
            b = stream[i]
            n += (b & 0x7f) * mul
            mul *= 128
            i += 1
            if not b & 0x80:
                ok = True
                break
        if not ok:
            out.append(stream[off:])
            break
        out.append(stream[off:i + n])
        off = i + n
    return out

# ---------------------------------------------------------------- pcap ----


def read_pcap(path):
    """Classic pcap only: returns (linktype, [(ts_us, frame)])."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    nsec = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    lt = struct.unpack(e + "I", data[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, cap, _ = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        us = frac // 1000 if nsec else frac
        out.append((sec * 1000000 + us, data[off:off + cap]))
        off += cap
    return lt, out


def write_pcap(path, frames, linktype=1, snap=65535):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, snap,
                            linktype))
        for ts, fr in frames:
            cap = fr[:snap]
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000,
                                len(cap), len(fr)))
            f.write(cap)


def parse_tcp_frame(fr):
    """Ethernet (+VLAN) / IPv4|IPv6 / TCP -> dict, or None."""
    if len(fr) < 14:
        return None
    et = struct.unpack(">H", fr[12:14])[0]
    off = 14
    while et in (0x8100, 0x88a8) and len(fr) >= off + 4:
        et = struct.unpack(">H", fr[off + 2:off + 4])[0]
        off += 4
    if et == 0x0800:
        ihl = (fr[off] & 15) * 4
        tot = struct.unpack(">H", fr[off + 2:off + 4])[0]
        if fr[off + 9] != 6:
            return None
        src, dst = fr[off + 12:off + 16], fr[off + 16:off + 20]
        l4 = fr[off + ihl:off + tot]
    elif et == 0x86dd:
        plen = struct.unpack(">H", fr[off + 4:off + 6])[0]
        if fr[off + 6] != 6:
            return None
        src, dst = fr[off + 8:off + 24], fr[off + 24:off + 40]
        l4 = fr[off + 40:off + 40 + plen]
    else:
        return None
    if len(l4) < 20:
        return None
    sp, dp, seq, ack, doff, fl = struct.unpack(">HHIIBB", l4[:14])
    hl = (doff >> 4) * 4
    return dict(src=src, dst=dst, sport=sp, dport=dp, seq=seq, ack=ack,
                flags=fl & 0x1f, payload=l4[hl:])


def conversations(frames, ports=(1883,)):
    """Per TCP connection: list of (dir, pkt-dict, ts); dir 1 = to client."""
    convs = {}
    for ts, fr in frames:
        p = parse_tcp_frame(fr)
        if not p:
            continue
        key = tuple(sorted([(p["src"], p["sport"]), (p["dst"], p["dport"])]))
        d = 1 if p["sport"] in ports else 0
        convs.setdefault(key, []).append((d, p, ts))
    return list(convs.values())


def dir_streams(conv):
    """In-order payload per direction (retransmitted bytes dropped)."""
    out = [bytearray(), bytearray()]
    nxt = [None, None]
    for d, p, _ in conv:
        if p["flags"] & 0x02:
            nxt[d] = (p["seq"] + 1) & 0xffffffff
            continue
        pl = p["payload"]
        if not pl:
            continue
        if nxt[d] is None:
            nxt[d] = p["seq"]
        off = (p["seq"] - nxt[d]) & 0xffffffff
        if off >= 0x80000000:
            skip = (nxt[d] - p["seq"]) & 0xffffffff
            if skip >= len(pl):
                continue
            pl = pl[skip:]
            off = 0
        if off:
            continue  # a hole; these captures have none
        out[d] += pl
        nxt[d] = (nxt[d] + len(pl)) & 0xffffffff
    return bytes(out[0]), bytes(out[1])

# ------------------------------------------------------- packet builders --


def tcp(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, seq & 0xffffffff,
                       ack & 0xffffffff, 5 << 4, flags, 65535, 0, 0) + payload


def ipv4(src, dst, l4, ident=1, off=0, mf=False, proto=6, tot=None):
    fo = (off // 8) | (0x2000 if mf else 0)
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, tot or 20 + len(l4), ident,
                      fo, 64, proto, 0, src, dst)
    return hdr + l4


def ipv6(src, dst, l4, nh=6):
    return struct.pack(">IHBB16s16s", 6 << 28, len(l4), nh, 64, src,
                       dst) + l4


def ipv6_frag(src, dst, l4_part, off, more, ident, nh=6):
    ext = struct.pack(">BBHI", nh, 0, off | (1 if more else 0), ident)
    return struct.pack(">IHBB16s16s", 6 << 28, len(ext) + len(l4_part), 44,
                       64, src, dst) + ext + l4_part


MAC_C = b"\x02\x00\x00\x00\x00\x01"
MAC_S = b"\x02\x00\x00\x00\x00\x02"


def ether(ip, v6=False, to_client=False, vlans=()):
    dst, src = (MAC_C, MAC_S) if to_client else (MAC_S, MAC_C)
    hdr = dst + src
    for i, v in enumerate(vlans):
        tpid = 0x88a8 if i == 0 and len(vlans) > 1 else 0x8100
        hdr += struct.pack(">HH", tpid, v)
    return hdr + struct.pack(">H", 0x86dd if v6 else 0x0800) + ip


def sll(ip, v6=False):
    return struct.pack(">HHH8sH", 0, 1, 6, MAC_C + b"\0\0",
                       0x86dd if v6 else 0x0800) + ip


def sll2(ip, v6=False):
    return struct.pack(">HHIHBB8s", 0x86dd if v6 else 0x0800, 0, 1, 1, 0, 6,
                       MAC_C + b"\0\0") + ip


def null_hdr(ip, v6=False, big=False):
    af = 30 if v6 else 2
    return struct.pack(">I" if big else "<I", af) + ip


CLI4, SRV4 = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2])
CLI6 = b"\xfd" + b"\0" * 14 + b"\x01"
SRV6 = b"\xfd" + b"\0" * 14 + b"\x02"


def conversation_segments(cstream, sstream, chunk=None):
    """Alternating client/server messages as TCP payloads: [(dir, bytes)]."""
    cm, sm = split_frames(cstream), split_frames(sstream)
    segs = []
    i = j = 0
    while i < len(cm) or j < len(sm):
        if i < len(cm):
            segs.append((0, cm[i]))
            i += 1
        if j < len(sm):
            segs.append((1, sm[j]))
            j += 1
    if chunk:
        out = []
        for d, b in segs:
            for k in range(0, len(b), chunk):
                out.append((d, b[k:k + chunk]))
        segs = out
    return segs


def tcp_packets(segs, cport=40001, sport=1883, handshake=True, fin=True,
                isn=(1000, 900000)):
    """TCP segments of one connection: [(dir, flags, seq, ack, payload)]."""
    nxt = [isn[0], isn[1]]
    out = []
    if handshake:
        out.append((0, 0x02, nxt[0], 0, b""))
        out.append((1, 0x12, nxt[1], nxt[0] + 1, b""))
        nxt = [nxt[0] + 1, nxt[1] + 1]
        out.append((0, 0x10, nxt[0], nxt[1], b""))
    for d, b in segs:
        out.append((d, 0x18, nxt[d], nxt[1 - d], b))
        nxt[d] += len(b)
    if fin:
        out.append((0, 0x11, nxt[0], nxt[1], b""))
        out.append((1, 0x11, nxt[1], nxt[0] + 1, b""))
        out.append((0, 0x10, nxt[0] + 1, nxt[1] + 1, b""))
    return out


def l4_of(p, cport, sport):
    d, fl, seq, ack, pl = p
    a, b = (cport, sport) if d == 0 else (sport, cport)
    return tcp(a, b, seq, ack, fl, pl)


def frames_for(pkts, link="ether", v6=False, cport=40001, sport=1883,
               vlans=(), frag=False, t0=1662362667000000, step=1000):
    """Link-layer frames (ts, bytes) for TCP packets."""
    out, ts, ident = [], t0, 100
    for p in pkts:
        d = p[0]
        seg = l4_of(p, cport, sport)
        src, dst = ((CLI6, SRV6) if v6 else (CLI4, SRV4))
        if d:
            src, dst = dst, src
        ips = []
        if frag and len(seg) > 24:
            ident += 1
            cut = ((len(seg) // 2) // 8) * 8 or 8
            parts = [(0, seg[:cut], True), (cut, seg[cut:], False)]
            parts.reverse()  # last fragment first: reassembly must wait
            for off, part, more in parts:
                if v6:
                    ips.append(ipv6_frag(src, dst, part, off, more, ident))
                else:
                    ips.append(ipv4(src, dst, part, ident, off, more,
                                    tot=20 + len(part)))
        else:
            ips.append(ipv6(src, dst, seg) if v6 else ipv4(src, dst, seg))
        for ip in ips:
            if link == "ether":
                fr = ether(ip, v6, d == 1, vlans)
            elif link == "sll":
                fr = sll(ip, v6)
            elif link == "sll2":
                fr = sll2(ip, v6)
            elif link == "null":
                fr = null_hdr(ip, v6)
            elif link == "loop":
                fr = null_hdr(ip, v6, big=True)
            else:
                fr = ip
            out.append((ts, fr))
            ts += step
    return out


LINKTYPE = {"ether": 1, "sll": 113, "sll2": 276, "raw": 101, "null": 0,
            "loop": 108, "ipv4": 228, "ipv6": 229}
# Index of each link type in fuzz_pcap_frames.c's table.
FRAMES_DLT_INDEX = {"ether": 0, "sll": 1, "sll2": 2, "raw": 3, "ipv4": 4,
                    "ipv6": 5, "null": 6, "loop": 7}

# ------------------------------------------------------- target encoders --


def enc_stream(segs, cfg=0):
    """fuzz_mqtt_stream input: config byte, then feed ops per segment."""
    out = bytearray([cfg])
    for d, b in segs:
        dbit = 0x80 if d else 0
        off = 0
        while off < len(b):
            left = len(b) - off
            if left >= 16:
                n = min(left // 16, 32)
                out.append(dbit | 0x20 | (n - 1))
                out += b[off:off + n * 16]
                off += n * 16
            else:
                out.append(dbit | (left - 1))
                out += b[off:]
                off = len(b)
    return bytes(out)


def enc_frames(frames, link):
    out = bytearray([FRAMES_DLT_INDEX[link]])
    prev = frames[0][0] if frames else 0
    for ts, fr in frames:
        dt = max(0, ts - prev)
        prev = ts
        step = min(127, dt // 10000) if dt < 1000000 else 128 + min(127, dt // 1000000)
        out.append(step)
        out += struct.pack(">H", len(fr)) + fr
    return bytes(out)


class ReasmModel:
    """Enough of the receiver to express absolute seqs as the harness's
    offsets from the next expected byte (no caps are hit by the seeds)."""

    def __init__(self, isn):
        self.isn = list(isn)
        self.nxt = [None, None]
        self.have = [[], []]

    def base(self, d):
        return self.nxt[d] if self.nxt[d] is not None else self.isn[d]

    def apply(self, d, fl, seq, n):
        if fl & 0x02:
            if self.nxt[d] is None:
                self.nxt[d] = (seq + 1) & 0xffffffff
            return
        if n and self.nxt[d] is None:
            self.nxt[d] = seq
        if n:
            self.have[d].append((seq, seq + n))
            moved = True
            while moved:
                moved = False
                for a, b in self.have[d]:
                    if a <= self.nxt[d] < b:
                        self.nxt[d] = b
                        moved = True
        if fl & 0x01 and self.nxt[d] is None:
            self.nxt[d] = seq + n


def enc_reasm(pkts, b0=0x7f, b1=0xff, b2=50, isn=(1000, 900000), dt=1):
    """fuzz_tcp_reasm input from absolute (dir, flags, seq, ack, payload)."""
    out = bytearray([b0, b1, b2]) + struct.pack(">II", *isn)
    m = ReasmModel(isn)
    for p in pkts:
        d, fl, seq, ack, pl = p[:5]
        extra_flags = p[5] if len(p) > 5 else 0
        n = min(len(pl), 255)
        soff = seq - m.base(d)
        soff = max(-32768, min(32767, soff))
        peer = m.base(1 - d)
        aoff = max(-128, min(127, (ack - peer) // 4))
        out += struct.pack(">BhBBbB", (0x80 if d else 0) | (fl & 0x1f) |
                           extra_flags, soff, n, 0, aoff, dt)
        m.apply(d, fl, m.base(d) + soff, n)
    return bytes(out)

# ----------------------------------------------------------------- main ---


class Corpus:
    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        for f in glob.glob(os.path.join(self.dir, "seed-*")):
            os.unlink(f)
        self.seen = set()
        self.count = 0

    def add(self, label, data):
        if len(data) > MAX_SEED and not label.startswith("pcap-"):
            data = data[:MAX_SEED]
        h = hashlib.sha1(data).hexdigest()[:12]
        if h in self.seen:
            return
        self.seen.add(h)
        label = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
        with open(os.path.join(self.dir, "seed-%s-%s" % (label[:48], h)),
                  "wb") as f:
            f.write(data)
        self.count += 1


def hand_conversation(v5):
    ver = 5 if v5 else 4
    e = props() if v5 else b""
    c = [connect(ver, cid="dev-1", user="u", pw="p", flags=0xc2),
         msg(0x82, b"\x00\x01" + e + s16("cmd/#") + b"\x01"),
         msg(0x32, s16("tele/1") + b"\x00\x02" + e + b"21.5"),
         msg(0x34, s16("tele/2") + b"\x00\x03" + e + b"x" * 40),
         msg(0x62, b"\x00\x03"),
         msg(0xa2, b"\x00\x04" + e + s16("cmd/#")),
         msg(0xc0, b""),
         msg(0xe0, b"")]
    s = [msg(0x20, b"\x00\x00" + (props(p_str(18, "auto")) if v5 else b"")),
         msg(0x90, b"\x00\x01" + e + b"\x01"),
         msg(0x40, b"\x00\x02"),
         msg(0x50, b"\x00\x03"),
         msg(0x70, b"\x00\x03"),
         msg(0xb0, b"\x00\x04" + (e + b"\x00" if v5 else b"")),
         msg(0xd0, b"")]
    return b"".join(c), b"".join(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(
        HERE, "..", "..", "shared", "conformance", "suricata-verify"))
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    a = ap.parse_args()

    cp = {t: Corpus(a.out, t) for t in ("mqtt_parse", "mqtt_stream",
                                        "tcp_reasm", "pcap_pipeline",
                                        "pcap_frames", "config")}
    pcaps = sorted(glob.glob(os.path.join(a.shared, "*", "*.pcap")))
    seen_pcap = set()
    streams = []  # (label, client stream, server stream)
    for path in pcaps:
        raw = open(path, "rb").read()
        h = hashlib.sha1(raw).hexdigest()
        if h in seen_pcap:
            continue
        seen_pcap.add(h)
        label = os.path.basename(os.path.dirname(path))
        lt, frames = read_pcap(path)
        if lt != 1:
            continue
        if len(raw) <= MAX_WHOLE_PCAP:
            cp["pcap_pipeline"].add("pcap-" + label, raw)
        else:
            # Snapped to 1 KB a frame, as a short snaplen would capture it:
            # the engine sees the IP lengths and declares the rest lost.
            tmp = os.path.join(cp["pcap_pipeline"].dir, ".tmp.pcap")
            write_pcap(tmp, frames, snap=1024)
            cp["pcap_pipeline"].add("pcap-snap-" + label, open(tmp, "rb").read())
            os.unlink(tmp)
        cp["pcap_frames"].add("sv-" + label, enc_frames(frames[:64], "ether"))
        for conv in conversations(frames):
            cs, ss = dir_streams(conv)
            streams.append((label, cs, ss))
            for fr in split_frames(cs) + split_frames(ss):
                if len(fr) <= 4096:
                    cp["mqtt_parse"].add("sv-%02x" % fr[0], fr)
            segs = [(d, p["payload"]) for d, p, _ in conv if p["payload"]]
            cp["mqtt_stream"].add("sv-" + label, enc_stream(segs))
            pk = [(d, p["flags"], p["seq"], p["ack"], p["payload"])
                  for d, p, _ in conv]
            syn = [p for p in pk if p[1] & 0x02]
            isn = [1000, 900000]
            for p in syn:
                isn[p[0]] = p[2]
            cp["tcp_reasm"].add("sv-" + label,
                                enc_reasm(pk, isn=tuple(isn)))

    # ---- hand-built MQTT messages ----
    hm = hand_messages()
    for name, b in hm:
        cp["mqtt_parse"].add("hand-" + name, b)
    cp["mqtt_parse"].add("hand-all-concat", b"".join(b for _, b in hm)[:4096])

    # ---- session layer: conversations, splits, gaps, caps ----
    for v5 in (False, True):
        cs, ss = hand_conversation(v5)
        tag = "v5" if v5 else "v311"
        segs = conversation_segments(cs, ss)
        cp["mqtt_stream"].add("hand-conv-" + tag, enc_stream(segs))
        cp["mqtt_stream"].add("hand-conv-1byte-" + tag,
                              enc_stream(conversation_segments(cs, ss, 1)))
        cp["mqtt_stream"].add("hand-conv-caps-" + tag,
                              enc_stream(segs, cfg=0x1f))
        cp["mqtt_stream"].add("hand-conv-tiny-msgs-" + tag,
                              enc_stream(segs, cfg=0x20))
        # A gap in the middle of the client stream, then resync.
        g = enc_stream(segs[:3]) + bytes([0x40 | 5]) + enc_stream(segs[3:])[1:]
        cp["mqtt_stream"].add("hand-gap-" + tag, g)
        # Midstream start on both directions, then the session closes.
        ms = bytes([0, 0x40, 0xc0]) + enc_stream(segs[2:])[1:] + bytes([0x61])
        cp["mqtt_stream"].add("hand-midstream-" + tag, ms)
    big = msg(0x30, s16("big") + b"B" * 600)
    cp["mqtt_stream"].add("hand-oversize", enc_stream(
        [(0, connect()), (0, big[:100]), (0, big[100:]), (0, msg(0xc0, b""))]))
    cp["mqtt_stream"].add("hand-many-pending", enc_stream(
        [(0, connect())] + [(0, msg(0x32, s16("t") + struct.pack(">H", i) +
                                    b"x")) for i in range(1, 9)] +
        [(1, msg(0x40, struct.pack(">H", i))) for i in (8, 1, 1)]))
    cp["mqtt_stream"].add("hand-bad-varint",
                          enc_stream([(0, b"\x30\xff\xff\xff\xff\x01" +
                                       msg(0xc0, b""))]))
    cp["mqtt_stream"].add("hand-regress-resync-uninit", b"\xc8\xc0\x9e\xc0")

    # ---- TCP reassembly: reorder, overlap, retransmit, gaps, wrap ----
    cs, ss = hand_conversation(True)
    segs = conversation_segments(cs, ss, 17)
    pk = tcp_packets(segs)
    cp["tcp_reasm"].add("hand-inorder", enc_reasm(pk))
    sw = list(pk)
    for i in range(4, len(sw) - 4, 3):
        sw[i], sw[i + 1] = sw[i + 1], sw[i]
    cp["tcp_reasm"].add("hand-reordered", enc_reasm(sw))
    rev = pk[:3] + [p for p in pk[3:] if p[0] == 0][::-1] + \
        [p for p in pk[3:] if p[0] == 1]
    cp["tcp_reasm"].add("hand-reversed-client", enc_reasm(rev))
    rt = []
    for p in pk:
        rt.append(p)
        if p[4]:
            d, fl, seq, ack, pl = p
            rt.append((d, fl, seq + 3, ack, pl[3:] + b"zz"))  # overlap
            rt.append(p)  # retransmission
    cp["tcp_reasm"].add("hand-overlap-retrans", enc_reasm(rt))
    holes = [p for i, p in enumerate(pk) if i < 3 or i % 5 != 0]
    cp["tcp_reasm"].add("hand-holes-acked", enc_reasm(holes, b2=1, dt=200))
    cp["tcp_reasm"].add("hand-tight-caps", enc_reasm(sw, b0=0x00, b1=1))
    cp["tcp_reasm"].add("hand-release-no-flush", enc_reasm(sw, b0=0xff))
    wrap = tcp_packets(segs, isn=(0xffffff00, 0xfffffff0))
    cp["tcp_reasm"].add("hand-seq-wrap", enc_reasm(wrap, isn=(0xffffff00,
                                                             0xfffffff0)))
    mid = tcp_packets(segs, handshake=False)
    cp["tcp_reasm"].add("hand-midstream", enc_reasm(mid, b0=0x7f))
    cp["tcp_reasm"].add("hand-midstream-off", enc_reasm(mid, b0=0x7e))
    rst = pk[:6] + [(0, 0x04, pk[6][2], 0, b"")] + pk[6:9]
    cp["tcp_reasm"].add("hand-rst", enc_reasm(rst))
    fl = [(d, f, s, a, pl, 0x40 if i % 4 == 3 else 0)
          for i, (d, f, s, a, pl) in enumerate(sw)]
    cp["tcp_reasm"].add("hand-flush-midway", enc_reasm(fl))

    # ---- pipeline: link types, IPv6, VLAN, fragments, probing ----
    segs = conversation_segments(cs, ss)
    pk = tcp_packets(segs)
    variants = [
        ("ether-v4", dict(link="ether")),
        ("ether-v6", dict(link="ether", v6=True)),
        ("ether-vlan", dict(link="ether", vlans=(10,))),
        ("ether-qinq", dict(link="ether", vlans=(100, 20))),
        ("sll", dict(link="sll")),
        ("sll2-v6", dict(link="sll2", v6=True)),
        ("raw", dict(link="raw")),
        ("null", dict(link="null")),
        ("loop-v6", dict(link="loop", v6=True)),
        ("ipv4", dict(link="ipv4")),
        ("ipv6", dict(link="ipv6", v6=True)),
        ("frag-v4", dict(link="ether", frag=True)),
        ("frag-v6", dict(link="ether", v6=True, frag=True)),
        ("probe-port", dict(link="ether", sport=9999)),
        ("idle-timeout", dict(link="ether", step=40 * 1000000)),
    ]
    for name, kw in variants:
        link = kw["link"]
        sport = kw.pop("sport", 1883)
        frs = frames_for(pk, sport=sport, **kw)
        tmp = os.path.join(cp["pcap_pipeline"].dir, ".tmp.pcap")
        write_pcap(tmp, frs, LINKTYPE[link])
        cp["pcap_pipeline"].add("pcap-synth-" + name, open(tmp, "rb").read())
        os.unlink(tmp)
        cp["pcap_frames"].add("synth-" + name, enc_frames(frs, link))
    # Reordered, retransmitted and midstream TCP on Ethernet.
    frs = frames_for(sw)
    cp["pcap_frames"].add("synth-reordered", enc_frames(frs, "ether"))
    frs = frames_for(tcp_packets(segs, handshake=False))
    cp["pcap_frames"].add("synth-midstream", enc_frames(frs, "ether"))
    frs = frames_for(rt[:40])
    cp["pcap_frames"].add("synth-overlap", enc_frames(frs, "ether"))
    # Many connections: more flows than the table holds.
    many = []
    for i in range(7):
        many += frames_for(tcp_packets(segs[:2], fin=i % 2 == 0),
                           cport=41000 + i, t0=1662362667000000 + i * 5000)
    many.sort(key=lambda x: x[0])
    cp["pcap_frames"].add("synth-many-flows", enc_frames(many, "ether"))
    tmp = os.path.join(cp["pcap_pipeline"].dir, ".tmp.pcap")
    write_pcap(tmp, many)
    cp["pcap_pipeline"].add("pcap-synth-many-flows", open(tmp, "rb").read())
    # pcapng and nanosecond pcap forms of one capture, via editcap.
    src = os.path.join(a.shared, "mqtt5-pub-qos2", "input.pcap")
    for fmt in ("pcapng", "nsecpcap"):
        try:
            subprocess.run(["editcap", "-F", fmt, src, tmp], check=True,
                           capture_output=True)
            cp["pcap_pipeline"].add("pcap-" + fmt, open(tmp, "rb").read())
        except (OSError, subprocess.CalledProcessError) as exc:
            print("editcap %s: %s" % (fmt, exc), file=sys.stderr)
        if os.path.exists(tmp):
            os.unlink(tmp)
    tmp_raw = open(src, "rb").read()
    cp["pcap_pipeline"].add("pcap-truncated", tmp_raw[:len(tmp_raw) - 37])
    cp["pcap_pipeline"].add("pcap-header-only", tmp_raw[:24])

    # ---- configuration ----
    c = cp["config"]
    c.add("etc-mqttids.yaml", open(os.path.join(HERE, "..", "etc",
                                                "mqttids.yaml"), "rb").read())
    for y in sorted(glob.glob(os.path.join(a.shared, "*", "suricata.yaml"))):
        c.add("sv-suricata.yaml", open(y, "rb").read())
    c.add("ports-list", b"mqtt:\n  ports: [1883, 8883, 1884]\n")
    c.add("ports-many", ("mqtt:\n  ports: [%s]\n" % ", ".join(
        str(1000 + i) for i in range(40))).encode())
    c.add("ports-bad", b"mqtt:\n  ports: [0, 70000, x, -1]\n")
    c.add("sizes", b"mqtt:\n  max-msg-length: 64kb\n  tx-memcap: 1 GiB\n"
          b"  string-log-limit: 0\nstream:\n  memcap: 18446744073709551615\n"
          b"  max-ooo-bytes: 5gb\n")
    c.add("bools", b"stream: {midstream: off}\nmqtt: {passwords: TRUE, "
          b"probe-other-ports: maybe}\n")
    c.add("unknown-keys", b"foo:\n  bar: 1\nmqtt:\n  nope: 2\n  max-tx:\n"
          b"    deeper: 3\n")
    c.add("anchors", b"a: &x {max-tx: 5}\nmqtt: *x\nflow: {max-flows: &n 10, "
          b"idle-timeout: *n}\n")
    c.add("sequence-of-maps", b"- mqtt: {max-tx: 1}\n- flow: {max-flows: 2}\n")
    c.add("scalar-root", b"just a string\n")
    c.add("empty", b"")
    c.add("bad-yaml", b"mqtt: [1, 2\n  max-tx: }\n")
    c.add("long-key", (b"k" * 300) + b": 1\n")
    c.add("multi-doc", b"mqtt: {max-tx: 1}\n---\nmqtt: {max-tx: 2}\n")
    c.add("tags", b"mqtt: !!map {max-tx: !!str 7}\n")
    c.add("kv-size", b"mqtt.max-msg-length=512kb")
    c.add("kv-port", b"mqtt.ports=8883")
    c.add("kv-bool", b"stream.midstream=no")
    c.add("size-plain", b" 42 ")
    c.add("size-gib", b"3GiB")
    c.add("size-overflow", b"17179869184gb")

    for t, corp in sorted(cp.items()):
        print("%-14s %3d seeds" % (t, corp.count))


if __name__ == "__main__":
    main()

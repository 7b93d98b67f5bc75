#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check a replay against its recording, decoding the trace independently of the C decoder.

usage: check_live.py TRACE REPLAY_OUT_DIR

Decodes TRACE (format: docs/trace.md) in pure Python, computes the recording's live bytes
after every operation (the same repair rules as the replay: frees of unknown blocks dropped,
an allocation at a live address frees the old block first), and compares them with the
`live` column of every DIR/series-*.csv written by `kalloc-bench replay TRACE --out DIR`.
Also checks the summary: no failed request, the trace's op count and peak of live bytes, and
for kalloc backends a footprint (touched pages of the heap) never below the live bytes.
"""
import csv
import gzip
import os
import struct
import sys

MALLOC, CALLOC, ALIGNED, FREE, REALLOC = 1, 2, 3, 4, 5
RELEASE = 6


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def unzig(z):
    return (z >> 1) ^ -(z & 1)


def events(data):
    """Every record as (seq, kind, addr, addr2, size, seq1), realloc split in two."""
    assert data[:8] == b"KATRACE\0", "bad magic"
    version, hsize = struct.unpack_from("<II", data, 8)
    assert version == 1 and hsize == 40, "version %d" % version
    off, out = 40, []
    mask = (1 << 64) - 1
    while off + 32 <= len(data):
        magic, payload, nrec, _thread, seq, _time = struct.unpack_from("<IIIIQQ", data, off)
        assert magic == 0x4843544B, "bad chunk at %d" % off
        i, end, addr = off + 32, off + 32 + payload, 0
        assert end <= len(data), "truncated"
        for _ in range(nrec):
            op = data[i]
            i += 1
            d, i = varint(data, i)
            seq += d
            _, i = varint(data, i)
            z, i = varint(data, i)
            addr = (addr + unzig(z)) & mask
            if op in (MALLOC, CALLOC, ALIGNED):
                size, i = varint(data, i)
                if op == ALIGNED:
                    i += 1
                out.append((seq, op, addr, 0, size, seq))
            elif op == FREE:
                out.append((seq, FREE, addr, 0, 0, seq))
            elif op == REALLOC:
                z, i = varint(data, i)
                new = (addr + unzig(z)) & mask
                size, i = varint(data, i)
                d2, i = varint(data, i)
                out.append((seq, RELEASE, addr, 0, 0, seq))
                out.append((seq + d2, REALLOC, addr, new, size, seq))
                addr = new
            else:
                raise AssertionError("bad op %d" % op)
        assert i == end, "chunk length mismatch"
        off = end
    out.sort(key=lambda e: e[0])
    return out


def live_curve(evs):
    """Live bytes after each replay operation, in the replay's operation order."""
    live_at = {}  # address -> size
    pending = {}  # realloc first half's seq -> size of the released block
    live, curve = 0, []
    for seq, kind, addr, addr2, size, seq1 in evs:
        if kind in (MALLOC, CALLOC, ALIGNED):
            if addr in live_at:  # its free was lost: the replay frees it first
                live -= live_at.pop(addr)
                curve.append(live)
            live_at[addr] = size
            live += size
            curve.append(live)
        elif kind == FREE:
            if addr in live_at:
                live -= live_at.pop(addr)
                curve.append(live)
        elif kind == RELEASE:
            if addr in live_at:
                pending[seq1] = live_at.pop(addr)
        elif kind == REALLOC:
            if addr2 in live_at:
                live -= live_at.pop(addr2)
                curve.append(live)
            live -= pending.pop(seq1, 0)
            live_at[addr2] = size
            live += size
            curve.append(live)
    return curve


def main():
    trace, out = sys.argv[1], sys.argv[2]
    opener = gzip.open if open(trace, "rb").read(2) == b"\x1f\x8b" else open
    with opener(trace, "rb") as f:
        curve = live_curve(events(f.read()))
    peak = max(curve) if curve else 0
    with open(os.path.join(out, "summary.csv")) as f:
        head = f.readline()
        rows = list(csv.DictReader(f))
    meta = dict(kv.split("=", 1) for kv in head[1:].split() if "=" in kv)
    assert int(meta["ops"]) == len(curve), "ops: C %s, Python %d" % (meta["ops"], len(curve))
    assert int(meta["peak_live"]) == peak, "peak: C %s, Python %d" % (meta["peak_live"], peak)
    checked = 0
    for r in rows:
        if r["status"] != "ok":
            continue
        name = r["allocator"]
        assert int(r["failed"]) == 0, "%s: %s failed requests" % (name, r["failed"])
        assert int(r["peak_live"]) == peak, "%s: replay peak %s, recording %d" % (
            name, r["peak_live"], peak)
        with open(os.path.join(out, "series-%s.csv" % name)) as f:
            pts = list(csv.DictReader(f))
        assert len(pts) >= 10, "%s: only %d points" % (name, len(pts))
        kalloc = name not in ("glibc", "mimalloc")
        for p in pts:
            op, live = int(p["op"]), int(p["live"])
            want = curve[op - 1] if op > 0 else 0
            assert live == want, "%s: live %d at op %d, recording says %d" % (
                name, live, op, want)
            if kalloc:
                assert int(p["footprint"]) >= live, "%s: footprint %s < live %d at op %d" % (
                    name, p["footprint"], live, op)
        checked += 1
        print("%-9s %d points match the recording's live bytes (peak %d)" % (name, len(pts), peak))
    assert checked >= 2, "fewer than two allocators replayed"


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Charts of a `kalloc-bench replay FILE --out DIR` run (docs/trace.md).

usage: report.py DIR [--title TEXT] [--layout BACKEND]

Reads DIR/summary.csv, DIR/series-*.csv, DIR/hist-*.csv and DIR/layout-*.csv and writes
  DIR/report.png   live bytes and footprint over time per allocator, latency histogram,
                   one heap's used/free layout at its fragmentation peak, summary bars;
  DIR/layout.png   the layout of every kalloc backend that could walk its heap;
  DIR/report.html  the summary table and both pictures.
Needs matplotlib and numpy (Debian: python3-matplotlib).
"""
import argparse
import csv
import glob
import html
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

MIB = 1024.0 * 1024.0


def read_csv(path):
    with open(path, newline="") as f:
        rows = [r for r in f if not r.startswith("#")]
    return list(csv.DictReader(rows))


def comment(path):
    with open(path) as f:
        first = f.readline()
    out = {}
    if first.startswith("#"):
        for kv in first[1:].split():
            if "=" in kv:
                k, v = kv.split("=", 1)
                out[k] = v
    return out


def name_of(path, prefix):
    return os.path.basename(path)[len(prefix) + 1:-4]


def load(d):
    summary = read_csv(os.path.join(d, "summary.csv"))
    meta = comment(os.path.join(d, "summary.csv"))
    series, hists, layouts = {}, {}, {}
    for p in sorted(glob.glob(os.path.join(d, "series-*.csv"))):
        rows = read_csv(p)
        series[name_of(p, "series")] = {k: np.array([float(r[k]) for r in rows])
                                        for k in ("op", "time_ns", "live", "footprint", "frag")}
    for p in sorted(glob.glob(os.path.join(d, "hist-*.csv"))):
        rows = read_csv(p)
        hists[name_of(p, "hist")] = [(float(r["lo_ns"]), float(r["hi_ns"]), int(r["count"]))
                                     for r in rows]
    for p in sorted(glob.glob(os.path.join(d, "layout-*.csv"))):
        rows = read_csv(p)
        layouts[name_of(p, "layout")] = (
            comment(p),
            np.array([int(r["offset"]) for r in rows], dtype=np.int64),
            np.array([int(r["size"]) for r in rows], dtype=np.int64),
            np.array([int(r["used"]) for r in rows], dtype=np.int64))
    return summary, meta, series, hists, layouts


def covered(starts, sizes, x):
    """Bytes of the blocks [starts, starts+sizes) (sorted, disjoint) below each x."""
    if len(starts) == 0:
        return np.zeros_like(x, dtype=np.float64)
    cs = np.concatenate(([0], np.cumsum(sizes)))
    idx = np.searchsorted(starts, x, side="right") - 1
    safe = np.clip(idx, 0, len(starts) - 1)
    inside = np.minimum(np.maximum(x - starts[safe], 0), sizes[safe])
    return np.where(idx >= 0, cs[safe] + inside, 0).astype(np.float64)


def layout_image(lay, cols=512, rows_target=160):
    """RGB picture of a heap: blue used, white free, orange in no block the walk reported
    (headers, control data, space a backend's walk leaves out),
    one cell per `cell` bytes, row after row, up to the end of the highest used block. A free
    block larger than a twentieth of the drawn span (a buddy heap's untouched half, say) is
    drawn as one grey row instead of at scale."""
    info, off, size, used = lay
    order = np.argsort(off)
    off, size, used = off[order], size[order], used[order]
    ends = (off + size)[used == 1]
    top = int(ends.max()) if len(ends) else 1
    keep = off < top
    off, size, used = off[keep], np.minimum(size[keep], top - off[keep]), used[keep]
    big = (used == 0) & (size > max(top // 20, 1 << 20))
    want = max(16, top // (cols * rows_target) + 1)
    cell = 1 << int(np.ceil(np.log2(want)))
    row = cols * cell
    # Collapse: every big free block becomes exactly one row; later blocks move down.
    shown = np.where(big, row, size)
    shift = np.concatenate(([0], np.cumsum(size - shown)[:-1]))
    noff = off - shift
    ntop = int((noff + shown).max()) if len(noff) else 1
    rows = max(1, -(-ntop // row))
    edges = np.arange(rows * cols + 1, dtype=np.int64) * cell
    sel_u, sel_f, sel_g = used == 1, (used == 0) & ~big, big
    u = np.diff(covered(noff[sel_u], shown[sel_u], edges)) / cell
    f = np.diff(covered(noff[sel_f], shown[sel_f], edges)) / cell
    g = np.diff(covered(noff[sel_g], shown[sel_g], edges)) / cell
    o = np.clip(1.0 - u - f - g, 0, 1)
    blue, white, orange, grey = (np.array(c) for c in
                                 ((0.12, 0.35, 0.75), (1, 1, 1), (0.95, 0.55, 0.1),
                                  (0.6, 0.6, 0.6)))
    img = u[:, None] * blue + f[:, None] * white + o[:, None] * orange + g[:, None] * grey
    img[edges[:-1] >= ntop] = np.array((0.85, 0.85, 0.85))
    return img.reshape(rows, cols, 3), cell, top, info


def draw_layout(ax, name, lay):
    img, cell, top, info = layout_image(lay)
    ax.imshow(img, aspect="auto", interpolation="nearest")
    live = float(info.get("live", 0)) / MIB
    frag = float(info.get("frag", 0)) / MIB
    ax.set_title("%s heap at its fragmentation peak (op %s): %.1f MiB live, %.1f MiB of "
                 "touched memory in holes\nblue used, white free, orange in no walked block "
                 "(headers, control data), grey: large free block (not to scale); %d B/cell, "
                 "%.0f MiB" % (
                     name, info.get("op", "?"), live, frag, cell, top / MIB), fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--title", default=None)
    ap.add_argument("--layout", default=None, help="backend whose layout report.png shows")
    a = ap.parse_args()
    summary, meta, series, hists, layouts = load(a.dir)
    ok = [r for r in summary if r["status"] == "ok"]
    if not ok:
        sys.exit("report.py: no successful run in %s/summary.csv" % a.dir)
    title = a.title or "replay of %s: %s ops, peak live %.1f MiB, %s threads" % (
        os.path.basename(meta.get("trace", "?")), meta.get("ops", "?"),
        float(meta.get("peak_live", 0)) / MIB, meta.get("threads", "?"))
    names = [r["allocator"] for r in ok]
    colors = {n: plt.cm.tab10(i % 10) for i, n in enumerate(names)}

    fig = plt.figure(figsize=(14, 10))
    gs = fig.add_gridspec(2, 2, height_ratios=[1, 1])
    ax = fig.add_subplot(gs[0, 0])
    first = True
    for n in names:
        s = series.get(n)
        if s is None:
            continue
        t = s["time_ns"] / 1e9
        if first:
            ax.plot(t, s["live"] / MIB, color="black", lw=2, label="live bytes (all)")
            first = False
        ax.plot(t, s["footprint"] / MIB, color=colors[n], lw=1, label=n + " footprint")
    ax.set_xlabel("recorded time (s)")
    ax.set_ylabel("MiB")
    ax.set_title("live bytes and footprint over time", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(gs[0, 1])
    for n in names:
        h = hists.get(n)
        if not h:
            continue
        lo = np.array([b[0] for b in h])
        hi = np.array([b[1] for b in h])
        c = np.array([b[2] for b in h], dtype=float)
        mid = np.sqrt(np.maximum(lo, 0.5) * hi)
        ax.step(mid, c / c.sum(), where="mid", color=colors[n], lw=1, label=n)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency of one call (ns)")
    ax.set_ylabel("fraction of calls")
    ax.set_title("latency histogram (8 buckets per power of two)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(gs[1, 0])
    pick = a.layout
    if pick not in layouts:
        # The backend with the most stranded free bytes shows fragmentation best.
        pick = max(layouts, key=lambda n: float(layouts[n][0].get("frag", 0)), default=None)
    if pick:
        draw_layout(ax, pick, layouts[pick])
    else:
        ax.text(0.5, 0.5, "no heap layout (no kalloc backend with walk ran)", ha="center")
        ax.set_axis_off()

    ax = fig.add_subplot(gs[1, 1])
    y = np.arange(len(ok))
    fl = [float(r["footprint"]) / max(float(r["peak_live"]), 1) for r in ok]
    mops = [float(r["mops"]) for r in ok]
    ax.barh(y - 0.2, fl, height=0.4, color=[colors[n] for n in names], label="footprint / peak live")
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.set_xlabel("peak footprint / peak live bytes (bars)")
    ax2 = ax.twiny()
    ax2.plot(mops, y + 0.2, "kD", label="M calls/s in the allocator")
    ax2.set_xlabel("M calls per second of allocator time (diamonds)")
    ax.set_title("summary", fontsize=10, pad=28)
    fig.suptitle(title)
    fig.tight_layout()
    out = os.path.join(a.dir, "report.png")
    fig.savefig(out, dpi=90)
    plt.close(fig)

    if layouts:
        n = len(layouts)
        fig, axs = plt.subplots(n, 1, figsize=(12, 3.2 * n), squeeze=False)
        for ax, name in zip(axs[:, 0], sorted(layouts)):
            draw_layout(ax, name, layouts[name])
        fig.tight_layout()
        fig.savefig(os.path.join(a.dir, "layout.png"), dpi=90)
        plt.close(fig)

    with open(os.path.join(a.dir, "report.html"), "w") as f:
        cols = ["allocator", "status", "ops", "alloc_seconds", "mops", "p999_ns", "worst_ns",
                "peak_live", "footprint", "failed", "replay_mops", "reason"]
        f.write("<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title></head>"
                "<body><h1>%s</h1><table border='1' cellpadding='3'><tr>%s</tr>\n"
                % (html.escape(title), html.escape(title),
                   "".join("<th>%s</th>" % c for c in cols)))
        for r in summary:
            f.write("<tr>%s</tr>\n" % "".join("<td>%s</td>" % html.escape(r.get(c) or "")
                                            for c in cols))
        f.write("</table><p><img src='report.png'></p>")
        if layouts:
            f.write("<p><img src='layout.png'></p>")
        f.write("</body></html>\n")
    print(out)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: MIT
"""Summarise bench/peers.sh's results.csv: medians per workload and contender, ratios to
mimalloc, geometric means over the workloads, and a gnuplot PNG of the ratios.

usage: python3 bench/report.py <results.csv> <output dir>
Writes <output dir>/table.txt (also printed; Markdown) and <output dir>/peers.png.
"""
import csv
import math
import os
import shutil
import statistics
import subprocess
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    runs = {}
    workloads, contenders = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            w, c = row["workload"], row["contender"]
            if w not in workloads:
                workloads.append(w)
            if c not in contenders:
                contenders.append(c)
            try:
                runs.setdefault((w, c), []).append(
                    (float(row["wall_s"]), float(row["cpu_s"]), float(row["maxrss_kb"])))
            except ValueError:
                pass
    ref = "mimalloc" if "mimalloc" in contenders else contenders[0]
    med = {}
    for key, vals in runs.items():
        med[key] = tuple(statistics.median(v[i] for v in vals) for i in range(3))

    lines = []
    nrounds = max(len(v) for v in runs.values())
    lines.append(f"Medians of {nrounds} round(s); ratios are to {ref} (lower is better).")
    lines.append("")
    lines.append("| workload | allocator | wall s | x " + ref + " | cpu s | cpu x " + ref +
                 " | peak RSS MiB | x " + ref + " |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    ratios = {c: ([], [], []) for c in contenders}
    per = {}
    for w in workloads:
        r = med.get((w, ref))
        for c in contenders:
            m = med.get((w, c))
            if not m:
                continue
            tr = m[0] / r[0] if r and r[0] > 0 else float("nan")
            mr = m[2] / r[2] if r and r[2] > 0 else float("nan")
            cr = m[1] / r[1] if r and r[1] > 0 else float("nan")
            if not math.isnan(tr):
                ratios[c][0].append(tr)
            if not math.isnan(mr):
                ratios[c][1].append(mr)
            if not math.isnan(cr):
                ratios[c][2].append(cr)
            per[(w, c)] = (tr, mr, cr)
            lines.append(f"| {w} | {c} | {m[0]:.2f} | {tr:.2f} | {m[1]:.2f} | {cr:.2f} | "
                         f"{m[2] / 1024:.1f} | {mr:.2f} |")
    lines.append("")
    lines.append("| allocator | geomean time x " + ref + " | geomean cpu x " + ref +
                 " | geomean RSS x " + ref + " | worst time x | worst RSS x |")
    lines.append("|---|---:|---:|---:|---:|---:|")

    def gm(v):
        return math.exp(sum(math.log(x) for x in v) / len(v)) if v else float("nan")

    for c in contenders:
        t, m, cp = ratios[c]
        lines.append(f"| {c} | {gm(t):.2f} | {gm(cp):.2f} | {gm(m):.2f} | "
                     f"{max(t) if t else float('nan'):.2f} | {max(m) if m else float('nan'):.2f} |")

    # Issue 5's targets, for the kalloc configuration with the lowest geometric mean of time.
    kal = [c for c in contenders if c.startswith("kalloc") and ratios[c][0]]
    if kal and ref == "mimalloc":
        best = min(kal, key=lambda c: gm(ratios[c][0]))
        lines.append("")
        lines.append(f"Targets (issue 5) for the fastest kalloc configuration, {best}: "
                     "time <= 1.1x and peak RSS <= 1.2x mimalloc's on every workload, "
                     "geomean time below glibc's.")
        lines.append("")
        lines.append("| workload | time x | <= 1.1 | cpu x | peak RSS x | <= 1.2 |")
        lines.append("|---|---:|:-:|---:|---:|:-:|")
        for w in workloads:
            if (w, best) in per:
                tr, mr, cr = per[(w, best)]
                lines.append(f"| {w} | {tr:.2f} | {'yes' if tr <= 1.1 else 'no'} | {cr:.2f} | "
                             f"{mr:.2f} | {'yes' if mr <= 1.2 else 'no'} |")
        if "glibc" in ratios and ratios["glibc"][0]:
            g, k = gm(ratios["glibc"][0]), gm(ratios[best][0])
            lines.append("")
            lines.append(f"Geomean time: {best} {k:.2f}x, glibc {g:.2f}x: "
                         f"{'faster' if k < g else 'not faster'} than glibc.")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write(text)
    print(text)

    # Chart: time and RSS ratios per workload, one bar per allocator.
    dat = os.path.join(out, "ratios.dat")
    with open(dat, "w") as f:
        for kind in (0, 2):
            # Each gnuplot data block needs its own header row (columnheader).
            f.write("workload " + " ".join(contenders) + "\n")
            for w in workloads:
                r = med.get((w, ref))
                vals = []
                for c in contenders:
                    m = med.get((w, c))
                    vals.append(f"{m[kind] / r[kind]:.3f}" if m and r and r[kind] > 0 else "NaN")
                f.write(f"{w} " + " ".join(vals) + "\n")
            f.write("\n\n")
    if not shutil.which("gnuplot"):
        print("gnuplot not installed: no chart")
        return
    n = len(contenders)
    gp = f"""
set terminal pngcairo size 1400,900 noenhanced
set output '{os.path.join(out, "peers.png")}'
set multiplot layout 2,1
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside right top
set grid ytics
set yrange [0:*]
set title 'wall time / {ref} (lower is better)'
plot for [i=2:{n + 1}] '{dat}' index 0 using i:xtic(1) title columnheader(i)
set title 'peak RSS / {ref} (lower is better)'
plot for [i=2:{n + 1}] '{dat}' index 1 using i:xtic(1) title columnheader(i)
unset multiplot
"""
    subprocess.run(["gnuplot"], input=gp.encode(), check=False)
    print("chart:", os.path.join(out, "peers.png"))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The time-to-accuracy front of `make bench`: a table of the tolerance runs in RESULTS
(kifmm-bench JSON lines with --eps) next to the goal (half the best anchor's time
at the same or a lower error), and a PNG of both fronts when matplotlib is installed.
Usage: plot_front.py RESULTS.jsonl [OUT.png]"""
import json
import statistics
import sys

# The best anchor code's (potential error, seconds) on this problem, cube 1e6 + 1e6, potential
# and gradient, 2 threads, tree + lists + evaluation, measured on an Intel Xeon of the
# reference machine kind. The goal is half of it at every accuracy.
ANCHOR = [(2e-6, 4.25), (3e-8, 4.84), (2e-9, 6.49), (2e-11, 8.95), (4e-14, 33.2)]


def anchor_time(err):
    """Fastest anchor run at least as accurate as err; None below its most accurate."""
    times = [t for e, t in ANCHOR if e <= err]
    return min(times) if times else None


def groups_of(rows):
    groups = {}
    for r in rows:
        if r.get("tolerance"):
            groups.setdefault(r["tolerance"], []).append(r)
    return [groups[k] for k in sorted(groups, reverse=True)]


def table(groups):
    print("| tolerance | order | ncrit | compression | time min / median / max s | pot err |"
          " grad err | peak RSS MB | goal s | median / goal |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    points = []
    for g in groups:
        t = sorted(r["total"] for r in g)
        med = statistics.median(t)
        pot = [r["err_pot"] for r in g if r["err_pot"] is not None]
        grad = [r["err_grad"] for r in g if r["err_grad"] is not None]
        ep = max(pot) if pot else None
        anchor = anchor_time(ep) if ep is not None else None
        goal = "%.2f" % (anchor / 2) if anchor else "-"
        ratio = "%.2f" % (med / (anchor / 2)) if anchor else "-"
        r0 = g[0]
        print("| %.0e | %d | %d | %.1e | %.2f / %.2f / %.2f | %s | %s | %.0f | %s | %s |" % (
            r0["tolerance"], r0["order"], r0["ncrit"], r0.get("compression_tol", 0), t[0], med,
            t[-1], "%.2e" % ep if pot else "-", "%.2e" % max(grad) if grad else "-",
            max(r["peak_rss_mb"] for r in g), goal, ratio))
        if ep is not None:
            points.append((ep, med, t[0], t[-1], r0["order"]))
    print("goal: half the best anchor time at the same or a lower error; anchor " +
          ", ".join("%.0e in %.2f s" % a for a in ANCHOR))
    return points


def plot(points, png, n):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (Debian: python3-matplotlib): no " + png)
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ae, at = zip(*ANCHOR)
    ax.step(ae, at, where="pre", color="gray", marker="s", label="best anchor")
    ax.step(ae, [t / 2 for t in at], where="pre", color="gray", ls="--", marker="s", mfc="none",
            label="goal: half the anchor")
    if points:
        e, med, lo, hi, orders = zip(*sorted(points))
        ax.errorbar(e, med, yerr=[[m - a for m, a in zip(med, lo)],
                                   [b - m for m, b in zip(med, hi)]],
                    marker="o", color="C0", capsize=3, label="kifmm-c (median, min-max)")
        for x, y, p in zip(e, med, orders):
            ax.annotate("p%d" % p, (x, y), textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("relative l2 error of the potential")
    ax.set_ylabel("seconds (tree + lists + evaluation)")
    ax.set_title("time to accuracy, cube %.3g + %.3g points, potential + gradient" % (n, n))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print("front drawn in " + png)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    groups = groups_of(rows)
    if not groups:
        print("no tolerance runs in " + sys.argv[1])
        return 1
    machines = sorted({(r.get("cpu", "?"), r.get("simd", "?"), r.get("blas_core", "?"))
                       for g in groups for r in g})
    for cpu, simd, core in machines:
        print("CPU: %s, SIMD path: %s, BLAS kernel: %s" % (cpu, simd, core))
    points = table(groups)
    if len(sys.argv) > 2:
        plot(points, sys.argv[2], groups[0][0]["n"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

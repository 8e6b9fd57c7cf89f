#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `make bench`: the time-to-accuracy front. For each tolerance (options.tolerance alone, every
# other option at its default) BENCH_RUNS runs (3) of cube BENCH_N sources + BENCH_N separate
# targets (1e6), 2 threads, BLAS single-threaded, operators cached (a first, untimed run
# computes them). Prints the table next to the goal times and draws the front
# (bench-front.png) when matplotlib is there. BENCH_REFERENCE=1 adds the fixed-order table
# and the linear-scaling series. JSON lines go to bench-results.jsonl.
# Then the kernel table: for each tolerance in BENCH_KERNEL_TOLS (1e-6) BENCH_RUNS runs of
# Laplace, Yukawa (kappa BENCH_KAPPA, 1) and Stokes (viscosity 1) on cube BENCH_KERNEL_N
# (2e5) + as many targets, interleaved, errors on BENCH_KERNEL_CHECK (200) sampled targets
# against a direct sum; cost relative to Laplace's median in the same sitting. JSON lines go to
# bench-kernels.jsonl; BENCH_KERNEL_TOLS="" skips the table.
set -euo pipefail
bench=${1:-build/examples/kifmm-bench}
here=$(cd "$(dirname "$0")" && pwd)
out=${BENCH_OUT:-bench-results.jsonl}
runs=${BENCH_RUNS:-3}
n=${BENCH_N:-1000000}
# the cube fills a volume, so 1e-13 is served (order 17); elsewhere 1.2e-13 is the smallest tolerance
tols=${BENCH_TOLS:-"1e-6 1e-7 1e-8 1e-9 1e-10 1e-11 1e-13"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1
py=/usr/bin/python3
: > "$out"
for eps in $tols; do
  # warm the operator cache: the front times tree + lists + evaluation
  "$bench" --n 2000 --eps "$eps" --threads "$OMP_NUM_THREADS" --check 0 > /dev/null
  for ((r = 0; r < runs; r++)); do
    "$bench" --n "$n" --dist cube --eps "$eps" --threads "$OMP_NUM_THREADS" --check 1000 |
      tee -a "$out"
  done
done
if [ -x "$py" ]; then
  "$py" "$here/plot_front.py" "$out" "${BENCH_PNG:-bench-front.png}"
fi

kout=${BENCH_KERNEL_OUT:-bench-kernels.jsonl}
kn=${BENCH_KERNEL_N:-200000}
kcheck=${BENCH_KERNEL_CHECK:-200}
ktols=${BENCH_KERNEL_TOLS-1e-6}
kernels=("laplace" "yukawa --kappa ${BENCH_KAPPA:-1}" "stokes --viscosity 1")
: > "$kout"
for eps in $ktols; do
  for k in "${kernels[@]}"; do # warm each kernel's operator cache
    # shellcheck disable=SC2086 # k holds the kernel's flags
    "$bench" --n 2000 --eps "$eps" --threads "$OMP_NUM_THREADS" --check 0 --kernel $k > /dev/null
  done
  for ((r = 0; r < runs; r++)); do # interleaved: a load change falls on every kernel
    for k in "${kernels[@]}"; do
      # shellcheck disable=SC2086
      "$bench" --n "$kn" --dist cube --eps "$eps" --threads "$OMP_NUM_THREADS" \
        --check "$kcheck" --kernel $k | tee -a "$kout"
    done
  done
done
kernel_summary='
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["tolerance"], r["kernel"]), []).append(r)
med = lambda g, k: statistics.median(r[k] for r in g)
print("| tolerance | kernel | n | order | ncrit | total min / median / max s | eval s | M2L s | P2P s | value err | grad err | peak RSS MB | median / Laplace |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (tol, kern), g in groups.items():
    t = sorted(r["total"] for r in g)
    lap = groups.get((tol, "laplace"))
    ratio = "%.2f" % (statistics.median(t) / med(lap, "total")) if lap else "-"
    worst = lambda k: "%.1e" % max(r[k] for r in g) if all(r[k] is not None for r in g) else "-"
    print("| %.0e | %s | %.3g | %d | %d | %.2f / %.2f / %.2f | %.2f | %.2f | %.2f | %s | %s | %.0f | %s |" % (
        tol, kern, g[0]["n"], g[0]["order"], g[0]["ncrit"], t[0], statistics.median(t), t[-1],
        med(g, "evaluate"), med(g, "m2l"), med(g, "p2p"), worst("err_pot"), worst("err_grad"),
        max(r["peak_rss_mb"] for r in g), ratio))
'
if [ -x "$py" ] && [ -s "$kout" ]; then "$py" -c "$kernel_summary" "$kout"; fi
[ "${BENCH_REFERENCE:-0}" = 1 ] || exit 0

ref=${out%.jsonl}-reference.jsonl
: > "$ref"
# case: dist order ncrit (ncrit counts sources + targets; surface points like larger leaves)
cases=("cube 6 150" "cube 10 600" "sphere 6 1000" "sphere 10 1000")
for c in "${cases[@]}"; do
  read -r dist order ncrit <<< "$c"
  for ((r = 0; r < runs; r++)); do
    "$bench" --n 1000000 --dist "$dist" --order "$order" --ncrit "$ncrit" \
      --threads "$OMP_NUM_THREADS" --check 1000 | tee -a "$ref"
  done
done
for m in 125000 250000 500000 1000000; do
  "$bench" --n "$m" --dist cube --order 6 --ncrit 150 --threads "$OMP_NUM_THREADS" \
    --check 200 | tee -a "$ref"
done
summary='
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    key = (r["dist"], r["n"], r["order"], r["ncrit"], r.get("simd", "?"), r.get("blas_core", "?"))
    groups.setdefault(key, []).append(r)
def worst(g, k):  # null when no run checked errors
    v = [r[k] for r in g if r[k] is not None]
    return "%.1e" % max(v) if v else "-"
print("| case | ncrit | simd / BLAS kernel | time min-max [median] s | eval s | M2L s | P2P s | operators s | pot err | grad err | peak RSS MB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (dist, n, order, ncrit, simd, core), g in groups.items():
    t = sorted(r["total"] for r in g)
    med = lambda k: statistics.median(r[k] for r in g)
    print("| %s %.3g p%d | %d | %s / %s | %.2f-%.2f [%.2f] | %.2f | %.2f | %.2f | %.1f | %s | %s | %.0f |" % (
        dist, n, order, ncrit, simd, core, t[0], t[-1], statistics.median(t), med("evaluate"),
        med("m2l"), med("p2p"), med("operators"), worst(g, "err_pot"), worst(g, "err_grad"),
        max(r["peak_rss_mb"] for r in g)))
'
if [ -x "$py" ]; then "$py" -c "$summary" "$ref"; fi

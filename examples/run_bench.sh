#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `make bench`: the time-to-accuracy front. For each tolerance (options.tolerance alone, every
# other option at its default) BENCH_RUNS runs (3) of cube BENCH_N sources + BENCH_N separate
# targets (1e6), 2 threads, BLAS single-threaded, operators cached (a first, untimed run
# computes them). Prints the table next to the goal times and draws the front
# (bench-front.png) when matplotlib is there. BENCH_REFERENCE=1 adds the fixed-order table
# and the linear-scaling series. JSON lines go to bench-results.jsonl.
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

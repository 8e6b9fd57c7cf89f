#!/usr/bin/env bash
# `make bench`: the reference table (1e6 sources + 1e6 separate targets, 2 threads, BLAS
# single-threaded, 3 runs each) and the linear-scaling series. JSON lines go to
# bench-results.jsonl; a min/median/max summary is printed at the end.
set -euo pipefail
bench=${1:-build/examples/kifmm-bench}
out=${BENCH_OUT:-bench-results.jsonl}
runs=${BENCH_RUNS:-3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1
: > "$out"
# case: dist order ncrit (ncrit counts sources + targets; surface points like larger leaves)
cases=("cube 6 150" "cube 10 600" "sphere 6 1000" "sphere 10 1000")
for c in "${cases[@]}"; do
  read -r dist order ncrit <<< "$c"
  for ((r = 0; r < runs; r++)); do
    "$bench" --n 1000000 --dist "$dist" --order "$order" --ncrit "$ncrit" \
      --threads "$OMP_NUM_THREADS" --check 1000 | tee -a "$out"
  done
done
for n in 125000 250000 500000 1000000; do
  "$bench" --n "$n" --dist cube --order 6 --ncrit 150 --threads "$OMP_NUM_THREADS" \
    --check 200 | tee -a "$out"
done
summary='
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["dist"], r["n"], r["order"], r["ncrit"]), []).append(r)
print("| case | ncrit | time min-max [median] s | eval s | operators s | pot err | grad err | peak RSS MB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (dist, n, order, ncrit), g in groups.items():
    t = sorted(r["total"] for r in g)
    print("| %s %.3g p%d | %d | %.2f-%.2f [%.2f] | %.2f | %.1f | %.1e | %.1e | %.0f |" % (
        dist, n, order, ncrit, t[0], t[-1], statistics.median(t),
        statistics.median(r["evaluate"] for r in g), statistics.median(r["operators"] for r in g),
        max(r["err_pot"] for r in g), max(r["err_grad"] for r in g), max(r["peak_rss_mb"] for r in g)))
'
if [ -x /usr/bin/python3 ]; then /usr/bin/python3 -c "$summary" "$out"; fi

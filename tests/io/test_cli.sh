#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The kifmm program end to end: generate, run (plain and under mpiexec -n 1, 2, 3), info, results
# checked by h5py against numpy and by h5dump; failures exit non-zero with one stderr line.
# usage: test_cli.sh KIFMM MPIEXEC PYTHON CHECK_SCRIPT
set -u
K=$1 MPIEXEC=$2 PY=$3 CHECK=$4
W=$(mktemp -d /tmp/kifmm-cli-XXXXXX)
trap 'rm -rf "$W"' EXIT
export KIFMM_CACHE_DIR=$W/cache
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# expect_fail CODE NEEDLE cmd...: exit status CODE, exactly one stderr line containing NEEDLE
expect_fail() {
  local code=$1 needle=$2
  shift 2
  "$@" >"$W/out" 2>"$W/err"
  local rc=$?
  [ "$rc" = "$code" ] || fail "$* -> exit $rc, want $code"
  [ "$(wc -l <"$W/err")" = 1 ] || fail "$* -> stderr has $(wc -l <"$W/err") lines: $(cat "$W/err")"
  grep -q -- "$needle" "$W/err" || fail "$* -> stderr lacks '$needle': $(cat "$W/err")"
}
cd "$W" || exit 1

"$K" --help | grep -q "generate --dist" || fail "--help"
[ "$("$K" --version)" = "kifmm $(grep -m1 -o 'VERSION_STRING "[0-9.]*"' "$(dirname "$CHECK")/../../include/kifmm.h" | cut -d'"' -f2)" ] || fail "--version: $("$K" --version)"

# separate targets, order 6, checked
"$K" generate --dist cube --n 3000 --targets 700 --seed 5 -o p.h5 || fail "generate"
"$K" info p.h5 >info.txt || fail "info particles"
grep -q "sources N = 3000, targets M = 700" info.txt || fail "info particles: $(cat info.txt)"
"$K" run p.h5 -o r.h5 --order 6 --ncrit 40 --check 300 >summary.txt 2>progress.txt || fail "run: $(cat progress.txt)"
for phase in tree lists operators upward M2L downward "near field" check write; do
  grep -q "] $phase" progress.txt || fail "progress lacks $phase"
done
for row in "N (sources)" "M (targets)" order boxes depth "time M2L" "peak memory" "error potential"; do
  grep -q "$row" summary.txt || fail "summary lacks $row"
done
"$PY" "$CHECK" p.h5 r.h5 6 300 || fail "h5py check (targets)"
# --dry-run: the estimate, no evaluation, no output file; --eps chooses the order
"$K" run p.h5 --dry-run --eps 1e-5 >dry.txt 2>dryerr.txt || fail "dry run: $(cat dryerr.txt)"
grep -q "predicted evaluation" dry.txt && grep -q "peak memory" dry.txt || fail "dry run output: $(cat dry.txt)"
grep -q "order  *6 (from --eps)" dry.txt || fail "dry run order from --eps: $(cat dry.txt)"
"$K" run p.h5 -o re.h5 --eps 1e-5 --check 300 >eps.txt 2>/dev/null || fail "run --eps"
grep -q "order  *6 " eps.txt || fail "--eps 1e-5 did not choose order 6: $(cat eps.txt)"
expect_fail 1 "tolerance" "$K" run p.h5 -o rx.h5 --eps 1e-30 --quiet
h5dump -H r.h5 >dump.txt || fail "h5dump"
grep -q 'DATASET "potential"' dump.txt && grep -q "( 700, 3 )" dump.txt || fail "h5dump header: $(head -30 dump.txt)"
"$K" info r.h5 | grep -q "targets M = 700" || fail "info results"

# under mpiexec -n 1, quiet, warm cache: same numbers
"$MPIEXEC" -n 1 --oversubscribe "$K" run p.h5 -o r1.h5 --order 6 --ncrit 40 --quiet >quiet.txt 2>&1 || fail "mpiexec -n 1 run"
[ -s quiet.txt ] && fail "--quiet printed: $(cat quiet.txt)"
h5diff r.h5 r1.h5 /potential /potential >/dev/null || fail "mpiexec -n 1 potential differs"
h5diff r.h5 r1.h5 /gradient /gradient >/dev/null || fail "mpiexec -n 1 gradient differs"
h5dump -a /cache_result r1.h5 | grep -q "(0): 1" || fail "second run was not a cache hit"

# targets = sources, sphere, order 4
"$K" generate --dist sphere --n 2000 -o s.h5 || fail "generate sphere"
"$K" run s.h5 -o rs.h5 --order 4 --quiet || fail "run sphere"
"$PY" "$CHECK" s.h5 rs.h5 4 0 || fail "h5py check (sources as targets)"

# generate gives the same file at 1 and 2 ranks
"$MPIEXEC" -n 2 --oversubscribe "$K" generate --dist cube --n 3000 --targets 700 --seed 5 -o p2.h5 || fail "generate -n 2"
for d in /sources /charges /targets; do
  h5diff p.h5 p2.h5 $d $d >/dev/null || fail "generate -n 2: $d differs"
done

# 2 and 3 ranks: each reads, evaluates and writes its own slab; the files equal the one-rank
# files (separate targets, checked with the distributed direct sum; targets = sources)
"$K" run s.h5 -o rs1.h5 --order 4 --ncrit 40 --check 50 --quiet || fail "run sphere ncrit 40"
for np in 2 3; do
  "$MPIEXEC" -n $np --oversubscribe "$K" run p.h5 -o rp$np.h5 --order 6 --ncrit 40 --check 300 \
    >sum$np.txt 2>prog$np.txt || fail "run -n $np: $(cat prog$np.txt)"
  "$PY" "$CHECK" --compare r.h5 rp$np.h5 $np || fail "run -n $np: results differ from one rank"
  "$PY" "$CHECK" p.h5 rp$np.h5 6 300 || fail "h5py check (targets, -n $np)"
  [ "$(grep -c '] write' prog$np.txt)" = 1 ] || fail "run -n $np: progress not from rank 0 alone: $(cat prog$np.txt)"
  [ "$(grep -c 'run summary' sum$np.txt)" = 1 ] || fail "run -n $np: summary not from rank 0 alone: $(cat sum$np.txt)"
  grep -q "MPI ranks  *$np" sum$np.txt && grep -q "error potential" sum$np.txt || fail "run -n $np summary: $(cat sum$np.txt)"
  grep -q "MPI traffic  *[0-9.]* MB sent" sum$np.txt && grep -q "time partition" sum$np.txt \
    && ! grep -q "MPI traffic  *0.0 MB sent" sum$np.txt || fail "run -n $np: no MPI figures: $(cat sum$np.txt)"
  "$MPIEXEC" -n $np --oversubscribe "$K" run s.h5 -o rs$np.h5 --order 4 --ncrit 40 --check 50 --quiet \
    || fail "run sphere -n $np"
  "$PY" "$CHECK" --compare rs1.h5 rs$np.h5 $np || fail "run sphere -n $np: results differ from one rank"
done
# --dry-run stays a one-rank estimate: refused at 2 ranks before anything is read
"$MPIEXEC" -n 2 --oversubscribe "$K" run p.h5 --dry-run >/dev/null 2>errd.txt && fail "dry run -n 2 succeeded"
grep -q "dry-run works on one rank only" errd.txt || fail "dry run -n 2 message: $(cat errd.txt)"

# failures: exit status and one line
expect_fail 1 "no such readable file" "$K" run missing.h5 -o x.h5
expect_fail 1 "not an HDF5 file" "$K" run summary.txt -o x.h5
expect_fail 1 "no dataset /sources" "$K" run r.h5 -o x.h5
expect_fail 2 "unknown option" "$K" run p.h5 -o x.h5 --bogus 1
expect_fail 2 "-o results.h5 is required" "$K" run p.h5
expect_fail 2 "unknown command" "$K" frobnicate
expect_fail 2 "--dist must be cube or sphere" "$K" generate --dist torus --n 10 -o x.h5
expect_fail 2 "order must be in" "$K" run p.h5 -o x.h5 --order 40
expect_fail 1 "output directory" "$K" run p.h5 -o nodir/x.h5
"$PY" -c "
import h5py, numpy as np
with h5py.File('nan.h5', 'w') as f:
    f['sources'] = np.random.rand(100, 3); q = np.ones(100); q[42] = np.nan; f['charges'] = q
with h5py.File('shape.h5', 'w') as f:
    f['sources'] = np.random.rand(100, 2); f['charges'] = np.ones(100)
with h5py.File('type.h5', 'w') as f:
    f['sources'] = np.random.rand(100, 3).astype(np.float32); f['charges'] = np.ones(100)
"
expect_fail 1 "/charges row 42 is NaN" "$K" run nan.h5 -o x.h5
expect_fail 1 "(N, 3) expected" "$K" run shape.h5 -o x.h5
expect_fail 1 "float64 expected" "$K" run type.h5 -o x.h5
expect_fail 1 "/charges row 42 is NaN" "$K" info nan.h5
[ -e x.h5 ] && fail "a failed run left x.h5"
ls | grep -q '\.tmp\.' && fail "temporary files left: $(ls)"

[ $fails = 0 ] && echo "all kifmm program checks passed"
exit $fails

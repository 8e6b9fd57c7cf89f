# SPDX-License-Identifier: BSD-3-Clause
"""kifmm-bench prints one JSON object, valid for a strict parser: null where there is no
value (errors with --check 0), numbers where there is one. Usage: check_bench_json.py BENCH"""
import json
import subprocess
import sys


def reject(constant):
    raise ValueError("not JSON: " + constant)


def run(bench, check):
    out = subprocess.run([bench, "--n", "3000", "--threads", "1", "--check", str(check)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out, parse_constant=reject)


bench = sys.argv[1]
r = run(bench, 0)
assert r["err_pot"] is None and r["err_grad"] is None, r
assert r["simd"] in ("avx512", "avx2", "portable"), r
r = run(bench, 50)
assert isinstance(r["err_pot"], float) and r["err_pot"] < 1e-4, r
assert isinstance(r["err_grad"], float) and r["err_grad"] < 1e-3, r
print("kifmm-bench JSON ok:", r["simd"], r["blas_core"])

# SPDX-License-Identifier: BSD-3-Clause
"""kifmm-bench prints one JSON object, valid for a strict parser: null where there is no
value (errors with --check 0), numbers where there is one. Usage: check_bench_json.py BENCH
With MPIEXEC NP after BENCH: under mpiexec -n NP, rank 0 alone prints one line, with "ranks",
the per-rank maxima (with the MPI traffic, wait and partition time), and the errors of the one-rank run (the same global point set)."""
import json
import subprocess
import sys


def reject(constant):
    raise ValueError("not JSON: " + constant)


def run(bench, check):
    out = subprocess.run([bench, "--n", "3000", "--threads", "1", "--check", str(check)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out, parse_constant=reject)


def run_mpi(mpiexec, np, bench):
    args = ["--n", "3000", "--threads", "1", "--ncrit", "40", "--check", "50"]
    out = subprocess.run([mpiexec, "-n", str(np), "--oversubscribe", bench] + args,
                         check=True, capture_output=True, text=True).stdout
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 1, "want one line from rank 0 alone: " + out
    r = json.loads(lines[0], parse_constant=reject)
    one = json.loads(subprocess.run([bench] + args, check=True, capture_output=True,
                                    text=True).stdout, parse_constant=reject)
    mpi_only = {"ranks", "bytes_sent_max", "bytes_received_max", "comm_wait", "partition"}
    assert r["ranks"] == np and "ranks" not in one, (r, one)
    assert set(r) == set(one) | mpi_only, set(r) ^ set(one)
    assert r["bytes_sent_max"] > 0 and r["bytes_received_max"] > 0, r
    assert r["comm_wait"] >= 0 and 0 < r["partition"] <= r["tree"], r
    for k in ("tree", "lists", "operators", "m2l", "p2p", "evaluate", "total", "plan_mb"):
        assert isinstance(r[k], (int, float)) and r[k] >= 0, (k, r[k])
    assert r["peak_rss_mb"] > 0 and r["boxes"] > 0 and r["leaves"] > 0, r
    for k in ("err_pot", "err_grad"):
        assert abs(r[k] - one[k]) <= 1e-3 * one[k], (k, r[k], one[k])
    print(f"kifmm-bench JSON ok at {np} ranks: err_pot {r['err_pot']}, peak {r['peak_rss_mb']} MB")


bench = sys.argv[1]
if len(sys.argv) > 3:
    run_mpi(sys.argv[2], int(sys.argv[3]), bench)
    sys.exit(0)
bench = sys.argv[1]
r = run(bench, 0)
assert r["err_pot"] is None and r["err_grad"] is None, r
assert r["simd"] in ("avx512", "avx2", "portable"), r
assert r["near_precision"] in (32, 64) and r["near_symmetric"] in (0, 1), r
assert isinstance(r["cpu"], str) and r["cpu"] and '"' not in r["cpu"], r
r = run(bench, 50)
assert isinstance(r["err_pot"], float) and r["err_pot"] < 1e-4, r
assert isinstance(r["err_grad"], float) and r["err_grad"] < 1e-3, r
print("kifmm-bench JSON ok:", r["simd"], r["blas_core"], r["cpu"])

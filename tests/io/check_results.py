# SPDX-License-Identifier: BSD-3-Clause
"""Reads a kifmm particle file and result file with h5py and checks them against a direct
sum in numpy: shapes, attributes, and the accuracy of the potential and the gradient.
usage: check_results.py particles.h5 results.h5 order check_count
       check_results.py --compare reference.h5 results.h5 nranks
the second form checks that a run at nranks MPI ranks gave the reference's potential and
gradient to 1e-12 relative (the largest difference against the largest value)."""
import sys

import h5py
import numpy as np


def main(particles, results, order, check_count):
    with h5py.File(particles, "r") as f:
        src = f["sources"][...]
        q = f["charges"][...]
        trg = f["targets"][...] if "targets" in f else src
    with h5py.File(results, "r") as f:
        pot = f["potential"][...]
        grad = f["gradient"][...]
        attrs = dict(f.attrs)
    assert src.shape == (len(q), 3) and src.dtype == np.float64, src.shape
    assert pot.shape == (len(trg),) and pot.dtype == np.float64, pot.shape
    assert grad.shape == (len(trg), 3), grad.shape
    assert int(attrs["order"]) == order, attrs["order"]
    assert int(attrs["ntrg"]) == len(trg) and int(attrs["nsrc"]) == len(q)
    assert attrs["kifmm_version"].decode() if isinstance(attrs["kifmm_version"], bytes) else attrs["kifmm_version"]
    for t in ("t_tree", "t_lists", "t_operators", "t_upward", "t_m2l", "t_downward", "t_near"):
        assert attrs[t] >= 0, t
    assert int(attrs["check_count"]) == check_count, attrs["check_count"]
    # direct sum, skipping coincident pairs (targets = sources)
    d = trg[:, None, :] - src[None, :, :]
    r = np.sqrt((d * d).sum(axis=2))
    with np.errstate(divide="ignore"):
        inv = np.where(r > 0, 1.0 / r, 0.0)
    phi = inv @ q / (4 * np.pi)
    g = -np.einsum("ij,ijk->ik", inv**3 * q[None, :], d) / (4 * np.pi)
    ep = np.linalg.norm(pot - phi) / np.linalg.norm(phi)
    eg = np.linalg.norm(grad - g) / np.linalg.norm(g)
    tol_p, tol_g = (1e-5, 1e-4) if order >= 6 else (1e-3, 1e-2)
    print(f"h5py check: potential error {ep:.2e}, gradient error {eg:.2e}")
    assert ep < tol_p and eg < tol_g, (ep, eg)
    if check_count > 0:  # the sampled errors the program recorded are of the same size
        assert 0 <= attrs["err_potential"] < tol_p and 0 <= attrs["err_gradient"] < tol_g
    return 0


def compare(reference, results, nranks):
    with h5py.File(reference, "r") as f, h5py.File(results, "r") as g:
        for name in ("potential", "gradient"):
            a, b = f[name][...], g[name][...]
            assert a.shape == b.shape, (name, a.shape, b.shape)
            rel = np.abs(a - b).max() / np.abs(a).max()
            print(f"{results} vs {reference}: {name} differs by {rel:.2e} relative")
            assert rel <= 1e-12, (name, rel)
        for key in ("nsrc", "ntrg", "order", "ncrit", "check_count"):
            assert int(f.attrs[key]) == int(g.attrs[key]), (key, f.attrs[key], g.attrs[key])
        assert int(g.attrs["nranks"]) == nranks, g.attrs["nranks"]
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))

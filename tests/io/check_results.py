# SPDX-License-Identifier: BSD-3-Clause
"""Reads a kifmm particle file and result file with h5py and checks them against a direct
sum in numpy: shapes, attributes, and the accuracy of the potential and the gradient.
usage: check_results.py particles.h5 results.h5 order check_count
       check_results.py --compare reference.h5 results.h5 nranks
       check_results.py --particles particles.h5 [neutral]
       check_results.py --kernel particles.h5 results.h5 tol_value tol_gradient
the second form checks that a run at nranks MPI ranks gave the reference's potential and
gradient to 1e-12 relative (the largest difference against the largest value). The third
checks a generated particle file: shapes, the cell attributes (points inside the cell) and,
with `neutral`, that the charges (or each force component) sum to exactly 0 in any order and
that ions are +-1 in equal numbers. The fourth checks a Yukawa or Stokes result (free space)
against a direct sum in numpy, the kernel and its parameter taken from the result file."""
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


def particles(path, neutral=False):
    with h5py.File(path, "r") as f:
        src = f["sources"][...]
        stokes = "forces" in f
        q = f["forces"][...] if stokes else f["charges"][...]
        trg = f["targets"][...] if "targets" in f else src
        attrs = dict(f.attrs)
    assert q.shape == ((len(src), 3) if stokes else (len(src),)), q.shape
    if "periodic" in attrs:
        per = [int(v) for v in attrs["periodic"]]
        o = np.asarray(attrs["cell_origin"], dtype=float)
        L = float(attrs["cell_length"])
        assert len(per) == 3 and o.shape == (3,) and L > 0, (per, o, L)
        for x in (src, trg):
            assert (x >= o).all() and (x < o + L).all(), "a point outside the cell"
        print(f"{path}: periodic {per}, cell {o} + {L}")
    if neutral:
        cols = q.T if stokes else [q]
        for c in cols:
            # exactly zero whatever the order of summation
            assert float(np.sum(c)) == 0.0 and sum(c.tolist()) == 0.0, np.sum(c)
            assert float(np.sum(c[::-1])) == 0.0 and float(np.sum(np.sort(c))) == 0.0
        if not stokes and set(np.unique(q).tolist()) <= {-1.0, 1.0}:
            assert (q == 1).sum() == (q == -1).sum() == len(q) // 2
        print(f"{path}: neutral, {len(q)} sources")
    return 0


def kernel_direct(kernel, param, src, q, trg):
    """values (M, V) and gradients (M, V, 3), [t, i, l] = d value_i / d y_l"""
    d = trg[:, None, :] - src[None, :, :]
    r = np.sqrt((d * d).sum(axis=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ir = np.where(r > 0, 1.0 / r, 0.0)
    if kernel == "yukawa":
        e = np.exp(-param * r) * ir
        phi = e @ q / (4 * np.pi)
        c = -np.exp(-param * r) * (1 + param * r) * ir**3 * q[None, :]
        g = np.einsum("ij,ijk->ik", c, d) / (4 * np.pi)
        return phi[:, None], g[:, None, :]
    ir3 = ir**3
    rf = np.einsum("ijk,jk->ij", d, q)
    u = np.einsum("ij,jk->ik", ir, q) + np.einsum("ij,ijk->ik", rf * ir3, d)
    eye = np.eye(3)
    g = (-np.einsum("ij,jk,ijl->ikl", ir3, q, d) + np.einsum("ij,kl->ikl", rf * ir3, eye)
         + np.einsum("ij,ijk,jl->ikl", ir3, d, q) - 3 * np.einsum("ij,ijk,ijl->ikl", rf * ir3 * ir**2, d, d))
    c = 1 / (8 * np.pi * param)
    return c * u, c * g


def kernel_check(particles_path, results, tol_v, tol_g):
    with h5py.File(particles_path, "r") as f:
        src = f["sources"][...]
        q = f["forces"][...] if "forces" in f else f["charges"][...]
        trg = f["targets"][...] if "targets" in f else src
    with h5py.File(results, "r") as f:
        attrs = dict(f.attrs)
        kernel = attrs["kernel"].decode() if isinstance(attrs["kernel"], bytes) else str(attrs["kernel"])
        param = float(attrs["kernel_param"])
        if kernel == "stokes":
            val, grad = f["velocity"][...], f["velocity_gradient"][...]
            assert "potential" not in f and val.shape == (len(trg), 3) and grad.shape == (len(trg), 3, 3)
        else:
            val, grad = f["potential"][...][:, None], f["gradient"][...][:, None, :]
    assert "periodic" not in attrs, "a free-space check"
    v, g = kernel_direct(kernel, param, src, q, trg)
    ev = np.linalg.norm(val - v) / np.linalg.norm(v)
    eg = np.linalg.norm(grad - g) / np.linalg.norm(g)
    print(f"h5py check ({kernel}, param {param}): value error {ev:.2e}, gradient error {eg:.2e}")
    assert ev < tol_v and eg < tol_g, (ev, eg)
    if int(attrs["check_count"]) > 0:
        assert attrs["err_potential"] < tol_v and attrs["err_gradient"] < tol_g
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--particles":
        sys.exit(particles(sys.argv[2], len(sys.argv) > 3 and sys.argv[3] == "neutral"))
    if sys.argv[1] == "--kernel":
        sys.exit(kernel_check(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
    if sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))

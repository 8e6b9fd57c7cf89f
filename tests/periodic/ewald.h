/* SPDX-License-Identifier: BSD-3-Clause */
/* Reference lattice sums of the Laplace kernel 1/(4 pi r) for the tests of periodic boundary
 * conditions: fully periodic (ewald3d), periodic in x and y (ewald2d), periodic in z (sum1d).
 * Written from the formulas (Ewald 1921; Parry 1975 / Heyes, Barber & Clarke 1977 for the
 * slab; Porto 2000 for the line) with no code of the library under test.
 *
 * Common arguments
 *   n, q, xyz   n sources, charge q[j] at (xyz[3j], xyz[3j+1], xyz[3j+2])
 *   m, y        m targets, interleaved the same way (targets may be sources or anything else)
 *   L, origin   the cubic cell [origin, origin + L)^3; the period along each periodic
 *               direction is L. Sources may lie anywhere: only their positions modulo the
 *               lattice matter (positions are wrapped into the cell internally, which keeps
 *               the phases small), so the results do not depend on origin (NULL means 0).
 *   alpha       Ewald splitting parameter (1/length); alpha <= 0 picks the default
 *               EWALD*_ALPHA_L / L. The results do not depend on alpha beyond rounding
 *               (checked for alpha L in [1.5, 6]; cost grows as (alpha L)^3 in k-space and as
 *               (alpha L)^-3 in real space, so keep alpha L within about [1, 10]).
 *   phi[m]      potential, grad[3m] its gradient d phi / d y (grad may be NULL)
 * With R the lattice of images (R = L Z^3, L Z^2 x {0}, {0}^2 x L Z) every function returns
 *
 *   phi(y) = sum_{R} sum_j q_j / (4 pi |y - x_j - R|)                                  (*)
 *
 * where a term with |y - x_j - R| <= EWALD_COINCIDE * L is left out (a target on a source,
 * or on one of its images, skips that one term and keeps all the other images of that source).
 * The sums (*) diverge or converge only conditionally; each function's exact meaning of (*)
 * is below. Return value: 0, or -1 for bad arguments (L <= 0 or not finite, NULL arrays
 * with n or m > 0), -2 for a non-neutral system where neutrality is required
 * (|sum q| > 1e-12 sum |q|).
 *
 * Truncation: real-space images with alpha |r| < EWALD_XI and reciprocal vectors with
 * |k| < 2 alpha EWALD_XI, which leaves erfc(6.2) ~ 3e-18 and exp(-6.2^2) ~ 2e-17 relative to the
 * largest terms: the truncation is below 1e-15 of q / (4 pi L) at the defaults, and the
 * results carry the rounding of the sums, about 1e-15 of max |phi| (tests/periodic/
 * test_ewald_ref.c: Madelung constants to 2e-15, direct sums to 1e-13 and 1e-15).
 * Cost: O(n m) pair terms times ~(2 EWALD_XI / (alpha L))^3 images (3D; the k-space part
 * goes through structure factors, O((n + m) (alpha L)^3)), O(n m (alpha L)^2) for the slab
 * and O(n m alpha L EWALD_GL_NODES) for the line: meant for up to a few thousand points. */
#ifndef KIFMM_TESTS_EWALD_H
#define KIFMM_TESTS_EWALD_H

#include <stddef.h>

#define EWALD_XI 6.2         /* alpha r_c = k_c / (2 alpha) */
#define EWALD_COINCIDE 1e-12 /* relative to L: a source image this close is the target */
#define EWALD3D_ALPHA_L 5.5  /* default alpha L of ewald3d */
#define EWALD2D_ALPHA_L 5.0  /* default alpha L of ewald2d */
#define SUM1D_ALPHA_L 3.5    /* default alpha L of sum1d */
#define EWALD_GL_NODES 64    /* Gauss-Legendre nodes of sum1d's incomplete Bessel integral */

/* Fully periodic, conducting ("tin-foil") boundary, k = 0 term dropped.
 * With r = y - x_j and V = L^3 (kernel 1/r; the result is multiplied by 1/(4 pi)):
 *   phi(y) = sum_j q_j [ sum_{R, r+R != 0} erfc(alpha |r+R|) / |r+R|
 *                        + (4 pi / V) sum_{k != 0} exp(-k^2 / (4 alpha^2)) / k^2 cos(k.r) ]
 *            - [y on x_j] q_j 2 alpha / sqrt(pi)  -  pi Q / (alpha^2 V),
 *   k in (2 pi / L) Z^3, Q = sum_j q_j.
 * Convention: the average of phi over the cell is zero, and no field of the surface at
 * infinity: the lattice sum (*) over expanding spheres in vacuum differs from this by
 * (1 / (4 pi)) (4 pi / (3 V)) M . y + constant, M = sum_j q_j x_j (zero for the
 * cubic crystals, whose values are the Madelung constants). A non-neutral system is
 * neutralised by a uniform background charge -Q / V (the last term), allowed here only. */
int ewald3d(size_t n, const double *q, const double *xyz, size_t m, const double *y, double L,
            const double origin[3], double alpha, double *phi, double *grad);

/* Periodic in x and y (period L, area A = L^2), free in z; the system must be neutral.
 * With r = y - x_j = (rho, z) (rho in the xy plane), h in (2 pi / L) Z^2 (kernel 1/r):
 *   phi(y) = sum_j q_j [ sum_{R, r+R != 0} erfc(alpha |r+R|) / |r+R|
 *            + (pi / A) sum_{h != 0} cos(h.rho) / |h| * f(|h|, z)
 *            - (2 pi / A) ( z erf(alpha z) + exp(-alpha^2 z^2) / (alpha sqrt(pi)) ) ]
 *            - [y on x_j] q_j 2 alpha / sqrt(pi),
 *   f(h, z) = exp(h z) erfc(h / (2 alpha) + alpha z) + exp(-h z) erfc(h / (2 alpha) - alpha z).
 * The k = 0 term (last line of the bracket) is the h -> 0 limit of the h-term less its
 * divergent part 2 pi / (A h), which does not depend on the positions and cancels exactly in
 * a neutral system; so no constant is added or dropped.
 * Convention: phi is the lattice sum (*) over expanding squares |R_x|, |R_y| <= N L, N -> oo
 * (the same limit for any centred star-shaped region: the in-plane dipole terms cancel in
 * pairs). Far from the slab, with M_z = sum_j q_j z_j (origin independent, neutral system),
 *   phi(y) -> +M_z / (2 L^2) as z -> +oo,   phi(y) -> -M_z / (2 L^2) as z -> -oo
 * (the two limits average to zero; the approach is exp(-2 pi |z| / L)). */
int ewald2d(size_t n, const double *q, const double *xyz, size_t m, const double *y, double L,
            const double origin[3], double alpha, double *phi, double *grad);

/* Periodic in z (period L), free in x and y; the system must be neutral. With
 * r = y - x_j = (rho, z) (rho the distance from the line x = x_j, y = y_j), h_k = 2 pi k / L
 * (kernel 1/r):
 *   phi(y) = sum_j q_j [ sum_{R, r+R != 0} erfc(alpha |r+R|) / |r+R|
 *            + (2 / L) sum_{k >= 1} cos(h_k z) G(alpha^2 rho^2, h_k^2 / (4 alpha^2))
 *            - (1 / L) Ein(alpha^2 rho^2) ] - [y on x_j] q_j 2 alpha / sqrt(pi),
 *   G(a, b) = int_0^oo exp(-a e^-u - b e^u) du   (an incomplete Bessel function:
 *             G -> 2 K0(2 sqrt(a b)) as alpha -> oo, G(0, b) = E1(b)),
 *   Ein(x) = int_0^x (1 - e^-t) / t dt = E1(x) + ln x + gamma.
 * G is integrated by Gauss-Legendre on [0, ln(45 / b)] (integrand entire and bounded by 1 in
 * the strip |Im u| < pi/2: geometric convergence, below 1e-20 at 64 nodes).
 * As in 2D the k = 0 term is exact up to a position-independent divergent constant that cancels
 * for a neutral system. Equivalently (alpha -> oo), for a target off every source's line,
 *   phi(y) = (1 / (4 pi)) sum_j q_j [ -(2 / L) ln rho_j + (4 / L) sum_{k>=1} K0(h_k rho_j)
 * cos(h_k z_j) ]. Convention: phi is the lattice sum (*) over images |R| <= N L, N -> oo, which
 * converges absolutely for a neutral cell (a cell's image contributes O(1/N^2)), and phi(y) ->
 * -(1 / (2 pi L)) sum_j q_j ln rho_j -> 0 as rho -> oo (as p_perp . rho / (2 pi L rho^2), p_perp
 * = sum_j q_j (x_j, y_j)): the potential vanishes far from the axis. */
int sum1d(size_t n, const double *q, const double *xyz, size_t m, const double *y, double L,
          const double origin[3], double alpha, double *phi, double *grad);

#endif

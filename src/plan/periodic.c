/* SPDX-License-Identifier: BSD-3-Clause */
/* What a periodic cell adds to a plan (src/plan/): the checks of points and charges, the far
 * field of the images beyond the root's neighbours (one operator at the root, before the
 * downward pass), and in 3D the uniform background's exact part at the targets.
 *
 * The sum over all images of a neutral cell: the lists give the images within the root's
 * neighbours (shifted U, W, X entries and unwrapped V transfer vectors, src/tree/lists.c);
 * the rest is sum_j q_j G_far(y - x_j) (src/operators/ewald.c), which for y in the cell and
 * x_j in it is a harmonic function of each: so the root's multipole stands for the charges
 * there like in an M2L, and the root's local expansion (then L2L from level 0 down) carries
 * it to the targets. In 3D the Ewald sum neutralises each charge by a uniform background,
 * whose potential 2 pi / (3 V) |y - x|^2 is not harmonic: ewald.c leaves it out of G_far
 * and background() adds it here from the charges' exact moments (charge, dipole, second
 * moment: an equivalent density gets the first two right but not the last, which would
 * shift the potential by a constant). In 2D and 1D there is no background: the k = 0 terms
 * are the smeared sheet's and line's own, less a constant that the neutral sum never sees. */
#include <math.h>

#include "plan/plan.h"

static const char *const AXIS[3] = {"x", "y", "z"};

int kifmm__periodic_any(const kifmm_options *o) {
  return o->periodic[0] || o->periodic[1] || o->periodic[2];
}

/* Points along a periodic axis may be anywhere (the tree wraps them) as long as their offset
 * from the origin is finite; along a free axis they must lie in [origin, origin + L]. */
static int check_set(const kifmm_options *o, const char *what, int64_t n, const double *xyz) {
  const double L = o->cell_length;
  for (int64_t i = 0; i < n; i++)
    for (int d = 0; d < 3; d++) {
      double x = xyz[3 * i + d], off = x - o->cell_origin[d];
      if (o->periodic[d] && !isfinite(off))
        return kifmm__fail(KIFMM_ERR_OUTSIDE_CELL,
                           "%s %lld lies too far from the cell along %s to be wrapped (%g)", what,
                           (long long)i, AXIS[d], x);
      if (!o->periodic[d] && !(off >= 0.0 && x <= o->cell_origin[d] + L))
        return kifmm__fail(KIFMM_ERR_OUTSIDE_CELL,
                           "%s %lld lies outside the cell along %s (not periodic): %.17g not in "
                           "[%.17g, %.17g]",
                           what, (long long)i, AXIS[d], x, o->cell_origin[d],
                           o->cell_origin[d] + L);
    }
  return KIFMM_SUCCESS;
}

int kifmm__periodic_check_points(const kifmm_options *o, int64_t nsrc, const double *src,
                                 int64_t ntrg, const double *trg) {
  if (!kifmm__periodic_any(o))
    return KIFMM_SUCCESS;
  CHECK(check_set(o, "source", nsrc, src));
  return check_set(o, "target", ntrg, trg);
}

void kifmm__periodic_charge_sums(int nthreads, int64_t n, int nvec, const double *charges,
                                 double *sums) {
  for (int v = 0; v < nvec; v++) {
    double sum = 0.0, abs_sum = 0.0;
    const double *q = charges + (int64_t)v * n;
#pragma omp parallel for num_threads(nthreads) reduction(+ : sum, abs_sum)
    for (int64_t i = 0; i < n; i++) {
      sum += q[i];
      abs_sum += fabs(q[i]);
    }
    sums[2 * v] = sum;
    sums[2 * v + 1] = abs_sum;
  }
}

int kifmm__periodic_neutral_verdict(int nvec, const double *sums) {
  for (int v = 0; v < nvec; v++)
    if (fabs(sums[2 * v]) > KIFMM_NEUTRAL_TOL * sums[2 * v + 1])
      return kifmm__fail(KIFMM_ERR_NOT_NEUTRAL,
                         "charge vector %d adds to %.17g, more than 1e-10 of sum |q| = %.17g", v,
                         sums[2 * v], sums[2 * v + 1]);
  return KIFMM_SUCCESS;
}

int kifmm__periodic_check_neutral(const kifmm_plan *plan, int nvec, const double *charges) {
  if (!kifmm__periodic_any(&plan->opts))
    return KIFMM_SUCCESS;
  double *sums;
  ALLOC(sums, 2 * (size_t)nvec);
  kifmm__periodic_charge_sums(plan->nthreads, plan->tree.nsrc, nvec, charges, sums);
  int status = kifmm__periodic_neutral_verdict(nvec, sums);
  free(sums);
  return status;
}

/* Charge, dipole and second moment of vector v's sources [i0, i1) (scaled coordinates):
 * m[0] = Q, m[1..3] = sum q x, m[4] = sum q |x|^2. */
static void moments(const kifmm_plan *plan, int v, int64_t i0, int64_t i1, double m[5]) {
  const kifmm_tree *t = &plan->tree;
  const int nv = plan->nvec;
  double q0 = 0, qx = 0, qy = 0, qz = 0, q2 = 0;
  for (int64_t i = i0; i < i1; i++) {
    double q = plan->q[i * nv + v], x = t->sx[i], y = t->sy[i], z = t->sz[i];
    q0 += q;
    qx += q * x;
    qy += q * y;
    qz += q * z;
    q2 += q * (x * x + y * y + z * z);
  }
  m[0] = q0;
  m[1] = qx;
  m[2] = qy;
  m[3] = qz;
  m[4] = q2;
}

/* The moments of every vector over the tree's sources (a distributed plan's ghosts hold zero
 * densities during the upward pass, when this runs: evaluate.c), in blocks of a fixed size
 * summed in block order, so that they do not depend on the number of threads (an OpenMP
 * reduction adds the threads' partial sums: other bits for other counts). */
enum { MOMENT_BLOCK = 8192, MOMENT_BLOCKS_MAX = 4096 };
int kifmm__periodic_moments(kifmm_plan *plan) {
  if (!plan->periodic_far)
    return KIFMM_SUCCESS;
  const int64_t n = plan->tree.nsrc;
  int64_t nb = (n + MOMENT_BLOCK - 1) / MOMENT_BLOCK;
  nb = nb < 1 ? 1 : nb;
  double *part;
  ALLOC(part, 5 * (size_t)nb);
  for (int v = 0; v < plan->nvec; v++) {
#pragma omp parallel for num_threads(plan->nthreads) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
      int64_t i1 = (b + 1) * MOMENT_BLOCK;
      moments(plan, v, b * MOMENT_BLOCK, i1 < n ? i1 : n, part + 5 * b);
    }
    double *m = plan->periodic_moments + 5 * v;
    for (int k = 0; k < 5; k++) {
      m[k] = 0.0;
      for (int64_t b = 0; b < nb; b++)
        m[k] += part[5 * b + k];
    }
  }
  free(part);
  return KIFMM_SUCCESS;
}

/* G_far is large and nearly constant over the check and equivalent surfaces (in the unit
 * cell about -22 in 3D, -11 in 2D, -3 in 1D: the near images' 1/r taken out), so P M carries
 * the mean times sum M, the equivalent density's charge, which matches the charges' sum (~0)
 * only to the expansion's accuracy: measured, that error put a constant of a third of the
 * whole error into every potential (3D, p6). The mean is applied to the exact charge sum
 * instead, the rest of P to the multipole. */
void kifmm__periodic_center(kifmm_plan *plan) {
  const int64_t m = (int64_t)plan->ops.nc * plan->ops.n;
  double mean = 0.0;
  for (int64_t i = 0; i < m; i++)
    mean += plan->periodic_far[i];
  mean /= (double)m;
  for (int64_t i = 0; i < m; i++)
    plan->periodic_far[i] -= mean;
  plan->periodic_far_mean = mean;
}

/* Root local += DC2E (P M + mean Q): the images beyond the root's neighbours. P is the unit
 * cell's (ewald.c); at the root's side h = 2 the check potential is P M / h and the
 * pseudo-inverse h DC2E, so the two factors cancel. M and Q are the whole cell's (a
 * distributed plan's root multipole and moments are summed over its ranks by then), so a
 * rank without sources of its own still gets the far images. */
int kifmm__periodic_root(kifmm_plan *plan) {
  const int n = plan->ops.n, nc = plan->ops.nc, nv = plan->nvec;
  if (!plan->periodic_far || plan->tree.ntrg == 0)
    return KIFMM_SUCCESS;
  double *check;
  ALLOC(check, (size_t)(nc + n) * nv);
  kifmm__mm(nc, nv, n, 1.0, plan->periodic_far, nc, plan->multipole, n, 0.0, check, nc);
  for (int v = 0; v < nv; v++)
    for (int i = 0; i < nc; i++)
      check[i + (size_t)v * nc] += plan->periodic_far_mean * plan->periodic_moments[5 * v];
  kifmm__c2e_apply(n, nc, kifmm__opset(&plan->ops, 0)->dc2e, nv, 1.0, check, 1.0, plan->local,
                   check + (size_t)nc * nv);
  free(check);
  return KIFMM_SUCCESS;
}

/* 3D: the background part of the far field, 2 pi / (3 V) sum_j q_j |y - x_j|^2 =
 * c (Q |y|^2 - 2 y.D + S2), exactly at every target (V = side^3 in scaled units). */
int kifmm__periodic_background(kifmm_plan *plan, int want_grad) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_options *o = &plan->opts;
  if (!(o->periodic[0] && o->periodic[1] && o->periodic[2]))
    return KIFMM_SUCCESS;
  const double c = 2.0 * 3.14159265358979323846 / (3.0 * t->side * t->side * t->side);
  const int64_t nt = t->ntrg;
  for (int v = 0; v < plan->nvec; v++) {
    const double *m = plan->periodic_moments + 5 * v;
    double *pot = plan->res[0] + v * nt, *gx = plan->res[1] + v * nt, *gy = plan->res[2] + v * nt,
           *gz = plan->res[3] + v * nt;
#pragma omp parallel for num_threads(plan->nthreads) schedule(static)
    for (int64_t i = 0; i < nt; i++) {
      double x = t->tx[i], y = t->ty[i], z = t->tz[i];
      pot[i] +=
          c * (m[0] * (x * x + y * y + z * z) - 2.0 * (x * m[1] + y * m[2] + z * m[3]) + m[4]);
      if (want_grad) {
        gx[i] += 2.0 * c * (m[0] * x - m[1]);
        gy[i] += 2.0 * c * (m[0] * y - m[2]);
        gz[i] += 2.0 * c * (m[0] * z - m[3]);
      }
    }
  }
  return KIFMM_SUCCESS;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* Translation and scale invariance, results that cannot be represented, and trees deeper
 * than 16 levels. The reference for a cloud x = s * (o + w) is the direct sum over the
 * scaled points w, scaled back by 1/s (potential) and 1/s^2 (gradient), so that the
 * reference itself never overflows or loses digits to the offset. */
#include <float.h>

#include "internal.h"
#include "testutil.h"

enum { NS = 3000, NT = 2500, ORDER = 6 };

typedef struct {
  double src[3 * NS], trg[3 * NT], q[NS];
} cloud;

static void unit_cloud(cloud *c, uint64_t seed) {
  for (int i = 0; i < 3 * NS; i++)
    c->src[i] = tu_uniform(&seed);
  for (int i = 0; i < 3 * NT; i++)
    c->trg[i] = tu_uniform(&seed);
  for (int i = 0; i < NS; i++)
    c->q[i] = tu_uniform(&seed) - 0.5;
}

static double rel_l2(int n, const double *got, const double *ref) {
  double e = 0, r = 0;
  for (int i = 0; i < n; i++) {
    e += (got[i] - ref[i]) * (got[i] - ref[i]);
    r += ref[i] * ref[i];
  }
  return sqrt(e / r);
}

static int fmm(const cloud *c, double *pot, double *grad) {
  kifmm_options o = kifmm_default_options();
  o.order = ORDER;
  o.ncrit = 64;
  kifmm_plan *plan = NULL;
  int status = kifmm_plan_create(&plan, NS, c->src, NT, c->trg, &o);
  if (status == KIFMM_SUCCESS)
    status = kifmm_evaluate(plan, c->q, pot, grad);
  kifmm_plan_destroy(&plan);
  return status;
}

/* x = s * (off + w): w is what the cloud looks like once the offset is gone (rounded as
 * the shifted coordinates are), the "scaled coordinates" of the reference. */
static void place(const cloud *unit, double off, double s, cloud *x, cloud *w) {
  *x = *unit;
  for (int i = 0; i < 3 * NS; i++) {
    x->src[i] = s * off + s * unit->src[i];
    w->src[i] = (x->src[i] - s * off) / s;
  }
  for (int i = 0; i < 3 * NT; i++) {
    x->trg[i] = s * off + s * unit->trg[i];
    w->trg[i] = (x->trg[i] - s * off) / s;
  }
  memcpy(w->q, unit->q, sizeof(w->q));
}

/* The error of the FMM on x is that of the FMM on the same cloud at unit scale. Not to the
 * last digit: far from the origin the rounded centre of the bounding box shifts the tree by
 * up to half an ulp of the coordinates, which the quantized cloud w does not see, so the
 * boxes fall differently (measured: 0.9-1.2x). Without the scaling the error was 5.5. */
static void check_invariance(const cloud *unit, double off, double s, int with_grad) {
  static cloud x, w;
  static double pot[NT], grad[3 * NT], pw[NT], gw[3 * NT], pd[NT], gd[3 * NT];
  place(unit, off, s, &x, &w);
  EXPECT_STATUS(kifmm_direct(NS, w.src, w.q, NT, w.trg, pd, gd, 0), KIFMM_SUCCESS);
  EXPECT_STATUS(fmm(&w, pw, gw), KIFMM_SUCCESS);
  double ew = rel_l2(NT, pw, pd), egw = rel_l2(3 * NT, gw, gd);
  EXPECT_STATUS(fmm(&x, pot, with_grad ? grad : NULL), KIFMM_SUCCESS);
  for (int i = 0; i < NT; i++) { /* back to the units of w */
    pot[i] *= s;
    for (int d = 0; d < 3 && with_grad; d++)
      grad[3 * i + d] = grad[3 * i + d] * s * s;
  }
  double ex = rel_l2(NT, pot, pd), egx = with_grad ? rel_l2(3 * NT, grad, gd) : 0;
  printf("  offset %.0e x spread, spread %.0e: pot %.2e (unit scale %.2e)", off, s, ex, ew);
  if (with_grad)
    printf(" grad %.2e (unit scale %.2e)", egx, egw);
  printf("\n");
  EXPECT(ex <= 1.25 * ew + 1e-14, "offset %.0e spread %.0e: potential error %.2e vs %.2e", off,
         s, ex, ew);
  EXPECT(ex <= 3e-6, "offset %.0e spread %.0e: potential error %.2e above the p6 bound", off, s,
         ex);
  if (with_grad)
    EXPECT(egx <= 1.25 * egw + 1e-14, "offset %.0e spread %.0e: gradient error %.2e vs %.2e", off,
           s, egx, egw);
}

static void test_offsets_and_spreads(void) {
  static cloud unit;
  unit_cloud(&unit, 42);
  const double offsets[] = {0.0, -3.0, 1e8, 1e14};
  const double spreads[] = {1e-200, 1e-6, 1.0, 1e6, 1e200};
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 5; j++) {
      /* 1/s^2 over- or underflows at the extreme spreads: potential only there */
      int with_grad = fabs(log10(spreads[j])) < 150;
      check_invariance(&unit, offsets[i], spreads[j], with_grad);
    }
  /* the whole double range: extents that overflow when subtracted naively */
  check_invariance(&unit, -0.5, 1.7e308, 0);
  check_invariance(&unit, 0.0, 1e300, 0);
}

/* A gradient of 1e400 is not a double: a status, outputs untouched, never inf or NaN. */
static void test_not_representable(void) {
  static cloud unit, x, w;
  static double pot[NT], grad[3 * NT];
  unit_cloud(&unit, 7);
  place(&unit, 0.0, 1e-200, &x, &w);
  for (int i = 0; i < NT; i++)
    pot[i] = -7.0;
  for (int i = 0; i < 3 * NT; i++)
    grad[i] = -7.0;
  EXPECT_STATUS(fmm(&x, pot, grad), KIFMM_ERR_NOT_REPRESENTABLE);
  int untouched = 1;
  for (int i = 0; i < NT; i++)
    untouched &= pot[i] == -7.0 && grad[3 * i] == -7.0;
  EXPECT(untouched, "outputs untouched when a result overflows");
  EXPECT_STATUS(fmm(&x, pot, NULL), KIFMM_SUCCESS);
  int finite = 1;
  for (int i = 0; i < NT; i++)
    finite &= isfinite(pot[i]) && fabs(pot[i]) > 1e150;
  EXPECT(finite, "the potential alone (about 1e200) is representable and returned");
}

/* Near-field pairs: the cost that explodes when a cluster cannot be refined. */
static double p2p_pairs(const kifmm_plan *p) {
  const kifmm_tree *t = &p->tree;
  double pairs = 0;
  for (int64_t b = 0; b < t->nbox; b++)
    for (int64_t e = p->lists.u_ptr[b]; e < p->lists.u_ptr[b + 1]; e++) {
      int64_t a = p->lists.u_idx[e];
      pairs += (double)(t->trg_end[b] - t->trg_begin[b]) * (double)(t->src_end[a] - t->src_begin[a]);
    }
  return pairs;
}

/* 95 % of the points in a cube of side 1e-9: the tree must follow them ~30 levels down. */
static void test_deep_cluster(void) {
  const int64_t n = 20000;
  const int ncrit = 64;
  double *tight = tu_alloc(3 * n), *uniform = tu_alloc(3 * n), *q = tu_alloc(n),
         *pot = tu_alloc(n), *grad = tu_alloc(3 * n);
  uint64_t seed = 9;
  for (int64_t i = 0; i < n; i++)
    for (int d = 0; d < 3; d++) {
      double u = tu_uniform(&seed);
      uniform[3 * i + d] = u;
      tight[3 * i + d] = i % 20 == 0 ? u : 0.3 + 1e-9 * u;
    }
  for (int64_t i = 0; i < n; i++)
    q[i] = tu_uniform(&seed) - 0.5;
  kifmm_options o = kifmm_default_options();
  o.order = ORDER;
  o.ncrit = ncrit;
  kifmm_plan *pt = NULL, *pu = NULL;
  EXPECT_STATUS(kifmm_plan_create(&pt, n, tight, n, tight, &o), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm_plan_create(&pu, n, uniform, n, uniform, &o), KIFMM_SUCCESS);
  if (!pt || !pu)
    return;
  int64_t max_count, over;
  kifmm__tree_leaf_load(&pt->tree, ncrit, &max_count, &over);
  double ratio = p2p_pairs(pt) / p2p_pairs(pu);
  printf("  tight cluster: depth %d, largest leaf %lld, near-field pairs %.2fx uniform\n",
         pt->tree.depth, (long long)max_count, ratio);
  EXPECT(pt->tree.depth > 25, "the tree follows the cluster down (depth %d)", pt->tree.depth);
  EXPECT(max_count <= ncrit && over == 0, "no leaf above ncrit (largest %lld)",
         (long long)max_count);
  EXPECT(ratio <= 3.0, "near-field work %.2fx the uniform case", ratio);
  EXPECT_STATUS(kifmm_evaluate(pt, q, pot, grad), KIFMM_SUCCESS);
  double ep, eg;
  tu_errors(n, tight, q, n, tight, pot, grad, 1500, &ep, &eg);
  printf("  tight cluster p%d: pot %.2e grad %.2e\n", ORDER, ep, eg);
  EXPECT(ep <= 3e-6 && eg <= 1.5e-5, "tight cluster errors pot %.2e grad %.2e", ep, eg);
  kifmm_plan_destroy(&pt);
  kifmm_plan_destroy(&pu);
  free(tight);
  free(uniform);
  free(q);
  free(pot);
  free(grad);
}

int main(void) {
  test_offsets_and_spreads();
  test_not_representable();
  test_deep_cluster();
  return tu_finish("test_scale");
}

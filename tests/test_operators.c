/* SPDX-License-Identifier: BSD-3-Clause */
/* Each translation operator on its own against direct evaluation, on a hand-built unit
 * geometry: P2M+M2P, P2M+M2M, P2M+M2L+L2P (compressed), P2L+L2L+L2P. */
#include "internal.h"
#include "testutil.h"
#include <math.h>

enum { NS = 200, NT = 100 };

typedef struct {
  kifmm_operators ops;
  const kifmm_opset *s; /* Laplace's one set */
  int n, nc;           /* equivalent and check surface points */
  double *src, *q;     /* sources, interleaved */
  double surf[3 * KIFMM_MAX_SURFACE];
} fixture;

/* Points uniformly in the cube of side `side` at center c. */
static void box_points(uint64_t *seed, int n, const double c[3], double side, double *xyz) {
  for (int i = 0; i < n; i++)
    for (int d = 0; d < 3; d++)
      xyz[3 * i + d] = c[d] + side * (tu_uniform(seed) - 0.5);
}

/* Potential (1/r) at points y from density w on points x, both interleaved. */
static void eval(int nx, const double *x, const double *w, int ny, const double *y, double *pot) {
  for (int j = 0; j < ny; j++) {
    double s = 0;
    for (int i = 0; i < nx; i++) {
      double dx = y[3 * j] - x[3 * i], dy = y[3 * j + 1] - x[3 * i + 1],
             dz = y[3 * j + 2] - x[3 * i + 2];
      s += w[i] / sqrt(dx * dx + dy * dy + dz * dz);
    }
    pot[j] = s;
  }
}

static double rel_err(int n, const double *a, const double *b) {
  double e = 0, m = 0;
  for (int i = 0; i < n; i++) {
    e += (a[i] - b[i]) * (a[i] - b[i]);
    m += b[i] * b[i];
  }
  return sqrt(e / m);
}

/* Multipole (upward equivalent density) of sources in a box of side h at c. */
static void p2m(const fixture *f, int ns, const double *src, const double *q, const double c[3],
                double h, double *mult) {
  double *check = tu_alloc(f->nc + f->n);
  kifmm__surface(f->ops.check_order, KIFMM_RATIO_OUTER(f->ops.order), h, c, (double *)f->surf);
  eval(ns, src, q, f->nc, f->surf, check);
  kifmm__c2e_apply(f->n, f->nc, f->s->uc2e, 1, h, check, 0.0, mult, check + f->nc);
  free(check);
}

static double test_p2m_m2p(const fixture *f, double *mult) {
  const double c[3] = {0, 0, 0};
  double trg[3 * NT], direct[NT], approx[NT];
  uint64_t seed = 5;
  p2m(f, NS, f->src, f->q, c, 1.0, mult);
  for (int j = 0; j < NT; j++) { /* targets of a non-adjacent box: at least one side away */
    const double tc[3] = {2.0, (j % 3) - 1.0, (j % 5 < 2) ? 2.0 : 0.0};
    box_points(&seed, 1, tc, 1.0, trg + 3 * j);
  }
  eval(NS, f->src, f->q, NT, trg, direct);
  kifmm__surface(f->ops.order, KIFMM_RATIO_INNER(f->ops.order), 1.0, c, (double *)f->surf);
  eval(f->n, f->surf, mult, NT, trg, approx);
  return rel_err(NT, approx, direct);
}

/* Children of the unit box each get their own P2M; M2M sums them into the parent. */
static double test_m2m(const fixture *f) {
  int n = f->n;
  double *stack = tu_alloc(8 * n), *parent = tu_alloc(n), *allsrc = tu_alloc(3 * 8 * 25),
         *allq = tu_alloc(8 * 25), trg[3 * NT], direct[NT], approx[NT];
  uint64_t seed = 6;
  for (int o = 0; o < 8; o++) {
    const double cc[3] = {o & 4 ? 0.25 : -0.25, o & 2 ? 0.25 : -0.25, o & 1 ? 0.25 : -0.25};
    box_points(&seed, 25, cc, 0.5, allsrc + 3 * 25 * o);
    for (int i = 0; i < 25; i++)
      allq[25 * o + i] = tu_uniform(&seed) - 0.3;
    p2m(f, 25, allsrc + 3 * 25 * o, allq + 25 * o, cc, 0.5, stack + o * n);
  }
  kifmm__gemm('N', 'N', n, 1, 8 * n, 1.0, f->s->m2m, n, stack, 8 * n, 0.0, parent, n);
  for (int j = 0; j < NT; j++) {
    const double tc[3] = {-2.0, 0.0, (j % 2) ? 2.0 : -1.0};
    box_points(&seed, 1, tc, 1.0, trg + 3 * j);
  }
  const double c[3] = {0, 0, 0};
  eval(200, allsrc, allq, NT, trg, direct);
  kifmm__surface(f->ops.order, KIFMM_RATIO_INNER(f->ops.order), 1.0, c, (double *)f->surf);
  eval(n, f->surf, parent, NT, trg, approx);
  free(stack);
  free(parent);
  free(allsrc);
  free(allq);
  return rel_err(NT, approx, direct);
}

/* Sources in the unit box at offset d, targets in the unit box at the origin: compressed
 * M2L in the group g of d (Mc = V^T M, then rows g kr.. of it; Lc = A_t B_t^T Mc into rows
 * g kl..; L = D Lc), then L2P. */
static double test_m2l(const fixture *f, int dx, int dy, int dz) {
  const int n = f->n, kl = f->s->kl, kr = f->s->kr, G = KIFMM_M2L_GROUPS;
  const int t = kifmm__tv_index(dx, dy, dz), r = f->s->r[t], g = kifmm__tv_group(t);
  const double sc[3] = {dx, dy, dz}, o[3] = {0, 0, 0};
  double *src = tu_alloc(3 * NS), *mult = tu_alloc(n), *mc = tu_alloc(G * kr), *tr = tu_alloc(r),
         *lc = tu_alloc(G * kl), *loc = tu_alloc(n), trg[3 * NT], direct[NT], approx[NT];
  uint64_t seed = 7;
  box_points(&seed, NS, sc, 1.0, src);
  box_points(&seed, NT, o, 1.0, trg);
  p2m(f, NS, src, f->q, sc, 1.0, mult);
  const double *a = f->s->ab + f->s->ab_off[t], *b = a + (size_t)kl * r;
  kifmm__gemm('N', 'N', G * kr, 1, n, 1.0, f->s->vt, G * kr, mult, n, 0.0, mc, G * kr);
  kifmm__gemm('N', 'N', r, 1, kr, 1.0, b, r, mc + g * kr, kr, 0.0, tr, r);
  kifmm__gemm('N', 'N', kl, 1, r, 1.0, a, kl, tr, r, 0.0, lc + g * kl, kl);
  kifmm__gemm('N', 'N', n, 1, G * kl, 1.0, f->s->d, n, lc, G * kl, 0.0, loc, n);
  eval(NS, src, f->q, NT, trg, direct);
  kifmm__surface(f->ops.order, KIFMM_RATIO_OUTER(f->ops.order), 1.0, o, (double *)f->surf);
  eval(n, f->surf, loc, NT, trg, approx);
  free(src);
  free(mult);
  free(mc);
  free(tr);
  free(lc);
  free(loc);
  return rel_err(NT, approx, direct);
}

/* P2L into the unit box from far sources, L2L to child 5, L2P inside that child. */
static double test_p2l_l2l(const fixture *f) {
  int n = f->n;
  const double o[3] = {0, 0, 0}, sc[3] = {-2.5, 1.0, 2.0}, cc[3] = {0.25, -0.25, 0.25};
  double *src = tu_alloc(3 * NS), *check = tu_alloc(f->nc + n), *loc = tu_alloc(n),
         *out = tu_alloc(8 * n), trg[3 * NT], direct[NT], approx[NT];
  uint64_t seed = 8;
  box_points(&seed, NS, sc, 2.0, src);
  box_points(&seed, NT, cc, 0.5, trg);
  kifmm__surface(f->ops.check_order, KIFMM_RATIO_INNER(f->ops.order), 1.0, o, (double *)f->surf);
  eval(NS, src, f->q, f->nc, f->surf, check);
  kifmm__c2e_apply(n, f->nc, f->s->dc2e, 1, 1.0, check, 0.0, loc, check + f->nc);
  kifmm__gemm('N', 'N', 8 * n, 1, n, 1.0, f->s->l2l, 8 * n, loc, n, 0.0, out, 8 * n);
  eval(NS, src, f->q, NT, trg, direct);
  kifmm__surface(f->ops.order, KIFMM_RATIO_OUTER(f->ops.order), 0.5, cc, (double *)f->surf);
  eval(n, f->surf, out + 5 * n, NT, trg, approx);
  free(src);
  free(check);
  free(loc);
  free(out);
  return rel_err(NT, approx, direct);
}

static void run_order(int p, double tol) {
  fixture f;
  const kifmm_opspec spec = {kifmm__kernel(KIFMM_KERNEL_LAPLACE), 0.0, p, 0.0, 0, 0};
  EXPECT_STATUS(kifmm__operators_compute(&f.ops, &spec, 2), KIFMM_SUCCESS);
  f.s = kifmm__opset(&f.ops, 2);
  f.n = f.ops.n;
  f.nc = f.ops.nc;
  EXPECT(f.nc == 6 * (f.ops.check_order - 1) * (f.ops.check_order - 1) + 2 && f.nc >= f.n,
         "check surface count");
  EXPECT(f.n == 6 * (p - 1) * (p - 1) + 2, "surface count");
  f.src = tu_alloc(3 * NS);
  f.q = tu_alloc(NS);
  uint64_t seed = 4;
  const double o[3] = {0, 0, 0};
  box_points(&seed, NS, o, 1.0, f.src);
  for (int i = 0; i < NS; i++)
    f.q[i] = tu_uniform(&seed) - 0.5;
  double *mult = tu_alloc(f.n);
  double e_m2p = test_p2m_m2p(&f, mult), e_m2m = test_m2m(&f);
  double e_near = test_m2l(&f, 2, 0, 0), e_corner = test_m2l(&f, -2, 2, -2),
         e_far = test_m2l(&f, 3, -1, 3), e_l2l = test_p2l_l2l(&f);
  /* every direction group, ties between cones included */
  static const int in_groups[][3] = {{2, 1, 0},  {-3, 0, 1},  {1, 2, -1}, {0, -2, 2},
                                     {1, 1, 3},  {-1, 0, -2}, {3, 3, 3},  {-3, -3, -3},
                                     {2, -2, 1}, {-1, 3, -3}};
  double e_groups = 0;
  for (size_t i = 0; i < sizeof(in_groups) / sizeof(in_groups[0]); i++) {
    const int *d = in_groups[i];
    e_groups = fmax(e_groups, test_m2l(&f, d[0], d[1], d[2]));
  }
  printf("  p=%2d kl=%d kr=%d: P2M+M2P %.2e  M2M %.2e  M2L(2,0,0) %.2e  M2L(-2,2,-2) %.2e  "
         "M2L(3,-1,3) %.2e  M2L other groups %.2e  P2L+L2L %.2e\n",
         p, f.s->kl, f.s->kr, e_m2p, e_m2m, e_near, e_corner, e_far, e_groups, e_l2l);
  EXPECT(e_m2p < tol, "p=%d P2M+M2P error %.3e", p, e_m2p);
  EXPECT(e_m2m < tol, "p=%d M2M error %.3e", p, e_m2m);
  EXPECT(e_near < tol && e_corner < tol && e_far < tol && e_groups < tol,
         "p=%d M2L errors %.3e %.3e %.3e %.3e", p, e_near, e_corner, e_far, e_groups);
  EXPECT(e_l2l < tol, "p=%d P2L+L2L error %.3e", p, e_l2l);
  free(mult);
  free(f.src);
  free(f.q);
  kifmm__operators_free(&f.ops);
}

/* M2L compression takes every K_t from one of 16 representatives through a permutation of
 * the surface points: check K_t[i][j] == K_t0[sigma[i]][sigma[j]] for all 316 vectors. */
static void test_symmetry(int p) {
  int n = 6 * (p - 1) * (p - 1) + 2, sigma[KIFMM_MAX_SURFACE], reps = 0;
  double *pts = tu_alloc(6 * n), *k = tu_alloc((size_t)n * n), *k0 = tu_alloc((size_t)n * n),
         worst = 0;
  for (int t = 0; t < KIFMM_NTV; t++) {
    int t0 = kifmm__tv_symmetry(p, t, sigma), d[3], d0[3];
    kifmm__tv_offset(t, d);
    kifmm__tv_offset(t0, d0);
    reps += t0 == t;
    EXPECT(t0 >= 0 && 0 <= d0[0] && d0[0] <= d0[1] && d0[1] <= d0[2],
           "p=%d t=%d: representative %d is not canonical", p, t, t0);
    const double o[3] = {0, 0, 0}, c[3] = {d[0], d[1], d[2]}, c0[3] = {d0[0], d0[1], d0[2]};
    double r = KIFMM_RATIO_INNER(p);
    kifmm__surface(p, r, 1, o, pts);
    kifmm__surface(p, r, 1, c, pts + 3 * n);
    kifmm__kernel_matrix(n, pts, n, pts + 3 * n, k, n);
    kifmm__surface(p, r, 1, c0, pts + 3 * n);
    kifmm__kernel_matrix(n, pts, n, pts + 3 * n, k0, n);
    for (int j = 0; j < n; j++)
      for (int i = 0; i < n; i++) {
        double e = fabs(k[i + (size_t)j * n] - k0[sigma[i] + (size_t)sigma[j] * n]);
        worst = e > worst ? e : worst;
      }
  }
  printf("  p=%2d symmetry: %d representatives, largest |K_t - P K_t0 P^T| %.1e\n", p, reps,
         worst);
  EXPECT(reps == 16, "p=%d: %d representatives, expected 16", p, reps);
  EXPECT(worst < 1e-15, "p=%d: K_t differs from its permuted representative by %.3e", p, worst);
  free(pts);
  free(k);
  free(k0);
}

/* The same for the Stokeslet, whose force and velocity components turn with the points: the
 * signed permutation of the unknowns (point-major here on both sides) gives
 * K_t[x][y] == sgn[x] sgn[y] K_t0[idx[x]][idx[y]] for all 316 vectors. */
static void test_symmetry_signed(int p) {
  const kifmm_kernel *st = kifmm__kernel(KIFMM_KERNEL_STOKES);
  const int n = 6 * (p - 1) * (p - 1) + 2, m = 3 * n;
  int *idx = calloc((size_t)m, sizeof(int));
  double *sgn = tu_alloc(m), *pts = tu_alloc(6 * n), *k = tu_alloc((size_t)m * m),
         *k0 = tu_alloc((size_t)m * m), worst = 0, scale = 0;
  for (int t = 0; idx && t < KIFMM_NTV; t++) {
    int t0 = kifmm__tv_symmetry_signed(p, 3, 0, t, idx, sgn), d[3], d0[3];
    kifmm__tv_offset(t, d);
    kifmm__tv_offset(t0, d0);
    const double o[3] = {0, 0, 0}, c[3] = {d[0], d[1], d[2]}, c0[3] = {d0[0], d0[1], d0[2]};
    double r = KIFMM_RATIO_INNER(p);
    kifmm__surface(p, r, 1, o, pts);
    kifmm__surface(p, r, 1, c, pts + 3 * n);
    st->matrix(1.0, n, pts, n, pts + 3 * n, k, m);
    kifmm__surface(p, r, 1, c0, pts + 3 * n);
    st->matrix(1.0, n, pts, n, pts + 3 * n, k0, m);
    for (int y = 0; y < m; y++)
      for (int x = 0; x < m; x++) {
        double e = fabs(k[x + (size_t)y * m] - sgn[x] * sgn[y] * k0[idx[x] + (size_t)idx[y] * m]);
        worst = e > worst ? e : worst;
        scale = fmax(scale, fabs(k[x + (size_t)y * m]));
      }
  }
  printf("  p=%2d Stokes symmetry: largest |K_t - P K_t0 P^T| %.1e (entries up to %.1e)\n", p,
         worst, scale);
  EXPECT(idx && worst < 1e-14 * scale, "p=%d: Stokes K_t differs from its signed image by %.3e",
         p, worst);
  free(idx);
  free(sgn);
  free(pts);
  free(k);
  free(k0);
}

/* Every transfer vector lies in its group's closed cone and in no earlier group's, every group
 * holds some, and the groups are images of each other: 74 vectors in each closed cone. */
static void test_groups(void) {
  int count[KIFMM_M2L_GROUPS] = {0}, cone[KIFMM_M2L_GROUPS] = {0};
  for (int t = 0; t < KIFMM_NTV; t++) {
    int d[3], g = kifmm__tv_group(t);
    kifmm__tv_offset(t, d);
    EXPECT(g >= 0 && g < KIFMM_M2L_GROUPS && kifmm__tv_in_cone(g, d), "t=%d group %d", t, g);
    for (int h = 0; h < KIFMM_M2L_GROUPS; h++) {
      EXPECT(h >= g || !kifmm__tv_in_cone(h, d), "t=%d: earlier cone %d holds it", t, h);
      cone[h] += kifmm__tv_in_cone(h, d);
    }
    count[g]++;
  }
  for (int g = 0; g < KIFMM_M2L_GROUPS; g++)
    EXPECT(count[g] > 0 && cone[g] == 74, "group %d: %d vectors, closed cone %d", g, count[g],
           cone[g]);
}

int main(void) {
  test_groups();
  test_symmetry(4);
  test_symmetry(7);
  test_symmetry_signed(3);
  test_symmetry_signed(5);
  run_order(4, 2e-3);
  run_order(6, 1e-4);
  run_order(8, 1e-5);
  return tu_finish("test_operators");
}

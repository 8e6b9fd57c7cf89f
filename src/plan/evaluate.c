/* SPDX-License-Identifier: BSD-3-Clause */
/* The FMM passes over Morton-sorted data: upward (P2M, M2M), downward level by level
 * (L2L, M2L, P2L) and the leaf pass (L2P, M2P, P2P), each timed for the statistics.
 * All plan->nvec charge vectors go through every pass together: expansions are laid out
 * [box][vector][ne] (ne = n sdim equivalent densities, [point][component]), so a box's nvec
 * expansions are nvec adjacent columns and every dense apply has nvec times the columns of
 * one vector; the sums over points are the kernel's (plan->kernel->p2p), which compute each
 * pair's geometry once for all vectors. Densities are [source][vector][component], results
 * [vector][target] per component (plan->res); check values [vector][component][point]. The
 * operators of a level come from kifmm__opset(): a level without a set has no far field. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "plan/plan.h"

enum { CHUNK = 64, M2L_BLOCK_MIN = 64 };

/* Boxes a P2M, M2M or L2L gemm takes: CHUNK columns whatever nvec, so that the scratch does
 * not grow with it (the gemm shape stays that of one vector's CHUNK boxes). */
static int box_chunk(int nv) { return CHUNK / nv > 0 ? CHUNK / nv : 1; }

/* A box's surface in SoA: center + side * unit surface. */
typedef struct {
  double *x, *y, *z;
} soa3;

static void box_surface(const kifmm_tree *t, int64_t b, const double *unit, int n, soa3 out) {
  double c[3];
  kifmm__box_center(t, b, c);
  double h = kifmm__box_side(t, t->level[b]);
  for (int i = 0; i < n; i++) {
    out.x[i] = c[0] + h * unit[3 * i];
    out.y[i] = c[1] + h * unit[3 * i + 1];
    out.z[i] = c[2] + h * unit[3 * i + 2];
  }
}

typedef struct {
  const kifmm_plan *plan;
  /* equivalent surfaces (n points) and check surfaces (nc points) of the unit box */
  double unit_inner[3 * KIFMM_MAX_SURFACE], unit_outer[3 * KIFMM_MAX_SURFACE];
  double check_inner[3 * KIFMM_MAX_SURFACE], check_outer[3 * KIFMM_MAX_SURFACE];
  int group[KIFMM_NTV]; /* direction group of each transfer vector, for M2L */
} pass_ctx;

/* The 1/r of the sums over sources (P2P, and the direct M2P and P2L) as accurate as the
 * order needs, in single precision at the lowest orders (plan->near_acc,
 * kifmm__near_accuracy). The sums over equivalent densities (L2P, M2P) always take the full
 * one: equivalent densities are large and of both signs, so an error of each term is one of
 * their much larger magnitudes (p12, 6e3 cube: the fast 1/r in L2P and M2P too took the
 * error from 8.1e-12 to 2.7e-11; L2P in single added up to 7e-7 at p6, see check_rsqrt). */
static kifmm_rsqrt plan_rsqrt(const kifmm_plan *plan) {
  return plan->near_acc;
}

/* The sums from sources onto check surfaces (P2M, P2L): in single precision where the near
 * field is, else the full 1/r. Their terms are the sources' own, as the near field's, and the
 * fit to the check surface passes on an error of the check potential without amplifying it:
 * measured against double (1e5 points, 60 a leaf, p6 and p8, cube, sphere, cluster and a far
 * cube, charges of both signs, +-1 and positive, Laplace and Yukawa), P2M and P2L in single
 * added 4e-9 to 7e-8 to the potential and at most 2.3e-8 to the gradient, L2P in single up to
 * 7e-7; with every interaction far (test_precision) up to 1.9e-7 and 3.5e-7, within the single
 * sums' budget (KIFMM_SINGLE_ERROR). With Yukawa, whose double sums take an exponential a
 * pair, P2M is then half as dear (cube 1e6 at 1e-6, AVX2 path: 1.18 s -> 0.59 s). The fast
 * 1/r stays out of them: in double the least-squares fit met it at p12 (above). Periodic
 * plans keep them in double: the root's multipole feeds the lattice sum, whose terms cancel
 * in a neutral cell (test_near's periodic cell: 1.2e-6 off the double with P2M in single,
 * within 5e-7 without). */
static kifmm_rsqrt check_rsqrt(const kifmm_plan *plan) {
  return plan->near_acc == KIFMM_RSQRT_SINGLE && !kifmm__periodic_any(&plan->opts)
             ? KIFMM_RSQRT_SINGLE
             : KIFMM_RSQRT_FULL;
}

static int64_t nsrc_of(const kifmm_tree *t, int64_t b) { return t->src_end[b] - t->src_begin[b]; }
static int64_t ntrg_of(const kifmm_tree *t, int64_t b) { return t->trg_end[b] - t->trg_begin[b]; }

/* The operators of box b's level, NULL where that level has no far field. */
static const kifmm_opset *box_set(const kifmm_plan *plan, int64_t b) {
  return kifmm__opset(&plan->ops, plan->tree.level[b]);
}

/* The kernel's sums from ns points (densities q: component b of vector v at point j is
 * q[j qs + v qv + b]) to nt points, into out (value component a of vector v at target i in
 * out[a][i + v ldo], gradients after them when out[tdim] is set). */
static void kernel_sum(const kifmm_plan *plan, kifmm_rsqrt acc, int64_t ns, const double *sx,
                       const double *sy, const double *sz, const double *q, int64_t qs,
                       int64_t qv, int64_t nt, const double *tx, const double *ty,
                       const double *tz, double *const *out, int64_t ldo) {
  plan->kernel->p2p(plan->kparam, acc, plan->nvec, ns, sx, sy, sz, q, qs, qv, nt, tx, ty, tz,
                    out, ldo);
}

/* The same onto a check surface: value component a of vector v at point i goes to
 * check[v nce + a nc + i], the layout of the check-to-equivalent operators. */
static void kernel_to_check(const kifmm_plan *plan, int64_t ns, const double *sx,
                            const double *sy, const double *sz, const double *q, int64_t qs,
                            int64_t qv, const soa3 *surf, double *check) {
  const int nc = plan->ops.nc;
  double *out[4 * KIFMM_MAX_KDIM] = {0};
  for (int a = 0; a < plan->ops.tdim; a++)
    out[a] = check + (size_t)a * nc;
  kernel_sum(plan, check_rsqrt(plan), ns, sx, sy, sz, q, qs, qv, nc, surf->x, surf->y, surf->z,
             out, plan->ops.nce);
}

/* The sources of box a in the layout of kernel_sum: xyz, densities, their strides. */
static void box_sources(const kifmm_plan *plan, int64_t a, const double **x, const double **q,
                        int64_t *qs) {
  const kifmm_tree *t = &plan->tree;
  int64_t sb = t->src_begin[a];
  x[0] = t->sx + sb;
  x[1] = t->sy + sb;
  x[2] = t->sz + sb;
  *qs = (int64_t)plan->nvec * plan->ops.sdim;
  *q = plan->q + sb * *qs;
}

/* Per-thread scratch, sized for the largest use of any pass; img (grown on demand, freed with
 * buf) holds the coordinates of sources moved to a periodic image. */
typedef struct {
  double *buf;
  soa3 surf;
  int ok;
  double *img;
  int64_t img_cap;
} scratch;

static void scratch_free(scratch *s) {
  free(s->buf);
  free(s->img);
}

/* Sources of box a as seen from their image: the box's own coordinates, or (periodic lists,
 * entry e of a list with shift codes sh) copies moved by the entry's whole cells. */
typedef struct {
  const double *x, *y, *z;
} src3;

static int image_offset(const kifmm_tree *t, const int8_t *sh, int64_t e, double off[3]) {
  if (!sh || sh[e] == KIFMM_NO_SHIFT)
    return 0;
  int v[3];
  kifmm__shift_vector(sh[e], v);
  for (int d = 0; d < 3; d++)
    off[d] = v[d] * t->side;
  return 1;
}

static src3 image_sources(const kifmm_tree *t, int64_t a, const int8_t *sh, int64_t e,
                          scratch *s) {
  int64_t sb = t->src_begin[a], na = t->src_end[a] - sb;
  src3 r = {t->sx + sb, t->sy + sb, t->sz + sb};
  double off[3];
  if (!image_offset(t, sh, e, off))
    return r;
  if (na > s->img_cap) {
    double *grown = realloc(s->img, (size_t)(3 * 2 * na) * sizeof(double));
    if (!grown) {
      s->ok = 0; /* the pass reports it: results are not used then */
      return r;
    }
    s->img = grown;
    s->img_cap = 2 * na;
  }
  double *x = s->img, *y = x + s->img_cap, *z = y + s->img_cap;
  for (int64_t i = 0; i < na; i++) {
    x[i] = r.x[i] + off[0];
    y[i] = r.y[i] + off[1];
    z[i] = r.z[i] + off[2];
  }
  return (src3){x, y, z};
}

static scratch scratch_new(size_t ndouble, int n) {
  scratch s = {0};
  s.ok = kifmm__calloc((void **)&s.buf, ndouble + 3 * (size_t)n, sizeof(double)) == 0;
  if (s.ok) {
    s.surf.x = s.buf + ndouble;
    s.surf.y = s.surf.x + n;
    s.surf.z = s.surf.y + n;
  }
  return s;
}

/* ---- upward pass ---- */
/* Multipoles of the m boxes of a P2M batch (one set: its leaves share a level's operators). */
static void p2m_flush(kifmm_plan *plan, const kifmm_opset *set, const int64_t *box, int m,
                      double *check, double *equiv, double *tmp) {
  const int ne = plan->ops.ne, nv = plan->nvec;
  if (m == 0)
    return;
  kifmm__c2e_apply(ne, plan->ops.nce, set->uc2e, m * nv, 1.0, check, 0.0, equiv, tmp);
  for (int i = 0; i < m; i++)
    memcpy(plan->multipole + box[i] * ne * nv, equiv + (size_t)i * ne * nv,
           (size_t)ne * nv * sizeof(double));
}

static int p2m(kifmm_plan *plan, const pass_ctx *ctx) {
  const kifmm_tree *t = &plan->tree;
  const int ne = plan->ops.ne, nce = plan->ops.nce, nc = plan->ops.nc, nv = plan->nvec;
  const int chunk = box_chunk(nv);
  const size_t blk = (size_t)ne * nv * chunk, cblk = (size_t)nce * nv * chunk;
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    scratch s = scratch_new(cblk + 2 * blk, nc);
    double *check = s.buf, *equiv = check + cblk, *tmp = equiv + blk;
    int64_t box[CHUNK];
#pragma omp for schedule(dynamic, 1)
    for (int64_t j0 = 0; j0 < t->nleaf; j0 += chunk) {
      if (!s.ok)
        continue;
      int m = 0;
      const kifmm_opset *set = NULL;
      for (int64_t j = j0; j < j0 + chunk && j < t->nleaf; j++) {
        int64_t b = t->leaf_box[j];
        const kifmm_opset *bs = box_set(plan, b);
        if (nsrc_of(t, b) == 0 || !bs)
          continue;
        if (bs != set) { /* leaves of another level: the batch so far takes its own set */
          p2m_flush(plan, set, box, m, check, equiv, tmp);
          m = 0;
          set = bs;
        }
        double *chk = check + (size_t)m * nce * nv;
        memset(chk, 0, (size_t)nce * nv * sizeof(double));
        box_surface(t, b, ctx->check_outer, nc, s.surf);
        const double *x[3], *q;
        int64_t qs;
        box_sources(plan, b, x, &q, &qs);
        kernel_to_check(plan, nsrc_of(t, b), x[0], x[1], x[2], q, qs, plan->ops.sdim, &s.surf,
                        chk);
        double h = kifmm__box_side(t, t->level[b]); /* pseudo-inverse at side h = h * unit */
        for (int i = 0; i < nce * nv; i++)
          chk[i] *= h;
        box[m++] = b;
      }
      p2m_flush(plan, set, box, m, check, equiv, tmp);
    }
    failed = !s.ok;
    free(s.buf);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

static int m2m(kifmm_plan *plan) {
  const kifmm_tree *t = &plan->tree;
  const int n = plan->ops.ne, nv = plan->nvec;
  int failed = 0;
  for (int l = t->depth; l >= 1; l--) {
    int64_t lo = t->level_ptr[l - 1], hi = t->level_ptr[l];
    const kifmm_opset *set = kifmm__opset(&plan->ops, l - 1);
    if (!set) /* the parents' level has no far field */
      continue;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
    {
      const int chunk = box_chunk(nv);
      scratch s = scratch_new((size_t)9 * n * nv * chunk, 0);
      double *stack = s.buf, *out = stack + (size_t)8 * n * nv * chunk;
      int64_t box[CHUNK];
#pragma omp for schedule(dynamic, 1)
      for (int64_t p0 = lo; p0 < hi; p0 += chunk) {
        if (!s.ok)
          continue;
        int m = 0;
        for (int64_t p = p0; p < p0 + chunk && p < hi; p++) {
          if (t->nchild[p] == 0 || nsrc_of(t, p) == 0)
            continue;
          double *col = stack + (size_t)m * 8 * n * nv;
          memset(col, 0, (size_t)8 * n * nv * sizeof(double));
          for (int64_t c = t->first_child[p]; c < t->first_child[p] + t->nchild[p]; c++)
            for (int v = 0; v < nv; v++)
              memcpy(col + (size_t)v * 8 * n + (int)(t->anchor[c] & 7) * n,
                     plan->multipole + (c * nv + v) * n, (size_t)n * sizeof(double));
          box[m++] = p;
        }
        kifmm__mm(n, m * nv, 8 * n, 1.0, set->m2m, n, stack, 8 * n, 0.0, out, n);
        for (int i = 0; i < m; i++)
          memcpy(plan->multipole + box[i] * n * nv, out + (size_t)i * n * nv,
                 (size_t)n * nv * sizeof(double));
      }
      failed |= !s.ok;
      free(s.buf);
    }
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

/* ---- downward pass ---- */
static int l2l(kifmm_plan *plan, int l) {
  const kifmm_tree *t = &plan->tree;
  const int n = plan->ops.ne, nv = plan->nvec;
  int64_t lo = t->level_ptr[l - 1], hi = t->level_ptr[l];
  const kifmm_opset *set = kifmm__opset(&plan->ops, l - 1);
  if (!set) /* the parents' level has no far field: their locals are zero */
    return KIFMM_SUCCESS;
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    const int chunk = box_chunk(nv);
    scratch s = scratch_new((size_t)9 * n * nv * chunk, 0);
    double *par = s.buf, *out = par + (size_t)n * nv * chunk;
    int64_t box[CHUNK];
#pragma omp for schedule(dynamic, 1)
    for (int64_t p0 = lo; p0 < hi; p0 += chunk) {
      if (!s.ok)
        continue;
      int m = 0;
      for (int64_t p = p0; p < p0 + chunk && p < hi; p++) {
        if (t->nchild[p] == 0 || ntrg_of(t, p) == 0)
          continue;
        memcpy(par + (size_t)m * n * nv, plan->local + p * n * nv,
               (size_t)n * nv * sizeof(double));
        box[m++] = p;
      }
      kifmm__mm(8 * n, m * nv, n, 1.0, set->l2l, 8 * n, par, n, 0.0, out, 8 * n);
      for (int i = 0; i < m; i++) {
        int64_t p = box[i];
        for (int64_t c = t->first_child[p]; c < t->first_child[p] + t->nchild[p]; c++)
          for (int v = 0; v < nv; v++) {
            const double *src = out + ((size_t)i * nv + v) * 8 * n + (int)(t->anchor[c] & 7) * n;
            double *dst = plan->local + (c * nv + v) * n;
            for (int q = 0; q < n; q++)
              dst[q] += src[q];
          }
      }
    }
    failed |= !s.ok;
    free(s.buf);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

/* Group g's compressed multipoles of boxes [c0, c0 + m) of a level: Mc = V_g^T M (V_g^T is
 * rows g kr.. of vt). */
static void compress_chunk(const kifmm_plan *plan, const kifmm_opset *set, int g, int64_t lo,
                           int64_t c0, int m, double *mc) {
  const int n = plan->ops.ne, kr = set->kr, nv = plan->nvec;
  kifmm__mm(kr, m * nv, n, 1.0, set->vt + (size_t)g * kr, KIFMM_M2L_GROUPS * kr,
            plan->multipole + (lo + c0) * n * nv, n, 0.0, mc + c0 * kr * nv, kr);
}

/* Per-thread buffers of M2L: compressed locals and B_t^T products of a block (kl and
 * r_t <= kr by block * nvec columns), the pair lists, and column pointers (one per pair and
 * vector). */
typedef struct {
  double *lc, *t1;
  int32_t *pairs;
  const double **src_col, **t1_in;
  double **trg_col, **t1_out;
  void *mem;
  int block; /* target boxes a block holds at most */
} m2l_work;

static int m2l_work_new(int kl, int kr, int nv, int block, m2l_work *w) {
  const size_t cols = (size_t)block * nv;
  const size_t bytes = (size_t)(kl + kr) * cols * sizeof(double) +
                       2 * (size_t)block * KIFMM_NTV * sizeof(int32_t) +
                       4 * cols * sizeof(double *);
  memset(w, 0, sizeof(*w));
  CHECK(kifmm__calloc(&w->mem, bytes, 1));
  w->block = block;
  w->lc = w->mem;
  w->t1 = w->lc + kl * cols;
  w->src_col = (const double **)(w->t1 + kr * cols);
  w->t1_in = w->src_col + cols;
  w->trg_col = (double **)(w->t1_in + cols);
  w->t1_out = w->trg_col + cols;
  w->pairs = (int32_t *)(w->t1_out + cols);
  return KIFMM_SUCCESS;
}

/* M2L of group g for target boxes [b0, b1) of one level: the group's pairs bucketed by
 * transfer vector, each bucket applied as two gemms (B_t^T then A_t) in the group's
 * compressed space, reading the compressed multipoles and adding to the compressed locals in
 * place, then expanded by the group's part of D. A pair is nvec column pairs. */
static void m2l_block(kifmm_plan *plan, const pass_ctx *ctx, const kifmm_opset *ops, int g,
                      int64_t lo, int64_t b0, int64_t b1, const double *mc, m2l_work *w) {
  const kifmm_lists *L = &plan->lists;
  const int n = plan->ops.ne, kl = ops->kl, kr = ops->kr, nv = plan->nvec;
  int32_t start[KIFMM_NTV + 1] = {0}, fill[KIFMM_NTV];
  int64_t pairs = 0;
  for (int64_t e = L->v_ptr[b0]; e < L->v_ptr[b1]; e++)
    if (ctx->group[L->v_tv[e]] == g) {
      start[L->v_tv[e] + 1]++;
      pairs++;
    }
  if (pairs == 0)
    return;
  for (int t = 0; t < KIFMM_NTV; t++) {
    start[t + 1] += start[t];
    fill[t] = start[t];
  }
  int32_t *ptrg = w->pairs, *psrc = w->pairs + (size_t)w->block * KIFMM_NTV;
  for (int64_t b = b0; b < b1; b++)
    for (int64_t e = L->v_ptr[b]; e < L->v_ptr[b + 1]; e++) {
      if (ctx->group[L->v_tv[e]] != g)
        continue;
      int32_t pos = fill[L->v_tv[e]]++;
      ptrg[pos] = (int32_t)(b - b0);
      psrc[pos] = (int32_t)(L->v_idx[e] - lo);
    }
  /* A bucket holds one pair per target box at most: a transfer vector fixes the source. */
  double *lc = w->lc, *t1 = w->t1;
  memset(lc, 0, (size_t)kl * nv * (b1 - b0) * sizeof(double));
  for (int t = 0; t < KIFMM_NTV; t++) {
    int m = start[t + 1] - start[t], r = ops->r[t];
    if (m == 0)
      continue;
    assert(m <= w->block);
    for (int j = 0; j < m; j++)
      for (int v = 0; v < nv; v++) {
        int c = j * nv + v;
        w->src_col[c] = mc + ((size_t)psrc[start[t] + j] * nv + v) * kr;
        w->trg_col[c] = lc + ((size_t)ptrg[start[t] + j] * nv + v) * kl;
        w->t1_out[c] = t1 + (size_t)c * r;
        w->t1_in[c] = w->t1_out[c];
      }
    const double *a = ops->ab + ops->ab_off[t], *bt = a + (size_t)kl * r;
    kifmm__mm_cols(r, m * nv, kr, 1.0, bt, r, w->src_col, 0.0, w->t1_out);
    kifmm__mm_cols(kl, m * nv, r, 1.0, a, kl, w->t1_in, 1.0, w->trg_col);
  }
  kifmm__mm(n, (int)(b1 - b0) * nv, kl, 1.0, ops->d + (size_t)g * n * kl, n, lc, kl, 1.0,
            plan->local + b0 * n * nv, n);
}

/* Target boxes an M2L block takes: large blocks fill the transfer-vector buckets (about
 * 0.6 pairs a box each), so every product has more columns to share its operator with
 * (512 measured 10 % faster M2L than 128 at p6), but a level keeps at least 4 blocks a
 * thread for the dynamic schedule to balance. The SIMD paths' products give each column the
 * same bits whatever the others; the portable path's are the BLAS's, whose rounding depends
 * on the shape, so there the blocks are those of 16 threads for every count, and results do
 * not depend on it. */
static int m2l_block_size(int64_t nl, int nthreads) {
  if (kifmm__simd() == KIFMM_SIMD_PORTABLE)
    nthreads = 16;
  int block = KIFMM_M2L_BLOCK_MAX;
  while (block > M2L_BLOCK_MIN && nl < (int64_t)4 * nthreads * block)
    block /= 2;
  return block;
}

/* One group at a time, so that only its compressed multipoles (kr a box) are held: all six
 * at once took 6 kr a box, 755 MB at level 6 of a 1e7 cube at p6. */
static int m2l(kifmm_plan *plan, const pass_ctx *ctx, int l) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_opset *set = kifmm__opset(&plan->ops, l);
  int64_t lo = t->level_ptr[l], hi = t->level_ptr[l + 1], nl = hi - lo;
  if (!set || plan->lists.v_ptr[hi] == plan->lists.v_ptr[lo])
    return KIFMM_SUCCESS;
  const int kl = set->kl, kr = set->kr;
  plan->m2l_entries += plan->lists.v_ptr[hi] - plan->lists.v_ptr[lo];
  double *mc;
  ALLOC(mc, (size_t)kr * nl * plan->nvec);
  const int block = m2l_block_size(nl, plan->nthreads);
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    m2l_work w;
    int ok = m2l_work_new(kl, kr, plan->nvec, block, &w) == KIFMM_SUCCESS;
    for (int g = 0; g < KIFMM_M2L_GROUPS; g++) {
#pragma omp for schedule(dynamic, 1)
      for (int64_t c0 = 0; c0 < nl; c0 += 4 * CHUNK)
        compress_chunk(plan, set, g, lo, c0, (int)(nl - c0 < 4 * CHUNK ? nl - c0 : 4 * CHUNK),
                       mc);
#pragma omp for schedule(dynamic, 1)
      for (int64_t b0 = lo; b0 < hi; b0 += block)
        if (ok)
          m2l_block(plan, ctx, set, g, lo, b0, b0 + block < hi ? b0 + block : hi, mc, &w);
    }
    failed = !ok;
    free(w.mem);
  }
  free(mc);
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

/* Results of vector 0 for the targets of box b (vector v is ldo = ntrg further on), in the
 * layout of kernel_sum: values, then gradients when want_grad. */
static void leaf_target_ptrs(kifmm_plan *plan, int64_t b, int want_grad, double **out) {
  const int64_t tb = plan->tree.trg_begin[b];
  const int td = plan->ops.tdim;
  for (int k = 0; k < 4 * td; k++)
    out[k] = k < td || want_grad ? plan->res[k] + tb : NULL;
}

/* The kernel's sums from points with densities (as kernel_sum) to the targets of box b. */
static void sum_to_box(kifmm_plan *plan, kifmm_rsqrt acc, int64_t ns, const double *sx,
                       const double *sy, const double *sz, const double *q, int64_t qs,
                       int64_t qv, int64_t b, int want_grad) {
  const kifmm_tree *t = &plan->tree;
  int64_t tb = t->trg_begin[b];
  double *out[4 * KIFMM_MAX_KDIM];
  leaf_target_ptrs(plan, b, want_grad, out);
  kernel_sum(plan, acc, ns, sx, sy, sz, q, qs, qv, ntrg_of(t, b), t->tx + tb, t->ty + tb,
             t->tz + tb, out, t->ntrg);
}

/* All vectors' sums from the sources of box a (densities plan->q, coordinates xs: the box's
 * own or an image's) to the targets of box b. */
static void p2p_boxes(kifmm_plan *plan, int64_t a, src3 xs, int64_t b, int want_grad) {
  const double *x[3], *q;
  int64_t qs;
  box_sources(plan, a, x, &q, &qs);
  sum_to_box(plan, plan_rsqrt(plan), nsrc_of(&plan->tree, a), xs.x, xs.y, xs.z, q, qs,
             plan->ops.sdim, b, want_grad);
}

/* All vectors' sums from n surface points with expansions exp ([vector][ne]) to box b. */
static void surface_to_box(kifmm_plan *plan, const soa3 *surf, const double *exp, int64_t b,
                           int want_grad) {
  sum_to_box(plan, KIFMM_RSQRT_FULL, plan->ops.n, surf->x, surf->y, surf->z, exp,
             plan->ops.sdim, plan->ops.ne, b, want_grad);
}

/* X-list sources reach a box either through its downward check surface (P2L) or, when
 * the box's subtree holds fewer targets than surface points, directly (exact and cheaper).
 * Boxes of one level own disjoint target ranges, so the direct sums need no locks. */
static int p2l(kifmm_plan *plan, const pass_ctx *ctx, int l, int want_grad) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  const kifmm_opset *set = kifmm__opset(&plan->ops, l);
  const int n = plan->ops.n, ne = plan->ops.ne, nc = plan->ops.nc, nce = plan->ops.nce;
  const int nv = plan->nvec;
  int64_t lo = t->level_ptr[l], hi = t->level_ptr[l + 1];
  if (!set || L->x_ptr[hi] == L->x_ptr[lo])
    return KIFMM_SUCCESS;
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    scratch s = scratch_new((size_t)(nce + ne) * nv, nc);
#pragma omp for schedule(dynamic, 4)
    for (int64_t b = lo; b < hi; b++) {
      if (!s.ok || L->x_ptr[b + 1] == L->x_ptr[b])
        continue;
      double *check = s.buf;
      int direct = ntrg_of(t, b) <= n; /* the distributed plan settles counts on n (let.c) */
      memset(check, 0, (size_t)nce * nv * sizeof(double));
      box_surface(t, b, ctx->check_inner, nc, s.surf);
      for (int64_t e = L->x_ptr[b]; e < L->x_ptr[b + 1]; e++) {
        int64_t a = L->x_idx[e];
        src3 xs = image_sources(t, a, L->x_sh, e, &s);
        if (direct) {
          p2p_boxes(plan, a, xs, b, want_grad);
          continue;
        }
        const double *x[3], *q;
        int64_t qs;
        box_sources(plan, a, x, &q, &qs);
        kernel_to_check(plan, nsrc_of(t, a), xs.x, xs.y, xs.z, q, qs, plan->ops.sdim, &s.surf,
                        check);
      }
      if (!direct)
        kifmm__c2e_apply(ne, nce, set->dc2e, nv, kifmm__box_side(t, l), check, 1.0,
                         plan->local + b * ne * nv, check + (size_t)nce * nv);
    }
    failed = !s.ok;
    scratch_free(&s);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

/* ---- leaf pass: everything writes only to the targets of its own leaf ---- */
typedef enum { LEAF_L2P, LEAF_M2P, LEAF_P2P } leaf_op;

/* A leaf of a level without far field has a zero local expansion. */
static void l2p_leaf(kifmm_plan *plan, const pass_ctx *ctx, int64_t b, int want_grad,
                     scratch *s) {
  if (!box_set(plan, b))
    return;
  box_surface(&plan->tree, b, ctx->unit_outer, plan->ops.n, s->surf);
  surface_to_box(plan, &s->surf, plan->local + b * plan->ops.ne * plan->nvec, b, want_grad);
}

/* W-list boxes with fewer sources than surface points are summed directly: exact, and
 * cheaper than evaluating their n equivalent densities. A W-list box lies at least its own
 * side away, so a box of a level without far field is left out. */
static void m2p_leaf(kifmm_plan *plan, const pass_ctx *ctx, int64_t b, int want_grad,
                     scratch *s) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  const int n = plan->ops.n;
  for (int64_t e = L->w_ptr[b]; e < L->w_ptr[b + 1]; e++) {
    int64_t c = L->w_idx[e];
    if (!box_set(plan, c))
      continue;
    if (nsrc_of(t, c) <= n) {
      p2p_boxes(plan, c, image_sources(t, c, L->w_sh, e, s), b, want_grad);
      continue;
    }
    box_surface(t, c, ctx->unit_inner, n, s->surf);
    double off[3];
    if (image_offset(t, L->w_sh, e, off))
      for (int i = 0; i < n; i++) {
        s->surf.x[i] += off[0];
        s->surf.y[i] += off[1];
        s->surf.z[i] += off[2];
      }
    surface_to_box(plan, &s->surf, plan->multipole + c * plan->ops.ne * plan->nvec, b,
                   want_grad);
  }
}

/* Near field taken both ways where the schedule has pairs for it (one-process plans whose
 * targets are the sources, in double precision: api/plan.c builds none for single) and the
 * kernel a sum for it. */
static int near_both_ways(const kifmm_plan *plan) {
  return plan->near.ncolour > 0 && plan->kernel->p2p_both != NULL;
}

/* Copies the sources of U entry e of box b to position m of the gather arrays (x, y, z and
 * densities, stride cap), moved to their periodic image where the entry says so. */
static int64_t gather_entry(const kifmm_plan *plan, int64_t e, double *g, int64_t cap,
                            int64_t m) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  const int64_t qs = (int64_t)plan->nvec * plan->ops.sdim; /* densities a source */
  int64_t a = L->u_idx[e], sb = t->src_begin[a], na = nsrc_of(t, a);
  double *x = g, *y = x + cap, *z = y + cap, *q = z + cap;
  memcpy(x + m, t->sx + sb, (size_t)na * sizeof(double));
  memcpy(y + m, t->sy + sb, (size_t)na * sizeof(double));
  memcpy(z + m, t->sz + sb, (size_t)na * sizeof(double));
  double off[3];
  if (image_offset(t, L->u_sh, e, off)) /* a periodic image: moved by whole cells */
    for (int64_t i = m; i < m + na; i++) {
      x[i] += off[0];
      y[i] += off[1];
      z[i] += off[2];
    }
  memcpy(q + m * qs, plan->q + sb * qs, (size_t)(na * qs) * sizeof(double));
  return na;
}

/* Vector v's densities of n points (stride qs) in one array: the layout of p2p_both. */
static const double *vector_densities(const double *q, int64_t n, int64_t qs, int v,
                                      double *buf) {
  if (qs == 1)
    return q;
  for (int64_t i = 0; i < n; i++)
    buf[i] = q[i * qs + v];
  return buf;
}

/* The pairs leaf b owns, both ways: the partners' points gathered, one sum for both ends
 * (kernel p2p_both), and the partners' part added to their targets, which are their sources
 * in the same order. Each vector in turn, with the same sums as a single vector's
 * evaluation, so that kifmm_evaluate_many gives each vector what kifmm_evaluate gives it.
 * g holds the gather (x, y, z, qs densities a point, stride cap), 4 result arrays and 2
 * arrays for one vector's densities. */
static void p2p_owned_pairs(kifmm_plan *plan, int64_t b, int want_grad, double *g, int64_t cap) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  int64_t m = 0;
  for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
    if (plan->near.u_role[e] == KIFMM_NEAR_BOTH)
      m += gather_entry(plan, e, g, cap, m);
  if (m == 0)
    return;
  const int64_t qs = plan->nvec; /* p2p_both kernels have one density component */
  const int nout = want_grad ? 4 : 1;
  double *outb[4] = {NULL, NULL, NULL, NULL}, *qbuf = g + (3 + qs + 4) * cap;
  for (int k = 0; k < nout; k++)
    outb[k] = g + (3 + qs + k) * cap;
  const int64_t sb = t->src_begin[b], tb = t->trg_begin[b], nb = nsrc_of(t, b);
  for (int v = 0; v < plan->nvec; v++) {
    for (int k = 0; k < nout; k++)
      memset(outb[k], 0, (size_t)m * sizeof(double));
    double *outa[4 * KIFMM_MAX_KDIM];
    leaf_target_ptrs(plan, b, want_grad, outa);
    for (int k = 0; k < nout; k++)
      outa[k] += v * t->ntrg;
    const double *qm = vector_densities(g + 3 * cap, m, qs, v, qbuf);
    const double *qb = vector_densities(plan->q + sb * qs, nb, qs, v, qbuf + cap);
    /* the partners first: the kernel's lanes run over its first set and sum the second's
     * results across lanes once a point, so the smaller set (this leaf) goes second */
    plan->kernel->p2p_both(plan->kparam, plan_rsqrt(plan), m, g, g + cap, g + 2 * cap, qm,
                           outb, nb, t->tx + tb, t->ty + tb, t->tz + tb, qb, outa);
    int64_t o = 0;
    for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++) {
      if (plan->near.u_role[e] != KIFMM_NEAR_BOTH)
        continue;
      int64_t a = L->u_idx[e], na = ntrg_of(t, a), ta = t->trg_begin[a] + v * t->ntrg;
      for (int k = 0; k < nout; k++)
        for (int64_t i = 0; i < na; i++)
          plan->res[k][ta + i] += outb[k][o + i];
      o += na;
    }
  }
}

/* Gathers the sources of all U-list leaves so one vectorized sum covers them; with the near
 * field taken both ways (both), only the entries taken one way, then the owned pairs. */
static int p2p_leaf(kifmm_plan *plan, int64_t b, int want_grad, int both, double **gather,
                    int64_t *cap) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  const int64_t qs = (int64_t)plan->nvec * plan->ops.sdim; /* densities a source */
  int64_t ns = nsrc_of(t, b);
  for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
    ns += nsrc_of(t, L->u_idx[e]);
  if (ns > *cap) {
    free(*gather);
    *cap = 2 * ns;
    /* coordinates and densities; the results of the owned pairs' partners and one vector's
     * densities of them and of the leaf */
    CHECK(kifmm__calloc((void **)gather, (size_t)((3 + qs + 4 + 2) * *cap), sizeof(double)));
  }
  double *x = *gather, *y = x + *cap, *z = y + *cap, *q = z + *cap;
  int64_t m = 0;
  for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
    if (!both || plan->near.u_role[e] == KIFMM_NEAR_ONE_WAY)
      m += gather_entry(plan, e, *gather, *cap, m);
  sum_to_box(plan, plan_rsqrt(plan), m, x, y, z, q, qs, plan->ops.sdim, b, want_grad);
  if (both)
    p2p_owned_pairs(plan, b, want_grad, *gather, *cap);
  return KIFMM_SUCCESS;
}

/* The near field both ways: the colours one after the other (the loop's barrier between
 * them), the leaves of a colour in parallel; they write disjoint targets (tree/near.c). */
static int p2p_both_ways(kifmm_plan *plan, int want_grad) {
  const kifmm_near *nr = &plan->near;
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    double *gather = NULL;
    int64_t cap = 0;
    for (int32_t c = 0; c < nr->ncolour; c++) {
#pragma omp for schedule(dynamic, 4)
      for (int64_t k = nr->colour_ptr[c]; k < nr->colour_ptr[c + 1]; k++)
        if (!failed && p2p_leaf(plan, nr->colour_box[k], want_grad, 1, &gather, &cap) !=
                           KIFMM_SUCCESS)
          failed = 1;
    }
    free(gather);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

static int leaf_pass(kifmm_plan *plan, const pass_ctx *ctx, leaf_op op, int want_grad) {
  const kifmm_tree *t = &plan->tree;
  if (op == LEAF_P2P && near_both_ways(plan))
    return p2p_both_ways(plan, want_grad);
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    scratch s = scratch_new(0, plan->ops.n);
    double *gather = NULL;
    int64_t cap = 0;
    failed = !s.ok;
#pragma omp for schedule(dynamic, 16)
    for (int64_t j = 0; j < t->nleaf; j++) {
      int64_t b = t->leaf_box[j];
      if (failed || ntrg_of(t, b) == 0)
        continue;
      if (op == LEAF_L2P)
        l2p_leaf(plan, ctx, b, want_grad, &s);
      else if (op == LEAF_M2P)
        m2p_leaf(plan, ctx, b, want_grad, &s);
      else if (p2p_leaf(plan, b, want_grad, 0, &gather, &cap) != KIFMM_SUCCESS)
        failed = 1;
    }
    free(gather);
    failed |= !s.ok;
    scratch_free(&s);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

/* ---- driver ---- */
static void reset_timers(kifmm_stats *s) {
  s->t_p2m = s->t_m2m = s->t_m2l = s->t_l2l = s->t_p2l = s->t_m2p = s->t_l2p = s->t_p2p = 0;
}

static int new_ctx(const kifmm_plan *plan, pass_ctx **out) {
  pass_ctx *ctx;
  ALLOC(ctx, 1);
  const double o[3] = {0, 0, 0};
  const int p = plan->ops.order;
  kifmm__surface(p, KIFMM_RATIO_INNER(p), 1.0, o, ctx->unit_inner);
  kifmm__surface(p, KIFMM_RATIO_OUTER(p), 1.0, o, ctx->unit_outer);
  const int q = plan->ops.check_order;
  kifmm__surface(q, KIFMM_RATIO_INNER(p), 1.0, o, ctx->check_inner);
  kifmm__surface(q, KIFMM_RATIO_OUTER(p), 1.0, o, ctx->check_outer);
  for (int t = 0; t < KIFMM_NTV; t++)
    ctx->group[t] = kifmm__tv_group(t);
  ctx->plan = plan;
  *out = ctx;
  return KIFMM_SUCCESS;
}

#define RUN(field, call)                                 \
  if (status == KIFMM_SUCCESS) {                         \
    double t0_ = kifmm__wtime();                         \
    status = (call);                                     \
    plan->stats.field += kifmm__wtime() - t0_;           \
  }
#define PHASE(name, field, call)                         \
  kifmm__progress(name, 0.0);                            \
  RUN(field, call);                                      \
  kifmm__progress(name, 1.0);

/* Split from the downward stage so that the distributed plan (let.c) can complete the
 * multipoles of shared and remote boxes in between. */
int kifmm__evaluate_upward(kifmm_plan *plan) {
  const kifmm_tree *t = &plan->tree;
  pass_ctx *ctx;
  CHECK(new_ctx(plan, &ctx));
  reset_timers(&plan->stats);
  memset(plan->multipole, 0, (size_t)t->nbox * plan->ops.ne * plan->nvec * sizeof(double));
  int status = KIFMM_SUCCESS;
  PHASE("p2m", t_p2m, p2m(plan, ctx));
  PHASE("m2m", t_m2m, m2m(plan));
  if (status == KIFMM_SUCCESS) /* with the multipoles: what the far images need */
    status = kifmm__periodic_moments(plan);
  free(ctx);
  return status;
}

/* Zeroed results: the first of the downward parts to run adds into them. */
static void clear_results(kifmm_plan *plan, int want_grad) {
  const size_t m = (size_t)plan->tree.ntrg * plan->nvec;
  const int td = plan->ops.tdim;
  /* potential only leaves the gradient arrays alone */
  for (int k = 0; k < (want_grad ? 4 : 1) * td; k++)
    memset(plan->res[k], 0, m * sizeof(double));
}

/* Everything that reads multipoles: M2L, L2L and P2L level by level, then L2P and M2P. A
 * periodic plan starts at the root, whose local holds the far images (periodic.c), and its
 * level-1 boxes have V lists (the root's images' children); its 3D background comes last. */
static int far_field(kifmm_plan *plan, pass_ctx *ctx, int want_grad) {
  const kifmm_tree *t = &plan->tree;
  const int periodic = plan->periodic_far != NULL;
  memset(plan->local, 0, (size_t)t->nbox * plan->ops.ne * plan->nvec * sizeof(double));
  plan->m2l_entries = 0;
  int status = KIFMM_SUCCESS;
  kifmm__progress("downward", 0.0);
  if (periodic)
    RUN(t_m2l, kifmm__periodic_root(plan));
  for (int l = periodic ? 1 : 2; l <= t->depth; l++) {
    RUN(t_l2l, l > 2 || periodic ? l2l(plan, l) : KIFMM_SUCCESS);
    RUN(t_m2l, m2l(plan, ctx, l));
    RUN(t_p2l, p2l(plan, ctx, l, want_grad));
    if (l < t->depth)
      kifmm__progress("downward", (double)(l - 1) / (t->depth - 1));
  }
  kifmm__progress("downward", 1.0);
  PHASE("l2p", t_l2p, leaf_pass(plan, ctx, LEAF_L2P, want_grad));
  PHASE("m2p", t_m2p, leaf_pass(plan, ctx, LEAF_M2P, want_grad));
  if (periodic)
    RUN(t_l2p, kifmm__periodic_background(plan, want_grad));
  return status;
}

/* The near field (P2P): reads only charges and points. */
static int near_field(kifmm_plan *plan, pass_ctx *ctx, int want_grad) {
  int status = KIFMM_SUCCESS;
  plan->stats.near_symmetric = near_both_ways(plan);
  plan->stats.near_precision = plan->near_acc == KIFMM_RSQRT_SINGLE ? 32 : 64;
  PHASE("p2p", t_p2p, leaf_pass(plan, ctx, LEAF_P2P, want_grad));
  return status;
}

/* One part of the downward stage, or both in the one-process order (far, then near). */
enum { PART_FAR = 1, PART_NEAR = 2 };
static int downward_parts(kifmm_plan *plan, int want_grad, int parts, int clear) {
  pass_ctx *ctx;
  CHECK(new_ctx(plan, &ctx));
  if (clear)
    clear_results(plan, want_grad);
  int status = KIFMM_SUCCESS;
  if (parts & PART_FAR)
    status = far_field(plan, ctx, want_grad);
  if (status == KIFMM_SUCCESS && (parts & PART_NEAR))
    status = near_field(plan, ctx, want_grad);
  free(ctx);
  return status;
}

int kifmm__evaluate_downward(kifmm_plan *plan, int want_grad) {
  return downward_parts(plan, want_grad, PART_FAR | PART_NEAR, 1);
}

int kifmm__evaluate_near(kifmm_plan *plan, int want_grad) {
  return downward_parts(plan, want_grad, PART_NEAR, 1);
}

int kifmm__evaluate_far(kifmm_plan *plan, int want_grad) {
  return downward_parts(plan, want_grad, PART_FAR, 0);
}
#undef PHASE
#undef RUN

int kifmm__evaluate_sorted(kifmm_plan *plan, int want_grad) {
  CHECK(kifmm__evaluate_upward(plan));
  return kifmm__evaluate_downward(plan, want_grad);
}

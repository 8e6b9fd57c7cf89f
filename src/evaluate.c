/* SPDX-License-Identifier: BSD-3-Clause */
/* The FMM passes over Morton-sorted data: upward (P2M, M2M), downward level by level
 * (L2L, M2L, P2L) and the leaf pass (L2P, M2P, P2P), each timed for the statistics. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

enum { CHUNK = 64, M2L_BLOCK = 128 };

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
  double unit_inner[3 * 1352], unit_outer[3 * 1352]; /* up to order 16 */
  double *bt;                   /* B_t^T (r_t x k) of every transfer vector, for M2L */
  int64_t bt_off[KIFMM_NTV];    /* where each starts in bt */
} pass_ctx;

static int64_t nsrc_of(const kifmm_tree *t, int64_t b) { return t->src_end[b] - t->src_begin[b]; }
static int64_t ntrg_of(const kifmm_tree *t, int64_t b) { return t->trg_end[b] - t->trg_begin[b]; }

/* Per-thread scratch, sized for the largest use of any pass. */
typedef struct {
  double *buf;
  soa3 surf;
  int ok;
} scratch;

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
static int p2m(kifmm_plan *plan, const pass_ctx *ctx) {
  const kifmm_tree *t = &plan->tree;
  const int n = plan->ops.n;
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    scratch s = scratch_new((size_t)3 * n * CHUNK, n);
    double *check = s.buf, *equiv = check + (size_t)n * CHUNK, *tmp = equiv + (size_t)n * CHUNK;
    int64_t box[CHUNK];
#pragma omp for schedule(dynamic, 1)
    for (int64_t j0 = 0; j0 < t->nleaf; j0 += CHUNK) {
      if (!s.ok)
        continue;
      int m = 0;
      for (int64_t j = j0; j < j0 + CHUNK && j < t->nleaf; j++) {
        int64_t b = t->leaf_box[j];
        if (nsrc_of(t, b) == 0)
          continue;
        double *chk = check + (size_t)m * n;
        memset(chk, 0, (size_t)n * sizeof(double));
        box_surface(t, b, ctx->unit_outer, n, s.surf);
        int64_t sb = t->src_begin[b];
        kifmm__p2p(nsrc_of(t, b), t->sx + sb, t->sy + sb, t->sz + sb, plan->q + sb, n, s.surf.x,
                   s.surf.y, s.surf.z, chk, NULL, NULL, NULL);
        double h = kifmm__box_side(t, t->level[b]); /* pseudo-inverse at side h = h * unit */
        for (int i = 0; i < n; i++)
          chk[i] *= h;
        box[m++] = b;
      }
      kifmm__c2e_apply(n, plan->ops.uc2e, m, 1.0, check, 0.0, equiv, tmp);
      for (int i = 0; i < m; i++)
        memcpy(plan->multipole + box[i] * n, equiv + (size_t)i * n, (size_t)n * sizeof(double));
    }
    failed = !s.ok;
    free(s.buf);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

static int m2m(kifmm_plan *plan) {
  const kifmm_tree *t = &plan->tree;
  const int n = plan->ops.n;
  int failed = 0;
  for (int l = t->depth; l >= 1; l--) {
    int64_t lo = t->level_ptr[l - 1], hi = t->level_ptr[l];
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
    {
      scratch s = scratch_new((size_t)9 * n * CHUNK, 0);
      double *stack = s.buf, *out = stack + (size_t)8 * n * CHUNK;
      int64_t box[CHUNK];
#pragma omp for schedule(dynamic, 1)
      for (int64_t p0 = lo; p0 < hi; p0 += CHUNK) {
        if (!s.ok)
          continue;
        int m = 0;
        for (int64_t p = p0; p < p0 + CHUNK && p < hi; p++) {
          if (t->nchild[p] == 0 || nsrc_of(t, p) == 0)
            continue;
          double *col = stack + (size_t)m * 8 * n;
          memset(col, 0, (size_t)8 * n * sizeof(double));
          for (int64_t c = t->first_child[p]; c < t->first_child[p] + t->nchild[p]; c++)
            memcpy(col + (int)(t->anchor[c] & 7) * n, plan->multipole + c * n,
                   (size_t)n * sizeof(double));
          box[m++] = p;
        }
        kifmm__mm(n, m, 8 * n, 1.0, plan->ops.m2m, n, stack, 8 * n, 0.0, out, n);
        for (int i = 0; i < m; i++)
          memcpy(plan->multipole + box[i] * n, out + (size_t)i * n, (size_t)n * sizeof(double));
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
  const int n = plan->ops.n;
  int64_t lo = t->level_ptr[l - 1], hi = t->level_ptr[l];
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    scratch s = scratch_new((size_t)9 * n * CHUNK, 0);
    double *par = s.buf, *out = par + (size_t)n * CHUNK;
    int64_t box[CHUNK];
#pragma omp for schedule(dynamic, 1)
    for (int64_t p0 = lo; p0 < hi; p0 += CHUNK) {
      if (!s.ok)
        continue;
      int m = 0;
      for (int64_t p = p0; p < p0 + CHUNK && p < hi; p++) {
        if (t->nchild[p] == 0 || ntrg_of(t, p) == 0)
          continue;
        memcpy(par + (size_t)m * n, plan->local + p * n, (size_t)n * sizeof(double));
        box[m++] = p;
      }
      kifmm__mm(8 * n, m, n, 1.0, plan->ops.l2l, 8 * n, par, n, 0.0, out, 8 * n);
      for (int i = 0; i < m; i++) {
        int64_t p = box[i];
        for (int64_t c = t->first_child[p]; c < t->first_child[p] + t->nchild[p]; c++) {
          const double *src = out + (size_t)i * 8 * n + (int)(t->anchor[c] & 7) * n;
          double *dst = plan->local + c * n;
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

/* Compressed multipoles of one level: Mc = V^T M. */
static void compress_multipoles(kifmm_plan *plan, int64_t lo, int64_t nl, double *mc) {
  const int n = plan->ops.n, k = plan->ops.k;
#pragma omp parallel for num_threads(plan->nthreads) schedule(dynamic, 1)
  for (int64_t c0 = 0; c0 < nl; c0 += 4 * CHUNK) {
    int m = (int)(nl - c0 < 4 * CHUNK ? nl - c0 : 4 * CHUNK);
    kifmm__mm(k, m, n, 1.0, plan->ops.vt, k, plan->multipole + (lo + c0) * n, n, 0.0, mc + c0 * k,
              k);
  }
}

/* M2L applies B_t^T (B_t is k x r_t). Turning every B_t over once per evaluation, instead
 * of per bucket, lets each product use the one untransposed kernel shape of kifmm__mm_cols
 * at the cost of half the M2L operators' memory while the evaluation runs. */
static int transpose_bt(const kifmm_plan *plan, pass_ctx *ctx) {
  const kifmm_operators *ops = &plan->ops;
  const int k = ops->k;
  int64_t len = 0;
  for (int t = 0; t < KIFMM_NTV; t++) {
    ctx->bt_off[t] = len;
    len += (int64_t)k * ops->r[t];
  }
  ALLOC(ctx->bt, len);
#pragma omp parallel for num_threads(plan->nthreads) schedule(dynamic, 8)
  for (int t = 0; t < KIFMM_NTV; t++) {
    const int r = ops->r[t];
    const double *b = ops->ab + ops->ab_off[t] + (size_t)k * r;
    double *out = ctx->bt + ctx->bt_off[t];
    for (int j = 0; j < r; j++)
      for (int i = 0; i < k; i++)
        out[j + (size_t)i * r] = b[i + (size_t)j * k];
  }
  return KIFMM_SUCCESS;
}

/* M2L for target boxes [b0, b1) of one level: pairs bucketed by transfer vector, each
 * bucket applied as two gemms (B_t^T then A_t) in the compressed space, reading the
 * compressed multipoles and adding to the compressed locals in place, then expanded. */
static void m2l_block(kifmm_plan *plan, const pass_ctx *ctx, int64_t lo, int64_t b0, int64_t b1,
                      const double *mc, double *work, int32_t *pairs) {
  const kifmm_lists *L = &plan->lists;
  const kifmm_operators *ops = &plan->ops;
  const int n = ops->n, k = ops->k;
  int32_t start[KIFMM_NTV + 1] = {0}, fill[KIFMM_NTV];
  for (int64_t e = L->v_ptr[b0]; e < L->v_ptr[b1]; e++)
    start[L->v_tv[e] + 1]++;
  if (L->v_ptr[b1] == L->v_ptr[b0])
    return;
  for (int t = 0; t < KIFMM_NTV; t++) {
    start[t + 1] += start[t];
    fill[t] = start[t];
  }
  int32_t *ptrg = pairs, *psrc = pairs + M2L_BLOCK * KIFMM_NTV;
  for (int64_t b = b0; b < b1; b++)
    for (int64_t e = L->v_ptr[b]; e < L->v_ptr[b + 1]; e++) {
      int32_t pos = fill[L->v_tv[e]]++;
      ptrg[pos] = (int32_t)(b - b0);
      psrc[pos] = (int32_t)(L->v_idx[e] - lo);
    }
  /* A bucket holds one pair per target box at most: a transfer vector fixes the source. */
  double *lc = work, *t1 = lc + (size_t)k * M2L_BLOCK;
  const double *src_col[M2L_BLOCK], *t1_in[M2L_BLOCK];
  double *trg_col[M2L_BLOCK], *t1_out[M2L_BLOCK];
  memset(lc, 0, (size_t)k * (b1 - b0) * sizeof(double));
  for (int t = 0; t < KIFMM_NTV; t++) {
    int m = start[t + 1] - start[t], r = ops->r[t];
    if (m == 0)
      continue;
    assert(m <= M2L_BLOCK);
    for (int j = 0; j < m; j++) {
      src_col[j] = mc + (size_t)psrc[start[t] + j] * k;
      trg_col[j] = lc + (size_t)ptrg[start[t] + j] * k;
      t1_out[j] = t1 + (size_t)j * r;
      t1_in[j] = t1_out[j];
    }
    const double *a = ops->ab + ops->ab_off[t];
    kifmm__mm_cols(r, m, k, 1.0, ctx->bt + ctx->bt_off[t], r, src_col, 0.0, t1_out);
    kifmm__mm_cols(k, m, r, 1.0, a, k, t1_in, 1.0, trg_col);
  }
  kifmm__mm(n, (int)(b1 - b0), k, 1.0, ops->d, n, lc, k, 1.0, plan->local + b0 * n, n);
}

static int m2l(kifmm_plan *plan, const pass_ctx *ctx, int l) {
  const kifmm_tree *t = &plan->tree;
  const int k = plan->ops.k;
  int64_t lo = t->level_ptr[l], hi = t->level_ptr[l + 1], nl = hi - lo;
  if (plan->lists.v_ptr[hi] == plan->lists.v_ptr[lo])
    return KIFMM_SUCCESS;
  double *mc;
  ALLOC(mc, (size_t)k * nl);
  compress_multipoles(plan, lo, nl, mc);
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    scratch s = scratch_new((size_t)2 * k * M2L_BLOCK, 0);
    int32_t *pairs = NULL;
    int ok = s.ok && kifmm__calloc((void **)&pairs, 2 * M2L_BLOCK * KIFMM_NTV, sizeof(int32_t)) == 0;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b0 = lo; b0 < hi; b0 += M2L_BLOCK)
      if (ok)
        m2l_block(plan, ctx, lo, b0, b0 + M2L_BLOCK < hi ? b0 + M2L_BLOCK : hi, mc, s.buf,
                  pairs);
    failed = !ok;
    free(pairs);
    free(s.buf);
  }
  free(mc);
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

static void leaf_target_ptrs(kifmm_plan *plan, int64_t b, int want_grad, double **pot,
                             double **g) {
  int64_t tb = plan->tree.trg_begin[b];
  *pot = plan->pot + tb;
  g[0] = want_grad ? plan->gx + tb : NULL;
  g[1] = want_grad ? plan->gy + tb : NULL;
  g[2] = want_grad ? plan->gz + tb : NULL;
}

/* X-list sources reach a box either through its downward check surface (P2L) or, when
 * the box's subtree holds fewer targets than surface points, directly (exact and cheaper).
 * Boxes of one level own disjoint target ranges, so the direct sums need no locks. */
static int p2l(kifmm_plan *plan, const pass_ctx *ctx, int l, int want_grad) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  const int n = plan->ops.n;
  int64_t lo = t->level_ptr[l], hi = t->level_ptr[l + 1];
  if (L->x_ptr[hi] == L->x_ptr[lo])
    return KIFMM_SUCCESS;
  int failed = 0;
#pragma omp parallel num_threads(plan->nthreads) reduction(| : failed)
  {
    scratch s = scratch_new((size_t)2 * n, n);
#pragma omp for schedule(dynamic, 4)
    for (int64_t b = lo; b < hi; b++) {
      if (!s.ok || L->x_ptr[b + 1] == L->x_ptr[b])
        continue;
      double *check = s.buf, *pot, *g[3];
      int direct = ntrg_of(t, b) <= n;
      int64_t tb = t->trg_begin[b];
      leaf_target_ptrs(plan, b, want_grad, &pot, g);
      memset(check, 0, (size_t)n * sizeof(double));
      box_surface(t, b, ctx->unit_inner, n, s.surf);
      for (int64_t e = L->x_ptr[b]; e < L->x_ptr[b + 1]; e++) {
        int64_t a = L->x_idx[e], sb = t->src_begin[a];
        if (direct)
          kifmm__p2p(nsrc_of(t, a), t->sx + sb, t->sy + sb, t->sz + sb, plan->q + sb,
                     ntrg_of(t, b), t->tx + tb, t->ty + tb, t->tz + tb, pot, g[0], g[1], g[2]);
        else
          kifmm__p2p(nsrc_of(t, a), t->sx + sb, t->sy + sb, t->sz + sb, plan->q + sb, n,
                     s.surf.x, s.surf.y, s.surf.z, check, NULL, NULL, NULL);
      }
      if (!direct)
        kifmm__c2e_apply(n, plan->ops.dc2e, 1, kifmm__box_side(t, l), check, 1.0,
                         plan->local + b * n, check + n);
    }
    failed = !s.ok;
    free(s.buf);
  }
  return failed ? KIFMM_ERR_OUT_OF_MEMORY : KIFMM_SUCCESS;
}

/* ---- leaf pass: everything writes only to the targets of its own leaf ---- */
typedef enum { LEAF_L2P, LEAF_M2P, LEAF_P2P } leaf_op;

static void l2p_leaf(kifmm_plan *plan, const pass_ctx *ctx, int64_t b, int want_grad,
                     scratch *s) {
  const kifmm_tree *t = &plan->tree;
  double *pot, *g[3];
  leaf_target_ptrs(plan, b, want_grad, &pot, g);
  int64_t tb = t->trg_begin[b];
  box_surface(t, b, ctx->unit_outer, plan->ops.n, s->surf);
  kifmm__p2p(plan->ops.n, s->surf.x, s->surf.y, s->surf.z, plan->local + b * plan->ops.n,
             ntrg_of(t, b), t->tx + tb, t->ty + tb, t->tz + tb, pot, g[0], g[1], g[2]);
}

/* W-list boxes with fewer sources than surface points are summed directly: exact, and
 * cheaper than evaluating their n equivalent charges. */
static void m2p_leaf(kifmm_plan *plan, const pass_ctx *ctx, int64_t b, int want_grad,
                     scratch *s) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  const int n = plan->ops.n;
  double *pot, *g[3];
  leaf_target_ptrs(plan, b, want_grad, &pot, g);
  int64_t tb = t->trg_begin[b];
  for (int64_t e = L->w_ptr[b]; e < L->w_ptr[b + 1]; e++) {
    int64_t c = L->w_idx[e], sb = t->src_begin[c];
    if (nsrc_of(t, c) <= n) {
      kifmm__p2p(nsrc_of(t, c), t->sx + sb, t->sy + sb, t->sz + sb, plan->q + sb, ntrg_of(t, b),
                 t->tx + tb, t->ty + tb, t->tz + tb, pot, g[0], g[1], g[2]);
      continue;
    }
    box_surface(t, c, ctx->unit_inner, n, s->surf);
    kifmm__p2p(n, s->surf.x, s->surf.y, s->surf.z, plan->multipole + c * n, ntrg_of(t, b),
               t->tx + tb, t->ty + tb, t->tz + tb, pot, g[0], g[1], g[2]);
  }
}

/* Gathers the sources of all U-list leaves so one vectorized sum covers them. */
static int p2p_leaf(kifmm_plan *plan, int64_t b, int want_grad, double **gather,
                    int64_t *cap) {
  const kifmm_tree *t = &plan->tree;
  const kifmm_lists *L = &plan->lists;
  int64_t ns = 0;
  for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
    ns += nsrc_of(t, L->u_idx[e]);
  if (ns > *cap) {
    free(*gather);
    *cap = 2 * ns;
    CHECK(kifmm__calloc((void **)gather, (size_t)(4 * *cap), sizeof(double)));
  }
  double *x = *gather, *y = x + *cap, *z = y + *cap, *q = z + *cap;
  int64_t m = 0;
  for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++) {
    int64_t a = L->u_idx[e], sb = t->src_begin[a], na = nsrc_of(t, a);
    memcpy(x + m, t->sx + sb, (size_t)na * sizeof(double));
    memcpy(y + m, t->sy + sb, (size_t)na * sizeof(double));
    memcpy(z + m, t->sz + sb, (size_t)na * sizeof(double));
    memcpy(q + m, plan->q + sb, (size_t)na * sizeof(double));
    m += na;
  }
  double *pot, *g[3];
  leaf_target_ptrs(plan, b, want_grad, &pot, g);
  int64_t tb = t->trg_begin[b];
  kifmm__p2p(m, x, y, z, q, ntrg_of(t, b), t->tx + tb, t->ty + tb, t->tz + tb, pot, g[0], g[1],
             g[2]);
  return KIFMM_SUCCESS;
}

static int leaf_pass(kifmm_plan *plan, const pass_ctx *ctx, leaf_op op, int want_grad) {
  const kifmm_tree *t = &plan->tree;
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
      else if (p2p_leaf(plan, b, want_grad, &gather, &cap) != KIFMM_SUCCESS)
        failed = 1;
    }
    free(gather);
    free(s.buf);
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
  memset(plan->multipole, 0, (size_t)t->nbox * plan->ops.n * sizeof(double));
  int status = KIFMM_SUCCESS;
  PHASE("p2m", t_p2m, p2m(plan, ctx));
  PHASE("m2m", t_m2m, m2m(plan));
  free(ctx);
  return status;
}

/* Zeroed results: the first of the downward parts to run adds into them. */
static void clear_results(kifmm_plan *plan) {
  const kifmm_tree *t = &plan->tree;
  memset(plan->pot, 0, (size_t)t->ntrg * sizeof(double));
  memset(plan->gx, 0, (size_t)t->ntrg * 3 * sizeof(double));
}

/* Everything that reads multipoles: M2L, L2L and P2L level by level, then L2P and M2P. */
static int far_field(kifmm_plan *plan, pass_ctx *ctx, int want_grad) {
  const kifmm_tree *t = &plan->tree;
  memset(plan->local, 0, (size_t)t->nbox * plan->ops.n * sizeof(double));
  int status = KIFMM_SUCCESS;
  RUN(t_m2l, t->depth >= 2 ? transpose_bt(plan, ctx) : KIFMM_SUCCESS);
  kifmm__progress("downward", 0.0);
  for (int l = 2; l <= t->depth; l++) {
    RUN(t_l2l, l > 2 ? l2l(plan, l) : KIFMM_SUCCESS);
    RUN(t_m2l, m2l(plan, ctx, l));
    RUN(t_p2l, p2l(plan, ctx, l, want_grad));
    if (l < t->depth)
      kifmm__progress("downward", (double)(l - 1) / (t->depth - 1));
  }
  kifmm__progress("downward", 1.0);
  PHASE("l2p", t_l2p, leaf_pass(plan, ctx, LEAF_L2P, want_grad));
  PHASE("m2p", t_m2p, leaf_pass(plan, ctx, LEAF_M2P, want_grad));
  free(ctx->bt);
  ctx->bt = NULL;
  return status;
}

/* The near field (P2P): reads only charges and points. */
static int near_field(kifmm_plan *plan, pass_ctx *ctx, int want_grad) {
  int status = KIFMM_SUCCESS;
  PHASE("p2p", t_p2p, leaf_pass(plan, ctx, LEAF_P2P, want_grad));
  return status;
}

/* One part of the downward stage, or both in the one-process order (far, then near). */
enum { PART_FAR = 1, PART_NEAR = 2 };
static int downward_parts(kifmm_plan *plan, int want_grad, int parts, int clear) {
  pass_ctx *ctx;
  CHECK(new_ctx(plan, &ctx));
  if (clear)
    clear_results(plan);
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

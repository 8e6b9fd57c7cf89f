/* Work counts of a tree and its lists, the time they predict on this machine kind, the
 * memory a plan and one evaluation take, and the choices made from them: the expansion
 * order for a tolerance and the leaf size (ncrit) for a point distribution. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* Seconds per unit of work on one core, measured with kifmm-bench on the reference machine
 * kind (2-core AMD EPYC Zen4, Release build, OPENBLAS_NUM_THREADS=1): per-phase times of
 * cube and sphere runs at 1e6 points divided by the counts below (see examples/calibrate.sh).
 * m2l_pair and m2l_box depend on the order through the compressed ranks k and r. */
typedef struct {
  int order;
  double m2l_pair, m2l_box, m2m_box;
} order_costs;

static const order_costs costs_by_order[] = {
    {2, 1.0e-7, 1.5e-7, 1.0e-7},  {4, 2.5e-7, 5.0e-7, 4.0e-7},  {6, 5.5e-7, 1.6e-6, 1.6e-6},
    {8, 9.0e-7, 4.0e-6, 5.0e-6},  {10, 1.3e-6, 8.0e-6, 1.3e-5}, {12, 1.8e-6, 1.4e-5, 2.7e-5},
    {14, 2.4e-6, 2.2e-5, 5.0e-5}, {16, 3.0e-6, 3.3e-5, 8.4e-5}};

static const double sec_per_pair = 1.6e-9;       /* P2P, potential and gradient */
static const double sec_per_kernel = 2.0e-9;     /* P2M/L2P/M2P/P2L: point x surface point */
static const double sec_per_point_tree = 2.5e-7; /* sort, refine, balance per point */
static const double sec_per_box_lists = 1.0e-5;  /* U, V, W, X per box */

/* Worst relative l2 error of the potential measured on cube, sphere and clustered inputs
 * (tests/test_accuracy.c, ncrit 48 .. 1000), per order. */
static const double error_by_order[KIFMM_MAX_ORDER + 1] = {
    [2] = 1e-2,  [3] = 2e-3,  [4] = 3e-4,  [5] = 3e-5,  [6] = 3e-6,  [7] = 5e-7,
    [8] = 7e-8,  [9] = 2e-8,  [10] = 7e-9, [11] = 4e-9, [12] = 3e-9, [13] = 2e-9,
    [14] = 1.5e-9, [15] = 1.2e-9, [16] = 1e-9};

static order_costs costs_for(int order) {
  const int n = (int)(sizeof(costs_by_order) / sizeof(costs_by_order[0]));
  order_costs c = costs_by_order[n - 1];
  for (int i = 0; i < n; i++)
    if (costs_by_order[i].order >= order) {
      c = costs_by_order[i];
      break;
    }
  return c;
}

int kifmm__order_for_tolerance(double tolerance) {
  /* a factor 2 of margin: the table holds measured worst cases, not bounds */
  for (int p = KIFMM_MIN_ORDER; p <= KIFMM_MAX_ORDER; p++)
    if (2.0 * error_by_order[p] <= tolerance)
      return p;
  return -1;
}

double kifmm__tolerance_floor(void) { return 2.0 * error_by_order[KIFMM_MAX_ORDER]; }

static int64_t nsrc_of(const kifmm_tree *t, int64_t b) { return t->src_end[b] - t->src_begin[b]; }
static int64_t ntrg_of(const kifmm_tree *t, int64_t b) { return t->trg_end[b] - t->trg_begin[b]; }

void kifmm__count_work(const kifmm_tree *t, const kifmm_lists *L, int n, kifmm_work *w) {
  memset(w, 0, sizeof(*w));
  for (int64_t b = 0; b < t->nbox; b++) {
    double nt = (double)ntrg_of(t, b);
    for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
      w->p2p_pairs += nt * (double)nsrc_of(t, L->u_idx[e]);
    for (int64_t e = L->w_ptr[b]; e < L->w_ptr[b + 1]; e++) /* M2P or its direct fallback */
      w->kernels += nt * fmin((double)n, (double)nsrc_of(t, L->w_idx[e]));
    for (int64_t e = L->x_ptr[b]; e < L->x_ptr[b + 1]; e++) /* P2L or its direct fallback */
      w->kernels += fmin((double)n, nt) * (double)nsrc_of(t, L->x_idx[e]);
    int64_t nv = L->v_ptr[b + 1] - L->v_ptr[b];
    w->m2l_pairs += (double)nv;
    w->m2l_boxes += nv > 0;
    if (t->nchild[b] == 0) /* P2M and L2P */
      w->kernels += (double)n * ((double)nsrc_of(t, b) + nt);
    else
      w->m2m_boxes += 2.0; /* M2M up, L2L down */
  }
}

void kifmm__predict_times(const kifmm_work *w, int64_t npoints, int64_t nbox, int order,
                          int nthreads, kifmm_prediction *p) {
  order_costs c = costs_for(order);
  double per = 1.0 / (nthreads > 0 ? nthreads : 1);
  p->t_tree = sec_per_point_tree * (double)npoints * per;
  p->t_lists = sec_per_box_lists * (double)nbox * per;
  p->t_p2p = sec_per_pair * w->p2p_pairs * per;
  p->t_kernels = sec_per_kernel * w->kernels * per;
  p->t_m2l = (c.m2l_pair * w->m2l_pairs + c.m2l_box * w->m2l_boxes) * per;
  p->t_m2m = c.m2m_box * w->m2m_boxes * per;
  p->t_evaluate = p->t_p2p + p->t_kernels + p->t_m2l + p->t_m2m;
}

/* ---- leaf size from a subsample ----
 * A tree over m of the N points with ncrit * m / N has the same boxes, statistically, as the
 * tree over all points with ncrit: counts per box shrink by m / N everywhere. Its work then
 * scales back exactly: near-field pairs by (N / m)^2, kernel evaluations by N / m, box
 * counts not at all. So each candidate costs a tree over m points, not over N. */
enum { SAMPLE = 32768 };

static double *take_sample(int64_t n, const double *xyz, int64_t stride, int64_t *m) {
  *m = n > 0 ? (n - 1) / stride + 1 : 0;
  double *s = NULL;
  if (kifmm__calloc((void **)&s, (size_t)(3 * *m + 1), sizeof(double)) != KIFMM_SUCCESS)
    return NULL;
  for (int64_t i = 0; i < *m; i++)
    memcpy(s + 3 * i, xyz + 3 * i * stride, 3 * sizeof(double));
  return s;
}

/* Predicted evaluation time of the full problem at leaf size ncrit, from the sample. */
static int predict_candidate(int64_t ms, const double *s, int64_t mt, const double *tt,
                             double scale, int ncrit, const kifmm_options *o, int nthreads,
                             double *seconds) {
  int scaled = (int)lround(ncrit / scale);
  kifmm_tree tree;
  kifmm_lists lists;
  int status = kifmm__tree_build(&tree, ms, s, mt, tt, scaled < 1 ? 1 : scaled, o->max_level,
                                 nthreads);
  if (status == KIFMM_SUCCESS)
    status = kifmm__lists_build(&lists, &tree, nthreads);
  if (status == KIFMM_SUCCESS) {
    kifmm_work w;
    kifmm__count_work(&tree, &lists, kifmm__surface_count(o->order), &w);
    w.p2p_pairs *= scale * scale;
    w.kernels *= scale;
    kifmm_prediction p;
    kifmm__predict_times(&w, (int64_t)((ms + mt) * scale), tree.nbox, o->order, nthreads, &p);
    *seconds = p.t_evaluate + p.t_lists;
    kifmm__lists_free(&lists);
  }
  kifmm__tree_free(&tree);
  return status;
}

int kifmm__choose_ncrit(const kifmm_options *o, int64_t nsrc, const double *src, int64_t ntrg,
                        const double *trg, int nthreads, int *ncrit) {
  int64_t total = nsrc + ntrg;
  *ncrit = 150;
  if (total <= 2 * SAMPLE / 8) /* small problems: any sane leaf size is fast */
    return KIFMM_SUCCESS;
  int64_t stride = (total + SAMPLE - 1) / SAMPLE, ms, mt;
  double *s = take_sample(nsrc, src, stride, &ms);
  double *tt = trg == src ? s : take_sample(ntrg, trg, stride, &mt);
  if (trg == src)
    mt = ms;
  int status = s && tt ? KIFMM_SUCCESS : KIFMM_ERR_OUT_OF_MEMORY;
  double scale = (double)total / (double)(ms + mt), best = INFINITY;
  /* candidates a factor sqrt(2) apart: the cost is flat near its minimum */
  for (double c = 32; c <= 4096 && status == KIFMM_SUCCESS; c *= 1.41421356) {
    if (c / scale < 2.0) /* fewer than 2 sampled points per leaf: too noisy to judge */
      continue;
    double t;
    status = predict_candidate(ms, s, mt, tt, scale, (int)lround(c), o, nthreads, &t);
    if (status == KIFMM_SUCCESS && t < best) {
      best = t;
      *ncrit = (int)lround(c);
    }
  }
  if (tt != s)
    free(tt);
  free(s);
  return status;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* The struct layouts the library accepts from callers: every released size of kifmm_options
 * and kifmm_stats, and the 0.1 layouts (no struct_size) with the 0.1 symbols that use them. */
#include <string.h>

/* Hides the inline kifmm_default_options()/kifmm_plan_stats() of kifmm.h: this file defines
 * the exported 0.1 functions of those names, which binaries built against 0.1 still call. */
#define KIFMM_ABI_V0_1_DEFINITIONS
#include "api/abi.h"
#include "plan/plan.h" /* the 0.1 kifmm_plan_stats() reads the plan's statistics */

/* sizeof of a struct whose last member was `last`: what callers compiled against the release
 * that ended there passed as struct_size (trailing padding included). */
#define LAYOUT_SIZE(type, last)                                                   \
  ((offsetof(type, last) + sizeof(((type *)0)->last) + _Alignof(type) - 1) /      \
   _Alignof(type) * _Alignof(type))

/* Released sized layouts, oldest first. Appending a field to a struct makes the assertion
 * below fail until the new layout's size is appended here; the older entries stay, so
 * binaries built against them keep working (their struct is a prefix of ours). */
static const size_t options_sizes[] = {LAYOUT_SIZE(kifmm_options, cache_dir),
                                       LAYOUT_SIZE(kifmm_options, progress_data),
                                       LAYOUT_SIZE(kifmm_options, nvec),
                                       LAYOUT_SIZE(kifmm_options, cell_aspect)};
static const size_t stats_sizes[] = {LAYOUT_SIZE(kifmm_stats, nevaluations),
                                     LAYOUT_SIZE(kifmm_stats, overfull_leaves),
                                     LAYOUT_SIZE(kifmm_stats, tolerance),
                                     LAYOUT_SIZE(kifmm_stats, simd),
                                     LAYOUT_SIZE(kifmm_stats, t_comm_wait),
                                     LAYOUT_SIZE(kifmm_stats, kernel_param),
                                     LAYOUT_SIZE(kifmm_stats, near_symmetric)};
#define NSIZES(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(sizeof(kifmm_options) == LAYOUT_SIZE(kifmm_options, cell_aspect),
               "kifmm_options grew: append its new size to options_sizes");
_Static_assert(sizeof(kifmm_stats) == LAYOUT_SIZE(kifmm_stats, near_symmetric),
               "kifmm_stats grew: append its new size to stats_sizes");

/* The 0.1 layouts, frozen: no struct_size, otherwise the same fields in the same order. */
typedef struct options_v0_1 {
  int32_t order, ncrit, max_level, num_threads, verbose, use_cache;
  double compression_tol;
  char cache_dir[KIFMM_PATH_MAX];
} options_v0_1;

typedef struct stats_v0_1 {
  int64_t nsrc, ntrg, nboxes, nleaves;
  int32_t depth, order, nsurf, m2l_rank, m2l_max_rank, cache_result;
  int64_t bytes;
  double compression_tol;
  double t_tree, t_lists, t_operators;
  double t_p2m, t_m2m, t_m2l, t_l2l, t_p2l, t_m2p, t_l2p, t_p2p;
  double t_evaluate;
  int64_t nevaluations;
} stats_v0_1;

/* A 0.1 struct begins with order, a sized one with struct_size. Every sized layout holds all
 * 0.1 fields and more, so a first int32 in (0, sizeof 0.1 layout) cannot be a struct_size:
 * it is a 0.1 order, valid or not (validation then reports it as an order, as 0.1 did). */
_Static_assert(LAYOUT_SIZE(kifmm_options, cache_dir) > sizeof(options_v0_1),
               "a sized layout must be told from a 0.1 one by its first int32");

static int known_size(const size_t *sizes, size_t n, size_t size) {
  for (size_t i = 0; i < n; i++)
    if (sizes[i] == size)
      return 1;
  return 0;
}

static void set_defaults(kifmm_options *o) {
  memset(o, 0, sizeof(*o));
  o->struct_size = (int32_t)sizeof(*o);
  o->order = 6;
  o->ncrit = 0;
  o->max_level = KIFMM_MAX_LEVEL;
  o->num_threads = 0;
  o->verbose = 0;
  o->use_cache = 1;
  o->compression_tol = 0.0;
  o->nvec = 1;
  o->kernel = KIFMM_KERNEL_LAPLACE;
  o->cell_length = 1.0;
  o->cell_aspect[0] = o->cell_aspect[1] = o->cell_aspect[2] = 1.0;
}

static void from_v0_1(kifmm_options *o, const options_v0_1 *v) {
  o->order = v->order;
  o->ncrit = v->ncrit;
  o->max_level = v->max_level;
  o->num_threads = v->num_threads;
  o->verbose = v->verbose;
  o->use_cache = v->use_cache;
  o->compression_tol = v->compression_tol;
  memcpy(o->cache_dir, v->cache_dir, KIFMM_PATH_MAX);
}

int kifmm__options_import(kifmm_options *out, const kifmm_options *in) {
  set_defaults(out);
  if (!in)
    return KIFMM_SUCCESS;
  int32_t first; /* memcpy: *in may really be an options_v0_1 */
  memcpy(&first, in, sizeof(first));
  if (first > 0 && (size_t)first < sizeof(options_v0_1)) {
    from_v0_1(out, (const options_v0_1 *)(const void *)in);
  } else if (first > 0 && known_size(options_sizes, NSIZES(options_sizes), (size_t)first)) {
    memcpy(out, in, (size_t)first); /* an older layout is a prefix: defaults stay after it */
    out->struct_size = (int32_t)sizeof(*out);
  } else {
    return KIFMM_ERR_STRUCT_SIZE;
  }
  out->cache_dir[KIFMM_PATH_MAX - 1] = '\0';
  return KIFMM_SUCCESS;
}

int kifmm__stats_export(kifmm_stats *out, const kifmm_stats *in, size_t struct_size) {
  if (!known_size(stats_sizes, NSIZES(stats_sizes), struct_size))
    return KIFMM_ERR_STRUCT_SIZE;
  kifmm_stats s = *in;
  s.struct_size = (int32_t)struct_size;
  memcpy(out, &s, struct_size);
  return KIFMM_SUCCESS;
}

int kifmm_default_options_sized(kifmm_options *opts, size_t struct_size) {
  if (!opts)
    return KIFMM_ERR_NULL_ARGUMENT;
  if (!known_size(options_sizes, NSIZES(options_sizes), struct_size))
    return KIFMM_ERR_STRUCT_SIZE;
  kifmm_options d;
  set_defaults(&d);
  d.struct_size = (int32_t)struct_size;
  memcpy(opts, &d, struct_size);
  return KIFMM_SUCCESS;
}

int kifmm_options_set_cache_dir(kifmm_options *opts, const char *dir) {
  if (!opts || !dir)
    return KIFMM_ERR_NULL_ARGUMENT;
  if (opts->struct_size <= 0 ||
      !known_size(options_sizes, NSIZES(options_sizes), (size_t)opts->struct_size))
    return KIFMM_ERR_STRUCT_SIZE;
  /* memchr stops at the first NUL, so a short dir is not read past its end */
  const char *nul = memchr(dir, '\0', KIFMM_PATH_MAX);
  if (!nul)
    return KIFMM_ERR_IO; /* same code as the cache's own too-long paths */
  size_t n = (size_t)(nul - dir);
  memmove(opts->cache_dir, dir, n + 1); /* dir may be opts->cache_dir itself */
  memset(opts->cache_dir + n + 1, 0, KIFMM_PATH_MAX - n - 1);
  return KIFMM_SUCCESS;
}

/* ---- 0.1 symbols, for binaries compiled against the 0.1 header ---- */

KIFMM_EXPORT options_v0_1 kifmm_default_options(void);
KIFMM_EXPORT int kifmm_plan_stats(const kifmm_plan *plan, stats_v0_1 *stats);

options_v0_1 kifmm_default_options(void) {
  kifmm_options d;
  set_defaults(&d);
  options_v0_1 v;
  v.order = d.order;
  v.ncrit = d.ncrit;
  v.max_level = d.max_level;
  v.num_threads = d.num_threads;
  v.verbose = d.verbose;
  v.use_cache = d.use_cache;
  v.compression_tol = d.compression_tol;
  memcpy(v.cache_dir, d.cache_dir, KIFMM_PATH_MAX);
  return v;
}

int kifmm_plan_stats(const kifmm_plan *plan, stats_v0_1 *stats) {
  if (!plan || !stats)
    return KIFMM_ERR_NULL_ARGUMENT;
  const kifmm_stats *s = &plan->stats;
  stats_v0_1 v = {
      .nsrc = s->nsrc,
      .ntrg = s->ntrg,
      .nboxes = s->nboxes,
      .nleaves = s->nleaves,
      .depth = s->depth,
      .order = s->order,
      .nsurf = s->nsurf,
      .m2l_rank = s->m2l_rank,
      .m2l_max_rank = s->m2l_max_rank,
      .cache_result = s->cache_result,
      .bytes = s->bytes,
      .compression_tol = s->compression_tol,
      .t_tree = s->t_tree,
      .t_lists = s->t_lists,
      .t_operators = s->t_operators,
      .t_p2m = s->t_p2m,
      .t_m2m = s->t_m2m,
      .t_m2l = s->t_m2l,
      .t_l2l = s->t_l2l,
      .t_p2l = s->t_p2l,
      .t_m2p = s->t_m2p,
      .t_l2p = s->t_l2p,
      .t_p2p = s->t_p2p,
      .t_evaluate = s->t_evaluate,
      .nevaluations = s->nevaluations};
  *stats = v;
  return KIFMM_SUCCESS;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* Distributed partition against the serial tree: for several point sets and several ways of
 * handing the points to the ranks, the ranks together must hold every point once, in the
 * serial Morton order, cut between exactly the serial tree's leaves (before and after 2:1
 * balance), with global_first agreeing on every rank and the work evenly spread. */
#include <stdio.h>
#include <string.h>

#include "mpi/partition.h"
#include "testutil.h"

static int rank = 0, size = 1;
static uint64_t base_seed = 0; /* argv[1]: other point sets and deals, for stress runs */

/* ---- inputs: a global point set (the same on every rank) and who holds which point ---- */
typedef enum { DIST_CUBE, DIST_CLUSTER, DIST_DUPLICATES, DIST_EMPTY } dist_kind;
static const char *const dist_name[] = {"cube", "cluster", "duplicates", "empty"};
typedef enum { GIVE_BLOCK, GIVE_RANDOM, GIVE_RANK0, GIVE_LAST_EMPTY } give_kind;
static const char *const give_name[] = {"block", "random", "rank0", "last-empty"};

static void make_points(dist_kind dist, int64_t n, uint64_t seed, double *xyz) {
  if (dist == DIST_DUPLICATES) { /* five sites repeated, plus a sparse background */
    for (int64_t i = 0; i < n; i++) {
      double *p = xyz + 3 * i;
      if (i % 4 == 3) {
        for (int d = 0; d < 3; d++)
          p[d] = tu_uniform(&seed);
      } else {
        for (int d = 0; d < 3; d++)
          p[d] = 0.1 + 0.2 * (double)((i % 5 + d) % 5);
      }
    }
    return;
  }
  tu_points(dist == DIST_CLUSTER ? TU_CLUSTER : TU_CUBE, n, &seed, xyz);
}

/* Rank that holds global point i. */
static int holder(give_kind give, int64_t i, int64_t n, uint64_t *seed) {
  switch (give) {
  case GIVE_BLOCK:
    return (int)(i * size / (n > 0 ? n : 1));
  case GIVE_RANDOM:
    return (int)(tu_uniform(seed) * size);
  case GIVE_RANK0:
    return 0;
  case GIVE_LAST_EMPTY:
    return size > 1 ? (int)(i * (size - 1) / (n > 0 ? n : 1)) : 0;
  }
  return 0;
}

/* The ranks' inputs concatenated in rank order (the serial tree's input), and where this
 * rank's own points start in it. */
typedef struct {
  int64_t n;
  double *cat;     /* 3n */
  int64_t *offset; /* size + 1: rank r's points are cat[offset[r] .. offset[r+1]) */
} dealt;

static dealt deal(const double *xyz, int64_t n, give_kind give, uint64_t seed) {
  dealt d = {n, tu_alloc(3 * n), calloc((size_t)size + 1, sizeof(int64_t))};
  int *who = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
  for (int64_t i = 0; i < n; i++) {
    who[i] = holder(give, i, n, &seed);
    d.offset[who[i] + 1]++;
  }
  for (int r = 0; r < size; r++)
    d.offset[r + 1] += d.offset[r];
  int64_t *fill = calloc((size_t)size, sizeof(int64_t));
  for (int64_t i = 0; i < n; i++) {
    int64_t j = d.offset[who[i]] + fill[who[i]]++;
    memcpy(d.cat + 3 * j, xyz + 3 * i, 3 * sizeof(double));
  }
  free(who);
  free(fill);
  return d;
}

static void dealt_free(dealt *d) {
  free(d->cat);
  free(d->offset);
}

/* Where the targets are the sources: on every rank (the same array or a copy), or on the even
 * ranks only, the odd ones holding targets of their own (the partition takes one record a
 * point on a rank whose targets are its sources, two elsewhere). */
typedef enum { TARGETS_OWN, TARGETS_SAME, TARGETS_COPY, TARGETS_SAME_EVEN } targets_kind;
static const char *const targets_name[] = {"", " trg=src", " trg=copy", " trg=src even ranks"};

static int same_on(targets_kind k, int r) {
  return k == TARGETS_SAME || k == TARGETS_COPY || (k == TARGETS_SAME_EVEN && r % 2 == 0);
}

/* The targets all ranks hold, concatenated in rank order: rank r's sources where same_on. */
static dealt targets_as_held(targets_kind k, const dealt *s, const dealt *t) {
  dealt d = {0, NULL, calloc((size_t)size + 1, sizeof(int64_t))};
  for (int r = 0; r < size; r++) {
    const dealt *from = same_on(k, r) ? s : t;
    d.offset[r + 1] = d.offset[r] + from->offset[r + 1] - from->offset[r];
  }
  d.n = d.offset[size];
  d.cat = tu_alloc(3 * d.n);
  for (int r = 0; r < size; r++) {
    const dealt *from = same_on(k, r) ? s : t;
    memcpy(d.cat + 3 * d.offset[r], from->cat + 3 * from->offset[r],
           3 * (size_t)(d.offset[r + 1] - d.offset[r]) * sizeof(double));
  }
  return d;
}

/* ---- reference leaves before balance: a plain recursive refinement of the global keys ---- */
typedef struct {
  int64_t n, cap;
  kifmm_key *anchor;
  int8_t *level;
  int64_t *nsrc, *ntrg;
} ref_leaves;

static kifmm_key pos_of(kifmm_key anchor, int level) {
  return anchor << 3 * (KIFMM_KEY_BITS - level);
}

static int64_t count_in(const kifmm_key *k, int64_t n, kifmm_key lo, kifmm_key hi) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; i++) /* keys are sorted: a binary search would do, this is plain */
    c += k[i] >= lo && k[i] < hi;
  return c;
}

static void ref_push(ref_leaves *r, kifmm_key anchor, int level, int64_t ns, int64_t nt) {
  if (r->n == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 64;
    r->anchor = realloc(r->anchor, (size_t)r->cap * sizeof(kifmm_key));
    r->level = realloc(r->level, (size_t)r->cap);
    r->nsrc = realloc(r->nsrc, (size_t)r->cap * sizeof(int64_t));
    r->ntrg = realloc(r->ntrg, (size_t)r->cap * sizeof(int64_t));
  }
  r->anchor[r->n] = anchor;
  r->level[r->n] = (int8_t)level;
  r->nsrc[r->n] = ns;
  r->ntrg[r->n++] = nt;
}

static void ref_refine(ref_leaves *r, const kifmm_key *sk, int64_t ns, const kifmm_key *tk,
                       int64_t nt, kifmm_key anchor, int level, int ncrit, int max_level) {
  kifmm_key lo = pos_of(anchor, level), hi = pos_of(anchor + 1, level);
  /* only the keys inside this box are passed down, so the scans stay short */
  int64_t a = 0, b = 0;
  while (a < ns && sk[a] < lo)
    a++;
  int64_t cs = count_in(sk + a, ns - a, lo, hi);
  while (b < nt && tk[b] < lo)
    b++;
  int64_t ct = count_in(tk + b, nt - b, lo, hi);
  if (cs + ct == 0 && level > 0)
    return;
  if (cs + ct <= ncrit || level >= max_level) {
    ref_push(r, anchor, level, cs, ct);
    return;
  }
  for (unsigned o = 0; o < 8; o++)
    ref_refine(r, sk + a, cs, tk + b, ct, anchor << 3 | o, level + 1, ncrit, max_level);
}

static kifmm_key *sorted_keys(const double *xyz, int64_t n, const kifmm_tree *t) {
  kifmm_key *k = calloc((size_t)(n > 0 ? n : 1), sizeof(kifmm_key));
  int64_t *idx = calloc((size_t)(n > 0 ? n : 1), sizeof(int64_t));
  for (int64_t i = 0; i < n; i++) {
    double u[3];
    for (int d = 0; d < 3; d++)
      u[d] = kifmm__scaled(xyz[3 * i + d], t->center[d], t->half);
    k[i] = kifmm__point_key(u);
  }
  kifmm__sort_keys(k, idx, n);
  free(idx);
  return k;
}

/* ---- gathering the distributed result (test only: the library never gathers) ---- */
static void *gather(const void *mine, int64_t nbytes, int64_t *total) {
  int *count = calloc((size_t)size, sizeof(int)), *displ = calloc((size_t)size, sizeof(int));
  int nb = (int)nbytes;
  MPI_Allgather(&nb, 1, MPI_INT, count, 1, MPI_INT, MPI_COMM_WORLD);
  int64_t sum = 0;
  for (int r = 0; r < size; r++) {
    displ[r] = (int)sum;
    sum += count[r];
  }
  char *all = malloc((size_t)(sum > 0 ? sum : 1));
  MPI_Allgatherv(mine, nb, MPI_BYTE, all, count, displ, MPI_BYTE, MPI_COMM_WORLD);
  free(count);
  free(displ);
  *total = sum;
  return all;
}

/* ---- checks ---- */
/* Each rank's points lie in its leaves, in order, and its leaves in its global_first range. */
static void check_local(const kifmm_partition *p, const char *what) {
  EXPECT(p->leaf_src_ptr[0] == 0 && p->leaf_trg_ptr[0] == 0, "%s: bookends start at 0", what);
  EXPECT(p->leaf_src_ptr[p->nleaf] == p->nsrc && p->leaf_trg_ptr[p->nleaf] == p->ntrg,
         "%s: bookends end at the point counts", what);
  int bad_point = 0, bad_owner = 0, bad_order = 0;
  for (int64_t j = 0; j < p->nleaf; j++) {
    kifmm_key lo = pos_of(p->leaf_anchor[j], p->leaf_level[j]);
    kifmm_key hi = pos_of(p->leaf_anchor[j] + 1, p->leaf_level[j]);
    for (int64_t i = p->leaf_src_ptr[j]; i < p->leaf_src_ptr[j + 1]; i++)
      bad_point += p->src_key[i] < lo || p->src_key[i] >= hi;
    for (int64_t i = p->leaf_trg_ptr[j]; i < p->leaf_trg_ptr[j + 1]; i++)
      bad_point += p->trg_key[i] < lo || p->trg_key[i] >= hi;
    bad_owner += kifmm__partition_owner(p, lo) != rank || lo < p->global_first[rank] ||
                 hi > p->global_first[rank + 1];
    bad_order += j > 0 && pos_of(p->leaf_anchor[j - 1] + 1, p->leaf_level[j - 1]) > lo;
  }
  EXPECT(bad_point == 0, "%s: %d points outside their leaf", what, bad_point);
  EXPECT(bad_owner == 0, "%s: %d leaves outside the rank's global_first range", what,
         bad_owner);
  EXPECT(bad_order == 0, "%s: %d leaves overlap or are out of order", what, bad_order);
  /* global_first is the same everywhere and covers the curve in rank order */
  int64_t words = 2 * (size + 1);
  uint64_t *lo = malloc(words * sizeof(uint64_t)), *hi = malloc(words * sizeof(uint64_t));
  memcpy(lo, p->global_first, words * sizeof(uint64_t));
  memcpy(hi, p->global_first, words * sizeof(uint64_t));
  MPI_Allreduce(MPI_IN_PLACE, lo, (int)words, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, hi, (int)words, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  EXPECT(memcmp(lo, hi, words * sizeof(uint64_t)) == 0, "%s: global_first differs", what);
  free(lo);
  free(hi);
  int monotone = 1;
  for (int r = 0; r < size; r++)
    monotone &= p->global_first[r] <= p->global_first[r + 1];
  EXPECT(monotone && p->global_first[0] == 0 && p->global_first[size] == KIFMM_CURVE_END,
         "%s: global_first is not an ordered cover of the curve", what);
}

/* Every point once: counts and a checksum of global ids by reduction. */
static void check_checksum(const kifmm_partition *p, const dealt *s, const dealt *t,
                           const char *what) {
  int64_t v[4] = {p->nsrc, p->ntrg, 0, 0};
  for (int64_t i = 0; i < p->nsrc; i++) {
    int64_t g = s->offset[p->src_rank[i]] + p->src_index[i];
    v[2] += g * g + 1;
  }
  for (int64_t i = 0; i < p->ntrg; i++) {
    int64_t g = t->offset[p->trg_rank[i]] + p->trg_index[i];
    v[3] += g * g + 1;
  }
  MPI_Allreduce(MPI_IN_PLACE, v, 4, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  int64_t es = 0, et = 0;
  for (int64_t g = 0; g < s->n; g++)
    es += g * g + 1;
  for (int64_t g = 0; g < t->n; g++)
    et += g * g + 1;
  EXPECT(v[0] == s->n && v[1] == t->n, "%s: %lld sources, %lld targets held (want %lld, %lld)",
         what, (long long)v[0], (long long)v[1], (long long)s->n, (long long)t->n);
  EXPECT(v[2] == es && v[3] == et, "%s: checksum of point ids differs", what);
}

/* The points of all ranks in rank order are the serial tree's sorted points. */
static void check_points(int64_t n, const double *u, const kifmm_key *key, const int32_t *orank,
                         const int64_t *oindex, const dealt *d, const kifmm_tree *t,
                         const int64_t *perm, const double *tx, const double *ty,
                         const double *tz, const char *what) {
  int64_t nu, nk, nr, ni;
  double *all_u = gather(u, 3 * n * (int64_t)sizeof(double), &nu);
  kifmm_key *all_k = gather(key, n * (int64_t)sizeof(kifmm_key), &nk);
  int32_t *all_r = gather(orank, n * (int64_t)sizeof(int32_t), &nr);
  int64_t *all_i = gather(oindex, n * (int64_t)sizeof(int64_t), &ni);
  int64_t m = ni / (int64_t)sizeof(int64_t), wrong_id = 0, wrong_xyz = 0, unsorted = 0;
  EXPECT(m == d->n, "%s: %lld points gathered, %lld expected", what, (long long)m,
         (long long)d->n);
  for (int64_t i = 0; m == d->n && i < m; i++) {
    wrong_id += d->offset[all_r[i]] + all_i[i] != perm[i];
    wrong_xyz += all_u[3 * i] != tx[i] || all_u[3 * i + 1] != ty[i] || all_u[3 * i + 2] != tz[i];
    unsorted += i > 0 && all_k[i - 1] > all_k[i];
  }
  EXPECT(wrong_id == 0, "%s: %lld points out of the serial order", what, (long long)wrong_id);
  EXPECT(wrong_xyz == 0, "%s: %lld scaled coordinates differ", what, (long long)wrong_xyz);
  EXPECT(unsorted == 0, "%s: keys not sorted across ranks (%lld)", what, (long long)unsorted);
  (void)t;
  free(all_u);
  free(all_k);
  free(all_r);
  free(all_i);
}

typedef struct {
  kifmm_key anchor;
  int64_t level, nsrc, ntrg;
} leaf_row;

static void check_leaves(const kifmm_partition *p, const ref_leaves *ref, const char *what) {
  leaf_row *mine = calloc((size_t)(p->nleaf > 0 ? p->nleaf : 1), sizeof(*mine));
  for (int64_t j = 0; j < p->nleaf; j++)
    mine[j] = (leaf_row){p->leaf_anchor[j], p->leaf_level[j],
                         p->leaf_src_ptr[j + 1] - p->leaf_src_ptr[j],
                         p->leaf_trg_ptr[j + 1] - p->leaf_trg_ptr[j]};
  int64_t nbytes;
  leaf_row *all = gather(mine, p->nleaf * (int64_t)sizeof(*mine), &nbytes);
  int64_t n = nbytes / (int64_t)sizeof(*all), wrong = 0;
  EXPECT(n == ref->n, "%s: %lld leaves, serial tree has %lld", what, (long long)n,
         (long long)ref->n);
  for (int64_t j = 0; n == ref->n && j < n; j++)
    wrong += all[j].anchor != ref->anchor[j] || all[j].level != ref->level[j] ||
             all[j].nsrc != ref->nsrc[j] || all[j].ntrg != ref->ntrg[j];
  EXPECT(wrong == 0, "%s: %lld leaves differ from the serial tree", what, (long long)wrong);
  free(mine);
  free(all);
}

/* Serial balanced leaves as rows. */
static ref_leaves tree_leaves(const kifmm_tree *t) {
  ref_leaves r = {0};
  for (int64_t j = 0; j < t->nleaf; j++) {
    int64_t b = t->leaf_box[j];
    ref_push(&r, t->anchor[b], t->level[b], t->leaf_src_ptr[j + 1] - t->leaf_src_ptr[j],
             t->leaf_trg_ptr[j + 1] - t->leaf_trg_ptr[j]);
  }
  return r;
}

static void ref_free(ref_leaves *r) {
  free(r->anchor);
  free(r->level);
  free(r->nsrc);
  free(r->ntrg);
}

/* Largest rank share of the work over the mean share. */
static double imbalance(const kifmm_partition *p, const kifmm_partition_work *w) {
  int64_t mine = p->nsrc + p->ntrg, most = 0, total = 0;
  if (w)
    mine = w->per_source * p->nsrc + w->per_target * p->ntrg + w->per_leaf * p->nleaf;
  MPI_Allreduce(&mine, &most, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return total > 0 ? (double)most * size / (double)total : 1.0;
}

/* ---- one case ---- */
typedef struct {
  dist_kind dist;
  give_kind give;
  int64_t nsrc, ntrg;
  int ncrit, max_level;
  /* largest rank share of the work over the mean that the cut must reach (0: not checked,
   * the leaves being too coarse); 1.2 is the target on uniform input */
  double max_imbalance;
  const kifmm_partition_work *work;
  targets_kind targets;
} case_def;

static void run_case(const case_def *c) {
  int64_t ns = c->dist == DIST_EMPTY ? 0 : c->nsrc, nt = c->dist == DIST_EMPTY ? 0 : c->ntrg;
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt);
  make_points(c->dist, ns, base_seed + 11 + (uint64_t)c->dist, src);
  make_points(c->dist, nt, base_seed + 23 + (uint64_t)c->dist, trg);
  dealt ds = deal(src, ns, c->give, base_seed + 5), dt = deal(trg, nt, c->give, base_seed + 7);
  if (c->targets != TARGETS_OWN) {
    dealt own = dt;
    dt = targets_as_held(c->targets, &ds, &own);
    dealt_free(&own);
    nt = dt.n;
  }
  kifmm_tree tree;
  int st = kifmm__tree_build(&tree, ns, ds.cat, nt, dt.cat, c->ncrit, c->max_level, 1);
  EXPECT(st == KIFMM_SUCCESS, "serial tree: %s", kifmm_error_string(st));
  kifmm_key *sk = sorted_keys(ds.cat, ns, &tree), *tk = sorted_keys(dt.cat, nt, &tree);
  ref_leaves plain = {0};
  ref_refine(&plain, sk, ns, tk, nt, 0, 0, c->ncrit, c->max_level);
  ref_leaves balanced = tree_leaves(&tree);
  const double *my_src = ds.cat + 3 * ds.offset[rank], *my_trg = dt.cat + 3 * dt.offset[rank];
  int64_t my_ns = ds.offset[rank + 1] - ds.offset[rank];
  int64_t my_nt = dt.offset[rank + 1] - dt.offset[rank];
  if (same_on(c->targets, rank) && c->targets != TARGETS_COPY)
    my_trg = my_src; /* the same array; TARGETS_COPY passes dt's bitwise copy */
  for (int balance = 0; balance <= 1; balance++) {
    char what[160];
    snprintf(what, sizeof(what), "np%d %s/%s %s ncrit %d max_level %d%s%s", size,
             dist_name[c->dist], give_name[c->give], balance ? "balanced" : "unbalanced",
             c->ncrit, c->max_level, c->work ? " weighted" : "", targets_name[c->targets]);
    kifmm_partition p;
    double t0 = MPI_Wtime();
    st = kifmm__partition_create(&p, MPI_COMM_WORLD, my_ns, my_src, my_nt, my_trg, c->ncrit,
                                 c->max_level, balance, c->work);
    double dt_s = MPI_Wtime() - t0;
    EXPECT(st == KIFMM_SUCCESS, "%s: %s", what, kifmm_error_string(st));
    if (st != KIFMM_SUCCESS)
      continue;
    EXPECT(p.half == tree.half && !memcmp(p.center, tree.center, sizeof(p.center)),
           "%s: bounding box differs from the serial tree", what);
    EXPECT(p.nsrc_global == ns && p.ntrg_global == nt, "%s: global counts", what);
    check_local(&p, what);
    check_checksum(&p, &ds, &dt, what);
    check_points(p.nsrc, p.src, p.src_key, p.src_rank, p.src_index, &ds, &tree, tree.src_perm,
                 tree.sx, tree.sy, tree.sz, what);
    check_points(p.ntrg, p.trg, p.trg_key, p.trg_rank, p.trg_index, &dt, &tree, tree.trg_perm,
                 tree.tx, tree.ty, tree.tz, what);
    check_leaves(&p, balance ? &balanced : &plain, what);
    double imb = imbalance(&p, c->work);
    if (c->max_imbalance > 0)
      EXPECT(imb <= c->max_imbalance, "%s: work imbalance %.3f (at most %.2f)", what, imb,
             c->max_imbalance);
    if (rank == 0)
      printf("%-60s leaves %6lld  imbalance %.3f  %.3f s\n", what,
             (long long)(balance ? balanced.n : plain.n), imb, dt_s);
    kifmm__partition_free(&p);
  }
  ref_free(&plain);
  ref_free(&balanced);
  free(sk);
  free(tk);
  kifmm__tree_free(&tree);
  dealt_free(&ds);
  dealt_free(&dt);
  free(src);
  free(trg);
}

static void check_bad_input(void) {
  kifmm_partition p;
  double x[3] = {0, 0, 0};
  EXPECT_STATUS(kifmm__partition_create(&p, MPI_COMM_WORLD, 1, x, 1, x, 0, 10, 0, NULL),
                KIFMM_ERR_INVALID_NCRIT);
  EXPECT_STATUS(kifmm__partition_create(&p, MPI_COMM_WORLD, 1, x, 1, x, 8, 43, 0, NULL),
                KIFMM_ERR_INVALID_MAX_LEVEL);
  EXPECT_STATUS(kifmm__partition_create(&p, MPI_COMM_WORLD, 1, x, 1, NULL, 8, 10, 0, NULL),
                KIFMM_ERR_NULL_ARGUMENT);
  const kifmm_partition_work negative = {1, -1, 0}, huge = {1, 1, KIFMM_PARTITION_WORK_MAX + 1};
  EXPECT_STATUS(kifmm__partition_create(&p, MPI_COMM_WORLD, 1, x, 1, x, 8, 10, 0, &negative),
                KIFMM_ERR_INVALID_COUNT);
  EXPECT_STATUS(kifmm__partition_create(&p, MPI_COMM_WORLD, 1, x, 1, x, 8, 10, 0, &huge),
                KIFMM_ERR_INVALID_COUNT);
  /* one rank's bad input fails the call on every rank, so none is left in a collective */
  EXPECT_STATUS(kifmm__partition_create(&p, MPI_COMM_WORLD, rank == size - 1 ? -1 : 1, x, 1, x,
                                        8, 10, 0, NULL),
                KIFMM_ERR_INVALID_COUNT);
  EXPECT(p.nleaf == 0 && p.global_first == NULL, "a failed call leaves the partition empty");
  kifmm__partition_free(&p);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc > 1)
    base_seed = strtoull(argv[1], NULL, 10) * 1000;
  check_bad_input();
  /* targets only (sources free), and a per-leaf cost on top of the points */
  static const kifmm_partition_work targets_only = {0, 1, 0}, with_leaves = {1, 2, 200};
  const case_def cases[] = {
      {DIST_CUBE, GIVE_BLOCK, 12000, 8000, 32, KIFMM_MAX_LEVEL, 1.2, NULL, TARGETS_OWN},
      {DIST_CUBE, GIVE_RANDOM, 12000, 8000, 32, KIFMM_MAX_LEVEL, 1.2, NULL, TARGETS_OWN},
      {DIST_CUBE, GIVE_RANK0, 12000, 8000, 32, KIFMM_MAX_LEVEL, 1.2, NULL, TARGETS_OWN},
      {DIST_CUBE, GIVE_LAST_EMPTY, 12000, 8000, 32, KIFMM_MAX_LEVEL, 1.2, NULL, TARGETS_OWN},
      {DIST_CUBE, GIVE_RANDOM, 4000, 16000, 32, KIFMM_MAX_LEVEL, 1.2, &targets_only, TARGETS_OWN},
      {DIST_CUBE, GIVE_RANK0, 12000, 8000, 32, KIFMM_MAX_LEVEL, 1.2, &with_leaves, TARGETS_OWN},
      /* the extra leaves of 2:1 balance carry per_leaf work: only a cut after balance
       * spreads them (a cut before it leaves 1.2 or worse here) */
      {DIST_CLUSTER, GIVE_BLOCK, 6000, 3000, 20, KIFMM_MAX_LEVEL, 1.05, &with_leaves, TARGETS_OWN},
      {DIST_CLUSTER, GIVE_RANDOM, 6000, 3000, 20, KIFMM_MAX_LEVEL, 1.2, NULL, TARGETS_OWN},
      {DIST_CLUSTER, GIVE_LAST_EMPTY, 6000, 3000, 20, KIFMM_MAX_LEVEL, 1.2, NULL, TARGETS_OWN},
      {DIST_DUPLICATES, GIVE_RANDOM, 3000, 2000, 16, 7, 0, NULL, TARGETS_OWN},
      {DIST_DUPLICATES, GIVE_BLOCK, 3000, 2000, 16, 7, 0, NULL, TARGETS_OWN},
      {DIST_CUBE, GIVE_RANDOM, 1, 0, 1, KIFMM_MAX_LEVEL, 0, NULL, TARGETS_OWN}, /* one point */
      {DIST_CUBE, GIVE_BLOCK, 300, 200, 1000, KIFMM_MAX_LEVEL, 0, NULL, TARGETS_OWN}, /* root leaf only */
      {DIST_EMPTY, GIVE_BLOCK, 0, 0, 8, KIFMM_MAX_LEVEL, 0, NULL, TARGETS_OWN},
      /* targets that are the sources: the serial tree's points and leaves all the same */
      {DIST_CUBE, GIVE_RANDOM, 12000, 0, 32, KIFMM_MAX_LEVEL, 1.2, NULL, TARGETS_SAME},
      {DIST_CUBE, GIVE_LAST_EMPTY, 12000, 0, 32, KIFMM_MAX_LEVEL, 1.2, NULL, TARGETS_COPY},
      {DIST_CLUSTER, GIVE_BLOCK, 6000, 3000, 20, KIFMM_MAX_LEVEL, 1.05, &with_leaves,
       TARGETS_SAME},
      {DIST_CLUSTER, GIVE_RANDOM, 6000, 3000, 20, KIFMM_MAX_LEVEL, 1.2, &targets_only,
       TARGETS_SAME_EVEN},
      {DIST_DUPLICATES, GIVE_RANDOM, 3000, 2000, 16, 7, 0, NULL, TARGETS_SAME_EVEN},
      {DIST_DUPLICATES, GIVE_BLOCK, 3000, 0, 16, 7, 0, NULL, TARGETS_COPY},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    run_case(&cases[i]);
  int failed = tu_failures;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("test_partition np%d: %s (%d failed expectations over all ranks)\n", size,
           failed ? "FAILED" : "ok", failed);
  MPI_Finalize();
  return failed ? 1 : 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* Distributed partition: every rank's points are scaled by the global bounding box, sample
 * sorted along the Z curve, refined into the global octree's leaves and cut between leaves.
 * Its output (local Morton-sorted points plus leaves) is what a distributed plan starts from. */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "mpi/partition.h"

#define MPI_CALL(call)                 \
  do {                                 \
    if ((call) != MPI_SUCCESS)         \
      return KIFMM_ERR_MPI;            \
  } while (0)

/* Samples per rank in the sample sort: more give buckets closer to N / size; the leaf cut
 * that follows fixes the balance anyway, so this only bounds memory in between. */
#define OVERSAMPLE 32

/* One point in flight between ranks. Ties in the key are broken by (rank, kind, index), which
 * is the order the serial sort gives the ranks' inputs concatenated in rank order, and makes
 * every record distinct so that duplicated points can still be split between ranks. Where a
 * rank's targets are its sources (a particle code's case), one record of kind KIND_BOTH
 * stands for the point as both: half the records to key, sort and move, and each kind's
 * points still come out in (key, rank, index) order. */
enum { KIND_SOURCE = 0, KIND_TARGET = 1, KIND_BOTH = 2 };

typedef struct {
  kifmm_key key;
  double u[3];
  int64_t index;
  int32_t rank;
  int32_t kind; /* KIND_SOURCE, KIND_TARGET or KIND_BOTH */
} point_rec;

/* A box, used for the boundary boxes and for 2:1 balance requests. */
typedef struct {
  kifmm_key anchor;
  int64_t level;
} box_id;

typedef struct {
  int64_t n, cap;
  kifmm_key *anchor;
  int8_t *level;
  int64_t *begin, *end; /* range in the local records */
  int64_t *weight;      /* estimated work, from the global counts */
} leaf_list;

/* First and last key of one rank's records (n == 0: none). */
typedef struct {
  kifmm_key first, last;
  int64_t n;
} rank_range;

typedef struct {
  MPI_Comm comm;
  int rank, size;
  int ncrit, max_level;
  kifmm_partition_work work;
  const kifmm_partition_cell *cell; /* periodic plans: the root is this cell; NULL otherwise */
  MPI_Datatype rec_type, box_type, leaf_type;
  point_rec *pt;
  int64_t n, cap;
  /* A second record array, kept between the exchanges and merges that need one: fresh
   * memory costs a page fault a page (2 us a 4 KB page measured on a KVM guest, 25 ms per 1e6
   * records), so the pipeline reuses two arrays instead of faulting in a new one each step. */
  point_rec *spare;
  int64_t spare_cap;
  int64_t *src_before; /* n + 1: sources among the first i records */
  int64_t *all_before; /* n + 1: sources + targets among the first i records */
  leaf_list leaf;
  rank_range *range; /* size */
  kifmm_key *global_first; /* size + 1 */
} part_state;

/* ---- small helpers ---- */
int kifmm__mpi_agree(MPI_Comm comm, int status) {
  int worst = status;
  if (MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
    return KIFMM_ERR_MPI;
  return worst;
}

static kifmm_key curve_position(kifmm_key anchor, int level) {
  return anchor << 3 * (KIFMM_KEY_BITS - level);
}

static kifmm_key curve_end(kifmm_key anchor, int level) {
  return (anchor + 1) << 3 * (KIFMM_KEY_BITS - level);
}

static int rec_compare(const point_rec *a, const point_rec *b) {
  if (a->key != b->key)
    return a->key < b->key ? -1 : 1;
  if (a->rank != b->rank)
    return a->rank < b->rank ? -1 : 1;
  if (a->kind != b->kind)
    return a->kind < b->kind ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

static int rec_compare_void(const void *a, const void *b) { return rec_compare(a, b); }

static int box_compare(const void *pa, const void *pb) {
  const box_id *a = pa, *b = pb;
  if (a->level != b->level)
    return a->level < b->level ? -1 : 1;
  return (a->anchor > b->anchor) - (a->anchor < b->anchor);
}

/* First record in [lo, hi) whose key is >= value. */
static int64_t key_lower_bound(const point_rec *pt, int64_t lo, int64_t hi, kifmm_key value) {
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (pt[mid].key < value)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* First record in [0, n) that is not below *value in the record order. */
static int64_t rec_lower_bound(const point_rec *pt, int64_t n, const point_rec *value) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (rec_compare(&pt[mid], value) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int kifmm__partition_owner(const kifmm_partition *p, kifmm_key pos) {
  int lo = 0, hi = p->size + 1; /* last r with global_first[r] <= pos */
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    if (p->global_first[mid] <= pos)
      lo = mid;
    else
      hi = mid;
  }
  return lo < p->size ? lo : p->size - 1;
}

static int owner_of(const part_state *s, kifmm_key pos) {
  kifmm_partition view = {.size = s->size, .global_first = s->global_first};
  return kifmm__partition_owner(&view, pos);
}

/* ---- bounding box ---- */
int kifmm__global_bounds(MPI_Comm comm, int64_t nsrc, const double *src, int64_t ntrg,
                         const double *trg, double center[3], double *half) {
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  double glo[3], ghi[3];
  kifmm__bounds_extend(nsrc, src, lo, hi);
  kifmm__bounds_extend(ntrg, trg, lo, hi);
  int64_t n = nsrc + ntrg, ng = 0;
  MPI_CALL(MPI_Allreduce(lo, glo, 3, MPI_DOUBLE, MPI_MIN, comm));
  MPI_CALL(MPI_Allreduce(hi, ghi, 3, MPI_DOUBLE, MPI_MAX, comm));
  MPI_CALL(MPI_Allreduce(&n, &ng, 1, MPI_INT64_T, MPI_SUM, comm));
  kifmm__bounds_finish(glo, ghi, ng, center, half);
  return KIFMM_SUCCESS;
}

/* ---- local records ---- */
/* Scaled coordinates as the serial tree computes them: by the bounding box, or in the cell
 * (wrapped along its periodic axes), so that every rank's points get the serial keys. */
static double scale_coord(const part_state *s, double x, int d, const double center[3],
                          double half) {
  const kifmm_partition_cell *c = s->cell;
  return c ? kifmm__cell_scaled(x, c->origin[d], c->length, c->periodic[d])
           : kifmm__scaled(x, center[d], half);
}

/* The caller's points as records: input i < nsrc is source i, then the targets; where the
 * targets are the sources, the sources alone, each as KIND_BOTH. */
typedef struct {
  const part_state *s;
  const double *src, *trg, *center;
  double half;
  int64_t nsrc;
  int both;
} record_input;

static void input_scaled(const record_input *in, int64_t i, double u[3]) {
  const double *x = i < in->nsrc ? in->src + 3 * i : in->trg + 3 * (i - in->nsrc);
  for (int d = 0; d < 3; d++)
    u[d] = scale_coord(in->s, x[d], d, in->center, in->half);
}

static kifmm_key input_key(int64_t i, const void *in) {
  double u[3];
  input_scaled(in, i, u);
  return kifmm__point_key(u);
}

static void input_record(const record_input *in, int64_t i, point_rec *r) {
  input_scaled(in, i, r->u);
  r->key = kifmm__point_key(r->u);
  r->index = i < in->nsrc ? i : i - in->nsrc;
  r->rank = in->s->rank;
  r->kind = in->both ? KIND_BOTH : (i < in->nsrc ? KIND_SOURCE : KIND_TARGET);
}

/* The same array, or a copy of it in the same order (bitwise, so the same keys). */
static int targets_are_sources(int64_t nsrc, const double *src, int64_t ntrg,
                               const double *trg) {
  return nsrc == ntrg &&
         (nsrc == 0 || src == trg || memcmp(src, trg, 3 * (size_t)nsrc * sizeof(double)) == 0);
}

/* The local records sorted stably by key, so (key, kind, index). As in the serial tree, the
 * radix sort runs on the keys' 48-bit prefixes, only runs of equal prefixes compare full
 * keys, and each record is made once, in its sorted place (no record array to permute). */
static int make_records(part_state *s, int64_t nsrc, const double *src, int64_t ntrg,
                        const double *trg, const double center[3], double half) {
  const record_input in = {s, src, trg, center, half, nsrc,
                           targets_are_sources(nsrc, src, ntrg, trg)};
  const int64_t n = in.both ? nsrc : nsrc + ntrg;
  uint64_t *prefix = NULL;
  int64_t *idx = NULL;
  int status = kifmm__calloc((void **)&prefix, (size_t)n + 1, sizeof(*prefix));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&idx, (size_t)n + 1, sizeof(*idx));
  if (status == KIFMM_SUCCESS) {
    for (int64_t i = 0; i < n; i++) {
      double u[3];
      input_scaled(&in, i, u);
      prefix[i] = kifmm__point_prefix(u);
      idx[i] = i;
    }
    status = kifmm__radix_sort(prefix, idx, n, KIFMM_PREFIX_BITS, NULL, NULL, 1);
  }
  if (status == KIFMM_SUCCESS)
    status = kifmm__sort_prefix_runs(prefix, idx, n, input_key, &in);
  free(prefix);
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&s->pt, (size_t)n + 1, sizeof(*s->pt));
  if (status == KIFMM_SUCCESS) {
    s->n = n;
    s->cap = n + 1;
    enum { AHEAD = 16 }; /* the input is read out of order: keep its misses in flight */
    for (int64_t i = 0; i < n; i++) {
      if (i + AHEAD < n) {
        const int64_t j = idx[i + AHEAD];
        __builtin_prefetch(j < nsrc ? src + 3 * j : trg + 3 * (j - nsrc));
      }
      input_record(&in, idx[i], &s->pt[i]);
    }
  }
  free(idx);
  return status;
}

/* ---- moving records ---- */
static int counts_to_int(const int64_t *c64, int *c, int *displ, int size) {
  int64_t total = 0;
  for (int r = 0; r < size; r++) {
    if (c64[r] > INT_MAX || total > INT_MAX - c64[r])
      return KIFMM_ERR_TOO_MANY_POINTS; /* MPI counts are int */
    c[r] = (int)c64[r];
    displ[r] = (int)total;
    total += c64[r];
  }
  return KIFMM_SUCCESS;
}

/* Collective MPI_Alltoallv of sendcount[r] consecutive elements of `out` (type t, elem bytes)
 * to each rank r; *in gets what arrives, concatenated in sender rank order. status is this
 * rank's state so far (nothing is sent unless every rank is fine); all return the worst. */
static int alltoallv(MPI_Comm comm, int size, int status, const void *out,
                     const int64_t *sendcount, MPI_Datatype t, size_t elem, void *reuse,
                     int64_t reuse_cap, void **in, int64_t *nin) {
  int64_t *recvcount = NULL;
  int *c = NULL; /* send counts, send displacements, receive counts, receive displacements */
  *in = NULL;
  *nin = 0;
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&recvcount, (size_t)size, sizeof(*recvcount));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&c, 4 * (size_t)size, sizeof(*c));
  status = kifmm__mpi_agree(comm, status);
  if (status == KIFMM_SUCCESS &&
      MPI_Alltoall(sendcount, 1, MPI_INT64_T, recvcount, 1, MPI_INT64_T, comm) != MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  for (int r = 0; status == KIFMM_SUCCESS && r < size; r++)
    *nin += recvcount[r];
  if (status == KIFMM_SUCCESS)
    status = counts_to_int(sendcount, c, c + size, size);
  if (status == KIFMM_SUCCESS)
    status = counts_to_int(recvcount, c + 2 * size, c + 3 * size, size);
  if (status == KIFMM_SUCCESS && *nin <= reuse_cap)
    *in = reuse;
  else if (status == KIFMM_SUCCESS)
    status = kifmm__calloc(in, (size_t)*nin, elem);
  status = kifmm__mpi_agree(comm, status);
  if (status == KIFMM_SUCCESS && MPI_Alltoallv(out, c, c + size, t, *in, c + 2 * size,
                                               c + 3 * size, t, comm) != MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  free(recvcount);
  free(c);
  return status;
}

/* The spare array becomes the records and the records the spare (cap: the new records'). */
static void swap_spare(part_state *s, point_rec *pt, int64_t cap) {
  if (pt != s->spare) { /* a fresh array: the spare is too small, let it go */
    free(s->spare);
    s->spare = pt;
    s->spare_cap = cap;
  }
  point_rec *old = s->pt;
  int64_t old_cap = s->cap;
  s->pt = s->spare;
  s->cap = s->spare_cap;
  s->spare = old;
  s->spare_cap = old_cap;
}

/* Send sendcount[r] consecutive local records to rank r (see alltoallv), received into the
 * spare array where it is large enough. */
static int exchange(part_state *s, int status, const int64_t *sendcount) {
  void *in = NULL;
  int64_t nin = 0;
  status = alltoallv(s->comm, s->size, status, s->pt, sendcount, s->rec_type, sizeof(point_rec),
                     s->spare, s->spare_cap, &in, &nin);
  if (status != KIFMM_SUCCESS) {
    if (in != s->spare)
      free(in);
    return status;
  }
  swap_spare(s, in, nin);
  s->n = nin;
  return KIFMM_SUCCESS;
}

/* ---- parallel sort ---- */
/* Regular samples, as many per rank as its share of the points asks for, gathered on every
 * rank (O(OVERSAMPLE * size) records, never the point set). */
static int gather_samples(part_state *s, int64_t nglobal, point_rec **all, int *nall) {
  int64_t want = s->n == 0 ? 0
                           : (int64_t)ceil((double)OVERSAMPLE * s->size * (double)s->n /
                                           (double)nglobal);
  int ns = (int)(want < s->n ? want : s->n), status = KIFMM_SUCCESS;
  int *count = NULL, *displ = NULL;
  point_rec *mine = NULL;
  if (kifmm__calloc((void **)&count, (size_t)s->size, sizeof(int)) != KIFMM_SUCCESS ||
      kifmm__calloc((void **)&displ, (size_t)s->size, sizeof(int)) != KIFMM_SUCCESS ||
      kifmm__calloc((void **)&mine, (size_t)ns, sizeof(*mine)) != KIFMM_SUCCESS)
    status = KIFMM_ERR_OUT_OF_MEMORY;
  for (int j = 0; status == KIFMM_SUCCESS && j < ns; j++)
    mine[j] = s->pt[(2 * (int64_t)j + 1) * s->n / (2 * (int64_t)ns)];
  status = kifmm__mpi_agree(s->comm, status);
  if (status == KIFMM_SUCCESS &&
      MPI_Allgather(&ns, 1, MPI_INT, count, 1, MPI_INT, s->comm) != MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  int64_t total = 0;
  for (int r = 0; status == KIFMM_SUCCESS && r < s->size; r++) {
    displ[r] = (int)total;
    total += count[r];
  }
  if (status == KIFMM_SUCCESS && total > INT_MAX)
    status = KIFMM_ERR_TOO_MANY_POINTS; /* the same on every rank */
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)all, (size_t)total, sizeof(**all));
  status = kifmm__mpi_agree(s->comm, status);
  if (status == KIFMM_SUCCESS &&
      MPI_Allgatherv(mine, ns, s->rec_type, *all, count, displ, s->rec_type, s->comm) !=
          MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  *nall = (int)total;
  free(count);
  free(displ);
  free(mine);
  return status;
}

/* Merges the sorted runs [lo, mid) and [mid, hi) of a into out, stably by key. */
static void merge_runs(const point_rec *a, int64_t lo, int64_t mid, int64_t hi, point_rec *out) {
  int64_t i = lo, j = mid, k = lo;
  while (i < mid && j < hi)
    out[k++] = a[j].key < a[i].key ? a[j++] : a[i++];
  while (i < mid)
    out[k++] = a[i++];
  while (j < hi)
    out[k++] = a[j++];
}

/* The records are sorted runs, one per sender (sorted by key, ties in their order): merged
 * pairwise, stably, which keeps the record order (an earlier run comes from a lower rank), at
 * log2(runs) sequential passes instead of a full sort. Runs are found as the stretches
 * without a descent, so consecutive senders already in order count as one. */
static int merge_sorted_runs(part_state *s) {
  int64_t *start = NULL, nrun = 0;
  int status = kifmm__calloc((void **)&start, (size_t)s->n + 2, sizeof(*start));
  for (int64_t i = 0; status == KIFMM_SUCCESS && i < s->n; i++)
    if (i == 0 || s->pt[i].key < s->pt[i - 1].key)
      start[nrun++] = i;
  if (status == KIFMM_SUCCESS) {
    start[nrun] = s->n;
    if (nrun > 1 && s->spare_cap < s->n) {
      free(s->spare);
      s->spare = NULL;
      s->spare_cap = 0;
      status = kifmm__calloc((void **)&s->spare, (size_t)s->n, sizeof(*s->spare));
      if (status == KIFMM_SUCCESS)
        s->spare_cap = s->n;
    }
  }
  while (status == KIFMM_SUCCESS && nrun > 1) {
    int64_t m = 0;
    for (int64_t r = 0; r < nrun; r += 2, m++) {
      int64_t hi = r + 2 <= nrun ? start[r + 2] : start[r + 1];
      merge_runs(s->pt, start[r], start[r + 1], hi, s->spare);
      start[m] = start[r];
    }
    start[m] = s->n;
    nrun = m;
    swap_spare(s, s->spare, s->spare_cap);
  }
  free(start);
  return status;
}

/* Sample sort: afterwards the local records are sorted and every record on rank r precedes
 * every record on rank r + 1 in the record order. */
static int parallel_sort(part_state *s) {
  int64_t nglobal = 0;
  MPI_CALL(MPI_Allreduce(&s->n, &nglobal, 1, MPI_INT64_T, MPI_SUM, s->comm));
  if (s->size == 1 || nglobal == 0)
    return KIFMM_SUCCESS;
  point_rec *sample = NULL;
  int nsample = 0;
  int64_t *sendcount = NULL;
  int status = gather_samples(s, nglobal, &sample, &nsample);
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&sendcount, (size_t)s->size, sizeof(*sendcount));
  if (status == KIFMM_SUCCESS) {
    qsort(sample, (size_t)nsample, sizeof(*sample), rec_compare_void);
    int64_t begin = 0;
    for (int r = 0; r < s->size; r++) { /* bucket r starts at splitter r (r > 0) */
      int64_t end = s->n;
      if (r + 1 < s->size)
        end = rec_lower_bound(s->pt, s->n, &sample[(int64_t)(r + 1) * nsample / s->size]);
      sendcount[r] = end - begin;
      begin = end;
    }
  }
  free(sample);
  status = exchange(s, status, sendcount);
  free(sendcount);
  /* chunks arrive in sender (= origin) rank order, each in (key, kind, index) order */
  if (status == KIFMM_SUCCESS)
    status = merge_sorted_runs(s);
  return kifmm__mpi_agree(s->comm, status);
}

/* ---- leaves ---- */
static void leaves_free(leaf_list *l) {
  free(l->anchor);
  free(l->level);
  free(l->begin);
  free(l->end);
  free(l->weight);
  memset(l, 0, sizeof(*l));
}

static int leaves_push(leaf_list *l, kifmm_key anchor, int level, int64_t begin, int64_t end,
                       int64_t weight) {
  if (l->n == l->cap) {
    int64_t cap = l->cap ? 2 * l->cap : 64;
    kifmm_key *a = realloc(l->anchor, (size_t)cap * sizeof(*a));
    if (a)
      l->anchor = a;
    int8_t *v = realloc(l->level, (size_t)cap * sizeof(*v));
    if (v)
      l->level = v;
    int64_t *b = realloc(l->begin, (size_t)cap * sizeof(*b));
    if (b)
      l->begin = b;
    int64_t *e = realloc(l->end, (size_t)cap * sizeof(*e));
    if (e)
      l->end = e;
    int64_t *w = realloc(l->weight, (size_t)cap * sizeof(*w));
    if (w)
      l->weight = w;
    if (!a || !v || !b || !e || !w)
      return KIFMM_ERR_OUT_OF_MEMORY;
    l->cap = cap;
  }
  int64_t i = l->n++;
  l->anchor[i] = anchor;
  l->level[i] = (int8_t)level;
  l->begin[i] = begin;
  l->end[i] = end;
  l->weight[i] = weight;
  return KIFMM_SUCCESS;
}

static int gather_ranges(part_state *s) {
  rank_range mine = {0, 0, s->n};
  if (s->n > 0) {
    mine.first = s->pt[0].key;
    mine.last = s->pt[s->n - 1].key;
  }
  MPI_CALL(MPI_Allgather(&mine, (int)sizeof(mine), MPI_BYTE, s->range, (int)sizeof(mine),
                         MPI_BYTE, s->comm));
  return KIFMM_SUCCESS;
}

/* Boxes that may hold points of more than one rank: a box holding local points and points
 * of another rank holds this rank's first or last key, since ranks hold consecutive key
 * ranges. So the ancestors of every rank's end keys, O(size * depth) boxes, are all the
 * boxes whose count needs a reduction; every rank lists the same ones in the same order. */
static int boundary_boxes(const part_state *s, box_id **out, int64_t *nout) {
  int64_t cap = 2 * (int64_t)s->size * (s->max_level + 1), n = 0;
  box_id *box;
  ALLOC(box, cap > 0 ? cap : 1);
  for (int r = 0; r < s->size; r++) {
    if (s->range[r].n == 0)
      continue;
    for (int end = 0; end < 2; end++) {
      kifmm_key key = end ? s->range[r].last : s->range[r].first;
      for (int l = 0; l <= s->max_level; l++)
        box[n++] = (box_id){key >> 3 * (KIFMM_KEY_BITS - l), l};
    }
  }
  qsort(box, (size_t)n, sizeof(*box), box_compare);
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (m == 0 || box_compare(&box[m - 1], &box[i]) != 0)
      box[m++] = box[i];
  *out = box;
  *nout = m;
  return KIFMM_SUCCESS;
}

/* Sources and all points of a box. */
typedef struct {
  int64_t src, all;
} tally;

static tally range_tally(const part_state *s, int64_t b, int64_t e) {
  return (tally){s->src_before[e] - s->src_before[b], s->all_before[e] - s->all_before[b]};
}

/* Prefix counts of the records: sources, and sources + targets (a KIND_BOTH record is one
 * of each). */
static int count_kinds(part_state *s) {
  free(s->src_before);
  free(s->all_before);
  s->all_before = NULL;
  ALLOC(s->src_before, s->n + 1);
  ALLOC(s->all_before, s->n + 1);
  for (int64_t i = 0; i < s->n; i++) {
    const int kind = s->pt[i].kind;
    s->src_before[i + 1] = s->src_before[i] + (kind != KIND_TARGET);
    s->all_before[i + 1] = s->all_before[i] + (kind == KIND_BOTH ? 2 : 1);
  }
  return KIFMM_SUCCESS;
}

static int global_counts(const part_state *s, const box_id *box, int64_t nbox, tally *count) {
  tally *mine = NULL;
  int status = nbox > INT_MAX / 2 ? KIFMM_ERR_TOO_MANY_POINTS
                                  : kifmm__calloc((void **)&mine, (size_t)nbox, sizeof(*mine));
  for (int64_t i = 0; status == KIFMM_SUCCESS && i < nbox; i++) {
    kifmm_key lo = curve_position(box[i].anchor, (int)box[i].level);
    kifmm_key hi = curve_end(box[i].anchor, (int)box[i].level);
    mine[i] = range_tally(s, key_lower_bound(s->pt, 0, s->n, lo),
                          key_lower_bound(s->pt, 0, s->n, hi));
  }
  status = kifmm__mpi_agree(s->comm, status);
  if (status == KIFMM_SUCCESS &&
      MPI_Allreduce(mine, count, 2 * (int)nbox, MPI_INT64_T, MPI_SUM, s->comm) != MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  free(mine);
  return status;
}

/* Counts of a box holding local records [b, e): global when it is a boundary box. */
static tally box_tally(const part_state *s, const box_id *bbox, const tally *bcount, int64_t nb,
                       kifmm_key anchor, int level, int64_t b, int64_t e) {
  box_id key = {anchor, level};
  const box_id *hit = bsearch(&key, bbox, (size_t)nb, sizeof(*bbox), box_compare);
  return hit ? bcount[hit - bbox] : range_tally(s, b, e);
}

static int64_t leaf_work(const kifmm_partition_work *w, tally t) {
  return w->per_source * t.src + w->per_target * (t.all - t.src) + w->per_leaf;
}

typedef struct {
  kifmm_key anchor;
  int level;
  int64_t begin, end;
} box_range;

/* Depth-first over the local records, children pushed last octant first, so that leaves come
 * out in curve order; the stack holds at most 8 boxes per level. */
static int refine_local(part_state *s, const box_id *bbox, const tally *bcount, int64_t nb) {
  box_range stack[8 * (KIFMM_MAX_LEVEL + 1)];
  int top = 0;
  if (s->n > 0)
    stack[top++] = (box_range){0, 0, 0, s->n};
  while (top > 0) {
    box_range b = stack[--top];
    tally t = box_tally(s, bbox, bcount, nb, b.anchor, b.level, b.begin, b.end);
    if (t.all <= s->ncrit || b.level >= s->max_level) {
      CHECK(leaves_push(&s->leaf, b.anchor, b.level, b.begin, b.end, leaf_work(&s->work, t)));
      continue;
    }
    int64_t cut[9];
    cut[0] = b.begin;
    cut[8] = b.end;
    for (unsigned o = 1; o < 8; o++)
      cut[o] = key_lower_bound(s->pt, cut[o - 1], b.end,
                               curve_position(b.anchor << 3 | o, b.level + 1));
    for (int o = 7; o >= 0; o--)
      if (cut[o + 1] > cut[o])
        stack[top++] = (box_range){b.anchor << 3 | (unsigned)o, b.level + 1, cut[o], cut[o + 1]};
  }
  return KIFMM_SUCCESS;
}

/* The leaves of the global tree that hold local records (a leaf holding records of several
 * ranks appears on each of them, with its global weight). */
static int find_leaves(part_state *s) {
  leaves_free(&s->leaf);
  CHECK(gather_ranges(s));
  box_id *bbox = NULL;
  tally *bcount = NULL;
  int64_t nb = 0, nglobal = 0;
  int status = count_kinds(s);
  if (status == KIFMM_SUCCESS)
    status = boundary_boxes(s, &bbox, &nb);
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&bcount, (size_t)(nb > 0 ? nb : 1), sizeof(*bcount));
  status = kifmm__mpi_agree(s->comm, status);
  if (status == KIFMM_SUCCESS)
    status = global_counts(s, bbox, nb, bcount);
  if (status == KIFMM_SUCCESS)
    status = refine_local(s, bbox, bcount, nb);
  for (int r = 0; r < s->size; r++)
    nglobal += s->range[r].n;
  if (status == KIFMM_SUCCESS && nglobal == 0 && s->rank == 0)
    status = leaves_push(&s->leaf, 0, 0, 0, 0, s->work.per_leaf); /* no points: the root alone */
  free(bbox);
  free(bcount);
  return kifmm__mpi_agree(s->comm, status);
}

/* ---- cutting between leaves ---- */
/* A leaf is counted by the rank holding its first point; only the first local leaf can have
 * started on an earlier rank. */
static int first_leaf_shared(const part_state *s) {
  if (s->leaf.n == 0)
    return 0;
  kifmm_key start = curve_position(s->leaf.anchor[0], s->leaf.level[0]);
  for (int r = s->rank - 1; r >= 0; r--)
    if (s->range[r].n > 0)
      return s->range[r].last >= start;
  return 0;
}

/* Rank for a leaf whose work spans [before, before + weight) of the total: the one whose
 * equal share holds the leaf's midpoint. */
static int leaf_destination(int64_t before, int64_t weight, int64_t total, int size) {
  if (total == 0)
    return 0;
  unsigned __int128 mid2 = (unsigned __int128)(2 * before + weight) * (unsigned)size;
  int64_t r = (int64_t)(mid2 / (unsigned __int128)(2 * total));
  return r < size ? (int)r : size - 1;
}

/* Where each local leaf goes, from the work before it on the curve. `shared`: the first local
 * leaf started on an earlier rank, which counted it. */
static int leaf_destinations(const part_state *s, int shared, int *dest) {
  int64_t work = 0, before = 0, total = 0;
  for (int64_t j = shared; j < s->leaf.n; j++)
    work += s->leaf.weight[j];
  MPI_CALL(MPI_Exscan(&work, &before, 1, MPI_INT64_T, MPI_SUM, s->comm));
  MPI_CALL(MPI_Allreduce(&work, &total, 1, MPI_INT64_T, MPI_SUM, s->comm));
  if (s->rank == 0)
    before = 0; /* MPI_Exscan leaves it undefined there */
  /* the shared leaf's counting rank and all ranks between hold no other counted leaf, so
   * everything counted before it is what precedes this rank minus the leaf itself */
  int64_t at = shared ? before - s->leaf.weight[0] : before;
  for (int64_t j = 0; j < s->leaf.n; j++) {
    dest[j] = leaf_destination(at, s->leaf.weight[j], total, s->size);
    at += s->leaf.weight[j];
  }
  return KIFMM_SUCCESS;
}

/* Move the points so that the work is even and no leaf straddles ranks. */
static int cut_between_leaves(part_state *s) {
  int64_t *sendcount = NULL;
  int *dest = NULL;
  int status = kifmm__calloc((void **)&sendcount, (size_t)s->size, sizeof(*sendcount));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&dest, (size_t)s->leaf.n, sizeof(*dest));
  status = kifmm__mpi_agree(s->comm, status);
  if (status == KIFMM_SUCCESS)
    status = leaf_destinations(s, first_leaf_shared(s), dest);
  for (int64_t j = 0; status == KIFMM_SUCCESS && j < s->leaf.n; j++)
    sendcount[dest[j]] += s->leaf.end[j] - s->leaf.begin[j];
  /* destinations grow along the curve, so the received chunks are already in order */
  status = exchange(s, status, sendcount);
  free(sendcount);
  free(dest);
  return status;
}

/* A leaf travelling with its points. */
typedef struct {
  kifmm_key anchor;
  int64_t level, npoint;
} leaf_msg;

/* The received leaves, in the order of the received points. */
static int leaves_from_messages(part_state *s, const leaf_msg *m, int64_t n) {
  leaves_free(&s->leaf);
  int64_t at = 0;
  for (int64_t j = 0; j < n; j++) {
    CHECK(leaves_push(&s->leaf, m[j].anchor, (int)m[j].level, at, at + m[j].npoint, 0));
    at += m[j].npoint;
  }
  assert(at == s->n); /* leaves and points went to the same ranks in the same order */
  return KIFMM_SUCCESS;
}

/* 2:1 balance adds leaves where the tree is already fine, so the work model (per_leaf) sees
 * more work there: cut again, now that every leaf lies on one rank, sending the leaves along
 * with their points. */
static int recut_balanced(part_state *s) {
  int64_t *sendcount = NULL, *leafcount = NULL, nin = 0;
  int *dest = NULL;
  leaf_msg *out = NULL;
  void *in = NULL;
  int status = count_kinds(s);
  if (status == KIFMM_SUCCESS &&
      (kifmm__calloc((void **)&sendcount, (size_t)s->size, sizeof(int64_t)) != 0 ||
       kifmm__calloc((void **)&leafcount, (size_t)s->size, sizeof(int64_t)) != 0 ||
       kifmm__calloc((void **)&dest, (size_t)s->leaf.n, sizeof(int)) != 0 ||
       kifmm__calloc((void **)&out, (size_t)s->leaf.n, sizeof(*out)) != 0))
    status = KIFMM_ERR_OUT_OF_MEMORY;
  status = kifmm__mpi_agree(s->comm, status);
  for (int64_t j = 0; status == KIFMM_SUCCESS && j < s->leaf.n; j++)
    s->leaf.weight[j] = leaf_work(&s->work, range_tally(s, s->leaf.begin[j], s->leaf.end[j]));
  if (status == KIFMM_SUCCESS)
    status = leaf_destinations(s, 0, dest);
  for (int64_t j = 0; status == KIFMM_SUCCESS && j < s->leaf.n; j++) {
    out[j] = (leaf_msg){s->leaf.anchor[j], s->leaf.level[j], s->leaf.end[j] - s->leaf.begin[j]};
    sendcount[dest[j]] += out[j].npoint;
    leafcount[dest[j]]++;
  }
  status = exchange(s, status, sendcount);
  status = alltoallv(s->comm, s->size, status, out, leafcount, s->leaf_type, sizeof(leaf_msg),
                     NULL, 0, &in, &nin);
  if (status == KIFMM_SUCCESS)
    status = leaves_from_messages(s, in, nin);
  free(sendcount);
  free(leafcount);
  free(dest);
  free(out);
  free(in);
  return kifmm__mpi_agree(s->comm, status);
}

static int compute_global_first(part_state *s) {
  struct {
    kifmm_key pos;
    int64_t has;
  } mine = {0, s->leaf.n > 0}, *all;
  if (mine.has)
    mine.pos = curve_position(s->leaf.anchor[0], s->leaf.level[0]);
  int status = kifmm__calloc((void **)&all, (size_t)s->size, sizeof(*all));
  status = kifmm__mpi_agree(s->comm, status);
  if (status != KIFMM_SUCCESS)
    return status;
  if (MPI_Allgather(&mine, (int)sizeof(mine), MPI_BYTE, all, (int)sizeof(mine), MPI_BYTE,
                    s->comm) != MPI_SUCCESS) {
    free(all);
    return KIFMM_ERR_MPI;
  }
  kifmm_key *gf = s->global_first;
  gf[s->size] = KIFMM_CURVE_END;
  int first_nonempty = s->size;
  for (int r = s->size - 1; r >= 0; r--) {
    gf[r] = all[r].has ? all[r].pos : gf[r + 1];
    if (all[r].has)
      first_nonempty = r;
  }
  /* ranges cover the whole curve: the first rank with leaves starts at 0 */
  for (int r = 0; r <= first_nonempty && r < s->size; r++)
    gf[r] = 0;
  free(all);
  return KIFMM_SUCCESS;
}

/* ---- 2:1 balance across ranks ----
 * The serial rule: for every box B at level l >= 2, a leaf coarser than l - 1 that contains a
 * level l-1 cell touching B is split. Splits are only ever forced, so iterating the rule to a
 * fixed point gives the serial tree whatever the order. Cells owned by another rank (by
 * global_first; a leaf never straddles ranks) are sent there as requests. */
typedef struct {
  box_id *req;
  int *owner;
  int64_t n, cap;
} request_list;

static int request_push(request_list *q, int owner, kifmm_key anchor, int level) {
  if (q->n == q->cap) {
    int64_t cap = q->cap ? 2 * q->cap : 256;
    box_id *r = realloc(q->req, (size_t)cap * sizeof(*r));
    if (r)
      q->req = r;
    int *o = realloc(q->owner, (size_t)cap * sizeof(*o));
    if (o)
      q->owner = o;
    if (!r || !o)
      return KIFMM_ERR_OUT_OF_MEMORY;
    q->cap = cap;
  }
  q->req[q->n] = (box_id){anchor, level};
  q->owner[q->n++] = owner;
  return KIFMM_SUCCESS;
}

/* Mark the local leaf containing cell (anchor, level) when it is coarser than the cell. */
static void mark_cover(const part_state *s, kifmm_key anchor, int level, char *mark) {
  kifmm_key pos = curve_position(anchor, level);
  int64_t lo = 0, hi = s->leaf.n; /* last leaf starting at or before pos */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (curve_position(s->leaf.anchor[mid], s->leaf.level[mid]) <= pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  int64_t j = lo - 1;
  if (j >= 0 && s->leaf.level[j] < level && pos < curve_end(s->leaf.anchor[j], s->leaf.level[j]))
    mark[j] = 1;
}

/* The level l-1 cells touching box (anchor, l): local ones checked now, others queued. */
static int box_constraints(const part_state *s, kifmm_key anchor, int l, char *mark,
                           request_list *q) {
  int64_t lo[3], hi[3];
  kifmm__coarser_cells_touching(anchor, l, lo, hi);
  for (int64_t x = lo[0]; x <= hi[0]; x++)
    for (int64_t y = lo[1]; y <= hi[1]; y++)
      for (int64_t z = lo[2]; z <= hi[2]; z++) {
        kifmm_key cell = kifmm__morton_encode((uint64_t)x, (uint64_t)y, (uint64_t)z);
        int owner = owner_of(s, curve_position(cell, l - 1));
        if (owner == s->rank)
          mark_cover(s, cell, l - 1, mark);
        else
          CHECK(request_push(q, owner, cell, l - 1));
      }
  return KIFMM_SUCCESS;
}

/* Every box of the local subtrees once: consecutive leaves share their ancestors. */
static int local_constraints(const part_state *s, char *mark, request_list *q) {
  const leaf_list *f = &s->leaf;
  for (int64_t j = 0; j < f->n; j++)
    for (int k = 2; k <= f->level[j]; k++) {
      kifmm_key a = f->anchor[j] >> 3 * (f->level[j] - k);
      if (j > 0 && f->level[j - 1] >= k && f->anchor[j - 1] >> 3 * (f->level[j - 1] - k) == a)
        continue;
      CHECK(box_constraints(s, a, k, mark, q));
    }
  return KIFMM_SUCCESS;
}

typedef struct {
  int owner;
  box_id box;
} owned_box;

static int owned_compare(const void *pa, const void *pb) {
  const owned_box *a = pa, *b = pb;
  if (a->owner != b->owner)
    return a->owner < b->owner ? -1 : 1;
  return box_compare(&a->box, &b->box);
}

/* Requests grouped by owner, duplicates dropped (neighbouring boxes ask for the same cells). */
static int group_requests(const request_list *q, box_id *out, int64_t *count, int size,
                          int64_t *nout) {
  owned_box *tmp;
  ALLOC(tmp, q->n > 0 ? q->n : 1);
  for (int64_t i = 0; i < q->n; i++)
    tmp[i] = (owned_box){q->owner[i], q->req[i]};
  qsort(tmp, (size_t)q->n, sizeof(*tmp), owned_compare);
  int64_t m = 0;
  memset(count, 0, (size_t)size * sizeof(*count));
  for (int64_t i = 0; i < q->n; i++) {
    if (m > 0 && owned_compare(&tmp[i], &tmp[i - 1]) == 0)
      continue;
    out[m++] = tmp[i].box;
    count[tmp[i].owner]++;
  }
  *nout = m;
  free(tmp);
  return KIFMM_SUCCESS;
}

static int exchange_requests(part_state *s, const request_list *q, char *mark) {
  box_id *out = NULL;
  int64_t *count = NULL, nout = 0, nin = 0;
  void *in = NULL;
  int status = kifmm__calloc((void **)&out, (size_t)q->n, sizeof(*out));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&count, (size_t)s->size, sizeof(*count));
  if (status == KIFMM_SUCCESS)
    status = group_requests(q, out, count, s->size, &nout);
  status = alltoallv(s->comm, s->size, status, out, count, s->box_type, sizeof(box_id), NULL, 0,
                     &in, &nin);
  const box_id *req = in;
  for (int64_t i = 0; status == KIFMM_SUCCESS && i < nin; i++)
    mark_cover(s, req[i].anchor, (int)req[i].level, mark);
  free(out);
  free(count);
  free(in);
  return status;
}

/* Replace each marked leaf by its non-empty children. */
static int split_marked(part_state *s, const char *mark) {
  leaf_list old = s->leaf, *f = &s->leaf;
  memset(f, 0, sizeof(*f));
  int status = KIFMM_SUCCESS;
  for (int64_t j = 0; j < old.n && status == KIFMM_SUCCESS; j++) {
    if (!mark[j]) {
      status = leaves_push(f, old.anchor[j], old.level[j], old.begin[j], old.end[j],
                           old.end[j] - old.begin[j]);
      continue;
    }
    int64_t b = old.begin[j];
    for (unsigned o = 0; o < 8 && status == KIFMM_SUCCESS; o++) {
      kifmm_key child = old.anchor[j] << 3 | o;
      int64_t e = o == 7 ? old.end[j]
                         : key_lower_bound(s->pt, b, old.end[j],
                                           curve_end(child, old.level[j] + 1));
      if (e > b)
        status = leaves_push(f, child, old.level[j] + 1, b, e, e - b);
      b = e;
    }
  }
  leaves_free(&old);
  return status;
}

static int balance_round(part_state *s, int *changed) {
  char *mark = NULL;
  request_list q = {0};
  int status = kifmm__calloc((void **)&mark, (size_t)(s->leaf.n > 0 ? s->leaf.n : 1), 1);
  if (status == KIFMM_SUCCESS)
    status = local_constraints(s, mark, &q);
  status = kifmm__mpi_agree(s->comm, status);
  if (status == KIFMM_SUCCESS)
    status = exchange_requests(s, &q, mark);
  int any = 0;
  for (int64_t j = 0; status == KIFMM_SUCCESS && j < s->leaf.n; j++)
    any |= mark[j];
  if (status == KIFMM_SUCCESS && any)
    status = split_marked(s, mark);
  free(mark);
  free(q.req);
  free(q.owner);
  status = kifmm__mpi_agree(s->comm, status);
  if (status == KIFMM_SUCCESS &&
      MPI_Allreduce(&any, changed, 1, MPI_INT, MPI_MAX, s->comm) != MPI_SUCCESS)
    status = KIFMM_ERR_MPI;
  return status;
}

static int balance_leaves(part_state *s) {
  int changed = 1;
  while (changed)
    CHECK(balance_round(s, &changed));
  CHECK(recut_balanced(s));
  return compute_global_first(s);
}

/* ---- output ---- */
static int split_points(const part_state *s, kifmm_partition *p) {
  int64_t nsrc = 0, ntrg = 0, nleaf = s->leaf.n;
  for (int64_t i = 0; i < s->n; i++) {
    nsrc += s->pt[i].kind != KIND_TARGET;
    ntrg += s->pt[i].kind != KIND_SOURCE;
  }
  p->nsrc = nsrc;
  p->ntrg = ntrg;
  p->nleaf = nleaf;
  ALLOC(p->src, 3 * nsrc);
  ALLOC(p->trg, 3 * ntrg);
  ALLOC(p->src_key, nsrc);
  ALLOC(p->trg_key, ntrg);
  ALLOC(p->src_rank, nsrc);
  ALLOC(p->trg_rank, ntrg);
  ALLOC(p->src_index, nsrc);
  ALLOC(p->trg_index, ntrg);
  ALLOC(p->leaf_anchor, nleaf);
  ALLOC(p->leaf_level, nleaf);
  ALLOC(p->leaf_src_ptr, nleaf + 1);
  ALLOC(p->leaf_trg_ptr, nleaf + 1);
  int64_t is = 0, it = 0;
  for (int64_t j = 0; j < nleaf; j++) {
    p->leaf_anchor[j] = s->leaf.anchor[j];
    p->leaf_level[j] = s->leaf.level[j];
    p->leaf_src_ptr[j] = is;
    p->leaf_trg_ptr[j] = it;
    for (int64_t i = s->leaf.begin[j]; i < s->leaf.end[j]; i++) {
      const point_rec *r = &s->pt[i];
      if (r->kind != KIND_TARGET) {
        memcpy(p->src + 3 * is, r->u, sizeof(r->u));
        p->src_key[is] = r->key;
        p->src_rank[is] = r->rank;
        p->src_index[is++] = r->index;
      }
      if (r->kind != KIND_SOURCE) {
        memcpy(p->trg + 3 * it, r->u, sizeof(r->u));
        p->trg_key[it] = r->key;
        p->trg_rank[it] = r->rank;
        p->trg_index[it++] = r->index;
      }
    }
  }
  p->leaf_src_ptr[nleaf] = is;
  p->leaf_trg_ptr[nleaf] = it;
  return KIFMM_SUCCESS;
}

/* ---- driver ---- */
static int check_args(int64_t nsrc, const double *src, int64_t ntrg, const double *trg,
                      int ncrit, int max_level, const kifmm_partition_work *w) {
  if (nsrc < 0 || ntrg < 0)
    return KIFMM_ERR_INVALID_COUNT;
  const int64_t wmax = KIFMM_PARTITION_WORK_MAX;
  if (w && (w->per_source < 0 || w->per_target < 0 || w->per_leaf < 0 ||
            w->per_source > wmax || w->per_target > wmax || w->per_leaf > wmax))
    return KIFMM_ERR_INVALID_COUNT;
  if ((nsrc > 0 && !src) || (ntrg > 0 && !trg))
    return KIFMM_ERR_NULL_ARGUMENT;
  if (ncrit < 1)
    return KIFMM_ERR_INVALID_NCRIT;
  if (max_level < 1 || max_level > KIFMM_MAX_LEVEL)
    return KIFMM_ERR_INVALID_MAX_LEVEL;
  return KIFMM_SUCCESS;
}

static int make_types(part_state *s) {
  MPI_CALL(MPI_Type_contiguous((int)sizeof(point_rec), MPI_BYTE, &s->rec_type));
  MPI_CALL(MPI_Type_commit(&s->rec_type));
  MPI_CALL(MPI_Type_contiguous((int)sizeof(box_id), MPI_BYTE, &s->box_type));
  MPI_CALL(MPI_Type_commit(&s->box_type));
  MPI_CALL(MPI_Type_contiguous((int)sizeof(leaf_msg), MPI_BYTE, &s->leaf_type));
  MPI_CALL(MPI_Type_commit(&s->leaf_type));
  return KIFMM_SUCCESS;
}

/* The root cube: the points' global bounding box, or the cell (kifmm__tree_build_cell's). */
static int root_cube(const part_state *s, kifmm_partition *p, int64_t nsrc, const double *src,
                     int64_t ntrg, const double *trg) {
  const kifmm_partition_cell *c = s->cell;
  if (!c)
    return kifmm__global_bounds(s->comm, nsrc, src, ntrg, trg, p->center, &p->half);
  for (int d = 0; d < 3; d++)
    p->center[d] = c->origin[d] + 0.5 * c->length;
  p->half = 0.5 * c->length;
  return KIFMM_SUCCESS;
}

static int run_phases(part_state *s, kifmm_partition *p, int64_t nsrc, const double *src,
                      int64_t ntrg, const double *trg, int balance) {
  CHECK(root_cube(s, p, nsrc, src, ntrg, trg));
  int64_t n[2] = {nsrc, ntrg};
  MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, n, 2, MPI_INT64_T, MPI_SUM, s->comm));
  p->nsrc_global = n[0];
  p->ntrg_global = n[1];
  CHECK(kifmm__mpi_agree(s->comm, make_records(s, nsrc, src, ntrg, trg, p->center, p->half)));
  CHECK(parallel_sort(s));
  CHECK(find_leaves(s));
  CHECK(kifmm__mpi_agree(s->comm, cut_between_leaves(s)));
  CHECK(find_leaves(s)); /* the same leaves, now each on one rank */
  CHECK(kifmm__mpi_agree(s->comm, compute_global_first(s)));
  if (balance)
    CHECK(balance_leaves(s));
  p->balanced = balance != 0;
  free(s->spare); /* the outputs take its place at the peak */
  s->spare = NULL;
  s->spare_cap = 0;
  return kifmm__mpi_agree(s->comm, split_points(s, p));
}

int kifmm__partition_create(kifmm_partition *p, MPI_Comm comm, int64_t nsrc, const double *src,
                            int64_t ntrg, const double *trg, int ncrit, int max_level,
                            int balance, const kifmm_partition_work *work) {
  return kifmm__partition_create_cell(p, comm, nsrc, src, ntrg, trg, ncrit, max_level, balance,
                                      work, NULL);
}

int kifmm__partition_create_cell(kifmm_partition *p, MPI_Comm comm, int64_t nsrc,
                                 const double *src, int64_t ntrg, const double *trg, int ncrit,
                                 int max_level, int balance, const kifmm_partition_work *work,
                                 const kifmm_partition_cell *cell) {
  memset(p, 0, sizeof(*p));
  part_state s = {.comm = comm, .ncrit = ncrit, .max_level = max_level,
                  .work = work ? *work : (kifmm_partition_work){1, 1, 0}, .cell = cell,
                  .rec_type = MPI_DATATYPE_NULL, .box_type = MPI_DATATYPE_NULL,
                  .leaf_type = MPI_DATATYPE_NULL};
  MPI_CALL(MPI_Comm_rank(comm, &s.rank));
  MPI_CALL(MPI_Comm_size(comm, &s.size));
  p->rank = s.rank;
  p->size = s.size;
  int status = kifmm__mpi_agree(comm, check_args(nsrc, src, ntrg, trg, ncrit, max_level, work));
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(comm, kifmm__calloc((void **)&s.range, (size_t)s.size, sizeof(*s.range)) |
                             kifmm__calloc((void **)&p->global_first, (size_t)s.size + 1,
                                           sizeof(*p->global_first)));
  s.global_first = p->global_first;
  if (status == KIFMM_SUCCESS)
    status = kifmm__mpi_agree(comm, make_types(&s));
  if (status == KIFMM_SUCCESS)
    status = run_phases(&s, p, nsrc, src, ntrg, trg, balance);
  if (s.rec_type != MPI_DATATYPE_NULL)
    MPI_Type_free(&s.rec_type);
  if (s.box_type != MPI_DATATYPE_NULL)
    MPI_Type_free(&s.box_type);
  if (s.leaf_type != MPI_DATATYPE_NULL)
    MPI_Type_free(&s.leaf_type);
  free(s.pt);
  free(s.spare);
  free(s.src_before);
  free(s.all_before);
  free(s.range);
  leaves_free(&s.leaf);
  if (status != KIFMM_SUCCESS) {
    int rank = p->rank, size = p->size;
    kifmm__partition_free(p);
    p->rank = rank;
    p->size = size;
  }
  return status;
}

void kifmm__partition_free(kifmm_partition *p) {
  void *arrays[] = {p->src,        p->trg,          p->src_key,      p->trg_key,
                    p->src_rank,   p->trg_rank,     p->src_index,    p->trg_index,
                    p->leaf_anchor, p->leaf_level,  p->leaf_src_ptr, p->leaf_trg_ptr,
                    p->global_first};
  for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
    free(arrays[i]);
  memset(p, 0, sizeof(*p));
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* Morton keys: interleave integer box coordinates so that sorting keys orders boxes along
 * the Z curve; neighbours, adjacency and the sorts that put points and boxes in that order.
 * A key holds KIFMM_KEY_BITS = 42 bits per coordinate in 126 bits: the high word interleaves
 * the upper 21 bits of each coordinate, the low word the lower 21, so the 128-bit integer
 * order is the Z order. */
#include <omp.h>
#include <string.h>

#include "tree/tree.h"

#define HALF_BITS 21
#define HALF_MASK ((1ull << HALF_BITS) - 1)

static uint64_t spread_bits(uint64_t v) {
  uint64_t x = v & HALF_MASK;
  x = (x | x << 32) & 0x1f00000000ffffull;
  x = (x | x << 16) & 0x1f0000ff0000ffull;
  x = (x | x << 8) & 0x100f00f00f00f00full;
  x = (x | x << 4) & 0x10c30c30c30c30c3ull;
  x = (x | x << 2) & 0x1249249249249249ull;
  return x;
}

static uint64_t compact_bits(uint64_t x) {
  x &= 0x1249249249249249ull;
  x = (x ^ (x >> 2)) & 0x10c30c30c30c30c3ull;
  x = (x ^ (x >> 4)) & 0x100f00f00f00f00full;
  x = (x ^ (x >> 8)) & 0x1f0000ff0000ffull;
  x = (x ^ (x >> 16)) & 0x1f00000000ffffull;
  x = (x ^ (x >> 32)) & HALF_MASK;
  return x;
}

static uint64_t interleave(uint64_t ix, uint64_t iy, uint64_t iz) {
  return spread_bits(ix) << 2 | spread_bits(iy) << 1 | spread_bits(iz);
}

/* Boxes of the first 21 levels (every box of most trees) have an empty high word: those
 * skip its half of the work, so deep keys cost shallow trees nothing. */
kifmm_key kifmm__morton_encode(uint64_t ix, uint64_t iy, uint64_t iz) {
  uint64_t lo = interleave(ix, iy, iz);
  if (((ix | iy | iz) >> HALF_BITS) == 0)
    return lo;
  uint64_t hi = interleave(ix >> HALF_BITS, iy >> HALF_BITS, iz >> HALF_BITS);
  return (kifmm_key)hi << (3 * HALF_BITS) | lo;
}

void kifmm__morton_decode(kifmm_key code, uint64_t *ix, uint64_t *iy, uint64_t *iz) {
  uint64_t lo = (uint64_t)code & ((1ull << 3 * HALF_BITS) - 1);
  uint64_t hi = (uint64_t)(code >> 3 * HALF_BITS);
  *ix = compact_bits(lo >> 2);
  *iy = compact_bits(lo >> 1);
  *iz = compact_bits(lo);
  if (hi) {
    *ix |= compact_bits(hi >> 2) << HALF_BITS;
    *iy |= compact_bits(hi >> 1) << HALF_BITS;
    *iz |= compact_bits(hi) << HALF_BITS;
  }
}

int kifmm__morton_neighbor(kifmm_key code, int level, int dx, int dy, int dz, kifmm_key *out) {
  uint64_t ix, iy, iz;
  kifmm__morton_decode(code, &ix, &iy, &iz);
  int64_t n = (int64_t)1 << level;
  int64_t x = (int64_t)ix + dx, y = (int64_t)iy + dy, z = (int64_t)iz + dz;
  if (x < 0 || y < 0 || z < 0 || x >= n || y >= n || z >= n)
    return 0;
  *out = kifmm__morton_encode((uint64_t)x, (uint64_t)y, (uint64_t)z);
  return 1;
}

void kifmm__coarser_cells_touching(kifmm_key anchor, int level, int64_t lo[3], int64_t hi[3]) {
  uint64_t c[3];
  kifmm__morton_decode(anchor, &c[0], &c[1], &c[2]);
  int64_t nmax = ((int64_t)1 << (level - 1)) - 1;
  for (int d = 0; d < 3; d++) {
    lo[d] = ((int64_t)c[d] - 1) >> 1;
    hi[d] = ((int64_t)c[d] + 1) >> 1;
    lo[d] = lo[d] < 0 ? 0 : lo[d];
    hi[d] = hi[d] > nmax ? nmax : hi[d];
  }
}

/* Boxes are compared at the finer level: closed cubes touch when, in every dimension, the
 * integer intervals [lo, hi] overlap or share an end point. */
int kifmm__cells_touch(const int64_t a[3], int la, const int64_t b[3], int lb) {
  int lf = la > lb ? la : lb;
  for (int d = 0; d < 3; d++) {
    /* products, not shifts: a periodic tree's unwrapped neighbours may be at -1 */
    int64_t alo = a[d] * ((int64_t)1 << (lf - la)), ahi = alo + ((int64_t)1 << (lf - la));
    int64_t blo = b[d] * ((int64_t)1 << (lf - lb)), bhi = blo + ((int64_t)1 << (lf - lb));
    if (ahi < blo || bhi < alo)
      return 0;
  }
  return 1;
}

int kifmm__boxes_adjacent(kifmm_key a, int la, kifmm_key b, int lb) {
  uint64_t ac[3], bc[3];
  kifmm__morton_decode(a, &ac[0], &ac[1], &ac[2]);
  kifmm__morton_decode(b, &bc[0], &bc[1], &bc[2]);
  const int64_t ai[3] = {(int64_t)ac[0], (int64_t)ac[1], (int64_t)ac[2]},
                bi[3] = {(int64_t)bc[0], (int64_t)bc[1], (int64_t)bc[2]};
  return kifmm__cells_touch(ai, la, bi, lb);
}

/* ---- Radix sort in 8-bit digits: stable, O(n) per digit ----
 * Eight bits a pass: 8-bit passes are twice as fast as 12-bit ones, whose 4096 output streams
 * miss the TLB and the cache at every element (measured on 1e6 keys). LSD passes sort on the
 * upper half of the bits first; the keys that tie on it form runs, short ones for spread data
 * (then sorted in cache by insertion), long ones for clusters (sorted by more passes): half
 * the passes over the whole array.
 * Each thread counts the digits of its own block of the input, so that the scatter can give
 * every (digit, thread) pair its own run of the output: thread t writes its elements of a
 * digit after those of threads < t, which keeps the sort stable at any thread count. */
enum { RADIX_DIGIT = 8, RADIX_BUCKETS = 1 << RADIX_DIGIT, RADIX_SHORT_RUN = 32 };
#define RADIX_MIN_PARALLEL 65536 /* below this, one thread: the barriers would cost more */

typedef struct {
  int64_t n;
  int nthreads;
  int64_t *count; /* nthreads x RADIX_BUCKETS digit counts, a row per thread */
} radix_pass;

typedef struct { /* the arrays being sorted and the scratch the passes alternate with */
  uint64_t *keys, *k2;
  int64_t *idx, *i2;
} radix_arrays;

static void block_of(int64_t n, int nthreads, int me, int64_t *lo, int64_t *hi) {
  *lo = n * me / nthreads;
  *hi = n * (me + 1) / nthreads;
}

static void count_digits(const radix_pass *rp, int me, const uint64_t *ks, int shift) {
  int64_t lo, hi, *c = rp->count + (int64_t)me * RADIX_BUCKETS;
  block_of(rp->n, rp->nthreads, me, &lo, &hi);
  memset(c, 0, RADIX_BUCKETS * sizeof(*c));
  for (int64_t i = lo; i < hi; i++)
    c[(ks[i] >> shift) & (RADIX_BUCKETS - 1)]++;
}

/* First output slot of each digit for thread me (digit major, thread minor); returns 1 when
 * all keys share one digit, a pass that would move nothing. */
static int digit_offsets(const radix_pass *rp, int me, int64_t *off) {
  int64_t sum = 0;
  int same = 0;
  for (int d = 0; d < RADIX_BUCKETS; d++) {
    int64_t start = sum;
    for (int t = 0; t < rp->nthreads; t++) {
      if (t == me)
        off[d] = sum;
      sum += rp->count[(int64_t)t * RADIX_BUCKETS + d];
    }
    same |= sum - start == rp->n;
  }
  return same;
}

static void scatter_digits(const radix_pass *rp, int me, int64_t *off, const uint64_t *ks,
                           const int64_t *is, uint64_t *kd, int64_t *id, int shift) {
  int64_t lo, hi;
  block_of(rp->n, rp->nthreads, me, &lo, &hi);
  for (int64_t i = lo; i < hi; i++) {
    int64_t dst = off[(ks[i] >> shift) & (RADIX_BUCKETS - 1)]++;
    kd[dst] = ks[i];
    id[dst] = is[i];
  }
}

/* LSD passes on bits [lo_bit, hi_bit), by thread me of rp->nthreads (the whole team when more
 * than one: two barriers a pass, the counts complete, then read by all before they are
 * overwritten); the arrays of a end up sorted. */
static void radix_passes(const radix_pass *rp, int me, const radix_arrays *a, int lo_bit,
                         int hi_bit) {
  uint64_t *ks = a->keys, *kd = a->k2;
  int64_t *is = a->idx, *id = a->i2;
  int64_t off[RADIX_BUCKETS];
  for (int shift = lo_bit; shift < hi_bit; shift += RADIX_DIGIT) {
    count_digits(rp, me, ks, shift);
    if (rp->nthreads > 1) {
#pragma omp barrier
    }
    if (!digit_offsets(rp, me, off)) { /* the same answer in every thread */
      scatter_digits(rp, me, off, ks, is, kd, id, shift);
      uint64_t *kt = ks;
      ks = kd;
      kd = kt;
      int64_t *it = is;
      is = id;
      id = it;
    }
    if (rp->nthreads > 1) {
#pragma omp barrier
    }
  }
  if (ks != a->keys) {
    int64_t lo, hi;
    block_of(rp->n, rp->nthreads, me, &lo, &hi);
    memcpy(a->keys + lo, ks + lo, (size_t)(hi - lo) * sizeof(*ks));
    memcpy(a->idx + lo, is + lo, (size_t)(hi - lo) * sizeof(*is));
  }
}

/* Stable in-place sort of a short run (its keys differ in the low bits only). */
static void insertion_sort(uint64_t *k, int64_t *ix, int64_t m) {
  for (int64_t i = 1; i < m; i++) {
    uint64_t kv = k[i];
    int64_t iv = ix[i], j = i;
    for (; j > 0 && k[j - 1] > kv; j--) {
      k[j] = k[j - 1];
      ix[j] = ix[j - 1];
    }
    k[j] = kv;
    ix[j] = iv;
  }
}

/* Sorts each run of keys equal above bit `low` in [begin, end) (begin starts a run). */
static void finish_runs(const radix_arrays *a, int64_t begin, int64_t end, int64_t n, int low) {
  int64_t count[RADIX_BUCKETS];
  for (int64_t s = begin, e; s < end; s = e) {
    for (e = s + 1; e < n && a->keys[e] >> low == a->keys[s] >> low;)
      e++;
    if (e - s <= RADIX_SHORT_RUN) {
      insertion_sort(a->keys + s, a->idx + s, e - s);
      continue;
    }
    radix_pass rp = {e - s, 1, count};
    radix_arrays run = {a->keys + s, a->k2 + s, a->idx + s, a->i2 + s};
    radix_passes(&rp, 0, &run, 0, low);
  }
}

/* First run start at or after position i. */
static int64_t run_start(const uint64_t *keys, int64_t i, int64_t n, int low) {
  while (i > 0 && i < n && keys[i] >> low == keys[i - 1] >> low)
    i++;
  return i;
}

/* The whole sort by thread me of the team: passes on the high bits together, then each
 * thread the runs that start in its block (found before any is sorted: no thread reads what
 * another writes). */
static void radix_team(const radix_pass *rp, int me, const radix_arrays *a, int key_bits,
                       int64_t *start) {
  int low = key_bits / 2 / RADIX_DIGIT * RADIX_DIGIT;
  radix_passes(rp, me, a, low, key_bits);
  if (low == 0)
    return;
  if (rp->nthreads > 1) { /* the last copy back is complete */
#pragma omp barrier
  }
  int64_t lo, hi;
  block_of(rp->n, rp->nthreads, me, &lo, &hi);
  start[me] = run_start(a->keys, lo, rp->n, low);
  if (rp->nthreads > 1) {
#pragma omp barrier
  }
  finish_runs(a, start[me], me + 1 < rp->nthreads ? start[me + 1] : rp->n, rp->n, low);
}

int kifmm__radix_sort(uint64_t *keys, int64_t *idx, int64_t n, int key_bits, uint64_t *key_tmp,
                      int64_t *idx_tmp, int nthreads) {
  if (n <= 1)
    return KIFMM_SUCCESS;
  nthreads = n < RADIX_MIN_PARALLEL || nthreads < 1 ? 1 : nthreads;
  void *own = NULL;
  if (!key_tmp || !idx_tmp)
    CHECK(kifmm__calloc(&own, (size_t)n, sizeof(uint64_t) + sizeof(int64_t)));
  radix_arrays a = {keys, own ? own : key_tmp, idx, own ? (int64_t *)own + n : idx_tmp};
  radix_pass rp = {n, nthreads, NULL};
  int64_t *start = NULL;
  int status = kifmm__calloc((void **)&rp.count, (size_t)nthreads * RADIX_BUCKETS,
                             sizeof(*rp.count));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&start, (size_t)nthreads, sizeof(*start));
  if (status == KIFMM_SUCCESS) {
#pragma omp parallel num_threads(nthreads)
    {
      radix_pass mine = rp; /* the team may be smaller than asked */
      mine.nthreads = omp_get_num_threads();
      radix_team(&mine, omp_get_thread_num(), &a, key_bits, start);
    }
  }
  free(rp.count);
  free(start);
  free(own);
  return status;
}

typedef struct {
  kifmm_key key;
  int64_t idx;
} keyed;

static int compare_keyed(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx); /* stable: ties keep input order */
}

/* A short run (a few points in one 48-bit cell, a point and its copy): insertion sort, stable
 * as compare_keyed is, without qsort's call per comparison. */
enum { SHORT_RUN = 16 };

static void sort_short_run(keyed *t, int64_t m) {
  for (int64_t i = 1; i < m; i++) {
    keyed x = t[i];
    int64_t j = i;
    for (; j > 0 && compare_keyed(&t[j - 1], &x) > 0; j--)
      t[j] = t[j - 1];
    t[j] = x;
  }
}

/* After a sort on the 48-bit prefixes of the keys: orders each run of equal prefixes by the
 * full keys, which full_key(idx, ctx) gives for the item idx. */
int kifmm__sort_prefix_runs(const uint64_t *prefix, int64_t *idx, int64_t n,
                            kifmm_key (*full_key)(int64_t idx, const void *ctx),
                            const void *ctx) {
  keyed *tmp = NULL;
  int64_t cap = 0;
  int status = KIFMM_SUCCESS;
  for (int64_t b = 0; status == KIFMM_SUCCESS && b < n;) {
    int64_t e = b + 1;
    while (e < n && prefix[e] == prefix[b])
      e++;
    if (e - b > 1 && e - b > cap) {
      free(tmp);
      cap = e - b;
      status = kifmm__calloc((void **)&tmp, (size_t)cap, sizeof(*tmp));
    }
    if (e - b > 1 && status == KIFMM_SUCCESS) {
      for (int64_t i = b; i < e; i++)
        tmp[i - b] = (keyed){full_key(idx[i], ctx), idx[i]};
      if (e - b <= SHORT_RUN)
        sort_short_run(tmp, e - b);
      else
        qsort(tmp, (size_t)(e - b), sizeof(*tmp), compare_keyed);
      for (int64_t i = b; i < e; i++)
        idx[i] = tmp[i - b].idx;
    }
    b = e;
  }
  free(tmp);
  return status;
}

static kifmm_key key_at(int64_t i, const void *keys) { return ((const kifmm_key *)keys)[i]; }

/* Radix sort on the 48-bit prefixes, then full comparisons inside the rare runs of equal
 * prefixes (tight clusters, duplicates): deep keys cost shallow data nothing. */
int kifmm__sort_keys(kifmm_key *keys, int64_t *idx, int64_t n) {
  const int drop = 3 * KIFMM_KEY_BITS - KIFMM_PREFIX_BITS;
  if (n <= 1)
    return KIFMM_SUCCESS;
  uint64_t *prefix = NULL;
  int64_t *pos = NULL;
  kifmm_key *ksorted = NULL;
  int64_t *isorted = NULL;
  int status = kifmm__calloc((void **)&prefix, (size_t)n, sizeof(*prefix));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&pos, (size_t)n, sizeof(*pos));
  if (status == KIFMM_SUCCESS) {
    for (int64_t i = 0; i < n; i++) {
      prefix[i] = (uint64_t)(keys[i] >> drop);
      pos[i] = i;
    }
    status = kifmm__radix_sort(prefix, pos, n, KIFMM_PREFIX_BITS, NULL, NULL, 1);
  }
  if (status == KIFMM_SUCCESS) /* positions break ties: stable */
    status = kifmm__sort_prefix_runs(prefix, pos, n, key_at, keys);
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&ksorted, (size_t)n, sizeof(*ksorted));
  if (status == KIFMM_SUCCESS)
    status = kifmm__calloc((void **)&isorted, (size_t)n, sizeof(*isorted));
  if (status == KIFMM_SUCCESS) {
    for (int64_t i = 0; i < n; i++) {
      ksorted[i] = keys[pos[i]];
      isorted[i] = idx[pos[i]];
    }
    memcpy(keys, ksorted, (size_t)n * sizeof(*keys));
    memcpy(idx, isorted, (size_t)n * sizeof(*idx));
  }
  free(prefix);
  free(pos);
  free(ksorted);
  free(isorted);
  return status;
}

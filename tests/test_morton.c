/* SPDX-License-Identifier: BSD-3-Clause */
/* Morton keys: encode/decode round trips, neighbours, adjacency, transfer-vector indices
 * and the radix sort that orders points. */
#include <math.h>

#include "internal.h"
#include "testutil.h"

static uint64_t random_coord(uint64_t *seed, int bits) {
  return (uint64_t)(tu_uniform(seed) * ldexp(1.0, bits));
}

static void test_round_trip(void) {
  uint64_t seed = 1;
  for (int i = 0; i < 100000; i++) {
    uint64_t x = random_coord(&seed, KIFMM_KEY_BITS), y = random_coord(&seed, KIFMM_KEY_BITS),
             z = random_coord(&seed, KIFMM_KEY_BITS), a, b, c;
    kifmm__morton_decode(kifmm__morton_encode(x, y, z), &a, &b, &c);
    if (a != x || b != y || c != z) {
      EXPECT(0, "round trip (%llx,%llx,%llx) -> (%llx,%llx,%llx)", (unsigned long long)x,
             (unsigned long long)y, (unsigned long long)z, (unsigned long long)a,
             (unsigned long long)b, (unsigned long long)c);
      return;
    }
  }
  EXPECT(kifmm__morton_encode(1, 0, 0) == 4 && kifmm__morton_encode(0, 1, 0) == 2 &&
             kifmm__morton_encode(0, 0, 1) == 1,
         "bit order x,y,z in each octal digit");
  const uint64_t top = ((uint64_t)1 << KIFMM_KEY_BITS) - 1;
  EXPECT(kifmm__morton_encode(top, top, top) == ((kifmm_key)1 << 3 * KIFMM_KEY_BITS) - 1,
         "42-bit corner fills 126 bits");
  /* the high half of a coordinate is more significant than any bit of the low half */
  const uint64_t low = ((uint64_t)1 << 21) - 1;
  EXPECT(kifmm__morton_encode((uint64_t)1 << 21, 0, 0) > kifmm__morton_encode(low, low, low),
         "bit 21 of x outranks all lower bits");
}

/* The key order is the Z order at every depth: compare with a bit-by-bit interleave. */
static void test_order_matches_interleave(void) {
  uint64_t seed = 11;
  for (int i = 0; i < 2000; i++) {
    uint64_t c[2][3];
    for (int k = 0; k < 2; k++)
      for (int d = 0; d < 3; d++)
        c[k][d] = random_coord(&seed, KIFMM_KEY_BITS);
    if (i % 3 == 0) /* share a long prefix: the order is decided deep down */
      for (int d = 0; d < 3; d++)
        c[1][d] = (c[0][d] & ~(uint64_t)0xff) | (c[1][d] & 0xff);
    int expect = 0;
    for (int bit = KIFMM_KEY_BITS - 1; bit >= 0 && !expect; bit--)
      for (int d = 0; d < 3 && !expect; d++) {
        int b0 = (int)(c[0][d] >> bit & 1), b1 = (int)(c[1][d] >> bit & 1);
        expect = b0 == b1 ? 0 : (b0 < b1 ? -1 : 1);
      }
    kifmm_key k0 = kifmm__morton_encode(c[0][0], c[0][1], c[0][2]);
    kifmm_key k1 = kifmm__morton_encode(c[1][0], c[1][1], c[1][2]);
    int got = k0 == k1 ? 0 : (k0 < k1 ? -1 : 1);
    EXPECT(got == expect, "key order equals Z order (case %d)", i);
  }
}

/* Sorting keys orders boxes so that a parent's children are contiguous (Z curve). */
static void test_order_and_parent(void) {
  for (uint32_t x = 0; x < 8; x++)
    for (uint32_t y = 0; y < 8; y++)
      for (uint32_t z = 0; z < 8; z++) {
        kifmm_key k = kifmm__morton_encode(x, y, z);
        EXPECT((k >> 3) == kifmm__morton_encode(x / 2, y / 2, z / 2), "parent of (%u,%u,%u)", x,
               y, z);
      }
}

static void test_neighbors(void) {
  uint64_t seed = 2;
  for (int i = 0; i < 2000; i++) {
    int level = 1 + (int)(tu_uniform(&seed) * KIFMM_MAX_LEVEL);
    int64_t n = (int64_t)1 << level;
    uint64_t c[3];
    for (int d = 0; d < 3; d++)
      c[d] = random_coord(&seed, level);
    if (i % 4 == 0) /* the faces of the domain */
      c[i % 3] = i % 8 == 0 ? 0 : (uint64_t)n - 1;
    kifmm_key key = kifmm__morton_encode(c[0], c[1], c[2]);
    for (int dx = -1; dx <= 1; dx++)
      for (int dy = -1; dy <= 1; dy++)
        for (int dz = -1; dz <= 1; dz++) {
          kifmm_key nb, back;
          int64_t x = (int64_t)c[0] + dx, y = (int64_t)c[1] + dy, z = (int64_t)c[2] + dz;
          int inside = x >= 0 && y >= 0 && z >= 0 && x < n && y < n && z < n;
          int got = kifmm__morton_neighbor(key, level, dx, dy, dz, &nb);
          EXPECT(got == inside, "neighbour inside flag");
          if (got) {
            EXPECT(kifmm__morton_neighbor(nb, level, -dx, -dy, -dz, &back) && back == key,
                   "neighbour and back");
            EXPECT(kifmm__boxes_adjacent(key, level, nb, level), "neighbours are adjacent");
          }
        }
  }
}

static void test_adjacency_across_levels(void) {
  /* level-1 box (0,0,0) covers [0,2)^3 at level 2 */
  kifmm_key big = kifmm__morton_encode(0, 0, 0);
  EXPECT(kifmm__boxes_adjacent(big, 1, kifmm__morton_encode(2, 0, 0), 2), "touching face");
  EXPECT(kifmm__boxes_adjacent(big, 1, kifmm__morton_encode(2, 2, 2), 2), "touching corner");
  EXPECT(!kifmm__boxes_adjacent(big, 1, kifmm__morton_encode(3, 0, 0), 2), "one box apart");
  EXPECT(kifmm__boxes_adjacent(big, 1, kifmm__morton_encode(1, 1, 1), 2), "contained");
}

static void test_transfer_vectors(void) {
  int seen[KIFMM_NTV] = {0}, count = 0;
  for (int x = -3; x <= 3; x++)
    for (int y = -3; y <= 3; y++)
      for (int z = -3; z <= 3; z++) {
        int t = kifmm__tv_index(x, y, z);
        int near = abs(x) <= 1 && abs(y) <= 1 && abs(z) <= 1;
        EXPECT((t < 0) == near, "index defined exactly off the near field (%d,%d,%d)", x, y, z);
        if (t >= 0 && t < KIFMM_NTV) {
          seen[t]++;
          count++;
          int d[3];
          kifmm__tv_offset(t, d);
          EXPECT(d[0] == x && d[1] == y && d[2] == z, "offset of index %d", t);
        }
      }
  EXPECT(count == KIFMM_NTV, "316 transfer vectors, got %d", count);
  for (int t = 0; t < KIFMM_NTV; t++)
    EXPECT(seen[t] == 1, "index %d used once", t);
  EXPECT(kifmm__tv_index(4, 0, 0) == -1, "outside [-3,3]");
}

/* Sorted, a permutation of the input, stable; with threads the result must not change. */
static void check_radix_sort(int nthreads, int64_t n, int digits_shared) {
  uint64_t *k = malloc(sizeof(*k) * n), *orig = malloc(sizeof(*k) * n), seed = 3;
  int64_t *idx = malloc(sizeof(*idx) * n);
  for (int64_t i = 0; i < n; i++) {
    uint64_t v = (uint64_t)(tu_uniform(&seed) * 1e6) << 20 | (uint64_t)(i % 7);
    /* a shared top: the passes whose digit is the same everywhere are skipped, and keys tie
     * on their upper half in long runs (1: ~70 keys, 2: all) sorted by passes of their own */
    if (digits_shared == 1)
      v = 0xabcull << 36 | (v & 0xfffffffffull);
    else if (digits_shared == 2)
      v = 0x5a5a5aull << 24 | (v & 0xffffffull);
    orig[i] = k[i] = v;
    idx[i] = i;
  }
  EXPECT_STATUS(kifmm__radix_sort(k, idx, n, 48, NULL, NULL, nthreads), KIFMM_SUCCESS);
  int sorted = 1, consistent = 1, stable = 1;
  for (int64_t i = 0; i < n; i++) {
    consistent &= orig[idx[i]] == k[i];
    if (i > 0) {
      sorted &= k[i - 1] <= k[i];
      stable &= k[i - 1] != k[i] || idx[i - 1] < idx[i];
    }
  }
  EXPECT(sorted, "keys ascending (%d threads, n %lld)", nthreads, (long long)n);
  EXPECT(consistent, "permutation follows keys (%d threads)", nthreads);
  EXPECT(stable, "equal keys keep their order (%d threads)", nthreads);
  free(k);
  free(orig);
  free(idx);
}

static void test_radix_sort(void) {
  check_radix_sort(1, 100003, 0);
  check_radix_sort(2, 300007, 0); /* above the size where threads take part */
  check_radix_sort(3, 300007, 1);
  check_radix_sort(2, 300007, 2);
  check_radix_sort(1, 1000, 2);
  check_radix_sort(2, 5, 0);
}

/* Full keys: ties beyond the 48-bit prefix the radix pass sees must still be ordered. */
static void test_sort_keys(void) {
  int64_t n = 50007;
  kifmm_key *k = malloc(sizeof(*k) * n), *orig = malloc(sizeof(*k) * n);
  int64_t *idx = malloc(sizeof(*idx) * n);
  uint64_t seed = 5;
  for (int64_t i = 0; i < n; i++) {
    uint64_t c[3];
    for (int d = 0; d < 3; d++) /* half the points in a cluster 2^-30 of the domain wide */
      c[d] = i % 2 ? random_coord(&seed, KIFMM_KEY_BITS)
                   : ((uint64_t)1 << 41) + random_coord(&seed, 12) * (uint64_t)(i % 5 != 0);
    orig[i] = k[i] = kifmm__morton_encode(c[0], c[1], c[2]);
    idx[i] = 1000 + i;
  }
  EXPECT_STATUS(kifmm__sort_keys(k, idx, n), KIFMM_SUCCESS);
  int sorted = 1, consistent = 1, stable = 1;
  for (int64_t i = 0; i < n; i++) {
    consistent &= orig[idx[i] - 1000] == k[i];
    if (i > 0) {
      sorted &= k[i - 1] <= k[i];
      stable &= k[i - 1] != k[i] || idx[i - 1] < idx[i];
    }
  }
  EXPECT(sorted, "full keys ascending");
  EXPECT(consistent, "permutation follows full keys");
  EXPECT(stable, "equal full keys keep their order");
  free(k);
  free(orig);
  free(idx);
}

int main(void) {
  test_round_trip();
  test_order_matches_interleave();
  test_sort_keys();
  test_order_and_parent();
  test_neighbors();
  test_adjacency_across_levels();
  test_transfer_vectors();
  test_radix_sort();
  return tu_finish("test_morton");
}

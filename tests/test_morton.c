/* Morton keys: encode/decode round trips, neighbours, adjacency, transfer-vector indices
 * and the radix sort that orders points. */
#include "internal.h"
#include "testutil.h"

static void test_round_trip(void) {
  uint64_t seed = 1;
  for (int i = 0; i < 100000; i++) {
    uint32_t x = (uint32_t)(tu_uniform(&seed) * 65536), y = (uint32_t)(tu_uniform(&seed) * 65536),
             z = (uint32_t)(tu_uniform(&seed) * 65536), a, b, c;
    kifmm__morton_decode(kifmm__morton_encode(x, y, z), &a, &b, &c);
    if (a != x || b != y || c != z) {
      EXPECT(0, "round trip (%u,%u,%u) -> (%u,%u,%u)", x, y, z, a, b, c);
      return;
    }
  }
  EXPECT(kifmm__morton_encode(1, 0, 0) == 4 && kifmm__morton_encode(0, 1, 0) == 2 &&
             kifmm__morton_encode(0, 0, 1) == 1,
         "bit order x,y,z in each octal digit");
  EXPECT(kifmm__morton_encode(65535, 65535, 65535) == (1ull << 48) - 1, "16-bit corner");
}

/* Sorting keys orders boxes so that a parent's children are contiguous (Z curve). */
static void test_order_and_parent(void) {
  for (uint32_t x = 0; x < 8; x++)
    for (uint32_t y = 0; y < 8; y++)
      for (uint32_t z = 0; z < 8; z++) {
        uint64_t k = kifmm__morton_encode(x, y, z);
        EXPECT((k >> 3) == kifmm__morton_encode(x / 2, y / 2, z / 2), "parent of (%u,%u,%u)", x,
               y, z);
      }
}

static void test_neighbors(void) {
  uint64_t seed = 2;
  for (int i = 0; i < 2000; i++) {
    int level = 1 + (int)(tu_uniform(&seed) * 16);
    uint32_t n = 1u << level;
    uint32_t c[3];
    for (int d = 0; d < 3; d++)
      c[d] = (uint32_t)(tu_uniform(&seed) * n);
    uint64_t key = kifmm__morton_encode(c[0], c[1], c[2]);
    for (int dx = -1; dx <= 1; dx++)
      for (int dy = -1; dy <= 1; dy++)
        for (int dz = -1; dz <= 1; dz++) {
          uint64_t nb, back;
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
  uint64_t big = kifmm__morton_encode(0, 0, 0);
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

static void test_radix_sort(void) {
  int64_t n = 100003;
  uint64_t *k = malloc(sizeof(*k) * n), *orig = malloc(sizeof(*k) * n), seed = 3;
  int64_t *idx = malloc(sizeof(*idx) * n);
  for (int64_t i = 0; i < n; i++) {
    orig[i] = k[i] = (uint64_t)(tu_uniform(&seed) * 1e6) << 20 | (uint64_t)(i % 7);
    idx[i] = i;
  }
  EXPECT_STATUS(kifmm__radix_sort(k, idx, n, 48), KIFMM_SUCCESS);
  int sorted = 1, consistent = 1, stable = 1;
  for (int64_t i = 0; i < n; i++) {
    consistent &= orig[idx[i]] == k[i];
    if (i > 0) {
      sorted &= k[i - 1] <= k[i];
      stable &= k[i - 1] != k[i] || idx[i - 1] < idx[i];
    }
  }
  EXPECT(sorted, "keys ascending");
  EXPECT(consistent, "permutation follows keys");
  EXPECT(stable, "equal keys keep their order");
  free(k);
  free(orig);
  free(idx);
}

int main(void) {
  test_round_trip();
  test_order_and_parent();
  test_neighbors();
  test_adjacency_across_levels();
  test_transfer_vectors();
  test_radix_sort();
  return tu_finish("test_morton");
}

/* Morton keys: interleave integer box coordinates so that sorting keys orders boxes along
 * the Z curve; neighbours, adjacency and the radix sort that puts points in that order. */
#include <string.h>

#include "internal.h"

static uint64_t spread_bits(uint32_t v) {
  uint64_t x = v & 0x1fffffu; /* 21 bits */
  x = (x | x << 32) & 0x1f00000000ffffull;
  x = (x | x << 16) & 0x1f0000ff0000ffull;
  x = (x | x << 8) & 0x100f00f00f00f00full;
  x = (x | x << 4) & 0x10c30c30c30c30c3ull;
  x = (x | x << 2) & 0x1249249249249249ull;
  return x;
}

static uint32_t compact_bits(uint64_t x) {
  x &= 0x1249249249249249ull;
  x = (x ^ (x >> 2)) & 0x10c30c30c30c30c3ull;
  x = (x ^ (x >> 4)) & 0x100f00f00f00f00full;
  x = (x ^ (x >> 8)) & 0x1f0000ff0000ffull;
  x = (x ^ (x >> 16)) & 0x1f00000000ffffull;
  x = (x ^ (x >> 32)) & 0x1fffffull;
  return (uint32_t)x;
}

uint64_t kifmm__morton_encode(uint32_t ix, uint32_t iy, uint32_t iz) {
  return spread_bits(ix) << 2 | spread_bits(iy) << 1 | spread_bits(iz);
}

void kifmm__morton_decode(uint64_t code, uint32_t *ix, uint32_t *iy, uint32_t *iz) {
  *ix = compact_bits(code >> 2);
  *iy = compact_bits(code >> 1);
  *iz = compact_bits(code);
}

int kifmm__morton_neighbor(uint64_t code, int level, int dx, int dy, int dz, uint64_t *out) {
  uint32_t ix, iy, iz;
  kifmm__morton_decode(code, &ix, &iy, &iz);
  int64_t n = (int64_t)1 << level;
  int64_t x = (int64_t)ix + dx, y = (int64_t)iy + dy, z = (int64_t)iz + dz;
  if (x < 0 || y < 0 || z < 0 || x >= n || y >= n || z >= n)
    return 0;
  *out = kifmm__morton_encode((uint32_t)x, (uint32_t)y, (uint32_t)z);
  return 1;
}

/* Boxes are compared at the finer level: closed cubes touch when, in every dimension, the
 * integer intervals [lo, hi] overlap or share an end point. */
int kifmm__boxes_adjacent(uint64_t a, int la, uint64_t b, int lb) {
  uint32_t ac[3], bc[3];
  kifmm__morton_decode(a, &ac[0], &ac[1], &ac[2]);
  kifmm__morton_decode(b, &bc[0], &bc[1], &bc[2]);
  int lf = la > lb ? la : lb;
  for (int d = 0; d < 3; d++) {
    int64_t alo = (int64_t)ac[d] << (lf - la), ahi = alo + ((int64_t)1 << (lf - la));
    int64_t blo = (int64_t)bc[d] << (lf - lb), bhi = blo + ((int64_t)1 << (lf - lb));
    if (ahi < blo || bhi < alo)
      return 0;
  }
  return 1;
}

/* LSD radix sort in 12-bit digits; stable, O(n) per digit. */
int kifmm__radix_sort(uint64_t *keys, int64_t *idx, int64_t n, int key_bits) {
  enum { DIGIT = 12, BUCKETS = 1 << DIGIT };
  if (n <= 1)
    return KIFMM_SUCCESS;
  uint64_t *k2;
  int64_t *i2;
  ALLOC(k2, n);
  if (kifmm__calloc((void **)&i2, (size_t)n, sizeof(*i2)) != KIFMM_SUCCESS) {
    free(k2);
    return KIFMM_ERR_OUT_OF_MEMORY;
  }
  uint64_t *ks = keys, *kd = k2;
  int64_t *is = idx, *id = i2;
  for (int shift = 0; shift < key_bits; shift += DIGIT) {
    int64_t count[BUCKETS + 1];
    memset(count, 0, sizeof(count));
    for (int64_t i = 0; i < n; i++)
      count[((ks[i] >> shift) & (BUCKETS - 1)) + 1]++;
    for (int b = 0; b < BUCKETS; b++)
      count[b + 1] += count[b];
    for (int64_t i = 0; i < n; i++) {
      int64_t dst = count[(ks[i] >> shift) & (BUCKETS - 1)]++;
      kd[dst] = ks[i];
      id[dst] = is[i];
    }
    uint64_t *kt = ks; ks = kd; kd = kt;
    int64_t *it = is; is = id; id = it;
  }
  if (ks != keys) {
    memcpy(keys, ks, (size_t)n * sizeof(*keys));
    memcpy(idx, is, (size_t)n * sizeof(*idx));
  }
  free(k2);
  free(i2);
  return KIFMM_SUCCESS;
}

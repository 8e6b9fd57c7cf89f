/* SPDX-License-Identifier: BSD-3-Clause */
/* Octree invariants: every point in exactly one leaf, leaves within ncrit unless at
 * max_level, consistent parent/child links and bookends, and 2:1 balance. */
#include "internal.h"
#include "testutil.h"

static int point_in_box(const kifmm_tree *t, int64_t b, double x, double y, double z) {
  double c[3], h = kifmm__box_side(t, t->level[b]);
  kifmm__box_center(t, b, c);
  double tol = 1e-12 * t->side;
  return fabs(x - c[0]) <= 0.5 * h + tol && fabs(y - c[1]) <= 0.5 * h + tol &&
         fabs(z - c[2]) <= 0.5 * h + tol;
}

static void check_links(const kifmm_tree *t) {
  int ok = 1;
  for (int64_t b = 0; b < t->nbox; b++) {
    ok &= b == 0 || (t->parent[b] >= 0 && t->level[t->parent[b]] == t->level[b] - 1 &&
                     t->anchor[t->parent[b]] == t->anchor[b] >> 3);
    ok &= b == 0 || t->anchor[b - 1] < t->anchor[b] || t->level[b - 1] < t->level[b];
    for (int64_t c = t->first_child[b]; t->nchild[b] && c < t->first_child[b] + t->nchild[b]; c++)
      ok &= t->parent[c] == b;
    ok &= b >= t->level_ptr[t->level[b]] && b < t->level_ptr[t->level[b] + 1];
  }
  EXPECT(ok, "parent/child links, level bookends and sort order");
}

static void check_points(const kifmm_tree *t, int ncrit, int max_level) {
  int64_t covered_s = 0, covered_t = 0;
  int inside = 1, within = 1, contiguous = 1;
  for (int64_t j = 0; j < t->nleaf; j++) {
    int64_t b = t->leaf_box[j];
    contiguous &= t->leaf_src_ptr[j] == t->src_begin[b] && t->leaf_trg_ptr[j] == t->trg_begin[b];
    contiguous &= t->leaf_src_ptr[j + 1] == (j + 1 < t->nleaf ? t->src_begin[t->leaf_box[j + 1]] : t->nsrc);
    contiguous &= t->src_end[b] == t->leaf_src_ptr[j + 1] && t->trg_end[b] == t->leaf_trg_ptr[j + 1];
    int64_t count = (t->src_end[b] - t->src_begin[b]) + (t->trg_end[b] - t->trg_begin[b]);
    within &= count <= ncrit || t->level[b] == max_level;
    for (int64_t i = t->src_begin[b]; i < t->src_end[b]; i++)
      inside &= point_in_box(t, b, t->sx[i], t->sy[i], t->sz[i]);
    for (int64_t i = t->trg_begin[b]; i < t->trg_end[b]; i++)
      inside &= point_in_box(t, b, t->tx[i], t->ty[i], t->tz[i]);
    covered_s += t->src_end[b] - t->src_begin[b];
    covered_t += t->trg_end[b] - t->trg_begin[b];
  }
  EXPECT(covered_s == t->nsrc && covered_t == t->ntrg, "leaves partition the points");
  EXPECT(contiguous, "leaf bookends are consecutive CSR ranges");
  EXPECT(inside, "each point lies in its leaf");
  EXPECT(within, "leaves hold at most ncrit points unless at max_level");
}

/* The tree stores u = (x - center) / half, inside the root cube [-1, 1]^3. */
static double scaled(const kifmm_tree *t, const double *p, int d) {
  double u = 2.0 * ((0.5 * p[d] - 0.5 * t->center[d]) / t->half);
  return u < -1.0 ? -1.0 : (u > 1.0 ? 1.0 : u);
}

static void check_perm(const kifmm_tree *t, const double *src, const double *trg) {
  char *seen = calloc((size_t)(t->nsrc + 1), 1);
  int ok = 1;
  for (int64_t i = 0; i < t->nsrc; i++) {
    int64_t j = t->src_perm[i];
    ok &= j >= 0 && j < t->nsrc && !seen[j];
    if (ok) {
      seen[j] = 1;
      ok &= scaled(t, src + 3 * j, 0) == t->sx[i] && scaled(t, src + 3 * j, 1) == t->sy[i] &&
            scaled(t, src + 3 * j, 2) == t->sz[i];
    }
  }
  for (int64_t i = 0; i < t->ntrg; i++) {
    int64_t j = t->trg_perm[i];
    ok &= scaled(t, trg + 3 * j, 0) == t->tx[i] && scaled(t, trg + 3 * j, 2) == t->tz[i];
  }
  EXPECT(ok, "permutations map sorted points back to the caller's points");
  free(seen);
}

/* 2:1 balance: no leaf touches a box two or more levels finer. */
static void check_balance(const kifmm_tree *t) {
  int64_t violations = 0;
  for (int64_t j = 0; j < t->nleaf; j++) {
    int64_t a = t->leaf_box[j];
    for (int64_t b = t->level_ptr[t->level[a] + 2 <= t->depth ? t->level[a] + 2 : t->depth + 1];
         b < t->nbox; b++)
      if (t->level[b] == t->level[a] + 2 &&
          kifmm__boxes_adjacent(t->anchor[a], t->level[a], t->anchor[b], t->level[b]))
        violations++;
  }
  EXPECT(violations == 0, "2:1 balance, %lld violations", (long long)violations);
}

static void run_case(tu_dist dist, int64_t ns, int64_t nt, int ncrit, int max_level) {
  uint64_t seed = 11 + (uint64_t)dist;
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt);
  tu_points(dist, ns, &seed, src);
  tu_points(dist, nt, &seed, trg);
  kifmm_tree t;
  EXPECT_STATUS(kifmm__tree_build(&t, ns, src, nt, trg, ncrit, max_level, 2), KIFMM_SUCCESS);
  check_links(&t);
  check_points(&t, ncrit, max_level);
  check_perm(&t, src, trg);
  check_balance(&t);
  printf("  %s ns=%lld nt=%lld ncrit=%d: %lld boxes, %lld leaves, depth %d\n", tu_dist_name[dist],
         (long long)ns, (long long)nt, ncrit, (long long)t.nbox, (long long)t.nleaf, t.depth);
  kifmm__tree_free(&t);
  free(src);
  free(trg);
}

static void test_duplicates(void) {
  enum { N = 500 };
  double *p = tu_alloc(3 * N);
  for (int i = 0; i < N; i++) {
    p[3 * i] = 0.25;
    p[3 * i + 1] = -1.0;
    p[3 * i + 2] = 3.0;
  }
  kifmm_tree t;
  EXPECT_STATUS(kifmm__tree_build(&t, N, p, N, p, 10, 7, 1), KIFMM_SUCCESS);
  EXPECT(t.depth == 7, "identical points refine to max_level, depth %d", t.depth);
  EXPECT(t.nleaf == 1, "one leaf holds them all, %lld", (long long)t.nleaf);
  check_points(&t, 10, 7);
  kifmm__tree_free(&t);
  free(p);
}

int main(void) {
  run_case(TU_CUBE, 20000, 15000, 64, KIFMM_MAX_LEVEL);
  run_case(TU_SPHERE, 20000, 20000, 40, KIFMM_MAX_LEVEL);
  run_case(TU_CLUSTER, 30000, 10000, 32, KIFMM_MAX_LEVEL);
  run_case(TU_CLUSTER, 5000, 5000, 8, 6);
  run_case(TU_CUBE, 1, 0, 1, KIFMM_MAX_LEVEL);
  run_case(TU_CUBE, 0, 0, 1, KIFMM_MAX_LEVEL);
  test_duplicates();
  return tu_finish("test_tree");
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* Interaction lists: every (source leaf, target leaf) pair is accounted for exactly once by
 * U at the target leaf, V at the target or an ancestor (from the source or an ancestor),
 * W at the target leaf (from the source or an ancestor) or X at the target or an ancestor. */
#include "internal.h"
#include "testutil.h"

static int64_t count_pair_errors(const kifmm_tree *t, const kifmm_lists *L) {
  int64_t errors = 0;
  int *mark = calloc((size_t)t->nbox, sizeof(int));
  for (int64_t j = 0; j < t->nleaf; j++) {
    int64_t T = t->leaf_box[j];
    if (t->trg_end[T] == t->trg_begin[T])
      continue;
    memset(mark, 0, (size_t)t->nbox * sizeof(int));
    for (int64_t e = L->u_ptr[T]; e < L->u_ptr[T + 1]; e++)
      mark[L->u_idx[e]]++;
    for (int64_t e = L->w_ptr[T]; e < L->w_ptr[T + 1]; e++)
      mark[L->w_idx[e]]++;
    for (int64_t a = T; a >= 0; a = t->parent[a]) {
      for (int64_t e = L->v_ptr[a]; e < L->v_ptr[a + 1]; e++)
        mark[L->v_idx[e]]++;
      for (int64_t e = L->x_ptr[a]; e < L->x_ptr[a + 1]; e++)
        mark[L->x_idx[e]]++;
    }
    for (int64_t i = 0; i < t->nleaf; i++) {
      int64_t S = t->leaf_box[i];
      if (t->src_end[S] == t->src_begin[S])
        continue;
      int total = 0;
      for (int64_t a = S; a >= 0; a = t->parent[a])
        total += mark[a];
      errors += total != 1;
    }
  }
  free(mark);
  return errors;
}

static int lists_well_formed(const kifmm_tree *t, const kifmm_lists *L) {
  int ok = 1;
  for (int64_t b = 0; b < t->nbox; b++) {
    for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++) {
      int64_t a = L->u_idx[e];
      ok &= t->nchild[a] == 0 && t->nchild[b] == 0;
      ok &= kifmm__boxes_adjacent(t->anchor[a], t->level[a], t->anchor[b], t->level[b]);
    }
    for (int64_t e = L->v_ptr[b]; e < L->v_ptr[b + 1]; e++) {
      int64_t a = L->v_idx[e];
      uint64_t ca[3], cb[3];
      kifmm__morton_decode(t->anchor[a], &ca[0], &ca[1], &ca[2]);
      kifmm__morton_decode(t->anchor[b], &cb[0], &cb[1], &cb[2]);
      ok &= t->level[a] == t->level[b];
      ok &= L->v_tv[e] == kifmm__tv_index((int)((int64_t)ca[0] - (int64_t)cb[0]),
                                          (int)((int64_t)ca[1] - (int64_t)cb[1]),
                                          (int)((int64_t)ca[2] - (int64_t)cb[2]));
    }
    for (int64_t e = L->w_ptr[b]; e < L->w_ptr[b + 1]; e++) {
      int64_t a = L->w_idx[e];
      ok &= !kifmm__boxes_adjacent(t->anchor[a], t->level[a], t->anchor[b], t->level[b]);
      ok &= t->level[a] > t->level[b];
    }
    for (int64_t e = L->x_ptr[b]; e < L->x_ptr[b + 1]; e++)
      ok &= t->nchild[L->x_idx[e]] == 0 && t->level[L->x_idx[e]] < t->level[b];
  }
  return ok;
}

/* The near field's schedule (tree/near.c): each pair of distinct leaves whose targets are
 * their sources (not a periodic image) is taken both ways by exactly one of them, the other's
 * entry skips it; every leaf with targets runs once; the leaves of one colour write disjoint
 * leaves (their own and their owned partners'). Where targets are not the sources: no
 * schedule. Returns the pairs taken both ways. */
static int64_t check_near(const kifmm_tree *t, const kifmm_lists *L, const char *label) {
  kifmm_near nr;
  EXPECT_STATUS(kifmm__near_build(&nr, t, L), KIFMM_SUCCESS);
  int64_t both = 0, bad_roles = 0, bad_runs = 0, conflicts = 0;
  if (nr.ncolour == 0) {
    kifmm__near_free(&nr);
    return 0;
  }
  for (int64_t b = 0; b < t->nbox; b++)
    for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++) {
      int64_t a = L->u_idx[e];
      int8_t mirror = -1; /* the role of a's entry for b with the opposite shift */
      for (int64_t f = L->u_ptr[a]; f < L->u_ptr[a + 1]; f++)
        if (L->u_idx[f] == b && (!L->u_sh || L->u_sh[f] == 26 - L->u_sh[e]))
          mirror = nr.u_role[f];
      both += nr.u_role[e] == KIFMM_NEAR_BOTH;
      if (nr.u_role[e] == KIFMM_NEAR_BOTH)
        bad_roles += !(a > b && mirror == KIFMM_NEAR_PARTNER);
      else if (nr.u_role[e] == KIFMM_NEAR_PARTNER)
        bad_roles += !(a < b && mirror == KIFMM_NEAR_BOTH);
      else
        bad_roles += mirror != KIFMM_NEAR_ONE_WAY && !(a == b && mirror < 0);
    }
  const size_t nb = (size_t)(t->nbox > 0 ? t->nbox : 1);
  int64_t *runs = calloc(nb, sizeof(int64_t)), *stamp = calloc(nb, sizeof(int64_t));
  if (!runs || !stamp) {
    fprintf(stderr, "test: out of memory\n");
    exit(2);
  }
  for (int64_t b = 0; b < t->nbox; b++)
    stamp[b] = -1;
  for (int32_t c = 0; c < nr.ncolour; c++)
    for (int64_t k = nr.colour_ptr[c]; k < nr.colour_ptr[c + 1]; k++) {
      int64_t b = nr.colour_box[k];
      runs[b]++;
      conflicts += stamp[b] == c;
      stamp[b] = c;
      for (int64_t e = L->u_ptr[b]; e < L->u_ptr[b + 1]; e++)
        if (nr.u_role[e] == KIFMM_NEAR_BOTH) {
          conflicts += stamp[L->u_idx[e]] == c;
          stamp[L->u_idx[e]] = c;
        }
    }
  for (int64_t j = 0; j < t->nleaf; j++) {
    int64_t b = t->leaf_box[j];
    bad_runs += runs[b] != (t->trg_end[b] > t->trg_begin[b]);
  }
  EXPECT(bad_roles == 0, "%s: %lld U entries with roles that do not pair up", label,
         (long long)bad_roles);
  EXPECT(bad_runs == 0, "%s: %lld leaves not run exactly once", label, (long long)bad_runs);
  EXPECT(conflicts == 0, "%s: %lld leaves written twice within a colour", label,
         (long long)conflicts);
  printf("  %s: near field %lld pairs both ways, %d colours\n", label, (long long)both,
         nr.ncolour);
  free(runs);
  free(stamp);
  kifmm__near_free(&nr);
  return both;
}

static void run_case(tu_dist dist, int64_t ns, int64_t nt, int ncrit, int max_level,
                     int same_points) {
  uint64_t seed = 21 + (uint64_t)dist;
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt);
  tu_points(dist, ns, &seed, src);
  tu_points(dist, nt, &seed, trg);
  kifmm_tree t;
  kifmm_lists L;
  EXPECT_STATUS(kifmm__tree_build(&t, ns, src, same_points ? ns : nt, same_points ? src : trg,
                                  ncrit, max_level, 2),
                KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm__lists_build(&L, &t, 2), KIFMM_SUCCESS);
  int64_t nx = L.x_ptr[t.nbox], nw = L.w_ptr[t.nbox];
  int64_t errors = count_pair_errors(&t, &L);
  EXPECT(errors == 0, "%s: %lld leaf pairs not covered exactly once", tu_dist_name[dist],
         (long long)errors);
  EXPECT(lists_well_formed(&t, &L), "%s: list entries well formed", tu_dist_name[dist]);
  printf("  %s leaves=%lld depth=%d U=%lld V=%lld W=%lld X=%lld\n", tu_dist_name[dist],
         (long long)t.nleaf, t.depth, (long long)L.u_ptr[t.nbox], (long long)L.v_ptr[t.nbox],
         (long long)nw, (long long)nx);
  if (dist == TU_CLUSTER)
    EXPECT(nw > 0 && nx > 0, "adaptive tree exercises W and X lists");
  int64_t both = check_near(&t, &L, tu_dist_name[dist]);
  EXPECT((both > 0) == (same_points && ns > 2 * ncrit), "%s: %lld pairs both ways, points %s",
         tu_dist_name[dist], (long long)both, same_points ? "the same" : "separate");
  kifmm__lists_free(&L);
  kifmm__tree_free(&t);
  free(src);
  free(trg);
}

static int same_array(const void *a, const void *b, int64_t n, size_t size) {
  return n == 0 || memcmp(a, b, (size_t)n * size) == 0;
}

/* The tree (parallel radix sort, refinement) and the lists (colleague table, parallel passes)
 * must not depend on the thread count: the same boxes, points and list entries in the same
 * order. Large enough for the threaded sort to take part. */
static void check_thread_invariance(void) {
  int64_t ns = 120000, nt = 90000;
  uint64_t seed = 77;
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt);
  tu_points(TU_CLUSTER, ns, &seed, src);
  tu_points(TU_CLUSTER, nt, &seed, trg);
  kifmm_tree t1, t3;
  kifmm_lists L1, L3;
  EXPECT_STATUS(kifmm__tree_build(&t1, ns, src, nt, trg, 25, KIFMM_MAX_LEVEL, 1), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm__tree_build(&t3, ns, src, nt, trg, 25, KIFMM_MAX_LEVEL, 3), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm__lists_build(&L1, &t1, 1), KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm__lists_build(&L3, &t3, 3), KIFMM_SUCCESS);
  int64_t n = t1.nbox;
  int ok = t1.nbox == t3.nbox && t1.nleaf == t3.nleaf;
  ok = ok && same_array(t1.anchor, t3.anchor, n, sizeof(*t1.anchor)) &&
       same_array(t1.parent, t3.parent, n, sizeof(int64_t)) &&
       same_array(t1.src_begin, t3.src_begin, n, sizeof(int64_t)) &&
       same_array(t1.trg_begin, t3.trg_begin, n, sizeof(int64_t)) &&
       same_array(t1.src_perm, t3.src_perm, ns, sizeof(int64_t)) &&
       same_array(t1.trg_perm, t3.trg_perm, nt, sizeof(int64_t)) &&
       same_array(t1.sx, t3.sx, ns, sizeof(double)) && same_array(t1.tz, t3.tz, nt, sizeof(double));
  EXPECT(ok, "tree independent of the thread count");
  ok = ok && same_array(L1.u_ptr, L3.u_ptr, n + 1, sizeof(int64_t)) &&
       same_array(L1.v_ptr, L3.v_ptr, n + 1, sizeof(int64_t)) &&
       same_array(L1.w_ptr, L3.w_ptr, n + 1, sizeof(int64_t)) &&
       same_array(L1.x_ptr, L3.x_ptr, n + 1, sizeof(int64_t));
  ok = ok && same_array(L1.u_idx, L3.u_idx, L1.u_ptr[n], sizeof(int64_t)) &&
       same_array(L1.v_idx, L3.v_idx, L1.v_ptr[n], sizeof(int64_t)) &&
       same_array(L1.v_tv, L3.v_tv, L1.v_ptr[n], sizeof(int16_t)) &&
       same_array(L1.w_idx, L3.w_idx, L1.w_ptr[n], sizeof(int64_t)) &&
       same_array(L1.x_idx, L3.x_idx, L1.x_ptr[n], sizeof(int64_t));
  EXPECT(ok, "lists independent of the thread count");
  kifmm__lists_free(&L1);
  kifmm__lists_free(&L3);
  kifmm__tree_free(&t1);
  kifmm__tree_free(&t3);
  free(src);
  free(trg);
}

/* ---- periodic trees: every (source leaf image, target leaf) pair, for the images within the
 * root's neighbours (shifts -1, 0, 1 along the periodic axes), covered exactly once ---- */
static int v_shift_code(const kifmm_tree *t, int64_t a, int tv) {
  uint64_t c[3];
  int d[3], code = 0;
  kifmm__morton_decode(t->anchor[a], &c[0], &c[1], &c[2]);
  kifmm__tv_offset(tv, d);
  int64_t side = (int64_t)1 << t->level[a];
  for (int x = 0; x < 3; x++) {
    int64_t u = (int64_t)c[x] + d[x]; /* the source's unwrapped cell */
    int s = u < 0 ? -1 : (u >= side ? 1 : 0);
    code = 3 * code + s + 1;
  }
  return code;
}

static int shift_allowed(const int32_t periodic[3], int code) {
  int s[3];
  kifmm__shift_vector(code, s);
  for (int x = 0; x < 3; x++)
    if (s[x] != 0 && !periodic[x])
      return 0;
  return 1;
}

static int64_t count_periodic_errors(const kifmm_tree *t, const kifmm_lists *L) {
  int64_t errors = 0;
  int *mark = calloc((size_t)t->nbox * 27, sizeof(int));
  for (int64_t j = 0; j < t->nleaf; j++) {
    int64_t T = t->leaf_box[j];
    if (t->trg_end[T] == t->trg_begin[T])
      continue;
    memset(mark, 0, (size_t)t->nbox * 27 * sizeof(int));
    for (int64_t e = L->u_ptr[T]; e < L->u_ptr[T + 1]; e++)
      mark[27 * L->u_idx[e] + L->u_sh[e]]++;
    for (int64_t e = L->w_ptr[T]; e < L->w_ptr[T + 1]; e++)
      mark[27 * L->w_idx[e] + L->w_sh[e]]++;
    for (int64_t a = T; a >= 0; a = t->parent[a]) {
      for (int64_t e = L->v_ptr[a]; e < L->v_ptr[a + 1]; e++)
        mark[27 * L->v_idx[e] + v_shift_code(t, a, L->v_tv[e])]++;
      for (int64_t e = L->x_ptr[a]; e < L->x_ptr[a + 1]; e++)
        mark[27 * L->x_idx[e] + L->x_sh[e]]++;
    }
    for (int64_t i = 0; i < t->nleaf; i++) {
      int64_t S = t->leaf_box[i];
      if (t->src_end[S] == t->src_begin[S])
        continue;
      for (int k = 0; k < 27; k++) {
        if (!shift_allowed(t->periodic, k))
          continue;
        int total = 0;
        for (int64_t a = S; a >= 0; a = t->parent[a])
          total += mark[27 * a + k];
        errors += total != 1;
      }
    }
  }
  free(mark);
  return errors;
}

static void run_periodic_case(tu_dist dist, int64_t ns, int64_t nt, int ncrit,
                              const int32_t periodic[3]) {
  uint64_t seed = 99 + (uint64_t)dist;
  double *src = tu_alloc(3 * ns), *trg = tu_alloc(3 * nt);
  tu_points(dist, ns, &seed, src);
  tu_points(dist, nt, &seed, trg);
  for (int64_t i = 0; i < nt; i++) /* targets outside the cell along periodic axes: wrapped */
    for (int d = 0; d < 3; d++)
      if (periodic[d] && i % 7 == 0)
        trg[3 * i + d] += 2.0 * (i % 2 ? 2 : -1); /* whole periods of the cell */
  const double origin[3] = {-1.0, -1.0, -1.0};
  kifmm_tree t;
  kifmm_lists L;
  EXPECT_STATUS(kifmm__tree_build_cell(&t, ns, src, nt, trg, ncrit, KIFMM_MAX_LEVEL, 2, origin,
                                       2.0, periodic),
                KIFMM_SUCCESS);
  EXPECT_STATUS(kifmm__lists_build(&L, &t, 2), KIFMM_SUCCESS);
  if (ns > 2 * ncrit) { /* the same points for both: the schedule with periodic images */
    kifmm_tree ts;
    kifmm_lists Ls;
    EXPECT_STATUS(kifmm__tree_build_cell(&ts, ns, src, ns, src, ncrit, KIFMM_MAX_LEVEL, 2,
                                         origin, 2.0, periodic),
                  KIFMM_SUCCESS);
    EXPECT_STATUS(kifmm__lists_build(&Ls, &ts, 2), KIFMM_SUCCESS);
    EXPECT(check_near(&ts, &Ls, "periodic, targets = sources") > 0,
           "periodic: pairs taken both ways");
    kifmm__lists_free(&Ls);
    kifmm__tree_free(&ts);
  }
  int64_t errors = count_periodic_errors(&t, &L);
  EXPECT(errors == 0, "%s periodic %d%d%d: %lld (leaf pair, image) not covered exactly once",
         tu_dist_name[dist], periodic[0], periodic[1], periodic[2], (long long)errors);
  printf("  %s periodic %d%d%d leaves=%lld depth=%d U=%lld V=%lld W=%lld X=%lld\n",
         tu_dist_name[dist], periodic[0], periodic[1], periodic[2], (long long)t.nleaf, t.depth,
         (long long)L.u_ptr[t.nbox], (long long)L.v_ptr[t.nbox], (long long)L.w_ptr[t.nbox],
         (long long)L.x_ptr[t.nbox]);
  kifmm__lists_free(&L);
  kifmm__tree_free(&t);
  free(src);
  free(trg);
}

static void check_periodic(void) {
  const int32_t masks[4][3] = {{1, 1, 1}, {1, 1, 0}, {0, 0, 1}, {1, 0, 0}};
  for (int m = 0; m < 4; m++) {
    run_periodic_case(TU_CUBE, 1500, 1000, 20, masks[m]);
    run_periodic_case(TU_CLUSTER, 1500, 1200, 8, masks[m]);
    run_periodic_case(TU_CUBE, 5, 3, 20, masks[m]); /* the root is the only leaf */
    run_periodic_case(TU_CUBE, 60, 40, 20, masks[m]); /* depth 1 and 2 */
  }
}

int main(void) {
  check_periodic();
  run_case(TU_CUBE, 3000, 2000, 20, KIFMM_MAX_LEVEL, 0);
  run_case(TU_SPHERE, 4000, 4000, 30, KIFMM_MAX_LEVEL, 0);
  run_case(TU_CLUSTER, 4000, 3000, 12, KIFMM_MAX_LEVEL, 0);
  run_case(TU_CLUSTER, 3000, 0, 10, 8, 1);
  run_case(TU_CUBE, 3000, 3000, 20, KIFMM_MAX_LEVEL, 1);
  run_case(TU_CLUSTER, 4000, 4000, 12, KIFMM_MAX_LEVEL, 1);
  run_case(TU_CLUSTER, 2000, 500, 3, 10, 0);
  check_thread_invariance();
  return tu_finish("test_lists");
}

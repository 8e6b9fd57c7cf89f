/* SPDX-License-Identifier: BSD-3-Clause */
/* Register-tile gemm, instantiated once per instruction set by gemm.c: it defines V (vector
 * type), W (lanes), MASK, LOAD, LOADM, STOREM, BCAST, FMADD, MUL, ZERO, SET1, MASK_FIRST(n),
 * MASK_ALL, MV_MAX (row vectors per tile, <= 3), NR_MAX (columns per tile, <= 8), NR_LIST(X)
 * (X of each column count, halving from NR_MAX to 1), TARGET and NAME(x). No include guard: included once per instruction set.
 * Columns of B and C are reached through pointers, so M2L can read multipoles and add to
 * locals where they lie instead of copying them into dense blocks and back. */

/* One tile: nv vectors of rows (the last one masked to `last` unless the tile is `full`,
 * MV_MAX whole vectors: masked loads cost extra uops on AVX2) by nr columns, the whole k reduction in registers.
 * A is read in place: on the FMM shapes it stays in L1/L2, so packing would cost more than
 * it saves. The accumulators are named scalars, not an array: gcc keeps an array of vectors
 * on the stack. nv <= 3, nr <= 8 and full are compile-time constants after inlining, so the
 * guards below vanish. Rows [row, row + tile) of the C columns are written. */
#define KIFMM_ACC_ROW(j)                                                   \
  V acc0##j = ZERO(), acc1##j = ZERO(), acc2##j = ZERO();                  \
  const double *b##j = nr > j ? bc[j] : NULL;
#define KIFMM_ACC_STEP(j)                                                  \
  if (nr > j) {                                                            \
    V bj = BCAST(b##j + p);                                                \
    acc0##j = FMADD(a0, bj, acc0##j);                                      \
    if (nv > 1)                                                            \
      acc1##j = FMADD(a1, bj, acc1##j);                                    \
    if (nv > 2)                                                            \
      acc2##j = FMADD(a2, bj, acc2##j);                                    \
  }
#define KIFMM_ACC_STORE(j)                                                 \
  if (nr > j) {                                                            \
    double *cj = cc[j] + row;                                              \
    NAME(store)(nv > 1 || full ? MASK_ALL : last, alpha, beta, acc0##j, cj); \
    if (nv > 1)                                                            \
      NAME(store)(nv > 2 || full ? MASK_ALL : last, alpha, beta, acc1##j, cj + W); \
    if (nv > 2)                                                            \
      NAME(store)(full ? MASK_ALL : last, alpha, beta, acc2##j, cj + 2 * W); \
  }

static inline __attribute__((always_inline)) TARGET void NAME(store)(MASK mk, double alpha,
                                                                     double beta, V acc,
                                                                     double *cp) {
  V r = MUL(SET1(alpha), acc);
  if (beta != 0.0) /* C may hold garbage when beta == 0 */
    r = FMADD(SET1(beta), LOADM(cp, mk), r);
  STOREM(cp, mk, r);
}

static inline __attribute__((always_inline)) TARGET void NAME(tile)(
    int nv, int nr, int full, int k, const double *a, int lda, const double *const *bc,
    double alpha, double beta, double *const *cc, int row, MASK last) {
  KIFMM_ACC_ROW(0) KIFMM_ACC_ROW(1) KIFMM_ACC_ROW(2) KIFMM_ACC_ROW(3)
  KIFMM_ACC_ROW(4) KIFMM_ACC_ROW(5) KIFMM_ACC_ROW(6) KIFMM_ACC_ROW(7)
  for (int p = 0; p < k; p++) {
    const double *ap = a + (size_t)p * lda;
    V a0 = nv > 1 || full ? LOAD(ap) : LOADM(ap, last), a1 = ZERO(), a2 = ZERO();
    if (nv > 1)
      a1 = nv > 2 || full ? LOAD(ap + W) : LOADM(ap + W, last);
    if (nv > 2)
      a2 = full ? LOAD(ap + 2 * W) : LOADM(ap + 2 * W, last);
    KIFMM_ACC_STEP(0) KIFMM_ACC_STEP(1) KIFMM_ACC_STEP(2) KIFMM_ACC_STEP(3)
    KIFMM_ACC_STEP(4) KIFMM_ACC_STEP(5) KIFMM_ACC_STEP(6) KIFMM_ACC_STEP(7)
  }
  KIFMM_ACC_STORE(0) KIFMM_ACC_STORE(1) KIFMM_ACC_STORE(2) KIFMM_ACC_STORE(3)
  KIFMM_ACC_STORE(4) KIFMM_ACC_STORE(5) KIFMM_ACC_STORE(6) KIFMM_ACC_STORE(7)
}
#undef KIFMM_ACC_ROW
#undef KIFMM_ACC_STEP
#undef KIFMM_ACC_STORE

/* Specialises the tile on compile-time shapes so the accumulators live in registers. */
static TARGET __attribute__((noinline)) void NAME(tile_fixed)(
    int nv, int nr, int full, int k, const double *a, int lda, const double *const *bc,
    double alpha, double beta, double *const *cc, int row, MASK last) {
#define KIFMM_TILE_CASE(FULL, NV, NR)                                        \
  case FULL * 64 + NV * 16 + NR:                                             \
    NAME(tile)(NV, NR, FULL, k, a, lda, bc, alpha, beta, cc, row, last);     \
    break;
#define KIFMM_TILE_COLS(NR)                                                  \
  KIFMM_TILE_CASE(1, MV_MAX, NR)                                             \
  KIFMM_TILE_CASE(0, 3, NR) KIFMM_TILE_CASE(0, 2, NR) KIFMM_TILE_CASE(0, 1, NR)
  switch (full * 64 + nv * 16 + nr) {
    NR_LIST(KIFMM_TILE_COLS)
  default:
    break;
  }
#undef KIFMM_TILE_COLS
#undef KIFMM_TILE_CASE
}

/* nr columns of C: row tiles of A streamed past one k x nr panel of B, which stays in L1. */
static TARGET void NAME(panel)(int m, int nr, int k, double alpha, const double *a, int lda,
                               const double *const *bc, double beta, double *const *cc) {
  for (int i = 0; i < m;) {
    int rows = m - i < MV_MAX * W ? m - i : MV_MAX * W, nv = (rows + W - 1) / W;
    NAME(tile_fixed)(nv, nr, rows == MV_MAX * W, k, a + i, lda, bc, alpha, beta, cc, i,
                     MASK_FIRST(rows - (nv - 1) * W));
    i += rows;
  }
}

/* Columns [j, j + n) of C over rows [0, m) and the k range of the given pointers: panels of
 * up to NR_MAX columns, the widest first. */
static TARGET void NAME(panels)(int m, int n, int k, double alpha, const double *a, int lda,
                                const double *const *bc, double beta, double *const *cc) {
  for (int j = 0; j < n;) {
    int nr = NR_MAX;
    while (nr > n - j)
      nr /= 2;
    NAME(panel)(m, nr, k, alpha, a, lda, bc + j, beta, cc + j);
    j += nr;
  }
}

/* Large A (the M2M and L2L operators from order ~10) does not stay in cache while every
 * panel streams all of it: cut it into KIFMM_GEMM_MC x KIFMM_GEMM_KC blocks (240 KB, in L2),
 * each copied into `pack` so that its columns are adjacent (read in place, a tall A puts
 * every k step on another page), and run all the columns past each block. A is then read
 * from memory once per call instead of once per panel. The k blocks after the first add to
 * C (beta 1), which leaves alpha and beta as asked. */
static TARGET void NAME(blocked)(int m, int n, int k, double alpha, const double *a, int lda,
                                 const double *const *bc, double beta, double *const *cc,
                                 double *pack) {
  const double *bk[KIFMM_GEMM_NCOL];
  double *ck[KIFMM_GEMM_NCOL];
  for (int j0 = 0; j0 < n; j0 += KIFMM_GEMM_NCOL) {
    int nc = n - j0 < KIFMM_GEMM_NCOL ? n - j0 : KIFMM_GEMM_NCOL;
    for (int k0 = 0; k0 < k; k0 += KIFMM_GEMM_KC) {
      int kc = k - k0 < KIFMM_GEMM_KC ? k - k0 : KIFMM_GEMM_KC;
      for (int j = 0; j < nc; j++)
        bk[j] = bc[j0 + j] + k0;
      for (int i0 = 0; i0 < m; i0 += KIFMM_GEMM_MC) {
        int mc = m - i0 < KIFMM_GEMM_MC ? m - i0 : KIFMM_GEMM_MC;
        for (int p = 0; p < kc; p++)
          memcpy(pack + (size_t)p * mc, a + i0 + (size_t)(k0 + p) * lda,
                 (size_t)mc * sizeof(double));
        for (int j = 0; j < nc; j++)
          ck[j] = cc[j0 + j] + i0;
        NAME(panels)(mc, nc, kc, alpha, pack, mc, bk, k0 == 0 ? beta : 1.0, ck);
      }
    }
  }
}

static TARGET void NAME(mm_cols)(int m, int n, int k, double alpha, const double *a, int lda,
                                 const double *const *bc, double beta, double *const *cc) {
  double *pack = k > 0 && gemm_blocks(m, n, k) ? gemm_pack_new() : NULL;
  if (pack)
    NAME(blocked)(m, n, k, alpha, a, lda, bc, beta, cc, pack);
  else /* also when the block buffer cannot be had: slower, same result */
    NAME(panels)(m, n, k, alpha, a, lda, bc, beta, cc);
  free(pack);
}

static TARGET void NAME(mm)(int m, int n, int k, double alpha, const double *a, int lda,
                            const double *b, int ldb, double beta, double *c, int ldc) {
  const double *bc[KIFMM_GEMM_NCOL];
  double *cc[KIFMM_GEMM_NCOL];
  for (int j0 = 0; j0 < n; j0 += KIFMM_GEMM_NCOL) {
    int nc = n - j0 < KIFMM_GEMM_NCOL ? n - j0 : KIFMM_GEMM_NCOL;
    for (int q = 0; q < nc; q++) {
      bc[q] = b + (size_t)(j0 + q) * ldb;
      cc[q] = c + (size_t)(j0 + q) * ldc;
    }
    NAME(mm_cols)(m, nc, k, alpha, a, lda, bc, beta, cc);
  }
}

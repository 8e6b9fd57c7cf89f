/* SPDX-License-Identifier: BSD-3-Clause */
/* Distributed Morton partition (internal): the ranks' points sorted along the Z curve across
 * the communicator and cut at leaf boundaries of the global adaptive octree, p4est style. */
#ifndef KIFMM_PARTITION_H
#define KIFMM_PARTITION_H

#include <mpi.h>

#include "tree/tree.h"

/* Curve positions are finest-level keys: a box (level, anchor) covers the positions
 * [anchor << 3 (KEY_BITS - level), (anchor + 1) << 3 (KEY_BITS - level)). */
#define KIFMM_CURVE_END ((kifmm_key)1 << 3 * KIFMM_KEY_BITS)

/* One rank's share of the global point set after kifmm__partition_create().
 *
 * The global tree is the one kifmm__tree_build() makes for the union of all ranks' points
 * (concatenated in rank order): same centre and half-width, same keys, same leaves, and
 * within each rank the same point order as the serial sorted arrays. Rank r owns the leaves
 * whose curve positions lie in [global_first[r], global_first[r + 1]); no leaf is split
 * between ranks. Points travel between ranks as bytes: all ranks must share one data
 * representation, as on any one cluster. */
typedef struct kifmm_partition {
  int rank, size;
  double center[3], half; /* of the union of all ranks' points */
  int64_t nsrc_global, ntrg_global;
  /* Local points in Morton order: scaled coordinates (interleaved xyz, in [-1, 1]), keys,
   * and where each came from (rank and index in that rank's input) so that results can be
   * sent back. */
  int64_t nsrc, ntrg;
  double *src, *trg;
  kifmm_key *src_key, *trg_key;
  int32_t *src_rank, *trg_rank;
  int64_t *src_index, *trg_index;
  /* Local leaves in curve order, with CSR bookends into the local points. */
  int64_t nleaf;
  kifmm_key *leaf_anchor;
  int8_t *leaf_level;
  int64_t *leaf_src_ptr, *leaf_trg_ptr; /* nleaf + 1 */
  /* size + 1 curve positions, identical on every rank: the position of each rank's first
   * leaf, except that the ranges cover the whole curve (global_first[0] = 0 and
   * global_first[size] = KIFMM_CURVE_END) and an empty rank has an empty range. */
  kifmm_key *global_first;
  int balanced; /* leaves are 2:1 balanced across the whole tree */
} kifmm_partition;

/* Work model for cutting the curve: a leaf costs per_source * sources + per_target * targets
 * + per_leaf (e.g. per_leaf for its expansions). Each field in [0, KIFMM_PARTITION_WORK_MAX],
 * which keeps the sums far from overflow; NULL means {1, 1, 0}: points per rank. */
#define KIFMM_PARTITION_WORK_MAX ((int64_t)1 << 20)
typedef struct kifmm_partition_work {
  int64_t per_source, per_target, per_leaf;
} kifmm_partition_work;

/* Global centre and half-width of the union of every rank's sources and targets: the values
 * kifmm__tree_build() computes for that union. Collective over comm. */
/* Every rank gets the largest status found on any rank, so that all return the same and
 * leave a collective phase together. */
KIFMM_INTERNAL int kifmm__mpi_agree(MPI_Comm comm, int status);
KIFMM_INTERNAL int kifmm__global_bounds(MPI_Comm comm, int64_t nsrc, const double *src,
                                        int64_t ntrg, const double *trg, double center[3],
                                        double *half);

/* Sort, refine and partition. Each rank passes its own points (interleaved xyz, borrowed,
 * not retained); src and trg may be the same array. A box is split while it holds more than
 * ncrit sources + targets, down to max_level; balance != 0 adds the 2:1 balance of the serial
 * tree. Leaves are cut so that each rank gets about the same work (see kifmm_partition_work;
 * work may be NULL), counted on the final (balanced, if asked) leaves.
 * Collective over comm; on failure every rank returns the same nonzero status (the first
 * argument checks: KIFMM_ERR_INVALID_COUNT for a negative count or a work field out of range,
 * KIFMM_ERR_NULL_ARGUMENT, KIFMM_ERR_INVALID_NCRIT, KIFMM_ERR_INVALID_MAX_LEVEL) and p is left
 * empty (kifmm__partition_free() is still safe). */
KIFMM_INTERNAL int kifmm__partition_create(kifmm_partition *p, MPI_Comm comm, int64_t nsrc,
                                           const double *src, int64_t ntrg, const double *trg,
                                           int ncrit, int max_level, int balance,
                                           const kifmm_partition_work *work);
/* A periodic cell [origin, origin + length]^3 (kifmm__tree_build_cell's): the root of the
 * partition's tree is the cell instead of the points' bounding box, and coordinates along the
 * axes with periodic[d] != 0 are wrapped into it, so that every rank's points get the keys of
 * the one-process periodic tree whichever image a rank was given. */
typedef struct kifmm_partition_cell {
  double origin[3], length;
  int32_t periodic[3];
} kifmm_partition_cell;

/* kifmm__partition_create() with the root at cell (NULL: the global bounding box); the points
 * along the cell's free axes must lie in it (the plan checks them first). */
KIFMM_INTERNAL int kifmm__partition_create_cell(kifmm_partition *p, MPI_Comm comm, int64_t nsrc,
                                                const double *src, int64_t ntrg,
                                                const double *trg, int ncrit, int max_level,
                                                int balance, const kifmm_partition_work *work,
                                                const kifmm_partition_cell *cell);
KIFMM_INTERNAL void kifmm__partition_free(kifmm_partition *p);

/* Rank owning curve position pos according to global_first. */
KIFMM_INTERNAL int kifmm__partition_owner(const kifmm_partition *p, kifmm_key pos);

#endif /* KIFMM_PARTITION_H */

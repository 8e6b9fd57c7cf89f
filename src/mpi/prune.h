/* SPDX-License-Identifier: BSD-3-Clause */
/* Cutting the replicated global tree down to the boxes one rank touches (src/mpi/prune.c). */
#ifndef KIFMM_PRUNE_H
#define KIFMM_PRUNE_H

#include "tree/tree.h"

/* Keeps the boxes with keep[b] set and their ancestors (keep is completed in place), renumbers
 * the lists (whose entries must all be kept; periodic image shifts stay with them) and sets old2new[b] (-1 for a dropped box). Dropped
 * boxes must hold no points (prune.c). */
KIFMM_INTERNAL int kifmm__tree_prune(kifmm_tree *t, kifmm_lists *L, int8_t *keep,
                                     int64_t *old2new);

#endif /* KIFMM_PRUNE_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/* Every internal layer at once, for the in-tree tests and benchmarks that reach kifmm__*
 * internals. The library's own files include only the layer headers they use. */
#ifndef KIFMM_INTERNAL_H
#define KIFMM_INTERNAL_H

#include "plan/plan.h"

#endif /* KIFMM_INTERNAL_H */

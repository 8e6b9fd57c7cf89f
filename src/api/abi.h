/* SPDX-License-Identifier: BSD-3-Clause */
/* Binary layouts of kifmm_options and kifmm_stats: the plan reads caller options and writes
 * caller statistics only through these, so one file (abi.c) knows every released layout. */
#ifndef KIFMM_ABI_H
#define KIFMM_ABI_H

#include "util/util.h"

/* *out = the options in *in, whichever released layout it has (see abi.c), over defaults;
 * in == NULL gives the defaults. out->struct_size is this library's size. Returns
 * KIFMM_ERR_STRUCT_SIZE for a layout it does not know. Does not validate values. */
KIFMM_INTERNAL int kifmm__options_import(kifmm_options *out, const kifmm_options *in);

/* Copy the first struct_size bytes of *in to *out, with out->struct_size = struct_size.
 * Returns KIFMM_ERR_STRUCT_SIZE, writing nothing, for a size no released layout has. */
KIFMM_INTERNAL int kifmm__stats_export(kifmm_stats *out, const kifmm_stats *in,
                                       size_t struct_size);

#endif /* KIFMM_ABI_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/* Progress reports to the caller's callback. The options in force are kept per thread for
 * the duration of one library call, so that deep code (the operator precomputation) can
 * report without every signature carrying the callback, and so that only the caller's own
 * thread ever calls it (OpenMP workers see no scope and stay silent). */
#include <string.h>

#include "util/util.h"

static _Thread_local const kifmm_options *scope;
static _Thread_local const char *last_phase;
static _Thread_local double last_fraction;

void kifmm__progress_scope(const kifmm_options *opts) {
  scope = opts;
  last_phase = NULL;
}

/* Starts and ends always; in between at most one report per 2 % of the phase, so that
 * loops may report every step without flooding the caller. */
void kifmm__progress(const char *phase, double fraction) {
  if (!scope || !scope->progress)
    return;
  int edge = fraction <= 0.0 || fraction >= 1.0 || !last_phase || strcmp(phase, last_phase);
  if (!edge && fraction < last_fraction + 0.02)
    return;
  last_phase = phase;
  last_fraction = fraction;
  scope->progress(phase, fraction, scope->progress_data);
}

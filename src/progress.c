/* Progress reports to the caller's callback. The options in force are kept per thread for
 * the duration of one library call, so that deep code (the operator precomputation) can
 * report without every signature carrying the callback, and so that only the caller's own
 * thread ever calls it (OpenMP workers see no scope and stay silent). */
#include "internal.h"

static _Thread_local const kifmm_options *scope;

void kifmm__progress_scope(const kifmm_options *opts) { scope = opts; }

void kifmm__progress(const char *phase, double fraction) {
  if (scope && scope->progress)
    scope->progress(phase, fraction, scope->progress_data);
}

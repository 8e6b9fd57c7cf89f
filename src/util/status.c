/* SPDX-License-Identifier: BSD-3-Clause */
/* Status codes and their messages, generated from the single KIFMM_STATUS_LIST in kifmm.h.
 * Every public entry point returns one of these codes. */
#include <stdarg.h>
#include <stdio.h>

#include "util/util.h"

/* Per thread, so that plans made at once in several threads keep their own. */
static _Thread_local char g_detail[256];

const char *kifmm_error_detail(void) { return g_detail; }

int kifmm__fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_detail, sizeof(g_detail), fmt, ap);
  va_end(ap);
  return status;
}

const char *kifmm_error_string(int status) {
  switch (status) {
#define KIFMM_STATUS_MESSAGE(name, value, message) \
  case value:                                      \
    return message;
    KIFMM_STATUS_LIST(KIFMM_STATUS_MESSAGE)
#undef KIFMM_STATUS_MESSAGE
  default:
    return "unknown status code";
  }
}

const char *kifmm_version(void) { return KIFMM_VERSION_STRING; }

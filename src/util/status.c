/* SPDX-License-Identifier: BSD-3-Clause */
/* Status codes and their messages, generated from the single KIFMM_STATUS_LIST in kifmm.h.
 * Every public entry point returns one of these codes. */
#include "util/util.h"

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

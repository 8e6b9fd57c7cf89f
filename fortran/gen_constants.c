/* SPDX-License-Identifier: BSD-3-Clause */
/* Build-time generator of kifmm_constants.inc, the Fortran constants of module kifmm.
 * Expands the same KIFMM_STATUS_LIST X-macro as the C enum, so the two cannot drift. */
#include <stdio.h>

#include "kifmm.h"

#define KIFMM_PRINT_STATUS(name, value, message) \
  printf("  !> %s\n  integer(c_int), parameter, public :: %s = %d\n", message, #name, value);
#define KIFMM_COUNT_STATUS(name, value, message) +1

int main(void) {
  printf("! Generated at build time from include/kifmm.h by fortran/gen_constants.c. Do not edit.\n");
  printf("  ! Status codes (KIFMM_STATUS_LIST): 0 is success.\n");
  KIFMM_STATUS_LIST(KIFMM_PRINT_STATUS)
  printf("  !> Number of status codes.\n");
  printf("  integer(c_int), parameter, public :: KIFMM_NUM_STATUS = %d\n",
         0 KIFMM_STATUS_LIST(KIFMM_COUNT_STATUS));
  printf("  ! Limits of the options.\n");
  printf("  integer(c_int32_t), parameter, public :: KIFMM_MIN_ORDER = %d\n", KIFMM_MIN_ORDER);
  printf("  integer(c_int32_t), parameter, public :: KIFMM_MAX_ORDER = %d\n", KIFMM_MAX_ORDER);
  printf("  integer(c_int32_t), parameter, public :: KIFMM_MAX_LEVEL = %d\n", KIFMM_MAX_LEVEL);
  printf("  integer, parameter, public :: KIFMM_PATH_MAX = %d\n", KIFMM_PATH_MAX);
  printf("  ! Kernels (options%%kernel).\n");
  printf("  integer(c_int32_t), parameter, public :: KIFMM_KERNEL_LAPLACE = %d\n", KIFMM_KERNEL_LAPLACE);
  printf("  integer(c_int32_t), parameter, public :: KIFMM_KERNEL_YUKAWA = %d\n", KIFMM_KERNEL_YUKAWA);
  printf("  integer(c_int32_t), parameter, public :: KIFMM_KERNEL_STOKES = %d\n", KIFMM_KERNEL_STOKES);
  printf("  ! Version of the headers the module was built from (kifmm_version() gives the library's).\n");
  printf("  integer, parameter, public :: KIFMM_VERSION_MAJOR = %d\n", KIFMM_VERSION_MAJOR);
  printf("  integer, parameter, public :: KIFMM_VERSION_MINOR = %d\n", KIFMM_VERSION_MINOR);
  printf("  integer, parameter, public :: KIFMM_VERSION_PATCH = %d\n", KIFMM_VERSION_PATCH);
  return 0;
}

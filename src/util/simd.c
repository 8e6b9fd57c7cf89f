/* SPDX-License-Identifier: BSD-3-Clause */
/* Run-time choice of the instruction set for the hot loops (P2P, dense applies): the best
 * this CPU supports, or a lower one forced by KIFMM_SIMD; resolved once per process. */
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "util/util.h"

static once_flag simd_once = ONCE_FLAG_INIT;
static kifmm_simd simd_chosen = KIFMM_SIMD_PORTABLE;

/* __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0), and under
 * valgrind it sees valgrind's CPUID, which hides AVX-512. */
static kifmm_simd best_supported(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return KIFMM_SIMD_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return KIFMM_SIMD_AVX2;
  return KIFMM_SIMD_PORTABLE;
}

static void resolve(void) {
  kifmm_simd best = best_supported(), want = best;
  const char *env = getenv("KIFMM_SIMD");
  if (env && strcmp(env, "portable") == 0)
    want = KIFMM_SIMD_PORTABLE;
  else if (env && strcmp(env, "avx2") == 0)
    want = KIFMM_SIMD_AVX2;
  /* a path the CPU lacks (or an unknown name) falls back to the best supported one */
  simd_chosen = want < best ? want : best;
}

kifmm_simd kifmm__simd(void) {
  call_once(&simd_once, resolve);
  return simd_chosen;
}

const char *kifmm__simd_name(kifmm_simd s) {
  switch (s) {
  case KIFMM_SIMD_AVX512: return "avx512";
  case KIFMM_SIMD_AVX2: return "avx2";
  default: return "portable";
  }
}

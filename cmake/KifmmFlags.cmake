# SPDX-License-Identifier: BSD-3-Clause
# Warning, architecture and sanitizer flags shared by every C target of kifmm-c.
add_library(kifmm_flags INTERFACE)
target_compile_options(kifmm_flags INTERFACE
  $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Werror -fno-math-errno>)
# Off by default: the hot loops carry their own AVX-512/AVX2 code paths chosen at run time
# (src/util/simd.c), so the portable baseline costs little and the binaries run on any x86-64.
if(KIFMM_NATIVE)
  target_compile_options(kifmm_flags INTERFACE $<$<COMPILE_LANGUAGE:C>:-march=native>)
endif()
if(KIFMM_SANITIZE)
  target_compile_options(kifmm_flags INTERFACE -fsanitize=address,undefined
                         -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(kifmm_flags INTERFACE -fsanitize=address,undefined)
endif()

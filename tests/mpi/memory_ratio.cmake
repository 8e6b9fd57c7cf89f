# SPDX-License-Identifier: BSD-3-Clause
# Per-rank peak memory of a distributed plan against the one-process plan: test_memory at
# 1 rank gives the reference peak, then at NP ranks must stay within RATIO of it (see
# test_memory.c for how a peak is measured). Arguments (-D): MPIEXEC, NPFLAG, EXE, N, ORDER,
# NP, RATIO.
execute_process(COMMAND ${MPIEXEC} ${NPFLAG} 1 ${EXE} ${N} ${ORDER}
                OUTPUT_VARIABLE out1 ERROR_VARIABLE err1 RESULT_VARIABLE rc1)
message("${out1}${err1}")
if(rc1 EQUAL 77)
  message("skipped") # ctest SKIP_REGULAR_EXPRESSION
  return()
endif()
if(NOT rc1 EQUAL 0 OR NOT out1 MATCHES "peak_mb ([0-9.]+)")
  message(FATAL_ERROR "1-rank run failed (${rc1})")
endif()
set(ref ${CMAKE_MATCH_1})
execute_process(COMMAND ${MPIEXEC} ${NPFLAG} ${NP} --oversubscribe ${EXE} ${N} ${ORDER} ${ref}
                        ${RATIO}
                OUTPUT_VARIABLE out2 ERROR_VARIABLE err2 RESULT_VARIABLE rc2)
message("${out2}${err2}")
if(NOT rc2 EQUAL 0)
  message(FATAL_ERROR "${NP}-rank run failed or its peak is over the ratio (${rc2})")
endif()

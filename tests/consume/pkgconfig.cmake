# SPDX-License-Identifier: BSD-3-Clause
# Build c/main.c with `pkg-config --cflags --libs kifmm` (shared) and with --static against
# the install in PREFIX, and run both.
# cmake -DPREFIX=... -DSOURCE=... -DWORK=... -DCC=... -DPKG_CONFIG=... -P pkgconfig.cmake
cmake_minimum_required(VERSION 3.20)
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/lib/pkgconfig")
foreach(mode shared static)
  set(args --cflags --libs kifmm)
  if(mode STREQUAL "static")
    list(PREPEND args --static)
  endif()
  execute_process(COMMAND "${PKG_CONFIG}" ${args} OUTPUT_VARIABLE flags
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${args} failed")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  if(mode STREQUAL "static")
    # Link libkifmm.a, not libkifmm.so, which the linker would prefer.
    list(TRANSFORM flags REPLACE "^-lkifmm$" "${PREFIX}/lib/libkifmm.a")
  else()
    list(APPEND flags "-Wl,-rpath,${PREFIX}/lib")
  endif()
  message(STATUS "${mode}: cc main.c ${flags}")
  execute_process(COMMAND "${CC}" -std=c17 -Wall -Wextra -Werror "${SOURCE}" ${flags} -lm
                          -o "${WORK}/app_${mode}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compiling with pkg-config (${mode}) failed")
  endif()
  execute_process(COMMAND "${WORK}/app_${mode}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the program built with pkg-config (${mode}) failed (${rc})")
  endif()
endforeach()

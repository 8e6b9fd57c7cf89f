# SPDX-License-Identifier: BSD-3-Clause
# ctest fixture: a fresh install of the build tree into PREFIX.
# cmake -DBUILD_DIR=... -DPREFIX=... -P install.cmake
cmake_minimum_required(VERSION 3.20)
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()

# SPDX-License-Identifier: BSD-3-Clause
# The manual covers the whole public API: every kifmm_* function declared in include/*.h
# (exported or static inline) and every status code of KIFMM_STATUS_LIST in kifmm.h appears
# in docs/api.md as a whole word.
# Usage: cmake -DROOT=<source dir> [-DDOC=<file>] -P docs_api.cmake
cmake_minimum_required(VERSION 3.20) # script mode: IN_LIST
if(NOT DOC)
  set(DOC "${ROOT}/docs/api.md")
endif()
if(NOT EXISTS "${DOC}")
  message(FATAL_ERROR "${DOC} does not exist")
endif()

# Declarations: `KIFMM_EXPORT <type> kifmm_name(` and `static inline <type> kifmm_name(`.
set(functions)
file(GLOB headers "${ROOT}/include/*.h")
foreach(h IN LISTS headers)
  file(READ "${h}" text)
  string(REGEX MATCHALL "(KIFMM_EXPORT|static inline)[^;{(]*[ *]kifmm_[a-z0-9_]+\\(" decls
         "${text}")
  foreach(d IN LISTS decls)
    string(REGEX MATCH "kifmm_[a-z0-9_]+\\($" name "${d}")
    string(REGEX REPLACE "\\($" "" name "${name}")
    list(APPEND functions "${name}")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES functions)

# Status codes: the X(name, value, message) entries of KIFMM_STATUS_LIST.
file(READ "${ROOT}/include/kifmm.h" text)
string(REGEX MATCHALL "X\\((KIFMM_[A-Z0-9_]+)," entries "${text}")
set(statuses)
foreach(e IN LISTS entries)
  string(REGEX REPLACE "^X\\((KIFMM_[A-Z0-9_]+),$" "\\1" name "${e}")
  list(APPEND statuses "${name}")
endforeach()

# A parse that finds too little must not pass silently.
list(LENGTH functions nfun)
list(LENGTH statuses nstat)
if(nfun LESS 20 OR nstat LESS 28 OR NOT "KIFMM_SUCCESS" IN_LIST statuses)
  message(FATAL_ERROR "header parse found only ${nfun} functions and ${nstat} status codes")
endif()

# Whole words only: kifmm_plan_create must not be satisfied by kifmm_plan_create_mpi.
file(READ "${DOC}" doc)
set(doc " ${doc} ")
set(missing)
foreach(name IN LISTS functions statuses)
  if(NOT doc MATCHES "[^A-Za-z0-9_]${name}[^A-Za-z0-9_]")
    list(APPEND missing "${name}")
  endif()
endforeach()
if(missing)
  string(REPLACE ";" " " missing "${missing}")
  message(FATAL_ERROR "not documented in ${DOC}: ${missing}")
endif()
message(STATUS "${DOC} names all ${nfun} public functions and ${nstat} status codes")

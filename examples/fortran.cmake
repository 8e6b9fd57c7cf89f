# SPDX-License-Identifier: BSD-3-Clause
# Included from examples/CMakeLists.txt: the C demo (docs/api.md's example) and the Fortran
# time-stepping demo, built against the shared libraries as users link them, and their runs
# in ctest (the Fortran demo alone and under mpiexec -n 1).
add_executable(demo ${CMAKE_CURRENT_LIST_DIR}/demo.c)
target_link_libraries(demo PRIVATE kifmm_shared kifmm_flags m)

find_package(MPI REQUIRED COMPONENTS Fortran)
add_executable(fortran_demo ${CMAKE_CURRENT_LIST_DIR}/fortran_demo.f90)
target_link_libraries(fortran_demo PRIVATE kifmm_fortran MPI::MPI_Fortran)
target_compile_options(fortran_demo PRIVATE -Wall -Wextra)

if(KIFMM_BUILD_TESTS)
  set(KIFMM_DEMO_ENV OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2
      KIFMM_CACHE_DIR=${CMAKE_CURRENT_BINARY_DIR}/cache)
  add_test(NAME demo COMMAND demo 20000)
  add_test(NAME fortran_demo COMMAND fortran_demo)
  add_test(NAME fortran_demo_mpi_np1
    COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 1 --oversubscribe ${MPIEXEC_PREFLAGS}
            $<TARGET_FILE:fortran_demo> ${MPIEXEC_POSTFLAGS})
  set_tests_properties(demo PROPERTIES LABELS "example" TIMEOUT 60
                       ENVIRONMENT "${KIFMM_DEMO_ENV}")
  set_tests_properties(fortran_demo PROPERTIES LABELS "example;fortran" TIMEOUT 60
                       ENVIRONMENT "${KIFMM_DEMO_ENV}")
  set_tests_properties(fortran_demo_mpi_np1 PROPERTIES LABELS "example;fortran;mpi" TIMEOUT 60
    ENVIRONMENT "${KIFMM_DEMO_ENV};OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endif()

# SPDX-License-Identifier: BSD-3-Clause
# Installation and package export: libraries (shared with SONAME, static), kifmm.h and
# kifmm_io.h, the Fortran module, kifmmConfig.cmake + kifmmConfigVersion.cmake (targets kifmm::kifmm,
# kifmm::kifmm_static, kifmm::kifmm_fortran, kifmm::kifmm_fortran_static) and kifmm.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(KIFMM_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/kifmm)
set(KIFMM_INSTALL_FORTRAN_MODDIR ${CMAKE_INSTALL_INCLUDEDIR}/kifmm/fortran)

set(KIFMM_INSTALL_TARGETS kifmm_shared kifmm)
if(TARGET kifmm_fortran)
  list(APPEND KIFMM_INSTALL_TARGETS kifmm_fortran kifmm_fortran_static)
endif()
install(TARGETS ${KIFMM_INSTALL_TARGETS}
  EXPORT kifmmTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# kifmm_io.h declares the kifmm_io_* functions the library exports; it includes <mpi.h>, so
# its users also link MPI (CMake: find_package(MPI) and MPI::MPI_C).
install(FILES ${PROJECT_SOURCE_DIR}/include/kifmm.h ${PROJECT_SOURCE_DIR}/include/kifmm_io.h
              ${PROJECT_SOURCE_DIR}/include/kifmm_mpi.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET kifmm_fortran)
  install(DIRECTORY ${KIFMM_FORTRAN_MODULE_DIR}/ DESTINATION ${KIFMM_INSTALL_FORTRAN_MODDIR}
          FILES_MATCHING PATTERN "*.mod")
endif()

install(EXPORT kifmmTargets NAMESPACE kifmm:: DESTINATION ${KIFMM_INSTALL_CMAKEDIR})
# The Fortran module file is only readable by the compiler that wrote it: record which.
set(KIFMM_Fortran_COMPILER_ID "${CMAKE_Fortran_COMPILER_ID}")
set(KIFMM_Fortran_COMPILER_VERSION "${CMAKE_Fortran_COMPILER_VERSION}")
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/kifmmConfig.cmake.in
  ${PROJECT_BINARY_DIR}/kifmmConfig.cmake
  INSTALL_DESTINATION ${KIFMM_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kifmmConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kifmmConfig.cmake ${PROJECT_BINARY_DIR}/kifmmConfigVersion.cmake
        DESTINATION ${KIFMM_INSTALL_CMAKEDIR})

# pkg-config: the static link line lists the dependencies' libraries by full path, as found.
set(KIFMM_PC_LIBS_PRIVATE "")
foreach(lib IN LISTS LAPACK_LIBRARIES BLAS_LIBRARIES MPI_C_LIBRARIES HDF5_C_LIBRARIES
                     OpenMP_C_LIBRARIES)
  if(lib MATCHES "^-")
    set(item "${lib}")
  elseif(IS_ABSOLUTE "${lib}")
    set(item "${lib}")
  else()
    set(item "-l${lib}")
  endif()
  if(NOT item IN_LIST KIFMM_PC_LIBS_PRIVATE)
    list(APPEND KIFMM_PC_LIBS_PRIVATE "${item}")
  endif()
endforeach()
list(APPEND KIFMM_PC_LIBS_PRIVATE -lm)
list(JOIN KIFMM_PC_LIBS_PRIVATE " " KIFMM_PC_LIBS_PRIVATE)
# Relocatable: the prefix is found from the .pc file's own place (cmake --install --prefix).
file(RELATIVE_PATH KIFMM_PC_PREFIX_FROM_PCFILEDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" KIFMM_PC_PREFIX_FROM_PCFILEDIR "${KIFMM_PC_PREFIX_FROM_PCFILEDIR}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/kifmm.pc.in ${PROJECT_BINARY_DIR}/kifmm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/kifmm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(TARGET kifmm_fortran)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/kifmm-fortran.pc.in
                 ${PROJECT_BINARY_DIR}/kifmm-fortran.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/kifmm-fortran.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

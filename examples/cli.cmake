# The kifmm command-line program (generate / run / info), the project's main job.
add_executable(kifmm-cli ${CMAKE_CURRENT_LIST_DIR}/kifmm_cli.c)
set_target_properties(kifmm-cli PROPERTIES OUTPUT_NAME kifmm)
target_link_libraries(kifmm-cli PRIVATE kifmm kifmm_flags MPI::MPI_C hdf5::hdf5 m)
install(TARGETS kifmm-cli RUNTIME DESTINATION bin)

# gs_embed(TARGET SYMBOL FILE...): builds a static library TARGET holding the
# given files as a table `const gs_embedded_t SYMBOL[]` (terminated by a NULL
# name), so binaries carry their templates and need no install path.
function(gs_embed target symbol)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${symbol}.c)
  string(REPLACE ";" "," files "${ARGN}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DSYMBOL=${symbol}
            -DBASE=${CMAKE_CURRENT_SOURCE_DIR} -DFILES=${files}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed-run.cmake
    DEPENDS ${ARGN} ${PROJECT_SOURCE_DIR}/cmake/embed-run.cmake
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
    COMMENT "Embedding ${symbol}")
  add_library(${target} STATIC ${out})
  target_link_libraries(${target} PUBLIC gs_common)
endfunction()

# Writes version.hpp with the project version and the git sha of the source
# tree at configure time ("unknown" outside a git checkout).
execute_process(
  COMMAND git -C ${CMAKE_SOURCE_DIR} describe --always --dirty --abbrev=12
  OUTPUT_VARIABLE GPUMIX_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET RESULT_VARIABLE _git_rc)
if(NOT _git_rc EQUAL 0 OR GPUMIX_GIT_SHA STREQUAL "")
  set(GPUMIX_GIT_SHA "unknown")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/version.hpp.in ${CMAKE_BINARY_DIR}/generated/gpumix/version.hpp @ONLY)

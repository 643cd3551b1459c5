# Writes a built-in's description file (see GpumixDescribe.cmake):
#   {"format": "gpumix-describe/1", "binary_sha256": <SHA-256 of EXE>, "describe": <EXE ARGS --describe>}
#
# At build time:   cmake -DEXE=<program> -DOUT=<file> [-DARGS=<args>] -P write_description.cmake
# At install time: cmake -DFROM=<build-tree file> -DBUILT=<build-tree program> -DEXE=<installed program>
#                        -DOUT=<file> -P write_description.cmake
#   copies FROM's description when it belongs to BUILT, stamped with EXE's hash.
# Anything that goes wrong leaves no file (never a stale one) and does not fail
# the build: gpumix then describes the program itself.
cmake_minimum_required(VERSION 3.19)  # string(JSON)

file(REMOVE "${OUT}")
if(DEFINED FROM)
  if(NOT EXISTS "${FROM}" OR NOT EXISTS "${BUILT}" OR NOT EXISTS "${EXE}")
    return()
  endif()
  file(READ "${FROM}" stored)
  string(JSON stored_sha ERROR_VARIABLE bad GET "${stored}" binary_sha256)
  file(SHA256 "${BUILT}" built_sha)
  if(bad OR NOT stored_sha STREQUAL built_sha)
    message(STATUS "Not installing ${OUT}: ${FROM} is not the description of ${BUILT}")
    return()
  endif()
  string(JSON text GET "${stored}" describe)
else()
  execute_process(COMMAND "${EXE}" ${ARGS} --describe
    OUTPUT_VARIABLE text ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
  if(NOT rc STREQUAL "0")
    message(WARNING "${EXE} --describe failed (${rc}): ${err}\nNo ${OUT}: gpumix will run --describe itself.")
    return()
  endif()
  string(JSON type ERROR_VARIABLE bad TYPE "${text}")
  if(bad OR NOT type STREQUAL "OBJECT")
    message(WARNING "${EXE} --describe printed no JSON object; no ${OUT}")
    return()
  endif()
  string(STRIP "${text}" text)
endif()
file(SHA256 "${EXE}" sha)
file(WRITE "${OUT}.tmp" "{\"format\":\"gpumix-describe/1\",\"binary_sha256\":\"${sha}\",\"describe\":${text}}\n")
file(RENAME "${OUT}.tmp" "${OUT}")
if(DEFINED FROM)
  message(STATUS "Installing: ${OUT}")
endif()

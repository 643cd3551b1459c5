# The description of a built-in workload (`<program> --describe`), written at
# build time beside the program as gpumix-<name>.describe.json and installed
# beside it, so `gpumix validate` and `gpumix workloads` need not start the
# program (a LibTorch workload takes 1-3 s to load). The file records the
# SHA-256 of the program it came from; gpumix ignores it for any other binary
# (src/gpumix/spec/builtins.cpp). Also included by workloads/ standalone.
include_guard(GLOBAL)

set(GPUMIX_DESCRIBE_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/write_description.cmake)

# gpumix_add_description(<target> <built-in name> [<arguments before --describe>...])
function(gpumix_add_description target builtin)
  # A program built for another machine cannot run here: no file, and gpumix
  # describes it the slow way (then from its user cache).
  if(CMAKE_CROSSCOMPILING)
    return()
  endif()
  set(file_name gpumix-${builtin}.describe.json)
  set(out $<TARGET_FILE_DIR:${target}>/${file_name})
  set(byproducts)
  if(CMAKE_RUNTIME_OUTPUT_DIRECTORY)  # both gpumix and workloads/ set it
    set(byproducts BYPRODUCTS ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/${file_name})
  endif()
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:${target}> -DOUT=${out} "-DARGS=${ARGN}" -P ${GPUMIX_DESCRIBE_SCRIPT}
    ${byproducts}
    COMMENT "Describing ${builtin} (${file_name})"
    VERBATIM)
  # install(TARGETS) may rewrite the program's RPATH, giving the installed
  # binary another hash: the description is stamped again for the installed
  # file (without running it, which a staged DESTDIR install may not allow).
  set(dest "\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin")
  install(CODE "execute_process(COMMAND \"\${CMAKE_COMMAND}\" \"-DFROM=${out}\" \"-DBUILT=$<TARGET_FILE:${target}>\"
    \"-DEXE=${dest}/$<TARGET_FILE_NAME:${target}>\" \"-DOUT=${dest}/${file_name}\" -P \"${GPUMIX_DESCRIBE_SCRIPT}\")")
endfunction()

# The torch-free code gpumix shares with its built-in workloads: the units
# (gpumix_units: durations and sizes, which every built-in parses its
# arguments with), and the torch-free part of gpumix-infer-server: the KServe v2 codec, the
# dynamic batcher's queue (library gpumix_serving_core, also unit-tested and
# fuzzed from the main project without LibTorch) and the HTTP layer
# (gpumix_serving_http, needs cpp-httplib; `gpumix monitor` links it too). Included by the root
# CMakeLists.txt and by workloads/CMakeLists.txt (standalone builds).
#   GPUMIX_JSON_INCLUDE_DIR      nlohmann/json.hpp's folder when find_package fails
#   GPUMIX_HTTPLIB_INCLUDE_DIR   httplib.h's folder, with GPUMIX_HTTPLIB_LIBRARY,
#                                when pkg-config does not find cpp-httplib
include_guard(GLOBAL)
set(_serving_dir ${CMAKE_CURRENT_LIST_DIR})

if(NOT TARGET nlohmann_json::nlohmann_json)
  find_package(nlohmann_json 3.9 CONFIG QUIET)
endif()
add_library(gpumix_serving_json INTERFACE)
if(TARGET nlohmann_json::nlohmann_json)
  target_link_libraries(gpumix_serving_json INTERFACE nlohmann_json::nlohmann_json)
elseif(GPUMIX_JSON_INCLUDE_DIR AND EXISTS "${GPUMIX_JSON_INCLUDE_DIR}/nlohmann/json.hpp")
  target_include_directories(gpumix_serving_json SYSTEM INTERFACE "${GPUMIX_JSON_INCLUDE_DIR}")
else()
  message(FATAL_ERROR "gpumix-infer-server needs nlohmann/json: install it or pass -DGPUMIX_JSON_INCLUDE_DIR")
endif()

# Durations and sizes as gpumix and every built-in parse them (one parser:
# docs/cli.md); no dependencies.
add_library(gpumix_units STATIC ${_serving_dir}/common/gpumix/units.cpp)
target_include_directories(gpumix_units PUBLIC ${_serving_dir}/common)
target_compile_features(gpumix_units PUBLIC cxx_std_17)
set_target_properties(gpumix_units PROPERTIES POSITION_INDEPENDENT_CODE ON)

find_package(Threads REQUIRED)
add_library(gpumix_serving_core STATIC
  ${_serving_dir}/common/gpumix/kserve.cpp
  ${_serving_dir}/infer_server/batch_queue.cpp)
target_include_directories(gpumix_serving_core PUBLIC ${_serving_dir}/common ${_serving_dir}/infer_server)
target_link_libraries(gpumix_serving_core PUBLIC gpumix_serving_json gpumix_units Threads::Threads)
target_compile_features(gpumix_serving_core PUBLIC cxx_std_17)
set_target_properties(gpumix_serving_core PROPERTIES POSITION_INDEPENDENT_CODE ON)

if(NOT TARGET PkgConfig::CPPHTTPLIB)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(CPPHTTPLIB QUIET IMPORTED_TARGET GLOBAL cpp-httplib)
  endif()
endif()
# guarded_http: the hardened httplib server both gpumix-infer-server and
# `gpumix monitor --listen` serve with (docs/http-limits.md).
add_library(gpumix_serving_http STATIC
  ${_serving_dir}/common/gpumix/guarded_http.cpp
  ${_serving_dir}/infer_server/http_server.cpp)
target_link_libraries(gpumix_serving_http PUBLIC gpumix_serving_core)
if(TARGET PkgConfig::CPPHTTPLIB)
  target_link_libraries(gpumix_serving_http PUBLIC PkgConfig::CPPHTTPLIB)
elseif(GPUMIX_HTTPLIB_INCLUDE_DIR AND GPUMIX_HTTPLIB_LIBRARY)
  target_include_directories(gpumix_serving_http SYSTEM PUBLIC "${GPUMIX_HTTPLIB_INCLUDE_DIR}")
  target_link_libraries(gpumix_serving_http PUBLIC "${GPUMIX_HTTPLIB_LIBRARY}")
else()
  message(FATAL_ERROR "gpumix-infer-server needs cpp-httplib: install libcpp-httplib-dev or pass "
                      "-DGPUMIX_HTTPLIB_INCLUDE_DIR and -DGPUMIX_HTTPLIB_LIBRARY")
endif()

# Compile options shared by gpumix's own targets (not by third-party code).
add_library(gpumix_options INTERFACE)
add_library(gpumix::options ALIAS gpumix_options)
target_compile_features(gpumix_options INTERFACE cxx_std_20)
target_compile_options(gpumix_options INTERFACE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(GPUMIX_SANITIZE)
  target_compile_options(gpumix_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(gpumix_options INTERFACE -fsanitize=address,undefined)
endif()

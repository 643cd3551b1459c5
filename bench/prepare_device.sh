#!/usr/bin/env bash
# Run HERE (not on the GPU machine): builds gpumix (release, without
# the LibTorch workloads, which are built there against PyTorch's LibTorch)
# and packs what the GPU machine lacks into .carry/ (ignored by git):
#   .carry/bin      gpumix, gpumix-testload, gpumix-probe (CUDA, sm_90; needs nvcc here)
#   .carry/lib      the shared libraries gpumix needs beyond glibc/libstdc++
#   .carry/include  CLI11's, nlohmann/json's and cpp-httplib's headers for the workloads' build
#                   (cpp-httplib's library is among .carry/lib: gpumix links it)
#   .carry/bin/wrk  an independent HTTP load generator for bench/infer_server (with its libraries)
# Then call the device with carry [".carry"] and bench/gpu_session.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/device -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPUMIX_WITH_TORCH=OFF -DBUILD_TESTING=ON >/dev/null
cmake --build build/device --target gpumix gpumix-testload
# The probes (tests/gpu/probes.sh) when a CUDA compiler is found.
cmake --build build/device --target help | grep -q "^gpumix-probe:" && cmake --build build/device --target gpumix-probe
rm -rf .carry && mkdir -p .carry/bin .carry/lib .carry/include
cp build/device/bin/gpumix build/device/bin/gpumix-testload .carry/bin/
[ -x build/device/bin/gpumix-probe ] && cp build/device/bin/gpumix-probe .carry/bin/
ldd build/device/bin/gpumix | awk '/=>/ {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libstdc++.so*|libgcc_s.so*|ld-linux*|libpthread.so*|libdl.so*|librt.so*) ;;
    *) cp -L "$lib" .carry/lib/ ;;
  esac
done
cp -r /usr/include/CLI .carry/include/
# Their own folder: on the include path of the server only, it must not bring
# a second CLI11 along (the GPU machine has its own).
mkdir -p .carry/include-serving
cp -r /usr/include/nlohmann /usr/include/httplib.h .carry/include-serving/
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cp "$(command -v wrk)" .carry/bin/
ldd "$(command -v wrk)" | awk '/=>/ {print $3}' | grep -E 'luajit|libssl|libcrypto' | xargs -r -I{} cp -L {} .carry/lib/
grep -qx '/.carry/' .gitignore || echo '/.carry/' >> .gitignore
du -sh .carry

#include "gpumix/gpu/dynamic_library.hpp"

#include <dlfcn.h>

namespace gpumix::gpu {

std::unique_ptr<DynamicLibrary> DynamicLibrary::open(const std::string& name, std::string* why) {
  ::dlerror();
  void* handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = ::dlerror();
    if (why) *why = err ? err : "dlopen failed";
    return nullptr;
  }
  return std::unique_ptr<DynamicLibrary>(new DynamicLibrary(name, handle));
}

DynamicLibrary::~DynamicLibrary() { ::dlclose(handle_); }

void* DynamicLibrary::symbol(const char* symbol) const {
  ::dlerror();
  return ::dlsym(handle_, symbol);
}

}  // namespace gpumix::gpu

// A shared library loaded at run time (dlopen), closed on destruction.
#pragma once

#include <memory>
#include <string>

namespace gpumix::gpu {

class DynamicLibrary {
 public:
  // nullptr, with dlerror()'s text in *why, when `name` cannot be loaded.
  static std::unique_ptr<DynamicLibrary> open(const std::string& name, std::string* why);
  ~DynamicLibrary();
  DynamicLibrary(const DynamicLibrary&) = delete;
  DynamicLibrary& operator=(const DynamicLibrary&) = delete;

  const std::string& name() const { return name_; }
  // The address of `symbol`, or nullptr when the library does not define it.
  void* symbol(const char* symbol) const;

 private:
  DynamicLibrary(std::string name, void* handle) : name_(std::move(name)), handle_(handle) {}
  std::string name_;
  void* handle_;
};

}  // namespace gpumix::gpu

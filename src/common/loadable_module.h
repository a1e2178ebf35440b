// Loadable modules: shared objects medanchor opens with dlopen the first time it needs what is
// in them (the LibTorch engine, OpenCV's image codecs), so that a command that does not need
// them does not pay for loading their libraries at every start. Each is built by this project's
// CMake beside the binary, with the same compiler and flags; its entry points have C names.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace medanchor {

// Where a module is: $env_var if set and not empty, else beside the running binary if it is
// there (an installed copy: the binary and its modules in one folder), else where the build put
// it — but only for the build's own binaries (the running executable inside the build tree this
// library was compiled for): an installed or copied binary never falls back to a build tree that
// may be gone or writable by others, and gets the path beside itself, so that the error names it.
std::string module_path(const char* env_var, const char* built_path);

// Opens the module at `path` (RTLD_NOW | RTLD_LOCAL; never closed: what is made from it may
// live until exit) and finds each of `symbols`, in order. A file that others could have planted
// is refused before it is opened, with kPermission naming it and why: writable by group or
// others, in a folder writable by group or others without the sticky bit, or file or folder
// owned by neither root nor the effective user. kUnsupported naming `what`, the file and the
// loader's reason when it is missing, cannot be opened or lacks a symbol.
Result<std::vector<void*>> open_module(const std::string& what, const std::string& path,
                                       const std::vector<const char*>& symbols);

}  // namespace medanchor

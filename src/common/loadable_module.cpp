#include "common/loadable_module.h"

#include <dlfcn.h>

#include <cstdlib>

namespace medanchor {

std::string module_path(const char* env_var, const char* built_path) {
    if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0')
        return env;
    return built_path;
}

Result<std::vector<void*>> open_module(const std::string& what, const std::string& path,
                                       const std::vector<const char*>& symbols) {
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return Error(ErrorCode::kUnsupported,
                     what + " cannot be loaded: " + std::string(why != nullptr ? why : path));
    }
    std::vector<void*> found;
    for (const char* symbol : symbols) {
        void* address = ::dlsym(handle, symbol);
        if (address == nullptr)
            return Error(ErrorCode::kUnsupported, path + ": not " + what + " (no " + symbol + ")");
        found.push_back(address);
    }
    return found;
}

}  // namespace medanchor

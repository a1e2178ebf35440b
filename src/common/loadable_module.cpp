#include "common/loadable_module.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

namespace medanchor {

std::string module_path(const char* env_var, const char* built_path) {
    if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0')
        return env;
    // Installed: the module beside the binary (/usr/bin/medanchor and its modules copied
    // together). From the build tree the binary and its modules are in different folders.
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto beside = exe.parent_path() / std::filesystem::path(built_path).filename();
        if (std::filesystem::is_regular_file(beside, ec))
            return beside.string();
    }
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

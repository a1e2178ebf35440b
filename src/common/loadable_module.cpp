#include "common/loadable_module.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/encoding.h"

namespace medanchor {
namespace {

namespace fs = std::filesystem;

// True when `exe` (the kernel's resolved path of the running binary) lies inside the build tree
// this file was compiled for (MEDANCHOR_BUILD_DIR, baked in by CMake): the medanchor binary,
// the tests and benchmarks of this build, whose modules are where the build put them.
bool is_build_binary(const fs::path& exe) {
    std::error_code ec;
    const fs::path build = fs::weakly_canonical(MEDANCHOR_BUILD_DIR, ec);
    if (ec || build.empty())
        return false;
    const fs::path inside = exe.lexically_relative(build);
    return !inside.empty() && *inside.begin() != "..";
}

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

// Why the file at `real` (resolved, no symbolic link left) could have been written by someone
// other than root or this user; empty when it could not. Only the file and its folder are
// checked: a folder above that others may rename is the administrator's to secure.
std::string planted_by_others(const fs::path& real) {
    const uid_t me = ::geteuid();
    struct stat file {};
    if (::stat(real.c_str(), &file) != 0)
        return std::string("cannot stat: ") + std::strerror(errno);
    if (file.st_uid != 0 && file.st_uid != me) {
        return "owned by uid " + std::to_string(file.st_uid) +
               ", neither root nor this user (uid " + std::to_string(me) + ")";
    }
    if ((file.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return "writable by group or others (mode " + mode_text(file.st_mode) + ")";
    const fs::path folder = real.parent_path();
    struct stat dir {};
    if (::stat(folder.c_str(), &dir) != 0)
        return "cannot stat its folder: " + std::string(std::strerror(errno));
    const std::string where = "its folder " + escape_for_display(folder.string());
    if (dir.st_uid != 0 && dir.st_uid != me) {
        return where + " is owned by uid " + std::to_string(dir.st_uid) +
               ", neither root nor this user (uid " + std::to_string(me) + ")";
    }
    if ((dir.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (dir.st_mode & S_ISVTX) == 0) {
        return where + " is writable by group or others without the sticky bit (mode " +
               mode_text(dir.st_mode) + ")";
    }
    return {};
}

}  // namespace

std::string module_path(const char* env_var, const char* built_path) {
    if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0')
        return env;
    // Installed: the module beside the binary (/usr/bin/medanchor and its modules copied
    // together). From the build tree the binary and its modules are in different folders.
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto beside = exe.parent_path() / fs::path(built_path).filename();
        if (fs::is_regular_file(beside, ec) || !is_build_binary(exe))
            return beside.string();
    }
    return built_path;
}

Result<std::vector<void*>> open_module(const std::string& what, const std::string& path,
                                       const std::vector<const char*>& symbols) {
    const std::string name = escape_for_display(path);
    // Checked on the resolved file, which is then what is opened: a symbolic link swapped after
    // the check changes nothing.
    std::error_code ec;
    const fs::path real = fs::canonical(path, ec);
    if (ec) {
        return Error(
            ErrorCode::kUnsupported,
            what + " cannot be loaded: " + name + ": " +
                (ec == std::errc::no_such_file_or_directory ? "no such file" : ec.message()));
    }
    if (const std::string why = planted_by_others(real); !why.empty()) {
        const std::string shown =
            real == fs::path(path) ? "" : " (" + escape_for_display(real.string()) + ")";
        return Error(ErrorCode::kPermission, what + " refused: " + name + shown + ": " + why +
                                                 ": whoever can write it could run code in "
                                                 "medanchor");
    }
    void* handle = ::dlopen(real.c_str(), RTLD_NOW | RTLD_LOCAL);
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

#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace medanchor {
namespace {

namespace fs = std::filesystem;

std::string errno_text() {
    return std::strerror(errno);
}

// Closes a descriptor on every path out.
class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

Status sync_path(const fs::path& path, int flags) {
    Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (fd.get() < 0 || ::fsync(fd.get()) != 0)
        return Error(ErrorCode::kIo, path.string() + ": cannot sync: " + errno_text());
    return Status::Ok();
}

template <class Bytes>
Result<Bytes> read_bounded(const fs::path& path, std::size_t max_bytes, bool secret = false) {
    const std::string name = path.string();
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer; fstat then refuses it.
    Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            if (secret)
                return Error(ErrorCode::kNoKey, name + ": no such key file");
            return Error(ErrorCode::kNotFound, name + ": no such file");
        }
        return Error(ErrorCode::kIo, name + ": cannot open for reading: " + errno_text());
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        return Error(ErrorCode::kIo, name + ": cannot stat: " + errno_text());
    if (S_ISDIR(st.st_mode))
        return Error(ErrorCode::kInvalidArgument, name + ": is a folder, not a file");
    if (!S_ISREG(st.st_mode))
        return Error(ErrorCode::kInvalidArgument,
                     name + ": not a regular file (a FIFO, socket or device)");
    if (secret && (st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return Error(ErrorCode::kPermission,
                     name + ": a secret file must not be readable by group or others (mode " +
                         mode + "); run: chmod 600 " + name);
    }
    const auto size = static_cast<std::uintmax_t>(st.st_size);
    if (size > max_bytes) {
        return Error(ErrorCode::kTooLarge, name + ": file is " + std::to_string(size) +
                                               " bytes, over the limit of " +
                                               std::to_string(max_bytes));
    }
    Bytes bytes(static_cast<std::size_t>(size), {});
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return Error(ErrorCode::kIo, name + ": cannot read: " + errno_text());
        if (n == 0)
            break;  // shrank while we read: what is there is the file now
        done += static_cast<std::size_t>(n);
    }
    bytes.resize(done);
    return bytes;
}

}  // namespace

Result<std::vector<std::uint8_t>> read_regular_file(const fs::path& path, std::size_t max_bytes) {
    return read_bounded<std::vector<std::uint8_t>>(path, max_bytes);
}

Result<std::string> read_regular_text_file(const fs::path& path, std::size_t max_bytes) {
    return read_bounded<std::string>(path, max_bytes);
}

Result<std::string> read_secret_file(const fs::path& path, std::size_t max_bytes) {
    return read_bounded<std::string>(path, max_bytes, /*secret=*/true);
}

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
    static std::atomic<unsigned> counter{0};
    // Hidden, and unique per process and object, so concurrent writers never share a name and
    // folder listings (and medanchor's own input scans) skip it.
    temp_ = target_.parent_path() /
            ("." + target_.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter.fetch_add(1)));
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : target_(std::move(other.target_)), temp_(std::move(other.temp_)), done_(other.done_) {
    other.done_ = true;
}

AtomicFile::~AtomicFile() {
    if (!done_) {
        std::error_code ignored;
        fs::remove_all(temp_, ignored);
    }
}

Result<bool> AtomicFile::commit(CommitOptions options) {
    const std::string name = target_.string();
    std::error_code ec;
    const bool is_dir = fs::is_directory(fs::symlink_status(temp_, ec));
    if (options.durable && !is_dir) {
        if (auto s = sync_path(temp_, O_RDONLY); !s)
            return s.error();
    }
    if (options.replace && !is_dir) {
        if (::rename(temp_.c_str(), target_.c_str()) != 0)
            return Error(ErrorCode::kIo, name + ": cannot move into place: " + errno_text());
    } else {
        // renameat2(RENAME_NOREPLACE): atomic "create if absent", for files and folders alike.
        if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_NOREPLACE) !=
            0) {
            if (errno == EEXIST || errno == ENOTEMPTY)
                return false;  // the destructor removes the temporary
            return Error(ErrorCode::kIo, name + ": cannot move into place: " + errno_text());
        }
    }
    done_ = true;
    if (options.durable) {
        const fs::path folder =
            target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
        if (auto s = sync_path(folder, O_RDONLY | O_DIRECTORY); !s)
            return s.error();
    }
    return true;
}

namespace {

// The one place a file is created and filled, with `pieces` one after the other; `name` is what
// errors call it.
Status create_and_write(const fs::path& path, std::span<const std::string_view> pieces,
                        const std::string& name) {
    std::FILE* out = std::fopen(path.c_str(), "wbx");
    if (out == nullptr)
        return Error(ErrorCode::kIo, name + ": cannot write: " + errno_text());
    bool written = true;
    for (const std::string_view piece : pieces) {
        written = std::fwrite(piece.data(), 1, piece.size(), out) == piece.size();
        if (!written)
            break;
    }
    const int saved_errno = errno;
    if (std::fclose(out) != 0 || !written) {
        errno = written ? errno : saved_errno;
        Error e(ErrorCode::kIo, name + ": cannot write: " + errno_text());
        std::error_code ignored;
        fs::remove(path, ignored);
        return e;
    }
    return Status::Ok();
}

std::string_view as_text(std::span<const std::uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

Status write_new_file(const fs::path& path, std::span<const std::uint8_t> bytes) {
    const std::string_view piece = as_text(bytes);
    return create_and_write(path, std::span(&piece, 1), path.string());
}

Status write_new_file(const fs::path& path, std::span<const std::string_view> pieces) {
    return create_and_write(path, pieces, path.string());
}

Status write_new_file(const fs::path& path, std::string_view text) {
    return write_new_file(
        path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

Status write_file_atomically(const fs::path& path, std::span<const std::uint8_t> bytes,
                             bool durable) {
    AtomicFile file(path);
    const std::string_view piece = as_text(bytes);
    if (auto s = create_and_write(file.temp_path(), std::span(&piece, 1), path.string()); !s)
        return s;
    AtomicFile::CommitOptions options;
    options.durable = durable;
    auto placed = file.commit(options);
    if (!placed)
        return placed.error();
    return Status::Ok();
}

Status write_file_atomically(const fs::path& path, std::string_view text, bool durable) {
    return write_file_atomically(
        path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), durable);
}

Status create_directories_durably(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec))
        return Status::Ok();
    const fs::path parent = dir.parent_path();
    if (!parent.empty() && parent != dir) {
        if (auto s = create_directories_durably(parent); !s)
            return s;
    }
    if (!fs::create_directory(dir, ec) && ec)
        return Error(ErrorCode::kIo, dir.string() + ": cannot make the folder: " + ec.message());
    return sync_path(parent.empty() ? fs::path(".") : parent, O_RDONLY | O_DIRECTORY);
}

Status check_state_folder(const fs::path& dir, std::initializer_list<std::string_view> markers,
                          std::string_view option, std::string_view owner) {
    std::error_code ec;
    if (!fs::exists(dir, ec) || fs::is_empty(dir, ec))
        return Status::Ok();
    std::string names;
    for (const auto name : markers) {
        if (fs::exists(dir / name, ec))
            return Status::Ok();
        names += names.empty() ? "" : ", ";
        names += name;
    }
    std::string message(option);
    message += ' ';
    message += dir.string();
    message += ": not empty and holds no ";
    message += owner;
    message += " state (";
    message += names;
    message += "); give a new or empty folder, which the ";
    message += owner;
    message += " makes private (mode 0700)";
    return Error(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace medanchor

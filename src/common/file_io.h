// Local files, read and written once for the whole product: every reader of a file it did not
// write (an image, a key, a model, a report handed over) and every writer of a result (a report,
// a de-identified copy, a key, a proof) goes through these, so the rules hold everywhere:
//   - a read refuses anything but a regular file without blocking on it (a FIFO, a device, a
//     folder) and never allocates more than its caller's bound;
//   - a write goes to a temporary name in the destination's folder and is renamed into place, so
//     no reader ever sees a half-written file, and a failure (a full disk, an early return, an
//     exception) leaves nothing behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace medanchor {

// The whole of a regular file of at most `max_bytes`. Errors name the path: kNotFound (no such
// file), kInvalidArgument (a folder, FIFO, socket or device), kTooLarge, kIo.
Result<std::vector<std::uint8_t>> read_regular_file(const std::filesystem::path& path,
                                                    std::size_t max_bytes);
Result<std::string> read_regular_text_file(const std::filesystem::path& path,
                                           std::size_t max_bytes);
// A secret (a key, a salt): read_regular_text_file's rules, with two differences. A missing
// file is kNoKey ("FILE: no such key file"), and a file that group or others have any access to
// is refused with kPermission (the message gives the mode and `chmod 600 FILE`); the mode is
// checked on the open file, so a file swapped in between cannot slip past. The one loader of
// every key file: the caller parses the text and wipes it; messages never quote it.
Result<std::string> read_secret_file(const std::filesystem::path& path, std::size_t max_bytes);

// A file or folder written under a temporary name beside `target` and renamed onto it by
// commit(). Until then `temp_path()` is the caller's to fill, by any means (an ofstream, DCMTK's
// saveFile, create_directory and files inside it). Destroying an uncommitted AtomicFile removes
// the temporary (recursively), so every error path cleans up by returning.
// Thread safety: one AtomicFile per thread; distinct objects may target the same folder.
class AtomicFile {
  public:
    explicit AtomicFile(std::filesystem::path target);
    ~AtomicFile();
    AtomicFile(AtomicFile&& other) noexcept;
    AtomicFile& operator=(AtomicFile&&) = delete;
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    const std::filesystem::path& target() const { return target_; }
    const std::filesystem::path& temp_path() const { return temp_; }

    struct CommitOptions {
        // Replace an existing target (files only). When false the commit is write-once: it
        // fails with kAlreadyExists-style result `false` and leaves the existing target as is.
        bool replace = true;
        // fsync the file (not a folder's contents) before the rename and the folder after it:
        // for secrets and anything that cannot be made again; reports can be (from the ledger).
        bool durable = false;
    };
    // True when the temporary is now at target(); false only for replace = false and an
    // existing target, in which case the temporary is removed. kIo on failure (nothing left).
    Result<bool> commit(CommitOptions options);
    Status commit() {
        auto placed = commit(CommitOptions{});
        return placed ? Status::Ok() : Status(placed.error());
    }

  private:
    std::filesystem::path target_;
    std::filesystem::path temp_;
    bool done_ = false;
};

// Creates `path`, which must not exist, and writes `bytes` to it; on failure removes what it
// wrote. Not atomic on its own: for files inside a folder that is itself placed atomically (an
// AtomicFile folder, a report draft), where a temporary name and a rename per file buy nothing.
Status write_new_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);
Status write_new_file(const std::filesystem::path& path, std::string_view text);
// The same with `pieces` written one after the other: a file made of parts held apart (a header
// and a large value), never joined in memory.
Status write_new_file(const std::filesystem::path& path, std::span<const std::string_view> pieces);

// Writes `bytes` to `path` through an AtomicFile.
Status write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                             bool durable = false);
Status write_file_atomically(const std::filesystem::path& path, std::string_view text,
                             bool durable = false);

// Makes `dir` and any missing parent folders, and fsyncs the folder each new one was made in, so
// the new folders survive a crash (a file made durable inside one is then reachable). kIo naming
// the folder.
Status create_directories_durably(const std::filesystem::path& dir);

// Whether `dir` may be taken as a program's private state folder (the caller then makes it mode
// 0700): it does not exist, is empty, or already holds one of `markers` (the names of files or
// folders the program keeps there). Otherwise kInvalidArgument naming `option`, the folder and the
// markers, so a mistyped folder (a home folder) is refused instead of having its mode changed.
// `owner` names the program in the message ("server", "listener").
Status check_state_folder(const std::filesystem::path& dir,
                          std::initializer_list<std::string_view> markers, std::string_view option,
                          std::string_view owner);

}  // namespace medanchor

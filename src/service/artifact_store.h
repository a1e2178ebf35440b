// Write-once report folders under one root (docs/report.md, "Report folders"). A folder is built
// under a hidden temporary name beside its target (Draft), filled, and placed by one rename that
// never replaces an existing folder; a Draft dropped unplaced removes its temporary. The root is
// marked as medanchor's output (file_inputs.h), so a folder search never reads it as input.
// Thread safety: an ArtifactStore is immutable after open(); share it between threads. A Draft is
// used by one thread at a time; drafts for different targets may be built concurrently, and two
// drafts racing for one target end with one placed and the other told so (place() == false).
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/file_io.h"

namespace medanchor::service {

class ArtifactStore {
  public:
    // Creates `root` (and its parents) when missing and marks it. kIo naming the folder.
    static Result<ArtifactStore> open(const std::filesystem::path& root);

    const std::filesystem::path& root() const { return root_; }
    // The absolute path of the folder named `name` (report::report_folder_name()).
    std::filesystem::path folder(const std::string& name) const;

    // A file written ahead of its report folder, before the folder is begun (a large
    // de-identified copy, written by a loader thread so that it leaves memory before inference):
    // a hidden temporary in the root, removed when dropped unless a draft adopted it.
    class Spilled {
      public:
        const std::filesystem::path& path() const { return file_.temp_path(); }

      private:
        friend class ArtifactStore;
        explicit Spilled(AtomicFile file) : file_(std::move(file)) {}
        AtomicFile file_;  // never committed: a draft adopts its temporary by name
    };
    // Writes `bytes` to a new Spilled. kIo naming the file.
    Result<Spilled> spill(std::string_view bytes) const;
    // Writes `pieces`, one after the other, to a new Spilled (a file made of parts never joined
    // in memory). kIo naming the file.
    Result<Spilled> spill(std::span<const std::string_view> pieces) const;

    class Draft {
      public:
        const std::filesystem::path& dir() const { return folder_.temp_path(); }
        const std::filesystem::path& target() const { return folder_.target(); }
        // Writes dir()/name, a new file (the folder is placed whole by place()). Errors name the
        // file.
        Status write(const std::string& name, std::string_view bytes) const;
        // Moves `spilled` into the folder as dir()/name: one rename (the same root, so the same
        // file system), no copy. kIo naming the file; the spilled file is removed either way.
        Status adopt(const std::string& name, Spilled&& spilled) const;
        // Places the folder at target(), write-once: true when placed; false when a folder
        // appeared there meanwhile (the draft is removed, the other left as it is); kIo else.
        Result<bool> place();

      private:
        friend class ArtifactStore;
        explicit Draft(AtomicFile folder) : folder_(std::move(folder)) {}
        AtomicFile folder_;
    };

    // Starts the folder `name`. kInvalidArgument when it exists already (medanchor never
    // rewrites a report folder; the message says so), kIo when the draft cannot be created.
    Result<Draft> begin(const std::string& name) const;

  private:
    explicit ArtifactStore(std::filesystem::path root) : root_(std::move(root)) {}
    std::filesystem::path root_;
};

}  // namespace medanchor::service

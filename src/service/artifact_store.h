// Write-once report folders under one root (docs/report.md, "Report folders"). A folder is built
// under a hidden temporary name beside its target (Draft), filled, and placed by one rename that
// never replaces an existing folder; a Draft dropped unplaced removes its temporary. The root is
// marked as medanchor's output (file_inputs.h), so a folder search never reads it as input.
// Thread safety: an ArtifactStore is immutable after open(); share it between threads. A Draft is
// used by one thread at a time; drafts for different targets may be built concurrently, and two
// drafts racing for one target end with one placed and the other told so (place() == false).
#pragma once

#include <filesystem>
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

    class Draft {
      public:
        const std::filesystem::path& dir() const { return folder_.temp_path(); }
        const std::filesystem::path& target() const { return folder_.target(); }
        // Writes dir()/name, a new file (the folder is placed whole by place()). Errors name the
        // file.
        Status write(const std::string& name, std::string_view bytes) const;
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

#include "service/artifact_store.h"

#include "service/file_inputs.h"

namespace medanchor::service {

namespace fs = std::filesystem;

Result<ArtifactStore> ArtifactStore::open(const fs::path& root) {
    if (auto made = make_output_folder(root); !made)
        return made.error();
    return ArtifactStore(fs::absolute(root).lexically_normal());
}

fs::path ArtifactStore::folder(const std::string& name) const {
    return root_ / name;
}

Status ArtifactStore::Draft::write(const std::string& name, std::string_view bytes) const {
    // The draft folder is placed whole, atomically: its files need no rename of their own.
    return write_new_file(dir() / name, bytes);
}

Status ArtifactStore::Draft::adopt(const std::string& name, Spilled&& spilled) const {
    const Spilled taken = std::move(spilled);  // its temporary goes with it if the rename fails
    std::error_code ec;
    fs::rename(taken.path(), dir() / name, ec);
    if (ec) {
        return Error(ErrorCode::kIo,
                     (dir() / name).string() +
                         ": cannot move the file into the report folder: " + ec.message());
    }
    return Status::Ok();
}

Result<ArtifactStore::Spilled> ArtifactStore::spill(std::string_view bytes) const {
    return spill(std::span(&bytes, 1));
}

Result<ArtifactStore::Spilled> ArtifactStore::spill(
    std::span<const std::string_view> pieces) const {
    // The target is never written: AtomicFile gives the temporary its hidden, unique name and
    // removes it when dropped uncommitted (a draft that adopted it has moved it away by then).
    AtomicFile file(root_ / "spilled");
    if (auto written = write_new_file(file.temp_path(), pieces); !written)
        return written.error();
    return Spilled(std::move(file));
}

Result<bool> ArtifactStore::Draft::place() {
    return folder_.commit({.replace = false});
}

Result<ArtifactStore::Draft> ArtifactStore::begin(const std::string& name) const {
    const fs::path target = folder(name);
    std::error_code ec;
    if (fs::exists(fs::symlink_status(target, ec))) {
        return Error(ErrorCode::kInvalidArgument,
                     target.string() +
                         " exists but is not in the ledger (written with another ledger, or by "
                         "hand); medanchor never rewrites a report folder: move it away or "
                         "choose another --out");
    }
    AtomicFile folder(target);
    if (!fs::create_directory(folder.temp_path(), ec) || ec) {
        return Error(ErrorCode::kIo,
                     target.string() + ": cannot create the report folder: " + ec.message());
    }
    return Draft(std::move(folder));
}

}  // namespace medanchor::service

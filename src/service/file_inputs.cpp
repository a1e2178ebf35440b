#include "service/file_inputs.h"

#include <algorithm>
#include <array>
#include <fstream>

#include "common/file_io.h"
#include "image/reader.h"

namespace medanchor::service {

namespace fs = std::filesystem;

namespace {

bool looks_like_an_image(const fs::path& path) {
    if (path.filename().string().starts_with("."))
        return false;
    std::array<char, 132> head{};
    std::ifstream in(path, std::ios::binary);
    in.read(head.data(), head.size());
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(head.data());
    return image::sniff_magic({bytes, static_cast<std::size_t>(in.gcount())}) !=
           image::Magic::kUnknown;
}

bool is_output_folder(const fs::path& folder) {
    std::error_code ec;
    return fs::exists(folder / kOutputFolderMarker, ec);
}

}  // namespace

std::vector<fs::path> expand_inputs(const std::vector<std::string>& inputs, std::size_t* skipped,
                                    std::size_t* skipped_output_folders) {
    std::vector<fs::path> files;
    if (skipped)
        *skipped = 0;
    if (skipped_output_folders)
        *skipped_output_folders = 0;
    for (const auto& input : inputs) {
        std::error_code ec;
        if (fs::is_directory(input, ec)) {
            std::vector<fs::path> found;
            for (auto it = fs::recursive_directory_iterator(
                     input, fs::directory_options::skip_permission_denied, ec);
                 !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
                if (it->is_directory(ec)) {
                    const bool hidden = it->path().filename().string().starts_with(".");
                    if (hidden || is_output_folder(it->path())) {
                        if (!hidden && skipped_output_folders)
                            ++*skipped_output_folders;
                        it.disable_recursion_pending();
                    }
                    continue;
                }
                if (!it->is_regular_file(ec))
                    continue;
                if (looks_like_an_image(it->path()))
                    found.push_back(it->path());
                else if (skipped)
                    ++*skipped;
            }
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else {
            files.emplace_back(input);
        }
    }
    return files;
}

Status make_output_folder(const fs::path& folder) {
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec || !fs::is_directory(folder, ec)) {
        return Error(ErrorCode::kIo,
                     folder.string() + ": cannot create the output folder" +
                         (ec ? ": " + ec.message() : std::string(": a file is in the way")));
    }
    if (is_output_folder(folder))
        return Status::Ok();
    return write_file_atomically(
        folder / kOutputFolderMarker,
        std::string_view(
            "medanchor output: skipped when medanchor searches a folder for images\n"));
}

}  // namespace medanchor::service

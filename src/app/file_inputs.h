// The file arguments of the commands that take many images (hash, predict, analyze): folders
// expand to their image files, recursively, sorted; files stay as given, so a missing or broken
// one is reported by the reader with its name. In a folder, a file is an image when its first
// bytes are DICOM, PNG, JPEG or TIFF magic (image::sniff_magic), whatever its name; others (a
// truth.csv, a README, hidden files) are skipped and counted in `skipped`.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace medanchor::app {

std::vector<std::filesystem::path> expand_inputs(const std::vector<std::string>& inputs,
                                                 std::size_t* skipped = nullptr);

}  // namespace medanchor::app

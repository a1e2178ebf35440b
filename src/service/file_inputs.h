// The file arguments of the commands that take many images (hash, predict, analyze, verify):
// folders expand to their image files, recursively, sorted; files stay as given, so a missing or
// broken one is reported by the reader with its name. In a folder, a file is an image when its
// first bytes are DICOM, PNG, JPEG or TIFF magic (image::sniff_magic), whatever its name; others
// (a truth.csv, a README, hidden files) are skipped and counted in `skipped`.
//
// medanchor's own output folders are not inputs: a folder met while searching that holds the
// marker file kOutputFolderMarker (analyze --out, predict --saliency) is skipped whole, as are
// hidden folders (an AtomicFile's temporary is one). So `--out` inside the input folder does not
// make a rerun read its own reports and de-identified copies. A folder named as an input itself
// is searched, marker or not: naming it is asking for it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"

namespace medanchor::service {

inline constexpr const char* kOutputFolderMarker = ".medanchor-output";

std::vector<std::filesystem::path> expand_inputs(const std::vector<std::string>& inputs,
                                                 std::size_t* skipped = nullptr,
                                                 std::size_t* skipped_output_folders = nullptr);

// Creates `folder` (and its parents) when missing and marks it as medanchor's output with
// kOutputFolderMarker. kIo naming the folder.
Status make_output_folder(const std::filesystem::path& folder);

}  // namespace medanchor::service

// The identifiers a report needs to point back at an image: Study, Series and SOP Instance UIDs
// and the SOP Class. Read from the de-identified copy the pipeline writes (src/image/deid.h), so
// what comes out is already remapped and carries no identity.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace medanchor::image {

struct InstanceUids {
    std::string study;
    std::string series;
    std::string sop_instance;
    std::string sop_class;
};

// Reads the four UIDs of a DICOM file through the same structural gate as decoding. kCorrupt
// naming the file when one of them is missing or not a valid UID.
Result<InstanceUids> read_instance_uids(const std::filesystem::path& path);
// The same for a DICOM Part 10 file already in memory (an instance received over the network);
// `name` stands for it in error messages.
Result<InstanceUids> read_instance_uids(std::span<const std::uint8_t> bytes, std::string_view name);

}  // namespace medanchor::image

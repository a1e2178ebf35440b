// The identifiers a report needs to point back at an image: Study, Series and SOP Instance UIDs
// and the SOP Class. Read from the de-identified copy the pipeline writes (src/image/deid.h), so
// what comes out is already remapped and carries no identity.
#pragma once

#include <filesystem>
#include <string>

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

}  // namespace medanchor::image

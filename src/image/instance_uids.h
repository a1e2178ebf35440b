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
#include "image/image.h"

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

// An instance decoded and its UIDs read from the one parse: decode_dicom(bytes, display) and
// read_instance_uids(bytes, name), as the two give them one after the other (the decoding's
// errors first; `uids` holds the UIDs' own error). For an instance cited as it is (the
// listener's spool, de-identified at intake).
struct DecodedWithUids {
    Image image;
    Result<InstanceUids> uids;
};
Result<DecodedWithUids> decode_with_instance_uids(std::span<const std::uint8_t> bytes,
                                                  std::string_view display, std::string_view name,
                                                  const DecodeLimits& limits = {});

}  // namespace medanchor::image

#include "image/instance_uids.h"

#include <gdcmFile.h>
#include <gdcmReader.h>

#include <algorithm>
#include <memory>

#include "image/dicom_io.h"
#include "image/image.h"
#include "image/reader.h"

namespace medanchor::image {
namespace {

// PS3.5 9.1: digits and dots, components without leading zeros, at most 64 characters.
bool is_uid(const std::string& uid) {
    if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.')
        return false;
    if (!std::all_of(uid.begin(), uid.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))
        return false;
    for (std::size_t i = 0; i < uid.size(); ++i) {
        if (uid[i] == '.' && i + 1 < uid.size() && uid[i + 1] == '.')
            return false;
        const bool component_start = i == 0 || uid[i - 1] == '.';
        if (component_start && uid[i] == '0' && i + 1 < uid.size() && uid[i + 1] != '.')
            return false;
    }
    return true;
}

}  // namespace

Result<InstanceUids> read_instance_uids(const std::filesystem::path& path) {
    auto bytes = read_file_bytes(path, DecodeLimits{}.max_file_bytes);
    if (!bytes)
        return bytes.error();
    return read_instance_uids(*bytes, path.string());
}

Result<InstanceUids> read_instance_uids(std::span<const std::uint8_t> bytes,
                                        std::string_view name_view) {
    const std::string name(name_view);
    quiet_gdcm();
    auto gated =
        normalise_dicom(bytes, name, GateMode::kKeepPixels, DecodeLimits{}.max_pixel_bytes);
    if (!gated)
        return gated.error();
    SpanStream stream(gated->bytes);
    gdcm::Reader reader;
    reader.SetStream(stream);
    if (!reader.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010))) {
        return Error(ErrorCode::kCorrupt, name + ": cannot parse the DICOM data set");
    }
    return instance_uids_of(reader.GetFile().GetDataSet(), name);
}

Result<DecodedWithUids> decode_with_instance_uids(std::span<const std::uint8_t> bytes,
                                                  std::string_view display, std::string_view name,
                                                  const DecodeLimits& limits) {
    std::shared_ptr<gdcm::File> parsed;
    auto image = decode_dicom(bytes, display, limits, &parsed);
    if (!image)
        return image.error();
    // Decoding drops overlays and curves and may add Number of Frames: none of them a UID.
    return DecodedWithUids{std::move(*image),
                           instance_uids_of(parsed->GetDataSet(), std::string(name))};
}

Result<InstanceUids> instance_uids_of(const gdcm::DataSet& ds, const std::string& name) {
    InstanceUids uids{dataset_string(ds, 0x0020, 0x000d), dataset_string(ds, 0x0020, 0x000e),
                      dataset_string(ds, 0x0008, 0x0018), dataset_string(ds, 0x0008, 0x0016)};
    const std::pair<const char*, const std::string*> fields[] = {
        {"Study Instance UID", &uids.study},
        {"Series Instance UID", &uids.series},
        {"SOP Instance UID", &uids.sop_instance},
        {"SOP Class UID", &uids.sop_class}};
    for (const auto& [what, value] : fields) {
        if (!is_uid(*value))
            return Error(ErrorCode::kCorrupt,
                         name + ": " + what + " is missing or not a valid UID");
    }
    return uids;
}

}  // namespace medanchor::image

// De-identification: the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile
// (table E.1-1 of PS3.15 2026c, generated from src/image/deid_table_e1_1.csv), with the "Retain
// Longitudinal Temporal Information with Full Dates" and "Clean Descriptors" options as flags.
// Writes a de-identified copy; never edits the input.
//
// What it does to a data set, recursively into every sequence item:
//   X remove, Z empty (zero-length), D replace with a dummy of the right VR (a sequence keeps its
//   items with every value inside replaced), K keep, C clean (descriptors, with the option),
//   U replace a UID by a consistent new UID; every private element is removed, and so are curves
//   and (unless keep_overlays) whole overlay groups; Patient Identity Removed = YES,
//   De-identification Method and its code sequence record what was done.
// Pixel data is copied bit for bit, so the canonical image hash of the copy equals the input's.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "image/image.h"
#include "image/instance_uids.h"
#include "image/site_key.h"

namespace medanchor::image {

struct DeidOptions {
    // PS3.15 E.3.6 "Retain Longitudinal Temporal Information with Full Dates": keep dates and
    // times as they are.
    bool retain_longitudinal_temporal = false;
    // PS3.15 E.3.5 "Clean Descriptors": keep descriptions and comments, with every identifying
    // value found elsewhere in the data set (names, ids, dates) and every run of 5+ digits
    // replaced by '*'. Without it, descriptors are removed.
    bool clean_descriptors = false;
    // Images with Burned In Annotation = YES carry identity in the pixels; they are refused
    // unless the caller opts in (and takes responsibility for the pixels).
    bool allow_burned_in_annotation = false;
    // Overlay planes (groups 60xx) can carry burned-in text as a bitmap, and their description
    // and label are free text: the whole group is removed unless the caller keeps them (and
    // takes responsibility for them). Overlay Comments (60xx,4000) are removed either way.
    bool keep_overlays = false;
};

enum class DeidAction : std::uint8_t {
    kRemove,  // X
    kZero,    // Z
    kDummy,   // D
    kKeep,    // K (a sequence: the profile applied inside its items)
    kClean,   // C
    kUid,     // U
};

char deid_action_letter(DeidAction action);

// The action codes of PS3.15 Table E.1-1 (Table E.1-1a), as the table writes them.
enum class TableAction : std::uint8_t { kX, kZ, kD, kU, kXZ, kXD, kZD, kXZD, kXZU };
// "X", "Z", "D", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*".
const char* table_action_code(TableAction action);

enum ProfileFlag : std::uint8_t {
    kTemporal =
        1,  // "K" in the Rtn. Long. Full Dates column: kept with retain_longitudinal_temporal
    kDescriptor = 2,  // "C" in the Clean Desc. column: cleaned with clean_descriptors
    kGroupMask = 4,   // a repeating group (50xx, 60xx): any group gggg with gggg & 0xFF00 == group
                      // matches; element 0xFFFF matches every element of it
};

struct ProfileEntry {
    std::uint16_t group;
    std::uint16_t element;
    const char* name;  // the attribute name as the table gives it
    TableAction table_action;
    std::uint8_t flags;
    // The Basic Profile action we apply. Where the table offers a choice its Table E.1-1a
    // meaning is "X unless Z/D is required to maintain IOD conformance"; without the IOD at hand
    // we take the choice that keeps every IOD valid, which reveals no more: X/Z -> Z (empty),
    // X/D, Z/D, X/Z/D -> D (dummy), X/Z/U* -> K (kept, the profile applied inside: its instance
    // UIDs remapped).
    DeidAction action() const;
};

// Table E.1-1 as this build applies it (the generated rows, without the "private attributes"
// row, which deid applies to every odd group), sorted by tag.
std::span<const ProfileEntry> basic_profile();
// The edition the table was taken from, e.g. "DICOM PS3.15 2026c".
const char* basic_profile_edition();

// The action after the options.
DeidAction effective_action(const ProfileEntry& entry, const DeidOptions& options);

// Replaces UIDs consistently: the same input UID always maps to the same new UID under the same
// secret, so the files of one study still form one study (and series one series) after
// de-identification. New UIDs are "2.25." + the decimal of 128 bits of
// HMAC-SHA-256(secret, "medanchor-deid-uid-v1:" || uid): not reversible without the secret.
class UidRemapper {
  public:
    // With the site key: consistent across runs on the same site.
    explicit UidRemapper(const SiteKey& key);
    // With a fresh random secret: consistent within this process only.
    static UidRemapper random();

    std::string remap(std::string_view uid) const;

  private:
    explicit UidRemapper(const std::array<std::uint8_t, SiteKey::kSize>& secret)
        : key_(SiteKey::from_bytes(secret)) {}
    SiteKey key_;
};

struct DeidSummary {
    std::size_t removed = 0;
    std::size_t emptied = 0;
    std::size_t replaced = 0;
    std::size_t uids_remapped = 0;
    std::size_t cleaned = 0;
    std::size_t private_removed = 0;
    std::vector<DecodeWarning> warnings;  // what was tolerated in the input (image.h)
};

// Reads `in`, de-identifies it and writes the result to `out` (parent folders created) through
// a temporary file renamed into place: on any error (a full disk included) nothing is left at
// `out` and an Error comes back; the process never aborts. The output keeps the input's transfer
// syntax and pixel data bytes (a deflated input is written inflated, as explicit VR little
// endian; a data set without Part 10 header gets one). Refuses (kPermission) Burned In Annotation
// YES (read_burned_in()) without the opt-in, and (kCorrupt/kUnsupported) anything that is not a
// readable DICOM file. Error messages name the files escaped for display.
Result<DeidSummary> deidentify_file(const std::filesystem::path& in,
                                    const std::filesystem::path& out, const DeidOptions& options,
                                    const UidRemapper& uids);

// A de-identified data set in memory, Part 10 encoded, with the UIDs it now carries (remapped)
// — what a report cites, without reading the copy back. `uids` is kCorrupt when the data set
// lacks a valid Study, Series or SOP Instance UID or SOP Class (a copy is still made; a report
// cannot cite it).
struct DeidentifiedInstance {
    std::string part10;
    Result<InstanceUids> uids;
    DeidSummary summary;
};
// The profile applied to bytes in memory, nothing written: `in` only names them in messages.
// The same checks and refusals as deidentify_bytes.
Result<DeidentifiedInstance> deidentify_in_memory(std::span<const std::uint8_t> bytes,
                                                  const std::filesystem::path& in,
                                                  const DeidOptions& options,
                                                  const UidRemapper& uids);

// Offered a de-identified copy, Part 10 encoded, as consecutive pieces before they are joined
// into DeidentifiedInstance::part10: their concatenation is the copy, byte for byte, and a large
// native pixel data value is one piece, the parsed data set's own bytes (no copy of the image).
// Returns true when it has taken the copy (written it somewhere: part10 is then left empty),
// false to have it joined in memory as usual, or an error, which is then the call's. The pieces
// are valid only during the call.
using Part10Taker = std::function<Result<bool>(std::span<const std::string_view> pieces)>;

// An input decoded and de-identified from one parse: decode_dicom's image and
// deidentify_in_memory's copy, equal to what the two give one after the other (the same image,
// the same copy byte for byte, the same errors in the same order: the decoding's first). DCMTK
// parses the bytes once, and `bytes` is released as soon as it has (the caller's last reference
// frees them); GDCM parses once, or twice where decoding changes the data set (overlays or
// curves dropped, a frame assumed, RLE/JPEG/JPEG-LS pixels decoded). `name` names the input in
// decoding errors (fit to print), `in` in de-identification errors, as in the two functions.
// `take`, when given, is offered the copy once the image is decoded (a caller that writes a
// large copy to disk from there never holds it in memory: at the peak the parsed data set and
// the decoded pixels, not a third copy of the image).
// REQUIRES: bytes != nullptr and sniff_magic(*bytes) == Magic::kDicom.
struct DecodedInstance {
    Image image;
    DeidentifiedInstance deid;
};
Result<DecodedInstance> decode_and_deidentify(
    std::shared_ptr<const std::vector<std::uint8_t>> bytes, std::string_view name,
    const std::filesystem::path& in, const DeidOptions& options, const UidRemapper& uids,
    const DecodeLimits& limits = {}, const Part10Taker& take = {});

// The same for bytes already in memory (an upload, a PACS instance): `in` only names them in
// messages. The identified bytes are never written anywhere.
Result<DeidSummary> deidentify_bytes(std::span<const std::uint8_t> bytes,
                                     const std::filesystem::path& in,
                                     const std::filesystem::path& out, const DeidOptions& options,
                                     const UidRemapper& uids);

}  // namespace medanchor::image

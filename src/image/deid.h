// De-identification: the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile
// (table E.1-1), with the "Retain Longitudinal Temporal Information with Full Dates" and "Clean
// Descriptors" options as flags. Writes a de-identified copy; never edits the input.
//
// What it does to a data set, recursively into every sequence item:
//   X remove, Z empty (zero-length), D replace with a dummy of the right VR, K keep,
//   C clean (descriptors, with the option), U replace a UID by a consistent new UID;
//   every private element is removed, and so are overlay data and comments, curves, and any
//   element in table E.1-1's groups; Patient Identity Removed = YES, De-identification Method
//   and its code sequence record what was done.
// Pixel data is copied bit for bit, so the canonical image hash of the copy equals the input's.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
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
};

enum class DeidAction : std::uint8_t {
    kRemove,  // X
    kZero,    // Z
    kDummy,   // D
    kKeep,    // K
    kClean,   // C
    kUid,     // U
};

char deid_action_letter(DeidAction action);

enum ProfileFlag : std::uint8_t {
    kTemporal = 1,    // a date or time: kept with retain_longitudinal_temporal
    kDescriptor = 2,  // free-text description: cleaned with clean_descriptors
    kGroupMask = 4,   // the group is a repeating group (50xx, 60xx): any group gggg with
                      // gggg & 0xFF00 == group matches
};

struct ProfileEntry {
    std::uint16_t group;
    std::uint16_t element;
    const char* keyword;
    DeidAction action;  // the Basic Profile action (no options)
    std::uint8_t flags;
};

// Table E.1-1 as this build applies it, sorted by tag. Where the table gives a choice (X/Z,
// Z/D, X/Z/D, X/Z/U*) we take the strictest that keeps the object valid: X where the attribute
// may be absent, Z for Type 2, D for Type 1, U for UIDs.
std::span<const ProfileEntry> basic_profile();

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
};

// Reads `in`, de-identifies it and writes the result to `out` (parent folders created). The
// output keeps the input's transfer syntax and pixel data bytes (a deflated input is written
// inflated, as explicit VR little endian). Refuses (kPermission) Burned In Annotation = YES
// without the opt-in, and (kCorrupt/kUnsupported) anything that is not a readable DICOM file.
Result<DeidSummary> deidentify_file(const std::filesystem::path& in,
                                    const std::filesystem::path& out, const DeidOptions& options,
                                    const UidRemapper& uids);

}  // namespace medanchor::image

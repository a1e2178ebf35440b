// PS3.15 Annex E Table E.1-1 (Application Level Confidentiality Profile Attributes) as deid.cpp
// applies it. The rows are generated (tools/deid/generate_profile.py) from the data file
// src/image/deid_table_e1_1.csv, which was extracted from NEMA's DocBook source of the named
// edition (docs/deid.md says where it came from and how to re-pin it); CTest checks the
// generated file is what the data file produces. Nothing here is typed by hand but the meaning of
// the action codes.
#include <algorithm>

#include "image/deid.h"

namespace medanchor::image {
namespace {

using T = TableAction;

constexpr ProfileEntry kProfile[] = {
#include "image/deid_profile_table.inc"
};

constexpr bool sorted_and_unique() {
    for (std::size_t i = 1; i < std::size(kProfile); ++i) {
        const auto a = std::uint32_t{kProfile[i - 1].group} << 16 | kProfile[i - 1].element;
        const auto b = std::uint32_t{kProfile[i].group} << 16 | kProfile[i].element;
        if (a >= b)
            return false;
    }
    return true;
}
static_assert(sorted_and_unique(), "the generated profile must be sorted by tag, without repeats");

}  // namespace

std::span<const ProfileEntry> basic_profile() {
    return kProfile;
}

const char* basic_profile_edition() {
    return "DICOM PS3.15 2026c";
}

const char* table_action_code(TableAction action) {
    switch (action) {
        case T::kX:
            return "X";
        case T::kZ:
            return "Z";
        case T::kD:
            return "D";
        case T::kU:
            return "U";
        case T::kXZ:
            return "X/Z";
        case T::kXD:
            return "X/D";
        case T::kZD:
            return "Z/D";
        case T::kXZD:
            return "X/Z/D";
        case T::kXZU:
            return "X/Z/U*";
    }
    return "?";
}

DeidAction ProfileEntry::action() const {
    switch (table_action) {
        case T::kX:
            return DeidAction::kRemove;
        case T::kZ:
        case T::kXZ:
            return DeidAction::kZero;
        case T::kD:
        case T::kXD:
        case T::kZD:
        case T::kXZD:
            return DeidAction::kDummy;
        case T::kU:
            return DeidAction::kUid;
        case T::kXZU:
            return DeidAction::kKeep;
    }
    return DeidAction::kRemove;
}

char deid_action_letter(DeidAction action) {
    switch (action) {
        case DeidAction::kRemove:
            return 'X';
        case DeidAction::kZero:
            return 'Z';
        case DeidAction::kDummy:
            return 'D';
        case DeidAction::kKeep:
            return 'K';
        case DeidAction::kClean:
            return 'C';
        case DeidAction::kUid:
            return 'U';
    }
    return '?';
}

DeidAction effective_action(const ProfileEntry& entry, const DeidOptions& options) {
    if (options.retain_longitudinal_temporal && (entry.flags & kTemporal))
        return DeidAction::kKeep;
    if (options.clean_descriptors && (entry.flags & kDescriptor))
        return DeidAction::kClean;
    return entry.action();
}

}  // namespace medanchor::image

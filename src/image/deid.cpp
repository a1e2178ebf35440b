// De-identification with GDCM's data set editing (the second and last file that includes GDCM).
#include "image/deid.h"

#include <gdcmDataSet.h>
#include <gdcmDict.h>
#include <gdcmDicts.h>
#include <gdcmFile.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmGlobal.h>
#include <gdcmItem.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmWriter.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <optional>
#include <vector>

#include "common/encoding.h"
#include "common/file_io.h"
#include "image/dicom_io.h"
#include "image/image_hash.h"
#include "image/reader.h"

namespace medanchor::image {
namespace {

constexpr char kUidDomain[] = "medanchor-deid-uid-v1:";

Error fail(ErrorCode code, const std::filesystem::path& path, const std::string& what) {
    return Error(code, escape_for_display(path.string()) + ": " + what);
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0'))
        s.pop_back();
    std::size_t start = 0;
    while (start < s.size() && s[start] == ' ')
        ++start;
    return s.substr(start);
}

std::vector<std::string> split(const std::string& s, const std::string& separators) {
    std::vector<std::string> parts;
    std::string current;
    for (char c : s) {
        if (separators.find(c) != std::string::npos) {
            parts.push_back(trim(current));
            current.clear();
        } else {
            current.push_back(c);
        }
    }
    parts.push_back(trim(current));
    return parts;
}

gdcm::VR element_vr(const gdcm::DataElement& de) {
    const gdcm::VR vr = de.GetVR();
    if (vr != gdcm::VR::INVALID && vr != gdcm::VR::UN)
        return vr;
    const gdcm::DictEntry& entry = gdcm::Global::GetInstance().GetDicts().GetDictEntry(de.GetTag());
    return entry.GetVR();
}

bool is_sequence(const gdcm::DataElement& de) {
    return de.GetVR() == gdcm::VR::SQ || element_vr(de) == gdcm::VR::SQ;
}

std::string value_string(const gdcm::DataElement& de) {
    const gdcm::ByteValue* bv = de.GetByteValue();
    if (bv == nullptr || bv->GetPointer() == nullptr)
        return {};
    return std::string(bv->GetPointer(), bv->GetLength());
}

void set_value(gdcm::DataSet& ds, const gdcm::Tag& tag, gdcm::VR vr, std::string value) {
    if (value.size() % 2 != 0)
        value.push_back(vr == gdcm::VR::UI ? '\0' : ' ');
    gdcm::DataElement de(tag);
    de.SetVR(vr);
    de.SetByteValue(value.data(), static_cast<std::uint32_t>(value.size()));
    ds.Replace(de);
}

// A dummy value of the right VR for action D ("a non-zero length value that may be a dummy value
// and consistent with the VR", PS3.15 Table E.1-1a): fixed texts and zeros that say nothing. For
// binary VRs the dummy keeps the value's length (some have a fixed size), at least one value.
std::string dummy_for(gdcm::VR vr, std::size_t original_length) {
    auto zeros = [&](std::size_t width) {
        const std::size_t length = std::max(width, original_length - original_length % width);
        return std::string(length, '\0');
    };
    switch (vr) {
        case gdcm::VR::DA:
            return "19000101";
        case gdcm::VR::TM:
            return "000000";
        case gdcm::VR::DT:
            return "19000101000000";
        case gdcm::VR::AS:
            return "000Y";
        case gdcm::VR::IS:
        case gdcm::VR::DS:
            return "0";
        case gdcm::VR::UR:
            return "urn:anonymized";
        case gdcm::VR::US:
        case gdcm::VR::SS:
        case gdcm::VR::OW:
        case gdcm::VR::OB:
        case gdcm::VR::UN:
            return zeros(2);
        case gdcm::VR::UL:
        case gdcm::VR::SL:
        case gdcm::VR::FL:
        case gdcm::VR::AT:
        case gdcm::VR::OF:
        case gdcm::VR::OL:
            return zeros(4);
        case gdcm::VR::FD:
        case gdcm::VR::OD:
        case gdcm::VR::OV:
        case gdcm::VR::SV:
        case gdcm::VR::UV:
            return zeros(8);
        default:  // AE, CS, LO, LT, PN, SH, ST, UC, UT and anything else textual
            return "ANONYMIZED";
    }
}

// Values a D'd sequence may keep as they are: coded and numeric values (PS3.15 E.1.1 note:
// coded entries do not usually carry identity; sequences of codes for persons are themselves
// rows of the table) and UIDs that are not instance UIDs (those are rows of the table, U).
bool neutral_vr(gdcm::VR vr) {
    switch (vr) {
        case gdcm::VR::CS:
        case gdcm::VR::IS:
        case gdcm::VR::DS:
        case gdcm::VR::US:
        case gdcm::VR::SS:
        case gdcm::VR::UL:
        case gdcm::VR::SL:
        case gdcm::VR::FL:
        case gdcm::VR::FD:
        case gdcm::VR::SV:
        case gdcm::VR::UV:
        case gdcm::VR::AT:
        case gdcm::VR::UI:
            return true;
        default:
            return false;
    }
}

bool code_sequence(const gdcm::Tag& tag) {
    const char* keyword = gdcm::Global::GetInstance().GetDicts().GetDictEntry(tag).GetKeyword();
    const std::string_view k = keyword == nullptr ? "" : keyword;
    return k.size() > 12 && k.substr(k.size() - 12) == "CodeSequence";
}

const ProfileEntry* find_entry(const gdcm::Tag& tag) {
    const auto profile = basic_profile();
    const std::uint16_t group = tag.GetGroup();
    const std::uint16_t element = tag.GetElement();
    if ((group & 0xFF00) == 0x5000 || (group & 0xFF00) == 0x6000) {
        for (const auto& e : profile) {
            if ((e.flags & kGroupMask) && (group & 0xFF00) == e.group &&
                (e.element == 0xFFFF || e.element == element)) {
                return &e;
            }
        }
        return nullptr;
    }
    const auto it = std::lower_bound(profile.begin(), profile.end(), tag,
                                     [](const ProfileEntry& e, const gdcm::Tag& t) {
                                         return gdcm::Tag(e.group, e.element) < t;
                                     });
    if (it != profile.end() && it->group == group && it->element == element)
        return &*it;
    return nullptr;
}

class Deidentifier {
  public:
    Deidentifier(const DeidOptions& options, const UidRemapper& uids)
        : options_(options), uids_(uids) {}

    // Values elsewhere in the data set that name the patient or the site: masked inside
    // descriptors kept by the Clean Descriptors option.
    void collect_identifiers(const gdcm::DataSet& ds) {
        static constexpr std::pair<std::uint16_t, std::uint16_t> kSources[] = {
            {0x0010, 0x0010}, {0x0010, 0x0020}, {0x0010, 0x1000}, {0x0010, 0x1001},
            {0x0010, 0x1005}, {0x0010, 0x1060}, {0x0010, 0x0030}, {0x0008, 0x0050},
            {0x0008, 0x0090}, {0x0008, 0x0080}, {0x0008, 0x1010}, {0x0008, 0x1050},
            {0x0008, 0x1070}, {0x0010, 0x1040}, {0x0020, 0x0010}, {0x0038, 0x0010}};
        for (const auto& [group, element] : kSources) {
            for (const auto& part : split(dataset_string(ds, group, element), "^=\\ ,")) {
                if (part.size() >= 3)
                    identifiers_.push_back(part);
            }
        }
    }

    void process(gdcm::DataSet& ds) {
        std::vector<gdcm::DataElement> elements(ds.Begin(), ds.End());
        for (const auto& de : elements) {
            const gdcm::Tag& tag = de.GetTag();
            if (tag.IsPrivate()) {
                ds.Remove(tag);
                ++summary.private_removed;
                continue;
            }
            if ((tag.GetGroup() & 0xFF00) == 0x6000) {
                if (!overlay_kept(tag)) {
                    ds.Remove(tag);
                    ++summary.removed;
                }
                continue;
            }
            const ProfileEntry* entry = find_entry(tag);
            if (entry == nullptr) {
                if (is_sequence(de))
                    recurse(ds, de);
                continue;
            }
            apply(ds, de, effective_action(*entry, options_));
        }
    }

    DeidSummary summary;

  private:
    // Overlay planes go whole (their bitmap can show text, their description and label are free
    // text) unless the caller keeps them; Overlay Comments go either way (table E.1-1: X).
    bool overlay_kept(const gdcm::Tag& tag) const {
        return options_.keep_overlays && tag.GetElement() != 0x4000;
    }

    void apply(gdcm::DataSet& ds, const gdcm::DataElement& de, DeidAction action) {
        const gdcm::Tag& tag = de.GetTag();
        const gdcm::VR vr = element_vr(de);
        switch (action) {
            case DeidAction::kKeep:
                if (is_sequence(de))
                    recurse(ds, de);
                return;
            case DeidAction::kRemove:
                ds.Remove(tag);
                ++summary.removed;
                return;
            case DeidAction::kZero:
                if (vr == gdcm::VR::SQ || is_sequence(de)) {
                    gdcm::SmartPointer<gdcm::SequenceOfItems> empty = new gdcm::SequenceOfItems;
                    gdcm::DataElement z(tag);
                    z.SetVR(gdcm::VR::SQ);
                    z.SetValue(*empty);
                    z.SetVLToUndefined();
                    ds.Replace(z);
                } else {
                    gdcm::DataElement z(tag);
                    z.SetVR(vr == gdcm::VR::INVALID ? de.GetVR() : vr);
                    ds.Replace(z);
                }
                ++summary.emptied;
                return;
            case DeidAction::kDummy:
                if (is_sequence(de)) {
                    recurse(ds, de, /*dummy=*/true);
                } else if (vr == gdcm::VR::UI) {
                    remap(ds, de);  // a dummy UID: a new one, consistent like every other
                } else {
                    set_value(ds, tag, vr, dummy_for(vr, value_string(de).size()));
                    ++summary.replaced;
                }
                return;
            case DeidAction::kUid:
                remap(ds, de);
                return;
            case DeidAction::kClean:
                if (is_sequence(de)) {
                    recurse(ds, de);
                    return;
                }
                set_value(ds, tag, vr, clean(trim(value_string(de))));
                ++summary.cleaned;
                return;
        }
    }

    void remap(gdcm::DataSet& ds, const gdcm::DataElement& de) {
        std::string mapped;
        for (const auto& uid : split(value_string(de), "\\")) {
            if (!mapped.empty())
                mapped.push_back('\\');
            std::string clean = uid;
            clean.erase(std::remove(clean.begin(), clean.end(), '\0'), clean.end());
            if (!clean.empty())
                mapped += uids_.remap(clean);
        }
        set_value(ds, de.GetTag(), gdcm::VR::UI, mapped);
        ++summary.uids_remapped;
    }

    // Inside a sequence whose action is D ("applicable to the Sequence and all of its contents",
    // PS3.15 Table E.1-1a): the items stay (so a Type 1 sequence stays valid) but every value in
    // them is a dummy, unless the table has a row for it (then the row applies), the value is
    // coded, numeric or a class UID (neutral_vr), or it is a sequence of codes (kept, the
    // profile applied inside). Nested sequences are treated the same way.
    void dummy_items(gdcm::DataSet& ds) {
        std::vector<gdcm::DataElement> elements(ds.Begin(), ds.End());
        for (const auto& de : elements) {
            const gdcm::Tag& tag = de.GetTag();
            if (tag.IsPrivate()) {
                ds.Remove(tag);
                ++summary.private_removed;
                continue;
            }
            if (const ProfileEntry* entry = find_entry(tag); entry != nullptr) {
                apply(ds, de, effective_action(*entry, options_));
                continue;
            }
            if (is_sequence(de)) {
                recurse(ds, de, /*dummy=*/!code_sequence(tag));
                continue;
            }
            const gdcm::VR vr = element_vr(de);
            if (neutral_vr(vr) || value_string(de).empty())
                continue;
            set_value(ds, tag, vr, dummy_for(vr, value_string(de).size()));
            ++summary.replaced;
        }
    }

    // Applies the profile (or, for a D'd sequence, dummy_items) inside every item of a sequence
    // and writes the sequence back.
    void recurse(gdcm::DataSet& ds, const gdcm::DataElement& de, bool dummy = false) {
        gdcm::SmartPointer<gdcm::SequenceOfItems> sq = de.GetValueAsSQ();
        if (!sq && de.IsEmpty()) {
            sq = new gdcm::SequenceOfItems;  // an empty sequence (Type 2) stays one
        } else if (!sq) {
            // An undecodable sequence could hide anything: drop it rather than copy it blind.
            ds.Remove(de.GetTag());
            ++summary.removed;
            return;
        }
        for (gdcm::SequenceOfItems::SizeType i = 1; i <= sq->GetNumberOfItems(); ++i) {
            gdcm::Item& item = sq->GetItem(i);
            // Undefined lengths throughout: GDCM's writer recomputes a defined item length from
            // its content once per enclosing level, which is exponential in the nesting depth
            // (64 levels would never finish); with delimiters it writes in one pass.
            item.SetVLToUndefined();
            if (dummy)
                dummy_items(item.GetNestedDataSet());
            else
                process(item.GetNestedDataSet());
        }
        gdcm::DataElement out(de.GetTag());
        out.SetVR(gdcm::VR::SQ);
        out.SetValue(*sq);
        out.SetVLToUndefined();
        ds.Replace(out);
    }

    // Clean Descriptors: mask identifying values found elsewhere in the data set, and any run
    // of five or more digits (dates, phone numbers, record numbers).
    std::string clean(std::string text) const {
        std::string lower = text;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        for (std::string id : identifiers_) {
            std::transform(id.begin(), id.end(), id.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            for (auto pos = lower.find(id); pos != std::string::npos; pos = lower.find(id, pos)) {
                for (std::size_t i = pos; i < pos + id.size(); ++i)
                    text[i] = lower[i] = '*';
            }
        }
        std::size_t run = 0;
        for (std::size_t i = 0; i <= text.size(); ++i) {
            if (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
                ++run;
                continue;
            }
            if (run >= 5)
                std::fill(text.begin() + (i - run), text.begin() + i, '*');
            run = 0;
        }
        return text;
    }

    const DeidOptions& options_;
    const UidRemapper& uids_;
    std::vector<std::string> identifiers_;
};

void add_code_item(gdcm::SequenceOfItems& sq, const char* value, const char* meaning) {
    gdcm::Item item;
    item.SetVLToUndefined();
    gdcm::DataSet& nds = item.GetNestedDataSet();
    set_value(nds, gdcm::Tag(0x0008, 0x0100), gdcm::VR::SH, value);
    set_value(nds, gdcm::Tag(0x0008, 0x0102), gdcm::VR::SH, "DCM");
    set_value(nds, gdcm::Tag(0x0008, 0x0104), gdcm::VR::LO, meaning);
    sq.AddItem(item);
}

// Records what was done, as PS3.15 E.1 and PS3.3 C.7.1.1 ask. De-identification Method is LO
// (at most 64 characters a value) with VM 1-n: one value per profile and option.
void mark_deidentified(gdcm::DataSet& ds, const DeidOptions& options) {
    set_value(ds, gdcm::Tag(0x0012, 0x0062), gdcm::VR::CS, "YES");
    std::string method = std::string(basic_profile_edition()) + " E.1-1 Basic Profile";
    gdcm::SmartPointer<gdcm::SequenceOfItems> codes = new gdcm::SequenceOfItems;
    codes->SetLengthToUndefined();
    add_code_item(*codes, "113100", "Basic Application Confidentiality Profile");
    if (options.clean_descriptors) {
        method += "\\Clean Descriptors Option";
        add_code_item(*codes, "113105", "Clean Descriptors Option");
    }
    if (options.retain_longitudinal_temporal) {
        method += "\\Retain Longitudinal Temporal Information Full Dates Option";
        add_code_item(*codes, "113106",
                      "Retain Longitudinal Temporal Information Full Dates Option");
    }
    if (options.keep_overlays)
        method += "\\Overlay planes kept (not cleaned)";
    if (options.allow_burned_in_annotation)
        method += "\\Burned In Annotation accepted (pixels not cleaned)";
    set_value(ds, gdcm::Tag(0x0012, 0x0063), gdcm::VR::LO, method);
    gdcm::DataElement seq(gdcm::Tag(0x0012, 0x0064));
    seq.SetVR(gdcm::VR::SQ);
    seq.SetValue(*codes);
    seq.SetVLToUndefined();
    ds.Replace(seq);
    set_value(ds, gdcm::Tag(0x0028, 0x0303), gdcm::VR::CS,
              options.retain_longitudinal_temporal ? "UNMODIFIED" : "REMOVED");
}

}  // namespace

UidRemapper::UidRemapper(const SiteKey& key) : key_(key) {}

UidRemapper UidRemapper::random() {
    std::array<std::uint8_t, SiteKey::kSize> secret{};
    if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1)
        std::abort();
    return UidRemapper(secret);
}

std::string UidRemapper::remap(std::string_view uid) const {
    std::string message = kUidDomain;
    message.append(uid);
    const auto mac = hmac_sha256(
        key_, std::span(reinterpret_cast<const std::uint8_t*>(message.data()), message.size()));
    std::array<std::uint8_t, 16> top{};
    std::copy_n(mac.begin(), 16, top.begin());
    return uid_from_128_bits(top);
}

Result<DeidSummary> deidentify_file(const std::filesystem::path& in,
                                    const std::filesystem::path& out, const DeidOptions& options,
                                    const UidRemapper& uids) {
    auto bytes = read_file_bytes(in, DecodeLimits{}.max_file_bytes);
    if (!bytes)
        return bytes.error();
    return deidentify_bytes(*bytes, in, out, options, uids);
}

namespace {

// The file written as Part 10, in pieces whose concatenation is the encoding. GDCM's writer
// copies every value it writes (to swap its bytes), the pixel data included: one more copy of
// the image at the peak. So native little-endian pixel data that ends the data set is not given
// to it: GDCM writes everything before it into `head`, and the element follows as
// `pixel_header` (tag, VR and two zero bytes in explicit VR, then the 32-bit length: as GDCM
// writes it) and `pixels`, the data set's own value (valid while `file` is), no copy. Anything
// else (big endian, encapsulated fragments, elements after the pixel data) is GDCM's to write,
// all in `head`. `encoded_size` (the size of the bytes parsed) sizes `head` up front, with room
// for what de-identification adds, so that GDCM's writing does not reallocate it.
struct Part10Encoding {
    std::string head;
    std::string pixel_header;
    std::string_view pixels;

    std::array<std::string_view, 3> pieces() const { return {head, pixel_header, pixels}; }
    std::string joined() && {
        if (pixels.empty() && pixel_header.empty())
            return std::move(head);
        std::string out;
        out.reserve(head.size() + pixel_header.size() + pixels.size());
        for (const std::string_view piece : pieces())
            out.append(piece);
        return out;
    }
};

std::optional<Part10Encoding> encode_part10(gdcm::File& file, std::size_t encoded_size) {
    gdcm::DataSet& ds = file.GetDataSet();
    const gdcm::Tag pixel_tag(0x7fe0, 0x0010);
    const gdcm::TransferSyntax ts = file.GetHeader().GetDataSetTransferSyntax();
    const bool little_endian = ts == gdcm::TransferSyntax::ExplicitVRLittleEndian ||
                               ts == gdcm::TransferSyntax::ImplicitVRLittleEndian;
    std::optional<gdcm::DataElement> pixels;
    if (little_endian && !ds.IsEmpty() && ds.GetDES().rbegin()->GetTag() == pixel_tag) {
        const gdcm::DataElement& de = *ds.GetDES().rbegin();
        const gdcm::ByteValue* bv = de.GetByteValue();
        const bool explicit_vr = ts.IsExplicit();
        const bool plain =
            bv != nullptr && !de.GetVL().IsUndefined() && de.GetVL() == bv->GetLength() &&
            bv->GetLength() % 2 == 0 &&
            (!explicit_vr || de.GetVR() == gdcm::VR::OB || de.GetVR() == gdcm::VR::OW);
        if (plain) {
            pixels = de;  // shares the value: no copy
            ds.Remove(pixel_tag);
        }
    }
    const std::size_t pixel_bytes =
        pixels ? static_cast<std::size_t>(pixels->GetByteValue()->GetLength()) : 0;
    StringSink encoded((encoded_size > pixel_bytes ? encoded_size - pixel_bytes : 0) + 64 * 1024);
    gdcm::Writer writer;
    writer.SetFile(file);
    writer.SetStream(encoded);
    const bool written = writer.Write() && encoded;
    Part10Encoding out{std::move(encoded).take(), {}, {}};
    if (pixels) {
        ds.Insert(*pixels);  // the file as it was, for whoever holds it
        const gdcm::ByteValue* bv = ds.GetDataElement(pixel_tag).GetByteValue();
        const std::uint32_t length = bv->GetLength();
        out.pixel_header.append({'\xE0', '\x7F', '\x10', '\x00'});
        if (ts.IsExplicit()) {
            out.pixel_header.append(pixels->GetVR() == gdcm::VR::OB ? "OB" : "OW");
            out.pixel_header.append(2, '\0');
        }
        for (int shift = 0; shift < 32; shift += 8)
            out.pixel_header.push_back(static_cast<char>((length >> shift) & 0xFFu));
        out.pixels = std::string_view(bv->GetPointer(), length);
    }
    if (!written)
        return std::nullopt;
    return out;
}

// De-identifies a data set GDCM has parsed (changing it) and encodes it, offering the encoding
// to `take` when given (Part10Taker). `gate_warnings`: what the gate tolerated; `encoded_size`:
// the size of the bytes parsed (to reserve the output).
Result<DeidentifiedInstance> deidentify_parsed(gdcm::File& file,
                                               std::vector<DecodeWarning> gate_warnings,
                                               std::size_t encoded_size,
                                               const std::filesystem::path& in,
                                               const DeidOptions& options, const UidRemapper& uids,
                                               const Part10Taker& take = {}) {
    gdcm::DataSet& ds = file.GetDataSet();
    Deidentifier deid(options, uids);
    for (auto& warning : gate_warnings) {
        if (warning.kind == WarningKind::kNoPreamble)
            deid.summary.warnings.push_back(std::move(warning));
    }
    const std::string burned_in = dataset_string(ds, 0x0028, 0x0301);
    const BurnedInReading reading = read_burned_in(burned_in);
    if (!reading.standard) {
        deid.summary.warnings.push_back(
            {WarningKind::kBurnedInValue,
             "Burned In Annotation (0028,0301) is \"" + escape_for_display(burned_in) +
                 "\", not YES or NO: read as " + (reading.value == BurnedIn::kYes ? "YES" : "NO")});
    }
    if (reading.value == BurnedIn::kYes && !options.allow_burned_in_annotation) {
        return fail(
            ErrorCode::kPermission, in,
            "Burned In Annotation is YES" +
                std::string(reading.standard ? ""
                                             : " (the value \"" + escape_for_display(burned_in) +
                                                   "\" is read as YES)") +
                ": the pixels may show identity; refusing to de-identify (pass "
                "--allow-burned-in to accept responsibility for the pixels)");
    }

    deid.collect_identifiers(ds);
    deid.process(ds);
    mark_deidentified(ds, options);

    // File meta: the instance UID must match the data set's; the sending AE title could name
    // the site, so it goes.
    gdcm::FileMetaInformation& meta = file.GetHeader();
    const std::string sop_instance = dataset_string(ds, 0x0008, 0x0018);
    if (!sop_instance.empty()) {
        set_value(meta, gdcm::Tag(0x0002, 0x0003), gdcm::VR::UI, sop_instance);
    }
    for (std::uint16_t element : {0x0016, 0x0017, 0x0018, 0x0100, 0x0102}) {
        meta.Remove(gdcm::Tag(0x0002, element));
    }

    // GDCM writes into memory (its writer assert()s on a stream that fails, e.g. on a full
    // disk); the bytes reach the disk, if at all, through the taker or one atomic write, each of
    // which reports failure as a value and leaves nothing behind.
    auto encoded = encode_part10(file, encoded_size);
    if (!encoded)
        return fail(ErrorCode::kCorrupt, in, "cannot encode the de-identified data set");
    std::string part10;
    bool taken = false;
    if (take) {
        const auto pieces = encoded->pieces();
        auto took = take(pieces);
        if (!took)
            return took.error();
        taken = *took;
    }
    if (!taken)
        part10 = std::move(*encoded).joined();
    return DeidentifiedInstance{
        std::move(part10),
        instance_uids_of(ds, escape_for_display(in.string()) + " (de-identified)"),
        std::move(deid.summary)};
}

}  // namespace

Result<DeidentifiedInstance> deidentify_in_memory(std::span<const std::uint8_t> bytes,
                                                  const std::filesystem::path& in,
                                                  const DeidOptions& options,
                                                  const UidRemapper& uids) {
    quiet_gdcm();
    if (sniff_magic(bytes) != Magic::kDicom) {
        return fail(ErrorCode::kCorrupt, in,
                    "not a DICOM file (no 'DICM' magic at offset 128 and no data set at offset 0)");
    }
    // GDCM only ever reads what DCMTK has parsed and re-encoded (see dicom_gate.cpp).
    auto gated = normalise_dicom(bytes, escape_for_display(in.string()), GateMode::kKeepPixels, 0);
    if (!gated)
        return gated.error();
    SpanStream stream(gated->bytes);
    gdcm::Reader reader;
    reader.SetStream(stream);
    if (!reader.Read()) {
        return fail(ErrorCode::kCorrupt, in,
                    "cannot parse the DICOM data set (truncated or malformed)");
    }
    // GDCM has its own copy of every element: the re-encoding can go before the output is made.
    const std::size_t encoded_size = gated->bytes.size();
    std::vector<std::uint8_t>().swap(gated->bytes);
    return deidentify_parsed(reader.GetFile(), std::move(gated->warnings), encoded_size, in,
                             options, uids);
}

Result<DecodedInstance> decode_and_deidentify(
    std::shared_ptr<const std::vector<std::uint8_t>> bytes, std::string_view name,
    const std::filesystem::path& in, const DeidOptions& options, const UidRemapper& uids,
    const DecodeLimits& limits, const Part10Taker& take) {
    quiet_gdcm();
    if (bytes->size() > limits.max_file_bytes)
        return Error(ErrorCode::kTooLarge, std::string(name) + ": file over the size limit");
    // One parse by DCMTK gives both encodings (one, when decoding changes nothing); the bytes
    // read are dropped as soon as DCMTK holds them.
    const std::span<const std::uint8_t> untrusted(*bytes);
    auto gated = normalise_dicom(untrusted, name, GateMode::kDecodeAndKeep, limits.max_pixel_bytes,
                                 [&bytes] { bytes.reset(); });
    if (!gated)
        return gated.error();
    std::vector<DecodeWarning> gate_warnings = gated->warnings;
    const std::size_t decoded_size = gated->bytes.size();
    const bool shared_parse = !gated->kept.has_value();
    std::shared_ptr<gdcm::File> parsed;
    auto image = decode_gated(*gated, name, limits, shared_parse ? &parsed : nullptr);
    if (!image)
        return image.error();
    if (!shared_parse) {
        std::vector<std::uint8_t>& kept = *gated->kept;
        // Decoding changed the data set: the copy is made from the encoding as it came, parsed
        // on its own (as deidentify_in_memory does).
        SpanStream stream(kept);
        auto reader = std::make_shared<gdcm::Reader>();
        reader->SetStream(stream);
        if (!reader->Read()) {
            return fail(ErrorCode::kCorrupt, in,
                        "cannot parse the DICOM data set (truncated or malformed)");
        }
        const std::size_t kept_size = kept.size();
        std::vector<std::uint8_t>().swap(kept);
        auto deid = deidentify_parsed(reader->GetFile(), std::move(gate_warnings), kept_size, in,
                                      options, uids, take);
        if (!deid)
            return deid.error();
        return DecodedInstance{std::move(*image), std::move(*deid)};
    }
    auto deid =
        deidentify_parsed(*parsed, std::move(gate_warnings), decoded_size, in, options, uids, take);
    if (!deid)
        return deid.error();
    return DecodedInstance{std::move(*image), std::move(*deid)};
}

Result<DeidSummary> deidentify_bytes(std::span<const std::uint8_t> bytes,
                                     const std::filesystem::path& in,
                                     const std::filesystem::path& out, const DeidOptions& options,
                                     const UidRemapper& uids) {
    auto done = deidentify_in_memory(bytes, in, options, uids);
    if (!done)
        return done.error();
    std::error_code ec;
    if (out.has_parent_path() && !std::filesystem::is_directory(out.parent_path(), ec)) {
        std::filesystem::create_directories(out.parent_path(), ec);
        if (ec) {
            return fail(ErrorCode::kIo, out.parent_path(),
                        "cannot create the folder: " + ec.message());
        }
    }
    if (auto written = write_file_atomically(out, done->part10); !written) {
        const Error& e = written.error();
        return Error(e.code(), escape_for_display(e.message()));
    }
    return std::move(done->summary);
}

}  // namespace medanchor::image

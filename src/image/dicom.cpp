// DICOM decoding through GDCM. This file and deid.cpp are the only ones that include GDCM; no
// GDCM type leaves them.
#include <gdcmDataSet.h>
#include <gdcmDict.h>
#include <gdcmDicts.h>
#include <gdcmFile.h>
#include <gdcmGlobal.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>
#include <gdcmUIDs.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <istream>
#include <limits>
#include <memory>
#include <optional>
#include <streambuf>

#include "common/encoding.h"
#include "image/dicom_io.h"
#include "image/reader.h"

namespace medanchor::image {
namespace {

Error fail(ErrorCode code, std::string_view name, const std::string& what) {
    return Error(code, std::string(name) + ": " + what);
}

// Syntaxes GDCM knows but that are video or otherwise not a still image we decode.
bool is_video_syntax(gdcm::TransferSyntax::TSType ts) {
    switch (ts) {
        case gdcm::TransferSyntax::MPEG2MainProfile:
        case gdcm::TransferSyntax::MPEG2MainProfileHighLevel:
        case gdcm::TransferSyntax::MPEG4AVCH264HighProfileLevel4_1:
        case gdcm::TransferSyntax::MPEG4AVCH264BDcompatibleHighProfileLevel4_1:
        case gdcm::TransferSyntax::JPIPReferenced:
            return true;
        default:
            return false;
    }
}

// Multiplies sizes, saturating at SIZE_MAX so an absurd header cannot wrap around a bound check.
std::size_t mul_sat(std::size_t a, std::size_t b) {
    if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) {
        return std::numeric_limits<std::size_t>::max();
    }
    return a * b;
}

// Brings stored samples of width T to the canonical value: shift the stored bits down to bit 0
// (High Bit may sit above Bits Stored - 1), keep Bits Stored bits, sign-extend when signed.
template <class T>
void normalise_samples(std::uint8_t* data, std::size_t count, unsigned bits_stored, unsigned shift,
                       bool is_signed) {
    using U = std::make_unsigned_t<T>;
    constexpr unsigned kWidth = sizeof(U) * 8;
    if (bits_stored == kWidth && shift == 0)
        return;  // already canonical
    const U mask = bits_stored >= kWidth ? U(~U(0)) : U((U(1) << bits_stored) - 1);
    const U sign = U(U(1) << (bits_stored - 1));
    for (std::size_t i = 0; i < count; ++i) {
        U v;
        std::memcpy(&v, data + i * sizeof(U), sizeof(U));
        v = U(U(v >> shift) & mask);
        if (is_signed && (v & sign))
            v = U(v | U(~mask));
        std::memcpy(data + i * sizeof(U), &v, sizeof(U));
    }
}

// Planar (RRR..GGG..BBB per frame) to interleaved (RGBRGB...).
void interleave(std::vector<std::uint8_t>& pixels, const Geometry& g) {
    const std::size_t plane = std::size_t{g.rows} * g.columns * g.sample_bytes();
    const std::size_t frame = plane * g.samples_per_pixel;
    const std::size_t width = g.sample_bytes();
    std::vector<std::uint8_t> out(pixels.size());
    for (std::size_t f = 0; f < g.frames; ++f) {
        const std::uint8_t* src = pixels.data() + f * frame;
        std::uint8_t* dst = out.data() + f * frame;
        for (std::size_t p = 0; p < std::size_t{g.rows} * g.columns; ++p) {
            for (std::size_t s = 0; s < g.samples_per_pixel; ++s) {
                std::memcpy(dst + (p * g.samples_per_pixel + s) * width,
                            src + s * plane + p * width, width);
            }
        }
    }
    pixels.swap(out);
}

// Bits Allocated 1 (segmentations, overlays as pixel data): bits are packed little-endian across
// the whole pixel data; expand them to one byte (0 or 1) per sample.
std::vector<std::uint8_t> unpack_bits(std::span<const std::uint8_t> packed, std::size_t count) {
    std::vector<std::uint8_t> out(count);
    for (std::size_t i = 0; i < count; ++i) {
        out[i] = (packed[i / 8] >> (i % 8)) & 1u;
    }
    return out;
}

// Codec-internal colour transforms that a lossless decoder undoes: the decoded samples are RGB.
// YBR_FULL_422 is expanded to full resolution by GDCM's decoders, so it is YBR_FULL once decoded.
std::string normalise_photometric(std::string pi, std::uint16_t samples) {
    while (!pi.empty() && (pi.back() == ' ' || pi.back() == '\0'))
        pi.pop_back();
    if (pi == "YBR_RCT" || pi == "YBR_ICT")
        return "RGB";
    if (pi == "YBR_FULL_422" && samples == 3)
        return "YBR_FULL";
    if (pi.empty())
        return samples == 1 ? "MONOCHROME2" : "RGB";
    return pi;
}

// Every public element whose VR in the file contradicts the data dictionary, or whose binary
// value is not a whole number of values, at any depth. GDCM's gdcm::Attribute (used by its image
// reader for Rows, Pixel Spacing, Rescale Slope, the functional groups, ...) assert()s on both.
std::optional<std::string> check_vrs(const gdcm::DataSet& ds, int depth) {
    if (depth > 64)  // the gate refuses deeper nesting first (dicom_gate.cpp)
        return std::string("sequences nested too deep");
    const gdcm::Dicts& dicts = gdcm::Global::GetInstance().GetDicts();
    for (const gdcm::DataElement& de : ds.GetDES()) {
        const gdcm::Tag& tag = de.GetTag();
        if (tag.IsPrivate() || tag.IsGroupLength())
            continue;
        const gdcm::VR vr = de.GetVR();
        const gdcm::VR expected = dicts.GetDictEntry(tag).GetVR();
        char where[16];
        std::snprintf(where, sizeof where, "(%04X,%04X)", static_cast<unsigned>(tag.GetGroup()),
                      static_cast<unsigned>(tag.GetElement()));
        if (vr != gdcm::VR::INVALID && vr != gdcm::VR::UN && expected != gdcm::VR::INVALID &&
            expected != gdcm::VR::UN && !expected.Compatible(vr)) {
            return std::string("element ") + where + " has VR " + gdcm::VR::GetVRString(vr) +
                   ", the standard says " + gdcm::VR::GetVRString(expected);
        }
        const gdcm::VR effective = vr == gdcm::VR::INVALID || vr == gdcm::VR::UN ? expected : vr;
        std::size_t width = 0;
        if (effective == gdcm::VR::US || effective == gdcm::VR::SS)
            width = 2;
        if (effective == gdcm::VR::UL || effective == gdcm::VR::SL || effective == gdcm::VR::FL ||
            effective == gdcm::VR::AT) {
            width = 4;
        }
        if (effective == gdcm::VR::FD)
            width = 8;
        if (const gdcm::ByteValue* bv = de.GetByteValue();
            bv != nullptr && width != 0 && bv->GetLength() % width != 0) {
            return std::string("element ") + where + " holds a partial binary value";
        }
        if (effective == gdcm::VR::SQ) {
            gdcm::SmartPointer<gdcm::SequenceOfItems> sq = de.GetValueAsSQ();
            if (!sq)
                continue;
            for (gdcm::SequenceOfItems::SizeType i = 1; i <= sq->GetNumberOfItems(); ++i) {
                if (auto problem = check_vrs(sq->GetItem(i).GetNestedDataSet(), depth + 1)) {
                    return problem;
                }
            }
        }
    }
    return std::nullopt;
}

std::string tag_text(std::uint16_t element) {
    char text[16];
    std::snprintf(text, sizeof text, "(0028,%04X)", static_cast<unsigned>(element));
    return text;
}

// The Image Pixel module attributes GDCM's image reader reads through gdcm::Attribute (which
// asserts on a missing or ill-sized element): present, a plain value, the right size, sane
// values (GDCM silently "fixes" some inconsistent ones, which would change what we hash).
// The single 16-bit value of (0028,element), or nullopt when it is missing or not one value.
// (GDCM byte-swaps binary values of big-endian data sets on reading: they are native here.)
std::optional<std::uint16_t> image_us(const gdcm::DataSet& ds, std::uint16_t element) {
    const gdcm::Tag tag(0x0028, element);
    if (!ds.FindDataElement(tag))
        return std::nullopt;
    const gdcm::ByteValue* bv = ds.GetDataElement(tag).GetByteValue();
    if (bv == nullptr || bv->GetLength() != 2 || bv->GetPointer() == nullptr)
        return std::nullopt;
    const auto* p = reinterpret_cast<const std::uint8_t*>(bv->GetPointer());
    return std::uint16_t(p[1] << 8 | p[0]);
}

// Returns the problem, or nullopt when the data set is safe to hand to gdcm::ImageReader.
std::optional<Error> check_image_attributes(const gdcm::DataSet& ds, std::string_view name,
                                            const DecodeLimits& limits) {
    struct Required {
        std::uint16_t element;
        const char* what;
    };
    static constexpr Required kUs[] = {
        {0x0002, "Samples per Pixel"},   {0x0010, "Rows"},        {0x0011, "Columns"},
        {0x0100, "Bits Allocated"},      {0x0101, "Bits Stored"}, {0x0102, "High Bit"},
        {0x0103, "Pixel Representation"}};
    // Without Pixel Data GDCM's image reader still interprets the image attributes (and may
    // assert on them): refuse before it runs.
    if (!ds.FindDataElement(gdcm::Tag(0x7fe0, 0x0010))) {
        return fail(ErrorCode::kUnsupported, name, "no Pixel Data (not an image object)");
    }
    std::uint16_t values[std::size(kUs)] = {};
    for (std::size_t i = 0; i < std::size(kUs); ++i) {
        const gdcm::Tag tag(0x0028, kUs[i].element);
        if (!ds.FindDataElement(tag)) {
            return fail(ErrorCode::kCorrupt, name,
                        std::string("missing ") + kUs[i].what + " " + tag_text(kUs[i].element));
        }
        const auto value = image_us(ds, kUs[i].element);
        if (!value) {
            return fail(ErrorCode::kCorrupt, name,
                        std::string(kUs[i].what) + " " + tag_text(kUs[i].element) +
                            " is not a single 16-bit value");
        }
        values[i] = *value;
    }
    const unsigned samples = values[0];
    const unsigned allocated = values[3];
    const unsigned stored = values[4];
    const unsigned high = values[5];
    const unsigned representation = values[6];
    if (samples != 1 && samples != 3) {
        return fail(ErrorCode::kUnsupported, name,
                    "Samples per Pixel " + std::to_string(samples) + " (only 1 or 3)");
    }
    if (allocated != 1 && allocated != 8 && allocated != 16 && allocated != 32) {
        return fail(ErrorCode::kUnsupported, name,
                    "Bits Allocated " + std::to_string(allocated) + " (only 1, 8, 16, 32)");
    }
    if (stored == 0 || stored > allocated || high >= allocated || high + 1 < stored ||
        representation > 1) {
        return fail(ErrorCode::kCorrupt, name,
                    "inconsistent pixel format (Bits Allocated " + std::to_string(allocated) +
                        ", Bits Stored " + std::to_string(stored) + ", High Bit " +
                        std::to_string(high) + ", Pixel Representation " +
                        std::to_string(representation) + ")");
    }
    if (ds.FindDataElement(gdcm::Tag(0x0028, 0x0006))) {
        const gdcm::ByteValue* bv = ds.GetDataElement(gdcm::Tag(0x0028, 0x0006)).GetByteValue();
        const auto* p =
            bv == nullptr ? nullptr : reinterpret_cast<const std::uint8_t*>(bv->GetPointer());
        if (p == nullptr || bv->GetLength() != 2 || p[1] != 0 || p[0] > 1) {
            return fail(ErrorCode::kCorrupt, name,
                        "Planar Configuration (0028,0006) is not 0 or 1");
        }
    }
    // GDCM derives the sample count its codecs expect from the photometric interpretation
    // (and assert()s when a JPEG 2000 stream disagrees), so the two must agree here.
    const std::string photometric = dataset_string(ds, 0x0028, 0x0004);
    static constexpr const char* kMono[] = {"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"};
    static constexpr const char* kColour[] = {
        "RGB",     "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420",
        "YBR_ICT", "YBR_RCT"};
    auto among = [&](const auto& list) {
        return std::any_of(std::begin(list), std::end(list),
                           [&](const char* p) { return photometric == p; });
    };
    if (photometric.empty()) {
        return fail(ErrorCode::kCorrupt, name, "missing Photometric Interpretation (0028,0004)");
    }
    if (!(samples == 1 ? among(kMono) : among(kColour))) {
        return fail(ErrorCode::kCorrupt, name,
                    "Photometric Interpretation \"" + photometric + "\" does not fit " +
                        std::to_string(samples) + " sample(s) per pixel");
    }
    if (ds.FindDataElement(gdcm::Tag(0x0028, 0x0008))) {
        const std::string frames = dataset_string(ds, 0x0028, 0x0008);
        const bool digits =
            !frames.empty() && frames.size() <= 12 &&
            std::all_of(frames.begin(), frames.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits) {
            return fail(ErrorCode::kCorrupt, name,
                        "Number of Frames (0028,0008) is not a positive integer");
        }
    } else if (ds.FindDataElement(gdcm::Tag(0x0028, 0x0009))) {
        return fail(ErrorCode::kCorrupt, name,
                    "Frame Increment Pointer (0028,0009) without Number of Frames (0028,0008)");
    }
    // The size bound, from the header alone: gdcm::ImageReader may decode compressed frames
    // while reading (to decide whether they are lossy), so this must come before it does.
    const std::string frames_text = dataset_string(ds, 0x0028, 0x0008);
    const std::size_t frames = frames_text.empty() ? 1 : std::stoull(frames_text);
    if (frames > limits.max_frames) {
        return fail(ErrorCode::kTooLarge, name,
                    "header claims " + frames_text + " frames, over the limit of " +
                        std::to_string(limits.max_frames));
    }
    const std::size_t claimed =
        mul_sat(mul_sat(mul_sat(mul_sat(values[1], values[2]), frames), samples),
                allocated == 1 ? 1 : allocated / 8);
    if (claimed > limits.max_pixel_bytes) {
        return fail(ErrorCode::kTooLarge, name,
                    "header claims " + std::to_string(values[2]) + "x" + std::to_string(values[1]) +
                        "x" + std::to_string(frames) + " pixels x " + std::to_string(samples) +
                        " samples x " + std::to_string(allocated) +
                        " bits, over the decoded size limit of " +
                        std::to_string(limits.max_pixel_bytes) + " bytes");
    }
    return std::nullopt;
}

// The first value of a multi-valued Decimal String ("40\\400" gives 40), or nothing when it is
// absent or not a finite number.
std::optional<double> first_decimal(const std::string& text) {
    std::string first = text.substr(0, text.find('\\'));
    while (!first.empty() && first.back() == ' ')
        first.pop_back();
    std::size_t start = first.find_first_not_of(' ');
    if (start == std::string::npos)
        return std::nullopt;
    if (first[start] == '+')
        ++start;
    double value = 0.0;
    const char* end = first.data() + first.size();
    const auto [ptr, ec] = std::from_chars(first.data() + start, end, value);
    if (ec != std::errc() || ptr != end || !std::isfinite(value))
        return std::nullopt;
    return value;
}

}  // namespace

void quiet_gdcm() {
    static const bool done = [] {
        gdcm::Trace::SetDebug(false);
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetError(false);
        return true;
    }();
    (void)done;
}

std::string dataset_string(const gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element) {
    const gdcm::Tag tag(group, element);
    if (!ds.FindDataElement(tag))
        return {};
    const gdcm::ByteValue* bv = ds.GetDataElement(tag).GetByteValue();
    if (bv == nullptr || bv->GetPointer() == nullptr)
        return {};
    std::string s(bv->GetPointer(), bv->GetLength());
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0'))
        s.pop_back();
    while (!s.empty() && s.front() == ' ')
        s.erase(s.begin());
    return s;
}

Result<Image> decode_dicom(std::span<const std::uint8_t> untrusted, std::string_view name,
                           const DecodeLimits& limits) {
    return decode_dicom(untrusted, name, limits, nullptr);
}

Result<Image> decode_dicom(std::span<const std::uint8_t> untrusted, std::string_view name,
                           const DecodeLimits& limits, std::shared_ptr<gdcm::File>* parsed) {
    quiet_gdcm();
    if (untrusted.size() > limits.max_file_bytes) {
        return fail(ErrorCode::kTooLarge, name, "file over the size limit");
    }
    auto normalised =
        normalise_dicom(untrusted, name, GateMode::kDecodePixels, limits.max_pixel_bytes);
    if (!normalised)
        return normalised.error();
    return decode_gated(*normalised, name, limits, parsed);
}

Result<Image> decode_gated(GatedDicom& gated, std::string_view name, const DecodeLimits& limits,
                           std::shared_ptr<gdcm::File>* parsed) {
    quiet_gdcm();
    const std::span<const std::uint8_t> bytes(gated.bytes);

    // Second pass (GDCM, header only, stops before Pixel Data): check what GDCM's image reader
    // relies on. Debian's GDCM is built with assertions, and some malformed image attributes
    // (a VR that contradicts the dictionary, a missing Number of Frames beside a Frame Increment
    // Pointer, a Rows element of the wrong length) trip an assert() inside it; we refuse those
    // here, as values, with the size bound, before the image reader sees them.
    {
        SpanStream header_stream(bytes);
        gdcm::Reader header;
        header.SetStream(header_stream);
        const bool parsed = header.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010));
        if (!parsed) {
            return fail(ErrorCode::kCorrupt, name,
                        "cannot parse the DICOM data set (truncated or malformed)");
        }
        if (auto problem = check_vrs(header.GetFile().GetDataSet(), 0)) {
            return fail(ErrorCode::kCorrupt, name, *problem);
        }
        if (auto problem = check_image_attributes(header.GetFile().GetDataSet(), name, limits)) {
            return *problem;
        }
    }

    SpanStream stream(bytes);
    const auto image_reader = std::make_shared<gdcm::ImageReader>();
    gdcm::ImageReader& reader = *image_reader;
    reader.SetStream(stream);
    if (!reader.Read()) {
        SpanStream again(bytes);
        gdcm::Reader plain;
        plain.SetStream(again);
        if (plain.Read() &&
            !plain.GetFile().GetDataSet().FindDataElement(gdcm::Tag(0x7fe0, 0x0010))) {
            return fail(ErrorCode::kUnsupported, name, "no Pixel Data (not an image object)");
        }
        return fail(ErrorCode::kCorrupt, name,
                    "cannot parse the DICOM data set (truncated or malformed)");
    }

    // GDCM holds its own copy of every element now: the normalised bytes can go (on a large
    // image, one copy of its pixels less at the peak).
    std::vector<std::uint8_t>().swap(gated.bytes);

    const gdcm::File& file = reader.GetFile();
    const gdcm::DataSet& ds = file.GetDataSet();
    const gdcm::Image& img = reader.GetImage();
    const gdcm::TransferSyntax ts = img.GetTransferSyntax();
    if (is_video_syntax(ts) || ts == gdcm::TransferSyntax::TS_END) {
        return fail(ErrorCode::kUnsupported, name,
                    std::string("unsupported transfer syntax ") +
                        dataset_string(file.GetHeader(), 0x0002, 0x0010));
    }

    const gdcm::PixelFormat& pf = img.GetPixelFormat();
    const unsigned* dims = img.GetDimensions();
    Image out;
    Geometry& g = out.geometry;
    ImageInfo& info = out.info;
    info.format = SourceFormat::kDicom;
    info.transfer_syntax_uid = gated.transfer_syntax_uid;
    if (gdcm::UIDs names; names.SetFromUID(info.transfer_syntax_uid.c_str()) && names.GetName()) {
        info.transfer_syntax_name = names.GetName();
    }

    const unsigned ndims = img.GetNumberOfDimensions();
    const std::size_t rows = dims[1];
    const std::size_t columns = dims[0];
    const std::size_t frames = ndims >= 3 ? dims[2] : 1;
    const std::size_t samples = pf.GetSamplesPerPixel();
    const unsigned bits_allocated = pf.GetBitsAllocated();
    const unsigned bits_stored = pf.GetBitsStored();
    // The file's High Bit: GDCM's pixel format reports Bits Stored - 1 whatever the file says,
    // and the stored bits of a sample end at High Bit (PS3.5 8.1.1; docs/image-hash.md).
    const unsigned high_bit = image_us(ds, 0x0102).value_or(pf.GetHighBit());
    const unsigned representation = pf.GetPixelRepresentation();

    if (rows == 0 || columns == 0 || frames == 0) {
        return fail(ErrorCode::kCorrupt, name, "image has zero rows, columns or frames");
    }
    if (rows > 65535 || columns > 65535) {
        return fail(ErrorCode::kCorrupt, name, "rows or columns over 65535");
    }
    if (frames > limits.max_frames) {
        return fail(ErrorCode::kTooLarge, name,
                    "header claims " + std::to_string(frames) + " frames, over the limit of " +
                        std::to_string(limits.max_frames));
    }
    if (samples != 1 && samples != 3) {
        return fail(ErrorCode::kUnsupported, name,
                    "Samples per Pixel " + std::to_string(samples) + " (only 1 or 3)");
    }
    if (bits_allocated != 1 && bits_allocated != 8 && bits_allocated != 16 &&
        bits_allocated != 32) {
        return fail(ErrorCode::kUnsupported, name,
                    "Bits Allocated " + std::to_string(bits_allocated) + " (only 1, 8, 16, 32)");
    }
    if (bits_stored == 0 || bits_stored > bits_allocated || high_bit >= bits_allocated ||
        high_bit + 1 < bits_stored || representation > 1) {
        return fail(ErrorCode::kCorrupt, name,
                    "inconsistent pixel format (Bits Allocated " + std::to_string(bits_allocated) +
                        ", Bits Stored " + std::to_string(bits_stored) + ", High Bit " +
                        std::to_string(high_bit) + ", Pixel Representation " +
                        std::to_string(representation) + ")");
    }

    // The decoded size, computed with saturation and checked against the limit before GDCM is
    // asked to allocate or decode anything.
    const std::size_t sample_count = mul_sat(mul_sat(mul_sat(rows, columns), frames), samples);
    const std::size_t decoded_bytes = bits_allocated == 1
                                          ? (sample_count / 8 + (sample_count % 8 ? 1 : 0))
                                          : mul_sat(sample_count, bits_allocated / 8);
    const std::size_t canonical_bytes = bits_allocated == 1 ? sample_count : decoded_bytes;
    if (decoded_bytes > limits.max_pixel_bytes || canonical_bytes > limits.max_pixel_bytes) {
        return fail(ErrorCode::kTooLarge, name,
                    "header claims " + std::to_string(columns) + "x" + std::to_string(rows) + "x" +
                        std::to_string(frames) + " pixels x " + std::to_string(samples) +
                        " samples x " + std::to_string(bits_allocated) +
                        " bits, over the decoded size limit of " +
                        std::to_string(limits.max_pixel_bytes) + " bytes");
    }
    if (img.GetBufferLength() != decoded_bytes) {
        return fail(ErrorCode::kUnsupported, name, "pixel layout not understood");
    }

    // Native (uncompressed) pixel data must hold what the header describes. 4:2:2 chroma
    // subsampling stores two samples per pixel, not three (GDCM expands them when decoding).
    const std::string pi_in_file = dataset_string(ds, 0x0028, 0x0004);
    const bool subsampled = pi_in_file == "YBR_FULL_422" || pi_in_file == "YBR_PARTIAL_422";
    const std::size_t native_bytes = subsampled ? decoded_bytes / 3 * 2 : decoded_bytes;
    const gdcm::DataElement& pixel_data = ds.GetDataElement(gdcm::Tag(0x7fe0, 0x0010));
    if (const gdcm::ByteValue* bv = pixel_data.GetByteValue(); bv != nullptr) {
        if (bv->GetLength() < native_bytes) {
            return fail(ErrorCode::kCorrupt, name,
                        "pixel data holds " + std::to_string(bv->GetLength()) +
                            " bytes, the header describes " + std::to_string(native_bytes));
        }
    } else if (pixel_data.GetSequenceOfFragments() == nullptr) {
        return fail(ErrorCode::kCorrupt, name, "pixel data is empty");
    }

    // Native little-endian pixels (what the gate hands over for every syntax DCMTK decodes), grey
    // or colour with one sample per component (RGB, YBR_FULL: the raw codec transforms neither),
    // are taken from the element as they are: normalise_samples below does what GDCM's raw codec
    // would (its overlay clean-up keeps the stored bits; the shift and sign come from the same
    // header), without the codec's two stream copies of the whole image, and without its
    // assert()s on 8- and 32-bit words holding fewer stored bits.
    std::vector<std::uint8_t> buffer(decoded_bytes);
    const gdcm::ByteValue* native = pixel_data.GetByteValue();
    const bool little_endian_native = ts == gdcm::TransferSyntax::ImplicitVRLittleEndian ||
                                      ts == gdcm::TransferSyntax::ExplicitVRLittleEndian;
    const bool one_sample_per_component =
        samples == 1 || pi_in_file == "RGB" || pi_in_file == "YBR_FULL";
    const bool copied_as_stored = native != nullptr && little_endian_native &&
                                  one_sample_per_component && bits_allocated >= 8 &&
                                  native->GetLength() >= decoded_bytes;
    if (copied_as_stored) {
        std::memcpy(buffer.data(), native->GetPointer(), decoded_bytes);
    } else if (native != nullptr && (bits_allocated == 8 || bits_allocated == 32) &&
               bits_stored < bits_allocated) {
        // What is left for the raw codec (big-endian or chroma-subsampled native data) would
        // abort the process inside GDCM with these words.
        return fail(ErrorCode::kUnsupported, name,
                    "Bits Stored " + std::to_string(bits_stored) + " in " +
                        std::to_string(bits_allocated) + "-bit words, " + pi_in_file + ", " +
                        info.transfer_syntax_name + ": not decoded by this build");
    } else if (!img.GetBuffer(reinterpret_cast<char*>(buffer.data()))) {
        return fail(ErrorCode::kCorrupt, name,
                    "cannot decode pixel data (" + info.transfer_syntax_name + ")");
    }

    g.rows = static_cast<std::uint32_t>(rows);
    g.columns = static_cast<std::uint32_t>(columns);
    g.frames = static_cast<std::uint32_t>(frames);
    g.samples_per_pixel = static_cast<std::uint16_t>(samples);
    g.bits_allocated = static_cast<std::uint16_t>(bits_allocated);
    g.bits_stored = static_cast<std::uint16_t>(bits_stored);
    g.pixel_representation = static_cast<std::uint16_t>(representation);

    info.high_bit = static_cast<std::uint16_t>(high_bit);
    info.photometric_in_file = dataset_string(ds, 0x0028, 0x0004);
    info.planar_configuration_in_file = static_cast<std::uint16_t>(img.GetPlanarConfiguration());
    g.photometric = normalise_photometric(
        gdcm::PhotometricInterpretation::GetPIString(img.GetPhotometricInterpretation()) != nullptr
            ? gdcm::PhotometricInterpretation::GetPIString(img.GetPhotometricInterpretation())
            : info.photometric_in_file,
        g.samples_per_pixel);

    static_assert(std::endian::native == std::endian::little,
                  "the canonical form is little-endian; add a byte swap for big-endian hosts");
    // Samples copied as stored sit at the file's High Bit; GDCM's codec output already has the
    // stored bits at the bottom (it works from High Bit = Bits Stored - 1).
    const unsigned shift = copied_as_stored ? high_bit + 1 - bits_stored : 0;
    const bool is_signed = representation == 1;
    if (bits_allocated == 1) {
        out.pixels = unpack_bits(buffer, sample_count);
    } else {
        out.pixels = std::move(buffer);
        if (bits_allocated == 8) {
            normalise_samples<std::uint8_t>(out.pixels.data(), sample_count, bits_stored, shift,
                                            is_signed);
        } else if (bits_allocated == 16) {
            normalise_samples<std::uint16_t>(out.pixels.data(), sample_count, bits_stored, shift,
                                             is_signed);
        } else {
            normalise_samples<std::uint32_t>(out.pixels.data(), sample_count, bits_stored, shift,
                                             is_signed);
        }
    }
    if (samples > 1 && img.GetPlanarConfiguration() == 1) {
        interleave(out.pixels, g);
    }

    info.modality = dataset_string(ds, 0x0008, 0x0060);
    info.sop_class_uid = dataset_string(ds, 0x0008, 0x0016);
    info.warnings = std::move(gated.warnings);
    const std::string burned_in = dataset_string(ds, 0x0028, 0x0301);
    const BurnedInReading reading = read_burned_in(burned_in);
    info.burned_in_annotation = reading.value == BurnedIn::kYes  ? "YES"
                                : reading.value == BurnedIn::kNo ? "NO"
                                                                 : "";
    if (!reading.standard) {
        info.warnings.push_back({WarningKind::kBurnedInValue,
                                 "Burned In Annotation (0028,0301) is \"" +
                                     escape_for_display(burned_in) + "\", not YES or NO: read as " +
                                     info.burned_in_annotation});
    }
    info.rescale_type = dataset_string(ds, 0x0028, 0x1054);
    info.has_rescale = ds.FindDataElement(gdcm::Tag(0x0028, 0x1053)) ||
                       ds.FindDataElement(gdcm::Tag(0x0028, 0x1052)) || img.GetSlope() != 1.0 ||
                       img.GetIntercept() != 0.0;
    info.rescale_slope = img.GetSlope();
    info.rescale_intercept = img.GetIntercept();
    const auto center = first_decimal(dataset_string(ds, 0x0028, 0x1050));
    const auto width = first_decimal(dataset_string(ds, 0x0028, 0x1051));
    if (center && width && *width > 0.0) {
        info.has_window = true;
        info.window_center = *center;
        info.window_width = *width;
    }
    const std::string lossy = dataset_string(ds, 0x0028, 0x2110);
    const std::string& uid = gated.transfer_syntax_uid;
    info.lossy_source = lossy == "01" || uid == "1.2.840.10008.1.2.4.50" ||
                        uid == "1.2.840.10008.1.2.4.51" || uid == "1.2.840.10008.1.2.4.81";
    if (parsed !=
        nullptr)  // the reader (and with it the file) lives as long as the caller holds it
        *parsed = std::shared_ptr<gdcm::File>(image_reader, &reader.GetFile());
    return out;
}

}  // namespace medanchor::image

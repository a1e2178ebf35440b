// The gate every untrusted DICOM byte passes before GDCM sees it. Debian's GDCM is built with
// assertions, and its parser assert()s (aborting the process) on truncated or malformed
// streams; DCMTK's parser reports the same damage as an error. So DCMTK parses the bytes first
// and, when they parse, writes them back out: GDCM then only ever reads a stream DCMTK wrote,
// whose element lengths, items and meta header are consistent by construction. Pixel data is
// carried through unchanged (native samples in the same byte order, or the same fragments).
// This is the only file of the image layer that includes DCMTK.
#include <dcmtk/config/osconfig.h>  // must come first
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "image/dicom_io.h"
#include "image/transfer_syntaxes.h"

namespace medanchor::image {
namespace {

constexpr char kDeflated[] = "1.2.840.10008.1.2.1.99";
constexpr char kBigEndian[] = "1.2.840.10008.1.2.2";
constexpr char kImplicit[] = "1.2.840.10008.1.2";
// The most a deflated data set may inflate to (the same bound as a file read into memory).
constexpr std::size_t kInflateCap = std::size_t{2} << 30;
// The deepest sequence nesting we read: DCMTK's own parsing limit (DCMTK_MAX_SEQUENCE_NESTING,
// 64 since DCMTK added it in 2026 against stack exhaustion; Debian's DCMTK 3.6.7 has none, and
// GDCM none). Real files nest 5-10 levels; deeper is refused before either library recurses.
constexpr int kMaxSequenceNesting = 64;

// Still-image transfer syntaxes GDCM decodes. Video (MPEG, HEVC), JPIP, HTJ2K and JPEG XL are
// not among them.
constexpr const char* kSupported[] = {
    kImplicit,
    "1.2.840.10008.1.2.1",     // explicit VR little endian
    kDeflated,                 // deflated explicit VR little endian
    kBigEndian,                // explicit VR big endian (retired, still met)
    "1.2.840.10008.1.2.4.50",  // JPEG baseline (process 1)
    "1.2.840.10008.1.2.4.51",  // JPEG extended (process 2 & 4)
    "1.2.840.10008.1.2.4.57",  // JPEG lossless (process 14)
    "1.2.840.10008.1.2.4.70",  // JPEG lossless, first-order prediction (process 14 SV1)
    "1.2.840.10008.1.2.4.80",  // JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  // JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90",  // JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  // JPEG 2000
    "1.2.840.10008.1.2.5",     // RLE lossless
};

bool supported(const std::string& uid) {
    return std::any_of(std::begin(kSupported), std::end(kSupported),
                       [&](const char* s) { return uid == s; });
}

struct PixelExtent {
    std::size_t declared;
    std::size_t present;
};

// How many bytes the top-level native Pixel Data value declares and how many the file holds,
// found by walking the (7FE0,0010) element headers in the raw bytes: the top-level one is the
// last in the chain of headers that do not lie inside an earlier pixel data value (icon images
// come before it). nullopt when we cannot tell. Only used to word an error message.
std::optional<PixelExtent> native_pixel_extent(std::span<const std::uint8_t> bytes, bool big,
                                               bool explicit_vr, std::size_t start) {
    auto u16 = [&](std::size_t at) {
        return big ? std::uint16_t(bytes[at] << 8 | bytes[at + 1])
                   : std::uint16_t(bytes[at + 1] << 8 | bytes[at]);
    };
    auto u32 = [&](std::size_t at) {
        return big ? std::uint32_t(u16(at)) << 16 | u16(at + 2)
                   : std::uint32_t(u16(at + 2)) << 16 | u16(at);
    };
    const std::size_t header = explicit_vr ? 12 : 8;
    std::optional<PixelExtent> extent;
    std::size_t at = start;
    while (at + header <= bytes.size()) {
        const bool tag = u16(at) == 0x7fe0 && u16(at + 2) == 0x0010;
        const bool vr_ok = !explicit_vr || (bytes[at + 4] == 'O' &&
                                            (bytes[at + 5] == 'B' || bytes[at + 5] == 'W') &&
                                            bytes[at + 6] == 0 && bytes[at + 7] == 0);
        if (!tag || !vr_ok) {
            ++at;
            continue;
        }
        const std::uint32_t length = u32(at + (explicit_vr ? 8 : 4));
        if (length == 0xFFFFFFFFu)
            return std::nullopt;
        const std::size_t value = at + header;
        extent = PixelExtent{length, std::min<std::size_t>(length, bytes.size() - value)};
        if (length > bytes.size() - value)
            break;
        at = value + length;
    }
    return extent;
}

// What the walk learns about the top-level Pixel Data element.
struct PixelElement {
    bool present = false;
    bool encapsulated = false;  // undefined length: fragments
    char vr[3] = {0, 0, 0};     // as written (explicit VR); empty for implicit VR
};

// A structural walk over the raw element stream, before DCMTK reads it: every declared length
// (elements, sequences, items, fragments) must fit inside its container, sequences nest at most
// kMaxSequenceNesting deep (defined-length sequences included), and undefined lengths must be
// closed by their delimiters. DCMTK allocates an element's declared length before it reads the
// value, so without this a 30-byte file can ask it for 4 GiB; and both DCMTK 3.6.7 and GDCM
// recurse once per nesting level, so without the depth bound a small file can exhaust the stack.
// After this walk no declared length exceeds the bytes actually present.
class StructureWalk {
  public:
    StructureWalk(std::span<const std::uint8_t> bytes, bool explicit_vr, bool big)
        : bytes_(bytes), explicit_(explicit_vr), big_(big) {}

    // Walks [pos, end) as a data set; returns the problem or empty.
    std::string data_set(std::size_t pos, std::size_t end) {
        std::size_t after = 0;
        return elements(pos, end, /*until_item_end=*/false, 0, after);
    }

    const PixelElement& pixel_data() const { return pixel_; }

  private:
    std::uint16_t u16(std::size_t at) const {
        return big_ ? std::uint16_t(bytes_[at] << 8 | bytes_[at + 1])
                    : std::uint16_t(bytes_[at + 1] << 8 | bytes_[at]);
    }
    std::uint32_t u32(std::size_t at) const {
        return big_ ? std::uint32_t(u16(at)) << 16 | u16(at + 2)
                    : std::uint32_t(u16(at + 2)) << 16 | u16(at);
    }
    static bool long_vr(char a, char b) {
        static constexpr const char* kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                                "SV", "UC", "UN", "UR", "UT", "UV"};
        return std::any_of(std::begin(kLong), std::end(kLong),
                           [&](const char* v) { return v[0] == a && v[1] == b; });
    }
    // In implicit VR the dictionary says which elements are sequences (as DCMTK reads them).
    static bool dictionary_sequence(std::uint16_t group, std::uint16_t element) {
        return DcmTag(group, element).getEVR() == EVR_SQ;
    }

    // Elements until `end`, or (until_item_end) until an Item Delimitation (FFFE,E00D).
    // `depth` is the number of sequences around them.
    std::string elements(std::size_t pos, std::size_t end, bool until_item_end, int depth,
                         std::size_t& after) {
        while (pos < end) {
            if (end - pos < 8)
                return "element header runs past the end of its container";
            const std::uint16_t group = u16(pos);
            const std::uint16_t element = u16(pos + 2);
            if (group == 0xFFFE) {
                if (until_item_end && element == 0xE00D) {
                    after = pos + 8;
                    return {};
                }
                return "item tag outside a sequence";
            }
            std::uint32_t length;
            std::size_t value;
            bool maybe_sequence;
            bool defined_sequence;
            bool vr_un = false;
            if (explicit_) {
                const char a = static_cast<char>(bytes_[pos + 4]);
                const char b = static_cast<char>(bytes_[pos + 5]);
                if (long_vr(a, b)) {
                    if (end - pos < 12)
                        return "element header runs past the end of its container";
                    length = u32(pos + 8);
                    value = pos + 12;
                } else {
                    length = u16(pos + 6);
                    value = pos + 8;
                }
                maybe_sequence = (a == 'S' && b == 'Q') || (a == 'U' && b == 'N');
                defined_sequence = a == 'S' && b == 'Q';
                vr_un = a == 'U' && b == 'N';
            } else {
                length = u32(pos + 4);
                value = pos + 8;
                maybe_sequence = true;
                defined_sequence = dictionary_sequence(group, element);
            }
            const bool pixel_data = group == 0x7FE0 && element == 0x0010;
            if (pixel_data && depth == 0) {
                pixel_.present = true;
                pixel_.encapsulated = length == 0xFFFFFFFFu;
                if (explicit_) {
                    pixel_.vr[0] = static_cast<char>(bytes_[pos + 4]);
                    pixel_.vr[1] = static_cast<char>(bytes_[pos + 5]);
                }
            }
            if (length == 0xFFFFFFFFu) {
                if (!maybe_sequence && !pixel_data)
                    return "undefined length on a non-sequence";
                // UN with undefined length is implicit VR little endian inside (PS3.5 6.2.2).
                StructureWalk inner = vr_un ? StructureWalk(bytes_, false, false) : *this;
                auto problem =
                    inner.items(value, end, /*defined_end=*/false, pixel_data, depth + 1, pos);
                if (!problem.empty())
                    return problem;
                continue;
            }
            if (length > end - value) {
                return "element (" + hex4(group) + "," + hex4(element) + ") declares " +
                       std::to_string(length) + " bytes, only " + std::to_string(end - value) +
                       " remain";
            }
            if (defined_sequence && !pixel_data && length > 0) {
                std::size_t inner_after = 0;
                auto problem = items(value, value + length, /*defined_end=*/true, false, depth + 1,
                                     inner_after);
                if (!problem.empty())
                    return problem;
            }
            pos = value + length;
        }
        if (until_item_end)
            return "item without its delimiter";
        after = pos;
        return {};
    }

    // Items of a sequence (or encapsulated pixel data: fragments) at nesting level `depth`: up to
    // `end` for a defined-length sequence, else until the Sequence Delimitation (FFFE,E0DD).
    // Sets `after` past the sequence.
    std::string items(std::size_t pos, std::size_t end, bool defined_end, bool fragments, int depth,
                      std::size_t& after) {
        if (depth > kMaxSequenceNesting) {
            return "sequences nested deeper than " + std::to_string(kMaxSequenceNesting) +
                   " levels";
        }
        while (true) {
            if (defined_end && pos == end) {
                after = pos;
                return {};
            }
            if (end - pos < 8)
                return defined_end ? "item header runs past the end of its sequence"
                                   : "sequence without its delimiter";
            if (u16(pos) != 0xFFFE)
                return "sequence holds something other than items";
            const std::uint16_t element = u16(pos + 2);
            const std::uint32_t length = u32(pos + 4);
            pos += 8;
            if (element == 0xE0DD && !defined_end) {
                after = pos;
                return {};
            }
            if (element != 0xE000)
                return "unexpected delimiter in a sequence";
            if (length == 0xFFFFFFFFu) {
                if (fragments)
                    return "pixel data fragment of undefined length";
                auto problem = elements(pos, end, true, depth, pos);
                if (!problem.empty())
                    return problem;
                continue;
            }
            if (length > end - pos)
                return "item runs past the end of its container";
            if (!fragments) {
                std::size_t inner_after = 0;
                auto problem = elements(pos, pos + length, false, depth, inner_after);
                if (!problem.empty())
                    return problem;
            }
            pos += length;
        }
    }

    static std::string hex4(std::uint16_t v) {
        char text[8];
        std::snprintf(text, sizeof text, "%04X", static_cast<unsigned>(v));
        return text;
    }

    std::span<const std::uint8_t> bytes_;
    bool explicit_;
    bool big_;
    PixelElement pixel_;
};

// Inflates a deflated data set (raw deflate, PS3.5 A.5), refusing output over `cap` bytes.
std::optional<std::vector<std::uint8_t>> inflate_bounded(std::span<const std::uint8_t> in,
                                                         std::size_t cap) {
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
        return std::nullopt;
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> chunk(1 << 16);
    z.next_in = const_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        z.next_out = chunk.data();
        z.avail_out = static_cast<uInt>(chunk.size());
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
        out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - z.avail_out));
        if (out.size() > cap || (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0))
            break;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || out.size() > cap)
        return std::nullopt;
    return out;
}

// How the bytes are framed and encoded, as the walk found them.
struct Layout {
    std::string ts;            // Transfer Syntax UID: from the file meta, or detected
    bool preamble = true;      // the 128-byte preamble and "DICM" are there
    bool meta = true;          // the file meta information group is there
    std::size_t data_set = 0;  // where the data set starts (raw bytes; deflated: inflated bytes)
    PixelElement pixel_data;   // the top-level Pixel Data element
};

// DCMTK's own guess at the transfer syntax of a data set without file meta information
// (DcmItem::checkTransferSyntax: is the first tag known in either byte order, are the next two
// bytes a VR), reached through a subclass because it is protected. The same guess DCMTK makes
// when it reads the file below, so the walk and the parse agree.
class SyntaxProbe : public DcmDataset {
  public:
    E_TransferSyntax detect(std::span<const std::uint8_t> bytes) {
        DcmInputBufferStream in;
        in.setBuffer(bytes.data(),
                     static_cast<offile_off_t>(std::min<std::size_t>(bytes.size(), 6)));
        in.setEos();
        return checkTransferSyntax(in);
    }
};

// The walk over a whole file: the meta group (explicit VR little endian) when there is one,
// then the data set in the transfer syntax the meta names (or, without meta, the one DCMTK
// detects). Returns the problem or empty.
std::string check_structure(std::span<const std::uint8_t> bytes, std::size_t inflate_cap,
                            Layout& layout) {
    std::string& ts = layout.ts;
    std::size_t pos = 132;
    if (bytes.size() < 132 || std::memcmp(bytes.data() + 128, "DICM", 4) != 0) {
        layout.preamble = false;
        pos = 0;
        if (bytes.size() < 8)
            return "too short for a DICOM data set";
        if ((bytes[0] | bytes[1] << 8) != 0x0002) {
            layout.meta = false;
            switch (SyntaxProbe().detect(bytes)) {
                case EXS_LittleEndianImplicit:
                    ts = kImplicit;
                    break;
                case EXS_LittleEndianExplicit:
                    ts = "1.2.840.10008.1.2.1";
                    break;
                case EXS_BigEndianExplicit:
                    ts = kBigEndian;
                    break;
                default:
                    return "not a DICOM data set (no 'DICM' magic at offset 128, and the first "
                           "bytes are no element in any transfer syntax)";
            }
            layout.data_set = 0;
            layout.pixel_data = {};
            StructureWalk walk(bytes, ts != kImplicit, ts == kBigEndian);
            auto problem = walk.data_set(0, bytes.size());
            layout.pixel_data = walk.pixel_data();
            return problem;
        }
    }
    while (pos + 8 <= bytes.size() && (bytes[pos] | bytes[pos + 1] << 8) == 0x0002) {
        const std::uint16_t element = std::uint16_t(bytes[pos + 2] | bytes[pos + 3] << 8);
        const bool long_form =
            pos + 12 <= bytes.size() && ((bytes[pos + 4] == 'O' && bytes[pos + 5] == 'B') ||
                                         (bytes[pos + 4] == 'U' && bytes[pos + 5] == 'N'));
        const std::size_t header = long_form ? 12 : 8;
        if (pos + header > bytes.size())
            return "file meta information is truncated";
        const std::size_t length =
            long_form ? std::size_t(bytes[pos + 8] | bytes[pos + 9] << 8 | bytes[pos + 10] << 16 |
                                    std::size_t(bytes[pos + 11]) << 24)
                      : std::size_t(bytes[pos + 6] | bytes[pos + 7] << 8);
        if (length > bytes.size() - pos - header)
            return "file meta information is truncated";
        if (element == 0x0010) {
            ts.assign(reinterpret_cast<const char*>(bytes.data() + pos + header), length);
            while (!ts.empty() && (ts.back() == '\0' || ts.back() == ' '))
                ts.pop_back();
        }
        pos += header + length;
    }
    if (ts.empty())
        return "no Transfer Syntax UID (0002,0010) in the file meta information";
    if (!supported(ts))
        return {};  // refused by the caller, by name
    layout.data_set = pos;
    if (ts == kDeflated) {
        auto inflated = inflate_bounded(bytes.subspan(pos), inflate_cap);
        if (!inflated)
            return "deflated data set does not inflate (or inflates past the limit)";
        StructureWalk walk(*inflated, true, false);
        auto problem = walk.data_set(0, inflated->size());
        layout.pixel_data = walk.pixel_data();
        return problem;
    }
    StructureWalk walk(bytes, ts != kImplicit, ts == kBigEndian);
    auto problem = walk.data_set(pos, bytes.size());
    layout.pixel_data = walk.pixel_data();
    return problem;
}

// RLE, JPEG and JPEG-LS pixel data is decoded here, by DCMTK's codecs: fuzzing found GDCM
// 3.0.21's RLE decoder writing out of bounds on malformed segments, and it also orders the byte
// segments of multi-byte colour RLE wrongly. Only JPEG 2000 (which DCMTK in Debian cannot
// decode) reaches GDCM compressed.
bool decoded_by_dcmtk(const std::string& uid) {
    static constexpr const char* kUids[] = {"1.2.840.10008.1.2.5",    "1.2.840.10008.1.2.4.50",
                                            "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
                                            "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
                                            "1.2.840.10008.1.2.4.81"};
    return std::any_of(std::begin(kUids), std::end(kUids), [&](const char* s) { return uid == s; });
}

// The decoded size the header claims, with saturation; 0 when an attribute is missing.
std::size_t claimed_pixel_bytes(DcmDataset& ds) {
    Uint16 rows = 0, columns = 0, samples = 0, bits = 0;
    Sint32 frames = 1;
    if (ds.findAndGetUint16(DCM_Rows, rows).bad() ||
        ds.findAndGetUint16(DCM_Columns, columns).bad() ||
        ds.findAndGetUint16(DCM_SamplesPerPixel, samples).bad() ||
        ds.findAndGetUint16(DCM_BitsAllocated, bits).bad()) {
        return 0;
    }
    if (ds.findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1)
        frames = 1;
    const long double total = static_cast<long double>(rows) * columns * samples *
                              ((bits + 7) / 8) * static_cast<long double>(frames);
    return total > 1e18L ? std::size_t(-1) : static_cast<std::size_t>(total);
}

// JPEG 2000 frames are decoded by GDCM, whose glue code copies what OpenJPEG returns into a
// buffer sized from the DICOM header without checking the two agree (fuzzing found a heap
// overflow there). So every frame's codestream header (the SIZ marker segment, which fixes the
// image size, component count, precision and subsampling) must match the DICOM header before
// GDCM sees it: a raw codestream (SOC, then SIZ), the same width and height, one component per
// sample, no subsampling, precision within Bits Allocated, one codestream per frame.
constexpr Uint32 kMaxJpeg2000Precision = 31;

std::string check_jpeg2000_frames(DcmDataset& ds, Uint32& unsupported_precision) {
    Uint16 rows = 0, columns = 0, samples = 0, bits = 0;
    Sint32 frames = 1;
    if (ds.findAndGetUint16(DCM_Rows, rows).bad() ||
        ds.findAndGetUint16(DCM_Columns, columns).bad() ||
        ds.findAndGetUint16(DCM_SamplesPerPixel, samples).bad() ||
        ds.findAndGetUint16(DCM_BitsAllocated, bits).bad()) {
        return "missing image attributes";
    }
    if (ds.findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1)
        frames = 1;
    DcmElement* element = nullptr;
    if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
        return {};  // no pixel data: reported later
    }
    DcmPixelSequence* sequence = nullptr;
    auto* pixel_data = static_cast<DcmPixelData*>(element);
    if (pixel_data->getEncapsulatedRepresentation(ds.getOriginalXfer(), nullptr, sequence).bad() ||
        sequence == nullptr) {
        return "JPEG 2000 pixel data is not encapsulated";
    }
    long codestreams = 0;
    for (unsigned long i = 1; i < sequence->card(); ++i) {  // item 0: the offset table
        DcmPixelItem* item = nullptr;
        Uint8* data = nullptr;
        if (sequence->getItem(item, i).bad() || item == nullptr)
            return "unreadable fragment";
        const Uint32 length = item->getLength();
        if (length < 2 || item->getUint8Array(data).bad() || data == nullptr)
            continue;
        if (data[0] != 0xFF || data[1] != 0x4F) {
            if (i == 1)
                return "the first fragment is not a JPEG 2000 codestream (no SOC marker)";
            continue;  // a continuation fragment of the previous frame
        }
        ++codestreams;
        auto u16 = [&](std::size_t at) { return Uint32(data[at] << 8 | data[at + 1]); };
        auto u32 = [&](std::size_t at) { return u16(at) << 16 | u16(at + 2); };
        if (length < 42 || data[2] != 0xFF || data[3] != 0x51) {
            return "a JPEG 2000 codestream without its SIZ marker segment";
        }
        const Uint32 width = u32(8) - u32(16);
        const Uint32 height = u32(12) - u32(20);
        const Uint32 components = u16(40);
        if (u32(8) < u32(16) || u32(12) < u32(20) || width != columns || height != rows) {
            return "a JPEG 2000 codestream's size does not match Rows and Columns";
        }
        if (components != samples || length < 42 + 3 * components) {
            return "a JPEG 2000 codestream's component count does not match Samples per Pixel";
        }
        for (Uint32 c = 0; c < components; ++c) {
            const Uint32 precision = (data[42 + 3 * c] & 0x7F) + 1u;
            if (precision > bits || data[43 + 3 * c] != 1 || data[44 + 3 * c] != 1) {
                return "a JPEG 2000 component's precision or subsampling does not fit the header";
            }
            // JPEG 2000 allows 38 bits; OpenJPEG (which GDCM decodes with) stops at 31 and
            // says so on stderr. Refused here, by name, before it is asked.
            if (precision > kMaxJpeg2000Precision) {
                unsupported_precision = precision;
            }
        }
    }
    if (codestreams != frames) {
        return "JPEG 2000 pixel data holds " + std::to_string(codestreams) + " codestreams for " +
               std::to_string(frames) + " frames";
    }
    return {};
}

// A Frame Increment Pointer (0028,0009) without Number of Frames (0028,0008): some archives hold
// such single-frame objects (pydicom's rtdose_1frame.dcm), and GDCM's image reader asserts on
// them. When the pixel data holds exactly one frame (native: at most one frame plus padding;
// encapsulated: one fragment) the image is unambiguous: Number of Frames 1 is added to the copy
// GDCM reads, with a warning. Otherwise the frame count is a guess: refused.
std::string assume_one_frame(DcmDataset& ds, std::vector<DecodeWarning>& warnings) {
    if (!ds.tagExists(DCM_FrameIncrementPointer) || ds.tagExists(DCM_NumberOfFrames))
        return {};
    DcmElement* element = nullptr;
    if (ds.findAndGetElement(DCM_PixelData, element).good() && element != nullptr) {
        auto* pixel_data = static_cast<DcmPixelData*>(element);
        DcmPixelSequence* sequence = nullptr;
        const bool encapsulated =
            pixel_data->getEncapsulatedRepresentation(ds.getOriginalXfer(), nullptr, sequence)
                .good() &&
            sequence != nullptr;
        if (encapsulated) {
            if (sequence->card() > 2) {
                return "Frame Increment Pointer (0028,0009) without Number of Frames (0028,0008), "
                       "and the pixel data holds " +
                       std::to_string(sequence->card() - 1) +
                       " fragments: the number of frames is ambiguous";
            }
        } else {
            Uint16 rows = 0, columns = 0, samples = 1, bits = 0;
            ds.findAndGetUint16(DCM_Rows, rows);
            ds.findAndGetUint16(DCM_Columns, columns);
            ds.findAndGetUint16(DCM_SamplesPerPixel, samples);
            ds.findAndGetUint16(DCM_BitsAllocated, bits);
            const std::size_t cells = std::size_t{rows} * columns * samples;
            const std::size_t frame = bits == 1 ? (cells + 7) / 8 : cells * ((bits + 7) / 8);
            if (frame != 0 && element->getLength() > frame + 1) {
                return "Frame Increment Pointer (0028,0009) without Number of Frames (0028,0008), "
                       "and the pixel data holds " +
                       std::to_string(element->getLength()) + " bytes for frames of " +
                       std::to_string(frame) + ": the number of frames is ambiguous";
            }
        }
    }
    if (ds.putAndInsertString(DCM_NumberOfFrames, "1").bad())
        return "cannot add Number of Frames";
    warnings.push_back({WarningKind::kFramesAssumed,
                        "Frame Increment Pointer (0028,0009) without Number of Frames "
                        "(0028,0008): read as one frame (the pixel data holds one)"});
    return {};
}

// DCMTK's name of a transfer syntax, e.g. "Little Endian Explicit".
std::string transfer_syntax_name(const std::string& uid) {
    return DcmXfer(uid.c_str()).getXferName();
}

Error corrupt(std::string_view name, const std::string& what) {
    return Error(ErrorCode::kCorrupt, std::string(name) + ": " + what);
}

// Whether the decoding copy differs from the copy as it came: overlays or curves to drop, one
// frame to assume, or pixel data DCMTK decodes. (GateMode::kDecodeAndKeep)
bool decoding_changes(DcmDataset& ds, const std::string& transfer_syntax_uid) {
    for (unsigned long i = 0; i < ds.card(); ++i) {
        const DcmElement* element = ds.getElement(i);
        const Uint16 group = element == nullptr ? 0 : element->getGTag();
        if ((group & 0xFF00) == 0x6000 || (group & 0xFF00) == 0x5000)
            return true;
    }
    if (ds.tagExists(DCM_FrameIncrementPointer) && !ds.tagExists(DCM_NumberOfFrames))
        return true;
    return decoded_by_dcmtk(transfer_syntax_uid) && ds.tagExists(DCM_PixelData);
}

// The data set written out as Part 10 in `xfer` into `out`, explicit lengths, group lengths
// recalculated where present. Returns the problem (for corrupt()), or empty.
std::string encode_part10(DcmFileFormat& file, E_TransferSyntax xfer, std::size_t size_hint,
                          std::vector<std::uint8_t>& out) {
    out.clear();
    out.reserve(size_hint + 1024);
    std::vector<char> chunk(1 << 20);
    DcmOutputBufferStream os(chunk.data(), static_cast<offile_off_t>(chunk.size()));
    file.transferInit();
    OFCondition written;
    do {
        written = file.write(os, xfer, EET_ExplicitLength, nullptr, EGL_recalcGL);
        void* buffer = nullptr;
        offile_off_t length = 0;
        os.flushBuffer(buffer, length);
        const auto* p = static_cast<const std::uint8_t*>(buffer);
        out.insert(out.end(), p, p + length);
    } while (written == EC_StreamNotifyClient);
    file.transferEnd();
    if (written.bad())
        return std::string("cannot re-encode the DICOM data set (") + written.text() + ")";
    return {};
}

}  // namespace

Result<GatedDicom> normalise_dicom(std::span<const std::uint8_t> bytes, std::string_view name,
                                   GateMode mode, std::size_t max_pixel_bytes,
                                   const std::function<void()>& parsed) {
    // Codec registration is global in DCMTK; do it once, thread-safely.
    static const bool quiet = [] {
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        DcmRLEDecoderRegistration::registerCodecs();
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        return true;
    }();
    (void)quiet;

    Layout layout;
    const std::string problem = check_structure(bytes, kInflateCap, layout);
    const std::string& ts = layout.ts;
    if (!ts.empty() && !supported(ts)) {
        return Error(ErrorCode::kUnsupported,
                     std::string(name) + ": unsupported transfer syntax " + ts);
    }
    if (!problem.empty()) {
        if (problem.find("declares") != std::string::npos && ts != kDeflated) {
            if (const auto extent =
                    native_pixel_extent(bytes, ts == kBigEndian, ts != kImplicit, layout.data_set);
                extent && extent->present < extent->declared) {
                return corrupt(name, "file is truncated: pixel data needs " +
                                         std::to_string(extent->declared) + " bytes, only " +
                                         std::to_string(extent->present) + " are in the file");
            }
        }
        if (!layout.preamble && !layout.meta && problem.rfind("not a DICOM", 0) != 0) {
            return corrupt(name, "malformed DICOM stream (no Part 10 preamble; read as " +
                                     transfer_syntax_name(ts) + "): " + problem);
        }
        return corrupt(name, "malformed DICOM stream: " + problem);
    }

    DcmInputBufferStream in;
    in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
    in.setEos();
    DcmFileFormat file;
    file.transferInit();
    const OFCondition read = file.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    file.transferEnd();

    GatedDicom gated;
    OFString dcmtk_ts;
    if (layout.meta) {
        if (file.getMetaInfo() != nullptr &&
            file.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, dcmtk_ts).good()) {
            gated.transfer_syntax_uid = dcmtk_ts.c_str();
        }
    } else if (read.good()) {
        gated.transfer_syntax_uid = DcmXfer(file.getDataset()->getOriginalXfer()).getXferID();
    }
    if (read.good() && gated.transfer_syntax_uid != ts) {
        return corrupt(name, "the file meta information is ambiguous about the transfer syntax");
    }
    if (read.bad()) {
        if (ts == kImplicit || ts == kBigEndian || ts == "1.2.840.10008.1.2.1") {
            const auto extent =
                native_pixel_extent(bytes, ts == kBigEndian, ts != kImplicit, layout.data_set);
            if (extent && extent->present < extent->declared) {
                return corrupt(name, "file is truncated: pixel data needs " +
                                         std::to_string(extent->declared) + " bytes, only " +
                                         std::to_string(extent->present) + " are in the file");
            }
        }
        return corrupt(name, std::string("cannot parse the DICOM data set (") + read.text() +
                                 "; truncated or malformed)");
    }
    // DCMTK holds its own copy of every value now (a buffer stream defers no loading): the
    // caller may drop the bytes it read.
    if (parsed)
        parsed();
    if (gated.transfer_syntax_uid.empty()) {
        return corrupt(name, "no Transfer Syntax UID (0002,0010) in the file meta information");
    }
    if (!layout.preamble) {
        gated.warnings.push_back(
            {WarningKind::kNoPreamble,
             layout.meta ? "no Part 10 preamble: the file meta information starts at offset 0"
                         : "no Part 10 preamble and no file meta information: a bare data set, "
                           "read as " +
                               transfer_syntax_name(ts) + " (detected as DCMTK detects it)"});
    }

    DcmDataset& ds = *file.getDataset();
    // GDCM assert()s when a file ends right after its meta information.
    if (ds.card() == 0)
        return corrupt(name, "the data set is empty");

    if (layout.pixel_data.present && !layout.pixel_data.encapsulated && ts == kBigEndian &&
        std::string(layout.pixel_data.vr) == "OW") {
        Uint16 bits = 0;
        if (ds.findAndGetUint16(DCM_BitsAllocated, bits).good() && bits != 16) {
            gated.warnings.push_back(
                {WarningKind::kBigEndianWordOrder,
                 "Explicit VR Big Endian pixel data (OW) with Bits Allocated " +
                     std::to_string(bits) +
                     ": read as PS3.5 specifies, a stream of 16-bit words each in big-endian "
                     "order (as DCMTK and GDCM read it); some writers (pydicom) store whole " +
                     std::to_string(bits) + "-bit values instead, which decode to other numbers"});
        }
    }

    // Deflate is only a wrapper around explicit VR little endian: unwrap it here.
    const E_TransferSyntax original = ds.getOriginalXfer();
    E_TransferSyntax out_xfer =
        gated.transfer_syntax_uid == kDeflated ? EXS_LittleEndianExplicit : original;
    const bool decode = mode != GateMode::kKeepPixels;
    // Both encodings from this one parse: the copy as it came first, before anything below
    // changes the data set for decoding; nothing when decoding would change nothing (then the
    // one encoding serves both). A failure to write it is told after the decoding's own
    // errors, in the order the two separate calls would have told them.
    std::optional<Error> kept_failed;
    if (mode == GateMode::kDecodeAndKeep && decoding_changes(ds, gated.transfer_syntax_uid)) {
        gated.kept.emplace();
        if (auto problem = encode_part10(file, out_xfer, bytes.size(), *gated.kept);
            !problem.empty()) {
            kept_failed = corrupt(name, problem);
        }
    }
    if (decode) {
        // Overlays and curves never enter the image hash, and GDCM's image reader interprets
        // them with assert()s (an Overlay Comments element aborts gdcm::Overlay::Update): they
        // do not reach it.
        for (unsigned long i = ds.card(); i-- > 0;) {
            DcmElement* element = ds.getElement(i);
            const Uint16 group = element == nullptr ? 0 : element->getGTag();
            if ((group & 0xFF00) == 0x6000 || (group & 0xFF00) == 0x5000)
                delete ds.remove(i);
        }
        if (auto problem = assume_one_frame(ds, gated.warnings); !problem.empty())
            return corrupt(name, problem);
    }

    if (decode && decoded_by_dcmtk(gated.transfer_syntax_uid) && ds.tagExists(DCM_PixelData)) {
        // The limit is checked before DCMTK allocates the decoded frames.
        const std::size_t claimed = claimed_pixel_bytes(ds);
        if (claimed > max_pixel_bytes) {
            return Error(ErrorCode::kTooLarge,
                         std::string(name) + ": header claims " + std::to_string(claimed) +
                             " bytes of pixel data, over the decoded size limit of " +
                             std::to_string(max_pixel_bytes) + " bytes");
        }
        const OFCondition decoded = ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        if (decoded.bad() || !ds.canWriteXfer(EXS_LittleEndianExplicit)) {
            return corrupt(name, std::string("cannot decode pixel data (") +
                                     (decoded.bad() ? decoded.text() : "no decoder") + ")");
        }
        out_xfer = EXS_LittleEndianExplicit;
    }
    if (decode && (gated.transfer_syntax_uid == "1.2.840.10008.1.2.4.90" ||
                   gated.transfer_syntax_uid == "1.2.840.10008.1.2.4.91")) {
        Uint32 precision = 0;
        if (auto problem = check_jpeg2000_frames(ds, precision); !problem.empty()) {
            return corrupt(name, problem);
        }
        if (precision != 0) {
            return Error(ErrorCode::kUnsupported,
                         std::string(name) + ": JPEG 2000 with " + std::to_string(precision) +
                             "-bit samples (the JPEG 2000 decoder of this build, OpenJPEG, reads "
                             "at most " +
                             std::to_string(kMaxJpeg2000Precision) + ")");
        }
    }
    if (auto problem = encode_part10(file, out_xfer, bytes.size(), gated.bytes); !problem.empty())
        return corrupt(name, problem);
    if (kept_failed)
        return *kept_failed;
    return gated;
}

std::span<const char* const> decodable_transfer_syntaxes() {
    return kSupported;
}

}  // namespace medanchor::image

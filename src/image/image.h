// The decoded image: geometry, pixel representation and the stored sample values, in the one
// layout that the canonical image hash is defined on (docs/image-hash.md). An Image has no field
// that can carry patient identity (no names, ids, dates, UIDs or free text), so whatever prints
// an Image (`medanchor inspect`) cannot leak identity by construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medanchor::image {

enum class SourceFormat { kDicom, kPng, kJpeg, kTiff };

const char* source_format_name(SourceFormat format);

// Something a decoder tolerated rather than refused: the pixels are unambiguous, but the file
// departs from the standard (or from what another reader would do), and a person should know.
// Carried in ImageInfo::warnings; the CLI prints them ("medanchor: warning: FILE: message") and
// `inspect --json` lists them by name.
enum class WarningKind : std::uint8_t {
    kNoPreamble,          // no Part 10 preamble (and perhaps no file meta): read as DCMTK reads it
    kFramesAssumed,       // Frame Increment Pointer without Number of Frames: read as one frame
    kBigEndianWordOrder,  // Explicit VR Big Endian OW pixel data of Bits Allocated != 16: read as
                          // 16-bit words (PS3.5); other readers (pydicom) decode other numbers
    kBurnedInValue,       // a Burned In Annotation value other than YES or NO (read as YES)
};

struct DecodeWarning {
    WarningKind kind;
    std::string message;  // one sentence, without the file name
};

// Stable names for JSON output: "no-preamble", "frames-assumed", "big-endian-word-order",
// "burned-in-value".
const char* warning_name(WarningKind kind);

// Burned In Annotation (0028,0301) as read: any value YES (in any case, in any of several values)
// is YES; a value that is neither YES nor NO is also read as YES (identity may be in the pixels,
// so the doubt goes that way); absent or empty is kAbsent ("not stated").
enum class BurnedIn : std::uint8_t { kAbsent, kNo, kYes };
struct BurnedInReading {
    BurnedIn value = BurnedIn::kAbsent;
    bool standard = true;  // the value was exactly "YES" or "NO" (or absent)
};
BurnedInReading read_burned_in(std::string_view raw);

// Geometry and pixel representation: the fields that enter the canonical hash header.
struct Geometry {
    std::uint32_t rows = 0;
    std::uint32_t columns = 0;
    std::uint32_t frames = 0;
    std::uint16_t samples_per_pixel =
        0;                             // 1 (monochrome, palette) or 3 (colour); 4 for RGBA rasters
    std::uint16_t bits_allocated = 0;  // 1, 8, 16 or 32
    std::uint16_t bits_stored = 0;     // 1..bits_allocated
    std::uint16_t pixel_representation = 0;  // 0 unsigned, 1 two's complement
    std::string photometric;                 // normalised: see docs/image-hash.md

    // Bytes one sample occupies in Image::pixels: 1 for bits_allocated 1 or 8, else bits/8.
    std::size_t sample_bytes() const { return bits_allocated <= 8 ? 1 : bits_allocated / 8; }
    std::size_t samples_per_frame() const {
        return std::size_t{rows} * columns * samples_per_pixel;
    }
    std::size_t frame_bytes() const { return samples_per_frame() * sample_bytes(); }
    std::size_t pixel_bytes() const { return frame_bytes() * frames; }
};

// Metadata that describes the image but does not name it: reported by `inspect`, kept out of
// the hash (docs/image-hash.md says why).
struct ImageInfo {
    SourceFormat format = SourceFormat::kDicom;
    std::string transfer_syntax_uid;   // DICOM only
    std::string transfer_syntax_name;  // DICOM only
    bool lossy_source = false;         // the file's pixel data went through a lossy codec
    std::string modality;              // CT, MR, CR, ... (DICOM only)
    std::string sop_class_uid;         // a standard class UID, not an instance UID
    std::uint16_t high_bit = 0;
    std::uint16_t planar_configuration_in_file = 0;
    std::string photometric_in_file;
    bool has_rescale = false;  // the file carries Rescale Slope/Intercept (Modality LUT)
    double rescale_slope = 1.0;
    double rescale_intercept = 0.0;
    std::string rescale_type;  // e.g. "HU"; empty when absent
    // The file's first VOI window (Window Center/Width (0028,1050/1051)), in modality units;
    // has_window is false when either is absent, unparsable, or the width is not positive.
    bool has_window = false;
    double window_center = 0.0;
    double window_width = 0.0;
    std::string burned_in_annotation;  // "YES", "NO" or empty when absent (read_burned_in())
    std::vector<DecodeWarning> warnings;
};

// A decoded image. pixels holds the stored values (before any Modality LUT) laid out as the
// canonical form requires: frames in order, rows top to bottom, columns left to right, samples of
// one pixel interleaved (R,G,B), each sample little-endian in Geometry::sample_bytes() bytes,
// masked to bits_stored and sign-extended when pixel_representation is 1.
// Invariant (established by every decoder): pixels.size() == geometry.pixel_bytes().
struct Image {
    Geometry geometry;
    ImageInfo info;
    std::vector<std::uint8_t> pixels;

    std::span<const std::uint8_t> frame(std::uint32_t index) const {
        return std::span<const std::uint8_t>(pixels).subspan(index * geometry.frame_bytes(),
                                                             geometry.frame_bytes());
    }
};

// Bounds that keep a hostile header from making us allocate: checked before any pixel buffer is
// allocated. The defaults hold the largest real studies we expect (a 2000-frame 512x512x16-bit
// volume is 1 GiB) and refuse anything bigger.
struct DecodeLimits {
    std::size_t max_pixel_bytes = std::size_t{1} << 30;  // decoded size of all frames
    std::size_t max_file_bytes = std::size_t{2} << 30;   // size of the file read into memory
    std::uint32_t max_frames = 100000;
};

}  // namespace medanchor::image

// Internal to the image layer: GDCM helpers shared by dicom.cpp and deid.cpp. Not installed,
// not included outside src/image/ (it names GDCM types).
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "image/image.h"
#include "image/instance_uids.h"

namespace gdcm {
class DataSet;
class File;
}  // namespace gdcm

namespace medanchor::image {

struct GatedDicom {
    std::vector<std::uint8_t> bytes;  // DCMTK's re-encoding: what GDCM is given (always Part 10)
    std::string transfer_syntax_uid;  // the transfer syntax of the file as it came
    std::vector<DecodeWarning> warnings;  // what was tolerated (no preamble, one frame assumed...)
    // kDecodeAndKeep only: the kKeepPixels encoding, when it differs from `bytes` (overlays or
    // curves dropped, a frame assumed, pixels decoded by DCMTK); nullopt when `bytes` is both.
    std::optional<std::vector<std::uint8_t>> kept;
};

enum class GateMode {
    kKeepPixels,     // pixel data carried through as it is (de-identification)
    kDecodePixels,   // RLE, JPEG and JPEG-LS decoded by DCMTK; output explicit VR little endian
    kDecodeAndKeep,  // both from one parse: kDecodePixels in `bytes`, kKeepPixels in `kept`
};

// Checks the structure of untrusted DICOM bytes (Part 10, or a data set without preamble whose
// transfer syntax DCMTK detects), parses them with DCMTK and writes them back out as Part 10
// (dicom_gate.cpp): the only bytes GDCM is ever given. Refuses transfer syntaxes that are not
// still-image encodings we decode (kUnsupported), anything malformed or nested deeper than 64
// sequences (kCorrupt), and in kDecodePixels mode a claimed decoded size over max_pixel_bytes
// (kTooLarge) before decoding. In kDecodePixels mode the copy also loses its overlay and curve
// groups (60xx, 50xx: outside the hash, and GDCM asserts on some) and gains Number of Frames 1
// where a Frame Increment Pointer stands alone over one frame. A deflated data set comes back
// inflated (explicit VR little endian). Errors name `name`; in kDecodeAndKeep mode they are
// those of kDecodePixels, then those of kKeepPixels. `parsed`, if set, is called once DCMTK
// holds the data set and `bytes` are no longer read (so a caller can free them early).
Result<GatedDicom> normalise_dicom(std::span<const std::uint8_t> bytes, std::string_view name,
                                   GateMode mode, std::size_t max_pixel_bytes,
                                   const std::function<void()>& parsed = {});

// decode_dicom, handing the data set GDCM parsed to `parsed` when given (as decode_gated).
Result<Image> decode_dicom(std::span<const std::uint8_t> bytes, std::string_view name,
                           const DecodeLimits& limits, std::shared_ptr<gdcm::File>* parsed);

// decode_dicom after its gate (dicom.cpp): GDCM reads `gated.bytes` (freed once it has) and the
// image comes out. When `parsed` is given it receives the data set GDCM parsed, unchanged, for
// the caller to use after the image is made (de-identification: the same parse).
Result<Image> decode_gated(GatedDicom& gated, std::string_view name, const DecodeLimits& limits,
                           std::shared_ptr<gdcm::File>* parsed = nullptr);

// An std::istream over caller-owned bytes, seekable, so GDCM reads a buffer in place. The bytes
// must outlive the stream.
class SpanStreamBuf : public std::streambuf {
  public:
    explicit SpanStreamBuf(std::span<const std::uint8_t> bytes) {
        char* begin = const_cast<char*>(reinterpret_cast<const char*>(bytes.data()));
        setg(begin, begin, begin + bytes.size());
    }

  protected:
    pos_type seekoff(off_type off, std::ios_base::seekdir dir,
                     std::ios_base::openmode which) override {
        if (!(which & std::ios_base::in))
            return pos_type(off_type(-1));
        off_type base = 0;
        if (dir == std::ios_base::cur)
            base = gptr() - eback();
        if (dir == std::ios_base::end)
            base = egptr() - eback();
        const off_type target = base + off;
        if (target < 0 || target > egptr() - eback())
            return pos_type(off_type(-1));
        setg(eback(), eback() + target, egptr());
        return pos_type(target);
    }
    pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
        return seekoff(off_type(pos), std::ios_base::beg, which);
    }
};

class SpanStream : public std::istream {
  public:
    explicit SpanStream(std::span<const std::uint8_t> bytes) : std::istream(nullptr), buf_(bytes) {
        rdbuf(&buf_);
    }

  private:
    SpanStreamBuf buf_;
};

// An std::ostream into a string reserved up front, so GDCM writes a large data set without the
// doubling (and copying) of an std::ostringstream. Writes are appended; the only seek it answers
// is tellp().
class StringSinkBuf : public std::streambuf {
  public:
    explicit StringSinkBuf(std::size_t reserve) { out_.reserve(reserve); }
    std::string take() && { return std::move(out_); }

  protected:
    int_type overflow(int_type c) override {
        if (!traits_type::eq_int_type(c, traits_type::eof()))
            out_.push_back(traits_type::to_char_type(c));
        return traits_type::not_eof(c);
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        out_.append(s, static_cast<std::size_t>(n));
        return n;
    }
    pos_type seekoff(off_type off, std::ios_base::seekdir dir,
                     std::ios_base::openmode which) override {
        if (off != 0 || dir != std::ios_base::cur || !(which & std::ios_base::out))
            return pos_type(off_type(-1));
        return pos_type(off_type(out_.size()));
    }

  private:
    std::string out_;
};

class StringSink : public std::ostream {
  public:
    explicit StringSink(std::size_t reserve) : std::ostream(nullptr), buf_(reserve) {
        rdbuf(&buf_);
    }
    std::string take() && { return std::move(buf_).take(); }

  private:
    StringSinkBuf buf_;
};

// Silences GDCM's own stderr tracing (we report errors as values). Idempotent, thread-safe.
void quiet_gdcm();

// The value of a string-valued element, trailing/leading spaces and NULs trimmed; empty if
// absent or without a value.
std::string dataset_string(const gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element);

// The Study, Series and SOP Instance UIDs and the SOP Class of a parsed data set, each checked
// to be a valid UID (instance_uids.cpp); kCorrupt naming `name` otherwise.
Result<InstanceUids> instance_uids_of(const gdcm::DataSet& ds, const std::string& name);

}  // namespace medanchor::image

// Bad input: every case comes back as an Error naming the file and the problem, with the error
// code the CLI turns into its exit status; none crashes or allocates what the header claims.
#include <gtest/gtest.h>

#include <algorithm>

#include "image/deid.h"
#include "image/reader.h"
#include "test_support.h"

namespace medanchor::image {
namespace {

using testing::DicomBuilder;
using testing::pydicom_file;

Error expect_error(const std::vector<std::uint8_t>& bytes, ErrorCode code,
                   const std::string& needle) {
    auto img = decode_image(bytes, "bad.dcm");
    EXPECT_FALSE(img.ok());
    if (img.ok())
        return Error(ErrorCode::kInternal, "decoded");
    EXPECT_EQ(img.error().code(), code) << img.error().message();
    EXPECT_EQ(img.error().message().rfind("bad.dcm: ", 0), 0u) << img.error().message();
    EXPECT_NE(img.error().message().find(needle), std::string::npos) << img.error().message();
    return img.error();
}

std::vector<std::uint8_t> mono16(std::uint16_t rows, std::uint16_t cols, std::size_t pixel_bytes,
                                 int frames = 1) {
    return DicomBuilder()
        .image(rows, cols, 1, 16, 16, 0, "MONOCHROME2", std::vector<std::uint8_t>(pixel_bytes, 7),
               frames)
        .bytes();
}

TEST(BadInput, EmptyFile) {
    expect_error({}, ErrorCode::kCorrupt, "empty file");
}

TEST(BadInput, WrongMagic) {
    const std::string text =
        "this is a text file, not an image at all, but long enough ......"
        "................................................................"
        "................................";
    expect_error(std::vector<std::uint8_t>(text.begin(), text.end()), ErrorCode::kCorrupt,
                 "unrecognised format");
}

TEST(BadInput, TruncatedRealFileAtManyLengths) {
    const auto whole = testing::read_bytes(pydicom_file("MR_small.dcm"));
    for (std::size_t length :
         {std::size_t{10}, std::size_t{131}, std::size_t{132}, std::size_t{200}, std::size_t{600},
          std::size_t{1500}, whole.size() - 4000, whole.size() - 1}) {
        SCOPED_TRACE(length);
        const std::vector<std::uint8_t> cut(whole.begin(), whole.begin() + length);
        auto img = decode_image(cut, "bad.dcm");
        ASSERT_FALSE(img.ok());
        EXPECT_EQ(img.error().code(), ErrorCode::kCorrupt) << img.error().message();
        EXPECT_EQ(img.error().message().rfind("bad.dcm: ", 0), 0u);
    }
}

TEST(BadInput, PydicomsTruncatedFile) {
    auto img = read_image(pydicom_file("MR_truncated.dcm"));
    ASSERT_FALSE(img.ok());
    EXPECT_EQ(img.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(img.error().message().find("MR_truncated.dcm: file is truncated"), std::string::npos)
        << img.error().message();
}

// A header claiming 65535 x 65535 (the most 16-bit Rows/Columns can say) x 1000 frames
// x 16 bits: ~8.6 TB. Refused from the header, before any pixel buffer exists.
TEST(BadInput, AbsurdDimensionsAreRefusedBeforeAllocating) {
    const auto bytes = mono16(65535, 65535, 64, 1000);
    expect_error(bytes, ErrorCode::kTooLarge, "65535x65535x1000");
}

TEST(BadInput, TooManyFrames) {
    expect_error(mono16(4, 4, 64, 5000000), ErrorCode::kTooLarge, "frames");
}

TEST(BadInput, LimitsAreConfigurable) {
    DecodeLimits tight;
    tight.max_pixel_bytes = 1000;
    auto img = decode_image(mono16(32, 32, 2048), "small.dcm", tight);
    ASSERT_FALSE(img.ok());
    EXPECT_EQ(img.error().code(), ErrorCode::kTooLarge);
}

TEST(BadInput, PixelDataShorterThanTheHeaderSays) {
    expect_error(mono16(16, 16, 100), ErrorCode::kCorrupt, "pixel data holds 100 bytes");
}

// The Pixel Data element declares 4 GiB but the file ends right after its header.
TEST(BadInput, PixelDataLengthBeyondTheEndOfTheFile) {
    auto bytes = DicomBuilder().image(4, 4, 1, 16, 16, 0, "MONOCHROME2", {}).bytes();
    // Replace the (empty) Pixel Data element with a header that lies about its length.
    bytes.resize(bytes.size() - 12);
    DicomBuilder::put_header(bytes, 0x7FE0, 0x0010, "OW", 0xFFFFFFF0u);
    bytes.insert(bytes.end(), 32, 1);
    auto img = decode_image(bytes, "bad.dcm");
    ASSERT_FALSE(img.ok());
    EXPECT_EQ(img.error().code(), ErrorCode::kCorrupt) << img.error().message();
}

TEST(BadInput, UnsupportedTransferSyntax) {
    const auto bytes = DicomBuilder()
                           .image(4, 4, 1, 8, 8, 0, "MONOCHROME2", std::vector<std::uint8_t>(16, 1))
                           .bytes("1.2.840.10008.1.2.4.100");  // MPEG2 video
    expect_error(bytes, ErrorCode::kUnsupported,
                 "unsupported transfer syntax 1.2.840.10008.1.2.4.100");
    const auto unknown =
        DicomBuilder()
            .image(4, 4, 1, 8, 8, 0, "MONOCHROME2", std::vector<std::uint8_t>(16, 1))
            .bytes("1.2.3.4.5.6.7");
    expect_error(unknown, ErrorCode::kUnsupported, "unsupported transfer syntax 1.2.3.4.5.6.7");
}

TEST(BadInput, NotAnImage) {
    auto img = read_image(pydicom_file("rtplan.dcm"));
    ASSERT_FALSE(img.ok());
    EXPECT_EQ(img.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(img.error().message().find("no Pixel Data"), std::string::npos);
}

TEST(BadInput, InconsistentPixelFormat) {
    expect_error(DicomBuilder()
                     .image(2, 2, 1, 16, 16, 0, "MONOCHROME2", std::vector<std::uint8_t>(8, 0))
                     .us(0x0028, 0x0101, 17)
                     .bytes(),
                 ErrorCode::kCorrupt, "inconsistent pixel format");
    expect_error(DicomBuilder()
                     .image(2, 2, 1, 12, 12, 0, "MONOCHROME2", std::vector<std::uint8_t>(8, 0))
                     .bytes(),
                 ErrorCode::kUnsupported, "Bits Allocated 12");
}

// Malformed image attributes that trip assertions inside Debian's GDCM are refused first.
TEST(BadInput, MalformedImageAttributesAreRefusedBeforeGdcmSeesThem) {
    expect_error(DicomBuilder()
                     .image(2, 2, 1, 8, 8, 0, "MONOCHROME2", std::vector<std::uint8_t>(4, 0))
                     .add(0x0028, 0x0010, "US", {2, 0, 0, 0})
                     .bytes(),
                 ErrorCode::kCorrupt, "Rows (0028,0010) is not a single 16-bit value");
}

// A Frame Increment Pointer without Number of Frames is one frame when the pixel data holds one
// (decode_test.cpp); when it holds more, the frame count would be a guess: refused.
TEST(BadInput, FrameIncrementPointerWithoutFramesOverSeveralFramesIsRefused) {
    expect_error(DicomBuilder()
                     .image(2, 2, 1, 8, 8, 0, "MONOCHROME2", std::vector<std::uint8_t>(8, 0))
                     .add(0x0028, 0x0009, "AT", {0x04, 0x30, 0x0c, 0x00})
                     .bytes(),
                 ErrorCode::kCorrupt, "the number of frames is ambiguous");
}

// Nesting deeper than DCMTK's limit (64 sequences) is refused before DCMTK or GDCM recurse into
// it; 64 levels are read (decode_test.cpp).
TEST(BadInput, SequencesNestedDeeperThanSixtyFourAreRefused) {
    for (const bool defined : {false, true}) {
        SCOPED_TRACE(defined ? "defined lengths" : "undefined lengths");
        expect_error(DicomBuilder()
                         .image(2, 2, 1, 8, 8, 0, "MONOCHROME2", {1, 2, 3, 4})
                         .add(0x0008, 0x1140, "SQ", testing::nested_sequence_value(65, defined))
                         .bytes(),
                     ErrorCode::kCorrupt, "sequences nested deeper than 64 levels");
    }
    // Far deeper, as a file built to exhaust a recursive parser's stack would be.
    expect_error(DicomBuilder()
                     .image(2, 2, 1, 8, 8, 0, "MONOCHROME2", {1, 2, 3, 4})
                     .add(0x0008, 0x1140, "SQ", testing::nested_sequence_value(3000, true))
                     .bytes(),
                 ErrorCode::kCorrupt, "nested deeper");
}

// PS3.10 lets the preamble hold a TIFF header; a dual-personality file cut inside "DICM" is a
// truncated DICOM file, and says so (not "cannot decode TIFF").
TEST(BadInput, TruncatedDicomWithTiffPreambleIsReportedAsDicom) {
    auto bytes = testing::read_bytes(pydicom_file("MR_small.dcm"));
    const std::uint8_t tiff[] = {'I', 'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00};
    std::copy(std::begin(tiff), std::end(tiff), bytes.begin());
    bytes.resize(130);
    expect_error(bytes, ErrorCode::kCorrupt, "truncated DICOM file");
    bytes.resize(128);  // nothing of the magic left: then it is a TIFF header, and a broken one
    expect_error(bytes, ErrorCode::kCorrupt, "TIFF");
}

// CT_small.dcm rendered by DCMTK's dcmj2pnm: "+oj" JPEG, "+on" PNG.
std::vector<std::uint8_t> rendered(const char* format_flag) {
    testing::ScratchDir dir;
    const auto out = dir / "rendered";
    const auto r = testing::run_command(std::string("dcmj2pnm ") + format_flag + " " +
                                        testing::quote(pydicom_file("CT_small.dcm")) + " " +
                                        testing::quote(out));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return testing::read_bytes(out);
}

// libjpeg fills a cut-off JPEG with grey and only warns: such a file must not decode (and hash)
// as an image.
TEST(BadInput, TruncatedJpegIsRefused) {
    const auto whole = rendered("+oj");
    ASSERT_TRUE(decode_image(whole, "x.jpg").ok());
    for (const std::size_t cut : {whole.size() - 2, whole.size() / 2}) {
        std::vector<std::uint8_t> bytes(whole.begin(), whole.begin() + cut);
        expect_error(bytes, ErrorCode::kCorrupt, "truncated JPEG");
    }
}

TEST(BadInput, MissingAndUnreadableFiles) {
    auto missing = read_image("/nonexistent/medanchor/x.dcm");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(missing.error().message(), "/nonexistent/medanchor/x.dcm: no such file");
    auto folder = read_image("/tmp");
    ASSERT_FALSE(folder.ok());
    EXPECT_EQ(folder.error().code(), ErrorCode::kInvalidArgument);
}

// Inputs on which the fuzzer (or a field report) crashed GDCM or DCMTK
// (fuzz/regressions/README.md): each must come back as a clean error, or, for the valid files
// named "ok-*", as an image; and de-identifying each must not crash either. The fuzz harness
// writes "DICM" at offset 128; so does this test. Each runs in a child process, so one that
// still aborts fails this test instead of ending the test binary.
TEST(BadInput, FuzzRegressions) {
    const auto dir = std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "fuzz" / "regressions";
    testing::ScratchDir scratch;
    std::size_t seen = 0;
    std::size_t valid = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".dcm")
            continue;
        const std::string name = entry.path().filename().string();
        SCOPED_TRACE(name);
        const bool ok_file = name.rfind("ok-", 0) == 0;
        valid += ok_file;
        auto bytes = testing::read_bytes(entry.path());
        ASSERT_GE(bytes.size(), 132u);
        std::copy_n("DICM", 4, bytes.begin() + 128);
        const auto decoded = testing::run_in_child([&] {
            auto img = decode_image(bytes, name);
            if (img.ok())
                return ok_file ? 0 : 1;
            const bool clean = img.error().code() == ErrorCode::kCorrupt ||
                               img.error().code() == ErrorCode::kUnsupported;
            return !ok_file && clean ? 0 : 2;
        });
        EXPECT_TRUE(decoded.exited) << "decoding ended with signal " << decoded.signal;
        EXPECT_EQ(decoded.code, 0);
        testing::write_bytes(scratch / name, bytes);
        const auto deid = testing::run_in_child([&] {
            auto r = deidentify_file(scratch / name, scratch / ("out-" + name), {},
                                     UidRemapper::random());
            return r.ok() || r.error().code() != ErrorCode::kInternal ? 0 : 3;
        });
        EXPECT_TRUE(deid.exited) << "de-identifying ended with signal " << deid.signal;
        EXPECT_EQ(deid.code, 0);
        ++seen;
    }
    EXPECT_GE(seen, 9u);
    EXPECT_GE(valid, 1u);
}

TEST(BadInput, BrokenPngAndJpeg) {
    std::vector<std::uint8_t> png = {0x89, 'P',  'N',  'G',  0x0D, 0x0A, 0x1A, 0x0A, 0,
                                     0,    0,    13,   'I',  'H',  'D',  'R',  0xFF, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 8,    2};
    expect_error(png, ErrorCode::kTooLarge, "PNG header claims");
    std::vector<std::uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0};
    expect_error(jpeg, ErrorCode::kCorrupt, "JPEG");
}

// A damaged PNG: libpng's own words in the Error (not on stderr: the CLI test checks that).
TEST(BadInput, DamagedPngSaysWhatLibpngFound) {
    const auto whole = rendered("+on");
    std::vector<std::uint8_t> cut(whole.begin(), whole.begin() + whole.size() / 2);
    expect_error(cut, ErrorCode::kCorrupt, "cannot decode PNG: ");
    auto bad_crc = whole;
    bad_crc[30] ^= 0xFF;  // the IHDR chunk's CRC (bytes 29-32) no longer matches its data
    expect_error(bad_crc, ErrorCode::kCorrupt, "CRC error");
}

}  // namespace
}  // namespace medanchor::image

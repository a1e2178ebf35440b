// Bad input: every case comes back as an Error naming the file and the problem, with the error
// code the CLI turns into its exit status; none crashes or allocates what the header claims.
#include <gtest/gtest.h>

#include <algorithm>

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
    expect_error(DicomBuilder()
                     .image(2, 2, 1, 8, 8, 0, "MONOCHROME2", std::vector<std::uint8_t>(4, 0))
                     .add(0x0028, 0x0009, "AT", {0x04, 0x30, 0x0c, 0x00})
                     .bytes(),
                 ErrorCode::kCorrupt, "without Number of Frames");
    auto img = read_image(pydicom_file("rtdose_1frame.dcm"));
    ASSERT_FALSE(img.ok());
    EXPECT_EQ(img.error().code(), ErrorCode::kCorrupt);
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

// Inputs on which the fuzzer crashed GDCM or DCMTK (fuzz/regressions/README.md): each must come
// back as a clean error. The fuzz harness writes "DICM" at offset 128; so does this test.
TEST(BadInput, FuzzRegressions) {
    const auto dir = std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "fuzz" / "regressions";
    std::size_t seen = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".dcm")
            continue;
        SCOPED_TRACE(entry.path().filename().string());
        auto bytes = testing::read_bytes(entry.path());
        ASSERT_GE(bytes.size(), 132u);
        std::copy_n("DICM", 4, bytes.begin() + 128);
        auto img = decode_image(bytes, entry.path().filename().string());
        ASSERT_FALSE(img.ok());
        EXPECT_TRUE(img.error().code() == ErrorCode::kCorrupt ||
                    img.error().code() == ErrorCode::kUnsupported)
            << img.error().message();
        ++seen;
    }
    EXPECT_GE(seen, 8u);
}

TEST(BadInput, BrokenPngAndJpeg) {
    std::vector<std::uint8_t> png = {0x89, 'P',  'N',  'G',  0x0D, 0x0A, 0x1A, 0x0A, 0,
                                     0,    0,    13,   'I',  'H',  'D',  'R',  0xFF, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 8,    2};
    expect_error(png, ErrorCode::kTooLarge, "PNG header claims");
    std::vector<std::uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0};
    expect_error(jpeg, ErrorCode::kCorrupt, "cannot decode JPEG");
}

}  // namespace
}  // namespace medanchor::image

// Decoding real files: every encoding of one image decodes to the same samples, geometry is read
// right, and the Modality LUT is a separate step from the stored values.
#include <gtest/gtest.h>

#include <fstream>

#include "common/encoding.h"
#include "image/deid.h"
#include "image/image_hash.h"
#include "image/modality_lut.h"
#include "image/reader.h"
#include "test_support.h"
#include "variants.h"

namespace medanchor::image {
namespace {

using testing::pydicom_file;
using testing::ScratchDir;

Image must_read(const std::filesystem::path& path) {
    auto img = read_image(path);
    EXPECT_TRUE(img.ok()) << (img.ok() ? "" : img.error().message());
    if (!img.ok())
        return {};
    return std::move(img).value();
}

// The encodings of MR_small that pydicom ships, one per transfer syntax.
const char* const kMrSmallEncodings[] = {
    "MR_small.dcm",            // explicit VR little endian
    "MR_small_implicit.dcm",   // implicit VR little endian
    "MR_small_bigendian.dcm",  // explicit VR big endian
    "MR_small_expb.dcm",       // explicit VR big endian (another writer)
    "MR_small_padded.dcm",     // trailing padding after the pixel data
    "MR_small_RLE.dcm",        // RLE lossless
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
};

TEST(Decode, FirstVoiWindowIsKept) {
    auto mr = read_image(pydicom_file("MR_small.dcm"));
    ASSERT_TRUE(mr);
    EXPECT_TRUE(mr->info.has_window);
    EXPECT_DOUBLE_EQ(mr->info.window_center, 600);
    EXPECT_DOUBLE_EQ(mr->info.window_width, 1600);
    auto ct = read_image(pydicom_file("CT_small.dcm"));
    ASSERT_TRUE(ct);
    EXPECT_FALSE(ct->info.has_window);

    // Multi-valued, signed with '+', and a non-positive width (ignored).
    auto with_window = [](const std::string& center, const std::string& width) {
        auto bytes = testing::DicomBuilder()
                         .image(1, 2, 1, 8, 8, 0, "MONOCHROME2", {1, 2})
                         .text(0x0028, 0x1050, "DS", center)
                         .text(0x0028, 0x1051, "DS", width)
                         .bytes();
        auto img = decode_dicom(bytes, "window.dcm");
        EXPECT_TRUE(img) << img.error().message();
        return img ? img->info : ImageInfo{};
    };
    const ImageInfo a = with_window("40\\-600", "400\\1500");
    EXPECT_TRUE(a.has_window);
    EXPECT_DOUBLE_EQ(a.window_center, 40);
    EXPECT_DOUBLE_EQ(a.window_width, 400);
    const ImageInfo b = with_window(" +1.5E2", "3e2 ");
    EXPECT_TRUE(b.has_window);
    EXPECT_DOUBLE_EQ(b.window_center, 150);
    EXPECT_DOUBLE_EQ(b.window_width, 300);
    EXPECT_FALSE(with_window("40", "0").has_window);
    EXPECT_FALSE(with_window("forty", "400").has_window);
}

TEST(Decode, MrSmallGeometry) {
    const Image img = must_read(pydicom_file("MR_small.dcm"));
    EXPECT_EQ(img.geometry.rows, 64u);
    EXPECT_EQ(img.geometry.columns, 64u);
    EXPECT_EQ(img.geometry.frames, 1u);
    EXPECT_EQ(img.geometry.samples_per_pixel, 1);
    EXPECT_EQ(img.geometry.bits_allocated, 16);
    EXPECT_EQ(img.geometry.bits_stored, 16);
    EXPECT_EQ(img.geometry.pixel_representation, 1);
    EXPECT_EQ(img.geometry.photometric, "MONOCHROME2");
    EXPECT_EQ(img.info.modality, "MR");
    EXPECT_EQ(img.info.transfer_syntax_uid, "1.2.840.10008.1.2.1");
    EXPECT_EQ(img.pixels.size(), 64u * 64u * 2u);
}

TEST(Decode, EveryShippedEncodingOfMrSmallGivesTheSameSamples) {
    const Image reference = must_read(pydicom_file("MR_small.dcm"));
    std::set<std::string> syntaxes;
    for (const char* name : kMrSmallEncodings) {
        SCOPED_TRACE(name);
        const Image img = must_read(pydicom_file(name));
        syntaxes.insert(img.info.transfer_syntax_uid);
        EXPECT_EQ(img.geometry.rows, reference.geometry.rows);
        EXPECT_EQ(img.geometry.photometric, reference.geometry.photometric);
        EXPECT_TRUE(img.pixels == reference.pixels);
    }
    EXPECT_EQ(syntaxes.size(), 6u);  // LE explicit, LE implicit, BE, RLE, JPEG-LS, J2K
}

TEST(Decode, ToolMadeLosslessVariantsOfMrSmallGiveTheSameSamples) {
    ScratchDir dir;
    const Image reference = must_read(pydicom_file("MR_small.dcm"));
    std::set<std::string> syntaxes;
    for (const auto& v :
         testing::make_lossless_variants(pydicom_file("MR_small.dcm"), dir.path())) {
        SCOPED_TRACE(v.command);
        const Image img = must_read(v.path);
        syntaxes.insert(img.info.transfer_syntax_uid);
        EXPECT_FALSE(img.info.lossy_source);
        EXPECT_TRUE(img.pixels == reference.pixels);
        EXPECT_EQ(hash_image(img, nullptr), hash_image(reference, nullptr));
    }
    // explicit LE, implicit LE, BE, deflated, RLE, JPEG lossless, JPEG-LS, JPEG 2000
    EXPECT_GE(syntaxes.size(), 8u);
}

TEST(Decode, ColourRleAndItsLosslessVariantsAgreeIncludingPlanar) {
    ScratchDir dir;
    const Image reference = must_read(pydicom_file("SC_rgb_rle.dcm"));
    EXPECT_EQ(reference.geometry.samples_per_pixel, 3);
    EXPECT_EQ(reference.geometry.photometric, "RGB");
    bool saw_planar = false;
    for (const auto& v :
         testing::make_lossless_variants(pydicom_file("SC_rgb_rle.dcm"), dir.path(), true)) {
        SCOPED_TRACE(v.command);
        const Image img = must_read(v.path);
        saw_planar = saw_planar || img.info.planar_configuration_in_file == 1;
        EXPECT_EQ(img.geometry.photometric, "RGB");
        EXPECT_TRUE(img.pixels == reference.pixels);
    }
    EXPECT_TRUE(saw_planar);
    // A corner pixel, read through the canonical layout: 100x100 RGB, pixel (0,0) is red in
    // pydicom's SC_rgb test image (its top band is pure red).
    EXPECT_EQ(reference.pixels[0], 255);
    EXPECT_EQ(reference.pixels[1], 0);
    EXPECT_EQ(reference.pixels[2], 0);
}

TEST(Decode, MultiFrameColour) {
    ScratchDir dir;
    const Image img = must_read(pydicom_file("SC_rgb_rle_2frame.dcm"));
    EXPECT_EQ(img.geometry.frames, 2u);
    EXPECT_EQ(img.geometry.samples_per_pixel, 3);
    EXPECT_EQ(img.pixels.size(), 2u * 100 * 100 * 3);
    const auto raw = dir / "raw.dcm";
    ASSERT_EQ(
        testing::run_command("dcmdrle " + testing::quote(pydicom_file("SC_rgb_rle_2frame.dcm")) +
                             " " + testing::quote(raw))
            .exit_code,
        0);
    EXPECT_TRUE(must_read(raw).pixels == img.pixels);
    // The second frame of pydicom's 2-frame files is the first one inverted.
    const auto f0 = img.frame(0);
    const auto f1 = img.frame(1);
    for (std::size_t i = 0; i < 30; ++i)
        EXPECT_EQ(f0[i] + f1[i], 255);
}

// Multi-byte colour RLE (GDCM 3.0.21 orders its byte segments wrongly, so RLE is decoded by
// DCMTK): 16-bit RGB, two frames, and 32-bit RGB agree with DCMTK's dcmdrle tool.
TEST(Decode, MultiByteColourRleMatchesDcmdrle) {
    ScratchDir dir;
    for (const char* name : {"SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_rle_16bit.dcm",
                             "SC_rgb_rle_32bit.dcm", "SC_rgb_rle_32bit_2frame.dcm"}) {
        SCOPED_TRACE(name);
        const Image rle = must_read(pydicom_file(name));
        const auto raw = dir / (std::string(name) + ".raw.dcm");
        ASSERT_EQ(testing::run_command("dcmdrle " + testing::quote(pydicom_file(name)) + " " +
                                       testing::quote(raw))
                      .exit_code,
                  0);
        const Image img = must_read(raw);
        EXPECT_TRUE(img.pixels == rle.pixels);
        EXPECT_EQ(img.geometry.samples_per_pixel, 3);
        // First pixel red: the top bytes of R are all ones, G and B are zero.
        const std::size_t w = img.geometry.sample_bytes();
        EXPECT_EQ(img.pixels[w - 1], 0xFF);
        EXPECT_EQ(img.pixels[2 * w - 1], 0x00);
        EXPECT_EQ(img.pixels[3 * w - 1], 0x00);
        if (img.geometry.frames == 2) {
            EXPECT_EQ(img.frame(1)[w - 1], 0x00);  // frame 2 is frame 1 inverted
            EXPECT_EQ(img.frame(1)[2 * w - 1], 0xFF);
        }
    }
}

TEST(Decode, ThirtyTwoBitMonochromeRleMatchesDcmtk) {
    ScratchDir dir;
    const Image img = must_read(pydicom_file("rtdose_rle.dcm"));
    EXPECT_EQ(img.geometry.bits_allocated, 32);
    EXPECT_EQ(img.geometry.frames, 15u);
    const auto raw = dir / "raw.dcm";
    ASSERT_EQ(testing::run_command("dcmdrle " + testing::quote(pydicom_file("rtdose_rle.dcm")) +
                                   " " + testing::quote(raw))
                  .exit_code,
              0);
    EXPECT_TRUE(must_read(raw).pixels == img.pixels);
}

TEST(Decode, DeflatedAndLossyJpegDecode) {
    const Image deflated = must_read(pydicom_file("image_dfl.dcm"));
    EXPECT_EQ(deflated.info.transfer_syntax_uid, "1.2.840.10008.1.2.1.99");
    const Image lossy = must_read(pydicom_file("JPGExtended.dcm"));
    EXPECT_EQ(lossy.info.transfer_syntax_uid, "1.2.840.10008.1.2.4.51");
    EXPECT_TRUE(lossy.info.lossy_source);
    EXPECT_EQ(lossy.geometry.bits_stored, 12);
    const Image j2k = must_read(pydicom_file("JPEG2000.dcm"));
    EXPECT_EQ(j2k.info.transfer_syntax_uid, "1.2.840.10008.1.2.4.91");
}

TEST(Decode, CtModalityLutGivesHounsfieldUnitsAsASeparateStep) {
    const Image ct = must_read(pydicom_file("CT_small.dcm"));
    EXPECT_EQ(ct.info.modality, "CT");
    ASSERT_TRUE(ct.info.has_rescale);
    // CT_small carries Rescale Slope 1 and Intercept -1024 (checked with dcmdump below).
    const auto dump = testing::run_command("dcmdump +P 0028,1052 +P 0028,1053 " +
                                           testing::quote(pydicom_file("CT_small.dcm")));
    EXPECT_NE(dump.output.find("[-1024]"), std::string::npos) << dump.output;
    EXPECT_DOUBLE_EQ(ct.info.rescale_intercept, -1024.0);
    EXPECT_DOUBLE_EQ(ct.info.rescale_slope, 1.0);
    auto hu = apply_modality_lut(ct);
    ASSERT_TRUE(hu.ok());
    ASSERT_EQ(hu->size(), 128u * 128u);
    float lo = 1e9f;
    float hi = -1e9f;
    for (std::size_t i = 0; i < hu->size(); ++i) {
        EXPECT_FLOAT_EQ((*hu)[i], float(stored_value(ct, i) - 1024.0));
        lo = std::min(lo, (*hu)[i]);
        hi = std::max(hi, (*hu)[i]);
    }
    // A body CT slice: air near -1000 HU, nothing denser than bone.
    EXPECT_LT(lo, -800.0f);
    EXPECT_GT(hi, 0.0f);
    EXPECT_LT(hi, 4000.0f);
    // The stored values themselves are untouched by the LUT step.
    EXPECT_TRUE(must_read(pydicom_file("CT_small.dcm")).pixels == ct.pixels);
}

TEST(Decode, ModalityLutRefusesColour) {
    const Image rgb = must_read(pydicom_file("SC_rgb_rle.dcm"));
    auto values = apply_modality_lut(rgb);
    ASSERT_FALSE(values.ok());
    EXPECT_EQ(values.error().code(), ErrorCode::kUnsupported);
}

// PNG, TIFF and JPEG through OpenCV: DCMTK's dcmj2pnm renders pydicom's RGB test image to each
// format; the lossless ones decode to exactly the DICOM file's samples (and hash the same), the
// lossy one has the same geometry.
TEST(Decode, PngTiffJpegThroughOpenCv) {
    ScratchDir dir;
    const auto source = pydicom_file("SC_rgb_rle.dcm");
    const Image dicom = must_read(source);
    for (const auto& [flag, name] :
         {std::pair{"+on", "img.png"}, std::pair{"+ot", "img.tif"}, std::pair{"+oj", "img.jpg"}}) {
        SCOPED_TRACE(name);
        const auto out = dir / name;
        ASSERT_EQ(testing::run_command(std::string("dcmj2pnm ") + flag + " " +
                                       testing::quote(source) + " " + testing::quote(out))
                      .exit_code,
                  0);
        const Image img = must_read(out);
        EXPECT_EQ(img.geometry.rows, 100u);
        EXPECT_EQ(img.geometry.columns, 100u);
        EXPECT_EQ(img.geometry.samples_per_pixel, 3);
        EXPECT_EQ(img.geometry.photometric, "RGB");
        if (std::string(name) != "img.jpg") {
            EXPECT_TRUE(img.pixels == dicom.pixels);
            EXPECT_EQ(hash_image(img, nullptr), hash_image(dicom, nullptr));
        } else {
            EXPECT_TRUE(img.info.lossy_source);
        }
    }
}

// A valid CT with an overlay and Overlay Comments used to abort the process inside GDCM
// (gdcm::Overlay::Update asserts on (6000,4000)). Overlays are not part of the image: the file
// decodes to CT_small's pixels and hash. In a child process, so an abort fails this test only.
TEST(Decode, OverlayWithCommentsDecodesToTheSameImage) {
    ScratchDir dir;
    const auto file = testing::make_overlay_ct(dir.path());
    const auto reference = must_read(pydicom_file("CT_small.dcm"));
    const auto outcome = testing::run_in_child([&] {
        auto img = read_image(file);
        if (!img.ok())
            return 1;
        return hash_image(*img, nullptr) == hash_image(reference, nullptr) ? 0 : 2;
    });
    ASSERT_TRUE(outcome.exited) << "killed by signal " << outcome.signal;
    EXPECT_EQ(outcome.code, 0);
}

// The byte offset where the data set of a Part 10 file starts: after the preamble, "DICM" and
// the meta group, whose length (0002,0000) is the first element's value.
std::size_t data_set_offset(const std::vector<std::uint8_t>& bytes) {
    const std::size_t length = bytes[140] | bytes[141] << 8 | bytes[142] << 16 | bytes[143] << 24;
    return 144 + length;
}

// Archives hold data sets without the Part 10 preamble (and often without meta): the transfer
// syntax is detected as DCMTK detects it, the pixels are the same, and a warning says so.
TEST(Decode, DataSetsWithoutPreambleDecodeLikeTheirPart10Files) {
    const Image reference = must_read(pydicom_file("MR_small.dcm"));
    for (const char* name : {"MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"}) {
        SCOPED_TRACE(name);
        const auto whole = testing::read_bytes(pydicom_file(name));
        const std::vector<std::uint8_t> no_preamble(whole.begin() + 132, whole.end());
        const std::vector<std::uint8_t> bare(whole.begin() + data_set_offset(whole), whole.end());
        for (const auto* bytes : {&no_preamble, &bare}) {
            EXPECT_EQ(sniff_magic(*bytes), Magic::kDicom);
            auto img = decode_image(*bytes, "bare.dcm");
            ASSERT_TRUE(img.ok()) << img.error().message();
            EXPECT_TRUE(img->pixels == reference.pixels);
            ASSERT_EQ(img->info.warnings.size(), 1u);
            EXPECT_EQ(img->info.warnings[0].kind, WarningKind::kNoPreamble);
        }
    }
}

// pydicom's rtdose_1frame.dcm carries a Frame Increment Pointer but no Number of Frames: one
// frame, read as one, with a warning; pydicom (an independent decoder) reads the same values.
TEST(Decode, FrameIncrementPointerWithoutNumberOfFramesIsOneFrame) {
    ScratchDir dir;
    for (const char* name : {"rtdose_1frame.dcm", "rtdose_rle_1frame.dcm"}) {
        SCOPED_TRACE(name);
        const Image img = must_read(pydicom_file(name));
        EXPECT_EQ(img.geometry.frames, 1u);
        ASSERT_EQ(img.info.warnings.size(), 1u);
        EXPECT_EQ(img.info.warnings[0].kind, WarningKind::kFramesAssumed);
        const auto file = pydicom_file(name);
        EXPECT_EQ(to_hex(img.pixels), testing::pydicom_samples(dir.path(), {file}).at(file));
    }
}

// Sequences nested deeper than 8 levels (the old limit) and up to DCMTK's 64 are read, with
// defined and undefined lengths, and de-identified.
TEST(Decode, SequencesNestedUpToSixtyFourLevelsAreRead) {
    ScratchDir dir;
    for (const int depth : {9, 64}) {
        for (const bool defined : {false, true}) {
            SCOPED_TRACE(std::to_string(depth) + (defined ? " defined" : " undefined"));
            const auto bytes =
                testing::DicomBuilder()
                    .image(2, 2, 1, 8, 8, 0, "MONOCHROME2", {1, 2, 3, 4})
                    .add(0x0008, 0x1140, "SQ", testing::nested_sequence_value(depth, defined))
                    .bytes();
            auto img = decode_image(bytes, "nested.dcm");
            ASSERT_TRUE(img.ok()) << img.error().message();
            EXPECT_EQ(img->pixels, (std::vector<std::uint8_t>{1, 2, 3, 4}));
            testing::write_bytes(dir / "nested.dcm", bytes);
            auto done =
                deidentify_file(dir / "nested.dcm", dir / "out.dcm", {}, UidRemapper::random());
            ASSERT_TRUE(done.ok()) << done.error().message();
        }
    }
}

}  // namespace
}  // namespace medanchor::image

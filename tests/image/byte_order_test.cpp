// Pixel kinds and byte orders (issue 11 item 10): every lossless variant DCMTK and GDCM make of
// 8-, 16- and 32-bit, signed and unsigned, single- and multi-frame images, in every transfer
// syntax the tools can write for them, decodes to the samples pydicom (an independent decoder)
// reads from the original, and hashes the same. 32-bit pixel data in Explicit VR Big Endian,
// which readers disagree on, is read the way PS3.5 specifies (docs/image-hash.md) and flagged.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "common/encoding.h"
#include "image/image_hash.h"
#include "image/reader.h"
#include "test_support.h"

namespace medanchor::image {
namespace {

using testing::pydicom_file;
using testing::quote;
using testing::run_command;
using testing::ScratchDir;

struct Recipe {
    const char* name;
    const char* command;  // IN and OUT are replaced by the paths
    int max_bits;         // the largest Bits Allocated the transfer syntax (or the tool) holds
    bool pydicom_reads;   // pydicom 2.3 decodes this transfer syntax without plugins
};

// Every lossless transfer syntax the Debian tools write. JPEG lossless and JPEG-LS hold at most
// 16 bits; JPEG 2000 holds 32 and GDCM writes it, but OpenJPEG (our decoder) reads at most 31.
constexpr Recipe kRecipes[] = {
    {"dcmconv+ti", "dcmconv +ti IN OUT", 32, true},
    {"dcmconv+te", "dcmconv +te IN OUT", 32, true},
    {"dcmconv+tb", "dcmconv +tb IN OUT", 32, true},
    {"dcmconv+td", "dcmconv +td IN OUT", 32, true},
    {"dcmcrle", "dcmcrle IN OUT", 32, true},
    {"dcmcjpeg+e1", "dcmcjpeg +e1 IN OUT", 16, false},
    {"dcmcjpls", "dcmcjpls IN OUT", 16, false},
    {"gdcmconv-raw", "gdcmconv --raw IN OUT", 32, true},
    {"gdcmconv-implicit", "gdcmconv --implicit IN OUT", 32, true},
    {"gdcmconv-deflated", "gdcmconv --deflated IN OUT", 32, true},
    {"gdcmconv-rle", "gdcmconv --rle IN OUT", 32, true},
    {"gdcmconv-jpeg", "gdcmconv --jpeg IN OUT", 16, false},
    {"gdcmconv-jpegls", "gdcmconv --jpegls IN OUT", 16, false},
    {"gdcmconv-j2k", "gdcmconv --j2k IN OUT", 32, false},
};

// Runs tools/fixtures/SCRIPT (pydicom) with OUT_DIR as its argument.
testing::CommandResult write_fixtures(const char* script, const std::filesystem::path& out_dir) {
    return run_command(
        "/usr/bin/python3 " +
        quote(std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "tools" / "fixtures" / script) + " " +
        quote(out_dir));
}

std::string fill(std::string command, const std::filesystem::path& in,
                 const std::filesystem::path& out) {
    command.replace(command.find("IN"), 2, quote(in));
    command.replace(command.find("OUT"), 3, quote(out));
    return command;
}

TEST(ByteOrder, EveryLosslessVariantOfEveryPixelKindDecodesToPydicomsValues) {
    ScratchDir dir;
    const auto gen = write_fixtures("pixel_matrix.py", dir.path());
    ASSERT_EQ(gen.exit_code, 0) << gen.output;
    std::vector<std::filesystem::path> sources;
    for (const int bits : {8, 16, 32})
        for (const char* sign : {"u", "s"})
            for (const int frames : {1, 3})
                sources.push_back(
                    dir / ("b" + std::to_string(bits) + sign + std::to_string(frames) + ".dcm"));
    // Make every variant first, so pydicom runs once over all of them.
    struct Made {
        std::filesystem::path source, path;
        const Recipe* recipe;
        int bits;
    };
    std::vector<Made> made;
    std::vector<std::filesystem::path> for_pydicom(sources);
    for (const auto& source : sources) {
        const int bits = std::stoi(source.stem().string().substr(1));
        for (const auto& recipe : kRecipes) {
            if (bits > recipe.max_bits)
                continue;
            const auto out = dir / (source.stem().string() + "-" + recipe.name + ".dcm");
            const auto r = run_command(fill(recipe.command, source, out));
            ASSERT_EQ(r.exit_code, 0) << fill(recipe.command, source, out) << ": " << r.output;
            made.push_back({source, out, &recipe, bits});
            // pydicom and PS3.5 disagree on 32-bit big endian: pydicom is not the oracle there.
            const bool big = std::string(recipe.name) == "dcmconv+tb";
            if (recipe.pydicom_reads && !(big && bits == 32))
                for_pydicom.push_back(out);
        }
    }
    const auto expected = testing::pydicom_samples(dir.path(), for_pydicom);
    ASSERT_EQ(expected.size(), for_pydicom.size());
    std::set<std::string> syntaxes;
    std::size_t checked = 0;
    for (const auto& m : made) {
        SCOPED_TRACE(m.path.filename().string());
        auto original = read_image(m.source);
        ASSERT_TRUE(original.ok()) << original.error().message();
        EXPECT_EQ(to_hex(original->pixels), expected.at(m.source.string()));
        auto img = read_image(m.path);
        if (std::string(m.recipe->name) == "gdcmconv-j2k" && m.bits == 32) {
            // A clean refusal, by name, not OpenJPEG's messages on stderr.
            ASSERT_FALSE(img.ok());
            EXPECT_EQ(img.error().code(), ErrorCode::kUnsupported);
            EXPECT_NE(img.error().message().find("32-bit samples"), std::string::npos);
            continue;
        }
        ASSERT_TRUE(img.ok()) << img.error().message();
        syntaxes.insert(img->info.transfer_syntax_uid);
        EXPECT_EQ(to_hex(img->pixels), expected.at(m.source.string()));
        if (expected.count(m.path.string())) {
            EXPECT_EQ(expected.at(m.path.string()), expected.at(m.source.string()));
        }
        EXPECT_EQ(hash_image(*img, nullptr), hash_image(*original, nullptr));
        const bool flagged = !img->info.warnings.empty() &&
                             img->info.warnings[0].kind == WarningKind::kBigEndianWordOrder;
        EXPECT_EQ(flagged, std::string(m.recipe->name) == "dcmconv+tb" && m.bits == 32);
        ++checked;
    }
    EXPECT_GE(checked, 12u * 10);
    // explicit LE, implicit LE, big endian, deflated, RLE, JPEG lossless, JPEG-LS, JPEG 2000
    EXPECT_GE(syntaxes.size(), 8u);
}

// pydicom's rtdose_expb.dcm stores 32-bit doses big-endian per 32-bit value; PS3.5 (OW: 16-bit
// words, each byte-swapped; a cell crossing a word continues in the next word) and DCMTK read it
// per 16-bit word. medanchor follows PS3.5: its values are those DCMTK's own conversion to little
// endian gives (read back by pydicom), they differ from pydicom's reading of the big-endian file,
// and the file is flagged so the disagreement is never silent.
TEST(ByteOrder, ThirtyTwoBitBigEndianIsReadAsPs35SaysAndFlagged) {
    ScratchDir dir;
    const auto expb = pydicom_file("rtdose_expb.dcm");
    const auto le = dir / "rtdose_expb_le.dcm";
    ASSERT_EQ(run_command("dcmconv +te " + quote(expb) + " " + quote(le)).exit_code, 0);
    const auto values = testing::pydicom_samples(dir.path(), {le, expb});
    auto img = read_image(expb);
    ASSERT_TRUE(img.ok()) << img.error().message();
    EXPECT_EQ(to_hex(img->pixels), values.at(le.string()));
    EXPECT_NE(to_hex(img->pixels), values.at(expb.string()));
    ASSERT_EQ(img->info.warnings.size(), 1u);
    EXPECT_EQ(img->info.warnings[0].kind, WarningKind::kBigEndianWordOrder);
    EXPECT_NE(img->info.warnings[0].message.find("Bits Allocated 32"), std::string::npos);
    // 16-bit big endian is read alike by everyone: no flag.
    auto mr = read_image(pydicom_file("MR_small_bigendian.dcm"));
    ASSERT_TRUE(mr.ok());
    EXPECT_TRUE(mr->info.warnings.empty());
}

// 8-bit samples with VR OW in big endian (DCMTK writes OB, which byte order does not touch; other
// writers use OW): two samples per 16-bit word, the first in the low byte (PS3.5 Annex D), so the
// bytes of each pair are swapped in the file. Written here by pydicom with the pairs swapped.
constexpr char kEightBitOwBigEndian[] = R"PY(
import sys, pydicom
from pydicom.uid import ExplicitVRBigEndian
ds = pydicom.dcmread(sys.argv[1])
data = bytearray(ds.PixelData)
data[0::2], data[1::2] = data[1::2], data[0::2]
ds.PixelData = bytes(data)
ds['PixelData'].VR = 'OW'
ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
ds.is_little_endian = False
ds.save_as(sys.argv[2], write_like_original=False)
)PY";

TEST(ByteOrder, EightBitOwBigEndianIsReadPerWordAndFlagged) {
    ScratchDir dir;
    ASSERT_EQ(write_fixtures("pixel_matrix.py", dir.path()).exit_code, 0);
    {
        std::ofstream script(dir / "ow.py");
        script << kEightBitOwBigEndian;
    }
    const auto r = run_command("/usr/bin/python3 " + quote(dir / "ow.py") + " " +
                               quote(dir / "b8u1.dcm") + " " + quote(dir / "ow.dcm"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto original = read_image(dir / "b8u1.dcm");
    auto ow = read_image(dir / "ow.dcm");
    ASSERT_TRUE(original.ok() && ow.ok()) << (ow.ok() ? "" : ow.error().message());
    EXPECT_EQ(ow->info.transfer_syntax_uid, "1.2.840.10008.1.2.2");
    EXPECT_TRUE(ow->pixels == original->pixels);
    ASSERT_EQ(ow->info.warnings.size(), 1u);
    EXPECT_EQ(ow->info.warnings[0].kind, WarningKind::kBigEndianWordOrder);
}

// Bits Stored narrower than Bits Allocated, at the bottom of the word or higher up, with random
// bits in every unused position: each decodes to the samples PS3.5 8.1.1 defines (computed by
// the fixture with numpy), grey and colour (RGB and YBR_FULL, planar or not). GDCM's own raw
// codec aborted the process (an assert) on 8-bit words with fewer stored bits and on 32-bit
// words with fewer than 32; what still goes to it (big-endian native data) is refused instead.
TEST(ByteOrder, NarrowStoredBitsDecodeToTheirDefinedSamples) {
    ScratchDir dir;
    const auto gen = write_fixtures("stored_bits.py", dir.path());
    ASSERT_EQ(gen.exit_code, 0) << gen.output;
    int checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        if (entry.path().extension() != ".dcm")
            continue;
        SCOPED_TRACE(entry.path().filename().string());
        auto img = read_image(entry.path());
        ASSERT_TRUE(img.ok()) << img.error().message();
        auto expected =
            testing::read_bytes(std::filesystem::path(entry.path()).replace_extension(".expected"));
        ASSERT_EQ(img->pixels.size(), expected.size());
        const auto first = std::mismatch(img->pixels.begin(), img->pixels.end(), expected.begin());
        EXPECT_TRUE(first.first == img->pixels.end())
            << "first difference at byte " << (first.first - img->pixels.begin()) << ": "
            << int(*first.first) << " decoded, " << int(*first.second) << " expected";
        ++checked;
    }
    EXPECT_EQ(checked, 32 + 16);
    int refused = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "refused")) {
        SCOPED_TRACE(entry.path().filename().string());
        auto img = read_image(entry.path());
        ASSERT_FALSE(img.ok());
        EXPECT_EQ(img.error().code(), ErrorCode::kUnsupported) << img.error().message();
        EXPECT_NE(img.error().message().find("not decoded"), std::string::npos);
        ++refused;
    }
    EXPECT_EQ(refused, 2);
}

}  // namespace
}  // namespace medanchor::image

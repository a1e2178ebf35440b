// The canonical image hash against its specification (docs/image-hash.md): the test vectors are
// read from the document itself, rebuilt by hand from the spec, digested by the openssl tool, and
// checked against medanchor's decoder and hasher; the real-file vector is recomputed with
// pydicom, an independent DICOM reader. Then the properties: lossless re-encodings and metadata
// edits keep the hash, a one-pixel change alters it.
#include "image/image_hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "image/reader.h"
#include "test_support.h"
#include "variants.h"

namespace medanchor::image {
namespace {

using testing::pydicom_file;
using testing::quote;
using testing::run_command;
using testing::ScratchDir;

constexpr char kTestKeyHex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

SiteKey test_key() {
    std::array<std::uint8_t, 32> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<std::uint8_t>(i);
    return SiteKey::from_bytes(bytes);
}

// The ```vector blocks of docs/image-hash.md, by name.
std::map<std::string, std::map<std::string, std::string>> doc_vectors() {
    std::ifstream in(std::string(MEDANCHOR_SOURCE_DIR) + "/docs/image-hash.md");
    std::map<std::string, std::map<std::string, std::string>> vectors;
    std::map<std::string, std::string> current;
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        if (line == "```vector") {
            inside = true;
            current.clear();
        } else if (inside && line == "```") {
            inside = false;
            vectors[current["name"]] = current;
        } else if (inside) {
            const auto colon = line.find(": ");
            if (colon != std::string::npos)
                current[line.substr(0, colon)] = line.substr(colon + 2);
        }
    }
    return vectors;
}

// `openssl dgst` over a file: the digest hex, computed outside medanchor.
std::string openssl_digest(const std::filesystem::path& file, bool keyed) {
    const std::string cmd =
        std::string("openssl dgst -sha256 ") +
        (keyed ? std::string("-mac HMAC -macopt hexkey:") + kTestKeyHex + " " : "") + "-r " +
        quote(file);
    const auto r = run_command(cmd);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output.substr(0, 64);
}

// Canonical bytes built by hand from the spec's table (not through canonical_header()).
std::vector<std::uint8_t> by_hand(std::uint32_t rows, std::uint32_t cols, std::uint32_t frames,
                                  std::uint16_t spp, std::uint16_t ba, std::uint16_t bs,
                                  std::uint16_t pr, const std::string& pi,
                                  const std::vector<std::uint8_t>& pixels) {
    std::vector<std::uint8_t> out;
    const std::string magic = "MEDANCHOR-IMG-V1";
    out.insert(out.end(), magic.begin(), magic.end());
    auto le = [&](std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i)
            out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    le(rows, 4);
    le(cols, 4);
    le(frames, 4);
    le(spp, 2);
    le(ba, 2);
    le(bs, 2);
    le(pr, 2);
    std::string padded = pi;
    padded.resize(16, '\0');
    out.insert(out.end(), padded.begin(), padded.end());
    le(pixels.size(), 8);
    out.insert(out.end(), pixels.begin(), pixels.end());
    return out;
}

void check_vector(const std::string& name, const std::vector<std::uint8_t>& dicom,
                  const std::vector<std::uint8_t>& expected_canonical) {
    SCOPED_TRACE(name);
    const auto vectors = doc_vectors();
    ASSERT_TRUE(vectors.count(name)) << "vector missing from docs/image-hash.md";
    const auto& v = vectors.at(name);
    // The document's canonical bytes are the spec's, built by hand here.
    EXPECT_EQ(to_hex(expected_canonical), v.at("canonical"));
    // openssl agrees with the document's digests.
    ScratchDir dir;
    testing::write_bytes(dir / "canonical.bin", expected_canonical);
    EXPECT_EQ(openssl_digest(dir / "canonical.bin", false), v.at("sha256"));
    EXPECT_EQ(openssl_digest(dir / "canonical.bin", true), v.at("hmac-sha256"));
    // medanchor, from the DICOM bytes, agrees with both.
    auto img = decode_image(dicom, name);
    ASSERT_TRUE(img.ok()) << img.error().message();
    const auto header = canonical_header(img->geometry, img->pixels.size());
    std::vector<std::uint8_t> canonical(header.begin(), header.end());
    canonical.insert(canonical.end(), img->pixels.begin(), img->pixels.end());
    EXPECT_EQ(to_hex(canonical), v.at("canonical"));
    EXPECT_EQ(hash_image(*img, nullptr).hex(), v.at("sha256"));
    const SiteKey key = test_key();
    EXPECT_EQ(hash_image(*img, &key).hex(), v.at("hmac-sha256"));
    EXPECT_EQ(hash_image(*img, &key).to_string(), "hmac-sha256:" + v.at("hmac-sha256"));
}

TEST(ImageHashVectors, Mono12SignedMasksUnusedBitsAndSignExtends) {
    // 0, 1, -1, 2047, -2048, 100 as 12-bit two's complement with 1010 in the top four bits.
    const std::uint16_t stored[] = {0xA000, 0xA001, 0xAFFF, 0xA7FF, 0xA800, 0xA064};
    std::vector<std::uint8_t> file_pixels;
    for (auto s : stored) {
        file_pixels.push_back(static_cast<std::uint8_t>(s));
        file_pixels.push_back(static_cast<std::uint8_t>(s >> 8));
    }
    const auto dicom =
        testing::DicomBuilder().image(2, 3, 1, 16, 12, 1, "MONOCHROME2", file_pixels).bytes();
    std::vector<std::uint8_t> canonical_pixels;
    for (int v : {0, 1, -1, 2047, -2048, 100}) {
        const auto u = static_cast<std::uint16_t>(static_cast<std::int16_t>(v));
        canonical_pixels.push_back(static_cast<std::uint8_t>(u));
        canonical_pixels.push_back(static_cast<std::uint8_t>(u >> 8));
    }
    check_vector("mono12-signed", dicom,
                 by_hand(2, 3, 1, 1, 16, 12, 1, "MONOCHROME2", canonical_pixels));
}

TEST(ImageHashVectors, Rgb8PlanarIsInterleaved) {
    const std::vector<std::uint8_t> planar = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
    const auto dicom = testing::DicomBuilder().image(2, 2, 3, 8, 8, 0, "RGB", planar, 1, 1).bytes();
    const std::vector<std::uint8_t> interleaved = {10, 50, 90,  20, 60, 100,
                                                   30, 70, 110, 40, 80, 120};
    check_vector("rgb8-planar", dicom, by_hand(2, 2, 1, 3, 8, 8, 0, "RGB", interleaved));
}

// pydicom (Debian's python3-pydicom, run by Debian's python) computes the canonical form of a
// native little-endian file from the spec, independently of GDCM and of medanchor.
constexpr char kPydicomCanonical[] = R"PY(
import hashlib, struct, sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ba, bs, hb, pr = ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
assert ba == 16 and ds.SamplesPerPixel == 1
words = struct.unpack('<%dH' % (len(ds.PixelData) // 2), ds.PixelData)
n = ds.Rows * ds.Columns * int(ds.get('NumberOfFrames', 1))
out = bytearray()
for w in words[:n]:
    v = (w >> (hb + 1 - bs)) & ((1 << bs) - 1)
    if pr and v & (1 << (bs - 1)):
        v -= 1 << bs
    out += struct.pack('<H', v & 0xFFFF)
pi = ds.PhotometricInterpretation.strip().encode().ljust(16, b'\0')
head = b'MEDANCHOR-IMG-V1' + struct.pack('<IIIHHHH', ds.Rows, ds.Columns,
       int(ds.get('NumberOfFrames', 1)), 1, ba, bs, pr) + pi + struct.pack('<Q', len(out))
print(hashlib.sha256(head + bytes(out)).hexdigest())
)PY";

TEST(ImageHashVectors, RealFileMatchesTheDocumentAndPydicom) {
    const auto vectors = doc_vectors();
    ASSERT_TRUE(vectors.count("MR_small.dcm"));
    const auto& v = vectors.at("MR_small.dcm");
    auto img = read_image(pydicom_file("MR_small.dcm"));
    ASSERT_TRUE(img.ok()) << img.error().message();
    EXPECT_EQ(hash_image(*img, nullptr).hex(), v.at("sha256"));
    const SiteKey key = test_key();
    EXPECT_EQ(hash_image(*img, &key).hex(), v.at("hmac-sha256"));

    ScratchDir dir;
    {
        std::ofstream script(dir / "canonical.py");
        script << kPydicomCanonical;
    }
    for (const char* name : {"MR_small.dcm", "CT_small.dcm"}) {
        SCOPED_TRACE(name);
        const auto r = run_command("/usr/bin/python3 " + quote(dir / "canonical.py") + " " +
                                   quote(pydicom_file(name)));
        ASSERT_EQ(r.exit_code, 0) << r.output;
        auto decoded = read_image(pydicom_file(name));
        ASSERT_TRUE(decoded.ok());
        EXPECT_EQ(hash_image(*decoded, nullptr).hex(), r.output.substr(0, 64));
    }
}

TEST(ImageHash, EveryLosslessVariantHashesEqualKeyedAndPublic) {
    ScratchDir dir;
    const SiteKey key = test_key();
    auto reference = read_image(pydicom_file("MR_small.dcm"));
    ASSERT_TRUE(reference.ok());
    const auto keyed = hash_image(*reference, &key);
    const auto pub = hash_image(*reference, nullptr);
    EXPECT_NE(keyed.hex(), pub.hex());
    for (const auto& v :
         testing::make_lossless_variants(pydicom_file("MR_small.dcm"), dir.path())) {
        SCOPED_TRACE(v.command);
        auto img = read_image(v.path);
        ASSERT_TRUE(img.ok()) << img.error().message();
        EXPECT_EQ(hash_image(*img, &key), keyed);
        EXPECT_EQ(hash_image(*img, nullptr), pub);
    }
}

TEST(ImageHash, LossyJpegDiffersFromItsSource) {
    ScratchDir dir;
    const auto raw = dir / "raw.dcm";
    const auto lossy = dir / "lossy.dcm";
    ASSERT_EQ(
        run_command("gdcmconv --raw " + quote(pydicom_file("SC_rgb_rle.dcm")) + " " + quote(raw))
            .exit_code,
        0);
    ASSERT_EQ(run_command("dcmcjpeg +eb +q 80 " + quote(raw) + " " + quote(lossy)).exit_code, 0);
    auto a = read_image(raw);
    auto b = read_image(lossy);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(b->info.lossy_source);
    EXPECT_NE(hash_image(*a, nullptr), hash_image(*b, nullptr));
}

// Flips the lowest bit of one sample in the file's bytes: sample 1000 of MR_small's native pixel
// data, found by its element header (7FE0,0010) OW in explicit VR little endian.
TEST(ImageHash, OnePixelChangeAltersTheHash) {
    ScratchDir dir;
    auto bytes = testing::read_bytes(pydicom_file("MR_small.dcm"));
    auto original = decode_image(bytes, "original");
    ASSERT_TRUE(original.ok());
    const std::vector<std::uint8_t> header = {0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0};
    const auto at = std::search(bytes.begin(), bytes.end(), header.begin(), header.end());
    ASSERT_NE(at, bytes.end());
    *(at + 12 + 2 * 1000) ^= 0x01;
    auto changed = decode_image(bytes, "changed");
    ASSERT_TRUE(changed.ok());
    std::size_t differing = 0;
    for (std::size_t i = 0; i < original->pixels.size(); ++i) {
        differing += original->pixels[i] != changed->pixels[i];
    }
    EXPECT_EQ(differing, 1u);
    const SiteKey key = test_key();
    EXPECT_NE(hash_image(*original, &key), hash_image(*changed, &key));
    EXPECT_NE(hash_image(*original, nullptr), hash_image(*changed, nullptr));
}

TEST(ImageHash, MetadataEditsKeepTheHash) {
    ScratchDir dir;
    const auto copy = dir / "edited.dcm";
    std::filesystem::copy_file(pydicom_file("CT_small.dcm"), copy);
    const auto r = run_command(
        "dcmodify -nb -ma '(0010,0010)=Someone^Else' -ma '(0008,0020)=19990101' "
        "-ma '(0028,1052)=-1000' -gin " +
        quote(copy));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto a = read_image(pydicom_file("CT_small.dcm"));
    auto b = read_image(copy);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(b->info.rescale_intercept, -1000.0);
    EXPECT_EQ(hash_image(*a, nullptr), hash_image(*b, nullptr));
}

TEST(ImageHash, GeometryEntersTheHash) {
    // The same six bytes read as 2x3 or 3x2 must not hash the same.
    const std::vector<std::uint8_t> px = {1, 2, 3, 4, 5, 6};
    auto a = decode_image(
        testing::DicomBuilder().image(2, 3, 1, 8, 8, 0, "MONOCHROME2", px).bytes(), "a");
    auto b = decode_image(
        testing::DicomBuilder().image(3, 2, 1, 8, 8, 0, "MONOCHROME2", px).bytes(), "b");
    auto c = decode_image(
        testing::DicomBuilder().image(2, 3, 1, 8, 8, 0, "MONOCHROME1", px).bytes(), "c");
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_NE(hash_image(*a, nullptr), hash_image(*b, nullptr));
    EXPECT_NE(hash_image(*a, nullptr), hash_image(*c, nullptr));
}

}  // namespace
}  // namespace medanchor::image

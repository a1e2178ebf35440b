// The UIDs a report cites: read from a de-identified copy they are exactly the site key's
// remapping of the original's, and the SOP Class is kept; a file without them is refused.
#include "image/instance_uids.h"

#include <gtest/gtest.h>

#include "image/deid.h"
#include "image/reader.h"
#include "test_support.h"

namespace medanchor::image {
namespace {

using testing::pydicom_file;
using testing::ScratchDir;

TEST(InstanceUids, DeidentifiedCopyCarriesTheRemappedUids) {
    ScratchDir dir;
    const auto source = pydicom_file("CT_small.dcm");
    auto original = read_instance_uids(source);
    ASSERT_TRUE(original.ok()) << original.error().message();
    EXPECT_EQ(original->sop_class, "1.2.840.10008.5.1.4.1.1.2");

    std::array<std::uint8_t, SiteKey::kSize> secret{};
    secret.fill(7);
    const UidRemapper remapper(SiteKey::from_bytes(secret));
    const auto copy = dir.path() / "deid.dcm";
    ASSERT_TRUE(deidentify_file(source, copy, DeidOptions{}, remapper).ok());
    auto uids = read_instance_uids(copy);
    ASSERT_TRUE(uids.ok()) << uids.error().message();
    EXPECT_EQ(uids->study, remapper.remap(original->study));
    EXPECT_EQ(uids->series, remapper.remap(original->series));
    EXPECT_EQ(uids->sop_instance, remapper.remap(original->sop_instance));
    EXPECT_EQ(uids->sop_class, original->sop_class);
    EXPECT_NE(uids->study, original->study);
    EXPECT_TRUE(uids->study.starts_with("2.25."));
}

// De-identified in memory (what the analysis does, with no copy read back): the same bytes
// deidentify_file writes, and the UIDs read from them.
TEST(InstanceUids, DeidentifiedInMemoryCarriesTheUidsOfItsBytes) {
    ScratchDir dir;
    const auto source = pydicom_file("CT_small.dcm");
    std::array<std::uint8_t, SiteKey::kSize> secret{};
    secret.fill(9);
    const UidRemapper remapper(SiteKey::from_bytes(secret));
    const auto bytes = testing::read_bytes(source);
    auto done = deidentify_in_memory(bytes, source, DeidOptions{}, remapper);
    ASSERT_TRUE(done.ok()) << done.error().message();
    ASSERT_TRUE(done->uids.ok()) << done->uids.error().message();

    const auto copy = dir.path() / "deid.dcm";
    ASSERT_TRUE(deidentify_file(source, copy, DeidOptions{}, remapper).ok());
    const auto written = testing::read_bytes(copy);
    EXPECT_EQ(std::string(written.begin(), written.end()), done->part10);
    auto read_back = read_instance_uids(copy);
    ASSERT_TRUE(read_back.ok()) << read_back.error().message();
    EXPECT_EQ(done->uids->study, read_back->study);
    EXPECT_EQ(done->uids->series, read_back->series);
    EXPECT_EQ(done->uids->sop_instance, read_back->sop_instance);
    EXPECT_EQ(done->uids->sop_class, read_back->sop_class);
    EXPECT_TRUE(done->uids->sop_instance.starts_with("2.25."));
}

TEST(InstanceUids, RefusesWhatIsNotDicom) {
    ScratchDir dir;
    const auto junk = dir.path() / "junk.dcm";
    testing::write_bytes(junk, std::vector<std::uint8_t>(200, 0x41));
    auto r = read_instance_uids(junk);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(r.error().message().find("junk.dcm"), std::string::npos);
}

TEST(InstanceUids, ReadFromMemoryAsFromTheFile) {
    const auto source = pydicom_file("CT_small.dcm");
    auto from_file = read_instance_uids(source);
    ASSERT_TRUE(from_file.ok()) << from_file.error().message();
    const auto bytes = testing::read_bytes(source);
    auto from_memory = read_instance_uids(bytes, "C-STORE from MODALITY");
    ASSERT_TRUE(from_memory.ok()) << from_memory.error().message();
    EXPECT_EQ(from_memory->study, from_file->study);
    EXPECT_EQ(from_memory->series, from_file->series);
    EXPECT_EQ(from_memory->sop_instance, from_file->sop_instance);
    EXPECT_EQ(from_memory->sop_class, from_file->sop_class);

    // Truncated in the middle of the pixel data: refused, under the name the caller gave.
    const std::vector<std::uint8_t> truncated(bytes.begin(), bytes.end() - 1000);
    auto refused = read_instance_uids(truncated, "C-STORE from MODALITY");
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kCorrupt);
    EXPECT_EQ(refused.error().message().rfind("C-STORE from MODALITY: ", 0), 0u)
        << refused.error().message();
}

}  // namespace
// decode_with_instance_uids (one parse: what `analyze` runs on the listener's de-identified
// spool) gives what decode_dicom and then read_instance_uids give one after the other: the same
// pixels, the same UIDs, the same errors. Every DICOM file of pydicom's test set and the overlay
// fixture (whose decoding drops overlays: not a UID among them).
TEST(InstanceUids, DecodedWithTheUidsFromOneParse) {
    ScratchDir dir;
    std::vector<std::filesystem::path> files = {testing::make_overlay_ct(dir.path())};
    for (const auto& entry : std::filesystem::directory_iterator(testing::pydicom_dir())) {
        if (entry.path().extension() == ".dcm")
            files.push_back(entry.path());
    }
    std::size_t both = 0;
    for (const auto& file : files) {
        SCOPED_TRACE(file.filename().string());
        const auto bytes = testing::read_bytes(file);
        if (sniff_magic(bytes) != Magic::kDicom)
            continue;
        const std::string name = file.filename().string();
        auto image = decode_dicom(bytes, name);
        auto once = decode_with_instance_uids(bytes, name, "uids of " + name);
        ASSERT_EQ(once.ok(), image.ok())
            << (once ? image.error().message() : once.error().message());
        if (!once) {
            EXPECT_EQ(once.error().code(), image.error().code());
            EXPECT_EQ(once.error().message(), image.error().message());
            continue;
        }
        EXPECT_EQ(once->image.pixels, image->pixels);
        auto uids = read_instance_uids(bytes, "uids of " + name);
        ASSERT_EQ(once->uids.ok(), uids.ok());
        if (!uids) {
            EXPECT_EQ(once->uids.error().message(), uids.error().message());
            continue;
        }
        EXPECT_EQ(once->uids->study, uids->study);
        EXPECT_EQ(once->uids->series, uids->series);
        EXPECT_EQ(once->uids->sop_instance, uids->sop_instance);
        EXPECT_EQ(once->uids->sop_class, uids->sop_class);
        ++both;
    }
    EXPECT_GE(both, 40u);
}

}  // namespace medanchor::image

// The `medanchor` binary's image commands, run as a user runs them: exit codes from the error
// table, messages on stderr naming the file, JSON output, key-file rules, and the acceptance
// check of issue 3 — identical keyed hashes for lossless variants of one image, a different one
// after a one-pixel change.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../image/test_support.h"
#include "../image/variants.h"

namespace medanchor::app {
namespace {

using testing::pydicom_file;
using testing::quote;
using testing::run_command;
using testing::ScratchDir;

std::string bin() {
    return quote(MEDANCHOR_BINARY);
}

// A site key file with mode 0600, made by the binary itself.
std::filesystem::path make_key(const ScratchDir& dir) {
    const auto key = dir / "site.key";
    const auto r = run_command(bin() + " site-key new " + quote(key));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return key;
}

TEST(ImageCli, LosslessVariantsGiveIdenticalKeyedHashesAndOnePixelChangesIt) {
    ScratchDir dir;
    const auto key = make_key(dir);
    const auto variants = testing::make_lossless_variants(pydicom_file("MR_small.dcm"), dir / "");
    std::string files;
    for (const auto& v : variants)
        files += " " + quote(v.path);
    for (const char* shipped : {"MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                                "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"}) {
        files += " " + quote(pydicom_file(shipped));
    }
    const auto r = run_command(bin() + " hash --key-file " + quote(key) + " --json" + files);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto results = nlohmann::json::parse(r.output);
    ASSERT_EQ(results.size(), variants.size() + 5);
    std::set<std::string> hashes;
    for (const auto& item : results) {
        EXPECT_EQ(item["mode"], "hmac-sha256");
        hashes.insert(item["hash"].get<std::string>());
    }
    EXPECT_EQ(hashes.size(), 1u) << r.output;

    // One pixel: flip the low bit of sample 1000 in a copy.
    auto bytes = testing::read_bytes(pydicom_file("MR_small.dcm"));
    const std::vector<std::uint8_t> header = {0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0};
    const auto at = std::search(bytes.begin(), bytes.end(), header.begin(), header.end());
    ASSERT_NE(at, bytes.end());
    *(at + 12 + 2000) ^= 0x01;
    testing::write_bytes(dir / "changed.dcm", bytes);
    const auto changed =
        run_command(bin() + " hash --key-file " + quote(key) + " " + quote(dir / "changed.dcm"));
    ASSERT_EQ(changed.exit_code, 0) << changed.output;
    EXPECT_EQ(changed.output.rfind("hmac-sha256:", 0), 0u);
    EXPECT_EQ(hashes.count(changed.output.substr(12, 64)), 0u);
}

TEST(ImageCli, PublicHashMatchesTheDocumentedVector) {
    const auto r = run_command(bin() + " hash --public " + quote(pydicom_file("MR_small.dcm")));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.substr(0, 7 + 64),
              "sha256:f339e18408f0ebe041fa52b5ed3c22b48737aae23425101a7f0c15a1debaeb2a");
}

TEST(ImageCli, KeyedIsTheDefaultAndAMissingKeySaysHowToMakeOne) {
    ScratchDir dir;
    const auto r = run_command("env -u MEDANCHOR_SITE_KEY_FILE HOME=" + quote(dir.path()) + " " +
                               bin() + " hash " + quote(pydicom_file("MR_small.dcm")));
    EXPECT_EQ(r.exit_code, 16) << r.output;  // no-key
    EXPECT_NE(r.output.find("medanchor site-key new"), std::string::npos) << r.output;
    // With $MEDANCHOR_SITE_KEY_FILE pointing at a key, it is used.
    const auto key = make_key(dir);
    const auto ok = run_command("MEDANCHOR_SITE_KEY_FILE=" + quote(key) + " " + bin() + " hash " +
                                quote(pydicom_file("MR_small.dcm")));
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_EQ(ok.output.rfind("hmac-sha256:", 0), 0u);
}

TEST(ImageCli, KeyFileReadableByOthersIsRefusedAndNeverPrinted) {
    ScratchDir dir;
    const auto key = make_key(dir);
    const auto secret = testing::read_bytes(key);
    ::chmod(key.c_str(), 0644);
    const auto r = run_command(bin() + " hash --key-file " + quote(key) + " " +
                               quote(pydicom_file("MR_small.dcm")));
    EXPECT_EQ(r.exit_code, 8) << r.output;  // permission
    EXPECT_NE(r.output.find("chmod 600"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(std::string(secret.begin(), secret.begin() + 64)), std::string::npos);
    // site-key new refuses to overwrite.
    ::chmod(key.c_str(), 0600);
    EXPECT_NE(run_command(bin() + " site-key new " + quote(key)).exit_code, 0);
}

TEST(ImageCli, PublicAndKeyFileAreExclusive) {
    const auto r =
        run_command(bin() + " hash --public --key-file x " + quote(pydicom_file("MR_small.dcm")));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("excludes"), std::string::npos) << r.output;
}

struct BadCase {
    const char* what;
    std::vector<std::uint8_t> bytes;
    int exit_code;
    const char* message;
};

TEST(ImageCli, BadInputGivesAClearErrorNamingTheFileAndANonZeroExit) {
    ScratchDir dir;
    auto whole = testing::read_bytes(pydicom_file("MR_small.dcm"));
    std::vector<BadCase> cases = {
        {"empty", {}, 14, "empty file"},
        {"text",
         {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'},
         14,
         "unrecognised format"},
        {"truncated", std::vector<std::uint8_t>(whole.begin(), whole.begin() + 5000), 14,
         "truncated"},
        {"absurd",
         testing::DicomBuilder()
             .image(65535, 65535, 1, 16, 16, 0, "MONOCHROME2", std::vector<std::uint8_t>(64, 1),
                    1000)
             .bytes(),
         7, "over the decoded size limit"},
        {"short-pixels",
         testing::DicomBuilder()
             .image(64, 64, 1, 16, 16, 0, "MONOCHROME2", std::vector<std::uint8_t>(100, 1))
             .bytes(),
         14, "pixel data holds 100 bytes"},
        {"video",
         testing::DicomBuilder()
             .image(4, 4, 1, 8, 8, 0, "MONOCHROME2", std::vector<std::uint8_t>(16, 1))
             .bytes("1.2.840.10008.1.2.4.102"),
         6, "unsupported transfer syntax 1.2.840.10008.1.2.4.102"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        const auto file = dir / (std::string(c.what) + ".dcm");
        testing::write_bytes(file, c.bytes);
        // A 2 GiB address-space cap: an attempt to allocate what an absurd header claims would
        // fail with std::bad_alloc (a crash), not a clean "too large".
        const auto r = run_command("ulimit -v 2000000; " + bin() + " hash --public " + quote(file));
        EXPECT_EQ(r.exit_code, c.exit_code) << r.output;
        EXPECT_NE(r.output.find(file.string() + ": "), std::string::npos) << r.output;
        EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
        const auto inspect = run_command(bin() + " inspect " + quote(file));
        EXPECT_EQ(inspect.exit_code, c.exit_code) << inspect.output;
    }
    const auto missing = run_command(bin() + " hash --public /nonexistent/x.dcm");
    EXPECT_EQ(missing.exit_code, 13);  // not-found
    EXPECT_NE(missing.output.find("/nonexistent/x.dcm: no such file"), std::string::npos);
}

TEST(ImageCli, FoldersAreSearchedRecursivelyAndFailuresDoNotStopTheRun) {
    ScratchDir dir;
    std::filesystem::create_directories(dir / "a" / "b");
    std::filesystem::copy_file(pydicom_file("MR_small.dcm"), dir / "a" / "one.dcm");
    std::filesystem::copy_file(pydicom_file("CT_small.dcm"), dir / "a" / "b" / "two.dcm");
    // Not an image by its magic bytes: skipped in a folder (a truth.csv, a README).
    testing::write_bytes(dir / "a" / "b" / "notes.txt", {'x'});
    // DICOM magic but a broken body: an image that fails, and says so.
    std::vector<std::uint8_t> broken(128, 0);
    broken.insert(broken.end(), {'D', 'I', 'C', 'M', 0x02, 0x00, 0x10});
    testing::write_bytes(dir / "a" / "b" / "broken.dcm", broken);
    const auto r = run_command(bin() + " hash --public " + quote(dir / "a"));
    EXPECT_EQ(r.exit_code, 14) << r.output;  // the broken file's code
    EXPECT_NE(r.output.find("one.dcm"), std::string::npos);
    EXPECT_NE(r.output.find("two.dcm"), std::string::npos);
    EXPECT_NE(r.output.find("broken.dcm"), std::string::npos);
    EXPECT_EQ(r.output.find("notes.txt"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("1 of 3 files failed"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 4) << r.output;
}

TEST(ImageCli, InspectShowsGeometryButNoIdentifiers) {
    // The identifying values of the file, read by pydicom.
    const auto ids = run_command(
        "/usr/bin/python3 -c \"import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); "
        "print(d.PatientName); print(d.PatientID); print(d.StudyInstanceUID); "
        "print(d.SOPInstanceUID)\" " +
        quote(pydicom_file("CT_small.dcm")));
    ASSERT_EQ(ids.exit_code, 0) << ids.output;
    for (const char* flag : {"", " --json"}) {
        const auto r =
            run_command(bin() + " inspect" + flag + " " + quote(pydicom_file("CT_small.dcm")));
        ASSERT_EQ(r.exit_code, 0) << r.output;
        EXPECT_NE(r.output.find("CT"), std::string::npos);
        EXPECT_NE(r.output.find("128"), std::string::npos);
        EXPECT_NE(r.output.find("1.2.840.10008.1.2.1"), std::string::npos);
        std::istringstream lines(ids.output);
        for (std::string id; std::getline(lines, id);) {
            if (id.size() > 3) {
                EXPECT_EQ(r.output.find(id), std::string::npos) << id;
            }
        }
    }
    const auto j = nlohmann::json::parse(
        run_command(bin() + " inspect --json " + quote(pydicom_file("CT_small.dcm"))).output);
    EXPECT_EQ(j["geometry"]["rows"], 128);
    EXPECT_EQ(j["modality_lut"]["intercept"], -1024.0);
}

TEST(ImageCli, DeidWritesACopyWithTheSameHashAndRefusesBurnedIn) {
    ScratchDir dir;
    const auto out = dir / "out" / "ct.dcm";
    const auto r =
        run_command(bin() + " deid " + quote(pydicom_file("CT_small.dcm")) + " " + quote(out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto a = run_command(bin() + " hash --public " + quote(pydicom_file("CT_small.dcm")));
    const auto b = run_command(bin() + " hash --public " + quote(out));
    EXPECT_EQ(a.output.substr(0, 71), b.output.substr(0, 71));
    const auto dump = run_command("dcmdump +P 0010,0010 +P 0012,0062 " + quote(out));
    EXPECT_NE(dump.output.find("(no value available)"), std::string::npos) << dump.output;
    EXPECT_NE(dump.output.find("[YES]"), std::string::npos) << dump.output;

    const auto flagged = dir / "burned.dcm";
    std::filesystem::copy_file(pydicom_file("CT_small.dcm"), flagged);
    ASSERT_EQ(run_command("dcmodify -nb -i '(0028,0301)=YES' " + quote(flagged)).exit_code, 0);
    const auto refused =
        run_command(bin() + " deid " + quote(flagged) + " " + quote(dir / "x.dcm"));
    EXPECT_EQ(refused.exit_code, 8) << refused.output;
    EXPECT_NE(refused.output.find("--allow-burned-in"), std::string::npos) << refused.output;
    EXPECT_EQ(run_command(bin() + " deid --allow-burned-in " + quote(flagged) + " " +
                          quote(dir / "x.dcm"))
                  .exit_code,
              0);
}

TEST(ImageCli, HelpExplains) {
    const auto r = run_command(bin() + " hash --help");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.output.find("--key-file"), std::string::npos);
    EXPECT_NE(r.output.find("--public"), std::string::npos);
}

}  // namespace
}  // namespace medanchor::app

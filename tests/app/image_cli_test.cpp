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
    const auto key = make_key(dir);
    const auto out = dir / "out" / "ct.dcm";
    const auto r = run_command(bin() + " deid --key-file " + quote(key) + " " +
                               quote(pydicom_file("CT_small.dcm")) + " " + quote(out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(testing::dciodvfy_errors(out).empty());
    const auto a = run_command(bin() + " hash --public " + quote(pydicom_file("CT_small.dcm")));
    const auto b = run_command(bin() + " hash --public " + quote(out));
    EXPECT_EQ(a.output.substr(0, 71), b.output.substr(0, 71));
    const auto dump = run_command("dcmdump +P 0010,0010 +P 0012,0062 " + quote(out));
    EXPECT_NE(dump.output.find("(no value available)"), std::string::npos) << dump.output;
    EXPECT_NE(dump.output.find("[YES]"), std::string::npos) << dump.output;

    const auto flagged = dir / "burned.dcm";
    std::filesystem::copy_file(pydicom_file("CT_small.dcm"), flagged);
    ASSERT_EQ(run_command("dcmodify -nb -i '(0028,0301)=YES' " + quote(flagged)).exit_code, 0);
    const auto refused = run_command(bin() + " deid --key-file " + quote(key) + " " +
                                     quote(flagged) + " " + quote(dir / "x.dcm"));
    EXPECT_EQ(refused.exit_code, 8) << refused.output;
    EXPECT_NE(refused.output.find("--allow-burned-in"), std::string::npos) << refused.output;
    EXPECT_EQ(run_command(bin() + " deid --allow-burned-in --key-file " + quote(key) + " " +
                          quote(flagged) + " " + quote(dir / "x.dcm"))
                  .exit_code,
              0);
}

// Without a site key, deid used to remap UIDs under a random secret without a word: a study
// de-identified in two runs fell apart silently. Now it asks for a key, or for --ephemeral-key,
// which it then states on stderr.
TEST(ImageCli, DeidWithoutASiteKeyAsksForOneOrAnExplicitEphemeralKey) {
    ScratchDir dir;
    const std::string env = "env -u MEDANCHOR_SITE_KEY_FILE HOME=" + quote(dir.path()) + " ";
    const auto in = quote(pydicom_file("CT_small.dcm"));
    const auto refused = run_command(env + bin() + " deid " + in + " " + quote(dir / "a.dcm"));
    EXPECT_EQ(refused.exit_code, 16) << refused.output;  // no-key
    EXPECT_NE(refused.output.find("--ephemeral-key"), std::string::npos) << refused.output;
    EXPECT_FALSE(std::filesystem::exists(dir / "a.dcm"));
    const auto ephemeral =
        run_command(env + bin() + " deid --ephemeral-key " + in + " " + quote(dir / "a.dcm"));
    EXPECT_EQ(ephemeral.exit_code, 0) << ephemeral.output;
    EXPECT_NE(ephemeral.output.find("one-off secret"), std::string::npos) << ephemeral.output;
    const auto both = run_command(env + bin() + " deid --ephemeral-key --key-file x " + in + " " +
                                  quote(dir / "b.dcm"));
    EXPECT_EQ(both.exit_code, 2) << both.output;
    // With the site key (here $MEDANCHOR_SITE_KEY_FILE), no notice: UIDs are stable.
    const auto key = make_key(dir);
    const auto keyed = run_command("MEDANCHOR_SITE_KEY_FILE=" + quote(key) + " " + bin() +
                                   " deid " + in + " " + quote(dir / "c.dcm"));
    EXPECT_EQ(keyed.exit_code, 0) << keyed.output;
    EXPECT_EQ(keyed.output.find("one-off"), std::string::npos) << keyed.output;
}

// A batch goes on past every per-file problem: a valid CT with an overlay and Overlay Comments
// (which used to abort the whole process inside GDCM), a damaged file and good files; each is
// hashed or de-identified, the damaged one reported by name.
TEST(ImageCli, OneBadFileInAFolderLeavesTheOthersDone) {
    ScratchDir dir;
    const auto key = make_key(dir);
    std::filesystem::create_directories(dir / "in");
    std::filesystem::copy_file(testing::make_overlay_ct(dir.path()), dir / "in" / "overlay.dcm");
    std::filesystem::copy_file(pydicom_file("MR_small.dcm"), dir / "in" / "mr.dcm");
    std::filesystem::copy_file(pydicom_file("CT_small.dcm"), dir / "in" / "ct.dcm");
    std::vector<std::uint8_t> broken(128, 0);
    broken.insert(broken.end(), {'D', 'I', 'C', 'M', 0x02, 0x00, 0x10});
    testing::write_bytes(dir / "in" / "broken.dcm", broken);
    const auto hashed = run_command(bin() + " hash --public " + quote(dir / "in"));
    EXPECT_EQ(hashed.exit_code, 14) << hashed.output;
    EXPECT_NE(hashed.output.find("1 of 4 files failed"), std::string::npos) << hashed.output;
    // The overlay CT hashes as CT_small: the overlay is not part of the image.
    const auto ct = run_command(bin() + " hash --public " + quote(dir / "in" / "ct.dcm"));
    EXPECT_NE(
        hashed.output.find(ct.output.substr(0, 71) + "  " + (dir / "in" / "overlay.dcm").string()),
        std::string::npos)
        << hashed.output;
    const auto deid = run_command(bin() + " deid --key-file " + quote(key) + " " +
                                  quote(dir / "in") + " " + quote(dir / "out"));
    EXPECT_EQ(deid.exit_code, 14) << deid.output;
    EXPECT_NE(deid.output.find("broken.dcm"), std::string::npos) << deid.output;
    for (const char* name : {"overlay.dcm", "mr.dcm", "ct.dcm"})
        EXPECT_TRUE(std::filesystem::exists(dir / "out" / name)) << name;
    EXPECT_FALSE(std::filesystem::exists(dir / "out" / "broken.dcm"));
}

// Messages: a damaged PNG is reported in medanchor's words (no raw "libpng error:" lines from
// the library), a truncated DICOM file as DICOM, and file names are printed escaped, so a name
// with a newline or a terminal escape cannot forge or hide a line.
TEST(ImageCli, MessagesAreMedanchorsAndNamesAreEscaped) {
    ScratchDir dir;
    const auto png = dir / "image.png";
    ASSERT_EQ(run_command("dcmj2pnm +on " + quote(pydicom_file("CT_small.dcm")) + " " + quote(png))
                  .exit_code,
              0);
    auto bytes = testing::read_bytes(png);
    auto cut = bytes;
    cut.resize(bytes.size() / 2);
    testing::write_bytes(dir / "cut.png", cut);
    auto crc = bytes;
    crc[30] ^= 0xFF;
    testing::write_bytes(dir / "crc.png", crc);
    for (const char* name : {"cut.png", "crc.png"}) {
        const auto r = run_command(bin() + " hash --public " + quote(dir / name));
        EXPECT_EQ(r.exit_code, 14) << r.output;
        EXPECT_NE(r.output.find("cannot decode PNG: "), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("libpng"), std::string::npos) << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    }
    // A dual-personality file (TIFF header in the preamble) cut inside "DICM".
    auto dicom = testing::read_bytes(pydicom_file("MR_small.dcm"));
    const std::uint8_t tiff[] = {'I', 'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00};
    std::copy(std::begin(tiff), std::end(tiff), dicom.begin());
    dicom.resize(130);
    testing::write_bytes(dir / "dual.dcm", dicom);
    const auto dual = run_command(bin() + " hash --public " + quote(dir / "dual.dcm"));
    EXPECT_EQ(dual.exit_code, 14) << dual.output;
    EXPECT_NE(dual.output.find("truncated DICOM file"), std::string::npos) << dual.output;
    EXPECT_EQ(dual.output.find("TIFF"), std::string::npos) << dual.output;
    // Names with a newline and an escape sequence: one line per file, escaped.
    const std::string nasty = "evil\nsha256:0000  forged.dcm";
    std::filesystem::copy_file(pydicom_file("MR_small.dcm"), dir / nasty);
    std::filesystem::copy_file(png, dir / "\x1b[2Jclear.png");
    testing::write_bytes(dir / "bad\tname.dcm", cut);
    const auto r =
        run_command(bin() + " hash --public " + quote(dir / nasty) + " " +
                    quote(dir / "\x1b[2Jclear.png") + " " + quote(dir / "bad\tname.dcm"));
    EXPECT_EQ(r.exit_code, 14) << r.output;
    EXPECT_NE(r.output.find("evil\\nsha256:0000  forged.dcm"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\\x1b[2Jclear.png"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("bad\\tname.dcm: "), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find('\x1b'), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find('\t'), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 4) << r.output;
}

// inspect says when a file is of a kind readers disagree on (32-bit big endian) or was
// tolerated (no Number of Frames), in text and in JSON.
TEST(ImageCli, InspectListsWhatWasTolerated) {
    const auto text = run_command(bin() + " inspect " + quote(pydicom_file("rtdose_expb.dcm")));
    ASSERT_EQ(text.exit_code, 0) << text.output;
    EXPECT_NE(text.output.find("warning:"), std::string::npos) << text.output;
    EXPECT_NE(text.output.find("[big-endian-word-order]"), std::string::npos) << text.output;
    const auto j = nlohmann::json::parse(
        run_command(bin() + " inspect --json " + quote(pydicom_file("rtdose_1frame.dcm"))).output);
    ASSERT_EQ(j["warnings"].size(), 1u);
    EXPECT_EQ(j["warnings"][0]["kind"], "frames-assumed");
    const auto plain = nlohmann::json::parse(
        run_command(bin() + " inspect --json " + quote(pydicom_file("CT_small.dcm"))).output);
    EXPECT_TRUE(plain["warnings"].empty());
}

TEST(ImageCli, HelpExplains) {
    const auto r = run_command(bin() + " hash --help");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.output.find("--key-file"), std::string::npos);
    EXPECT_NE(r.output.find("--public"), std::string::npos);
}

}  // namespace
}  // namespace medanchor::app

// De-identification on real files, checked by independent tools: pydicom (Debian's
// python3-pydicom) writes a copy of a real CT file carrying a marker value in every attribute of
// PS3.15 Table E.1-1 (the data file the C++ table is generated from: src/image/deid_table_e1_1.csv,
// read here directly), medanchor de-identifies it, and pydicom checks every row against the
// action the profile prescribes and that no marker survives anywhere in the output. dciodvfy
// (dicom3tools) checks that de-identified SR, RT, waveform, segmentation and image objects gain
// no IOD errors their input did not have.
#include "image/deid.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "image/image_hash.h"
#include "image/reader.h"
#include "test_support.h"

namespace medanchor::image {
namespace {

using testing::pydicom_file;
using testing::quote;
using testing::run_command;
using testing::ScratchDir;

std::filesystem::path table_file() {
    return std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "src" / "image" / "deid_table_e1_1.csv";
}

UidRemapper test_uids() {
    std::array<std::uint8_t, 32> k{};
    k[0] = 42;
    return UidRemapper(SiteKey::from_bytes(k));
}

// Writes a copy of `src` with a marker value in every row of the table. Rows of the repeating
// groups get a concrete group (6002, 5002); the private-attributes row a private element.
// Command elements (group 0000) cannot be written into a data set by pydicom (it encodes them
// implicit VR whatever the transfer syntax), so the C++ test below covers those two rows.
// Text markers are "MKR<row> Secret 1234567" (the Clean Descriptors option must mask "Secret",
// the patient's name, and the 7-digit run), UIDs 1.2.826.0.1.3680043.10.999.<row>, dates and
// numbers distinct per row, sequences one item holding a marker name and a marker UID.
constexpr char kBuild[] = R"PY(
import csv, datetime, sys, pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
src, table, out = sys.argv[1:4]
rows = [r for r in csv.DictReader(l for l in open(table) if not l.startswith('#'))]
ds = pydicom.dcmread(src)
ds.PatientName = 'Secret^Person'
UID = '1.2.826.0.1.3680043.10.999.'
def day(i): return (datetime.date(1901, 1, 1) + datetime.timedelta(days=i)).strftime('%Y%m%d')
def marker(vr, i):
    if vr == 'SQ':
        item = Dataset()
        item.add_new(0x00100010, 'PN', 'MKR%04d^Nested' % i)
        item.add_new(0x00081155, 'UI', UID + '%d.1' % i)
        return Sequence([item])
    if vr == 'UI': return UID + str(i)
    if vr == 'DA': return day(i)
    if vr == 'TM': return '%02d%02d%02d.123' % (i // 3600 % 24, i // 60 % 60, i % 60)
    if vr == 'DT': return day(i) + '010203'
    if vr == 'AS': return '%03dD' % (i % 1000)
    if vr in ('US', 'SS'): return 20000 + i
    if vr in ('UL', 'SL', 'UV', 'SV'): return 7000000 + i
    if vr in ('FL', 'FD'): return 7000000.0 + i
    if vr in ('IS', 'DS'): return str(7000000 + i)
    if vr == 'AT': return 0x7FFF0000 + i
    if vr in ('OB', 'OW', 'UN', 'OD', 'OF', 'OL', 'OV'): return b'MKR%04dB' % i
    if vr == 'UR': return 'http://mkr%04d.example' % i
    if vr in ('AE', 'CS'): return 'MKR%04d' % i
    return 'MKR%04d Secret 1234567' % i
added = skipped = 0
for i, r in enumerate(rows):
    tag = r['tag'].upper()
    if tag.startswith('(GGGG'):
        ds.add_new(0x00090010, 'LO', 'MKR PRIVATE CREATOR')
        ds.add_new(0x00091001, 'LO', 'MKR%04d Secret' % i)
        added += 1
        continue
    g, e = tag[1:5].replace('XX', '02'), tag[6:10].replace('XXXX', '3000')
    if g == '0000':
        skipped += 1
        continue
    vr = r['vr'] or ('OW' if e == '3000' else 'LT')
    (ds.file_meta if g == '0002' else ds).add_new(int(g + e, 16), vr, marker(vr, i))
    added += 1
ds.save_as(out)
print('added', added, 'skipped', skipped)
)PY";

// Checks the de-identified file against every row: what the action (after the options, as
// `actions` lists them per row: X Z D U K C) prescribes, then that no marker text or marker UID
// is left anywhere (nested items, file meta). Prints "checked N" and one "FAIL ..." per problem.
constexpr char kVerify[] = R"PY(
import csv, sys, pydicom
src, out, table, actions = sys.argv[1:5]
rows = [r for r in csv.DictReader(l for l in open(table) if not l.startswith('#'))]
action_of = dict(line.split() for line in open(actions))
a = pydicom.dcmread(src)
b = pydicom.dcmread(out)
UID = '1.2.826.0.1.3680043.10.999.'
fails = []
checked = 0
def empty(v):
    return v is None or v == '' or v == b'' or (hasattr(v, '__len__') and len(v) == 0)
def texts(ds, path, found):
    for el in ds:
        if el.VR == 'SQ':
            for k, item in enumerate(el.value):
                texts(item, '%s%s[%d].' % (path, el.tag, k), found)
            continue
        values = el.value if isinstance(el.value, (list, pydicom.multival.MultiValue)) else [el.value]
        for v in values:
            s = v.decode('latin1') if isinstance(v, bytes) else str(v)
            found.append((path + str(el.tag), s))
    return found
for i, r in enumerate(rows):
    tag = r['tag'].upper()
    if tag.startswith('(GGGG'):
        t = 0x00091001
    else:
        g, e = tag[1:5].replace('XX', '02'), tag[6:10].replace('XXXX', '3000')
        t = int(g + e, 16)
    ds_a, ds_b = (a.file_meta, b.file_meta) if t >> 16 == 2 else (a, b)
    if t not in ds_a:
        continue
    checked += 1
    action = action_of.get('%08X' % t, 'X')
    orig = ds_a[t].value
    present = t in ds_b
    val = ds_b[t].value if present else None
    if r['vr'] == 'SQ' and present and action in ('D', 'K'):
        inner = texts(ds_b[t].value[0], '', []) if len(val) else []
        ok = len(val) == len(orig) and not any('MKR' in s or UID in s for _, s in inner)
    elif action == 'X': ok = not present
    elif action == 'Z': ok = present and empty(val)
    elif action == 'D': ok = present and not empty(val) and val != orig
    elif action == 'U': ok = present and str(val).startswith('2.25.') and val != orig
    elif action == 'K': ok = present and val == orig
    elif action == 'C': ok = present and '1234567' not in str(val) and 'Secret' not in str(val)
    else: ok = False
    if not ok:
        fails.append('%s %s %s -> %r' % (r['tag'], r['name'], action, val))
for where, s in texts(b, '', []) + texts(b.file_meta, 'meta ', []):
    if (UID in s) or ('MKR' in s and action_of.get('keep-text') is None):
        fails.append('marker left at %s: %r' % (where, s[:60]))
if b.get('PatientIdentityRemoved') != 'YES':
    fails.append('PatientIdentityRemoved is not YES')
if b.file_meta.MediaStorageSOPInstanceUID != b.SOPInstanceUID:
    fails.append('meta MediaStorageSOPInstanceUID does not match SOPInstanceUID')
print('checked', checked)
for f in fails:
    print('FAIL', f)
)PY";

struct Prepared {
    std::filesystem::path input;
    std::filesystem::path actions;
    std::size_t added = 0;
    std::size_t skipped = 0;
};

// The full input file, and the action each row gets under `options` (by tag) for the checker.
Prepared prepare(const ScratchDir& dir, const DeidOptions& options) {
    Prepared p;
    p.actions = dir / "actions.txt";
    p.input = dir / "full.dcm";
    {
        std::ofstream out(p.actions);
        char line[64];
        for (const auto& e : basic_profile()) {
            const bool mask = e.flags & kGroupMask;
            const std::uint16_t group = mask ? std::uint16_t(e.group | 0x02) : e.group;
            const std::uint16_t element = e.element == 0xFFFF ? 0x3000 : e.element;
            std::snprintf(line, sizeof line, "%04X%04X %c\n", group, element,
                          deid_action_letter(effective_action(e, options)));
            out << line;
        }
        if (options.clean_descriptors)
            out << "keep-text 1\n";  // cleaned descriptors keep their "MKR<row>" prefix
    }
    {
        std::ofstream script(dir / "build.py");
        script << kBuild;
    }
    const auto r = run_command("/usr/bin/python3 " + quote(dir / "build.py") + " " +
                               quote(pydicom_file("CT_small.dcm")) + " " + quote(table_file()) +
                               " " + quote(p.input));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    if (const auto at = r.output.find("added "); at != std::string::npos)
        p.added = std::stoul(r.output.substr(at + 6));
    if (const auto at = r.output.find("skipped "); at != std::string::npos)
        p.skipped = std::stoul(r.output.substr(at + 8));
    return p;
}

std::string verify(const ScratchDir& dir, const Prepared& p, const std::filesystem::path& out) {
    {
        std::ofstream script(dir / "verify.py");
        script << kVerify;
    }
    const auto r =
        run_command("/usr/bin/python3 " + quote(dir / "verify.py") + " " + quote(p.input) + " " +
                    quote(out) + " " + quote(table_file()) + " " + quote(p.actions));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
}

std::size_t checked(const std::string& report) {
    const auto at = report.find("checked ");
    return at == std::string::npos ? 0 : std::stoul(report.substr(at + 8));
}

const ProfileEntry* row(std::uint16_t g, std::uint16_t e) {
    for (const auto& entry : basic_profile()) {
        if (entry.group == g && entry.element == e)
            return &entry;
    }
    return nullptr;
}

// The table is the current edition's, not the 319 rows typed by hand before: the attributes
// issue 11 found surviving de-identification are rows now, with the standard's actions.
TEST(DeidProfile, TableIsTheNamedEditionWithTheAttributesThatUsedToSurvive) {
    const auto profile = basic_profile();
    EXPECT_EQ(profile.size(), 655u);  // 656 rows; the private-attributes row is applied apart
    std::ifstream csv(table_file());
    std::string header((std::istreambuf_iterator<char>(csv)), {});
    EXPECT_NE(header.find(std::string("Source: ") + basic_profile_edition()), std::string::npos);
    struct Expected {
        std::uint16_t group, element;
        const char* code;
    };
    for (const auto& [g, e, code] : std::initializer_list<Expected>{
             {0x2200, 0x0005, "X/Z"},    // Barcode Value
             {0x2200, 0x0002, "X/Z"},    // Label Text
             {0x0032, 0x1066, "X"},      // Reason for Visit
             {0x0040, 0x1104, "X"},      // Person's Telecom Information
             {0x0010, 0x0012, "X"},      // Name to Use
             {0x0010, 0x0011, "X"},      // Person Names to Use Sequence
             {0x0008, 0x0055, "X"},      // Station AE Title
             {0x0008, 0x0054, "X"},      // Retrieve AE Title
             {0x0018, 0x1009, "X"},      // Unique Device Identifier
             {0x0018, 0x1204, "X"},      // Date of Manufacture
             {0x0018, 0x1205, "X"},      // Date of Installation
             {0x0040, 0x4050, "X"},      // Performed Procedure Step Start DateTime
             {0x0040, 0x4051, "X"},      // Performed Procedure Step End DateTime
             {0x0008, 0x0017, "U"},      // Acquisition UID
             {0x0008, 0x0019, "U"},      // Pyramid UID
             {0x0010, 0x0010, "Z"},      // Patient's Name
             {0x0010, 0x0020, "Z/D"},    // Patient ID
             {0x0020, 0x000D, "U"},      // Study Instance UID
             {0x0008, 0x0080, "X/Z/D"},  // Institution Name
             {0x0040, 0xA730, "D"},      // Content Sequence
         }) {
        const ProfileEntry* entry = row(g, e);
        ASSERT_NE(entry, nullptr) << std::hex << g << "," << e;
        EXPECT_STREQ(table_action_code(entry->table_action), code) << entry->name;
    }
    // The choices resolve to what keeps any IOD valid (docs/deid.md).
    EXPECT_EQ(row(0x2200, 0x0005)->action(), DeidAction::kZero);
    EXPECT_EQ(row(0x0008, 0x0080)->action(), DeidAction::kDummy);
    EXPECT_EQ(row(0x0008, 0x1140)->action(), DeidAction::kKeep);  // X/Z/U*: UIDs remapped inside
}

TEST(Deid, EveryRowOfTheTableLeavesNoMarkerBasicProfile) {
    ScratchDir dir;
    const DeidOptions options;
    const Prepared p = prepare(dir, options);
    // Every row but the two command elements (group 0000, covered below) is in the input.
    EXPECT_EQ(p.added + p.skipped, basic_profile().size() + 1);
    EXPECT_EQ(p.skipped, 2u);
    const auto out = dir / "out.dcm";
    auto done = deidentify_file(p.input, out, options, test_uids());
    ASSERT_TRUE(done.ok()) << done.error().message();
    EXPECT_GE(done->private_removed, 2u);
    const auto report = verify(dir, p, out);
    EXPECT_EQ(report.find("FAIL"), std::string::npos) << report;
    EXPECT_EQ(checked(report), p.added);
    // The pixels are untouched: same canonical hash.
    auto before = read_image(pydicom_file("CT_small.dcm"));
    auto after = read_image(out);
    ASSERT_TRUE(before.ok() && after.ok());
    EXPECT_EQ(hash_image(*before, nullptr), hash_image(*after, nullptr));
    // The negative control: the checker fails every row on the input itself.
    const auto control = verify(dir, p, p.input);
    EXPECT_GE(static_cast<std::size_t>(std::count(control.begin(), control.end(), '\n')), p.added);
}

TEST(Deid, EveryRowWithRetainDatesAndCleanDescriptors) {
    ScratchDir dir;
    DeidOptions options;
    options.retain_longitudinal_temporal = true;
    options.clean_descriptors = true;
    const Prepared p = prepare(dir, options);
    const auto out = dir / "out.dcm";
    auto done = deidentify_file(p.input, out, options, test_uids());
    ASSERT_TRUE(done.ok()) << done.error().message();
    EXPECT_GT(done->cleaned, 100u);
    const auto report = verify(dir, p, out);
    EXPECT_EQ(report.find("FAIL"), std::string::npos) << report;
    EXPECT_EQ(checked(report), p.added);
    const auto dump = run_command("dcmdump +P 0012,0064 +P 0028,0303 " + quote(out));
    EXPECT_NE(dump.output.find("113106"), std::string::npos) << dump.output;
    EXPECT_NE(dump.output.find("113105"), std::string::npos) << dump.output;
}

// The two rows pydicom cannot write into a data set: command elements (group 0000) misused in a
// data set, written here byte by byte in explicit VR.
TEST(Deid, CommandElementRowsInADataSet) {
    ScratchDir dir;
    const auto in = dir / "command.dcm";
    testing::write_bytes(in, testing::DicomBuilder()
                                 .image(2, 2, 1, 8, 8, 0, "MONOCHROME2", {1, 2, 3, 4})
                                 .text(0x0000, 0x1000, "UI", "1.2.826.0.1.3680043.10.999.1000")
                                 .text(0x0000, 0x1001, "UI", "1.2.826.0.1.3680043.10.999.1001")
                                 .bytes());
    auto done = deidentify_file(in, dir / "out.dcm", {}, test_uids());
    ASSERT_TRUE(done.ok()) << done.error().message();
    const auto dump = run_command("dcmdump -q " + quote(dir / "out.dcm"));
    EXPECT_EQ(dump.output.find("(0000,1000)"), std::string::npos) << dump.output;  // X
    EXPECT_EQ(dump.output.find("1.2.826.0.1.3680043.10.999"), std::string::npos) << dump.output;
    EXPECT_NE(dump.output.find("(0000,1001) UI [2.25."), std::string::npos) << dump.output;  // U
}

std::string study_uid(const std::filesystem::path& file) {
    const auto r = run_command("dcmdump +P 0020,000d " + quote(file));
    const auto open = r.output.find('[');
    const auto close = r.output.find(']');
    return open == std::string::npos ? "" : r.output.substr(open + 1, close - open - 1);
}

TEST(Deid, UidsAreRemappedConsistentlySoAStudyStaysAStudy) {
    ScratchDir dir;
    // MR_small and its implicit-VR copy are the same instance of the same study.
    const auto a = pydicom_file("MR_small.dcm");
    const auto b = pydicom_file("MR_small_implicit.dcm");
    ASSERT_EQ(study_uid(a), study_uid(b));
    const auto run1 = UidRemapper::random();
    ASSERT_TRUE(deidentify_file(a, dir / "a1.dcm", {}, run1).ok());
    ASSERT_TRUE(deidentify_file(b, dir / "b1.dcm", {}, run1).ok());
    EXPECT_EQ(study_uid(dir / "a1.dcm"), study_uid(dir / "b1.dcm"));
    EXPECT_NE(study_uid(dir / "a1.dcm"), study_uid(a));
    EXPECT_EQ(study_uid(dir / "a1.dcm").rfind("2.25.", 0), 0u);
    // Another run with another secret gives other UIDs; the same site key gives the same.
    ASSERT_TRUE(deidentify_file(a, dir / "a2.dcm", {}, UidRemapper::random()).ok());
    EXPECT_NE(study_uid(dir / "a1.dcm"), study_uid(dir / "a2.dcm"));
    std::array<std::uint8_t, 32> k{};
    k[0] = 7;
    const SiteKey key = SiteKey::from_bytes(k);
    EXPECT_EQ(UidRemapper(key).remap("1.2.3"), UidRemapper(key).remap("1.2.3"));
    EXPECT_NE(UidRemapper(key).remap("1.2.3"), UidRemapper(key).remap("1.2.4"));
    EXPECT_LE(UidRemapper(key).remap("1.2.3").size(), 64u);
}

std::filesystem::path with_burned_in(const ScratchDir& dir, const std::string& name,
                                     const std::string& value) {
    const auto flagged = dir / name;
    std::filesystem::copy_file(pydicom_file("CT_small.dcm"), flagged);
    const auto r =
        run_command("dcmodify -nb -i " + quote("(0028,0301)=" + value) + " " + quote(flagged));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return flagged;
}

// Archives hold "yes", "YES\NO" and other spellings: any YES refuses, and so does a value that
// is neither YES nor NO (the doubt goes toward the pixels showing identity).
TEST(Deid, BurnedInAnnotationIsRefusedForAnyYesUnlessAllowed) {
    ScratchDir dir;
    int n = 0;
    for (const char* value : {"YES", "yes", "Yes", "YES\\NO", "NO\\YES", "MAYBE"}) {
        SCOPED_TRACE(value);
        const auto flagged = with_burned_in(dir, "burned" + std::to_string(n++) + ".dcm", value);
        const auto out = dir / ("out" + std::to_string(n) + ".dcm");
        auto refused = deidentify_file(flagged, out, {}, test_uids());
        ASSERT_FALSE(refused.ok());
        EXPECT_EQ(refused.error().code(), ErrorCode::kPermission);
        EXPECT_NE(refused.error().message().find("Burned In Annotation"), std::string::npos);
        EXPECT_FALSE(std::filesystem::exists(out));
        DeidOptions allow;
        allow.allow_burned_in_annotation = true;
        auto allowed = deidentify_file(flagged, out, allow, test_uids());
        ASSERT_TRUE(allowed.ok()) << allowed.error().message();
        EXPECT_EQ(allowed->warnings.size(), std::string(value) == "YES" ? 0u : 1u);
        // inspect reads it the same way, and says when the value is not the standard's.
        auto img = read_image(flagged);
        ASSERT_TRUE(img.ok());
        EXPECT_EQ(img->info.burned_in_annotation, "YES");
    }
    for (const char* value : {"NO", "no"}) {
        const auto flagged = with_burned_in(dir, "no" + std::to_string(n++) + ".dcm", value);
        EXPECT_TRUE(
            deidentify_file(flagged, dir / ("ok" + std::to_string(n) + ".dcm"), {}, test_uids())
                .ok())
            << value;
    }
}

TEST(Deid, OverlayPlanesAreRemovedByDefaultAndKeptOnRequest) {
    ScratchDir dir;
    const auto in = testing::make_overlay_ct(dir.path());
    auto removed = deidentify_file(in, dir / "default.dcm", {}, test_uids());
    ASSERT_TRUE(removed.ok()) << removed.error().message();
    const auto dump = run_command("dcmdump -q " + quote(dir / "default.dcm"));
    EXPECT_EQ(dump.output.find("(6000,"), std::string::npos) << dump.output;
    DeidOptions keep;
    keep.keep_overlays = true;
    auto kept = deidentify_file(in, dir / "kept.dcm", keep, test_uids());
    ASSERT_TRUE(kept.ok()) << kept.error().message();
    const auto kept_dump = run_command("dcmdump -q " + quote(dir / "kept.dcm"));
    EXPECT_NE(kept_dump.output.find("(6000,3000)"), std::string::npos) << kept_dump.output;
    EXPECT_NE(kept_dump.output.find("(6000,0022)"), std::string::npos) << kept_dump.output;
    EXPECT_EQ(kept_dump.output.find("(6000,4000)"), std::string::npos) << kept_dump.output;
    EXPECT_NE(kept_dump.output.find("Overlay planes kept"), std::string::npos);
    // Neither copy gains IOD errors (a group without its Overlay Data would be one).
    EXPECT_TRUE(testing::dciodvfy_errors(dir / "default.dcm").empty());
    EXPECT_TRUE(testing::dciodvfy_errors(dir / "kept.dcm").empty());
}

// A full disk while writing the copy: an Error, nothing at the target, no temporary left, no
// abort (GDCM's writer used to assert on the failing stream and leave a truncated file).
TEST(Deid, FullDiskGivesAnErrorAndLeavesNothingBehind) {
    ScratchDir dir;
    const auto out = dir / "out" / "ct.dcm";
    const auto outcome = testing::run_in_child(
        [&] {
            auto r = deidentify_file(pydicom_file("CT_small.dcm"), out, {}, test_uids());
            if (r.ok())
                return 10;
            return r.error().code() == ErrorCode::kIo ? 0 : 11;
        },
        8 * 1024);
    ASSERT_TRUE(outcome.exited) << "killed by signal " << outcome.signal;
    EXPECT_EQ(outcome.code, 0);
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));
}

TEST(Deid, EveryLosslessEncodingKeepsItsHashThroughDeid) {
    ScratchDir dir;
    for (const char* name : {"MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm",
                             "MR_small_jp2klossless.dcm", "MR_small_bigendian.dcm"}) {
        SCOPED_TRACE(name);
        const auto out = dir / name;
        auto done = deidentify_file(pydicom_file(name), out, {}, UidRemapper::random());
        ASSERT_TRUE(done.ok()) << done.error().message();
        auto before = read_image(pydicom_file(name));
        auto after = read_image(out);
        ASSERT_TRUE(before.ok() && after.ok()) << (after.ok() ? "" : after.error().message());
        EXPECT_EQ(after->info.transfer_syntax_uid, before->info.transfer_syntax_uid);
        EXPECT_EQ(hash_image(*before, nullptr), hash_image(*after, nullptr));
    }
}

// De-identified SR, RT, waveform, segmentation (enhanced multi-frame) and image objects have no
// dciodvfy error their input did not have: Type 1 attributes the profile marks D get dummies of
// their VR, Type 2 sequences stay (empty), D'd sequences keep their items.
TEST(Deid, DciodvfyFindsNoErrorTheInputDidNotHave) {
    ScratchDir dir;
    for (const char* name : {"test-SR.dcm", "reportsi.dcm", "rtplan.dcm", "rtstruct.dcm",
                             "rtdose.dcm", "waveform_ecg.dcm", "liver_1frame.dcm", "CT_small.dcm",
                             "MR_small.dcm", "ExplVR_BigEnd.dcm"}) {
        SCOPED_TRACE(name);
        const auto out = dir / name;
        auto done = deidentify_file(pydicom_file(name), out, {}, test_uids());
        ASSERT_TRUE(done.ok()) << done.error().message();
        const auto before = testing::dciodvfy_errors(pydicom_file(name));
        for (const auto& error : testing::dciodvfy_errors(out)) {
            EXPECT_TRUE(before.count(error)) << "gained: " << error;
        }
    }
}

// A D'd sequence (Content Sequence of an SR) keeps its tree (DCMTK's dsrdump reads it): every
// content item and code as it was, every free-text value a dummy.
TEST(Deid, ContentSequenceKeepsItsStructureWithDummyText) {
    ScratchDir dir;
    const auto in = pydicom_file("test-SR.dcm");
    const auto out = dir / "sr.dcm";
    ASSERT_TRUE(deidentify_file(in, out, {}, test_uids()).ok());
    // The content tree as dsrdump prints it: one line per content item, "<relation TYPE:(code)
    // =value>"; the header before it (observers, dates) is not compared.
    const auto tree = [](const std::filesystem::path& f) {
        const auto r = run_command("dsrdump -q " + quote(f));
        EXPECT_EQ(r.exit_code, 0) << r.output;
        std::vector<std::string> items;
        std::istringstream lines(r.output);
        for (std::string line; std::getline(lines, line);) {
            const auto lt = line.find_first_not_of(' ');
            if (lt != std::string::npos && line[lt] == '<')
                items.push_back(line.substr(lt));
        }
        return items;
    };
    const auto before = tree(in);
    const auto after = tree(out);
    ASSERT_EQ(before.size(), after.size());
    ASSERT_GE(before.size(), 20u);
    std::size_t texts = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
        // Relationship, value type and concept name code are unchanged.
        const auto head = before[i].substr(0, before[i].find(")=") + 1);
        EXPECT_EQ(after[i].substr(0, head.size()), head) << after[i];
        if (before[i].find(" TEXT:") != std::string::npos) {
            ++texts;
            EXPECT_NE(after[i].find("=\"ANONYMIZED\""), std::string::npos) << after[i];
        }
    }
    EXPECT_EQ(texts, 7u);
}

TEST(Deid, DeidentificationMethodValuesFitTheirVr) {
    ScratchDir dir;
    DeidOptions all;
    all.retain_longitudinal_temporal = all.clean_descriptors = all.keep_overlays = true;
    all.allow_burned_in_annotation = true;
    const auto out = dir / "out.dcm";
    ASSERT_TRUE(deidentify_file(pydicom_file("CT_small.dcm"), out, all, test_uids()).ok());
    const auto r = run_command("dcmdump -q +L +P 0012,0063 " + quote(out));
    const auto open = r.output.find('[');
    const auto close = r.output.find(']');
    ASSERT_NE(open, std::string::npos) << r.output;
    std::istringstream values(r.output.substr(open + 1, close - open - 1));
    int n = 0;
    for (std::string value; std::getline(values, value, '\\'); ++n)
        EXPECT_LE(value.size(), 64u) << value;  // LO
    EXPECT_EQ(n, 5);
    EXPECT_TRUE(testing::dciodvfy_errors(out).empty());
}

// A data set without the Part 10 preamble and meta is read (transfer syntax detected as DCMTK
// does) and written as a proper Part 10 file.
TEST(Deid, BareDataSetIsReadAndWrittenAsPart10) {
    ScratchDir dir;
    const auto out = dir / "out.dcm";
    auto done = deidentify_file(pydicom_file("ExplVR_LitEndNoMeta.dcm"), out, {}, test_uids());
    ASSERT_TRUE(done.ok()) << done.error().message();
    ASSERT_EQ(done->warnings.size(), 1u);
    EXPECT_EQ(done->warnings[0].kind, WarningKind::kNoPreamble);
    const auto bytes = testing::read_bytes(out);
    ASSERT_GE(bytes.size(), 132u);
    EXPECT_EQ(std::string(bytes.begin() + 128, bytes.begin() + 132), "DICM");
}

// What `analyze` runs, decode_and_deidentify (one DCMTK parse, one GDCM parse where decoding
// changes nothing), gives what decode_dicom and then deidentify_in_memory give one after the
// other: the same image, the same de-identified copy byte for byte, the same UIDs and warnings,
// or the same error (code and message). Every DICOM file of pydicom's test set, and the overlay
// fixture (decoding drops its overlays, so the copy comes from a parse of its own).
std::string outcome_text(const Result<DeidentifiedInstance>& d) {
    if (!d)
        return "error " + std::to_string(static_cast<int>(d.error().code())) + " " +
               d.error().message();
    std::string text = "copy " + std::to_string(d->part10.size()) + " bytes, uids ";
    text += d->uids ? d->uids->sop_instance + " " + d->uids->study : d->uids.error().message();
    for (const auto& w : d->summary.warnings)
        text += "; " + w.message;
    return text;
}

TEST(Deid, DecodedOnceGivesWhatTheTwoCallsGive) {
    ScratchDir dir;
    std::vector<std::filesystem::path> files = {testing::make_overlay_ct(dir.path())};
    for (const auto& entry : std::filesystem::directory_iterator(testing::pydicom_dir())) {
        if (entry.path().extension() == ".dcm")
            files.push_back(entry.path());
    }
    const UidRemapper uids = test_uids();
    std::size_t decoded = 0;
    std::size_t copies = 0;
    std::size_t split = 0;
    for (const auto& file : files) {
        SCOPED_TRACE(file.filename().string());
        auto bytes = std::make_shared<const std::vector<std::uint8_t>>(testing::read_bytes(file));
        if (sniff_magic(*bytes) != Magic::kDicom)
            continue;
        const std::string name = file.filename().string();
        auto image = decode_dicom(*bytes, name);
        Result<DeidentifiedInstance> copy = image ? deidentify_in_memory(*bytes, file, {}, uids)
                                                  : Result<DeidentifiedInstance>(image.error());
        auto once = decode_and_deidentify(bytes, name, file, {}, uids);
        ASSERT_EQ(once.ok(), copy.ok()) << (once ? outcome_text(copy) : once.error().message());
        if (!once) {
            EXPECT_EQ(once.error().code(), copy.error().code());
            EXPECT_EQ(once.error().message(), copy.error().message());
            continue;
        }
        ++decoded;
        EXPECT_EQ(once->image.pixels, image->pixels);
        EXPECT_EQ(hash_image(once->image, nullptr), hash_image(*image, nullptr));
        EXPECT_EQ(once->image.info.transfer_syntax_uid, image->info.transfer_syntax_uid);
        EXPECT_EQ(once->image.info.rescale_slope, image->info.rescale_slope);
        EXPECT_EQ(once->image.info.rescale_intercept, image->info.rescale_intercept);
        EXPECT_EQ(once->image.info.modality, image->info.modality);
        ASSERT_EQ(once->image.info.warnings.size(), image->info.warnings.size());
        for (std::size_t i = 0; i < image->info.warnings.size(); ++i)
            EXPECT_EQ(once->image.info.warnings[i].message, image->info.warnings[i].message);
        EXPECT_EQ(outcome_text(once->deid), outcome_text(copy));
        EXPECT_TRUE(once->deid.part10 == copy->part10) << "the de-identified copies differ";
        copies += copy->uids.ok();

        // Offered to a taker (what `analyze` does with a large copy), the copy comes in pieces
        // whose concatenation is the same copy, and once taken it is not kept in memory. Native
        // pixel data comes as a piece of its own.
        std::string joined;
        bool pixels_apart = false;
        const Part10Taker take = [&](std::span<const std::string_view> pieces) -> Result<bool> {
            for (const std::string_view piece : pieces)
                joined.append(piece);
            pixels_apart = pieces.size() == 3 && !pieces[2].empty();
            return true;
        };
        auto taken = decode_and_deidentify(bytes, name, file, {}, uids, {}, take);
        ASSERT_TRUE(taken) << taken.error().message();
        EXPECT_TRUE(taken->deid.part10.empty());
        EXPECT_TRUE(joined == copy->part10) << "the pieces are not the copy";
        EXPECT_EQ(taken->image.pixels, image->pixels);
        const std::string said = outcome_text(copy);  // "copy N bytes, uids ...; warnings"
        EXPECT_EQ(outcome_text(taken->deid), "copy 0 bytes, " + said.substr(said.find("uids")));
        split += pixels_apart;
    }
    EXPECT_GE(decoded, 40u);
    EXPECT_GE(copies, 40u);
    EXPECT_GE(split, 10u);  // 12 of the files: native little-endian pixel data last
}

// A taker that declines has the copy joined in memory as without one; a taker's error is the
// call's, and nothing else comes back.
TEST(Deid, ATakerMayDeclineOrFail) {
    const auto file = pydicom_file("CT_small.dcm");
    auto bytes = std::make_shared<const std::vector<std::uint8_t>>(testing::read_bytes(file));
    const UidRemapper uids = test_uids();
    auto plain = decode_and_deidentify(bytes, "CT_small.dcm", file, {}, uids);
    ASSERT_TRUE(plain) << plain.error().message();
    std::size_t offered = 0;
    auto declined =
        decode_and_deidentify(bytes, "CT_small.dcm", file, {}, uids, {},
                              [&](std::span<const std::string_view> pieces) -> Result<bool> {
                                  for (const std::string_view piece : pieces)
                                      offered += piece.size();
                                  return false;
                              });
    ASSERT_TRUE(declined) << declined.error().message();
    EXPECT_EQ(offered, plain->deid.part10.size());
    EXPECT_TRUE(declined->deid.part10 == plain->deid.part10);
    auto failed = decode_and_deidentify(bytes, "CT_small.dcm", file, {}, uids, {},
                                        [](std::span<const std::string_view>) -> Result<bool> {
                                            return Error(ErrorCode::kIo, "spill: disk full");
                                        });
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code(), ErrorCode::kIo);
    EXPECT_EQ(failed.error().message(), "spill: disk full");
}

TEST(Deid, RefusesNonDicom) {
    ScratchDir dir;
    testing::write_bytes(dir / "x.txt", {'h', 'e', 'l', 'l', 'o'});
    auto r = deidentify_file(dir / "x.txt", dir / "y.dcm", {}, UidRemapper::random());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace medanchor::image

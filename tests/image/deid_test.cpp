// De-identification on real files, checked by an independent reader: pydicom (Debian's
// python3-pydicom) writes a copy of a real CT file carrying every attribute table E.1-1 names
// (with identifying-looking values, private elements, and profile attributes nested inside a
// sequence), medanchor de-identifies it, and pydicom checks every attribute of the output
// against the action the profile prescribes.
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

constexpr char kBuild[] = R"PY(
import sys, pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.datadict import dictionary_VR
src, table, out = sys.argv[1:4]
ds = pydicom.dcmread(src)
def nested():
    item = Dataset()
    item.PatientName = 'Nested^Secret'
    item.ReferencedSOPInstanceUID = '1.2.826.0.1.3680043.10.999.5000'
    return Sequence([item])
def value_for(vr, i):
    if vr == 'SQ': return nested()
    if vr == 'PN': return 'Secret^Person'
    if vr == 'DA': return '20200102'
    if vr == 'TM': return '102030'
    if vr == 'DT': return '20200102102030'
    if vr == 'UI': return '1.2.826.0.1.3680043.10.999.%d' % (i + 1)
    if vr == 'AS': return '045Y'
    if vr in ('US', 'SS', 'UL', 'SL', 'UV', 'SV'): return 1
    if vr in ('FL', 'FD'): return 1.0
    if vr == 'IS': return '1'
    if vr == 'DS': return '1.5'
    if vr == 'CS': return 'SECRET'
    if vr == 'AE': return 'SECRETAE'
    if vr == 'AT': return 0x00100010
    if vr in ('OB', 'OW', 'UN', 'OD', 'OF', 'OL', 'OV'): return b'\x01\x02\x03\x04\x05\x06\x07\x08'
    if vr == 'UR': return 'http://secret.example'
    return 'Secret 1234567 text'
added = skipped = 0
for i, line in enumerate(open(table)):
    g, e, action = line.split()
    tag = int(g, 16) << 16 | int(e, 16)
    try:
        vr = dictionary_VR(tag).split(' or ')[-1]
    except KeyError:
        skipped += 1
        print('not in pydicom dictionary: (%s,%s)' % (g, e))
        continue
    ds.add_new(tag, vr, value_for(vr, i))
    added += 1
ds.add_new(0x00090010, 'LO', 'ACME')
ds.add_new(0x00091001, 'LO', 'private secret')
item = Dataset()
item.add_new(0x00181072, 'TM', '101010')
item.add_new(0x00081155, 'UI', '1.2.826.0.1.3680043.10.999.6000')
item.PatientName = 'Nested^Secret'
ds.add_new(0x00540016, 'SQ', Sequence([item]))
ds.save_as(out)
print('added', added, 'skipped', skipped)
)PY";

constexpr char kVerify[] = R"PY(
import sys, pydicom
src, out, table, nested_time = sys.argv[1:5]
a = pydicom.dcmread(src)
b = pydicom.dcmread(out)
fails = []
checked = 0
def empty(v):
    return v is None or v == '' or v == b'' or (hasattr(v, '__len__') and len(v) == 0)
for line in open(table):
    g, e, action = line.split()
    tag = int(g, 16) << 16 | int(e, 16)
    if tag not in a:
        continue
    checked += 1
    orig = a[tag].value
    present = tag in b
    val = b[tag].value if present else None
    if action == 'X': ok = not present
    elif action == 'Z': ok = present and empty(val)
    elif action == 'D': ok = present and not empty(val) and val != orig
    elif action == 'U': ok = present and str(val).startswith('2.25.') and val != orig
    elif action == 'K': ok = present and val == orig
    elif action == 'C': ok = present and '1234567' not in str(val) and 'Secret' not in str(val)
    else: ok = False
    if not ok:
        fails.append('(%s,%s) %s -> %r' % (g, e, action, val))
for el in b.iterall():
    if el.tag.is_private:
        fails.append('private element %s remains' % el.tag)
if b.get('PatientIdentityRemoved') != 'YES':
    fails.append('PatientIdentityRemoved is not YES')
if b.file_meta.MediaStorageSOPInstanceUID != b.SOPInstanceUID:
    fails.append('meta MediaStorageSOPInstanceUID does not match SOPInstanceUID')
it = b[0x00540016].value[0]
if nested_time == 'X' and 0x00181072 in it:
    fails.append('nested RadiopharmaceuticalStartTime kept')
if nested_time == 'K' and it.get(0x00181072) is None:
    fails.append('nested RadiopharmaceuticalStartTime removed despite the option')
if str(it.PatientName) != '':
    fails.append('nested PatientName not emptied: %r' % it.PatientName)
if not str(it.ReferencedSOPInstanceUID).startswith('2.25.'):
    fails.append('nested ReferencedSOPInstanceUID not remapped')
print('checked', checked)
for f in fails:
    print('FAIL', f)
)PY";

struct Prepared {
    std::filesystem::path input;
    std::filesystem::path table;
    std::size_t added = 0;
};

// Writes the profile (with the actions `options` select) as a table, and the full input file.
Prepared prepare(const ScratchDir& dir, const DeidOptions& options) {
    Prepared p;
    p.table = dir / "profile.tsv";
    p.input = dir / "full.dcm";
    {
        std::ofstream table(p.table);
        char line[64];
        for (const auto& e : basic_profile()) {
            if (e.group == 0x0002 || e.group == 0x0004)
                continue;  // file meta, DICOMDIR
            // Repeating groups: a concrete element of group 50xx / 60xx.
            const std::uint16_t element = e.element == 0xFFFF ? 0x0005 : e.element;
            std::snprintf(line, sizeof line, "%04X %04X %c\n", e.group, element,
                          deid_action_letter(effective_action(e, options)));
            table << line;
        }
    }
    {
        std::ofstream script(dir / "build.py");
        script << kBuild;
    }
    const auto r = run_command("/usr/bin/python3 " + quote(dir / "build.py") + " " +
                               quote(pydicom_file("CT_small.dcm")) + " " + quote(p.table) + " " +
                               quote(p.input));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const auto at = r.output.find("added ");
    if (at != std::string::npos)
        p.added = std::stoul(r.output.substr(at + 6));
    return p;
}

std::string verify(const ScratchDir& dir, const Prepared& p, const std::filesystem::path& out,
                   const char* nested_time) {
    {
        std::ofstream script(dir / "verify.py");
        script << kVerify;
    }
    const auto r =
        run_command("/usr/bin/python3 " + quote(dir / "verify.py") + " " + quote(p.input) + " " +
                    quote(out) + " " + quote(p.table) + " " + nested_time);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
}

TEST(DeidProfile, TableIsSortedUniqueAndHasTheCoreAttributes) {
    const auto profile = basic_profile();
    EXPECT_GT(profile.size(), 300u);
    for (std::size_t i = 1; i < profile.size(); ++i) {
        const auto prev = std::uint32_t{profile[i - 1].group} << 16 | profile[i - 1].element;
        const auto cur = std::uint32_t{profile[i].group} << 16 | profile[i].element;
        EXPECT_LT(prev, cur) << profile[i].keyword;
    }
    auto action_of = [&](std::uint16_t g, std::uint16_t e) {
        for (const auto& entry : profile) {
            if (entry.group == g && entry.element == e)
                return deid_action_letter(entry.action);
        }
        return '-';
    };
    EXPECT_EQ(action_of(0x0010, 0x0010), 'Z');  // Patient's Name
    EXPECT_EQ(action_of(0x0010, 0x0020), 'Z');  // Patient ID
    EXPECT_EQ(action_of(0x0010, 0x0030), 'Z');  // Patient's Birth Date
    EXPECT_EQ(action_of(0x0008, 0x0050), 'Z');  // Accession Number
    EXPECT_EQ(action_of(0x0020, 0x000D), 'U');  // Study Instance UID
    EXPECT_EQ(action_of(0x0020, 0x000E), 'U');  // Series Instance UID
    EXPECT_EQ(action_of(0x0008, 0x0018), 'U');  // SOP Instance UID
    EXPECT_EQ(action_of(0x0008, 0x0080), 'X');  // Institution Name
    EXPECT_EQ(action_of(0x0010, 0x1000), 'X');  // Other Patient IDs
}

TEST(Deid, EveryProfileAttributeOnARealFileBasicProfile) {
    ScratchDir dir;
    const DeidOptions options;
    const Prepared p = prepare(dir, options);
    // Nearly every row of the table made it into the input (a few recent attributes are
    // missing from pydicom 2.3's dictionary; the script names them).
    EXPECT_GE(p.added, basic_profile().size() - 12);
    const auto out = dir / "out.dcm";
    auto done = deidentify_file(p.input, out, options, UidRemapper::random());
    ASSERT_TRUE(done.ok()) << done.error().message();
    EXPECT_GE(done->private_removed, 2u);
    const auto report = verify(dir, p, out, "X");
    EXPECT_EQ(report.find("FAIL"), std::string::npos) << report;
    const auto at = report.find("checked ");
    ASSERT_NE(at, std::string::npos) << report;
    EXPECT_EQ(std::stoul(report.substr(at + 8)), p.added);
    // The pixels are untouched: same canonical hash.
    auto before = read_image(pydicom_file("CT_small.dcm"));
    auto after = read_image(out);
    ASSERT_TRUE(before.ok() && after.ok());
    EXPECT_EQ(hash_image(*before, nullptr), hash_image(*after, nullptr));
}

TEST(Deid, EveryProfileAttributeWithRetainDatesAndCleanDescriptors) {
    ScratchDir dir;
    DeidOptions options;
    options.retain_longitudinal_temporal = true;
    options.clean_descriptors = true;
    const Prepared p = prepare(dir, options);
    const auto out = dir / "out.dcm";
    auto done = deidentify_file(p.input, out, options, UidRemapper::random());
    ASSERT_TRUE(done.ok()) << done.error().message();
    EXPECT_GT(done->cleaned, 10u);
    const auto report = verify(dir, p, out, "K");
    EXPECT_EQ(report.find("FAIL"), std::string::npos) << report;
    const auto dump = run_command("dcmdump +P 0012,0064 +P 0028,0303 " + quote(out));
    EXPECT_NE(dump.output.find("113106"), std::string::npos) << dump.output;
    EXPECT_NE(dump.output.find("113105"), std::string::npos) << dump.output;
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

TEST(Deid, BurnedInAnnotationIsRefusedUnlessAllowed) {
    ScratchDir dir;
    const auto flagged = dir / "burned.dcm";
    std::filesystem::copy_file(pydicom_file("CT_small.dcm"), flagged);
    ASSERT_EQ(run_command("dcmodify -nb -i '(0028,0301)=YES' " + quote(flagged)).exit_code, 0);
    auto refused = deidentify_file(flagged, dir / "out.dcm", {}, UidRemapper::random());
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kPermission);
    EXPECT_NE(refused.error().message().find("Burned In Annotation"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir / "out.dcm"));
    DeidOptions allow;
    allow.allow_burned_in_annotation = true;
    EXPECT_TRUE(deidentify_file(flagged, dir / "out.dcm", allow, UidRemapper::random()).ok());
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

TEST(Deid, RefusesNonDicom) {
    ScratchDir dir;
    testing::write_bytes(dir / "x.txt", {'h', 'e', 'l', 'l', 'o'});
    auto r = deidentify_file(dir / "x.txt", dir / "y.dcm", {}, UidRemapper::random());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace medanchor::image

// The canonical JSON form and the report digest (docs/report.md): RFC 8785's key order and string
// escaping (with the RFC's own examples), stability, sensitivity of the digest to every field,
// the round trip through from_json, refusal of malformed input, and the worked example in
// docs/report.md, whose digest is also recomputed by the sha256sum tool.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "image/test_support.h"
#include "report/jcs.h"
#include "report/report.h"
#include "report/sample_report.h"

namespace medanchor::report {
namespace {

using medanchor::testing::needs_review_report;
using medanchor::testing::png_report;
using medanchor::testing::sample_report;

std::string canonical(const AnalysisReport& r) {
    auto text = to_canonical_json(r);
    EXPECT_TRUE(text.ok()) << (text.ok() ? "" : text.error().message());
    return text.ok() ? *text : std::string();
}

std::string hex_digest(const AnalysisReport& r) {
    auto d = report_digest(r);
    EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message());
    return d.ok() ? digest_hex(*d) : std::string();
}

std::string escaped(std::string_view s) {
    std::string out;
    jcs::append_string(out, s);
    return out;
}

// The text of the first fenced block whose info string is `info` in docs/report.md.
std::string doc_block(const std::string& info) {
    std::ifstream in(std::string(MEDANCHOR_SOURCE_DIR) + "/docs/report.md");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string doc = ss.str();
    const std::string open = "```" + info + "\n";
    const auto start = doc.find(open);
    if (start == std::string::npos)
        return {};
    const auto body = start + open.size();
    const auto end = doc.find("\n```", body);
    return end == std::string::npos ? std::string() : doc.substr(body, end - body);
}

// ---- RFC 8785 rules ------------------------------------------------------------------------

TEST(Jcs, EscapesExactlyAsRfc8785) {
    // RFC 8785 section 3.2.2.2's example string and its serialisation.
    EXPECT_EQ(escaped("\u20ac$\x0f\nA'B\"\\\\\"/"), "\"\u20ac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"");
    // Every control character below U+0020: the five short forms, else \u00xx in lowercase hex.
    const std::map<int, std::string> short_forms = {
        {0x08, "\\b"}, {0x09, "\\t"}, {0x0A, "\\n"}, {0x0C, "\\f"}, {0x0D, "\\r"}};
    for (int c = 0; c < 0x20; ++c) {
        std::string expected;
        if (auto it = short_forms.find(c); it != short_forms.end()) {
            expected = it->second;
        } else {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
            expected = buffer;
        }
        EXPECT_EQ(escaped(std::string(1, static_cast<char>(c))), "\"" + expected + "\"") << c;
    }
    // DEL, '/', U+2028 and non-ASCII stay literal UTF-8.
    EXPECT_EQ(escaped("\x7f/\u2028\u00e9\U0001F600"), "\"\x7f/\u2028\u00e9\U0001F600\"");
}

TEST(Jcs, SortsKeysByUtf16CodeUnitsAsRfc8785) {
    // RFC 8785 section 3.2.3's sorting example, input in its order, output in the RFC's.
    const auto input = nlohmann::json::parse(R"({
        "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis"})");
    auto text = jcs::canonicalize(input);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text,
              "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\","
              "\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\","
              "\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With "
              "Dagesh\"}");
    // Where UTF-16 and UTF-8 byte order disagree (a key above U+FFFF against one in
    // U+E000..U+FFFF), the UTF-16 order wins, and nlohmann's dump (byte order) would differ.
    EXPECT_TRUE(jcs::utf16_less("\U0001F600", "\uff61"));
    EXPECT_FALSE(jcs::utf16_less("\uff61", "\U0001F600"));
    EXPECT_NE(*text, input.dump(-1, ' ', false));
}

TEST(Jcs, RefusesWhatHasNoCanonicalForm) {
    EXPECT_FALSE(jcs::canonicalize(nlohmann::json(1.5)).ok());
    EXPECT_FALSE(jcs::canonicalize(nlohmann::json(std::uint64_t{1} << 53)).ok());
    EXPECT_TRUE(jcs::canonicalize(nlohmann::json((std::uint64_t{1} << 53) - 1)).ok());
    EXPECT_FALSE(jcs::canonicalize(nlohmann::json(std::string("\xc3\x28"))).ok());
    EXPECT_FALSE(jcs::valid_utf8("\xed\xa0\x80"));      // a UTF-16 surrogate in UTF-8
    EXPECT_FALSE(jcs::valid_utf8("\xc0\xaf"));          // overlong '/'
    EXPECT_FALSE(jcs::valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_TRUE(jcs::valid_utf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
}

// ---- The report's canonical form -----------------------------------------------------------

// True if every object in `v` lists its keys in ascending byte order (= UTF-16 order for the
// ASCII keys a report has).
bool keys_sorted(const nlohmann::ordered_json& v) {
    if (v.is_object()) {
        std::string previous;
        bool first = true;
        for (const auto& [key, item] : v.items()) {
            if (!first && !(previous < key))
                return false;
            previous = key;
            first = false;
            if (!keys_sorted(item))
                return false;
        }
    } else if (v.is_array()) {
        for (const auto& item : v) {
            if (!keys_sorted(item))
                return false;
        }
    }
    return true;
}

TEST(CanonicalJson, KeysSortedNoWhitespaceIntegersOnly) {
    const std::string text = canonical(sample_report());
    EXPECT_TRUE(text.starts_with(
        "{\"analyst\":\"ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5\",\"analyzed_at\":"
        "\"2026-11-25T09:30:00Z\",\"image\":{\"columns\":512,\"dicom\":{\"series_instance_uid\""))
        << text;
    EXPECT_TRUE(keys_sorted(nlohmann::ordered_json::parse(text)));
    // No insignificant whitespace: the compact rendering of the same value is the same text.
    EXPECT_EQ(text.find('\n'), std::string::npos);
    EXPECT_EQ(text, nlohmann::json::parse(text).dump(-1, ' ', false));
    const auto parsed = nlohmann::json::parse(text);
    std::function<void(const nlohmann::json&)> no_floats = [&](const nlohmann::json& v) {
        EXPECT_FALSE(v.is_number_float());
        if (v.is_structured()) {
            for (const auto& item : v)
                no_floats(item);
        }
    };
    no_floats(parsed);
    // Optional fields are absent, never null.
    const std::string png = canonical(png_report());
    EXPECT_EQ(png.find("null"), std::string::npos);
    EXPECT_EQ(png.find("\"dicom\""), std::string::npos);
    EXPECT_EQ(png.find("\"chain_id\""), std::string::npos);
    EXPECT_EQ(png.find("\"saliency\""), std::string::npos);
    EXPECT_EQ(png.find("\"site\""), std::string::npos);
}

TEST(CanonicalJson, EscapesControlCharactersAndKeepsNonAscii) {
    AnalysisReport r = needs_review_report();
    r.result.review_reason =
        "line\none\ttab \"q\" back\\slash \x01 \x1f caf\u00e9 \u2192 \U0001F600";
    r.site = "H\u00f4pital Saint-\u00c9loi / \u6771\u4eac";
    const std::string text = canonical(r);
    EXPECT_NE(text.find("\"line\\none\\ttab \\\"q\\\" back\\\\slash \\u0001 \\u001f caf\u00e9 "
                        "\u2192 \U0001F600\""),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("\"H\u00f4pital Saint-\u00c9loi / \u6771\u4eac\""), std::string::npos);
    // For these ASCII keys nlohmann's compact dump agrees byte for byte (the brief's question):
    // same key order, same escapes. The writer is still ours; see jcs.h for why.
    EXPECT_EQ(text, nlohmann::json::parse(text).dump(-1, ' ', false));
}

TEST(CanonicalJson, SameReportSameBytes) {
    const std::string a = canonical(sample_report());
    const std::string b = canonical(sample_report());
    EXPECT_EQ(a, b);
    // Parsed back from a pretty-printed, reordered rendering: the same canonical bytes.
    nlohmann::ordered_json reordered;
    const auto parsed = nlohmann::json::parse(a);
    std::vector<std::string> keys;
    for (const auto& [key, value] : parsed.items())
        keys.push_back(key);
    for (auto it = keys.rbegin(); it != keys.rend(); ++it)
        reordered[*it] = parsed[*it];
    auto back = from_json(reordered.dump(4));
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(canonical(*back), a);
}

TEST(CanonicalJson, EveryFieldChangesTheDigest) {
    using Mutation = std::pair<const char*, std::function<void(AnalysisReport&)>>;
    const std::vector<Mutation> mutations = {
        {"medanchor_version", [](auto& r) { r.medanchor_version = "0.1.1"; }},
        {"analyzed_at", [](auto& r) { r.analyzed_at = "2026-11-25T09:30:01Z"; }},
        {"image.hash", [](auto& r) { r.image.hash[20] = r.image.hash[20] == '0' ? '1' : '0'; }},
        {"image.hash mode", [](auto& r) { r.image.hash = "sha256:" + r.image.hash.substr(12); }},
        {"image.modality", [](auto& r) { r.image.modality = "MR"; }},
        {"image.rows", [](auto& r) { r.image.rows = 511; }},
        {"image.columns", [](auto& r) { r.image.columns = 511; }},
        {"image.frames", [](auto& r) { r.image.frames = 2; }},
        {"image.dicom.transfer_syntax_uid",
         [](auto& r) { r.image.dicom->transfer_syntax_uid = "1.2.840.10008.1.2"; }},
        {"image.dicom.sop_class_uid",
         [](auto& r) { r.image.dicom->sop_class_uid = "1.2.840.10008.5.1.4.1.1.4"; }},
        {"image.dicom.study_instance_uid",
         [](auto& r) { r.image.dicom->study_instance_uid += "1"; }},
        {"image.dicom.series_instance_uid",
         [](auto& r) { r.image.dicom->series_instance_uid += "1"; }},
        {"image.dicom.sop_instance_uid", [](auto& r) { r.image.dicom->sop_instance_uid += "1"; }},
        {"image.dicom absent", [](auto& r) { r.image.dicom.reset(); }},
        {"model.name", [](auto& r) { r.model.name = "ct-nodule2"; }},
        {"model.version", [](auto& r) { r.model.version = "1.2.1"; }},
        {"model.sha256", [](auto& r) { r.model.sha256[0] = '6'; }},
        {"model.chain_id", [](auto& r) { r.model.chain_id = 2; }},
        {"model.chain_id absent", [](auto& r) { r.model.chain_id.reset(); }},
        {"model.calibration.method",
         [](auto& r) {
             r.model.calibration_method = "none";
             r.model.calibration_temperature = "1";
         }},
        {"model.calibration.temperature",
         [](auto& r) { r.model.calibration_temperature = "1.25"; }},
        {"result.finding.code", [](auto& r) { r.result.finding_code = "mass"; }},
        {"result.finding.display", [](auto& r) { r.result.finding_display = "Nodule"; }},
        {"result.confidence_bp", [](auto& r) { r.result.confidence_bp = 8751; }},
        {"result.label_probabilities value",
         [](auto& r) { r.result.label_probabilities[0].probability_bp = 1249; }},
        {"result.label_probabilities code",
         [](auto& r) { r.result.label_probabilities[0].code = "other"; }},
        {"result.label_probabilities order",
         [](auto& r) {
             std::swap(r.result.label_probabilities[0], r.result.label_probabilities[1]);
         }},
        {"result.needs_review",
         [](auto& r) {
             r.result.needs_review = true;
             r.result.review_reason = "x";
         }},
        {"result.preprocessing", [](auto& r) { r.result.preprocessing.pop_back(); }},
        {"result.preprocessing step", [](auto& r) { r.result.preprocessing[0] += " "; }},
        {"result.saliency.file", [](auto& r) { r.result.saliency->file_name = "s.png"; }},
        {"result.saliency.sha256", [](auto& r) { r.result.saliency->sha256[0] = 'f'; }},
        {"result.saliency absent", [](auto& r) { r.result.saliency.reset(); }},
        {"analyst", [](auto& r) { r.analyst = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG"; }},
        {"site", [](auto& r) { r.site = "Radiology, site B"; }},
        {"site absent", [](auto& r) { r.site.reset(); }},
    };
    std::set<std::string> digests = {hex_digest(sample_report())};
    for (const auto& [name, mutate] : mutations) {
        AnalysisReport r = sample_report();
        mutate(r);
        ASSERT_TRUE(validate(r).ok()) << name << ": " << validate(r).error().message();
        EXPECT_TRUE(digests.insert(hex_digest(r)).second) << name << " left the digest unchanged";
    }
}

TEST(CanonicalJson, RoundTripsThroughFromJson) {
    for (const auto& r : {sample_report(), needs_review_report(), png_report()}) {
        const std::string text = canonical(r);
        auto back = from_json(text);
        ASSERT_TRUE(back.ok()) << back.error().message();
        EXPECT_EQ(*back, r);
        EXPECT_EQ(canonical(*back), text);
        EXPECT_EQ(digest_of_canonical(text), *report_digest(r));
    }
}

// ---- The worked example in docs/report.md ---------------------------------------------------

TEST(CanonicalJson, DocExampleAndDigestMatch) {
    const std::string doc_canonical = doc_block("json canonical");
    const std::string doc_digest = doc_block("text report-digest");
    ASSERT_FALSE(doc_canonical.empty()) << "docs/report.md lost its canonical example block";
    ASSERT_FALSE(doc_digest.empty()) << "docs/report.md lost its report-digest block";
    const std::string text = canonical(sample_report());
    EXPECT_EQ(text, doc_canonical);
    EXPECT_EQ("sha256:" + hex_digest(sample_report()), doc_digest);
    // An independent SHA-256: coreutils' sha256sum over the same bytes.
    medanchor::testing::ScratchDir dir;
    {
        std::ofstream out(dir / "report.json", std::ios::binary);
        out << text;
    }
    const auto r = medanchor::testing::run_command("sha256sum " +
                                                   medanchor::testing::quote(dir / "report.json"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ("sha256:" + r.output.substr(0, 64), doc_digest);
}

// An independent implementation agrees: Python's json module (Debian's python3) with sorted keys,
// compact separators and literal UTF-8 follows the same rules for a report's ASCII keys, integers
// and strings, control characters and non-ASCII included.
TEST(CanonicalJson, PythonJsonModuleAgrees) {
    AnalysisReport r = needs_review_report();
    r.result.review_reason =
        "tab\there \x01\x1f \"quoted\" back\\slash caf\u00e9 \U0001F600 \x7f /";
    r.site = "H\u00f4pital \u6771\u4eac";
    const std::string text = canonical(r);
    medanchor::testing::ScratchDir dir;
    {
        std::ofstream out(dir / "report.json", std::ios::binary);
        out << text;
    }
    const auto py = medanchor::testing::run_command(
        "/usr/bin/python3 -c 'import json,sys; "
        "sys.stdout.write(json.dumps(json.load(open(sys.argv[1], "
        "encoding=\"utf-8\")), sort_keys=True, separators=(\",\",\":\"), ensure_ascii=False))' " +
        medanchor::testing::quote(dir / "report.json"));
    ASSERT_EQ(py.exit_code, 0) << py.output;
    EXPECT_EQ(py.output, text);
}

// ---- Refusals --------------------------------------------------------------------------------

ErrorCode from_json_error(const std::string& text) {
    auto r = from_json(text);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? ErrorCode::kInternal : r.error().code();
}

// The sample's canonical text with the first `from` replaced by `to`.
std::string edited(const std::string& from, const std::string& to) {
    std::string text = canonical(sample_report());
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(FromJson, RefusesMalformedOrForeignReports) {
    EXPECT_EQ(from_json_error(edited("medanchor-report/1", "medanchor-report/2")),
              ErrorCode::kUnsupported);
    EXPECT_EQ(from_json_error(edited("\"schema\":\"medanchor-report/1\",", "")),
              ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error("not json"), ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error("[]"), ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"confidence_bp\":8750", "\"confidence_bp\":8750.0")),
              ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"confidence_bp\":8750", "\"confidence_bp\":87.5")),
              ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"confidence_bp\":8750", "\"confidence_bp\":-1")),
              ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"confidence_bp\":8750", "\"confidence_bp\":10001")),
              ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"confidence_bp\":8750", "\"confidence_bp\":\"8750\"")),
              ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"rows\":512", "\"rows\":512,\"patient_name\":\"X\"")),
              ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"rows\":512", "\"rows\":512,\"rows\":513")),
              ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"Radiology, site A\"", "\"\xff\"")), ErrorCode::kCorrupt);
    EXPECT_EQ(from_json_error(edited("\"site\":\"Radiology, site A\"", "\"site\":null")),
              ErrorCode::kCorrupt);
    // A source UID (not remapped) is refused even inside an otherwise good report.
    EXPECT_EQ(from_json_error(edited("2.25.160053389467301380390181470386435853137",
                                     "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322")),
              ErrorCode::kCorrupt);
}

TEST(Validate, RefusesFieldsOutsideTheirRules) {
    using Mutation = std::pair<const char*, std::function<void(AnalysisReport&)>>;
    const std::vector<Mutation> bad = {
        {"schema", [](auto& r) { r.schema = "medanchor-report/2"; }},
        {"analyzed_at local time", [](auto& r) { r.analyzed_at = "2026-11-25T09:30:00+01:00"; }},
        {"analyzed_at no seconds", [](auto& r) { r.analyzed_at = "2026-11-25T09:30Z"; }},
        {"analyzed_at month 13", [](auto& r) { r.analyzed_at = "2026-13-25T09:30:00Z"; }},
        {"hash upper case", [](auto& r) { r.image.hash = "sha256:" + std::string(64, 'A'); }},
        {"hash short", [](auto& r) { r.image.hash = "sha256:abcd"; }},
        {"hash mode", [](auto& r) { r.image.hash = "md5:" + std::string(64, 'a'); }},
        {"rows 0", [](auto& r) { r.image.rows = 0; }},
        {"source study UID",
         [](auto& r) { r.image.dicom->study_instance_uid = "1.2.840.113619.2.1.1.1"; }},
        {"UID leading zero", [](auto& r) { r.image.dicom->sop_class_uid = "1.02.3"; }},
        {"model sha256", [](auto& r) { r.model.sha256 = "xyz"; }},
        {"model name path", [](auto& r) { r.model.name = "../model"; }},
        {"chain id 0", [](auto& r) { r.model.chain_id = 0; }},
        {"calibration", [](auto& r) { r.model.calibration_method = "platt"; }},
        {"temperature trailing zero", [](auto& r) { r.model.calibration_temperature = "1.50"; }},
        {"temperature exponent", [](auto& r) { r.model.calibration_temperature = "1e3"; }},
        {"temperature leading zero", [](auto& r) { r.model.calibration_temperature = "01.5"; }},
        {"temperature zero", [](auto& r) { r.model.calibration_temperature = "0"; }},
        {"temperature none not 1",
         [](auto& r) {
             r.model.calibration_method = "none";
             r.model.calibration_temperature = "1.5";
         }},
        {"finding code space", [](auto& r) { r.result.finding_code = "lung nodule"; }},
        {"finding display empty", [](auto& r) { r.result.finding_display.clear(); }},
        {"confidence", [](auto& r) { r.result.confidence_bp = 10001; }},
        {"label repeats", [](auto& r) { r.result.label_probabilities[0].code = "nodule"; }},
        {"label probability",
         [](auto& r) { r.result.label_probabilities[0].probability_bp = 10001; }},
        {"reason without review", [](auto& r) { r.result.review_reason = "why"; }},
        {"review without reason", [](auto& r) { r.result.needs_review = true; }},
        {"saliency path", [](auto& r) { r.result.saliency->file_name = "/tmp/saliency.png"; }},
        {"saliency dotdot", [](auto& r) { r.result.saliency->file_name = ".."; }},
        {"saliency backslash", [](auto& r) { r.result.saliency->file_name = "a\\b.png"; }},
        {"analyst", [](auto& r) { r.analyst = "Dr. Example"; }},
        {"site empty", [](auto& r) { r.site = ""; }},
        {"site not UTF-8", [](auto& r) { r.site = "\xc3"; }},
        {"preprocessing not UTF-8", [](auto& r) { r.result.preprocessing[0] = "\xfe"; }},
    };
    for (const auto& [name, mutate] : bad) {
        AnalysisReport r = sample_report();
        mutate(r);
        const Status s = validate(r);
        EXPECT_FALSE(s.ok()) << name;
        if (!s.ok()) {
            EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument) << name;
        }
        EXPECT_FALSE(to_canonical_json(r).ok()) << name;
    }
}

// ---- Helpers for the pipeline -----------------------------------------------------------------

// docs/report.md, "Report folders": the name of the example, and one path component whatever
// the parts hold.
TEST(Helpers, ReportFolderName) {
    EXPECT_EQ(report_folder_name("9853c90ed58f898c0123456789abcdef0123456789abcdef0123456789abcdef",
                                 "ct-nodule-sim", "1.0.0",
                                 "51d8700e9e2e8f3fd69ded1b6777695c3ef0608db0ff93d2e58993a0f81b9e41",
                                 "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG"),
              "9853c90ed58f898c_ct-nodule-sim-1.0.0_51d8700e_"
              "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG");
    EXPECT_EQ(
        report_folder_name(std::string(64, 'a'), "my_model/..", "2_b", std::string(64, 'b'), "ST1"),
        "aaaaaaaaaaaaaaaa_my-model-..-2-b_bbbbbbbb_ST1");
}

TEST(Helpers, DecimalPercentAndTimestamp) {
    EXPECT_EQ(decimal_string(1.5), "1.5");
    EXPECT_EQ(decimal_string(1.0), "1");
    EXPECT_EQ(decimal_string(0.7), "0.7");
    EXPECT_EQ(decimal_string(1e-5), "0.00001");
    EXPECT_EQ(decimal_string(2.3456789), "2.3456789");
    for (double t : {1.5, 1.0, 0.7, 1e-5, 2.3456789, 123.25}) {
        AnalysisReport r = sample_report();
        r.model.calibration_temperature = decimal_string(t);
        EXPECT_TRUE(validate(r).ok()) << t;
    }
    EXPECT_EQ(percent_string(8750), "87.5");
    EXPECT_EQ(percent_string(8733), "87.33");
    EXPECT_EQ(percent_string(10000), "100");
    EXPECT_EQ(percent_string(7), "0.07");
    EXPECT_EQ(percent_string(0), "0");
    EXPECT_EQ(utc_timestamp(std::chrono::system_clock::time_point(std::chrono::seconds(0)) +
                            std::chrono::milliseconds(1999)),
              "1970-01-01T00:00:01Z");
    EXPECT_EQ(
        utc_timestamp(std::chrono::system_clock::time_point(std::chrono::seconds(1795599000))),
        "2026-11-25T09:30:00Z");
}

}  // namespace
}  // namespace medanchor::report

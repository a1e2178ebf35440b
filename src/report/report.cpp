#include "report/report.h"

#include <charconv>
#include <cmath>
#include <ctime>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <vector>

#include "common/encoding.h"
#include "image/image_hash.h"
#include "report/jcs.h"

namespace medanchor::report {

namespace {

using nlohmann::json;

// Bounds that keep a report small and a hostile report file from growing without limit.
constexpr std::size_t kMaxText = 1024;      // any free-text field, bytes
constexpr std::size_t kMaxListItems = 256;  // labels, preprocessing steps
constexpr std::size_t kMaxReportBytes = 1 << 20;

Error invalid(std::string_view field, std::string_view problem) {
    return Error(ErrorCode::kInvalidArgument,
                 "report field " + std::string(field) + ": " + std::string(problem));
}

bool all_of_charset(std::string_view s, std::string_view extra) {
    for (const char c : s) {
        const bool alnum =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && extra.find(c) == std::string_view::npos)
            return false;
    }
    return true;
}

// The contract's finding-code charset (docs/contract.md): letters, digits and ". _ : -".
bool is_code(std::string_view s) {
    return !s.empty() && s.size() <= 32 && all_of_charset(s, "._:-");
}

bool is_token(std::string_view s, std::size_t max) {
    return !s.empty() && s.size() <= max && all_of_charset(s, "._-");
}

// A DICOM UID (PS3.5 9.1): 1..64 characters, numeric components separated by '.', no leading
// zero in a component of more than one digit.
bool is_uid(std::string_view s) {
    if (s.empty() || s.size() > 64)
        return false;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = s.find('.', start);
        const std::string_view part =
            s.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (part.empty() || (part.size() > 1 && part[0] == '0'))
            return false;
        for (const char c : part) {
            if (c < '0' || c > '9')
                return false;
        }
        if (dot == std::string_view::npos)
            return true;
        start = dot + 1;
    }
}

bool is_deid_uid(std::string_view s) {
    return s.starts_with("2.25.") && is_uid(s);
}

bool is_image_hash(std::string_view s) {
    if (s.starts_with("hmac-sha256:"))
        return is_lower_hex(s.substr(12), 64);
    if (s.starts_with("sha256:"))
        return is_lower_hex(s.substr(7), 64);
    return false;
}

bool is_timestamp(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SSZ with plausible ranges.
    if (s.size() != 20)
        return false;
    static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (kShape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != kShape[i])
            return false;
    }
    const auto num = [&](std::size_t at, std::size_t n) {
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i)
            v = v * 10 + (s[i] - '0');
        return v;
    };
    const int month = num(5, 2), day = num(8, 2), hour = num(11, 2), minute = num(14, 2),
              second = num(17, 2);
    return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
           second <= 60;
}

// A positive decimal with no sign, exponent, leading zero (other than "0." ) or trailing
// fractional zero: the unique text for its value that decimal_string() produces.
bool is_canonical_positive_decimal(std::string_view s) {
    if (s.empty())
        return false;
    const std::size_t dot = s.find('.');
    const std::string_view whole = s.substr(0, dot);
    if (whole.empty() || (whole.size() > 1 && whole[0] == '0'))
        return false;
    if (whole.find_first_not_of("0123456789") != std::string_view::npos)
        return false;
    bool nonzero = whole != "0";
    if (dot != std::string_view::npos) {
        const std::string_view frac = s.substr(dot + 1);
        if (frac.empty() || frac.back() == '0' ||
            frac.find_first_not_of("0123456789") != std::string_view::npos)
            return false;
        nonzero = nonzero || frac.find_first_not_of('0') != std::string_view::npos;
    }
    return nonzero && s.size() <= 32;
}

// A Stacks principal as text: standard ("S" + c32 characters) or contract ("<standard>.<name>").
bool is_principal(std::string_view s) {
    const std::size_t dot = s.find('.');
    const std::string_view address = s.substr(0, dot);
    if (address.size() < 28 || address.size() > 42 || address[0] != 'S')
        return false;
    for (const char c : address) {
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    if (dot == std::string_view::npos)
        return true;
    const std::string_view name = s.substr(dot + 1);
    return !name.empty() && name.size() <= 128 && all_of_charset(name, "-_");
}

// Free text: valid UTF-8, bounded; `allow_empty` for fields that may be "".
Status check_text(std::string_view field, std::string_view s, bool allow_empty,
                  std::size_t max = kMaxText) {
    if (!allow_empty && s.empty())
        return invalid(field, "is empty");
    if (s.size() > max)
        return invalid(field, "is longer than " + std::to_string(max) + " bytes");
    if (!jcs::valid_utf8(s))
        return invalid(field, "is not valid UTF-8");
    return Status::Ok();
}

json to_json_value(const AnalysisReport& r) {
    json image = {{"hash", r.image.hash},
                  {"modality", r.image.modality},
                  {"rows", r.image.rows},
                  {"columns", r.image.columns},
                  {"frames", r.image.frames}};
    if (r.image.dicom) {
        const auto& d = *r.image.dicom;
        image["dicom"] = {{"transfer_syntax_uid", d.transfer_syntax_uid},
                          {"sop_class_uid", d.sop_class_uid},
                          {"study_instance_uid", d.study_instance_uid},
                          {"series_instance_uid", d.series_instance_uid},
                          {"sop_instance_uid", d.sop_instance_uid}};
    }
    json model = {{"name", r.model.name},
                  {"version", r.model.version},
                  {"sha256", r.model.sha256},
                  {"calibration",
                   {{"method", r.model.calibration_method},
                    {"temperature", r.model.calibration_temperature}}}};
    if (r.model.chain_id)
        model["chain_id"] = *r.model.chain_id;
    json labels = json::array();
    for (const auto& p : r.result.label_probabilities)
        labels.push_back({{"code", p.code}, {"probability_bp", p.probability_bp}});
    json result = {
        {"finding", {{"code", r.result.finding_code}, {"display", r.result.finding_display}}},
        {"confidence_bp", r.result.confidence_bp},
        {"label_probabilities", labels},
        {"needs_review", r.result.needs_review},
        {"review_reason", r.result.review_reason},
        {"preprocessing", r.result.preprocessing}};
    if (r.result.saliency)
        result["saliency"] = {{"file", r.result.saliency->file_name},
                              {"sha256", r.result.saliency->sha256}};
    json root = {{"schema", r.schema},
                 {"medanchor_version", r.medanchor_version},
                 {"analyzed_at", r.analyzed_at},
                 {"image", image},
                 {"model", model},
                 {"result", result},
                 {"analyst", r.analyst}};
    if (r.site)
        root["site"] = *r.site;
    return root;
}

// ---- Reading ---------------------------------------------------------------------------------

// Reads one object's fields by name, remembering which it has seen, so that unknown keys (which
// the canonical form would drop, changing the digest) are refused.
class ObjectReader {
  public:
    ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

    static Result<ObjectReader> open(const json& parent, const std::string& path) {
        if (!parent.is_object())
            return corrupt(path, "is not an object");
        return ObjectReader(parent, path);
    }

    const json* find(const char* key) {
        seen_.insert(key);
        const auto it = object_.find(key);
        return it == object_.end() ? nullptr : &*it;
    }

    Result<const json*> require(const char* key) {
        const json* v = find(key);
        if (v == nullptr)
            return corrupt(field(key), "is missing");
        return v;
    }

    Result<std::string> string(const char* key) {
        auto v = require(key);
        if (!v)
            return v.error();
        if (!(*v)->is_string())
            return corrupt(field(key), "is not a string");
        return (*v)->get<std::string>();
    }

    Result<std::optional<std::string>> optional_string(const char* key) {
        if (object_.find(key) == object_.end()) {
            seen_.insert(key);
            return std::optional<std::string>();
        }
        auto s = string(key);
        if (!s)
            return s.error();
        return std::optional<std::string>(std::move(*s));
    }

    Result<std::uint64_t> integer(const char* key, std::uint64_t max) {
        auto v = require(key);
        if (!v)
            return v.error();
        return as_integer(**v, field(key), max);
    }

    Result<bool> boolean(const char* key) {
        auto v = require(key);
        if (!v)
            return v.error();
        if (!(*v)->is_boolean())
            return corrupt(field(key), "is not true or false");
        return (*v)->get<bool>();
    }

    Status finish() const {
        for (const auto& [key, value] : object_.items()) {
            if (!seen_.contains(key))
                return corrupt(field(key), "is not a field of " + std::string(kReportSchema));
        }
        return Status::Ok();
    }

    std::string field(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    static Error corrupt(const std::string& field, std::string_view problem) {
        return Error(ErrorCode::kCorrupt, "report field " + field + ": " + std::string(problem));
    }

    static Result<std::uint64_t> as_integer(const json& v, const std::string& field,
                                            std::uint64_t max) {
        if (!v.is_number_unsigned()) {
            return corrupt(field,
                           v.is_number() ? "is not a non-negative integer" : "is not a number");
        }
        const auto n = v.get<std::uint64_t>();
        if (n > max)
            return corrupt(field, "is above " + std::to_string(max));
        return n;
    }

  private:
    const json& object_;
    std::string path_;
    std::set<std::string, std::less<>> seen_;
};

#define MA_TRY(var, expr)       \
    auto var##_r = (expr);      \
    if (!var##_r)               \
        return var##_r.error(); \
    auto var = std::move(*var##_r)

Result<AnalysisReport> read_report(const json& root) {
    AnalysisReport r;
    MA_TRY(top, ObjectReader::open(root, ""));
    {
        // The schema first, so that a newer report is refused as unsupported, not as corrupt.
        MA_TRY(schema, top.string("schema"));
        if (schema != kReportSchema) {
            return Error(ErrorCode::kUnsupported, "report schema \"" + schema +
                                                      "\" is not supported (this build reads " +
                                                      std::string(kReportSchema) + ")");
        }
        r.schema = schema;
    }
    MA_TRY(version, top.string("medanchor_version"));
    r.medanchor_version = version;
    MA_TRY(at, top.string("analyzed_at"));
    r.analyzed_at = at;
    MA_TRY(analyst, top.string("analyst"));
    r.analyst = analyst;
    MA_TRY(site, top.optional_string("site"));
    r.site = site;

    MA_TRY(image_v, top.require("image"));
    MA_TRY(image, ObjectReader::open(*image_v, "image"));
    MA_TRY(hash, image.string("hash"));
    r.image.hash = hash;
    MA_TRY(modality, image.string("modality"));
    r.image.modality = modality;
    MA_TRY(rows, image.integer("rows", UINT32_MAX));
    MA_TRY(columns, image.integer("columns", UINT32_MAX));
    MA_TRY(frames, image.integer("frames", UINT32_MAX));
    r.image.rows = static_cast<std::uint32_t>(rows);
    r.image.columns = static_cast<std::uint32_t>(columns);
    r.image.frames = static_cast<std::uint32_t>(frames);
    if (const json* dicom_v = image.find("dicom")) {
        MA_TRY(dicom, ObjectReader::open(*dicom_v, "image.dicom"));
        DicomReference d;
        MA_TRY(ts, dicom.string("transfer_syntax_uid"));
        MA_TRY(cls, dicom.string("sop_class_uid"));
        MA_TRY(study, dicom.string("study_instance_uid"));
        MA_TRY(series, dicom.string("series_instance_uid"));
        MA_TRY(instance, dicom.string("sop_instance_uid"));
        d.transfer_syntax_uid = ts;
        d.sop_class_uid = cls;
        d.study_instance_uid = study;
        d.series_instance_uid = series;
        d.sop_instance_uid = instance;
        if (auto s = dicom.finish(); !s)
            return s.error();
        r.image.dicom = d;
    }
    if (auto s = image.finish(); !s)
        return s.error();

    MA_TRY(model_v, top.require("model"));
    MA_TRY(model, ObjectReader::open(*model_v, "model"));
    MA_TRY(name, model.string("name"));
    MA_TRY(model_version, model.string("version"));
    MA_TRY(sha, model.string("sha256"));
    r.model.name = name;
    r.model.version = model_version;
    r.model.sha256 = sha;
    if (const json* id = model.find("chain_id")) {
        MA_TRY(chain_id, ObjectReader::as_integer(*id, "model.chain_id", kMaxCanonicalInteger));
        r.model.chain_id = chain_id;
    }
    MA_TRY(cal_v, model.require("calibration"));
    MA_TRY(cal, ObjectReader::open(*cal_v, "model.calibration"));
    MA_TRY(method, cal.string("method"));
    MA_TRY(temperature, cal.string("temperature"));
    r.model.calibration_method = method;
    r.model.calibration_temperature = temperature;
    if (auto s = cal.finish(); !s)
        return s.error();
    if (auto s = model.finish(); !s)
        return s.error();

    MA_TRY(result_v, top.require("result"));
    MA_TRY(result, ObjectReader::open(*result_v, "result"));
    MA_TRY(finding_v, result.require("finding"));
    MA_TRY(finding, ObjectReader::open(*finding_v, "result.finding"));
    MA_TRY(code, finding.string("code"));
    MA_TRY(display, finding.string("display"));
    r.result.finding_code = code;
    r.result.finding_display = display;
    if (auto s = finding.finish(); !s)
        return s.error();
    MA_TRY(confidence, result.integer("confidence_bp", 10000));
    r.result.confidence_bp = static_cast<std::uint32_t>(confidence);
    MA_TRY(labels, result.require("label_probabilities"));
    if (!labels->is_array())
        return ObjectReader::corrupt("result.label_probabilities", "is not an array");
    for (std::size_t i = 0; i < labels->size(); ++i) {
        const std::string path = "result.label_probabilities[" + std::to_string(i) + "]";
        MA_TRY(item, ObjectReader::open((*labels)[i], path));
        MA_TRY(label_code, item.string("code"));
        MA_TRY(bp, item.integer("probability_bp", 10000));
        if (auto s = item.finish(); !s)
            return s.error();
        r.result.label_probabilities.push_back({label_code, static_cast<std::uint32_t>(bp)});
    }
    MA_TRY(needs_review, result.boolean("needs_review"));
    r.result.needs_review = needs_review;
    MA_TRY(reason, result.string("review_reason"));
    r.result.review_reason = reason;
    MA_TRY(steps, result.require("preprocessing"));
    if (!steps->is_array())
        return ObjectReader::corrupt("result.preprocessing", "is not an array");
    for (std::size_t i = 0; i < steps->size(); ++i) {
        if (!(*steps)[i].is_string()) {
            return ObjectReader::corrupt("result.preprocessing[" + std::to_string(i) + "]",
                                         "is not a string");
        }
        r.result.preprocessing.push_back((*steps)[i].get<std::string>());
    }
    if (const json* sal_v = result.find("saliency")) {
        MA_TRY(sal, ObjectReader::open(*sal_v, "result.saliency"));
        MA_TRY(file, sal.string("file"));
        MA_TRY(sal_sha, sal.string("sha256"));
        if (auto s = sal.finish(); !s)
            return s.error();
        r.result.saliency = Saliency{file, sal_sha};
    }
    if (auto s = result.finish(); !s)
        return s.error();
    if (auto s = top.finish(); !s)
        return s.error();
    return r;
}

#undef MA_TRY

}  // namespace

Status validate(const AnalysisReport& r) {
    if (r.schema != kReportSchema)
        return invalid("schema", "must be \"" + std::string(kReportSchema) + "\"");
    if (!is_token(r.medanchor_version, 64))
        return invalid("medanchor_version", "must be 1..64 of [A-Za-z0-9._-]");
    if (!is_timestamp(r.analyzed_at))
        return invalid("analyzed_at", "must be UTC as YYYY-MM-DDTHH:MM:SSZ");
    if (!is_principal(r.analyst))
        return invalid("analyst", "must be a Stacks principal (S..., optionally .contract-name)");
    if (r.site) {
        if (auto s = check_text("site", *r.site, false, 128); !s)
            return s;
    }

    const auto& im = r.image;
    if (!is_image_hash(im.hash))
        return invalid("image.hash", "must be hmac-sha256:<64 hex> or sha256:<64 hex>");
    if (!im.modality.empty() && !(im.modality.size() <= 16 && all_of_charset(im.modality, "_ ")))
        return invalid("image.modality",
                       "must be a DICOM code string (letters, digits, _ and space)");
    if (im.rows == 0 || im.columns == 0 || im.frames == 0)
        return invalid("image", "rows, columns and frames must be at least 1");
    if (im.dicom) {
        const auto& d = *im.dicom;
        if (!is_uid(d.transfer_syntax_uid))
            return invalid("image.dicom.transfer_syntax_uid", "is not a DICOM UID");
        if (!is_uid(d.sop_class_uid))
            return invalid("image.dicom.sop_class_uid", "is not a DICOM UID");
        const std::pair<const char*, const std::string*> deid[] = {
            {"image.dicom.study_instance_uid", &d.study_instance_uid},
            {"image.dicom.series_instance_uid", &d.series_instance_uid},
            {"image.dicom.sop_instance_uid", &d.sop_instance_uid}};
        for (const auto& [field, uid] : deid) {
            if (!is_deid_uid(*uid))
                return invalid(field, "must be a de-identified 2.25 UID (image::UidRemapper)");
        }
    }

    const auto& m = r.model;
    if (!is_token(m.name, 64))
        return invalid("model.name", "must be 1..64 of [A-Za-z0-9._-]");
    if (!is_token(m.version, 32))
        return invalid("model.version", "must be 1..32 of [A-Za-z0-9._-]");
    if (!is_lower_hex(m.sha256, 64))
        return invalid("model.sha256", "must be 64 lowercase hex digits");
    if (m.chain_id && (*m.chain_id == 0 || *m.chain_id > kMaxCanonicalInteger))
        return invalid("model.chain_id", "must be 1..2^53-1");
    if (m.calibration_method != "none" && m.calibration_method != "temperature")
        return invalid("model.calibration.method", "must be \"none\" or \"temperature\"");
    if (!is_canonical_positive_decimal(m.calibration_temperature))
        return invalid("model.calibration.temperature",
                       "must be a positive decimal without sign, exponent or redundant zeros");
    if (m.calibration_method == "none" && m.calibration_temperature != "1")
        return invalid("model.calibration.temperature", "must be \"1\" when the method is none");

    const auto& res = r.result;
    if (!is_code(res.finding_code))
        return invalid("result.finding.code", "must be 1..32 of [A-Za-z0-9._:-]");
    if (auto s = check_text("result.finding.display", res.finding_display, false, 128); !s)
        return s;
    if (res.confidence_bp > 10000)
        return invalid("result.confidence_bp", "must be 0..10000");
    if (res.label_probabilities.size() > kMaxListItems)
        return invalid("result.label_probabilities", "has too many labels");
    std::set<std::string, std::less<>> codes;
    for (const auto& p : res.label_probabilities) {
        if (!is_code(p.code))
            return invalid("result.label_probabilities", "code \"" + p.code + "\" is not a code");
        if (!codes.insert(p.code).second)
            return invalid("result.label_probabilities", "code \"" + p.code + "\" repeats");
        if (p.probability_bp > 10000)
            return invalid("result.label_probabilities", "probabilities must be 0..10000");
    }
    if (auto s = check_text("result.review_reason", res.review_reason, !res.needs_review); !s)
        return s;
    if (!res.needs_review && !res.review_reason.empty())
        return invalid("result.review_reason", "must be empty when needs_review is false");
    if (res.preprocessing.size() > kMaxListItems)
        return invalid("result.preprocessing", "has too many steps");
    for (const auto& step : res.preprocessing) {
        if (auto s = check_text("result.preprocessing", step, false, 256); !s)
            return s;
    }
    if (res.saliency) {
        const auto& f = res.saliency->file_name;
        if (auto s = check_text("result.saliency.file", f, false, 255); !s)
            return s;
        if (f == "." || f == ".." || f.find_first_of("/\\") != std::string::npos ||
            f.find('\0') != std::string::npos)
            return invalid("result.saliency.file", "must be a file name, not a path");
        if (!is_lower_hex(res.saliency->sha256, 64))
            return invalid("result.saliency.sha256", "must be 64 lowercase hex digits");
    }
    return Status::Ok();
}

Result<std::string> to_canonical_json(const AnalysisReport& report) {
    if (auto s = validate(report); !s)
        return s.error();
    return jcs::canonicalize(to_json_value(report));
}

Result<std::array<std::uint8_t, 32>> report_digest(const AnalysisReport& report) {
    auto text = to_canonical_json(report);
    if (!text)
        return text.error();
    return digest_of_canonical(*text);
}

std::array<std::uint8_t, 32> digest_of_canonical(std::string_view canonical_json) {
    return image::sha256(std::span(reinterpret_cast<const std::uint8_t*>(canonical_json.data()),
                                   canonical_json.size()));
}

std::string digest_hex(const std::array<std::uint8_t, 32>& digest) {
    return image::to_hex(digest);
}

Result<AnalysisReport> from_json(std::string_view text) {
    if (text.size() > kMaxReportBytes)
        return Error(ErrorCode::kTooLarge,
                     "report is larger than " + std::to_string(kMaxReportBytes) + " bytes");
    // RFC 8785 input is I-JSON: a duplicate key is an error, not "last one wins" (nlohmann's
    // default). One set of keys per open object, checked as the parser meets them.
    std::vector<std::set<std::string>> open_objects;
    bool duplicate = false;
    std::string duplicate_key;
    const json::parser_callback_t check = [&](int /*depth*/, json::parse_event_t event,
                                              json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
                open_objects.emplace_back();
                break;
            case json::parse_event_t::object_end:
                if (!open_objects.empty())
                    open_objects.pop_back();
                break;
            case json::parse_event_t::key:
                if (!open_objects.empty() && parsed.is_string() &&
                    !open_objects.back().insert(parsed.get<std::string>()).second) {
                    duplicate = true;
                    duplicate_key = parsed.get<std::string>();
                }
                break;
            default:
                break;
        }
        return true;
    };
    json root = json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
    if (root.is_discarded())
        return Error(ErrorCode::kCorrupt, "report is not well-formed JSON (or not UTF-8)");
    if (duplicate)
        return Error(ErrorCode::kCorrupt, "report has a duplicate key \"" + duplicate_key + "\"");
    auto report = read_report(root);
    if (!report)
        return report.error();
    if (auto s = validate(*report); !s)
        return Error(ErrorCode::kCorrupt, s.error().message());
    return report;
}

std::string utc_timestamp(std::chrono::system_clock::time_point when) {
    const std::time_t t =
        std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(when));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

std::string decimal_string(double value) {
    char buffer[512];
    const auto [end, ec] =
        std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
    if (ec != std::errc())
        return "0";
    std::string s(buffer, end);
    if (s == "-0")
        s = "0";
    return s;
}

std::string percent_string(std::uint32_t basis_points) {
    std::string s = std::to_string(basis_points / 100);
    const std::uint32_t hundredths = basis_points % 100;
    if (hundredths != 0) {
        s += '.';
        s += static_cast<char>('0' + hundredths / 10);
        if (hundredths % 10 != 0)
            s += static_cast<char>('0' + hundredths % 10);
    }
    return s;
}

std::string report_folder_name(std::string_view image_hash_hex, std::string_view model_name,
                               std::string_view model_version, std::string_view model_sha256,
                               std::string_view analyst) {
    std::string name;
    const auto part = [&](std::string_view text) {
        for (char c : text) {
            const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '-';
            name += safe ? c : '-';
        }
    };
    part(image_hash_hex.substr(0, 16));
    name += '_';
    part(model_name);
    name += '-';
    part(model_version);
    name += '_';
    part(model_sha256.substr(0, 8));
    name += '_';
    part(analyst);
    return name;
}

}  // namespace medanchor::report

#include "inference/model_bundle.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>

#include "common/encoding.h"
#include "common/file_io.h"

namespace medanchor::inference {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bounds on what we read before parsing: a manifest is a few KB; 1 GiB holds any classifier
// network these CPU engines can reasonably run (a ResNet-50 is ~100 MB).
constexpr std::size_t kMaxManifestBytes = 1 << 20;
constexpr std::size_t kMaxNetworkBytes = std::size_t{1} << 30;

// Early return of an Error from a Result-returning expression, assigning its value to `lhs`
// (a unique temporary per line, so `lhs` may be any assignable expression).
#define MA_CAT2(a, b) a##b
#define MA_CAT(a, b) MA_CAT2(a, b)
#define MA_ASSIGN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                 \
    if (!tmp)                          \
        return tmp.error();            \
    lhs = std::move(tmp.value())
#define MA_ASSIGN(lhs, expr) MA_ASSIGN_IMPL(MA_CAT(ma_result_, __LINE__), lhs, expr)
#define MA_CHECK(expr)                 \
    do {                               \
        const Status status_ = (expr); \
        if (!status_)                  \
            return status_.error();    \
    } while (0)

// Error context: every message is "<source>: <field> <problem>".
class Fields {
  public:
    explicit Fields(std::string_view source) : source_(source) {}

    Error bad(const std::string& field, const std::string& problem) const {
        return Error(ErrorCode::kCorrupt, source_ + ": " + field + " " + problem);
    }

    static std::string join(const std::string& parent, const std::string& key) {
        return parent.empty() ? key : parent + "." + key;
    }

    // Refuses keys outside `allowed`: a misspelt optional field must not pass silently.
    Status only(const json& obj, const std::string& parent,
                std::initializer_list<const char*> allowed) const {
        for (const auto& item : obj.items()) {
            const bool known = std::any_of(allowed.begin(), allowed.end(),
                                           [&](const char* a) { return item.key() == a; });
            if (!known)
                return bad(join(parent, item.key()), "is not a known field");
        }
        return Status::Ok();
    }

    Result<const json*> member(const json& obj, const std::string& parent, const char* key) const {
        const auto it = obj.find(key);
        if (it == obj.end())
            return bad(join(parent, key), "is missing");
        return &*it;
    }

    Result<const json*> object(const json& obj, const std::string& parent, const char* key) const {
        const json* v = nullptr;
        MA_ASSIGN(v, member(obj, parent, key));
        if (!v->is_object())
            return bad(join(parent, key), "must be an object");
        return v;
    }

    Result<std::string> string(const json& obj, const std::string& parent, const char* key) const {
        const json* v = nullptr;
        MA_ASSIGN(v, member(obj, parent, key));
        if (!v->is_string())
            return bad(join(parent, key), "must be a string");
        return v->get<std::string>();
    }

    Result<double> number(const json& obj, const std::string& parent, const char* key) const {
        const json* v = nullptr;
        MA_ASSIGN(v, member(obj, parent, key));
        if (!v->is_number())
            return bad(join(parent, key), "must be a number");
        const double d = v->get<double>();
        if (!std::isfinite(d))
            return bad(join(parent, key), "must be finite");
        return d;
    }

    Result<std::int64_t> integer(const json& obj, const std::string& parent, const char* key,
                                 std::int64_t lo, std::int64_t hi) const {
        const json* v = nullptr;
        MA_ASSIGN(v, member(obj, parent, key));
        if (!v->is_number_integer())
            return bad(join(parent, key), "must be an integer");
        const bool is_unsigned = v->is_number_unsigned();
        if (is_unsigned && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
            return bad(join(parent, key), range_text(lo, hi));
        }
        const std::int64_t i = v->get<std::int64_t>();
        if (i < lo || i > hi)
            return bad(join(parent, key), range_text(lo, hi));
        return i;
    }

    // A string from `choices`; the message lists them.
    Result<std::string> choice(const json& obj, const std::string& parent, const char* key,
                               std::initializer_list<const char*> choices) const {
        std::string s;
        MA_ASSIGN(s, string(obj, parent, key));
        for (const char* c : choices) {
            if (s == c)
                return s;
        }
        std::string list;
        for (const char* c : choices)
            list += std::string(list.empty() ? "" : ", ") + "\"" + c + "\"";
        return bad(join(parent, key), "must be one of " + list + " (got \"" + s + "\")");
    }

  private:
    static std::string range_text(std::int64_t lo, std::int64_t hi) {
        return "must be in " + std::to_string(lo) + ".." + std::to_string(hi);
    }
    std::string source_;
};

bool matches_charset(const std::string& s, std::size_t max_len, std::string_view extra) {
    if (s.empty() || s.size() > max_len)
        return false;
    return std::all_of(s.begin(), s.end(), [&](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               extra.find(c) != std::string_view::npos;
    });
}

bool is_printable_text(const std::string& s, std::size_t max_len) {
    if (s.empty() || s.size() > max_len)
        return false;
    // Printable ASCII or UTF-8 continuation/lead bytes; no control characters that could
    // rewrite a terminal line when a report is printed.
    return std::all_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u != 0x7F;
    });
}

Status parse_task(const Fields& f, const json& root, ModelManifest& m) {
    const json* task = nullptr;
    MA_ASSIGN(task, f.object(root, "", "task"));
    MA_CHECK(f.only(*task, "task", {"type", "activation", "labels"}));
    std::string type;
    MA_ASSIGN(type, f.choice(*task, "task", "type", {"classification"}));
    std::string activation;
    MA_ASSIGN(activation, f.choice(*task, "task", "activation", {"softmax", "sigmoid"}));
    m.activation = activation == "softmax" ? Activation::kSoftmax : Activation::kSigmoid;
    const json* labels = nullptr;
    MA_ASSIGN(labels, f.member(*task, "task", "labels"));
    if (!labels->is_array())
        return f.bad("task.labels", "must be an array");
    const std::size_t min_labels = m.activation == Activation::kSoftmax ? 2 : 1;
    if (labels->size() < min_labels || labels->size() > 1000) {
        return f.bad("task.labels",
                     "must hold " + std::to_string(min_labels) + "..1000 labels for " + activation);
    }
    std::set<std::string> codes;
    for (std::size_t i = 0; i < labels->size(); ++i) {
        const std::string where = "task.labels[" + std::to_string(i) + "]";
        const json& item = (*labels)[i];
        if (!item.is_object())
            return f.bad(where, "must be an object");
        MA_CHECK(f.only(item, where, {"code", "display"}));
        Label label;
        MA_ASSIGN(label.code, f.string(item, where, "code"));
        if (!matches_charset(label.code, 32, "._:-"))
            return f.bad(where + ".code", "must match [A-Za-z0-9._:-]{1,32}");
        if (!codes.insert(label.code).second)
            return f.bad(where + ".code", "repeats \"" + label.code + "\"");
        MA_ASSIGN(label.display, f.string(item, where, "display"));
        if (!is_printable_text(label.display, 128))
            return f.bad(where + ".display", "must be 1..128 printable characters");
        m.labels.push_back(std::move(label));
    }
    return Status::Ok();
}

Status parse_input_output(const Fields& f, const json& root, ModelManifest& m) {
    const json* input = nullptr;
    MA_ASSIGN(input, f.object(root, "", "input"));
    MA_CHECK(f.only(*input, "input", {"name", "layout", "channels", "height", "width", "dtype"}));
    MA_ASSIGN(m.input.name, f.string(*input, "input", "name"));
    if (m.input.name.empty() || m.input.name.size() > 256)
        return f.bad("input.name", "must be 1..256 characters");
    std::string layout;
    MA_ASSIGN(layout, f.choice(*input, "input", "layout", {"NCHW"}));
    std::string dtype;
    MA_ASSIGN(dtype, f.choice(*input, "input", "dtype", {"float32"}));
    std::int64_t v = 0;
    MA_ASSIGN(v, f.integer(*input, "input", "channels", 1, 16));
    m.input.channels = static_cast<int>(v);
    MA_ASSIGN(v, f.integer(*input, "input", "height", 1, 4096));
    m.input.height = static_cast<int>(v);
    MA_ASSIGN(v, f.integer(*input, "input", "width", 1, 4096));
    m.input.width = static_cast<int>(v);

    const json* output = nullptr;
    MA_ASSIGN(output, f.object(root, "", "output"));
    MA_CHECK(f.only(*output, "output", {"name", "kind"}));
    MA_ASSIGN(m.output.name, f.string(*output, "output", "name"));
    if (m.output.name.empty() || m.output.name.size() > 256)
        return f.bad("output.name", "must be 1..256 characters");
    std::string kind;
    MA_ASSIGN(kind, f.choice(*output, "output", "kind", {"logits", "probabilities"}));
    m.output.kind = kind == "logits" ? OutputKind::kLogits : OutputKind::kProbabilities;
    return Status::Ok();
}

Status parse_window(const Fields& f, const json& pre, WindowSpec& w) {
    const json* window = nullptr;
    MA_ASSIGN(window, f.object(pre, "preprocessing", "window"));
    const std::string at = "preprocessing.window";
    std::string type;
    MA_ASSIGN(type, f.choice(*window, at, "type", {"fixed", "percentile", "dicom", "none"}));
    if (type == "fixed") {
        w.type = WindowType::kFixed;
        MA_CHECK(f.only(*window, at, {"type", "center", "width"}));
        MA_ASSIGN(w.center, f.number(*window, at, "center"));
        MA_ASSIGN(w.width, f.number(*window, at, "width"));
        if (!(w.width > 0))
            return f.bad(at + ".width", "must be > 0");
    } else if (type == "percentile") {
        w.type = WindowType::kPercentile;
        MA_CHECK(f.only(*window, at, {"type", "low", "high"}));
        MA_ASSIGN(w.low, f.number(*window, at, "low"));
        MA_ASSIGN(w.high, f.number(*window, at, "high"));
        if (w.low < 0 || w.low >= 100)
            return f.bad(at + ".low", "must be in [0, 100)");
        if (w.high <= w.low || w.high > 100)
            return f.bad(at + ".high", "must be in (low, 100]");
    } else if (type == "dicom") {
        w.type = WindowType::kDicom;
        MA_CHECK(f.only(*window, at, {"type"}));
    } else {
        w.type = WindowType::kNone;
        MA_CHECK(f.only(*window, at, {"type", "scale"}));
        MA_ASSIGN(w.scale, f.number(*window, at, "scale"));
        if (!(w.scale > 0))
            return f.bad(at + ".scale", "must be > 0");
    }
    return Status::Ok();
}

Result<std::vector<float>> per_channel(const Fields& f, const json& obj, const std::string& parent,
                                       const char* key, int channels, bool positive) {
    const std::string at = Fields::join(parent, key);
    const json* v = nullptr;
    MA_ASSIGN(v, f.member(obj, parent, key));
    if (!v->is_array())
        return f.bad(at, "must be an array of numbers");
    if (v->size() != 1 && v->size() != static_cast<std::size_t>(channels)) {
        return f.bad(at, "must hold 1 or input.channels (" + std::to_string(channels) + ") values");
    }
    std::vector<float> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
        const json& x = (*v)[i];
        const std::string item = at + "[" + std::to_string(i) + "]";
        if (!x.is_number() || !std::isfinite(x.get<double>()))
            return f.bad(item, "must be a finite number");
        if (positive && !(x.get<double>() > 0))
            return f.bad(item, "must be > 0");
        out.push_back(x.get<float>());
    }
    return out;
}

Status parse_preprocessing(const Fields& f, const json& root, ModelManifest& m) {
    const json* pre = nullptr;
    MA_ASSIGN(pre, f.object(root, "", "preprocessing"));
    const std::string at = "preprocessing";
    MA_CHECK(f.only(*pre, at, {"modalities", "window", "resize", "normalize", "channels"}));
    Preprocessing& p = m.preprocessing;

    const json* modalities = nullptr;
    MA_ASSIGN(modalities, f.member(*pre, at, "modalities"));
    if (!modalities->is_array() || modalities->empty())
        return f.bad(at + ".modalities", "must be a non-empty array of strings");
    for (std::size_t i = 0; i < modalities->size(); ++i) {
        const json& x = (*modalities)[i];
        const std::string item = at + ".modalities[" + std::to_string(i) + "]";
        if (!x.is_string())
            return f.bad(item, "must be a string");
        const std::string s = x.get<std::string>();
        if (s != "*" && !matches_charset(s, 16, "_"))
            return f.bad(item, "must be \"*\" or a DICOM modality code such as \"CT\"");
        p.modalities.push_back(s);
    }

    MA_CHECK(parse_window(f, *pre, p.window));

    const json* resize = nullptr;
    MA_ASSIGN(resize, f.object(*pre, at, "resize"));
    MA_CHECK(f.only(*resize, at + ".resize", {"policy", "interpolation"}));
    std::string policy;
    MA_ASSIGN(policy, f.choice(*resize, at + ".resize", "policy", {"stretch", "letterbox"}));
    p.resize = policy == "stretch" ? ResizePolicy::kStretch : ResizePolicy::kLetterbox;
    std::string interpolation;
    MA_ASSIGN(interpolation,
              f.choice(*resize, at + ".resize", "interpolation", {"area", "linear", "nearest"}));
    p.interpolation = interpolation == "area"     ? Interpolation::kArea
                      : interpolation == "linear" ? Interpolation::kLinear
                                                  : Interpolation::kNearest;

    const json* normalize = nullptr;
    MA_ASSIGN(normalize, f.object(*pre, at, "normalize"));
    MA_CHECK(f.only(*normalize, at + ".normalize", {"mean", "std"}));
    MA_ASSIGN(p.mean,
              per_channel(f, *normalize, at + ".normalize", "mean", m.input.channels, false));
    MA_ASSIGN(p.std, per_channel(f, *normalize, at + ".normalize", "std", m.input.channels, true));

    std::string channels;
    MA_ASSIGN(channels, f.choice(*pre, at, "channels", {"replicate"}));
    return Status::Ok();
}

Status parse_calibration(const Fields& f, const json& root, ModelManifest& m) {
    const json* cal = nullptr;
    MA_ASSIGN(cal, f.object(root, "", "calibration"));
    std::string method;
    MA_ASSIGN(method, f.choice(*cal, "calibration", "method", {"temperature", "none"}));
    if (method == "temperature") {
        MA_CHECK(f.only(*cal, "calibration", {"method", "temperature"}));
        m.calibration.temperature_scaling = true;
        MA_ASSIGN(m.calibration.temperature, f.number(*cal, "calibration", "temperature"));
        if (!(m.calibration.temperature > 0) || m.calibration.temperature > 1000)
            return f.bad("calibration.temperature", "must be > 0 and <= 1000");
        if (m.output.kind == OutputKind::kProbabilities) {
            return f.bad("calibration.method",
                         "must be \"none\" when output.kind is \"probabilities\" (temperature "
                         "scaling divides logits)");
        }
    } else {
        MA_CHECK(f.only(*cal, "calibration", {"method"}));
        m.calibration = Calibration{};
    }
    return Status::Ok();
}

// A SHA-256 in hex, either case, normalised to lowercase.
Result<std::string> sha256_field(const Fields& f, const json& obj, const std::string& parent,
                                 const char* key, const std::string& of_what) {
    std::string hex;
    MA_ASSIGN(hex, f.string(obj, parent, key));
    std::transform(hex.begin(), hex.end(), hex.begin(),
                   [](char c) { return static_cast<char>(c >= 'A' && c <= 'F' ? c + 32 : c); });
    if (!is_lower_hex(hex, 64)) {
        return f.bad(Fields::join(parent, key),
                     "must be 64 hex digits (the SHA-256 of " + of_what + ")");
    }
    return hex;
}

constexpr EngineKind kEngines[] = {EngineKind::kOpenCvDnn, EngineKind::kLibTorch};

// Format 2: "engine" and "networks" ({"onnx": {"sha256": ...}, "torchscript": {...}}).
Status parse_networks(const Fields& f, const json& root, ModelManifest& m) {
    std::string engine;
    MA_ASSIGN(engine, f.choice(root, "", "engine", {"opencv-dnn", "libtorch"}));
    m.engine = *parse_engine_name(engine);
    const json* networks = nullptr;
    MA_ASSIGN(networks, f.object(root, "", "networks"));
    MA_CHECK(f.only(*networks, "networks", {"onnx", "torchscript"}));
    for (const EngineKind e : kEngines) {
        const char* format = network_format_name(e);
        if (!networks->contains(format))
            continue;
        const std::string at = std::string("networks.") + format;
        const json* entry = nullptr;
        MA_ASSIGN(entry, f.object(*networks, "networks", format));
        MA_CHECK(f.only(*entry, at, {"sha256"}));
        NetworkSpec spec{e, {}};
        MA_ASSIGN(spec.sha256, sha256_field(f, *entry, at, "sha256", network_file_name(e)));
        m.networks.push_back(std::move(spec));
    }
    if (m.networks.empty())
        return f.bad("networks", "must list at least one of \"onnx\", \"torchscript\"");
    if (m.network(m.engine) == nullptr) {
        return f.bad("engine", "is \"" + engine + "\" but networks has no \"" +
                                   network_format_name(m.engine) + "\" entry (" +
                                   network_file_name(m.engine) + ")");
    }
    return Status::Ok();
}

Result<ModelManifest> parse(const Fields& f, const json& root) {
    ModelManifest m;
    if (!root.is_object())
        return f.bad("(top level)", "must be a JSON object");
    bool v2 = false;
    {
        const auto it = root.find("format");
        if (it == root.end())
            return f.bad("format", "is missing");
        v2 = it->is_string() && it->get<std::string>() == kManifestFormatV2;
        if (!v2 && !(it->is_string() && it->get<std::string>() == kManifestFormatV1)) {
            // Not a manifest we can read: a newer format or another tool's file.
            return Error(ErrorCode::kUnsupported,
                         f.bad("format", "is " + it->dump() + "; this build reads \"" +
                                             std::string(kManifestFormatV1) + "\" and \"" +
                                             std::string(kManifestFormatV2) + "\" only")
                             .message());
        }
    }
    if (v2) {
        MA_CHECK(
            f.only(root, "",
                   {"format", "name", "version", "engine", "networks", "task", "input", "output",
                    "preprocessing", "calibration", "min_confidence_bp", "provenance"}));
    } else {
        MA_CHECK(f.only(root, "",
                        {"format", "name", "version", "model_sha256", "task", "input", "output",
                         "preprocessing", "calibration", "min_confidence_bp", "provenance"}));
    }
    MA_ASSIGN(m.name, f.string(root, "", "name"));
    if (!matches_charset(m.name, 64, "._-"))
        return f.bad("name", "must match [A-Za-z0-9._-]{1,64}");
    MA_ASSIGN(m.version, f.string(root, "", "version"));
    if (!matches_charset(m.version, 32, "._-"))
        return f.bad("version", "must match [A-Za-z0-9._-]{1,32}");
    m.format = v2 ? 2 : 1;
    if (v2) {
        MA_CHECK(parse_networks(f, root, m));
    } else {
        NetworkSpec onnx{EngineKind::kOpenCvDnn, {}};
        MA_ASSIGN(onnx.sha256, sha256_field(f, root, "", "model_sha256", "model.onnx"));
        m.networks.push_back(std::move(onnx));
        m.engine = EngineKind::kOpenCvDnn;
    }
    m.model_sha256 = m.network(m.engine)->sha256;
    MA_CHECK(parse_task(f, root, m));
    MA_CHECK(parse_input_output(f, root, m));
    MA_CHECK(parse_preprocessing(f, root, m));
    MA_CHECK(parse_calibration(f, root, m));
    std::int64_t bp = 0;
    MA_ASSIGN(bp, f.integer(root, "", "min_confidence_bp", 0, 10000));
    m.min_confidence_bp = static_cast<int>(bp);
    const json* provenance = nullptr;
    MA_ASSIGN(provenance, f.object(root, "", "provenance"));
    m.provenance_json = provenance->dump();
    return m;
}

}  // namespace

bool ModelManifest::accepts_modality(std::string_view modality) const {
    for (const auto& m : preprocessing.modalities) {
        if (m == "*" || m == modality || (modality.empty() && m == "OT"))
            return true;
    }
    return false;
}

const NetworkSpec* ModelManifest::network(EngineKind e) const {
    for (const auto& n : networks) {
        if (n.engine == e)
            return &n;
    }
    return nullptr;
}

Result<ModelManifest> parse_model_manifest(std::string_view json_text, std::string_view source) {
    const Fields f(source);
    // allow_exceptions=false: a syntax error comes back as a discarded value, not a throw.
    const json root = json::parse(json_text.begin(), json_text.end(), nullptr, false);
    if (root.is_discarded())
        return Error(ErrorCode::kCorrupt, std::string(source) + ": not valid JSON");
    return parse(f, root);
}

std::string sha256_hex(const std::vector<std::uint8_t>& bytes) {
    return to_hex(sha256(bytes));
}

Result<ModelBundle> load_model_bundle(const fs::path& dir, std::optional<EngineKind> engine) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        return Error(ErrorCode::kNotFound,
                     dir.string() +
                         ": no such model bundle folder (expected model.json and "
                         "model.onnx or model.ts in it)");
    }
    ModelBundle bundle;
    bundle.dir = dir;
    const fs::path manifest_path = dir / "model.json";
    std::string text;
    MA_ASSIGN(text, read_regular_text_file(manifest_path, kMaxManifestBytes));
    MA_ASSIGN(bundle.manifest, parse_model_manifest(text, manifest_path.string()));
    ModelManifest& m = bundle.manifest;
    if (engine && *engine != m.engine) {
        const NetworkSpec* chosen = m.network(*engine);
        if (chosen == nullptr) {
            std::string carried;
            for (const auto& n : m.networks)
                carried += std::string(carried.empty() ? "" : ", ") + network_file_name(n.engine);
            return Error(ErrorCode::kUnsupported,
                         manifest_path.string() + ": engine " + engine_name(*engine) + " runs " +
                             network_file_name(*engine) +
                             ", which this bundle does not carry (it has " + carried + ")");
        }
        m.engine = *engine;
        m.model_sha256 = chosen->sha256;
    }
    bundle.network_path = dir / network_file_name(m.engine);
    MA_ASSIGN(bundle.network, read_regular_file(bundle.network_path, kMaxNetworkBytes));
    const std::string actual = sha256_hex(bundle.network);
    if (actual != m.model_sha256) {
        const std::string field =
            m.format == 1 ? "model_sha256 "
                          : std::string("networks.") + network_format_name(m.engine) + ".sha256 ";
        return Error(ErrorCode::kCorrupt, bundle.network_path.string() + ": SHA-256 is " + actual +
                                              " but " + manifest_path.string() + " says " + field +
                                              m.model_sha256 +
                                              " (the network is not the one the manifest names)");
    }
    return bundle;
}

const char* engine_name(EngineKind e) {
    return e == EngineKind::kOpenCvDnn ? "opencv-dnn" : "libtorch";
}

const char* network_format_name(EngineKind e) {
    return e == EngineKind::kOpenCvDnn ? "onnx" : "torchscript";
}

const char* network_file_name(EngineKind e) {
    return e == EngineKind::kOpenCvDnn ? "model.onnx" : "model.ts";
}

std::optional<EngineKind> parse_engine_name(std::string_view name) {
    for (const EngineKind e : kEngines) {
        if (name == engine_name(e))
            return e;
    }
    return std::nullopt;
}

const char* activation_name(Activation a) {
    return a == Activation::kSoftmax ? "softmax" : "sigmoid";
}

const char* window_type_name(WindowType t) {
    switch (t) {
        case WindowType::kFixed:
            return "fixed";
        case WindowType::kPercentile:
            return "percentile";
        case WindowType::kDicom:
            return "dicom";
        case WindowType::kNone:
            return "none";
    }
    return "?";
}

const char* resize_policy_name(ResizePolicy p) {
    return p == ResizePolicy::kStretch ? "stretch" : "letterbox";
}

const char* interpolation_name(Interpolation i) {
    switch (i) {
        case Interpolation::kArea:
            return "area";
        case Interpolation::kLinear:
            return "linear";
        case Interpolation::kNearest:
            return "nearest";
    }
    return "?";
}

#undef MA_ASSIGN
#undef MA_ASSIGN_IMPL
#undef MA_CAT
#undef MA_CAT2
#undef MA_CHECK

}  // namespace medanchor::inference

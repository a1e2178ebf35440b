#include "app/cli/image_commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/encoding.h"
#include "image/deid.h"
#include "image/image_hash.h"
#include "image/reader.h"
#include "image/site_key.h"
#include "service/file_inputs.h"

namespace medanchor::app {

using namespace medanchor::service;  // the CLI is a shell over the services
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Progress on stderr for long runs: only when stderr is a terminal and there are enough files
// for it to help; silent otherwise (pipes, CI logs, tests).
class ProgressBar {
  public:
    explicit ProgressBar(std::size_t total)
        : total_(total), enabled_(total >= kMinFiles && ::isatty(STDERR_FILENO) == 1) {}
    ~ProgressBar() {
        if (enabled_)
            std::fputs("\r\033[K", stderr);
    }
    void step(const fs::path& current) {
        ++done_;
        if (!enabled_)
            return;
        constexpr int kWidth = 30;
        const int filled = static_cast<int>(kWidth * done_ / total_);
        std::string name = current.filename().string();
        if (name.size() > 40)
            name = name.substr(0, 37) + "...";
        std::fprintf(stderr, "\r\033[K[%.*s%*s] %zu/%zu %s", filled,
                     "##############################", kWidth - filled, "", done_, total_,
                     name.c_str());
        std::fflush(stderr);
    }
    // Clears the bar before a line of other output on stderr.
    void clear() {
        if (enabled_)
            std::fputs("\r\033[K", stderr);
    }

  private:
    static constexpr std::size_t kMinFiles = 8;
    std::size_t total_;
    std::size_t done_ = 0;
    bool enabled_;
};

void report(ProgressBar& bar, const Error& error) {
    bar.clear();
    std::cerr << "medanchor: " << error.message() << " [" << error_info(error.code()).name << "]\n";
}

// A file name fit for a terminal, a log or JSON: control characters and invalid UTF-8 escaped
// (common/encoding.h), so no name can forge an output line.
std::string shown(const fs::path& path) {
    return escape_for_display(path.string());
}

// What a decoder or de-identification tolerated, one line each on stderr.
void report_warnings(ProgressBar& bar, const fs::path& file,
                     const std::vector<image::DecodeWarning>& warnings) {
    for (const auto& w : warnings) {
        bar.clear();
        std::cerr << "medanchor: warning: " << shown(file) << ": " << w.message << " ["
                  << image::warning_name(w.kind) << "]\n";
    }
}

json warnings_json(const std::vector<image::DecodeWarning>& warnings) {
    json list = json::array();
    for (const auto& w : warnings)
        list.push_back({{"kind", image::warning_name(w.kind)}, {"message", w.message}});
    return list;
}

json geometry_json(const image::Image& img) {
    const auto& g = img.geometry;
    return json{{"rows", g.rows},
                {"columns", g.columns},
                {"frames", g.frames},
                {"samples_per_pixel", g.samples_per_pixel},
                {"bits_allocated", g.bits_allocated},
                {"bits_stored", g.bits_stored},
                {"pixel_representation", g.pixel_representation},
                {"photometric", g.photometric}};
}

// A summary Status for a run: ok; the error itself for a single file (main() prints it); or,
// for many files (each error already printed), a count with the first failure's code.
Status summarise(std::size_t failed, std::size_t total, const std::optional<Error>& first) {
    if (failed == 0)
        return Status::Ok();
    if (total == 1)
        return *first;
    return Error(first->code(), std::to_string(failed) + " of " + std::to_string(total) +
                                    " files failed (see above)");
}

Status run_inspect(const std::string& file, bool as_json) {
    auto img = image::read_image(file);
    if (!img)
        return img.error();
    const auto& g = img->geometry;
    const auto& i = img->info;
    json j{{"file", shown(file)},
           {"format", image::source_format_name(i.format)},
           {"geometry", geometry_json(*img)},
           {"high_bit", i.high_bit},
           {"photometric_in_file", i.photometric_in_file},
           {"planar_configuration_in_file", i.planar_configuration_in_file},
           {"lossy_source", i.lossy_source}};
    if (i.format == image::SourceFormat::kDicom) {
        j["transfer_syntax"] = {{"uid", i.transfer_syntax_uid}, {"name", i.transfer_syntax_name}};
        j["modality"] = i.modality;
        j["sop_class_uid"] = i.sop_class_uid;
        j["burned_in_annotation"] = i.burned_in_annotation;
        j["warnings"] = warnings_json(i.warnings);
        j["modality_lut"] = {{"present", i.has_rescale},
                             {"slope", i.rescale_slope},
                             {"intercept", i.rescale_intercept},
                             {"type", i.rescale_type}};
    }
    if (as_json) {
        std::cout << j.dump(2) << "\n";
        return Status::Ok();
    }
    std::cout << "file:            " << shown(file) << "\n"
              << "format:          " << image::source_format_name(i.format) << "\n";
    if (i.format == image::SourceFormat::kDicom) {
        std::cout << "transfer syntax: " << i.transfer_syntax_uid << " (" << i.transfer_syntax_name
                  << ")\n"
                  << "modality:        " << (i.modality.empty() ? "-" : i.modality) << "\n";
    }
    std::cout << "size:            " << g.columns << " x " << g.rows << " pixels, " << g.frames
              << (g.frames == 1 ? " frame" : " frames") << "\n"
              << "samples:         " << g.samples_per_pixel << " per pixel, " << g.photometric
              << (i.photometric_in_file != g.photometric && !i.photometric_in_file.empty()
                      ? " (file: " + i.photometric_in_file + ")"
                      : "")
              << "\n"
              << "bits:            " << g.bits_allocated << " allocated, " << g.bits_stored
              << " stored, high bit " << i.high_bit << ", "
              << (g.pixel_representation ? "signed" : "unsigned") << "\n"
              << "lossy source:    " << (i.lossy_source ? "yes" : "no") << "\n";
    if (i.format == image::SourceFormat::kDicom) {
        std::cout << "modality LUT:    ";
        if (i.has_rescale) {
            std::cout << "slope " << i.rescale_slope << ", intercept " << i.rescale_intercept
                      << (i.rescale_type.empty() ? "" : " (" + i.rescale_type + ")") << "\n";
        } else {
            std::cout << "none\n";
        }
        std::cout << "burned-in text:  "
                  << (i.burned_in_annotation.empty() ? "not stated" : i.burned_in_annotation)
                  << "\n";
    }
    for (const auto& w : i.warnings) {
        std::cout << "warning:         " << w.message << " [" << image::warning_name(w.kind)
                  << "]\n";
    }
    return Status::Ok();
}

std::string missing_key_help(const fs::path& path) {
    return shown(path) +
           ": no site key (the keyed hash is the default). Create one with "
           "`medanchor site-key new` (writes ~/.medanchor/site.key, mode 0600), or name one "
           "with --key-file F or $MEDANCHOR_SITE_KEY_FILE, or pass --public for a plain "
           "SHA-256";
}

Result<image::SiteKey> load_site_key(const std::string& key_file) {
    const fs::path path = key_file.empty() ? image::SiteKey::default_path() : fs::path(key_file);
    auto key = image::SiteKey::load(path);
    if (!key && key.error().code() == ErrorCode::kNoKey) {
        return Error(ErrorCode::kNoKey, missing_key_help(path));
    }
    return key;
}

Status run_hash(const std::vector<std::string>& inputs, const std::string& key_file,
                bool public_mode, bool as_json) {
    std::optional<image::SiteKey> key;
    if (!public_mode) {
        auto loaded = load_site_key(key_file);
        if (!loaded)
            return loaded.error();
        key.emplace(std::move(*loaded));
    }
    const auto files = expand_inputs(inputs);
    if (files.empty())
        return Error(ErrorCode::kNotFound, "no files found in the given folders");
    ProgressBar bar(files.size());
    json results = json::array();
    std::size_t failed = 0;
    std::optional<Error> first;
    for (const auto& file : files) {
        auto img = image::read_image(file);
        bar.step(file);
        if (!img) {
            ++failed;
            if (!first)
                first = img.error();
            if (files.size() > 1)
                report(bar, img.error());
            if (as_json) {
                results.push_back({{"file", shown(file)},
                                   {"error",
                                    {{"code", error_info(img.error().code()).name},
                                     {"message", img.error().message()}}}});
            }
            continue;
        }
        report_warnings(bar, file, img->info.warnings);
        const auto hash = image::hash_image(*img, key ? &*key : nullptr);
        if (as_json) {
            results.push_back({{"file", shown(file)},
                               {"mode", hash.mode_name()},
                               {"hash", hash.hex()},
                               {"geometry", geometry_json(*img)},
                               {"warnings", warnings_json(img->info.warnings)}});
        } else {
            bar.clear();
            std::cout << hash.to_string() << "  " << shown(file) << "\n";
        }
    }
    bar.clear();
    if (as_json)
        std::cout << results.dump(2) << "\n";
    return summarise(failed, files.size(), first);
}

Status run_deid(const std::string& in, const std::string& out, const image::DeidOptions& options,
                const std::string& key_file, bool ephemeral_key) {
    // UIDs are remapped under the site key (consistent across runs, so files de-identified on
    // different days still join into one study). A one-off random secret only when asked for:
    // silently falling back to one would split a study across runs without anyone knowing.
    std::optional<image::UidRemapper> uids;
    if (ephemeral_key) {
        uids.emplace(image::UidRemapper::random());
        std::cerr << "medanchor: --ephemeral-key: UIDs are remapped under a one-off secret; "
                     "files de-identified in another run will not share their study, series or "
                     "instance UIDs with these\n";
    } else {
        const fs::path path =
            key_file.empty() ? image::SiteKey::default_path() : fs::path(key_file);
        auto key = image::SiteKey::load(path);
        if (!key && key.error().code() == ErrorCode::kNoKey) {
            return Error(ErrorCode::kNoKey,
                         shown(path) +
                             ": no site key to remap UIDs with. Create one with `medanchor "
                             "site-key new`, name one with --key-file F or "
                             "$MEDANCHOR_SITE_KEY_FILE, or pass --ephemeral-key for a one-off "
                             "secret (UIDs then join only within this run)");
        }
        if (!key)
            return key.error();
        uids.emplace(*key);
    }
    std::error_code ec;
    if (!fs::exists(in, ec))
        return Error(ErrorCode::kNotFound, shown(in) + ": no such file or folder");
    std::vector<std::pair<fs::path, fs::path>> jobs;
    if (fs::is_directory(in, ec)) {
        for (const auto& file : expand_inputs({in})) {
            jobs.emplace_back(file, fs::path(out) / fs::relative(file, in));
        }
    } else {
        fs::path target = out;
        if (fs::is_directory(target, ec))
            target /= fs::path(in).filename();
        jobs.emplace_back(in, target);
    }
    if (fs::weakly_canonical(in, ec) == fs::weakly_canonical(out, ec)) {
        return Error(ErrorCode::kInvalidArgument,
                     shown(out) + ": output must differ from the input");
    }
    ProgressBar bar(jobs.size());
    std::size_t failed = 0;
    std::optional<Error> first;
    for (const auto& [from, to] : jobs) {
        auto done = image::deidentify_file(from, to, options, *uids);
        bar.step(from);
        if (!done) {
            ++failed;
            if (!first)
                first = done.error();
            if (jobs.size() > 1)
                report(bar, done.error());
            continue;
        }
        report_warnings(bar, from, done->warnings);
    }
    bar.clear();
    if (failed == 0) {
        std::cerr << "medanchor: de-identified " << jobs.size()
                  << (jobs.size() == 1 ? " file" : " files") << " into " << shown(out) << "\n";
    }
    return summarise(failed, jobs.size(), first);
}

}  // namespace

void add_image_commands(CLI::App& app, ImageCommandAction& action) {
    {
        auto* cmd = app.add_subcommand(
            "inspect",
            "Show an image's geometry, modality and transfer syntax (never identifiers)");
        auto file = std::make_shared<std::string>();
        auto as_json = std::make_shared<bool>(false);
        cmd->add_option("FILE", *file, "DICOM, PNG, JPEG or TIFF file")->required();
        cmd->add_flag("--json", *as_json, "JSON output");
        cmd->callback([&action, file, as_json] {
            action = [file, as_json] { return run_inspect(*file, *as_json); };
        });
    }
    {
        auto* cmd = app.add_subcommand(
            "hash", "Canonical image hash (docs/image-hash.md): keyed HMAC-SHA-256 by default");
        auto inputs = std::make_shared<std::vector<std::string>>();
        auto key_file = std::make_shared<std::string>();
        auto public_mode = std::make_shared<bool>(false);
        auto as_json = std::make_shared<bool>(false);
        cmd->add_option("FILE", *inputs, "files or folders (searched recursively)")->required();
        auto* key_opt = cmd->add_option(
            "--key-file", *key_file,
            "site key (mode 0600); default $MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key");
        cmd->add_flag("--public", *public_mode,
                      "unkeyed SHA-256 of the canonical form (anyone can recompute it)")
            ->excludes(key_opt);
        cmd->add_flag("--json", *as_json, "JSON output: one object per file");
        cmd->footer(
            "Prints `hmac-sha256:<hex>  FILE` (or `sha256:<hex>`). Lossless re-encodings and "
            "metadata changes keep the hash; any pixel change alters it.");
        cmd->callback([&action, inputs, key_file, public_mode, as_json] {
            action = [=] { return run_hash(*inputs, *key_file, *public_mode, *as_json); };
        });
    }
    {
        auto* cmd = app.add_subcommand(
            "deid",
            "Write a de-identified copy (PS3.15 Annex E Basic Profile) of a file or folder");
        auto in = std::make_shared<std::string>();
        auto out = std::make_shared<std::string>();
        auto options = std::make_shared<image::DeidOptions>();
        auto key_file = std::make_shared<std::string>();
        cmd->add_option("IN", *in, "DICOM file or folder")->required();
        cmd->add_option("OUT", *out, "output file or folder (the input is never changed)")
            ->required();
        cmd->add_flag("--retain-dates", options->retain_longitudinal_temporal,
                      "Retain Longitudinal Temporal Information with Full Dates option");
        cmd->add_flag("--clean-descriptors", options->clean_descriptors,
                      "Clean Descriptors option: keep descriptions with identifying values masked");
        cmd->add_flag("--allow-burned-in", options->allow_burned_in_annotation,
                      "de-identify images flagged Burned In Annotation = YES (their pixels may "
                      "still show identity)");
        cmd->add_flag("--keep-overlays", options->keep_overlays,
                      "keep overlay planes (60xx), which may show text as a bitmap; removed by "
                      "default (Overlay Comments are removed either way)");
        auto ephemeral = std::make_shared<bool>(false);
        auto* key_opt = cmd->add_option(
            "--key-file", *key_file,
            "site key for consistent UID remapping across runs (default: "
            "$MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key; required unless --ephemeral-key)");
        cmd->add_flag("--ephemeral-key", *ephemeral,
                      "remap UIDs under a one-off random secret instead of the site key: files "
                      "de-identified in other runs will not join these")
            ->excludes(key_opt);
        cmd->callback([&action, in, out, options, key_file, ephemeral] {
            action = [=] { return run_deid(*in, *out, *options, *key_file, *ephemeral); };
        });
    }
    {
        auto* cmd = app.add_subcommand("site-key", "Manage the site secret that keys image hashes");
        cmd->require_subcommand(1);
        auto* make = cmd->add_subcommand(
            "new", "Create a new random site key (mode 0600); refuses to overwrite one");
        auto path = std::make_shared<std::string>();
        make->add_option("FILE", *path,
                         "where to write it; default $MEDANCHOR_SITE_KEY_FILE or "
                         "~/.medanchor/site.key");
        make->callback([&action, path] {
            action = [path]() -> Status {
                const std::filesystem::path target =
                    path->empty() ? image::SiteKey::default_path() : std::filesystem::path(*path);
                auto key = image::SiteKey::create(target);
                if (!key)
                    return key.error();
                std::cerr << "medanchor: wrote a new site key to " << target.string()
                          << " (mode 0600). Back it up: keyed hashes cannot be recomputed "
                             "without it.\n";
                return Status::Ok();
            };
        });
    }
}

}  // namespace medanchor::app

#include "app/cli/verify_command.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "chain/proof_file.h"
#include "common/encoding.h"
#include "image/site_key.h"
#include "ledger/ledger.h"
#include "service/file_inputs.h"
#include "service/image_source.h"
#include "service/verification_service.h"
#include "stacks/bytes.h"

namespace medanchor::app {

using namespace medanchor::service;  // the CLI is a shell over the services

namespace {

namespace fs = std::filesystem;

// One image's verdict, as text (or the service's JSON with --json).
void print_verification(const ImageVerification& v, bool as_json) {
    if (as_json) {
        std::cout << to_json(v) << "\n";
        return;
    }
    std::cout << v.target.label << "\n  image hash " << v.target.display() << "\n";
    if (v.total == 0)
        std::cout << "  no analysis of this image is recorded on the chain\n";
    if (!v.proof_file.empty()) {
        std::cout << "  proof " << v.proof_file << "\n";
        for (const auto& c : v.proof_checks)
            std::cout << "    " << c << "\n";
    }
    for (const auto& a : v.analyses) {
        std::cout << "  "
                  << (a.root_id ? "leaf " + std::to_string(a.leaf_index) + " of Merkle root #" +
                                      std::to_string(*a.root_id)
                                : "analysis #" + std::to_string(a.analysis_id))
                  << ": " << a.finding << " at " << a.confidence_bp << " bp, by " << a.model << "\n"
                  << "    analyst " << a.analyst << ", block " << a.block_height << " at " << a.time
                  << "\n"
                  << "    status " << a.status << " (" << a.confirmations << " confirmed, "
                  << a.disputes << " disputed)"
                  << (a.retracted ? ", retracted with reason " + std::to_string(a.retraction_reason)
                                  : "")
                  << "\n    report digest " << a.report_digest << "\n";
        for (const auto& c : a.local_checks)
            std::cout << "      " << c << "\n";
    }
    for (const auto& l : v.local_only) {
        std::cout << "  recorded locally as #" << l.ledger_id << " (" << ledger::to_string(l.state)
                  << "), not on chain\n";
    }
    if (!v.handed_check.empty())
        std::cout << "  " << v.handed_check << "\n";
    if (!v.hint.empty())
        std::cout << "  " << v.hint << "\n";
    const char* line =
        v.verdict == Verdict::kReportMismatch
            ? "REPORT MISMATCH: a report differs from the digest anchored on chain"
        : v.verdict == Verdict::kNotAnchored ? "NOT ANCHORED"
        : v.verdict == Verdict::kDisputed
            ? "DISPUTED: anchored, but no analysis is valid now (retracted, disputed, or "
              "below the confidence threshold it was anchored under)"
            : "VERIFIED: a valid analysis is anchored";
    std::cout << "  " << line << "\n";
}

// One file's error, said at once with its name and kind; the batch goes on.
void report_file_error(const std::string& file, const Error& e, bool as_json) {
    const std::string message =
        e.message().find(file) == std::string::npos ? file + ": " + e.message() : e.message();
    if (as_json) {
        std::cout << nlohmann::ordered_json{{"image", file},
                                            {"error",
                                             {{"code", error_info(e.code()).name},
                                              {"message", message}}}}
                         .dump()
                  << "\n";
    }
    std::cerr << "medanchor: " << message << " [" << error_info(e.code()).name << "]\n";
}

}  // namespace

Status run_verify(const VerifyRequest& r) {
    if (!r.files.empty() && !r.hash.empty())
        return Error(ErrorCode::kInvalidArgument, "give image files or --hash HEX, not both");
    if (r.files.empty() && r.hash.empty() && r.report.empty() && r.proof.empty()) {
        return Error(ErrorCode::kInvalidArgument,
                     "give image files or folders, --hash HEX, --report FILE or --proof FILE");
    }
    auto config = chain_config(r.chain);
    if (!config)
        return config.error();

    std::optional<HandedReport> handed;
    if (!r.report.empty()) {
        std::optional<Error> parse_error;
        auto read = read_handed_report(r.report, &parse_error);
        if (!read)
            return read.error();
        handed = *read;
        if (parse_error && r.files.empty() && r.hash.empty()) {
            return Error(parse_error->code(),
                         r.report + ": " + parse_error->message() +
                             " (give the image or --hash to check its digest all the same)");
        }
    }

    // A proof file is read whole first: one that does not parse is corrupt (14), said at once.
    std::optional<chain::LeafProof> proof;
    if (!r.proof.empty()) {
        auto read = chain::read_proof_file(r.proof);
        if (!read)
            return read.error();
        proof = std::move(*read);
    }

    std::vector<HashTarget> targets;
    std::optional<Error> first_error;
    std::size_t errors = 0;
    if (proof && r.files.empty() && r.hash.empty() && !handed) {
        std::cerr << "medanchor verify: no image given: " << escape_for_display(r.proof)
                  << " is checked as it stands, for the image hash its leaf names; give the "
                     "image to check that it is that one\n";
        targets.push_back(HashTarget{r.proof, stacks::to_hex(proof->leaf.image_hash), ""});
    } else if (!r.hash.empty() || (r.files.empty() && handed)) {
        auto t = parse_hash_target(r.hash.empty() ? handed->image_hash : r.hash);
        if (!t)
            return t.error();
        if (r.hash.empty())
            t->label = r.report;
        targets.push_back(*t);
    } else {
        std::optional<image::SiteKey> key;
        if (!r.public_hash) {
            const fs::path path =
                r.site_key.empty() ? image::SiteKey::default_path() : fs::path(r.site_key);
            auto loaded = image::SiteKey::load(path);
            if (!loaded) {
                return Error(loaded.error().code(), loaded.error().message() +
                                                        " (keyed hashes need the site key that "
                                                        "made them; --public for unkeyed ones)");
            }
            key = *loaded;
        }
        std::size_t skipped = 0;
        const auto files = expand_inputs(r.files, &skipped);
        if (files.empty()) {
            return Error(ErrorCode::kNoInput,
                         "no image files (DICOM, PNG, JPEG, TIFF) in the given paths");
        }
        for (const auto& file : files) {
            auto t = hash_target(ImageSource::file(file), key ? &*key : nullptr);
            if (!t) {
                ++errors;
                report_file_error(file.string(), t.error(), r.chain.json);
                if (!first_error)
                    first_error = t.error();
                continue;
            }
            targets.push_back(*t);
        }
    }
    if (proof && targets.size() + errors != 1) {
        return Error(ErrorCode::kInvalidArgument, "--proof checks one analysis of one image; " +
                                                      std::to_string(targets.size() + errors) +
                                                      " images were given");
    }
    if (handed && targets.size() + errors != 1) {
        return Error(ErrorCode::kInvalidArgument, "--report checks one report against one image; " +
                                                      std::to_string(targets.size() + errors) +
                                                      " images were given");
    }

    const fs::path ledger_path =
        r.ledger.empty() ? ledger::Ledger::default_path() : fs::path(r.ledger);
    auto service = VerificationService::open(*config, ledger_path);
    if (!service)
        return service.error();

    std::map<Verdict, std::size_t> verdicts;
    for (const auto& t : targets) {
        const HandedReport* report = handed ? &*handed : nullptr;
        auto v = proof ? (*service)->verify_proof(t, *proof, r.proof, report)
                       : (*service)->verify(t, report);
        // No record on chain: a Merkle-anchored analysis of this site has its proof beside
        // its report.
        if (v && !proof && v->total == 0) {
            auto local = (*service)->local_proof(t);
            if (!local)
                return local.error();
            if (*local) {
                auto found = chain::read_proof_file(**local);
                if (!found)
                    v = found.error();
                else
                    v = (*service)->verify_proof(t, *found, (*local)->string(), report);
            }
        }
        if (!v) {
            // The chain could not answer: nothing more can be checked.
            if (v.error().code() == ErrorCode::kNetwork || v.error().code() == ErrorCode::kTimeout)
                return v.error();
            ++errors;
            report_file_error(t.label, v.error(), r.chain.json);
            if (!first_error)
                first_error = v.error();
            continue;
        }
        print_verification(*v, r.chain.json);
        if (v->incomplete && v->verdict != Verdict::kReportMismatch) {
            ++errors;
            report_file_error(t.label, *v->incomplete, r.chain.json);
            if (!first_error)
                first_error = *v->incomplete;
            continue;
        }
        ++verdicts[v->verdict];
    }
    // The exit status, worst news first (README "Exit codes"): a report that differs (5), an
    // image with nothing anchored (3), an image whose analyses are all retracted or disputed
    // (15), then the first file that could not be checked, then 0.
    const auto n = [&](Verdict v) { return std::to_string(verdicts[v]); };
    if (verdicts[Verdict::kReportMismatch])
        return Error(ErrorCode::kReportMismatch,
                     n(Verdict::kReportMismatch) +
                         " image(s) with a report that differs from the digest anchored on chain");
    if (verdicts[Verdict::kNotAnchored])
        return Error(ErrorCode::kNotAnchored,
                     n(Verdict::kNotAnchored) + " image(s) with no analysis anchored");
    if (verdicts[Verdict::kDisputed])
        return Error(
            ErrorCode::kDisputed,
            n(Verdict::kDisputed) + " image(s) whose every analysis is retracted or disputed");
    if (first_error) {
        return Error(first_error->code(),
                     std::to_string(errors) +
                         " file(s) could not be checked; the first: " + first_error->message());
    }
    return Status::Ok();
}

void add_verify_command(CLI::App& app, CommandAction& action) {
    auto r = std::make_shared<VerifyRequest>();
    auto* cmd = app.add_subcommand(
        "verify", "Show what the chain recorded about an image, and check local reports");
    cmd->add_option("FILE", r->files, "image files or folders");
    cmd->add_option("--hash", r->hash,
                    "look up a hash instead of an image (64 hex, or hmac-sha256:HEX)");
    cmd->add_option(
        "--site-key", r->site_key,
        "site key for keyed hashes (default $MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key)");
    cmd->add_flag("--public", r->public_hash, "look up the unkeyed (public) hash");
    cmd->add_option("--ledger", r->ledger,
                    "local ledger to compare reports with (a file or a postgresql:// URI)");
    cmd->add_option("--proof", r->proof,
                    "an anchor.proof.json (Merkle mode) proving the image's analysis; its image "
                    "is the one given, or the one its leaf names");
    cmd->add_option("--report", r->report,
                    "a report.json to check against the chain (handed over by someone else); "
                    "its image is the one given, or the one it names");
    add_chain_options(cmd, r->chain, /*needs_key=*/false);
    cmd->footer(
        "Every image is checked and reported. Exit codes, worst first: 5 a local report (in the "
        "ledger's report folder, or --report) differs from the digest anchored on chain; 3 an "
        "image has no analysis anchored; 15 an image's analyses are all retracted or disputed; "
        "then the code of the first file that could not be read; 0 a valid analysis is anchored "
        "for every image and every report matches. 16: no site key; 17: no image files; 14: a "
        "--proof file that is not a proof (7 over 16 KiB, 2 a folder or FIFO). With --proof (or a "
        "proof beside a local report when "
        "the chain has no record of the image) the verdict is the proof's: 3 when it does not "
        "lead to its root or its root was never anchored, 5, 15 and 0 as above.");
    cmd->callback([&action, r] { action = [r] { return run_verify(*r); }; });
}

}  // namespace medanchor::app

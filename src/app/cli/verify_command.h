// `medanchor verify`: what the chain holds about an image. Recomputes the canonical hash of a
// file (keyed with the site key, or public) or takes one given with --hash, lists every analysis
// the contract recorded for it (model, finding, confidence, analyst, time, review status,
// retraction) and whether the local report files (and a --report handed over) carry the digest
// on chain.
// Needs no signing key: everything is read-only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "app/cli/chain_options.h"
#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using CommandAction = std::function<Status()>;

struct VerifyRequest {
    std::vector<std::string> files;
    std::string hash;      // 64 hex digits, or "hmac-sha256:<hex>" / "sha256:<hex>"
    std::string site_key;  // default $MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key
    bool public_hash = false;
    std::string
        ledger;  // default $MEDANCHOR_LEDGER or ~/.medanchor/ledger.sqlite; "" and absent: skipped
    // --report FILE: a report.json handed over; its bytes' SHA-256 must be the digest of an
    // analysis of the image (the one given, or the one the report names).
    std::string report;
    ChainOptions chain;
};

// Checks every image and reports each, reading the report.json in each local analysis' report
// folder (the ledger knows where) and the --report file. The exit status, worst first:
// kReportMismatch when a local report differs from the anchored digest, kNotAnchored when an
// image has no analysis anchored, kDisputed when all of an image's analyses are retracted or
// disputed, the code of the first file that could not be read, else success. Errors before any
// check (no site key: kNoKey; no image files: kNoInput; the chain unreachable) end it at once.
Status run_verify(const VerifyRequest& request);

void add_verify_command(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app

// `medanchor verify`: what the chain holds about an image. Recomputes the canonical hash of a
// file (keyed with the site key, or public) or takes one given with --hash, lists every analysis
// the contract recorded for it (model, finding, confidence, analyst, time, review status,
// retraction) and, where the local ledger has the report, whether its digest is the one on chain.
// Needs no signing key: everything is read-only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "app/chain_options.h"
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
    ChainOptions chain;
};

// Exit status: 0 when every image has at least one valid (unretracted) analysis on chain whose
// digest matches any local report; kNotFound when one has none; kCorrupt when a local report's
// digest differs from the chain's.
Status run_verify(const VerifyRequest& request);

void add_verify_command(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app

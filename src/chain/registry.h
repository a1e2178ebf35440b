// The contract's registry as its read-only functions show it: the parameters (get-parameters),
// the models (get-model 1..model-count) and a principal's standing (get-professional, is-verifier,
// is-admin). Keyless: the contract's deployer stands as the caller of read-only functions, as for
// the CLI's read commands (`admin params`, `professional status`), which read through
// read_only() too.
//
// Every read is bounded: a node that does not answer costs at most `policy`'s tries of its
// request timeout each (kNetwork or kTimeout, never a hang).
// Thread safety: a RegistryReader holds no connection (a NodeClient per call): any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chain/session.h"
#include "common/error.h"
#include "stacks/clarity_value.h"
#include "stacks/node_client.h"

namespace medanchor::chain {

// A read-only call of the configured contract with its deployer as the caller.
Result<stacks::Value> read_only(stacks::NodeClient& node, const ChainConfig& config,
                                const std::string& function,
                                const std::vector<stacks::Value>& args);

// One model of the registry: its id and the get-model tuple (model-hash, name, version,
// min-confidence, active, registered-at, registered-by).
struct ModelRecord {
    std::uint64_t id = 0;
    stacks::Value record;
};

struct ModelPage {
    std::uint64_t model_count = 0;  // get-parameters' model-count when the page was read
    std::vector<ModelRecord> models;
};

// A principal's standing on the contract.
struct Standing {
    std::string principal;
    // get-professional's tuple (the professionals map's fields with `active` and
    // `inactive-reason`); nullopt when the principal never registered.
    std::optional<stacks::Value> professional;
    bool verifier = false;
    bool admin = false;
    // Neither registered nor holding a role: the contract knows nothing of the principal.
    bool unknown() const { return !professional && !verifier && !admin; }
};

// An admin's call on the registry, checked and named, ready to sign: the CLI's `admin` commands
// and the server's /api/chain/... writes build theirs here, so both send the same calls with the
// same checks (kInvalidArgument, naming the argument, before anything is signed).
struct RegistryCall {
    std::string action;  // for people and logs, e.g. "register-model ct-nodule-sim 1.0.0"
    std::string function;
    std::vector<stacks::Value> args;
};
// `model_sha256`: 64 hex digits; `name` 1..64 and `version` 1..32 printable ASCII characters;
// `min_confidence_bp` 0..10000.
Result<RegistryCall> register_model_call(const std::string& model_sha256, const std::string& name,
                                         const std::string& version,
                                         std::uint64_t min_confidence_bp);
RegistryCall retire_model_call(std::uint64_t model_id);
// 0..10000 basis points.
Result<RegistryCall> set_min_confidence_call(std::uint64_t basis_points);
RegistryCall set_max_verification_period_call(std::uint64_t seconds);
RegistryCall pause_call(bool pause);  // pause, or unpause
// appoint-verifier / dismiss-verifier; `principal` a Stacks address.
Result<RegistryCall> verifier_call(const std::string& principal, bool appoint);

// Signs `call` with `session` and, with `wait`, follows it to the end (chain::submit).
Result<CallOutcome> submit(ChainSession& session, const RegistryCall& call, bool wait);

// The expiry `days` from now by the chain's clock (the newest block's time, which the contract
// compares expiries with), read through the node's API; without an API, this machine's clock,
// and `*from_local_clock` is set. kInvalidArgument for 0 days or more than 36500.
Result<std::uint64_t> expiry_in_days(stacks::NodeClient& node, std::uint64_t days,
                                     bool* from_local_clock);

class RegistryReader {
  public:
    // REQUIRES: config came from resolve().
    explicit RegistryReader(ChainConfig config, stacks::RetryPolicy policy = {});

    // get-parameters' tuple.
    Result<stacks::Value> parameters();
    // Models start .. start+limit-1 that exist (ids count from 1 up to model-count; a retired
    // model stays, `active` false). REQUIRES: start >= 1.
    Result<ModelPage> models(std::uint64_t start, std::uint64_t limit);
    // kInvalidArgument (naming the text) when `principal` is not a Stacks principal.
    Result<Standing> standing(const std::string& principal);

  private:
    Result<stacks::Value> read(stacks::NodeClient& node, const std::string& function,
                               const std::vector<stacks::Value>& args);
    stacks::NodeClient node() const;

    ChainConfig config_;
    stacks::RetryPolicy policy_;
};

}  // namespace medanchor::chain

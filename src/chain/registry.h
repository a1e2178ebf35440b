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

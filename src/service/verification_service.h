// Verification: what the chain holds about an image, and whether the reports in hand carry the
// digests anchored for it (README "Analyse, anchor, verify"). For one image hash: every analysis
// the contract recorded (model, finding, confidence, analyst, block and time, review status,
// retraction), each matched with the ledger's local copy and the report.json in its folder, and,
// when one is handed over, a report.json checked byte for byte against the anchored digests.
// The verdict is a structure: the CLI prints it as text or JSON, `medanchor serve` returns the
// JSON (to_json()), the exit status / HTTP status comes from verdict_error().
//
// Thread safety: verify() may be called from several threads at once: each call reads the chain
// through its own node client, and the ledger connection is used under the service's mutex.
// Needs no signing key: everything it does is read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chain/proof_file.h"
#include "chain/session.h"
#include "common/error.h"
#include "image/site_key.h"
#include "ledger/ledger.h"
#include "service/image_source.h"

namespace medanchor::service {

// The hash to look up: 64 lowercase hex digits and how it was made.
struct HashTarget {
    std::string label;  // what to call it: the file, "--hash", the report
    std::string hex;
    std::string mode;  // "hmac-sha256", "sha256" or "" (given bare)
    std::string display() const { return (mode.empty() ? "" : mode + ":") + hex; }
};

// "hmac-sha256:HEX", "sha256:HEX" or 64 bare hex digits (kInvalidArgument otherwise).
Result<HashTarget> parse_hash_target(const std::string& text);
// Decodes the image and computes its canonical hash, keyed with `key` (public when null).
Result<HashTarget> hash_target(const ImageSource& source, const image::SiteKey* key);

// A report handed over: its bytes' digest and the image it says it is about.
struct HandedReport {
    std::string path;
    std::string digest;      // hex SHA-256 of the file's bytes
    std::string image_hash;  // its image.hash ("mode:hex"); empty when it does not parse
    std::string image_hex() const;
};
// Reads a report.json (at most 1 MiB: docs/report.md). When it does not parse as a report, the
// parse error comes back in *parse_error and image_hash stays empty.
Result<HandedReport> read_handed_report(const std::filesystem::path& path,
                                        std::optional<Error>* parse_error = nullptr);

enum class Verdict { kValid, kNotAnchored, kDisputed, kReportMismatch };
const char* to_string(Verdict verdict);  // "valid", "not-anchored", "disputed", "report-mismatch"

struct AnchoredAnalysis {
    std::uint64_t analysis_id = 0;
    std::string model;  // "name version", or "model #N" when the registry lacks it
    std::string finding;
    std::uint64_t confidence_bp = 0;
    std::string analyst;
    std::uint64_t block_height = 0;
    std::uint64_t block_time = 0;  // Unix seconds
    std::string time;              // block_time as UTC ISO 8601
    std::string status;  // as the contract says: "valid", "confirmed", "disputed", "retracted"...
    std::uint64_t confirmations = 0;
    std::uint64_t disputes = 0;
    bool retracted = false;
    std::uint64_t retraction_reason = 0;
    std::string report_digest;
    // What the local side says about it, one sentence each ("local report ... matches").
    std::vector<std::string> local_checks;
    // Merkle-anchored: the contract's id of the root and the leaf's index (analysis_id is 0).
    std::optional<std::uint64_t> root_id;
    std::uint64_t leaf_index = 0;
};

struct LocalOnly {
    std::int64_t ledger_id = 0;
    ledger::AnalysisState state = ledger::AnalysisState::kPending;
};

struct ImageVerification {
    HashTarget target;
    std::uint64_t total = 0;  // analyses on chain
    std::vector<AnchoredAnalysis> analyses;
    std::vector<LocalOnly> local_only;  // recorded here, not (yet) on chain: said, not judged
    std::optional<HandedReport> handed;
    std::string handed_check;  // the sentence about the handed report (empty without one)
    std::size_t valid = 0;     // analyses neither retracted nor disputed
    Verdict verdict = Verdict::kNotAnchored;
    // A local report that could not be read: the check is incomplete (see verify()).
    std::optional<Error> incomplete;
    // Merkle mode: the proof file checked (empty when none), what its checks found, one
    // sentence each, and a hint for an image with no record and no proof.
    std::string proof_file;
    std::vector<std::string> proof_checks;
    std::string hint;
};

// The JSON object `verify --json` prints per image and `medanchor serve` returns.
std::string to_json(const ImageVerification& v);

class VerificationService {
  public:
    // `ledger_path`: the ledger whose report folders are checked (a file, or a PostgreSQL URI);
    // nullopt or a missing file: no local check. Errors: the ledger's (kCorrupt, kUnsupported,
    // kIo).
    static Result<std::unique_ptr<VerificationService>> open(
        chain::ChainConfig config, const std::optional<std::filesystem::path>& ledger_path);

    // Everything about one image hash. An Error when the chain cannot answer (kNetwork,
    // kTimeout: nothing can be checked) or answers nonsense. A local report that cannot be read
    // is in `incomplete`: unless the verdict is kReportMismatch, the caller treats the image as
    // not checked (the CLI: its error code).
    Result<ImageVerification> verify(const HashTarget& target, const HandedReport* handed);

    // A Merkle-anchored analysis of the image, proven by `proof` (read from `proof_file`): the
    // proof is checked here (its path must give its root: else kNotAnchored, as for a root never
    // anchored), then on chain with verify-leaf, which gives the anchor and the leaf's review
    // status; the report digest is checked against the handed report, the report.json beside
    // the proof file and the ledger's copies, as for records. Needs no ledger. Errors: the
    // chain's (kNetwork, kTimeout).
    Result<ImageVerification> verify_proof(const HashTarget& target, const chain::LeafProof& proof,
                                           const std::string& proof_file,
                                           const HandedReport* handed);
    // The proof file the ledger's analyses of this image have beside their reports, if any.
    Result<std::optional<std::filesystem::path>> local_proof(const HashTarget& target);

  private:
    VerificationService(chain::ChainConfig config, std::optional<ledger::Ledger> ledger);
    // The contract's read-only `function`, with a node client of this call.
    Result<stacks::Value> read(stacks::NodeClient& node, const std::string& function,
                               const std::vector<stacks::Value>& args) const;
    chain::ChainConfig config_;
    std::mutex ledger_mutex_;
    std::optional<ledger::Ledger> ledger_;  // guarded by ledger_mutex_
};

}  // namespace medanchor::service

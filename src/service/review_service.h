// The professional workflow on the contract, signed with one key: peer review (confirm or
// dispute an analysis, with the SHA-256 of a note), retraction of one's own analysis, and the
// professional register (register oneself with a salted credential hash; as a verifier: verify,
// suspend, reinstate). Each call is checked here first (arguments that cannot be right), then
// signed and sent through chain::submit(); the outcome says how it ended and
// chain::outcome_status() what that means (the CLI's exit code, the server's HTTP status).
//
// Ownership and thread safety: a ReviewService owns its ChainSession (one signing key, its
// nonces): one thread at a time. A server keeps one per signing key behind a mutex, or makes one
// per request (cheap: the session asks the node for the nonce on first use).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "chain/session.h"
#include "common/error.h"
#include "stacks/clarity_value.h"

namespace medanchor::service {

using Digest = std::array<std::uint8_t, 32>;

class ReviewService {
  public:
    explicit ReviewService(chain::ChainSession session) : session_(std::move(session)) {}

    chain::ChainSession& session() { return session_; }

    // review-analysis: `confirm` true agrees with the finding, false disputes it; the note's
    // SHA-256 goes on chain, never the note.
    Result<chain::CallOutcome> review(std::uint64_t analysis_id, bool confirm,
                                      const Digest& note_digest, bool wait = true);
    // retract-analysis: the record stays, marked retracted with the reason code.
    Result<chain::CallOutcome> retract(std::uint64_t analysis_id, std::uint64_t reason,
                                       bool wait = true);
    // register-professional: the key's owner, with a salted hash of their licence record and a
    // specialty code (1..16 printable ASCII characters, as the contract's (string-ascii 16)
    // takes it; kInvalidArgument otherwise, before anything is signed).
    Result<chain::CallOutcome> register_professional(const Digest& credential_hash,
                                                     const std::string& specialty,
                                                     bool wait = true);
    // As a verifier. `principal` is a Stacks address (kInvalidArgument otherwise).
    Result<chain::CallOutcome> verify_professional(const std::string& principal,
                                                   std::uint64_t expires_at, std::uint64_t reason,
                                                   bool wait = true);
    Result<chain::CallOutcome> suspend_professional(const std::string& principal,
                                                    std::uint64_t reason, bool wait = true);
    Result<chain::CallOutcome> reinstate_professional(const std::string& principal,
                                                      std::uint64_t reason, bool wait = true);

    // A professional's record (read-only); nullopt when not registered.
    Result<std::optional<stacks::Value>> professional(const std::string& principal);

  private:
    Result<chain::CallOutcome> send(const std::string& action, const std::string& function,
                                    std::vector<stacks::Value> args, bool wait);
    chain::ChainSession session_;
};

// HMAC-SHA-256 of a licence record under a random salt kept in FILE.salt (0600, made on first
// use): what register-professional puts on chain (docs/contract.md). Errors name the file.
Result<Digest> credential_hash(const std::filesystem::path& credential_file);

}  // namespace medanchor::service

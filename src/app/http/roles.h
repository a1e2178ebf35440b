// Who may do what through the HTTP API: the one role → permission table. Every route names the
// permission it needs (server.cpp's route table); nothing else decides authorisation.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace medanchor::http {

enum class Role { kRadiologist, kVerifier, kAuditor, kAdmin };

enum class Permission {
    kRead,        // jobs, analyses, reports, the ledger, verification, the chain's view, metrics
    kAnalyze,     // upload images for analysis (anchored with the user's key)
    kReview,      // confirm or dispute an analysis, retract one's own
    kCredential,  // verify, suspend, reinstate professionals (a verifier's act)
    kAdminister,  // appoint verifiers, register models, change parameters
};

const char* to_string(Role role);
const char* to_string(Permission permission);
std::optional<Role> parse_role(std::string_view text);

// The table:            read  analyze  review  credential  administer
//   radiologist          x      x        x
//   verifier             x                        x
//   auditor              x
//   admin                x      x        x        x           x
// An auditor can read everything and write nothing.
bool allows(Role role, Permission permission);

}  // namespace medanchor::http

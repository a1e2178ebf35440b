#include "app/http/roles.h"

namespace medanchor::http {

const char* to_string(Role role) {
    switch (role) {
        case Role::kRadiologist:
            return "radiologist";
        case Role::kVerifier:
            return "verifier";
        case Role::kAuditor:
            return "auditor";
        case Role::kAdmin:
            return "admin";
    }
    return "?";
}

const char* to_string(Permission permission) {
    switch (permission) {
        case Permission::kRead:
            return "read";
        case Permission::kAnalyze:
            return "analyze";
        case Permission::kReview:
            return "review";
        case Permission::kCredential:
            return "credential";
        case Permission::kAdminister:
            return "administer";
    }
    return "?";
}

std::optional<Role> parse_role(std::string_view text) {
    for (Role r : {Role::kRadiologist, Role::kVerifier, Role::kAuditor, Role::kAdmin}) {
        if (text == to_string(r))
            return r;
    }
    return std::nullopt;
}

bool allows(Role role, Permission permission) {
    switch (permission) {
        case Permission::kRead:
            return true;
        case Permission::kAnalyze:
        case Permission::kReview:
            return role == Role::kRadiologist || role == Role::kAdmin;
        case Permission::kCredential:
            return role == Role::kVerifier || role == Role::kAdmin;
        case Permission::kAdminister:
            return role == Role::kAdmin;
    }
    return false;
}

}  // namespace medanchor::http

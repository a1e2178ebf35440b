#include "common/error.h"

namespace medanchor {
namespace {

// Exit codes start at 2 (1 is left to "something failed" in scripts); sysexits-style spacing
// would not help a user more than the name printed beside the message. Every code is distinct, so
// a script can tell `verify`'s verdicts (3, 5, 15) from an error reading the image (13, 14, ...).
// The table is printed by `medanchor --help` (exit_code_help()) and documented in the README.
constexpr ErrorInfo kTable[] = {
    {ErrorCode::kInvalidArgument, "invalid-argument", "malformed request or argument", 2, 400},
    {ErrorCode::kNotAnchored, "not-anchored", "no analysis of the image is anchored", 3, 404},
    {ErrorCode::kIo, "io", "reading or writing a local file failed", 4, 500},
    {ErrorCode::kReportMismatch, "report-mismatch",
     "a local report differs from the digest anchored on chain", 5, 409},
    {ErrorCode::kUnsupported, "unsupported", "valid input this build does not handle", 6, 415},
    {ErrorCode::kTooLarge, "too-large", "input over a safety bound", 7, 413},
    {ErrorCode::kPermission, "permission", "unsafe permissions or access refused", 8, 403},
    {ErrorCode::kNetwork, "network", "a node or service could not be reached", 9, 502},
    {ErrorCode::kTimeout, "timeout", "no answer or no confirmation in time", 10, 504},
    {ErrorCode::kRejected, "rejected", "the node refused the transaction", 11, 409},
    {ErrorCode::kContract, "contract", "the contract refused the call", 12, 409},
    {ErrorCode::kNotFound, "not-found", "no such file, contract or record", 13, 404},
    {ErrorCode::kCorrupt, "corrupt", "data does not follow its format", 14, 422},
    {ErrorCode::kDisputed, "disputed", "anchored, but no analysis of the image is valid now", 15,
     409},
    {ErrorCode::kNoKey, "no-key", "a site key or signing key is missing", 16, 400},
    {ErrorCode::kNoInput, "no-input", "no image files in the given paths", 17, 400},
    {ErrorCode::kNotYetAnchored, "not-yet-anchored",
     "recorded; waits for `medanchor sync` to anchor it", 20, 202},
    {ErrorCode::kInternal, "internal", "a bug in medanchor", 70, 500},
};

}  // namespace

std::string exit_code_help() {
    std::string text = "Exit codes: 0 success";
    for (const auto& info : kTable) {
        text += "; " + std::to_string(info.exit_code) + " " + info.name;
    }
    return text + ".";
}

const ErrorInfo& error_info(ErrorCode code) {
    for (const auto& info : kTable) {
        if (info.code == code) {
            return info;
        }
    }
    return kTable[sizeof(kTable) / sizeof(kTable[0]) - 1];
}

}  // namespace medanchor

#include "common/error.h"

namespace medanchor {
namespace {

// Exit codes start at 2 (1 is left to "something failed" in scripts); sysexits-style spacing
// would not help a user more than the name printed beside the message.
constexpr ErrorInfo kTable[] = {
    {ErrorCode::kInvalidArgument, "invalid-argument", "malformed request or argument", 2, 400},
    {ErrorCode::kNotFound, "not-found", "no such file, key, contract or record", 3, 404},
    {ErrorCode::kIo, "io", "reading or writing a local file failed", 4, 500},
    {ErrorCode::kCorrupt, "corrupt", "data does not follow its format", 5, 422},
    {ErrorCode::kUnsupported, "unsupported", "valid input this build does not handle", 6, 415},
    {ErrorCode::kTooLarge, "too-large", "input over a safety bound", 7, 413},
    {ErrorCode::kPermission, "permission", "unsafe permissions or access refused", 8, 403},
    {ErrorCode::kNetwork, "network", "a node or service could not be reached", 9, 502},
    {ErrorCode::kTimeout, "timeout", "no answer or no confirmation in time", 10, 504},
    {ErrorCode::kRejected, "rejected", "the node refused the transaction", 11, 409},
    {ErrorCode::kContract, "contract", "the contract refused the call", 12, 409},
    {ErrorCode::kInternal, "internal", "a bug in medanchor", 70, 500},
};

}  // namespace

const ErrorInfo& error_info(ErrorCode code) {
    for (const auto& info : kTable) {
        if (info.code == code) {
            return info;
        }
    }
    return kTable[sizeof(kTable) / sizeof(kTable[0]) - 1];
}

}  // namespace medanchor

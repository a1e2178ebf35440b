// The product's one table of error codes, and the value types that carry errors out of every
// layer. Untrusted input (DICOM bytes, model files, node responses, HTTP bodies) never throws or
// asserts: it returns an Error whose message names the thing and the problem. Only the CLI and the
// HTTP shells translate an ErrorCode into an exit code or an HTTP status (error_info()).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace medanchor {

enum class ErrorCode {
    kInvalidArgument,  // the caller asked for something malformed (bad flag, bad hex, bad name)
    kNotFound,         // a file, key, contract or record does not exist
    kIo,               // reading or writing a local file failed
    kCorrupt,      // bytes that should follow a format do not (truncated, bad magic, bad length)
    kUnsupported,  // valid input this build does not handle (a transfer syntax, a tx type)
    kTooLarge,     // input over a safety bound (dimensions, value size, body size)
    kPermission,   // a secret file is readable by others, or access is refused
    kNetwork,      // a node or service could not be reached or answered garbage
    kTimeout,      // a node did not answer, or a transaction did not confirm, in time
    kRejected,     // a node refused a transaction (the reason is in the message)
    kContract,     // the contract answered (err uN); the message names the error constant
    kNoKey,        // a site key or signing key the command needs is missing
    kNoInput,      // the given paths hold no image file at all
    // Verdicts: not failures of medanchor, but answers a script must tell apart (`verify`,
    // `analyze`). Their exit codes are never shared with an error above.
    kNotAnchored,     // verify: no analysis of this image is anchored on chain
    kReportMismatch,  // verify: a local report differs from the digest anchored on chain
    kDisputed,        // verify: anchored, but no analysis of the image is valid now
    kNotYetAnchored,  // analyze: every analysis is recorded; some wait for `medanchor sync`
    kInternal,        // a bug: a broken invariant inside medanchor
};

struct ErrorInfo {
    ErrorCode code;
    const char* name;     // stable identifier, e.g. "corrupt"
    const char* meaning;  // one line for humans
    int exit_code;        // CLI exit status
    int http_status;      // HTTP service status
};

// REQUIRES: nothing. Total over ErrorCode.
const ErrorInfo& error_info(ErrorCode code);
// "Exit codes: 0 success; 2 invalid-argument; ...": the table in one line, for --help.
std::string exit_code_help();

class Error {
  public:
    Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
    ErrorCode code() const { return code_; }
    const std::string& message() const { return message_; }

  private:
    ErrorCode code_;
    std::string message_;
};

// A value or an Error. Cheap to move; check ok() before value().
template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    // REQUIRES: ok()
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    // REQUIRES: !ok()
    const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

// Success or an Error, for operations that return nothing.
class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
    static Status Ok() { return {}; }

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    // REQUIRES: !ok()
    const Error& error() const { return error_; }

  private:
    Error error_{ErrorCode::kInternal, ""};
    bool ok_ = true;
};

}  // namespace medanchor

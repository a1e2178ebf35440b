#include "service/review_service.h"

#include <algorithm>

#include "image/image_hash.h"
#include "image/reader.h"
#include "image/site_key.h"

namespace medanchor::service {

namespace fs = std::filesystem;
using stacks::Value;

namespace {

Value buffer(const Digest& d) {
    return Value::buffer(stacks::Bytes(d.begin(), d.end()));
}

Result<Value> principal_value(const std::string& text) {
    auto p = Value::parse_principal(text);
    if (!p)
        return Error(ErrorCode::kInvalidArgument, "principal: " + p.error().message());
    return p;
}

}  // namespace

Result<chain::CallOutcome> ReviewService::send(const std::string& action,
                                               const std::string& function, std::vector<Value> args,
                                               bool wait) {
    return chain::submit(session_, action, session_.call(function, std::move(args)), wait);
}

Result<chain::CallOutcome> ReviewService::review(std::uint64_t analysis_id, bool confirm,
                                                 const Digest& note_digest, bool wait) {
    return send(
        std::string(confirm ? "confirm" : "dispute") + " analysis " + std::to_string(analysis_id),
        "review-analysis",
        {Value::uint_(analysis_id), Value::boolean(confirm), buffer(note_digest)}, wait);
}

Result<chain::CallOutcome> ReviewService::retract(std::uint64_t analysis_id, std::uint64_t reason,
                                                  bool wait) {
    return send("retract analysis " + std::to_string(analysis_id), "retract-analysis",
                {Value::uint_(analysis_id), Value::uint_(reason)}, wait);
}

Result<chain::CallOutcome> ReviewService::register_professional(const Digest& credential_hash,
                                                                const std::string& specialty,
                                                                bool wait) {
    const bool printable = std::all_of(specialty.begin(), specialty.end(),
                                       [](char c) { return c >= 0x20 && c < 0x7f; });
    if (specialty.empty() || specialty.size() > 16 || !printable) {
        return Error(ErrorCode::kInvalidArgument,
                     "--specialty must be 1 to 16 printable ASCII characters");
    }
    return send("register-professional", "register-professional",
                {buffer(credential_hash), Value::ascii(specialty)}, wait);
}

Result<chain::CallOutcome> ReviewService::verify_professional(const std::string& principal,
                                                              std::uint64_t expires_at,
                                                              std::uint64_t reason, bool wait) {
    auto p = principal_value(principal);
    if (!p)
        return p.error();
    return send("verify-professional " + principal, "verify-professional",
                {*p, Value::uint_(expires_at), Value::uint_(reason)}, wait);
}

Result<chain::CallOutcome> ReviewService::suspend_professional(const std::string& principal,
                                                               std::uint64_t reason, bool wait) {
    auto p = principal_value(principal);
    if (!p)
        return p.error();
    return send("suspend-professional " + principal, "suspend-professional",
                {*p, Value::uint_(reason)}, wait);
}

Result<chain::CallOutcome> ReviewService::reinstate_professional(const std::string& principal,
                                                                 std::uint64_t reason, bool wait) {
    auto p = principal_value(principal);
    if (!p)
        return p.error();
    return send("reinstate-professional " + principal, "reinstate-professional",
                {*p, Value::uint_(reason)}, wait);
}

Result<std::optional<Value>> ReviewService::professional(const std::string& principal) {
    auto p = principal_value(principal);
    if (!p)
        return p.error();
    auto v = session_.read("get-professional", {*p});
    if (!v)
        return v.error();
    if (v->kind() != stacks::ValueKind::kSome)
        return std::optional<Value>();
    return std::optional<Value>(v->inner());
}

Result<Digest> credential_hash(const fs::path& file) {
    // HMAC-SHA-256 of the licence record, keyed with a random 32-byte salt kept beside it
    // (FILE.salt, mode 0600, created on first use). Neither the record nor the salt leaves this
    // machine; the chain gets only the hash, which no one can test a guess against.
    auto record = image::read_file_bytes(file, std::size_t{1} << 20);
    if (!record)
        return record.error();
    fs::path salt_path = file;
    salt_path += ".salt";
    auto salt =
        fs::exists(salt_path) ? image::SiteKey::load(salt_path) : image::SiteKey::create(salt_path);
    if (!salt)
        return salt.error();
    return image::hmac_sha256(*salt, *record);
}

}  // namespace medanchor::service

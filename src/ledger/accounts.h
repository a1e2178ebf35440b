// The accounts of `medanchor serve`: who may call the HTTP API, in which role, and with which
// signing key the server acts on chain for them. One SQLite file (by default `users.sqlite`
// beside the ledger), mode 0600, created by the operator with `medanchor users add`; a store
// found open to group or others is refused (kPermission) until it is private again.
//
// A bearer token is 32 random bytes shown once, as 64 hex digits, when the user is added; only
// its SHA-256 is stored, so a copy of the file gives no one a token. The key file is stored as a
// path (the operator's file, never copied): the server reads it when it signs for the user.
//
// SQLite types stay out of this header. Thread safety: one thread at a time (the server holds
// one store behind a mutex; other processes, `medanchor users`, share the file through SQLite's
// locking).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace medanchor::ledger {

struct Account {
    std::string name;  // 1..64 of [A-Za-z0-9._-]; an operator's label, never a patient's
    std::string role;  // "radiologist", "verifier", "auditor" or "admin" (checked by the caller)
    std::string key_file;   // the signing key bound to the user; may be empty (no chain writes)
    std::string principal;  // the key's Stacks address, when there is a key
    std::string created_at;
};

class AccountStore {
  public:
    static constexpr int kSchemaVersion = 1;

    // Opens (creating it with mode 0600, and missing parent folders with 0700) and creates the
    // schema. kCorrupt for an SQLite file that is not an account store.
    static Result<AccountStore> open(const std::filesystem::path& path);

    AccountStore(AccountStore&&) noexcept;
    AccountStore& operator=(AccountStore&&) noexcept;
    ~AccountStore();

    // Adds a user whose token has this SHA-256 (64 hex digits). kInvalidArgument for a bad name
    // or a name already taken (the message says which).
    Status add(const Account& account, const std::string& token_sha256);
    // kNotFound when there is no such user.
    Status remove(const std::string& name);
    Result<std::vector<Account>> list();
    // The user holding the token whose SHA-256 is given; nullopt when none does.
    Result<std::optional<Account>> find_by_token_sha256(const std::string& token_sha256);

  private:
    struct Impl;
    explicit AccountStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// True for a valid account name.
bool is_account_name(std::string_view name);

}  // namespace medanchor::ledger

// The ledger's Merkle roots (docs/ledger.md, "Merkle roots"): in Merkle mode the outbox anchors
// many analyses with one `anchor-root` transaction. Each root is stored with its signed
// transaction and its leaves (analysis, index, leaf hash, in tree order) in ONE SQL transaction
// before the root is broadcast, so that a process killed at any instant leaves either no root or
// a root that the next pass sends again byte for byte (the same txid and nonce: mined at most
// once) and whose every proof can be rebuilt: the tree from the stored leaf hashes, the leaf's
// fields from its analysis.
//
// States of a root:  built ─(a node took it)─► sent ─► confirmed (root id, blocks)
//                      └────────────┴─(its nonce is consumed and the chain has no such root)─►
//                      failed
// A root's leaves are its analyses while it is built, sent or confirmed; a failed root gives its
// analyses back (its leaf rows are deleted, the root row stays for the record). An analysis is
// a leaf of at most one root: merkle_leaves.analysis_id is UNIQUE, so a second root can never
// take it, whatever two processes do. While in a live root an analysis stays `pending` in the
// analyses table (the outbox skips it: in_live_roots()); confirming the root confirms it, with
// onchain_id = the contract's root id.
//
// Same ledger and rules as ledger.h, on either backend (backend.h): an SQLite file (the tables
// are its schema version 3) or a PostgreSQL database (its version 2; postgres_backend.cpp), made
// and migrated as Ledger::open does; its own connection. Thread safety: one MerkleStore per
// thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace medanchor::ledger {

// The schema of the Merkle tables: Ledger's migration from version 2 to 3 runs it.
inline constexpr const char* kMerkleSchemaSql = R"sql(
CREATE TABLE merkle_roots (
    id                INTEGER PRIMARY KEY,
    root              TEXT NOT NULL CHECK (length(root) = 64),
    analyst           TEXT NOT NULL,
    model_id          INTEGER NOT NULL CHECK (model_id >= 0),
    lowest_confidence INTEGER NOT NULL CHECK (lowest_confidence BETWEEN 0 AND 10000),
    size              INTEGER NOT NULL CHECK (size BETWEEN 1 AND 1048576),
    state             TEXT NOT NULL CHECK (state IN ('built', 'sent', 'confirmed', 'failed')),
    txid              TEXT NOT NULL UNIQUE CHECK (length(txid) = 64),
    raw_hex           TEXT NOT NULL,
    nonce             INTEGER NOT NULL CHECK (nonce >= 0),
    fee               INTEGER NOT NULL CHECK (fee >= 0),
    root_id           INTEGER,
    block_height      INTEGER,
    block_time        INTEGER,
    burn_block_height INTEGER,
    proofs_written    INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    CHECK ((state = 'confirmed') = (root_id IS NOT NULL))
);
CREATE INDEX merkle_roots_state ON merkle_roots (state, analyst, nonce);
CREATE TABLE merkle_leaves (
    root_row    INTEGER NOT NULL REFERENCES merkle_roots (id),
    leaf_index  INTEGER NOT NULL CHECK (leaf_index >= 0),
    analysis_id INTEGER NOT NULL UNIQUE REFERENCES analyses (id),
    leaf_hash   TEXT NOT NULL CHECK (length(leaf_hash) = 64),
    PRIMARY KEY (root_row, leaf_index)
);
)sql";

enum class RootState { kBuilt, kSent, kConfirmed, kFailed };
const char* to_string(RootState state);  // "built", "sent", "confirmed", "failed"

// A root to store: its tree and the signed anchor-root transaction that anchors it.
struct NewRoot {
    std::string root;  // 64 hex digits
    std::string analyst;
    std::uint64_t model_id = 0;
    std::uint32_t lowest_confidence = 0;
    std::string txid;
    std::string raw_hex;
    std::uint64_t nonce = 0;
    std::uint64_t fee = 0;
    // The leaves in tree order: leaf i is analysis_ids[i] with leaf_hashes[i].
    std::vector<std::int64_t> analysis_ids;
    std::vector<std::string> leaf_hashes;
};

struct StoredRoot {
    std::int64_t row = 0;  // the ledger's id of the root
    std::string root;
    std::string analyst;
    std::uint64_t model_id = 0;
    std::uint32_t lowest_confidence = 0;
    std::uint64_t size = 0;
    RootState state = RootState::kBuilt;
    std::string txid;
    std::string raw_hex;
    std::uint64_t nonce = 0;
    std::uint64_t fee = 0;
    std::optional<std::uint64_t> root_id;  // the contract's, once confirmed
    std::uint64_t block_height = 0;
    std::uint64_t block_time = 0;
    std::uint64_t burn_block_height = 0;
    bool proofs_written = false;
    std::string last_error;
    std::string created_at;
};

struct StoredLeaf {
    std::int64_t root_row = 0;
    std::uint64_t index = 0;
    std::int64_t analysis_id = 0;
    std::string leaf_hash;
};

// Where the root was anchored, as the contract's get-root tells.
struct RootOnChain {
    std::uint64_t root_id = 0;
    std::uint64_t block_height = 0;
    std::uint64_t block_time = 0;
    std::uint64_t burn_block_height = 0;
};

class MerkleStore {
  public:
    // Opens the ledger: an SQLite file that exists (kIo otherwise), or a PostgreSQL URI (kNetwork
    // when the server cannot be reached); an older schema is migrated, as Ledger::open does.
    // kCorrupt (not a ledger), kUnsupported (a newer schema).
    static Result<MerkleStore> open(const std::filesystem::path& ledger_path);
    MerkleStore(MerkleStore&&) noexcept;
    MerkleStore& operator=(MerkleStore&&) noexcept;
    ~MerkleStore();

    // One SQL transaction: the root (state built) and its leaves. kInvalidArgument, storing
    // nothing, unless every analysis is pending, belongs to root.analyst and is a leaf of no
    // other root (the schema's UNIQUE), and the leaves match the size. Returns the root's row.
    Result<std::int64_t> store_root(const NewRoot& root);
    // A node took the root's transaction: built → sent.
    Status mark_sent(std::int64_t row);
    // Remembers why the root is not settled yet; changes no state.
    Status note_error(std::int64_t row, const std::string& error);
    // built/sent → confirmed, and every leaf's analysis pending → confirmed (onchain_id = the
    // root id, its block height and time), in one SQL transaction.
    Status confirm(std::int64_t row, const RootOnChain& on_chain);
    // built/sent → failed (it can never be mined, or was refused): its leaf rows are deleted and
    // its analyses stay pending with `error` as their last error; one SQL transaction.
    Status fail(std::int64_t row, const std::string& error);
    // Every leaf's proof file is in its report folder (or the analysis has none).
    Status mark_proofs_written(std::int64_t row);

    // Oldest first.
    Result<std::vector<StoredRoot>> roots(std::optional<RootState> state = std::nullopt);
    Result<StoredRoot> root(std::int64_t row);  // kNotFound
    // In tree order.
    Result<std::vector<StoredLeaf>> leaves(std::int64_t row);
    // The leaf an analysis is, and its root; nullopt when it is in no root.
    Result<std::optional<StoredLeaf>> leaf_of(std::int64_t analysis_id);
    // The analyses that are leaves of built or sent roots (the outbox must not send them again).
    Result<std::set<std::int64_t>> in_live_roots();

  private:
    struct Impl;
    explicit MerkleStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace medanchor::ledger

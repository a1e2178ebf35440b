// The Merkle tables of the ledger (merkle_store.h), on either backend (backend.h): one
// connection of its own, every change one write transaction of the backend (SQLite: BEGIN
// IMMEDIATE; PostgreSQL: SERIALIZABLE, run again on a conflict), statements written once in the
// SQL both engines speak.
#include "ledger/merkle_store.h"

#include <functional>

#include "ledger/backend.h"
#include "ledger/ledger.h"

namespace medanchor::ledger {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRootColumns =
    "id, root, analyst, model_id, lowest_confidence, size, state, txid, raw_hex, nonce, fee, "
    "root_id, block_height, block_time, burn_block_height, proofs_written, last_error, created_at";

RootState parse_root_state(std::string_view s) {
    if (s == "built")
        return RootState::kBuilt;
    if (s == "sent")
        return RootState::kSent;
    if (s == "confirmed")
        return RootState::kConfirmed;
    return RootState::kFailed;
}

}  // namespace

const char* to_string(RootState state) {
    switch (state) {
        case RootState::kBuilt:
            return "built";
        case RootState::kSent:
            return "sent";
        case RootState::kConfirmed:
            return "confirmed";
        case RootState::kFailed:
            return "failed";
    }
    return "failed";
}

struct MerkleStore::Impl : StoreConnection {};

namespace {

std::uint64_t u64(const SqlRow& s, int col) {
    return static_cast<std::uint64_t>(s.i64(col));
}

StoredRoot read_root(const SqlRow& s) {
    StoredRoot r;
    r.row = s.i64(0);
    r.root = s.text(1);
    r.analyst = s.text(2);
    r.model_id = u64(s, 3);
    r.lowest_confidence = static_cast<std::uint32_t>(u64(s, 4));
    r.size = u64(s, 5);
    r.state = parse_root_state(s.text(6));
    r.txid = s.text(7);
    r.raw_hex = s.text(8);
    r.nonce = u64(s, 9);
    r.fee = u64(s, 10);
    r.root_id = s.opt_u64(11);
    r.block_height = u64(s, 12);
    r.block_time = u64(s, 13);
    r.burn_block_height = u64(s, 14);
    r.proofs_written = s.i64(15) != 0;
    r.last_error = s.text(16);
    r.created_at = s.text(17);
    return r;
}

StoredLeaf read_leaf(const SqlRow& s) {
    return StoredLeaf{s.i64(0), u64(s, 1), s.i64(2), s.text(3)};
}

}  // namespace

Result<MerkleStore> MerkleStore::open(const fs::path& ledger_path) {
    // Connecting migrates the schema (the Merkle tables: SQLite version 3, PostgreSQL 2).
    auto impl = std::make_unique<Impl>();
    if (auto s = impl->open(ledger_path); !s)
        return s.error();
    return MerkleStore(std::move(impl));
}

MerkleStore::MerkleStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MerkleStore::MerkleStore(MerkleStore&&) noexcept = default;
MerkleStore& MerkleStore::operator=(MerkleStore&&) noexcept = default;
MerkleStore::~MerkleStore() = default;

Result<std::int64_t> MerkleStore::store_root(const NewRoot& r) {
    if (r.analysis_ids.empty() || r.analysis_ids.size() != r.leaf_hashes.size())
        return Error(ErrorCode::kInvalidArgument,
                     impl_->name() + ": a root needs one leaf hash per analysis, and at least one");
    std::int64_t row = 0;
    auto s = impl_->db->transaction("storing Merkle root " + r.root, [&]() -> Status {
        const std::string now = utc_now();
        if (auto st = impl_->query(
                "INSERT INTO merkle_roots (root, analyst, model_id, lowest_confidence, size, "
                "state, txid, raw_hex, nonce, fee, created_at, updated_at) VALUES (?1, ?2, ?3, "
                "?4, ?5, 'built', ?6, ?7, ?8, ?9, ?10, ?10) RETURNING id",
                {text(r.root), text(r.analyst), unsigned_number(r.model_id),
                 number(r.lowest_confidence), unsigned_number(r.analysis_ids.size()), text(r.txid),
                 text(r.raw_hex), unsigned_number(r.nonce), unsigned_number(r.fee), text(now)},
                "storing a Merkle root", [&](const SqlRow& st) { row = st.i64(0); });
            !st)
            return st;
        for (std::size_t i = 0; i < r.analysis_ids.size(); ++i) {
            const auto id = r.analysis_ids[i];
            // Only a pending analysis of this analyst becomes a leaf (touching it checks so).
            auto taken = impl_->run(
                "UPDATE analyses SET updated_at = ?2, last_error = NULL WHERE id = ?1 AND "
                "state = 'pending' AND analyst = ?3",
                {number(id), text(now), text(r.analyst)}, "taking an analysis into a root");
            if (!taken)
                return taken.error();
            if (*taken != 1)
                return Error(ErrorCode::kInvalidArgument,
                             impl_->name() + ": analysis " + std::to_string(id) +
                                 " is not a pending analysis of " + r.analyst);
            if (auto st = impl_->query(
                    "INSERT INTO merkle_leaves (root_row, leaf_index, analysis_id, leaf_hash) "
                    "VALUES (?1, ?2, ?3, ?4)",
                    {number(row), unsigned_number(i), number(id), text(r.leaf_hashes[i])},
                    "storing leaf " + std::to_string(i) + " (analysis " + std::to_string(id) +
                        "; an analysis is a leaf of one root at most)");
                !st)
                return st;
        }
        return Status::Ok();
    });
    if (!s)
        return s.error();
    return row;
}

Status MerkleStore::mark_sent(std::int64_t row) {
    return impl_->query(
        "UPDATE merkle_roots SET state = 'sent', last_error = NULL, updated_at = ?2 WHERE id = "
        "?1 AND state IN ('built', 'sent')",
        {number(row), text(utc_now())}, "marking a root sent");
}

Status MerkleStore::note_error(std::int64_t row, const std::string& error) {
    return impl_->query("UPDATE merkle_roots SET last_error = ?2, updated_at = ?3 WHERE id = ?1",
                        {number(row), text(error), text(utc_now())}, "noting a root's error");
}

Status MerkleStore::confirm(std::int64_t row, const RootOnChain& c) {
    return impl_->db->transaction("confirming a Merkle root", [&]() -> Status {
        const std::string now = utc_now();
        auto confirmed = impl_->run(
            "UPDATE merkle_roots SET state = 'confirmed', root_id = ?2, block_height = ?3, "
            "block_time = ?4, burn_block_height = ?5, last_error = NULL, updated_at = ?6 "
            "WHERE id = ?1 AND state IN ('built', 'sent')",
            {number(row), unsigned_number(c.root_id), unsigned_number(c.block_height),
             unsigned_number(c.block_time), unsigned_number(c.burn_block_height), text(now)},
            "confirming a root");
        if (!confirmed)
            return confirmed.error();
        if (*confirmed != 1)
            return Error(ErrorCode::kInvalidArgument,
                         impl_->name() + ": root " + std::to_string(row) + " is not built or sent");
        return impl_->query(
            "UPDATE analyses SET state = 'confirmed', onchain_id = ?2, block_height = ?3, "
            "block_time = ?4, last_error = NULL, updated_at = ?5 WHERE state = 'pending' AND id "
            "IN (SELECT analysis_id FROM merkle_leaves WHERE root_row = ?1)",
            {number(row), unsigned_number(c.root_id), unsigned_number(c.block_height),
             unsigned_number(c.block_time), text(now)},
            "confirming a root's analyses");
    });
}

Status MerkleStore::fail(std::int64_t row, const std::string& error) {
    return impl_->db->transaction("releasing a failed Merkle root", [&]() -> Status {
        const std::string now = utc_now();
        auto failed = impl_->run(
            "UPDATE merkle_roots SET state = 'failed', last_error = ?2, updated_at = ?3 "
            "WHERE id = ?1 AND state IN ('built', 'sent')",
            {number(row), text(error), text(now)}, "failing a root");
        if (!failed)
            return failed.error();
        if (*failed != 1)
            return Error(ErrorCode::kInvalidArgument,
                         impl_->name() + ": root " + std::to_string(row) + " is not built or sent");
        if (auto st = impl_->query(
                "UPDATE analyses SET last_error = ?2, updated_at = ?3 WHERE id IN (SELECT "
                "analysis_id FROM merkle_leaves WHERE root_row = ?1)",
                {number(row), text(error), text(now)}, "releasing a root's analyses");
            !st)
            return st;
        return impl_->query("DELETE FROM merkle_leaves WHERE root_row = ?1", {number(row)},
                            "releasing a root's leaves");
    });
}

Status MerkleStore::mark_proofs_written(std::int64_t row) {
    return impl_->query("UPDATE merkle_roots SET proofs_written = 1, updated_at = ?2 WHERE id = ?1",
                        {number(row), text(utc_now())}, "marking a root's proofs written");
}

Result<std::vector<StoredRoot>> MerkleStore::roots(std::optional<RootState> state) {
    std::vector<StoredRoot> out;
    const std::string sql = std::string("SELECT ") + kRootColumns + " FROM merkle_roots" +
                            (state ? " WHERE state = ?1" : "") + " ORDER BY id";
    std::vector<SqlArg> args;
    if (state)
        args.push_back(text(to_string(*state)));
    if (auto s = impl_->query(sql, args, "reading roots",
                              [&](const SqlRow& st) { out.push_back(read_root(st)); });
        !s)
        return s.error();
    return out;
}

Result<StoredRoot> MerkleStore::root(std::int64_t row) {
    std::optional<StoredRoot> out;
    const std::string sql =
        std::string("SELECT ") + kRootColumns + " FROM merkle_roots WHERE id = ?1";
    if (auto s = impl_->query(sql, {number(row)}, "reading a root",
                              [&](const SqlRow& st) { out = read_root(st); });
        !s)
        return s.error();
    if (!out)
        return Error(ErrorCode::kNotFound,
                     impl_->name() + ": no Merkle root " + std::to_string(row));
    return *out;
}

Result<std::vector<StoredLeaf>> MerkleStore::leaves(std::int64_t row) {
    std::vector<StoredLeaf> out;
    if (auto s = impl_->query(
            "SELECT root_row, leaf_index, analysis_id, leaf_hash FROM merkle_leaves WHERE "
            "root_row = ?1 ORDER BY leaf_index",
            {number(row)}, "reading a root's leaves",
            [&](const SqlRow& st) { out.push_back(read_leaf(st)); });
        !s)
        return s.error();
    return out;
}

Result<std::optional<StoredLeaf>> MerkleStore::leaf_of(std::int64_t analysis_id) {
    std::optional<StoredLeaf> out;
    if (auto s = impl_->query(
            "SELECT root_row, leaf_index, analysis_id, leaf_hash FROM merkle_leaves WHERE "
            "analysis_id = ?1",
            {number(analysis_id)}, "reading an analysis' leaf",
            [&](const SqlRow& st) { out = read_leaf(st); });
        !s)
        return s.error();
    return out;
}

Result<std::set<std::int64_t>> MerkleStore::in_live_roots() {
    std::set<std::int64_t> out;
    if (auto s = impl_->query(
            "SELECT l.analysis_id FROM merkle_leaves l JOIN merkle_roots r ON r.id = l.root_row "
            "WHERE r.state IN ('built', 'sent')",
            {}, "reading the leaves of live roots",
            [&](const SqlRow& st) { out.insert(st.i64(0)); });
        !s)
        return s.error();
    return out;
}

}  // namespace medanchor::ledger

// The ledger's rules, written once for every backend (backend.h): the checks on a new analysis,
// the idempotent key, and each transition of the outbox as one transaction of statements in the
// SQL that SQLite and PostgreSQL both speak.
#include "ledger/ledger.h"

#include <cstdlib>
#include <ctime>
#include <functional>

#include "common/encoding.h"
#include "ledger/backend.h"

namespace medanchor::ledger {
namespace fs = std::filesystem;

namespace {

constexpr const char* kAnalysisColumns =
    "id, created_at, updated_at, source_path, image_hash, hash_mode, model_sha256, model_name, "
    "model_version, model_id, finding, confidence_bp, report_json, report_digest, saliency_path, "
    "analyst, state, review_reason, last_error, attempts, txid, onchain_id, block_height, "
    "block_time, (SELECT count(*) FROM transaction_analyses t WHERE t.analysis_id = analyses.id), "
    "report_dir";

constexpr const char* kTxColumns =
    "txid, raw_hex, sender, nonce, fee, kind, state, accepted, last_error, created_at, "
    "updated_at";

// A digest the contract takes: 64 lowercase hex digits, not all zero (refused on chain).
bool is_hex64(std::string_view s) {
    return is_lower_hex(s, 64) && s.find_first_not_of('0') != std::string_view::npos;
}

bool is_code(std::string_view s) {
    if (s.empty() || s.size() > 32)
        return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

AnalysisState state_or_failed(const std::string& text) {
    auto s = parse_analysis_state(text);
    return s ? *s : AnalysisState::kFailed;
}

Analysis read_analysis(const SqlRow& s) {
    Analysis a;
    a.id = s.i64(0);
    a.created_at = s.text(1);
    a.updated_at = s.text(2);
    a.source_path = s.text(3);
    a.image_hash = s.text(4);
    a.hash_mode = s.text(5);
    a.model_sha256 = s.text(6);
    a.model_name = s.text(7);
    a.model_version = s.text(8);
    a.model_id = s.opt_u64(9);
    a.finding = s.text(10);
    a.confidence_bp = static_cast<std::uint32_t>(s.i64(11));
    a.report_json = s.text(12);
    a.report_digest = s.text(13);
    a.saliency_path = s.opt_text(14);
    a.analyst = s.text(15);
    a.state = state_or_failed(s.text(16));
    a.review_reason = s.text(17);
    a.last_error = s.text(18);
    a.attempts = static_cast<int>(s.i64(19));
    a.txid = s.opt_text(20);
    a.onchain_id = s.opt_u64(21);
    a.block_height = s.opt_u64(22);
    a.block_time = s.opt_u64(23);
    a.transactions = static_cast<int>(s.i64(24));
    a.report_dir = s.opt_text(25);
    return a;
}

Transaction read_tx(const SqlRow& s) {
    Transaction t;
    t.txid = s.text(0);
    t.raw_hex = s.text(1);
    t.sender = s.text(2);
    t.nonce = static_cast<std::uint64_t>(s.i64(3));
    t.fee = static_cast<std::uint64_t>(s.i64(4));
    t.kind = s.text(5);
    auto st = parse_tx_state(s.text(6));
    t.state = st ? *st : TxState::kDropped;
    t.accepted = s.i64(7) != 0;
    t.last_error = s.text(8);
    t.created_at = s.text(9);
    t.updated_at = s.text(10);
    return t;
}

}  // namespace

// ---- names ----------------------------------------------------------------------------------

const char* to_string(AnalysisState state) {
    switch (state) {
        case AnalysisState::kNeedsReview:
            return "needs_review";
        case AnalysisState::kPending:
            return "pending";
        case AnalysisState::kBroadcast:
            return "broadcast";
        case AnalysisState::kConfirmed:
            return "confirmed";
        case AnalysisState::kFailed:
            return "failed";
    }
    return "failed";
}

Result<AnalysisState> parse_analysis_state(std::string_view text) {
    for (auto s : kAnalysisStates) {
        if (text == to_string(s))
            return s;
    }
    return Error(ErrorCode::kInvalidArgument,
                 "unknown analysis state \"" + std::string(text) +
                     "\" (needs_review, pending, broadcast, confirmed or failed)");
}

const char* to_string(TxState state) {
    switch (state) {
        case TxState::kBroadcast:
            return "broadcast";
        case TxState::kSuccess:
            return "success";
        case TxState::kAbort:
            return "abort";
        case TxState::kDropped:
            return "dropped";
    }
    return "dropped";
}

Result<TxState> parse_tx_state(std::string_view text) {
    for (auto s : {TxState::kBroadcast, TxState::kSuccess, TxState::kAbort, TxState::kDropped}) {
        if (text == to_string(s))
            return s;
    }
    return Error(ErrorCode::kInvalidArgument,
                 "unknown transaction state \"" + std::string(text) + "\"");
}

std::string report_digest(std::string_view report_json) {
    return to_hex(sha256(report_json));
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// ---- the connection -------------------------------------------------------------------------

struct Ledger::Impl {
    std::unique_ptr<LedgerBackend> db;

    const std::string& name() const { return db->name(); }

    Status run(const std::string& sql, const std::vector<SqlArg>& args, const std::string& doing) {
        auto r = db->execute(sql, args, doing);
        return r ? Status::Ok() : Status(r.error());
    }

    Result<std::vector<Analysis>> analyses(const std::string& where,
                                           const std::vector<SqlArg>& args, std::size_t limit = 0) {
        std::string sql =
            std::string("SELECT ") + kAnalysisColumns + " FROM analyses " + where + " ORDER BY id";
        if (limit != 0)
            sql += " LIMIT " + std::to_string(limit);
        std::vector<Analysis> out;
        auto r = db->execute(sql, args, "reading analyses",
                             [&](const SqlRow& row) { out.push_back(read_analysis(row)); });
        if (!r)
            return r.error();
        return out;
    }

    Result<std::vector<std::int64_t>> linked(const std::string& txid) {
        std::vector<std::int64_t> ids;
        auto r = db->execute(
            "SELECT analysis_id FROM transaction_analyses WHERE txid = ?1 ORDER BY position",
            {text(txid)}, "reading a transaction's analyses",
            [&](const SqlRow& row) { ids.push_back(row.i64(0)); });
        if (!r)
            return r.error();
        return ids;
    }

    Result<std::vector<Transaction>> transactions(const std::string& where,
                                                  const std::vector<SqlArg>& args) {
        const std::string sql = std::string("SELECT ") + kTxColumns + " FROM transactions " + where;
        std::vector<Transaction> out;
        auto r = db->execute(sql, args, "reading transactions",
                             [&](const SqlRow& row) { out.push_back(read_tx(row)); });
        if (!r)
            return r.error();
        for (auto& t : out) {
            auto ids = linked(t.txid);
            if (!ids)
                return ids.error();
            t.analysis_ids = std::move(*ids);
        }
        return out;
    }

    // The transaction's state must be broadcast for a settlement to apply.
    Status require_live(const std::string& txid) {
        std::optional<std::string> state;
        auto r = db->execute("SELECT state FROM transactions WHERE txid = ?1", {text(txid)},
                             "reading transaction " + txid,
                             [&](const SqlRow& row) { state = row.text(0); });
        if (!r)
            return r.error();
        if (!state)
            return Error(ErrorCode::kNotFound, name() + ": no transaction " + txid);
        if (*state != "broadcast") {
            return Error(ErrorCode::kInvalidArgument,
                         name() + ": transaction " + txid + " is already " + *state);
        }
        return Status::Ok();
    }

    Status set_tx_state(const std::string& txid, TxState state, const std::string& error) {
        return run(
            "UPDATE transactions SET state = ?2, last_error = ?3, updated_at = ?4 WHERE txid = ?1",
            {text(txid), text(to_string(state)), error.empty() ? SqlArg{} : text(error),
             text(utc_now())},
            "updating transaction " + txid);
    }

    // Changes one analysis if it is in `from`; kInvalidArgument when it is not. `set_sql` uses
    // ?1 (the id), ?2 (now) and its own `extra` from ?3 on.
    Status move(std::int64_t id, const char* from_states, const char* set_sql,
                std::vector<SqlArg> extra, const std::string& what) {
        const std::string sql = std::string("UPDATE analyses SET ") + set_sql +
                                ", updated_at = ?2 WHERE id = ?1 AND state IN (" + from_states +
                                ")";
        std::vector<SqlArg> args{number(id), text(utc_now())};
        args.insert(args.end(), std::make_move_iterator(extra.begin()),
                    std::make_move_iterator(extra.end()));
        auto changed = db->execute(sql, args, what);
        if (!changed)
            return changed.error();
        if (*changed != 1) {
            return Error(ErrorCode::kInvalidArgument, name() + ": " + what + ": analysis " +
                                                          std::to_string(id) + " is not in state " +
                                                          from_states);
        }
        return Status::Ok();
    }
};

Ledger::Ledger(fs::path path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}
Ledger::Ledger(Ledger&&) noexcept = default;
Ledger& Ledger::operator=(Ledger&&) noexcept = default;
Ledger::~Ledger() = default;

fs::path Ledger::default_path() {
    if (const char* env = std::getenv("MEDANCHOR_LEDGER"); env != nullptr && *env != '\0')
        return env;
    const char* home = std::getenv("HOME");
    return fs::path(home != nullptr ? home : ".") / ".medanchor" / "ledger.sqlite";
}

bool is_postgres_location(std::string_view location) {
    return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

Result<Ledger> Ledger::open(const fs::path& location) {
    auto backend = is_postgres_location(location.native()) ? open_postgres_backend(location)
                                                           : open_sqlite_backend(location);
    if (!backend)
        return backend.error();
    auto impl = std::make_unique<Impl>();
    impl->db = std::move(*backend);
    return Ledger(location, std::move(impl));
}

Status StoreConnection::open(const fs::path& location) {
    if (is_postgres_location(location.native())) {
        auto backend = open_postgres_backend(location.native());
        if (!backend)
            return backend.error();
        db = std::move(*backend);
        return Status::Ok();
    }
    std::error_code ec;
    if (!fs::exists(location, ec))
        return Error(ErrorCode::kIo, location.string() + ": cannot open the ledger: no such file");
    auto backend = open_sqlite_backend(location);
    if (!backend)
        return backend.error();
    db = std::move(*backend);
    return Status::Ok();
}

const std::string& Ledger::display_name() const {
    return impl_->name();
}

// ---- the outbox lock ------------------------------------------------------------------------

Result<OutboxLock> OutboxLock::acquire(const fs::path& ledger_location,
                                       std::chrono::milliseconds wait,
                                       const std::function<void(long)>& waiting,
                                       const std::string& scope) {
    auto held = is_postgres_location(ledger_location.native())
                    ? lock_postgres_outbox(ledger_location, wait, waiting, scope)
                    : lock_sqlite_outbox(ledger_location, wait, waiting);
    if (!held)
        return held.error();
    return OutboxLock(std::move(*held));
}

OutboxLock::OutboxLock(std::unique_ptr<Held> held) : held_(std::move(held)) {}
OutboxLock::OutboxLock(OutboxLock&&) noexcept = default;
OutboxLock::~OutboxLock() = default;

Status OutboxLock::check() const {
    return held_ ? held_->check()
                 : Status(Error(ErrorCode::kNetwork, "the outbox lock was released"));
}

std::string outbox_scope(const std::string& sender, const std::string& /*contract_id*/) {
    // The sender alone: its nonces are the account's, whatever contract a transaction calls, so
    // two writers of one key on two contracts would race for the same nonces and pending rows.
    return sender;
}

// ---- records ------------------------------------------------------------------------------

namespace {

// What a new analysis must be before it is written; the message names the field, never the
// report or the source path's contents.
Status check_new_analysis(const NewAnalysis& a) {
    const auto bad = [&](const std::string& what) {
        return Error(ErrorCode::kInvalidArgument, "analysis of " + a.source_path + ": " + what);
    };
    if (!is_hex64(a.image_hash))
        return bad("image hash must be 64 lowercase hex digits, not all zero");
    if (a.hash_mode != "hmac-sha256" && a.hash_mode != "sha256")
        return bad("hash mode must be hmac-sha256 or sha256");
    if (!is_hex64(a.model_sha256))
        return bad("model SHA-256 must be 64 lowercase hex digits, not all zero");
    if (a.model_name.empty() || a.model_version.empty())
        return bad("model name and version are required");
    if (!is_code(a.finding))
        return bad("finding \"" + a.finding + "\" is not a code (1-32 of A-Z a-z 0-9 . _ : -)");
    if (a.confidence_bp > 10000)
        return bad("confidence above 10000 basis points");
    if (a.report_json.empty())
        return bad("the report is empty");
    if (a.analyst.empty())
        return bad("no analyst principal");
    if (a.state != AnalysisState::kPending && a.state != AnalysisState::kNeedsReview)
        return bad("a new analysis is pending or needs_review");
    return Status::Ok();
}

}  // namespace

// Inside a transaction: the existing record of (image, model, analyst), or the new one. The
// UNIQUE key and ON CONFLICT DO NOTHING make the engine the judge of "already recorded", so
// writers on several connections (or machines) never record one analysis twice.
Result<AddResult> Ledger::insert(const NewAnalysis& a) {
    const std::string now = utc_now();
    std::optional<std::int64_t> id;
    auto inserted = impl_->db->execute(
        "INSERT INTO analyses (created_at, updated_at, source_path, image_hash, "
        "hash_mode, model_sha256, model_name, model_version, model_id, finding, "
        "confidence_bp, report_json, report_digest, saliency_path, analyst, state, "
        "review_reason, report_dir) VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12, ?13, ?14, ?15, ?16, ?17) "
        "ON CONFLICT (image_hash, model_sha256, analyst) DO NOTHING RETURNING id",
        {text(now), text(a.source_path), text(a.image_hash), text(a.hash_mode),
         text(a.model_sha256), text(a.model_name), text(a.model_version),
         optional_number(a.model_id), text(a.finding),
         number(static_cast<std::int64_t>(a.confidence_bp)), text(a.report_json),
         text(report_digest(a.report_json)), optional_text(a.saliency_path), text(a.analyst),
         text(to_string(a.state)), a.review_reason.empty() ? SqlArg{} : text(a.review_reason),
         a.report_dir.empty() ? SqlArg{} : text(a.report_dir)},
        "adding an analysis", [&](const SqlRow& row) { id = row.i64(0); });
    if (!inserted)
        return inserted.error();
    auto found =
        id ? impl_->analyses("WHERE id = ?1", {number(*id)})
           : impl_->analyses("WHERE image_hash = ?1 AND model_sha256 = ?2 AND analyst = ?3",
                             {text(a.image_hash), text(a.model_sha256), text(a.analyst)});
    if (!found)
        return found.error();
    if (found->empty())
        return Error(ErrorCode::kInternal, impl_->name() + ": an added analysis is not there");
    return AddResult{std::move(found->front()), id.has_value()};
}

Result<AddResult> Ledger::add(const NewAnalysis& a) {
    if (auto c = check_new_analysis(a); !c)
        return c.error();
    Result<AddResult> result = Error(ErrorCode::kInternal, "not added");
    auto s = impl_->db->transaction("adding an analysis", [&]() -> Status {
        result = insert(a);
        return result ? Status::Ok() : Status(result.error());
    });
    if (!s)
        return s.error();
    return result;
}

Result<std::vector<Result<AddResult>>> Ledger::add_all(const std::vector<NewAnalysis>& list) {
    std::vector<Result<AddResult>> out;
    std::vector<bool> valid(list.size());
    out.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        auto c = check_new_analysis(list[i]);
        valid[i] = c.ok();
        out.emplace_back(c ? Error(ErrorCode::kInternal, "not added") : c.error());
    }
    auto s = impl_->db->transaction("adding analyses", [&]() -> Status {
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (!valid[i])
                continue;  // refused by the check: never written
            out[i] = insert(list[i]);
            if (!out[i])
                return out[i].error();
        }
        return Status::Ok();
    });
    if (!s)
        return s.error();
    return out;
}

Result<Analysis> Ledger::get(std::int64_t id) {
    auto r = impl_->analyses("WHERE id = ?1", {number(id)});
    if (!r)
        return r.error();
    if (r->empty())
        return Error(ErrorCode::kNotFound, impl_->name() + ": no analysis " + std::to_string(id));
    return r->front();
}

Result<std::vector<Analysis>> Ledger::find_by_image(const std::string& image_hash) {
    return impl_->analyses("WHERE image_hash = ?1", {text(image_hash)});
}

Result<std::optional<Analysis>> Ledger::find(const std::string& image_hash,
                                             const std::string& model_sha256,
                                             const std::string& analyst) {
    auto r = impl_->analyses("WHERE image_hash = ?1 AND model_sha256 = ?2 AND analyst = ?3",
                             {text(image_hash), text(model_sha256), text(analyst)});
    if (!r)
        return r.error();
    if (r->empty())
        return std::optional<Analysis>();
    return std::optional<Analysis>(std::move(r->front()));
}

Result<std::map<std::string, std::size_t>> Ledger::pending_by_analyst() {
    std::map<std::string, std::size_t> out;
    auto r = impl_->db->execute(
        "SELECT analyst, count(*) FROM analyses WHERE state = 'pending' GROUP BY analyst", {},
        "counting pending analyses",
        [&](const SqlRow& row) { out[row.text(0)] = static_cast<std::size_t>(row.i64(1)); });
    if (!r)
        return r.error();
    return out;
}

Result<std::vector<Analysis>> Ledger::list(std::optional<AnalysisState> state, std::size_t limit) {
    if (state)
        return impl_->analyses("WHERE state = ?1", {text(to_string(*state))}, limit);
    return impl_->analyses("", {}, limit);
}

Result<std::map<AnalysisState, std::size_t>> Ledger::counts() {
    std::map<AnalysisState, std::size_t> out;
    for (auto s : kAnalysisStates)
        out[s] = 0;
    auto r = impl_->db->execute("SELECT state, count(*) FROM analyses GROUP BY state", {},
                                "counting analyses", [&](const SqlRow& row) {
                                    out[state_or_failed(row.text(0))] =
                                        static_cast<std::size_t>(row.i64(1));
                                });
    if (!r)
        return r.error();
    return out;
}

Result<Transaction> Ledger::transaction(const std::string& txid) {
    auto r = impl_->transactions("WHERE txid = ?1", {text(txid)});
    if (!r)
        return r.error();
    if (r->empty())
        return Error(ErrorCode::kNotFound, impl_->name() + ": no transaction " + txid);
    return std::move(r->front());
}

Result<std::vector<Transaction>> Ledger::transactions(TxState state) {
    return impl_->transactions("WHERE state = ?1 ORDER BY sender, nonce", {text(to_string(state))});
}

// ---- outbox transitions ---------------------------------------------------------------------

Status Ledger::record_transaction(const Transaction& tx) {
    if (tx.analysis_ids.empty() || tx.txid.size() != 64 || tx.raw_hex.empty()) {
        return Error(ErrorCode::kInternal, "record_transaction: incomplete transaction");
    }
    return impl_->db->transaction("recording transaction " + tx.txid, [&]() -> Status {
        const std::string now = utc_now();
        if (auto s = impl_->run(
                "INSERT INTO transactions (txid, raw_hex, sender, nonce, fee, kind, state, "
                "accepted, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'broadcast', "
                "0, ?7, ?7)",
                {text(tx.txid), text(tx.raw_hex), text(tx.sender), unsigned_number(tx.nonce),
                 unsigned_number(tx.fee), text(tx.kind), text(now)},
                "recording transaction " + tx.txid);
            !s)
            return s;
        for (std::size_t i = 0; i < tx.analysis_ids.size(); ++i) {
            const std::int64_t id = tx.analysis_ids[i];
            if (auto s =
                    impl_->run("INSERT INTO transaction_analyses (txid, position, analysis_id) "
                               "VALUES (?1, ?2, ?3)",
                               {text(tx.txid), number(static_cast<std::int64_t>(i)), number(id)},
                               "linking analysis " + std::to_string(id));
                !s)
                return s;
            // The rule that stops two outboxes from sending one analysis: only a pending
            // analysis of this sender moves, checked by the same statement that moves it.
            auto moved = impl_->db->execute(
                "UPDATE analyses SET state = 'broadcast', txid = ?2, last_error = NULL, "
                "updated_at = ?3 WHERE id = ?1 AND state = 'pending' AND analyst = ?4",
                {number(id), text(tx.txid), text(now), text(tx.sender)},
                "moving analysis " + std::to_string(id));
            if (!moved)
                return moved.error();
            if (*moved != 1) {
                return Error(ErrorCode::kInvalidArgument,
                             impl_->name() + ": analysis " + std::to_string(id) +
                                 " is no longer pending for " + tx.sender +
                                 " (another medanchor process may be anchoring it)");
            }
        }
        return Status::Ok();
    });
}

Status Ledger::mark_accepted(const std::string& txid) {
    return impl_->run(
        "UPDATE transactions SET accepted = 1, last_error = NULL, updated_at = ?2 WHERE txid = ?1",
        {text(txid), text(utc_now())}, "marking transaction " + txid + " accepted");
}

Status Ledger::note_transaction_error(const std::string& txid, const std::string& error) {
    return impl_->db->transaction("noting an error on " + txid, [&]() -> Status {
        if (auto s = impl_->run(
                "UPDATE transactions SET last_error = ?2, updated_at = ?3 WHERE txid = ?1",
                {text(txid), text(error), text(utc_now())}, "noting an error on " + txid);
            !s)
            return s;
        return impl_->run(
            "UPDATE analyses SET last_error = ?2, updated_at = ?3 "
            "WHERE txid = ?1 AND state = 'broadcast'",
            {text(txid), text(error), text(utc_now())}, "noting an error on " + txid);
    });
}

Status Ledger::settle_success(const std::string& txid, const std::vector<OnChain>& on_chain) {
    return impl_->db->transaction("settling " + txid, [&]() -> Status {
        if (auto s = impl_->require_live(txid); !s)
            return s;
        auto ids = impl_->linked(txid);
        if (!ids)
            return ids.error();
        if (ids->size() != on_chain.size()) {
            return Error(ErrorCode::kInternal, "settle_success: " + std::to_string(ids->size()) +
                                                   " analyses but " +
                                                   std::to_string(on_chain.size()) + " ids");
        }
        if (auto s = impl_->set_tx_state(txid, TxState::kSuccess, ""); !s)
            return s;
        for (std::size_t i = 0; i < ids->size(); ++i) {
            const OnChain& c = on_chain[i];
            auto s =
                impl_->move((*ids)[i], "'broadcast', 'pending'",
                            "state = 'confirmed', txid = ?3, onchain_id = ?4, block_height = ?5, "
                            "block_time = ?6, last_error = NULL",
                            {text(txid), unsigned_number(c.analysis_id),
                             unsigned_number(c.block_height), unsigned_number(c.block_time)},
                            "confirming");
            if (!s)
                return s;
        }
        return Status::Ok();
    });
}

Status Ledger::release(const std::string& txid, TxState final_state,
                       const std::map<std::int64_t, OnChain>& found, const std::string& error,
                       bool count_attempt, int max_attempts,
                       const std::map<std::int64_t, std::string>& held) {
    return impl_->db->transaction("releasing " + txid, [&]() -> Status {
        if (auto s = impl_->require_live(txid); !s)
            return s;
        if (auto s = impl_->set_tx_state(txid, final_state, error); !s)
            return s;
        auto ids = impl_->linked(txid);
        if (!ids)
            return ids.error();
        for (std::int64_t id : *ids) {
            if (auto f = found.find(id); f != found.end()) {
                const OnChain& c = f->second;
                auto s = impl_->move(
                    id, "'broadcast'",
                    "state = 'confirmed', onchain_id = ?3, block_height = ?4, block_time = ?5, "
                    "last_error = NULL",
                    {unsigned_number(c.analysis_id), unsigned_number(c.block_height),
                     unsigned_number(c.block_time)},
                    "confirming");
                if (!s)
                    return s;
                continue;
            }
            if (auto h = held.find(id); h != held.end()) {
                if (auto s = impl_->run(
                        "UPDATE analyses SET state = 'needs_review', review_reason = ?3, "
                        "last_error = ?4, updated_at = ?2 "
                        "WHERE id = ?1 AND state = 'broadcast' AND txid = ?5",
                        {number(id), text(utc_now()), text(h->second), text(error), text(txid)},
                        "holding analysis " + std::to_string(id));
                    !s)
                    return s;
                continue;
            }
            // Only analyses this transaction still holds: one already moved on is left alone.
            if (auto s = impl_->run(
                    "UPDATE analyses SET attempts = attempts + ?3, last_error = ?4, "
                    "state = CASE WHEN attempts + ?3 >= ?5 THEN 'failed' ELSE 'pending' END, "
                    "updated_at = ?2 WHERE id = ?1 AND state = 'broadcast' AND txid = ?6",
                    {number(id), text(utc_now()), number(count_attempt ? 1 : 0), text(error),
                     number(max_attempts), text(txid)},
                    "releasing analysis " + std::to_string(id));
                !s)
                return s;
        }
        return Status::Ok();
    });
}

Status Ledger::confirm_found(std::int64_t id, const OnChain& c) {
    return impl_->db->transaction("confirming analysis " + std::to_string(id), [&]() -> Status {
        return impl_->move(id, "'pending'",
                           "state = 'confirmed', onchain_id = ?3, block_height = ?4, "
                           "block_time = ?5, last_error = NULL",
                           {unsigned_number(c.analysis_id), unsigned_number(c.block_height),
                            unsigned_number(c.block_time)},
                           "confirming");
    });
}

Status Ledger::note_error(std::int64_t id, const std::string& error) {
    return impl_->move(id, "'pending'", "last_error = ?3", {text(error)}, "noting");
}

Status Ledger::mark_needs_review(std::int64_t id, const std::string& reason) {
    return impl_->move(id, "'pending'", "state = 'needs_review', review_reason = ?3",
                       {text(reason)}, "holding for review");
}

Status Ledger::mark_failed(std::int64_t id, const std::string& error) {
    return impl_->move(id, "'pending'", "state = 'failed', last_error = ?3", {text(error)},
                       "failing");
}

Status Ledger::set_model_id(std::int64_t id, std::uint64_t model_id) {
    return impl_->run("UPDATE analyses SET model_id = ?2, updated_at = ?3 WHERE id = ?1",
                      {number(id), unsigned_number(model_id), text(utc_now())},
                      "setting the model id");
}

Status Ledger::requeue(std::int64_t id) {
    return impl_->move(id, "'needs_review', 'failed'", "state = 'pending', attempts = 0", {},
                       "requeueing");
}

Result<AnchoringTimes> Ledger::anchoring_times() {
    AnchoringTimes times;
    auto r = impl_->db->execute(
        "SELECT max(created_at), max(CASE WHEN state = 'success' THEN updated_at END) "
        "FROM transactions",
        {}, "reading the anchoring times", [&](const SqlRow& row) {
            times.last_broadcast = row.opt_text(0);
            times.last_confirmed = row.opt_text(1);
        });
    if (!r)
        return r.error();
    return times;
}

Result<std::int64_t> anchoring_lag_seconds(Ledger& ledger) {
    std::int64_t lag = 0;
    for (auto state : {AnalysisState::kPending, AnalysisState::kBroadcast}) {
        auto oldest = ledger.list(state, 1);
        if (!oldest)
            return oldest.error();
        if (oldest->empty())
            continue;
        std::tm tm{};
        if (strptime(oldest->front().created_at.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr) {
            const auto age =
                static_cast<std::int64_t>(std::difftime(std::time(nullptr), timegm(&tm)));
            lag = std::max(lag, age);
        }
    }
    return lag;
}

}  // namespace medanchor::ledger

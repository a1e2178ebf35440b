// The ledger: medanchor's off-chain record of every analysis and the durable outbox that anchors
// them on Stacks. Two backends behind one set of rules (src/ledger/backend.h): one SQLite file
// (WAL, foreign keys, a busy timeout), mode 0600, schema versioned with PRAGMA user_version, the
// embedded default; or a PostgreSQL database named by a libpq URI (`postgresql://...`), schema
// versioned in the table medanchor_schema, for several machines sharing one ledger. Every state
// change is one SQL transaction, so a process killed at any instant leaves either the state
// before or the state after, never a mix.
//
// States of an analysis (docs/ledger.md):
//   needs_review ─(requeue)─► pending ─(record_transaction)─► broadcast ─► confirmed
//        ▲                      ▲                                 │
//        │                      └──────(release: tx dead)─────────┤
//        └──────────────(release: held, the item's own fault)─────┴─► failed ─(requeue)─► pending
// An analysis is `broadcast` exactly when it is linked to a transaction in state `broadcast`; a
// transaction is recorded (with its signed bytes) before it is ever sent, so the outbox always
// knows every transaction that could still be mined for an analysis.
//
// The ledger never touches the network and does not know Stacks; src/chain/anchoring_service.h
// drives it. SQLite and libpq types stay out of this header. Thread safety: one Ledger per thread
// (it is one connection); several processes may share a ledger (SQLite: its locking, BEGIN
// IMMEDIATE for writes, a busy timeout of 10 s; PostgreSQL: SERIALIZABLE write transactions run
// again on a conflict for up to 10 s), and OutboxLock lets one of them at a time sign and send.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace medanchor::ledger {

enum class AnalysisState { kNeedsReview, kPending, kBroadcast, kConfirmed, kFailed };
inline constexpr std::array<AnalysisState, 5> kAnalysisStates = {
    AnalysisState::kNeedsReview, AnalysisState::kPending, AnalysisState::kBroadcast,
    AnalysisState::kConfirmed, AnalysisState::kFailed};
// "needs_review", "pending", "broadcast", "confirmed", "failed".
const char* to_string(AnalysisState state);
Result<AnalysisState> parse_analysis_state(std::string_view text);

// What the ledger knows of a transaction it recorded: `broadcast` until the chain settles it
// (`success`, `abort`: mined and refused by the contract) or the outbox declares it dead
// (`dropped`: it can never be mined, e.g. its nonce was consumed by another transaction, or the
// node refused it).
enum class TxState { kBroadcast, kSuccess, kAbort, kDropped };
const char* to_string(TxState state);
Result<TxState> parse_tx_state(std::string_view text);

inline constexpr const char* kSubmitAnalysis = "submit-analysis";
inline constexpr const char* kSubmitAnalyses = "submit-analyses";

// An analysis as the pipeline hands it over. Hashes are 64 lowercase hex digits.
struct NewAnalysis {
    std::string source_path;  // local only: never sent anywhere, never on chain
    std::string image_hash;   // the keyed (or public) canonical image hash
    std::string hash_mode;    // "hmac-sha256" or "sha256"
    std::string model_sha256;
    std::string model_name;
    std::string model_version;
    std::optional<std::uint64_t> model_id;  // on chain, when known
    std::string finding;                    // code: 1..32 of [A-Za-z0-9._:-]
    std::uint32_t confidence_bp = 0;        // 0..10000
    std::string report_json;  // the canonical JSON report; its SHA-256 is the report digest
    std::optional<std::string> saliency_path;
    std::string analyst;  // Stacks principal that will submit it
    // kPending (anchor it) or kNeedsReview (hold it for a person, with review_reason).
    AnalysisState state = AnalysisState::kPending;
    std::string review_reason;
    // The write-once folder holding report.json (whose bytes are report_json) and its siblings;
    // empty when the analysis has no folder.
    std::string report_dir;
};

struct Analysis {
    std::int64_t id = 0;
    std::string created_at;  // UTC, ISO 8601 ("2026-11-25T10:00:00Z")
    std::string updated_at;
    std::string source_path;
    std::string image_hash;
    std::string hash_mode;
    std::string model_sha256;
    std::string model_name;
    std::string model_version;
    std::optional<std::uint64_t> model_id;
    std::string finding;
    std::uint32_t confidence_bp = 0;
    std::string report_json;
    std::string report_digest;  // hex SHA-256 of report_json
    std::optional<std::string> saliency_path;
    std::string analyst;
    AnalysisState state = AnalysisState::kPending;
    std::string review_reason;  // why it needs review (empty otherwise)
    std::string last_error;     // the last anchoring problem (empty when none)
    int attempts = 0;           // anchoring attempts that failed (node refusals, batch aborts)
    std::optional<std::string> txid;  // the transaction that carries (or carried) it
    std::optional<std::uint64_t> onchain_id;
    std::optional<std::uint64_t> block_height;
    std::optional<std::uint64_t> block_time;  // stacks-block-time, Unix seconds
    int transactions = 0;  // how many transactions ever carried it (> 1: re-sent)
    // Its report folder; none for analyses recorded before schema version 2.
    std::optional<std::string> report_dir;
};

struct AddResult {
    Analysis analysis;
    bool created = false;  // false: the same (image, model, analyst) was already recorded
};

struct Transaction {
    std::string txid;     // 64 hex digits, SHA-512/256 of the signed bytes
    std::string raw_hex;  // the signed bytes: re-broadcasting them can never anchor twice
    std::string sender;
    std::uint64_t nonce = 0;
    std::uint64_t fee = 0;  // micro-STX
    std::string kind;       // kSubmitAnalysis or kSubmitAnalyses
    TxState state = TxState::kBroadcast;
    std::string created_at;
    std::string updated_at;
    bool accepted = false;  // a node acknowledged it at least once
    std::string last_error;
    std::vector<std::int64_t> analysis_ids;  // in batch order (position 0, 1, ...)
};

// Where an analysis landed on chain.
struct OnChain {
    std::uint64_t analysis_id = 0;
    std::uint64_t block_height = 0;
    std::uint64_t block_time = 0;
};

// When the outbox last sent and last confirmed (UTC, ISO 8601; none yet when never), read from
// the ledger's transactions of any sender, so that any process (the elected writer's log line,
// `medanchor status`) can tell the anchoring lag: docs/anchorer.md.
struct AnchoringTimes {
    std::optional<std::string> last_broadcast;  // created_at of the newest transaction recorded
    std::optional<std::string> last_confirmed;  // updated_at of the newest one mined with success
};

// True for a PostgreSQL location: a libpq URI, `postgresql://` or `postgres://`. Anything else is
// an SQLite file path.
bool is_postgres_location(std::string_view location);

// Held by the one process that signs and sends for one signing key from a ledger
// (OutboxLock::acquire): two outboxes of one key would sign the same pending analyses with the
// same nonce. SQLite: an exclusive flock(2) on the side file LEDGER.lock, for the whole ledger
// whatever the key, so the kernel releases it when its holder dies, however it dies.
// PostgreSQL: a session-level advisory lock keyed by the scope (the signing key's sender address
// and the contract: one writer per key, whatever the ledger holds for other keys), held by a
// connection of its own, which the server releases when that session ends, however its process
// dies. A PostgreSQL restart or pg_terminate_backend also ends the session without telling the
// holder: check() tells it, and a writer calls it before signing (docs/anchorer.md).
class OutboxLock {
  public:
    // Waits up to `wait` while another process holds the lock, calling `waiting(holder's pid,
    // or 0 when unknown)` once if it has to. kTimeout when still held then (the message names
    // the holder: its pid, and on PostgreSQL its host), kIo when the lock file cannot be opened,
    // kNetwork when the PostgreSQL server cannot be reached. `scope` names what the lock guards
    // (outbox_scope(): the sender's address); SQLite's lock covers every scope.
    static Result<OutboxLock> acquire(const std::filesystem::path& ledger_location,
                                      std::chrono::milliseconds wait,
                                      const std::function<void(long)>& waiting = {},
                                      const std::string& scope = {});
    OutboxLock(OutboxLock&& other) noexcept;
    OutboxLock& operator=(OutboxLock&&) = delete;
    OutboxLock(const OutboxLock&) = delete;
    OutboxLock& operator=(const OutboxLock&) = delete;
    ~OutboxLock();

    // Whether the lock is still held, asked of the server on the lock's own session (a query
    // that fails on a session the server ended, then pg_locks for this session's pid): kNetwork
    // naming what was lost when not. A lost lock is never taken again behind the caller's back:
    // the holder must acquire() anew. SQLite: always held while this object lives.
    Status check() const;

    // What a backend holds while the lock is held; releasing it (destruction) releases the lock.
    struct Held {
        virtual ~Held() = default;
        virtual Status check() const { return Status::Ok(); }
    };

  private:
    explicit OutboxLock(std::unique_ptr<Held> held);
    std::unique_ptr<Held> held_;
};

// The scope of one signing key's outbox: its sender address and the contract it anchors on.
std::string outbox_scope(const std::string& sender, const std::string& contract_id);

class Ledger {
  public:
    // 2: analyses.report_dir; 3: the Merkle tables (merkle_store.h); 4: the DICOM listener's
    // tables (pacs_store.h); 5: the listener's summary marks, fetch failures and dead-letter
    // sends (pacs_store.h). Migrated on open.
    static constexpr int kSchemaVersion = 5;
    // The PostgreSQL schema (medanchor_schema.version): 1: analyses, transactions and
    // transaction_analyses, as in SQLite version 2; 2: the Merkle tables (merkle_store.h), as in
    // SQLite version 3; 3: the job queue's table jobs (job_queue.h); 4: the listener's tables
    // (pacs_store.h), as in SQLite version 5, and jobs.deidentified.
    static constexpr int kPostgresSchemaVersion = 4;

    // Opens a ledger and migrates its schema. `location` is a file path (SQLite: created, with
    // its parent folders mode 0700 and the file mode 0600, when missing) or a libpq URI
    // (`postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?PARAM=VALUE...]`, PostgreSQL: the
    // database must exist; kNetwork when the server cannot be reached). Refuses a ledger whose
    // schema is newer than this build's (kUnsupported) or that is not a medanchor ledger
    // (kCorrupt). No message ever holds the URI's password.
    static Result<Ledger> open(const std::filesystem::path& location);
    // $MEDANCHOR_LEDGER, else ~/.medanchor/ledger.sqlite.
    static std::filesystem::path default_path();

    Ledger(Ledger&&) noexcept;
    Ledger& operator=(Ledger&&) noexcept;
    ~Ledger();

    // The location it was opened with, to open it again (another connection, the outbox lock).
    // A PostgreSQL URI may hold a password: never print it; display_name() is for messages.
    const std::filesystem::path& path() const { return path_; }
    // What messages call it: the file, or the URI without its password.
    const std::string& display_name() const;

    // Idempotent: the same (image_hash, model_sha256, analyst) returns the existing record with
    // created = false, whatever its state, and changes nothing. kInvalidArgument for a malformed
    // field (the message names it, never the report or the source path's contents).
    Result<AddResult> add(const NewAnalysis& analysis);
    // Many in one transaction (one commit, one sync of the journal, for a batch): each entry's
    // result in its place, as add() would give it (a malformed entry is refused alone and the
    // others are written; an entry repeating an earlier one's key finds it). An Error when the
    // transaction itself fails: then nothing of the batch is written.
    Result<std::vector<Result<AddResult>>> add_all(const std::vector<NewAnalysis>& analyses);

    Result<Analysis> get(std::int64_t id);  // kNotFound
    Result<std::vector<Analysis>> find_by_image(const std::string& image_hash);
    // The analysis of (image, model, analyst), the ledger's key, if recorded.
    Result<std::optional<Analysis>> find(const std::string& image_hash,
                                         const std::string& model_sha256,
                                         const std::string& analyst);
    // How many analyses wait in state pending, per analyst principal.
    Result<std::map<std::string, std::size_t>> pending_by_analyst();
    // Oldest first; limit 0 means all.
    Result<std::vector<Analysis>> list(std::optional<AnalysisState> state = std::nullopt,
                                       std::size_t limit = 0);
    Result<std::map<AnalysisState, std::size_t>> counts();

    Result<Transaction> transaction(const std::string& txid);  // kNotFound
    // Ordered by sender, then nonce (the order in which a node accepts them).
    Result<std::vector<Transaction>> transactions(TxState state);
    Result<AnchoringTimes> anchoring_times();

    // ---- outbox transitions: each is one SQL transaction ----------------------------------

    // Records a signed transaction (state broadcast, not yet accepted) and moves its analyses
    // pending → broadcast. Fails with kInvalidArgument, changing nothing, unless every analysis
    // is pending and belongs to tx.sender: this is what stops two outboxes from sending the same
    // analysis in two transactions.
    Status record_transaction(const Transaction& tx);
    // A node acknowledged the transaction.
    Status mark_accepted(const std::string& txid);
    // Keeps the transaction (and its analyses) broadcast, remembering why it is not settled.
    Status note_transaction_error(const std::string& txid, const std::string& error);
    // Mined with (ok ...): on_chain[i] is where the analysis at position i landed.
    Status settle_success(const std::string& txid, const std::vector<OnChain>& on_chain);
    // The transaction can never anchor its analyses (it can never be mined, or it was mined and
    // the contract refused it): the transaction becomes `final_state`; its analyses listed in
    // `found` (found on chain by other means) become confirmed; those listed in `held` become
    // needs_review with the given reason (their own fault, e.g. one item of a batch below the
    // threshold); the others go back to pending with `error`, their attempts increased when
    // `count_attempt`, and failed once attempts reach `max_attempts`.
    Status release(const std::string& txid, TxState final_state,
                   const std::map<std::int64_t, OnChain>& found, const std::string& error,
                   bool count_attempt, int max_attempts,
                   const std::map<std::int64_t, std::string>& held = {});

    // A pending analysis found on chain (the chain re-check before re-sending).
    Status confirm_found(std::int64_t id, const OnChain& on_chain);
    // Keeps a pending analysis pending, with a reason it was not sent this time.
    Status note_error(std::int64_t id, const std::string& error);
    // pending → needs_review (e.g. below the contract's threshold), with the reason.
    Status mark_needs_review(std::int64_t id, const std::string& reason);
    // pending → failed, for good (e.g. its model is retired).
    Status mark_failed(std::int64_t id, const std::string& error);
    Status set_model_id(std::int64_t id, std::uint64_t model_id);
    // A person's decision: needs_review or failed → pending (attempts reset). Refuses other
    // states (kInvalidArgument).
    Status requeue(std::int64_t id);

  private:
    struct Impl;
    Ledger(std::filesystem::path path, std::unique_ptr<Impl> impl);
    // Inside a transaction: add()'s work on a checked entry.
    Result<AddResult> insert(const NewAnalysis& analysis);
    std::filesystem::path path_;
    std::unique_ptr<Impl> impl_;
};

// Seconds since the oldest analysis recorded and not yet confirmed (pending or broadcast) was
// created; 0 when none waits (the "anchoring lag" metric of `serve` and `listen`).
Result<std::int64_t> anchoring_lag_seconds(Ledger& ledger);

// Hex SHA-256 of the report text (the on-chain report digest).
std::string report_digest(std::string_view report_json);
// "2026-11-25T10:00:00Z" for now.
std::string utc_now();

}  // namespace medanchor::ledger

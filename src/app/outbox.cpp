#include "app/outbox.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "app/contract.h"
#include "app/progress.h"
#include "stacks/bytes.h"

namespace medanchor::app {
namespace {

using ledger::AnalysisState;
using stacks::Value;
using stacks::ValueKind;

Value buffer_of(const std::string& hex) {
    return Value::buffer(*stacks::from_hex(hex));
}

bool nonce_problem(const Error& e) {
    const auto& m = e.message();
    return m.find("BadNonce") != std::string::npos ||
           m.find("ConflictingNonce") != std::string::npos;
}

class Outbox {
  public:
    Outbox(ledger::Ledger& ledger, ChainSession& session, const OutboxOptions& options)
        : ledger_(ledger), session_(session), options_(options), sender_(session.sender()) {}

    Result<OutboxSummary> run() {
        // Unreachable node: say so before touching anything.
        if (auto info = session_.node().info(); !info) {
            return Error(info.error().code(), info.error().message() +
                                                  " (nothing was changed; the analyses wait in the "
                                                  "ledger)");
        }
        if (auto s = settle_recorded(); !s)
            return s.error();
        if (auto s = send_pending(); !s)
            return s.error();
        if (options_.wait) {
            if (auto s = settle_recorded(/*wait=*/true); !s)
                return s.error();
        }
        auto totals = ledger_.counts();
        if (!totals)
            return totals.error();
        summary_.totals = *totals;
        return summary_;
    }

  private:
    // Where `a` landed on chain, looked up by its image: same analyst, model and report digest.
    Result<std::optional<ledger::OnChain>> find_on_chain(const ledger::Analysis& a) {
        const Value image = buffer_of(a.image_hash);
        auto stats = session_.read("get-image-stats", {image});
        if (!stats)
            return stats.error();
        const std::uint64_t total = uint_field(*stats, "total");
        for (std::uint64_t start = 0; start < total; start += 20) {
            auto ids = session_.read("get-image-analysis-ids", {image, Value::uint_(start)});
            if (!ids)
                return ids.error();
            for (const auto& id : ids->items()) {
                auto found = session_.read("get-analysis", {id});
                if (!found)
                    return found.error();
                if (found->kind() != ValueKind::kSome)
                    continue;
                const Value& r = found->inner();
                const Value* analyst = r.field("analyst");
                const Value* digest = r.field("report-digest");
                if (analyst && analyst->to_string() == "'" + a.analyst && digest &&
                    stacks::to_hex(digest->bytes()) == a.report_digest &&
                    (!a.model_id || uint_field(r, "model-id") == *a.model_id)) {
                    return std::optional<ledger::OnChain>(
                        ledger::OnChain{uint_field(r, "analysis-id"), uint_field(r, "block-height"),
                                        uint_field(r, "block-time")});
                }
            }
        }
        return std::optional<ledger::OnChain>();
    }

    Status settle(const ledger::Transaction& tx, const stacks::TxStatus& status) {
        const std::size_t n = tx.analysis_ids.size();
        switch (status.state) {
            case stacks::TxState::kSuccess: {
                std::vector<ledger::OnChain> where;
                const Value* ok = status.result && status.result->kind() == ValueKind::kOk
                                      ? &status.result->inner()
                                      : nullptr;
                std::uint64_t first = 0, last = 0;
                if (ok && ok->kind() == ValueKind::kUInt)
                    first = last = static_cast<std::uint64_t>(ok->as_uint());
                else if (ok)
                    first = uint_field(*ok, "first-id"), last = uint_field(*ok, "last-id");
                if (first == 0 || last < first || last - first + 1 != n) {
                    return Error(ErrorCode::kInternal,
                                 "transaction " + tx.txid + " succeeded with an unexpected result");
                }
                for (std::uint64_t id = first; id <= last; ++id) {
                    where.push_back({id, status.block_height, status.block_time});
                }
                if (auto s = ledger_.settle_success(tx.txid, where); !s)
                    return s;
                summary_.confirmed += n;
                return Status::Ok();
            }
            case stacks::TxState::kAbortByResponse:
            case stacks::TxState::kAbortByPostCondition: {
                const std::string why =
                    status.result ? describe_result(*status.result) : status.raw_status;
                if (auto s = ledger_.settle_abort(tx.txid, why); !s)
                    return s;
                summary_.failed += n;
                summary_.problems.push_back("transaction " + tx.txid +
                                            " was refused by the contract: " + why);
                return Status::Ok();
            }
            case stacks::TxState::kPending:
            case stacks::TxState::kUnknown:
            case stacks::TxState::kDropped:
                return Status::Ok();  // settle_recorded() sends these again first
        }
        return Status::Ok();
    }

    // The node does not have it: send the very same bytes again (same txid, same nonce: it can
    // be mined once at most). True when the node took it.
    Result<bool> resend(const ledger::Transaction& tx) {
        auto raw = stacks::from_hex(tx.raw_hex);
        if (!raw)
            return Error(ErrorCode::kCorrupt,
                         ledger_.path().string() + ": transaction " + tx.txid + " is damaged");
        auto sent = session_.node().broadcast(*raw);
        if (sent) {
            ++summary_.resent;
            if (auto s = ledger_.mark_accepted(tx.txid); !s)
                return s.error();
            return true;
        }
        const Error& e = sent.error();
        if (e.code() != ErrorCode::kRejected) {
            (void)ledger_.note_transaction_error(tx.txid, e.message());
            return e;
        }
        session_.forget_nonce();
        std::map<std::int64_t, ledger::OnChain> found;
        if (nonce_problem(e)) {
            // A nonce refusal means this transaction is dead only when the account's confirmed
            // nonce has passed it: then no transaction with this nonce can ever be mined again.
            // Otherwise the nonce is still ahead (a gap below it, or another transaction with
            // the same nonce in a mempool): it may yet be mined, so its analyses must stay with
            // it. Releasing them would let a fresh transaction anchor them a second time.
            auto account = session_.node().account(tx.sender);
            if (!account)
                return account.error();
            if (account->nonce <= tx.nonce) {
                const std::string why = e.message() + " (nonce " + std::to_string(tx.nonce) +
                                        " not yet reached: the account's confirmed nonce is " +
                                        std::to_string(account->nonce) + ")";
                if (auto s = ledger_.note_transaction_error(tx.txid, why); !s)
                    return s.error();
                summary_.problems.push_back("transaction " + tx.txid + " waits for nonce " +
                                            std::to_string(tx.nonce) + ": " + e.message());
                return false;
            }
            // Its nonce went to another transaction, which may have carried these analyses
            // (another medanchor on the same key): look before sending them again.
            for (const auto id : tx.analysis_ids) {
                auto a = ledger_.get(id);
                if (!a)
                    return a.error();
                auto where = find_on_chain(*a);
                if (!where)
                    return where.error();
                if (*where)
                    found.emplace(id, **where);
            }
        }
        summary_.confirmed += found.size();
        summary_.problems.push_back("transaction " + tx.txid + " could not be sent again (" +
                                    e.message() + "); its analyses go back to pending");
        if (auto s = ledger_.release(tx.txid, ledger::TxState::kDropped, found, e.message(),
                                     !nonce_problem(e), options_.max_attempts);
            !s)
            return s.error();
        return false;
    }

    // Every recorded, unsettled transaction of this sender, in nonce order: one the node does
    // not know is sent again, one that is mined is settled, and with `wait` one in the mempool
    // is waited for.
    Status settle_recorded(bool wait = false) {
        auto txs = ledger_.transactions(ledger::TxState::kBroadcast);
        if (!txs)
            return txs.error();
        for (const auto& tx : *txs) {
            if (tx.sender != sender_)
                continue;
            auto status = session_.node().transaction_status(tx.txid);
            if (!status)
                return status.error();
            if (status->state == stacks::TxState::kUnknown ||
                status->state == stacks::TxState::kDropped) {
                auto taken = resend(tx);
                if (!taken)
                    return taken.error();
                if (!*taken)
                    continue;
                status->state = stacks::TxState::kPending;
            }
            if (status->state == stacks::TxState::kPending) {
                if (!wait)
                    continue;
                status = session_.wait(tx.txid);
                if (!status) {
                    if (status.error().code() == ErrorCode::kTimeout) {
                        summary_.problems.push_back(
                            "transaction " + tx.txid +
                            " is not mined yet; `medanchor sync` settles it later");
                        continue;
                    }
                    return status.error();
                }
            }
            if (auto s = settle(tx, *status); !s)
                return s;
        }
        return Status::Ok();
    }

    // Checks that hold for every analysis: the contract runs and this analyst may submit.
    Status check_contract(std::uint32_t* global_min) {
        auto params = session_.read("get-parameters", {});
        if (!params)
            return params.error();
        if (const Value* paused = params->field("paused"); paused && paused->as_bool()) {
            return Error(ErrorCode::kContract,
                         "the contract is paused (ERR-PAUSED): the analyses stay pending");
        }
        *global_min = static_cast<std::uint32_t>(uint_field(*params, "min-confidence"));
        auto pro = session_.read("get-professional", {*Value::parse_principal(sender_)});
        if (!pro)
            return pro.error();
        if (pro->kind() != ValueKind::kSome) {
            return Error(ErrorCode::kContract,
                         sender_ +
                             " is not a registered professional: register with `medanchor "
                             "professional register` and have a verifier verify you; the "
                             "analyses stay pending");
        }
        if (const Value* active = pro->inner().field("active"); active && !active->as_bool()) {
            const auto code = uint_field(pro->inner(), "inactive-reason");
            const ContractError* e = find_contract_error(code);
            return Error(ErrorCode::kContract,
                         sender_ + " may not submit now: " +
                             (e ? std::string(e->name) + " (" + e->meaning + ")"
                                : "error u" + std::to_string(code)) +
                             "; the analyses stay pending");
        }
        return Status::Ok();
    }

    struct ModelInfo {
        std::optional<std::uint64_t> id;
        bool active = false;
        std::uint32_t min = 0;
    };

    Result<ModelInfo> model_info(const std::string& sha) {
        if (auto m = models_.find(sha); m != models_.end())
            return m->second;
        ModelInfo info;
        auto id = session_.read("get-model-id", {buffer_of(sha)});
        if (!id)
            return id.error();
        if (id->kind() == ValueKind::kSome) {
            info.id = static_cast<std::uint64_t>(id->inner().as_uint());
            auto model = session_.read("get-model", {Value::uint_(*info.id)});
            if (!model)
                return model.error();
            if (model->kind() == ValueKind::kSome) {
                const Value* active = model->inner().field("active");
                info.active = active && active->as_bool();
                info.min = static_cast<std::uint32_t>(uint_field(model->inner(), "min-confidence"));
            }
        }
        models_.emplace(sha, info);
        return info;
    }

    Status send_pending() {
        auto pending = ledger_.list(AnalysisState::kPending);
        if (!pending)
            return pending.error();
        std::vector<ledger::Analysis> mine;
        for (auto& a : *pending) {
            if (a.analyst == sender_)
                mine.push_back(std::move(a));
        }
        if (mine.empty())
            return Status::Ok();
        std::uint32_t global_min = 0;
        if (auto s = check_contract(&global_min); !s)
            return s;

        std::vector<ledger::Analysis> ready;
        for (auto& a : mine) {
            auto model = model_info(a.model_sha256);
            if (!model)
                return model.error();
            if (!model->id) {
                if (auto s =
                        ledger_.note_error(a.id, "model " + a.model_name + " " + a.model_version +
                                                     " is not registered on the contract");
                    !s)
                    return s;
                summary_.problems.push_back("analysis #" + std::to_string(a.id) + ": model " +
                                            a.model_name + " " + a.model_version +
                                            " is not registered on the contract (`medanchor admin "
                                            "register-model --bundle DIR`)");
                continue;
            }
            if (!model->active) {
                if (auto s = ledger_.mark_failed(a.id, "ERR-MODEL-RETIRED: the model is retired");
                    !s)
                    return s;
                ++summary_.failed;
                continue;
            }
            const std::uint32_t threshold = std::max(global_min, model->min);
            if (a.confidence_bp < threshold) {
                if (auto s = ledger_.mark_needs_review(
                        a.id, "confidence " + std::to_string(a.confidence_bp) +
                                  " bp is below the contract's threshold of " +
                                  std::to_string(threshold) + " bp");
                    !s)
                    return s;
                ++summary_.held;
                continue;
            }
            if (!a.model_id || *a.model_id != *model->id) {
                if (auto s = ledger_.set_model_id(a.id, *model->id); !s)
                    return s;
                a.model_id = model->id;
            }
            // Carried by an earlier transaction that was released: it may have been mined after
            // all.
            if (a.transactions > 0) {
                auto where = find_on_chain(a);
                if (!where)
                    return where.error();
                if (*where) {
                    if (auto s = ledger_.confirm_found(a.id, **where); !s)
                        return s;
                    ++summary_.confirmed;
                    continue;
                }
            }
            ready.push_back(std::move(a));
        }

        // Each new transaction takes the lowest nonce at or above the account's confirmed nonce
        // that no live transaction of ours holds. Filling a gap below a live transaction lets
        // that one be mined too; taking a held nonce would make two transactions exclusive.
        auto account = session_.node().account(sender_);
        if (!account)
            return account.error();
        std::set<std::uint64_t> held;
        auto open = ledger_.transactions(ledger::TxState::kBroadcast);
        if (!open)
            return open.error();
        for (const auto& t : *open) {
            if (t.sender == sender_)
                held.insert(t.nonce);
        }
        std::uint64_t next_nonce = account->nonce;
        const auto free_nonce = [&] {
            while (held.contains(next_nonce))
                ++next_nonce;
            return next_nonce;
        };
        session_.forget_nonce();  // the session's count must not run ahead of free_nonce()

        Progress progress(options_.progress ? ready.size() : 0, "analyses anchored");
        for (std::size_t start = 0; start < ready.size(); start += options_.batch) {
            const std::size_t end = std::min(ready.size(), start + options_.batch);
            std::vector<Value> items;
            ledger::Transaction tx;
            for (std::size_t i = start; i < end; ++i) {
                const auto& a = ready[i];
                items.push_back(Value::tuple({{"image-hash", buffer_of(a.image_hash)},
                                              {"model-id", Value::uint_(*a.model_id)},
                                              {"finding", Value::ascii(a.finding)},
                                              {"confidence", Value::uint_(a.confidence_bp)},
                                              {"report-digest", buffer_of(a.report_digest)}}));
                tx.analysis_ids.push_back(a.id);
            }
            const bool single = items.size() == 1;
            const auto& a0 = ready[start];
            auto payload =
                single ? session_.call(ledger::kSubmitAnalysis,
                                       {buffer_of(a0.image_hash), Value::uint_(*a0.model_id),
                                        Value::ascii(a0.finding), Value::uint_(a0.confidence_bp),
                                        buffer_of(a0.report_digest)})
                       : session_.call(ledger::kSubmitAnalyses, {Value::list(items)});
            auto signed_tx = session_.sign(std::move(payload), free_nonce());
            if (!signed_tx)
                return signed_tx.error();
            tx.txid = signed_tx->txid;
            tx.raw_hex = stacks::to_hex(signed_tx->raw);
            tx.sender = sender_;
            tx.nonce = signed_tx->nonce;
            tx.fee = signed_tx->fee;
            tx.kind = single ? ledger::kSubmitAnalysis : ledger::kSubmitAnalyses;
            // Recorded before it leaves this machine: whatever happens next, the ledger knows it.
            if (auto s = ledger_.record_transaction(tx); !s)
                return s;
            summary_.sent += tx.analysis_ids.size();
            auto sent = session_.node().broadcast(signed_tx->raw);
            if (!sent) {
                if (sent.error().code() != ErrorCode::kRejected) {
                    (void)ledger_.note_transaction_error(tx.txid, sent.error().message());
                    return Error(sent.error().code(),
                                 sent.error().message() +
                                     " (the transaction is recorded; `medanchor sync` sends "
                                     "it again)");
                }
                session_.forget_nonce();
                summary_.problems.push_back("the node refused transaction " + tx.txid + ": " +
                                            sent.error().message());
                if (auto s = ledger_.release(tx.txid, ledger::TxState::kDropped, {},
                                             sent.error().message(), true, options_.max_attempts);
                    !s)
                    return s;
                continue;
            }
            if (auto s = ledger_.mark_accepted(tx.txid); !s)
                return s;
            summary_.txids.push_back(tx.txid);
            held.insert(tx.nonce);
            progress.tick(tx.analysis_ids.size());
        }
        progress.finish();
        return Status::Ok();
    }

    ledger::Ledger& ledger_;
    ChainSession& session_;
    const OutboxOptions& options_;
    const std::string sender_;
    OutboxSummary summary_;
    std::map<std::string, ModelInfo> models_;
};

}  // namespace

Result<OutboxSummary> sync_outbox(ledger::Ledger& ledger, ChainSession& session,
                                  const OutboxOptions& options) {
    return Outbox(ledger, session, options).run();
}

void print_summary(const OutboxSummary& s, std::ostream& out) {
    out << "anchoring: " << s.sent << " analyses sent in " << s.txids.size() << " transaction(s)";
    if (s.resent)
        out << ", " << s.resent << " transaction(s) sent again";
    out << "; " << s.confirmed << " confirmed, " << s.failed << " failed, " << s.held
        << " held for review\n";
    for (const auto& t : s.txids)
        out << "  tx " << t << "\n";
    for (const auto& p : s.problems)
        out << "  note: " << p << "\n";
    auto total = [&](ledger::AnalysisState st) {
        auto it = s.totals.find(st);
        return it == s.totals.end() ? std::size_t{0} : it->second;
    };
    out << "ledger: " << total(ledger::AnalysisState::kConfirmed) << " confirmed, "
        << total(ledger::AnalysisState::kPending) << " pending, "
        << total(ledger::AnalysisState::kBroadcast) << " awaiting confirmation, "
        << total(ledger::AnalysisState::kNeedsReview) << " need review, "
        << total(ledger::AnalysisState::kFailed) << " failed\n";
}

}  // namespace medanchor::app

#include "chain/anchoring_service.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "chain/contract.h"
#include "chain/merkle.h"
#include "chain/proof_file.h"
#include "chain/threshold_policy.h"
#include "ledger/merkle_store.h"
#include "stacks/bytes.h"

namespace medanchor::chain {
namespace {

using ledger::AnalysisState;
using stacks::Value;
using stacks::ValueKind;

Value buffer_of(const std::string& hex) {
    return Value::buffer(*stacks::from_hex(hex));
}

bool nonce_refusal(const stacks::Refusal& r) {
    return r.reason == "BadNonce" || r.reason == "ConflictingNonceInMempool";
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
        for (int round = 1;;) {
            resend_now_ = 0;
            chain_full_ = false;
            summary_.chained_out = 0;
            if (auto s = settle_recorded(); !s)
                return s.error();
            if (auto s = settle_roots(); !s)
                return s.error();
            if (auto s = merkle() ? send_roots() : send_pending(); !s)
                return s.error();
            if (!options_.wait)
                break;
            const std::size_t confirmed = summary_.confirmed;
            if (auto s = settle_recorded(/*wait=*/true); !s)
                return s.error();
            if (auto s = settle_roots(/*wait=*/true); !s)
                return s.error();
            // The sender's chain in the mempool was full: once confirmations have made room, the
            // rest is sent (each such round waited for at least one confirmation).
            if (chain_full_ && summary_.confirmed > confirmed)
                continue;
            // Another round only for analyses freed by another item's fault: a condition that
            // can pass waits for the next sync.
            if (resend_now_ == 0 || ++round > kOutboxRounds)
                break;
        }
        if (auto s = write_proofs(); !s)
            return s.error();
        auto totals = ledger_.counts();
        if (!totals)
            return totals.error();
        summary_.totals = *totals;
        return summary_;
    }

  private:
    template <typename F>
    void notify(F&& f) {
        if (options_.observer)
            f(*options_.observer);
    }

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

    // The analyses of `tx` the chain holds, by ledger id, and those it does not.
    struct Search {
        std::map<std::int64_t, ledger::OnChain> found;
        std::vector<ledger::Analysis> missing;
    };

    Result<Search> search_chain(const ledger::Transaction& tx) {
        Search search;
        for (const auto id : tx.analysis_ids) {
            auto a = ledger_.get(id);
            if (!a)
                return a.error();
            auto where = find_on_chain(*a);
            if (!where)
                return where.error();
            if (*where)
                search.found.emplace(id, **where);
            else
                search.missing.push_back(std::move(*a));
        }
        return search;
    }

    // Applies the policy to the analyses of a transaction that can no longer anchor them. `fault`
    // is the position of the item at fault, when the contract named one. Returns how many went
    // where through the summary; analyses freed by another item's fault are sent again this run.
    Status release(const ledger::Transaction& tx, ledger::TxState final_state,
                   Disposition disposition, const std::string& why,
                   std::optional<std::uint64_t> fault = std::nullopt,
                   const std::map<std::int64_t, ledger::OnChain>& found = {}) {
        const std::size_t n = tx.analysis_ids.size();
        std::map<std::int64_t, std::string> held;
        bool count_attempt = disposition == Disposition::kCountAttempt;
        if (disposition == Disposition::kHoldForReview) {
            if (fault && *fault < n) {
                held.emplace(tx.analysis_ids[*fault], why);
                count_attempt = false;  // the others were refused for this item's fault
                resend_now_ += n - 1 - found.size();
            } else {
                for (const auto id : tx.analysis_ids) {
                    if (!found.contains(id))
                        held.emplace(id, why);
                }
            }
        }
        if (auto s = ledger_.release(tx.txid, final_state, found, why, count_attempt,
                                     options_.max_attempts, held);
            !s)
            return s;
        summary_.confirmed += found.size();
        summary_.held += held.size();
        notify([&](AnchoringObserver& o) { o.on_refused(tx.txid, why); });
        const std::size_t rest = n - found.size() - held.size();
        if (disposition == Disposition::kRetryLater)
            summary_.deferred += rest;
        else if (count_attempt)
            summary_.refused += rest;
        return Status::Ok();
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
                notify(
                    [&](AnchoringObserver& o) { o.on_confirmed(tx.txid, n, status.block_height); });
                return Status::Ok();
            }
            case stacks::TxState::kAbortByResponse: {
                const std::string why =
                    status.result ? describe_result(*status.result) : status.raw_status;
                const auto refusal = status.result ? contract_refusal(*status.result)
                                                   : std::optional<ContractRefusal>();
                const Disposition d =
                    refusal ? classify_contract_error(refusal->code) : Disposition::kCountAttempt;
                summary_.problems.push_back("transaction " + tx.txid +
                                            " was refused by the contract: " + why + " (" +
                                            to_string(d) + ")");
                return release(tx, ledger::TxState::kAbort, d, why,
                               refusal ? refusal->index : std::nullopt);
            }
            case stacks::TxState::kAbortByPostCondition: {
                // medanchor's calls move no assets; a post-condition abort is unexplained.
                summary_.problems.push_back("transaction " + tx.txid +
                                            " was aborted by a post-condition");
                return release(tx, ledger::TxState::kAbort, Disposition::kCountAttempt,
                               status.raw_status);
            }
            case stacks::TxState::kNonceConsumed:
                return settle_by_state(tx);
            case stacks::TxState::kPending:
            case stacks::TxState::kUnknown:
            case stacks::TxState::kDropped:
                return Status::Ok();  // settle_recorded() sends these again first
        }
        return Status::Ok();
    }

    // Every analysis of `tx` is on chain where `found` says (a batch is all or nothing): it was
    // mined and succeeded.
    Status settle_found(const ledger::Transaction& tx,
                        const std::map<std::int64_t, ledger::OnChain>& found) {
        std::vector<ledger::OnChain> in_order;
        for (const auto id : tx.analysis_ids)
            in_order.push_back(found.at(id));
        if (auto s = ledger_.settle_success(tx.txid, in_order); !s)
            return s;
        summary_.confirmed += in_order.size();
        notify([&](AnchoringObserver& o) {
            o.on_confirmed(tx.txid, in_order.size(),
                           in_order.empty() ? 0 : in_order.front().block_height);
        });
        return Status::Ok();
    }

    // Without the API: the transaction's nonce is consumed, so it was mined or can never be.
    // The contract's state tells: every analysis it carried on chain (a batch is all or nothing)
    // means it succeeded; none means it was refused or its nonce went to another transaction.
    Status settle_by_state(const ledger::Transaction& tx) {
        auto search = search_chain(tx);
        if (!search)
            return search.error();
        const auto& [found, missing] = *search;
        if (missing.empty())
            return settle_found(tx, found);
        // Not on chain: refused by the contract or replaced, and without the API nothing says
        // which error. What the contract's state shows now explains most refusals; those count
        // no attempt (the next send checks the same state first).
        auto explained = explain_now(missing);
        if (!explained)
            return explained.error();
        std::string why = "nonce " + std::to_string(tx.nonce) + " was consumed but " +
                          std::to_string(missing.size()) +
                          " of its analyses are not on chain: the contract refused the "
                          "transaction, or another one of this key took its nonce (no API to "
                          "tell which)";
        if (!explained->reason.empty())
            why += "; now " + explained->reason;
        summary_.problems.push_back("transaction " + tx.txid + ": " + why);
        // An item's fault: the next round's checks hold that item and send the others.
        if (explained->item_fault)
            resend_now_ += missing.size();
        return release(
            tx, ledger::TxState::kDropped,
            explained->reason.empty() ? Disposition::kCountAttempt : Disposition::kRetryLater, why,
            std::nullopt, found);
    }

    // What the contract's state shows now that would refuse these analyses, in words (empty
    // when nothing would), and whether it is one analysis' own fault rather than a condition of
    // them all.
    struct Explanation {
        std::string reason;
        bool item_fault = false;
    };

    Result<Explanation> explain_now(const std::vector<ledger::Analysis>& analyses) {
        auto gate = check_contract();
        if (!gate)
            return gate.error();
        if (gate->blocked)
            return Explanation{gate->blocked->message(), false};
        for (const auto& a : analyses) {
            auto check = check_item(a, gate->global_min);
            if (!check)
                return check.error();
            if (check->disposition != Disposition::kCountAttempt)
                return Explanation{"analysis #" + std::to_string(a.id) + ": " + check->reason,
                                   check->disposition == Disposition::kHoldForReview};
        }
        return Explanation{};
    }

    // The node does not have it: send the very same bytes again (same txid, same nonce: it can
    // be mined once at most). True when the node took it.
    Result<bool> resend(const ledger::Transaction& tx) {
        auto raw = stacks::from_hex(tx.raw_hex);
        if (!raw)
            return Error(ErrorCode::kCorrupt,
                         ledger_.display_name() + ": transaction " + tx.txid + " is damaged");
        stacks::Refusal refusal;
        auto sent = session_.node().broadcast(*raw, &refusal);
        if (sent) {
            ++summary_.resent;
            taken_.insert(tx.txid);
            if (auto s = ledger_.mark_accepted(tx.txid); !s)
                return s.error();
            return true;
        }
        const Error& e = sent.error();
        if (e.code() != ErrorCode::kRejected) {
            (void)ledger_.note_transaction_error(tx.txid, e.message());
            return e;
        }
        if (auto r = refused(tx, e, refusal); !r)
            return r.error();
        return false;
    }

    // What became of a transaction the node refused at its door, and of its analyses.
    struct Refused {
        enum class Kind {
            kKept,      // the transaction keeps its analyses: a later sync settles it
            kMined,     // it was mined after all (taken on a try whose answer was lost)
            kReleased,  // it can never be mined: its analyses went where `disposition` says
        } kind = Kind::kKept;
        Disposition disposition = Disposition::kRetryLater;
    };

    // What a refusal of recorded transaction `tx` at the node's door means for its analyses:
    //   - a nonce refusal while the account's confirmed nonce has not passed the transaction's: it
    //     may yet be mined (a gap below it, or another transaction with the same nonce in a
    //     mempool); releasing its analyses would let a fresh transaction anchor them a second time;
    //   - a nonce refusal once the nonce is consumed: by this very transaction (taken on a try
    //     whose answer was lost) or by another one of this key that may have carried these
    //     analyses. The chain is searched: all of them there, it was mined; some missing, those
    //     the chain holds are settled and the others are free again — unless an earlier try went
    //     unanswered, for then a node behind the same address that has not caught up may have
    //     answered the search: the transaction keeps them until the next sync looks again;
    //   - any other refusal answering a try after one that went unanswered: that try may have
    //     been taken, so nothing is known yet; the next sync asks again;
    //   - any other refusal: the policy decides what it means.
    Result<Refused> refused(const ledger::Transaction& tx, const Error& e,
                            const stacks::Refusal& refusal) {
        session_.forget_nonce();
        const auto keep = [&](const std::string& why) -> Result<Refused> {
            if (refusal.after_unanswered_try)
                unanswered_.insert(tx.txid);  // asking the same address again now tells nothing
            if (auto s = ledger_.note_transaction_error(tx.txid, why); !s)
                return s.error();
            summary_.problems.push_back("transaction " + tx.txid + " keeps its analyses: " + why);
            return Refused{};
        };
        std::map<std::int64_t, ledger::OnChain> found;
        if (nonce_refusal(refusal)) {
            auto account = session_.node().account(tx.sender);
            if (!account)
                return account.error();
            if (account->nonce <= tx.nonce) {
                return keep(e.message() + " (nonce " + std::to_string(tx.nonce) +
                            " not yet reached: the account's confirmed nonce is " +
                            std::to_string(account->nonce) + ")");
            }
            auto search = search_chain(tx);
            if (!search)
                return search.error();
            if (search->missing.empty()) {
                if (auto s = settle_found(tx, search->found); !s)
                    return s.error();
                return Refused{Refused::Kind::kMined};
            }
            if (refusal.after_unanswered_try) {
                return keep(e.message() + " (after a try that went unanswered; " +
                            std::to_string(search->missing.size()) +
                            " of its analyses are not on chain yet)");
            }
            found = std::move(search->found);
        } else if (refusal.after_unanswered_try) {
            return keep(e.message() +
                        " (after a try that went unanswered and may have been taken; the next "
                        "sync asks again)");
        }
        // A nonce consumed by another transaction is nobody's fault.
        const Disposition d =
            nonce_refusal(refusal) ? Disposition::kRetryLater : classify_refusal(refusal.reason);
        summary_.problems.push_back(
            "the node refused transaction " + tx.txid + " (" + e.message() + "): " + to_string(d) +
            (found.empty()
                 ? std::string()
                 : "; " + std::to_string(found.size()) + " of its analyses are on chain"));
        if (auto s = release(tx, ledger::TxState::kDropped, d, e.message(), std::nullopt, found);
            !s)
            return s.error();
        return Refused{Refused::Kind::kReleased, d};
    }

    // Whether the API's word for a dropped transaction leaves sending its bytes again worth it:
    // garbage-collected or replaced (the node then says whether its nonce is gone) yes; judged
    // problematic or too expensive to mine, no.
    static bool worth_resending(const stacks::TxStatus& s) {
        return s.raw_status != "dropped_problematic" && s.raw_status != "problematic_skipped" &&
               s.raw_status != "dropped_too_expensive";
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
            const Sent sent{tx.txid, tx.nonce};
            auto status = session_.status(sent);
            if (!status)
                return status.error();
            if (status->state == stacks::TxState::kDropped && !worth_resending(*status)) {
                summary_.problems.push_back("transaction " + tx.txid + " was dropped (" +
                                            status->raw_status + ")");
                if (auto s = release(tx, ledger::TxState::kDropped, Disposition::kCountAttempt,
                                     "dropped by the node: " + status->raw_status);
                    !s)
                    return s;
                continue;
            }
            // Unknown (to an API that may lag, or without one: not mined yet) right after a node
            // took it in this run: it waits in that node's mempool; no need to send it again.
            if (status->state == stacks::TxState::kUnknown && taken_.contains(tx.txid))
                status->state = stacks::TxState::kPending;
            // Refused in this run after a try that went unanswered: another node may hold it, and
            // asking the same address again now tells nothing new. The next sync asks.
            if (status->state == stacks::TxState::kUnknown && unanswered_.contains(tx.txid))
                continue;
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
                status = session_.wait(sent);
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

    // The conditions that hold for every analysis: the contract runs and this analyst may
    // submit now. `blocked` says why not, as the contract would (its error's name).
    struct Gate {
        std::uint32_t global_min = 0;
        std::optional<Error> blocked;
    };

    Result<Gate> check_contract() {
        Gate gate;
        auto params = session_.read("get-parameters", {});
        if (!params)
            return params.error();
        gate.global_min = static_cast<std::uint32_t>(uint_field(*params, "min-confidence"));
        if (const Value* paused = params->field("paused"); paused && paused->as_bool()) {
            gate.blocked = Error(ErrorCode::kContract,
                                 "the contract is paused (ERR-PAUSED): the analyses stay pending");
            return gate;
        }
        auto pro = session_.read("get-professional", {*Value::parse_principal(sender_)});
        if (!pro)
            return pro.error();
        if (pro->kind() != ValueKind::kSome) {
            gate.blocked = Error(ErrorCode::kContract,
                                 sender_ +
                                     " is not a registered professional: register with `medanchor "
                                     "professional register` and have a verifier verify you; the "
                                     "analyses stay pending");
            return gate;
        }
        if (const Value* active = pro->inner().field("active"); active && !active->as_bool()) {
            const auto code = uint_field(pro->inner(), "inactive-reason");
            const ContractError* e = find_contract_error(code);
            gate.blocked =
                Error(ErrorCode::kContract, sender_ + " may not submit now: " +
                                                (e ? std::string(e->name) + " (" + e->meaning + ")"
                                                   : "error u" + std::to_string(code)) +
                                                "; the analyses stay pending");
        }
        return gate;
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

    // What the contract would say about one analysis now, before it is sent: kCountAttempt (the
    // policy's "nothing against it") with its model id, or the policy's disposition of the error
    // it would get, with the reason.
    struct ItemCheck {
        Disposition disposition = Disposition::kCountAttempt;
        std::string reason;
        std::uint64_t model_id = 0;
    };

    Result<ItemCheck> check_item(const ledger::Analysis& a, std::uint32_t global_min) {
        auto model = model_info(a.model_sha256);
        if (!model)
            return model.error();
        const auto refused = [](const char* name, const std::string& detail) {
            return ItemCheck{classify_contract_error(std::string_view(name)),
                             std::string(name) + ": " + detail, 0};
        };
        if (!model->id) {
            return refused("ERR-UNKNOWN-MODEL", "model " + a.model_name + " " + a.model_version +
                                                    " is not registered on the contract (an "
                                                    "admin registers it with `medanchor admin "
                                                    "register-model --bundle DIR`)");
        }
        if (!model->active)
            return refused("ERR-MODEL-RETIRED",
                           "model " + a.model_name + " " + a.model_version + " is retired");
        const Thresholds t{global_min, model->min, 0};
        if (a.confidence_bp < t.enforced())
            return refused("ERR-CONFIDENCE-BELOW-THRESHOLD", review_reason(a.confidence_bp, t));
        return ItemCheck{Disposition::kCountAttempt, "", *model->id};
    }

    // One transaction for up to options_.batch analyses of one model: submit-analysis for one,
    // submit-analyses (model-id, items) for more.
    stacks::Payload payload(const std::vector<const ledger::Analysis*>& batch,
                            std::uint64_t model_id) const {
        if (batch.size() == 1) {
            const auto& a = *batch.front();
            return session_.call(
                ledger::kSubmitAnalysis,
                {buffer_of(a.image_hash), Value::uint_(model_id), Value::ascii(a.finding),
                 Value::uint_(a.confidence_bp), buffer_of(a.report_digest)});
        }
        std::vector<Value> items;
        for (const auto* a : batch) {
            items.push_back(Value::tuple({{"image-hash", buffer_of(a->image_hash)},
                                          {"finding", Value::ascii(a->finding)},
                                          {"confidence", Value::uint_(a->confidence_bp)},
                                          {"report-digest", buffer_of(a->report_digest)}}));
        }
        return session_.call(ledger::kSubmitAnalyses,
                             {Value::uint_(model_id), Value::list(std::move(items))});
    }

    bool merkle() const { return options_.mode == AnchorMode::kMerkle; }

    // The ledger's Merkle roots (either backend), opened on first use: in records mode too, for
    // the roots a Merkle pass left live hold analyses and nonces.
    Result<ledger::MerkleStore*> roots_store() {
        if (!roots_) {
            auto opened = ledger::MerkleStore::open(ledger_.path());
            if (!opened)
                return opened.error();
            roots_.emplace(std::move(*opened));
        }
        return &*roots_;
    }

    // This sender's pending analyses that no live Merkle root holds: what may be sent now.
    Result<std::vector<ledger::Analysis>> mine_to_send(std::vector<ledger::Analysis> pending) {
        auto store = roots_store();
        if (!store)
            return store.error();
        auto in_roots = *store != nullptr
                            ? (*store)->in_live_roots()
                            : Result<std::set<std::int64_t>>(std::set<std::int64_t>());
        if (!in_roots)
            return in_roots.error();
        std::vector<ledger::Analysis> mine;
        for (auto& a : pending) {
            if (a.analyst == sender_ && !in_roots->contains(a.id))
                mine.push_back(std::move(a));
        }
        return mine;
    }

    // The nonces this sender's live transactions and Merkle roots hold.
    Result<std::set<std::uint64_t>> held_nonces() {
        std::set<std::uint64_t> held;
        auto open = ledger_.transactions(ledger::TxState::kBroadcast);
        if (!open)
            return open.error();
        for (const auto& t : *open) {
            if (t.sender == sender_)
                held.insert(t.nonce);
        }
        auto store = roots_store();
        if (!store)
            return store.error();
        if (*store == nullptr)
            return held;
        auto roots = (*store)->roots();
        if (!roots)
            return roots.error();
        for (const auto& r : *roots) {
            if (r.analyst == sender_ &&
                (r.state == ledger::RootState::kBuilt || r.state == ledger::RootState::kSent))
                held.insert(r.nonce);
        }
        return held;
    }

    // Ready analyses by model id (a batch or a root carries one model), after the threshold
    // policy's checks: those it holds go to needs_review, those that must wait stay pending with
    // a note, those found on chain (carried by an earlier, released transaction) are confirmed.
    Result<std::map<std::uint64_t, std::vector<ledger::Analysis>>> ready_by_model(
        std::vector<ledger::Analysis> mine, std::uint32_t global_min) {
        std::map<std::uint64_t, std::vector<ledger::Analysis>> ready;
        for (auto& a : mine) {
            auto check = check_item(a, global_min);
            if (!check)
                return check.error();
            if (check->disposition == Disposition::kHoldForReview) {
                if (auto s = ledger_.mark_needs_review(a.id, check->reason); !s)
                    return s.error();
                ++summary_.held;
                notify([&](AnchoringObserver& o) { o.on_held(a.id, check->reason); });
                continue;
            }
            if (check->disposition == Disposition::kRetryLater) {
                if (auto s = ledger_.note_error(a.id, check->reason); !s)
                    return s.error();
                summary_.problems.push_back("analysis #" + std::to_string(a.id) + ": " +
                                            check->reason);
                continue;
            }
            if (!a.model_id || *a.model_id != check->model_id) {
                if (auto s = ledger_.set_model_id(a.id, check->model_id); !s)
                    return s.error();
                a.model_id = check->model_id;
            }
            // Carried by an earlier transaction that was released: it may have been mined after
            // all.
            if (a.transactions > 0) {
                auto where = find_on_chain(a);
                if (!where)
                    return where.error();
                if (*where) {
                    if (auto s = ledger_.confirm_found(a.id, **where); !s)
                        return s.error();
                    ++summary_.confirmed;
                    continue;
                }
            }
            ready[check->model_id].push_back(std::move(a));
        }
        return ready;
    }

    // This sender's pending analyses that may be sent now, by model (empty when none); the
    // contract's gate (paused, an inactive professional) as an Error.
    Result<std::map<std::uint64_t, std::vector<ledger::Analysis>>> ready_to_send() {
        auto pending = ledger_.list(AnalysisState::kPending);
        if (!pending)
            return pending.error();
        auto mine = mine_to_send(std::move(*pending));
        if (!mine)
            return mine.error();
        if (mine->empty())
            return std::map<std::uint64_t, std::vector<ledger::Analysis>>();
        auto gate = check_contract();
        if (!gate)
            return gate.error();
        if (gate->blocked)
            return *gate->blocked;
        return ready_by_model(std::move(*mine), gate->global_min);
    }

    // Each new transaction (or root) takes the lowest nonce at or above the account's confirmed
    // nonce that no live transaction or root of ours holds. Filling a gap below a live one lets
    // that one be mined too; taking a held nonce would make two transactions exclusive.
    struct FreeNonces {
        std::set<std::uint64_t> held;
        std::uint64_t next = 0;
        std::uint64_t confirmed = 0;  // the account's confirmed nonce
        // The next free nonce; the same until it is inserted into `held`.
        std::uint64_t take() {
            while (held.contains(next))
                ++next;
            return next;
        }
        // Every nonce from `confirmed` up to take() is held by a transaction of ours that is
        // not mined yet: signing take() would make more than `most` of them unconfirmed.
        bool chain_full(std::size_t most) { return take() >= confirmed + most; }
    };

    // Before each new transaction or root: whether the sender's mempool chain has room, then
    // the caller's check (the elected writer's lock). `left` analyses stay pending when not.
    Result<bool> may_sign(FreeNonces& nonces, std::size_t left) {
        if (nonces.chain_full(std::max<std::size_t>(options_.max_chained, 1))) {
            chain_full_ = true;
            summary_.chained_out += left;
            return false;
        }
        if (options_.before_signing) {
            if (auto s = options_.before_signing(); !s)
                return s.error();
        }
        return true;
    }
    Result<FreeNonces> free_nonces() {
        auto account = session_.node().account(sender_);
        if (!account)
            return account.error();
        auto held = held_nonces();
        if (!held)
            return held.error();
        session_.forget_nonce();  // the session's count must not run ahead of take()
        return FreeNonces{std::move(*held), account->nonce, account->nonce};
    }

    // How long ago the ledger recorded `a` (its created_at, UTC).
    static std::chrono::seconds age(const ledger::Analysis& a) {
        std::tm tm{};
        if (strptime(a.created_at.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr)
            return std::chrono::seconds::max();  // unreadable: no reason to wait
        const auto then = std::chrono::system_clock::from_time_t(timegm(&tm));
        return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                                then);
    }

    // Merkle mode: the pending analyses, per model, in roots of at most root_size leaves; a
    // root is anchored when it is full, when its oldest analysis has waited root_every, or at
    // once with flush. Each root is stored (tree, leaves, signed anchor-root) in one ledger
    // transaction before it is broadcast.
    Status send_roots() {
        auto ready = ready_to_send();
        if (!ready)
            return ready.error();
        if (ready->empty())
            return Status::Ok();
        auto store = roots_store();
        if (!store)
            return store.error();
        auto nonces = free_nonces();
        if (!nonces)
            return nonces.error();
        const std::size_t size = std::clamp<std::size_t>(options_.root_size, 1, kMaxRootLeaves);

        for (const auto& [model_id, list] : *ready) {
            for (std::size_t start = 0; start < list.size(); start += size) {
                const std::size_t end = std::min(list.size(), start + size);
                // The oldest first: a root that is not full waits for its time, unless flushed.
                if (end - start < size && !options_.flush &&
                    age(list[start]) < options_.root_every) {
                    summary_.waiting += end - start;
                    break;
                }
                std::vector<LeafFields> leaves;
                ledger::NewRoot root;
                root.analyst = sender_;
                root.model_id = model_id;
                root.lowest_confidence = kMaxConfidence;
                for (std::size_t i = start; i < end; ++i) {
                    auto leaf = leaf_fields(list[i]);
                    if (!leaf)
                        return leaf.error();
                    leaves.push_back(std::move(*leaf));
                    root.analysis_ids.push_back(list[i].id);
                    root.lowest_confidence =
                        std::min(root.lowest_confidence, list[i].confidence_bp);
                }
                auto tree = MerkleTree::from_leaves(leaves);
                if (!tree)
                    return tree.error();
                for (std::size_t i = 0; i < tree->size(); ++i)
                    root.leaf_hashes.push_back(stacks::to_hex(tree->leaf_hash(i)));
                root.root = stacks::to_hex(tree->root());
                auto room = may_sign(*nonces, list.size() - start);
                if (!room)
                    return room.error();
                if (!*room)
                    return Status::Ok();
                notify([&](AnchoringObserver& o) { o.on_sending(end - start); });
                auto signed_tx = session_.sign(
                    session_.call(kAnchorRoot, {Value::buffer(stacks::Bytes(tree->root().begin(),
                                                                            tree->root().end())),
                                                Value::uint_(tree->size()), Value::uint_(model_id),
                                                Value::uint_(root.lowest_confidence)}),
                    nonces->take());
                if (!signed_tx)
                    return signed_tx.error();
                root.txid = signed_tx->txid;
                root.raw_hex = stacks::to_hex(signed_tx->raw);
                root.nonce = signed_tx->nonce;
                root.fee = signed_tx->fee;
                // Stored before it leaves this machine, tree and all.
                auto row = (*store)->store_root(root);
                if (!row)
                    return row.error();
                nonces->held.insert(root.nonce);
                summary_.sent += root.analysis_ids.size();
                stacks::Refusal refusal;
                auto sent = session_.node().broadcast(signed_tx->raw, &refusal);
                if (!sent) {
                    (void)(*store)->note_error(*row, sent.error().message());
                    if (sent.error().code() != ErrorCode::kRejected)
                        return Error(sent.error().code(),
                                     sent.error().message() +
                                         " (the root is stored; `medanchor sync` sends it again)");
                    // A refusal does not prove that no node holds it: the root keeps its
                    // analyses until its nonce is consumed without it (settle_roots()).
                    session_.forget_nonce();
                    summary_.problems.push_back(
                        "the node refused Merkle root " + root.root + " (transaction " + root.txid +
                        "): " + sent.error().message() + "; it is kept and settled by its nonce");
                    return Status::Ok();
                }
                if (auto s = (*store)->mark_sent(*row); !s)
                    return s;
                ++summary_.roots;
                summary_.txids.push_back(root.txid);
                taken_.insert(root.txid);
                notify([&](AnchoringObserver& o) { o.on_sent(root.txid, root.analysis_ids); });
            }
        }
        return Status::Ok();
    }

    // Where the contract holds this root as anchored by its analyst (get-root-id, get-root).
    Result<std::optional<ledger::RootOnChain>> root_on_chain(const ledger::StoredRoot& r) {
        auto analyst = Value::parse_principal(r.analyst);
        if (!analyst)
            return analyst.error();
        auto id = session_.read("get-root-id", {*analyst, buffer_of(r.root)});
        if (!id)
            return id.error();
        if (id->kind() != ValueKind::kSome)
            return std::optional<ledger::RootOnChain>();
        const auto root_id = static_cast<std::uint64_t>(id->inner().as_uint());
        auto record = session_.read("get-root", {Value::uint_(root_id)});
        if (!record)
            return record.error();
        if (record->kind() != ValueKind::kSome)
            return Error(ErrorCode::kContract, "the contract knows root " + r.root + " as id " +
                                                   std::to_string(root_id) +
                                                   " but has no record of it");
        const Value& v = record->inner();
        return std::optional<ledger::RootOnChain>(
            ledger::RootOnChain{root_id, uint_field(v, "block-height"), uint_field(v, "block-time"),
                                uint_field(v, "burn-block-height")});
    }

    // Every built or sent root of this sender: one the node does not know is sent again byte
    // for byte; one that is mined, or whose nonce is consumed, is settled by the contract's own
    // record of roots: there (confirmed, whichever transaction put it there) or not (failed: its
    // analyses wait for the next root). With `wait`, one in a mempool is waited for.
    Status settle_roots(bool wait = false) {
        auto store = roots_store();
        if (!store)
            return store.error();
        if (*store == nullptr)
            return Status::Ok();
        auto live = (*store)->roots();
        if (!live)
            return live.error();
        for (const auto& r : *live) {
            if (r.analyst != sender_ ||
                (r.state != ledger::RootState::kBuilt && r.state != ledger::RootState::kSent))
                continue;
            if (auto s = settle_root(**store, r, wait); !s)
                return s;
        }
        return Status::Ok();
    }

    Status settle_root(ledger::MerkleStore& store, const ledger::StoredRoot& r, bool wait) {
        const Sent sent{r.txid, r.nonce};
        auto status = session_.status(sent);
        if (!status)
            return status.error();
        if (status->state == stacks::TxState::kUnknown && taken_.contains(r.txid))
            status->state = stacks::TxState::kPending;
        if (status->state == stacks::TxState::kUnknown ||
            status->state == stacks::TxState::kDropped) {
            auto raw = stacks::from_hex(r.raw_hex);
            if (!raw)
                return Error(ErrorCode::kCorrupt,
                             ledger_.display_name() + ": Merkle root " + r.root + " is damaged");
            stacks::Refusal refusal;
            auto again = session_.node().broadcast(*raw, &refusal);
            if (again) {
                ++summary_.resent;
                taken_.insert(r.txid);
                if (auto s = store.mark_sent(r.row); !s)
                    return s;
                status->state = stacks::TxState::kPending;
            } else {
                (void)store.note_error(r.row, again.error().message());
                if (again.error().code() != ErrorCode::kRejected)
                    return again.error();
                session_.forget_nonce();
                // Refused: mined already, its nonce gone to another transaction, or not yet
                // minable. The nonce says which.
                status = session_.status(sent);
                if (!status)
                    return status.error();
                if (status->state == stacks::TxState::kUnknown ||
                    status->state == stacks::TxState::kDropped) {
                    auto account = session_.node().account(sender_);
                    if (!account)
                        return account.error();
                    if (account->nonce <= r.nonce) {
                        // Still minable (perhaps in a mempool already): it keeps its leaves.
                        if (!wait) {
                            summary_.problems.push_back("Merkle root " + r.root +
                                                        " waits: " + again.error().message());
                            return Status::Ok();
                        }
                        status->state = stacks::TxState::kPending;
                    } else {
                        status->state = stacks::TxState::kNonceConsumed;
                    }
                }
            }
        }
        if (status->state == stacks::TxState::kPending) {
            if (!wait)
                return Status::Ok();
            status = session_.wait(sent);
            if (!status) {
                if (status.error().code() == ErrorCode::kTimeout) {
                    summary_.problems.push_back("Merkle root " + r.root +
                                                " is not mined yet; `medanchor sync` settles it");
                    return Status::Ok();
                }
                return status.error();
            }
            if (status->state == stacks::TxState::kPending ||
                status->state == stacks::TxState::kUnknown ||
                status->state == stacks::TxState::kDropped)
                return Status::Ok();
        }
        // Mined, or its nonce consumed: the contract's roots tell.
        auto where = root_on_chain(r);
        if (!where)
            return where.error();
        if (*where) {
            if (auto s = store.confirm(r.row, **where); !s)
                return s;
            summary_.confirmed += r.size;
            notify([&](AnchoringObserver& o) {
                o.on_confirmed(r.txid, r.size, (*where)->block_height);
            });
            return Status::Ok();
        }
        if (status->state == stacks::TxState::kSuccess)
            return Error(ErrorCode::kInternal, "transaction " + r.txid +
                                                   " succeeded but the contract has no root " +
                                                   r.root + " of " + r.analyst);
        const std::string why =
            status->state == stacks::TxState::kAbortByResponse && status->result
                ? "Merkle root refused by the contract: " + describe_result(*status->result)
                : "Merkle root " + r.root + ": nonce " + std::to_string(r.nonce) +
                      " was consumed and the contract has no such root (refused, or another "
                      "transaction of this key took the nonce)";
        summary_.problems.push_back(why + "; its " + std::to_string(r.size) +
                                    " analyses go into the next root");
        if (auto s = store.fail(r.row, why); !s)
            return s;
        ++resend_now_;
        notify([&](AnchoringObserver& o) { o.on_refused(r.txid, why); });
        return Status::Ok();
    }

    // A proof file beside each report of every confirmed root whose proofs are not all written:
    // the tree rebuilt from the stored leaf hashes, each leaf's fields from its analysis.
    Status write_proofs() {
        auto store = roots_store();
        if (!store)
            return store.error();
        if (*store == nullptr)
            return Status::Ok();
        auto confirmed = (*store)->roots(ledger::RootState::kConfirmed);
        if (!confirmed)
            return confirmed.error();
        auto contract = Value::parse_principal(session_.config().contract_id);
        if (!contract)
            return contract.error();
        for (const auto& r : *confirmed) {
            if (r.proofs_written || r.analyst != sender_)
                continue;
            auto leaves = (*store)->leaves(r.row);
            if (!leaves)
                return leaves.error();
            std::vector<Hash32> hashes;
            for (const auto& l : *leaves) {
                auto h = stacks::from_hex(l.leaf_hash);
                Hash32 hash{};
                if (!h || h->size() != hash.size())
                    return Error(
                        ErrorCode::kCorrupt,
                        ledger_.display_name() + ": a leaf hash of root " + r.root + " is damaged");
                std::copy(h->begin(), h->end(), hash.begin());
                hashes.push_back(hash);
            }
            auto tree = MerkleTree::from_leaf_hashes(std::move(hashes));
            if (!tree)
                return tree.error();
            if (stacks::to_hex(tree->root()) != r.root)
                return Error(ErrorCode::kCorrupt, ledger_.display_name() + ": the leaves of root " +
                                                      r.root + " do not give it");
            RootAnchor anchor;
            anchor.network = to_string(session_.config().network);
            anchor.contract = *contract;
            anchor.root_id = *r.root_id;
            auto txid = stacks::from_hex(r.txid);
            std::copy(txid->begin(), txid->end(), anchor.txid.begin());
            anchor.block_height = r.block_height;
            anchor.block_time = r.block_time;
            anchor.burn_block_height = r.burn_block_height;
            // A folder that is away (an unmounted share, a folder being moved) keeps the root
            // open: its proof is written on a later pass, once the folder is back.
            bool folder_away = false;
            for (const auto& l : *leaves) {
                auto a = ledger_.get(l.analysis_id);
                if (!a)
                    return a.error();
                if (!a->report_dir)
                    continue;  // no report folder: the proof can be rebuilt from the ledger
                const std::filesystem::path dir(*a->report_dir);
                std::error_code ec;
                if (!std::filesystem::is_directory(dir, ec)) {
                    summary_.problems.push_back(
                        "analysis #" + std::to_string(a->id) + ": report folder " + dir.string() +
                        " is missing; its proof is written when the folder is back, and can be "
                        "rebuilt from the ledger");
                    folder_away = true;
                    continue;
                }
                auto fields = leaf_fields(*a);
                if (!fields)
                    return fields.error();
                auto path = tree->audit_path(l.index);
                if (!path)
                    return path.error();
                const LeafProof proof{std::move(*fields), l.index,      tree->size(),
                                      std::move(*path),   tree->root(), anchor};
                auto written = write_proof_file_once(dir / std::string(kProofFileName), proof);
                if (!written)
                    return written.error();
                if (*written)
                    ++summary_.proofs;
            }
            if (folder_away)
                continue;
            if (auto s = (*store)->mark_proofs_written(r.row); !s)
                return s;
        }
        return Status::Ok();
    }

    Status send_pending() {
        auto ready = ready_to_send();
        if (!ready)
            return ready.error();
        if (ready->empty())
            return Status::Ok();
        auto nonces = free_nonces();
        if (!nonces)
            return nonces.error();

        std::size_t total = 0;
        for (const auto& [model, list] : *ready)
            total += list.size();
        if (total > 0)
            notify([&](AnchoringObserver& o) { o.on_sending(total); });
        std::size_t done = 0;  // analyses of `ready` signed (or refused) so far
        const std::size_t batch_size = std::max<std::size_t>(options_.batch, 1);
        for (const auto& [model_id, list] : *ready) {
            for (std::size_t start = 0; start < list.size(); start += batch_size) {
                const std::size_t end = std::min(list.size(), start + batch_size);
                auto room = may_sign(*nonces, total - done);
                if (!room)
                    return room.error();
                if (!*room)
                    return Status::Ok();
                done += end - start;
                std::vector<const ledger::Analysis*> batch;
                ledger::Transaction tx;
                for (std::size_t i = start; i < end; ++i) {
                    batch.push_back(&list[i]);
                    tx.analysis_ids.push_back(list[i].id);
                }
                auto signed_tx = session_.sign(payload(batch, model_id), nonces->take());
                if (!signed_tx)
                    return signed_tx.error();
                tx.txid = signed_tx->txid;
                tx.raw_hex = stacks::to_hex(signed_tx->raw);
                tx.sender = sender_;
                tx.nonce = signed_tx->nonce;
                tx.fee = signed_tx->fee;
                tx.kind = batch.size() == 1 ? ledger::kSubmitAnalysis : ledger::kSubmitAnalyses;
                // Recorded before it leaves this machine: whatever happens next, the ledger
                // knows it.
                if (auto s = ledger_.record_transaction(tx); !s)
                    return s;
                summary_.sent += tx.analysis_ids.size();
                stacks::Refusal refusal;
                auto sent = session_.node().broadcast(signed_tx->raw, &refusal);
                if (!sent) {
                    if (sent.error().code() != ErrorCode::kRejected) {
                        (void)ledger_.note_transaction_error(tx.txid, sent.error().message());
                        return Error(sent.error().code(),
                                     sent.error().message() +
                                         " (the transaction is recorded; `medanchor sync` sends "
                                         "it again)");
                    }
                    auto r = refused(tx, sent.error(), refusal);
                    if (!r)
                        return r.error();
                    if (r->kind == Refused::Kind::kMined) {
                        summary_.txids.push_back(tx.txid);
                        nonces->held.insert(tx.nonce);
                        continue;
                    }
                    // The node's own chaining limit (another sender's view of our mempool
                    // chain, or transactions of this key sent elsewhere): wait, as at our limit.
                    if (refusal.reason == "TooMuchChaining") {
                        chain_full_ = true;
                        summary_.chained_out += total - done;
                    }
                    // Kept by its transaction (the next sync settles it), or refused for a
                    // condition the next batch would meet too: stop until the next sync.
                    if (r->kind == Refused::Kind::kKept ||
                        r->disposition == Disposition::kRetryLater)
                        return Status::Ok();
                    continue;
                }
                if (auto s = ledger_.mark_accepted(tx.txid); !s)
                    return s;
                summary_.txids.push_back(tx.txid);
                taken_.insert(tx.txid);
                nonces->held.insert(tx.nonce);
                notify([&](AnchoringObserver& o) { o.on_sent(tx.txid, tx.analysis_ids); });
            }
        }
        return Status::Ok();
    }

    ledger::Ledger& ledger_;
    ChainSession& session_;
    const OutboxOptions& options_;
    const std::string sender_;
    OutboxSummary summary_;
    std::map<std::string, ModelInfo> models_;
    std::size_t resend_now_ = 0;   // freed this round by another item's fault
    bool chain_full_ = false;      // this round stopped at the sender's mempool chaining limit
    std::set<std::string> taken_;  // transactions a node accepted during this run
    // Refused during this run after a try that went unanswered: their fate is unknown until later.
    std::set<std::string> unanswered_;
    std::optional<ledger::MerkleStore> roots_;  // opened on first use
};

}  // namespace

const char* to_string(AnchorMode mode) {
    return mode == AnchorMode::kMerkle ? "merkle" : "records";
}

Result<AnchorMode> parse_anchor_mode(const std::string& text) {
    if (text == "records")
        return AnchorMode::kRecords;
    if (text == "merkle")
        return AnchorMode::kMerkle;
    return Error(ErrorCode::kInvalidArgument,
                 "anchor mode \"" + text + "\" is neither records nor merkle");
}

Result<LeafFields> leaf_fields(const ledger::Analysis& a) {
    const auto bad = [&](const char* what) {
        return Error(ErrorCode::kCorrupt,
                     "analysis #" + std::to_string(a.id) + " cannot be a Merkle leaf: " + what);
    };
    LeafFields leaf;
    auto image = stacks::from_hex(a.image_hash);
    auto digest = stacks::from_hex(a.report_digest);
    if (!image || image->size() != leaf.image_hash.size() || !digest ||
        digest->size() != leaf.report_digest.size())
        return bad("a damaged hash");
    if (!a.model_id)
        return bad("no model id on chain yet");
    auto analyst = Value::parse_principal(a.analyst);
    if (!analyst)
        return bad("its analyst is not a principal");
    std::copy(image->begin(), image->end(), leaf.image_hash.begin());
    std::copy(digest->begin(), digest->end(), leaf.report_digest.begin());
    leaf.model_id = *a.model_id;
    leaf.finding = a.finding;
    leaf.confidence = a.confidence_bp;
    leaf.analyst = std::move(*analyst);
    return leaf;
}

Result<OutboxSummary> sync_outbox(ledger::Ledger& ledger, ChainSession& session,
                                  const OutboxOptions& options) {
    return Outbox(ledger, session, options).run();
}

std::string outbox_scope(const ChainSession& session) {
    return ledger::outbox_scope(session.sender(), session.config().contract_id);
}

void print_summary(const OutboxSummary& s, std::ostream& out) {
    out << "anchoring: " << s.sent << " analyses sent in " << s.txids.size() << " transaction(s)";
    if (s.resent)
        out << ", " << s.resent << " transaction(s) sent again";
    out << "; " << s.confirmed << " confirmed, " << s.held << " held for review, " << s.deferred
        << " deferred (retried later), " << s.refused << " refused (attempt counted)\n";
    if (s.chained_out)
        out << "mempool: " << s.chained_out << " analyses wait for confirmations (at most "
            << kMaxChainedTransactions << " transactions of one sender unconfirmed)\n";
    if (s.roots || s.proofs || s.waiting)
        out << "merkle: " << s.roots << " root(s) sent, " << s.proofs << " proof file(s) written, "
            << s.waiting << " analyses waiting for their root\n";
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

Result<std::unique_ptr<AnchoringService>> AnchoringService::open(
    const std::filesystem::path& ledger_path, ChainSession session, Options options) {
    auto ledger = ledger::Ledger::open(ledger_path);
    if (!ledger)
        return ledger.error();
    return std::unique_ptr<AnchoringService>(
        new AnchoringService(std::move(*ledger), std::move(session), std::move(options)));
}

AnchoringService::AnchoringService(ledger::Ledger ledger, ChainSession session, Options options)
    : ledger_(std::move(ledger)), session_(std::move(session)), options_(std::move(options)) {}

AnchoringService::~AnchoringService() {
    stop();
}

Result<OutboxSummary> AnchoringService::pass() {
    auto lock =
        ledger::OutboxLock::acquire(ledger_.path(), options_.lock_wait, {}, outbox_scope(session_));
    if (!lock)
        return lock.error();
    return sync_outbox(ledger_, session_, options_.outbox);
}

Result<OutboxSummary> AnchoringService::sync() {
    if (running()) {
        return Error(ErrorCode::kInvalidArgument,
                     "anchoring runs in the background: notify() it instead of sync()");
    }
    return pass();
}

void AnchoringService::start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable())
        return;
    stop_requested_ = false;
    wake_requested_ = true;  // a first pass at once
    thread_ = std::thread([this] { loop(); });
}

void AnchoringService::notify() {
    {
        std::lock_guard lock(mutex_);
        wake_requested_ = true;
    }
    wake_.notify_one();
}

void AnchoringService::stop() {
    std::thread thread;
    {
        std::lock_guard lock(mutex_);
        stop_requested_ = true;
        thread = std::move(thread_);
    }
    wake_.notify_one();
    if (thread.joinable())
        thread.join();
}

bool AnchoringService::running() const {
    std::lock_guard lock(mutex_);
    return thread_.joinable();
}

std::optional<OutboxSummary> AnchoringService::last_summary() const {
    std::lock_guard lock(mutex_);
    return last_summary_;
}

std::optional<Error> AnchoringService::last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
}

std::uint64_t AnchoringService::passes() const {
    std::lock_guard lock(mutex_);
    return passes_;
}

void AnchoringService::loop() {
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            // In Merkle mode a root falls due root_every after its oldest leaf: look at least
            // that often.
            auto interval = options_.settle_interval;
            if (options_.outbox.mode == AnchorMode::kMerkle)
                interval = std::min<std::chrono::milliseconds>(
                    interval, std::max<std::chrono::milliseconds>(options_.outbox.root_every,
                                                                  std::chrono::seconds(1)));
            wake_.wait_for(lock, interval, [this] { return wake_requested_ || stop_requested_; });
            if (stop_requested_)
                return;
            wake_requested_ = false;
        }
        // A pass is not interrupted: it leaves the ledger consistent whenever it stops, but a
        // stop() waits for the pass in progress (bounded by the session's confirm timeout).
        auto outcome = pass();
        std::lock_guard lock(mutex_);
        ++passes_;
        if (outcome) {
            last_summary_ = std::move(*outcome);
            last_error_.reset();
        } else {
            last_error_ = outcome.error();
        }
    }
}

}  // namespace medanchor::chain

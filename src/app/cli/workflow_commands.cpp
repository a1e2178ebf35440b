#include "app/cli/workflow_commands.h"

#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/cli/chain_options.h"
#include "app/cli/progress.h"
#include "chain/anchorer.h"
#include "chain/anchoring_service.h"
#include "chain/contract.h"
#include "chain/proof_file.h"
#include "chain/registry.h"
#include "image/image_hash.h"
#include "image/reader.h"
#include "image/site_key.h"
#include "ledger/ledger.h"
#include "service/review_service.h"
#include "stacks/bytes.h"

namespace medanchor::app {

using namespace medanchor::chain;  // the CLI is a shell over the chain layer
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using stacks::Value;

Result<ledger::Ledger> open_ledger(const std::string& flag) {
    return ledger::Ledger::open(flag.empty() ? ledger::Ledger::default_path() : fs::path(flag));
}

// Runs one call of the signing key's ReviewService (professional, review, retract) and prints
// its outcome.
template <typename Call>
Status with_reviews(const ChainOptions& o, Call&& call) {
    auto session = open_session(o);
    if (!session)
        return session.error();
    service::ReviewService reviews(std::move(*session));
    return print_outcome(o, call(reviews));
}

void add_professional(CLI::App& app, CommandAction& action) {
    auto* pro = app.add_subcommand("professional",
                                   "Medical professionals: register, verify, suspend, reinstate");
    pro->require_subcommand(1);
    auto o = std::make_shared<ChainOptions>();

    {
        auto file = std::make_shared<std::string>();
        auto hash = std::make_shared<std::string>();
        auto specialty = std::make_shared<std::string>();
        auto* cmd = pro->add_subcommand("register",
                                        "Register yourself (the key's owner) as a professional");
        add_chain_options(cmd, *o);
        auto* f = cmd->add_option(
            "--credential-file", *file,
            "your licence record; only a salted hash of it goes on chain (salt: FILE.salt)");
        cmd->add_option("--credential-hash", *hash, "or the 64-hex salted hash, made elsewhere")
            ->excludes(f);
        cmd->add_option("--specialty", *specialty,
                        "specialty code, e.g. radiology (up to 16 characters)")
            ->required();
        cmd->callback([&action, o, file, hash, specialty] {
            action = [=]() -> Status {
                service::Digest h{};
                if (!file->empty()) {
                    auto made = service::credential_hash(*file);
                    if (!made)
                        return made.error();
                    h = *made;
                } else if (!hash->empty()) {
                    auto given = digest_arg(*hash, "--credential-hash");
                    if (!given)
                        return given.error();
                    std::copy(given->bytes().begin(), given->bytes().end(), h.begin());
                } else {
                    return Error(ErrorCode::kInvalidArgument,
                                 "give --credential-file or --credential-hash");
                }
                return with_reviews(*o, [&](service::ReviewService& reviews) {
                    return reviews.register_professional(h, *specialty, !o->no_wait);
                });
            };
        });
    }
    {
        auto who = std::make_shared<std::string>();
        auto days = std::make_shared<std::uint64_t>(0);
        auto at = std::make_shared<std::uint64_t>(0);
        auto reason = std::make_shared<std::uint64_t>(1);
        auto* cmd = pro->add_subcommand(
            "verify", "As a verifier: verify (or renew) a professional until a date");
        add_chain_options(cmd, *o);
        cmd->add_option("principal", *who, "the professional's Stacks address")->required();
        auto* in =
            cmd->add_option("--expires-in", *days, "days from the chain's latest block time");
        cmd->add_option("--expires-at", *at,
                        "Unix time (the contract compares it with stacks-block-time)")
            ->excludes(in);
        cmd->add_option("--reason", *reason, "reason code recorded with the verification")
            ->capture_default_str();
        cmd->callback([&action, o, who, days, at, reason] {
            action = [=]() -> Status {
                if (auto p = principal_arg(*who); !p)
                    return p.error();
                std::uint64_t expiry = *at;
                if (*days) {
                    // From the chain's clock, which the contract compares with; this machine's
                    // only when the node serves no block list.
                    auto config = chain_config(*o);
                    if (!config)
                        return config.error();
                    stacks::NodeClient node = node_client(*config);
                    bool local_clock = false;
                    auto at_days = expiry_in_days(node, *days, &local_clock);
                    if (!at_days)
                        return at_days.error();
                    if (local_clock) {
                        std::cerr << "medanchor: no Stacks Blockchain API (--api URL) to read "
                                     "the chain's clock; --expires-in counts from this "
                                     "machine's clock\n";
                    }
                    expiry = *at_days;
                }
                if (expiry == 0)
                    return Error(ErrorCode::kInvalidArgument,
                                 "give --expires-in DAYS or --expires-at UNIX");
                return with_reviews(*o, [&](service::ReviewService& reviews) {
                    return reviews.verify_professional(*who, expiry, *reason, !o->no_wait);
                });
            };
        });
    }
    for (const char* verb : {"suspend", "reinstate"}) {
        auto who = std::make_shared<std::string>();
        auto reason = std::make_shared<std::uint64_t>(1);
        auto* cmd =
            pro->add_subcommand(verb, std::string("As a verifier: ") + verb + " a professional");
        add_chain_options(cmd, *o);
        cmd->add_option("principal", *who, "the professional's Stacks address")->required();
        cmd->add_option("--reason", *reason, "reason code")->capture_default_str();
        cmd->callback([&action, o, who, reason, verb] {
            action = [=]() -> Status {
                if (auto p = principal_arg(*who); !p)
                    return p.error();
                const bool suspend = std::string_view(verb) == "suspend";
                return with_reviews(*o, [&](service::ReviewService& reviews) {
                    return suspend ? reviews.suspend_professional(*who, *reason, !o->no_wait)
                                   : reviews.reinstate_professional(*who, *reason, !o->no_wait);
                });
            };
        });
    }
    {
        auto who = std::make_shared<std::string>();
        auto* cmd =
            pro->add_subcommand("status", "A professional's record on the contract (read-only)");
        add_chain_options(cmd, *o, /*needs_key=*/false);
        cmd->add_option("principal", *who, "the Stacks address")->required();
        cmd->callback([&action, o, who] {
            action = [=]() -> Status {
                auto p = principal_arg(*who);
                if (!p)
                    return p.error();
                auto config = chain_config(*o);
                if (!config)
                    return config.error();
                stacks::NodeClient node = node_client(*config);
                auto v = read_contract(node, *config, "get-professional", {*p});
                if (!v)
                    return v.error();
                if (v->kind() != stacks::ValueKind::kSome) {
                    return Error(ErrorCode::kNotFound, *who + " is not a registered professional");
                }
                ordered_json j = ordered_json::object();
                for (const auto& [k, f] : v->inner().fields())
                    j[k] = f.to_string();
                if (o->json)
                    std::cout << j.dump() << "\n";
                else
                    for (const auto& [k, f] : v->inner().fields())
                        std::cout << k << ": " << f.to_string() << "\n";
                return Status::Ok();
            };
        });
    }
}

void add_review(CLI::App& app, CommandAction& action) {
    auto o = std::make_shared<ChainOptions>();
    {
        auto id = std::make_shared<std::uint64_t>(0);
        auto proof = std::make_shared<std::string>();
        auto confirm = std::make_shared<bool>(false);
        auto dispute = std::make_shared<bool>(false);
        auto note = std::make_shared<std::string>();
        auto* cmd = app.add_subcommand(
            "review", "Peer review: confirm or dispute another professional's analysis");
        add_chain_options(cmd, *o);
        auto* by_id = cmd->add_option("analysis-id", *id, "the analysis id on chain");
        cmd->add_option("--proof", *proof,
                        "or, for a Merkle-anchored analysis, its anchor.proof.json")
            ->excludes(by_id);
        auto* c = cmd->add_flag("--confirm", *confirm, "you agree with the finding");
        cmd->add_flag("--dispute", *dispute, "you disagree")->excludes(c);
        cmd->add_option("--note-file", *note, "your note; its SHA-256 goes on chain")->required();
        cmd->callback([&action, o, id, proof, confirm, dispute, note, by_id] {
            action = [=]() -> Status {
                if (*confirm == *dispute)
                    return Error(ErrorCode::kInvalidArgument, "give --confirm or --dispute");
                if (proof->empty() && by_id->count() == 0)
                    return Error(ErrorCode::kInvalidArgument, "give ANALYSIS-ID or --proof FILE");
                auto digest = file_digest(*note);
                if (!digest)
                    return digest.error();
                service::Digest d{};
                std::copy(digest->bytes().begin(), digest->bytes().end(), d.begin());
                if (!proof->empty()) {
                    auto leaf = read_proof_file(*proof);
                    if (!leaf)
                        return leaf.error();
                    return with_reviews(*o, [&](service::ReviewService& reviews) {
                        return reviews.review_leaf(*leaf, *confirm, d, !o->no_wait);
                    });
                }
                return with_reviews(*o, [&](service::ReviewService& reviews) {
                    return reviews.review(*id, *confirm, d, !o->no_wait);
                });
            };
        });
    }
    {
        auto id = std::make_shared<std::uint64_t>(0);
        auto proof = std::make_shared<std::string>();
        auto reason = std::make_shared<std::uint64_t>(1);
        auto* cmd = app.add_subcommand(
            "retract", "Retract your own analysis (the record stays, marked retracted)");
        add_chain_options(cmd, *o);
        auto* by_id = cmd->add_option("analysis-id", *id, "the analysis id on chain");
        cmd->add_option("--proof", *proof,
                        "or, for a Merkle-anchored analysis, its anchor.proof.json")
            ->excludes(by_id);
        cmd->add_option("--reason", *reason, "reason code")->capture_default_str();
        cmd->callback([&action, o, id, proof, reason, by_id] {
            action = [=]() -> Status {
                if (proof->empty() && by_id->count() == 0)
                    return Error(ErrorCode::kInvalidArgument, "give ANALYSIS-ID or --proof FILE");
                if (!proof->empty()) {
                    auto leaf = read_proof_file(*proof);
                    if (!leaf)
                        return leaf.error();
                    return with_reviews(*o, [&](service::ReviewService& reviews) {
                        return reviews.retract_leaf(*leaf, *reason, !o->no_wait);
                    });
                }
                return with_reviews(*o, [&](service::ReviewService& reviews) {
                    return reviews.retract(*id, *reason, !o->no_wait);
                });
            };
        });
    }
}

// The JSON of a sync or anchorer pass: what was sent, confirmed, held...
ordered_json summary_json(const OutboxSummary& summary) {
    ordered_json j{{"sent", summary.sent},           {"resent", summary.resent},
                   {"confirmed", summary.confirmed}, {"held", summary.held},
                   {"deferred", summary.deferred},   {"refused", summary.refused},
                   {"roots", summary.roots},         {"proofs", summary.proofs},
                   {"waiting", summary.waiting},     {"chained_out", summary.chained_out},
                   {"txids", summary.txids},         {"problems", summary.problems}};
    for (const auto& [state, n] : summary.totals)
        j["ledger"][ledger::to_string(state)] = n;
    return j;
}

void add_sync(CLI::App& app, CommandAction& action) {
    auto o = std::make_shared<ChainOptions>();
    auto ledger_path = std::make_shared<std::string>();
    auto anchoring = std::make_shared<AnchorOptions>();
    auto* cmd = app.add_subcommand(
        "sync",
        "Anchor the analyses the ledger holds pending and settle their transactions (resumable)");
    add_chain_options(cmd, *o);
    add_anchor_options(cmd, *anchoring, /*root_every=*/false);
    cmd->add_option("--ledger", *ledger_path,
                    "ledger: an SQLite file or a postgresql:// URI (default $MEDANCHOR_LEDGER or "
                    "~/.medanchor/ledger.sqlite)");
    cmd->footer(
        "Safe to run any time and any number of times: nothing is anchored twice "
        "(docs/ledger.md). With --anchor-mode merkle, what is pending is anchored now in roots "
        "of at most --root-size analyses, and a proof file is written beside each report.");
    cmd->callback([&action, o, ledger_path, anchoring] {
        action = [=]() -> Status {
            auto ledger = open_ledger(*ledger_path);
            if (!ledger)
                return ledger.error();
            auto session = open_session(*o);
            if (!session)
                return session.error();
            // Analyses recorded for another principal (analyze --analyst) need its key.
            auto pending = ledger->pending_by_analyst();
            if (!pending)
                return pending.error();
            if (!pending->empty() && !pending->count(session->sender()))
                return Error(ErrorCode::kNoKey, "the ledger's pending analyses were recorded for " +
                                                    pending->begin()->first +
                                                    ", not for this key's " + session->sender() +
                                                    ": sync with that analyst's key");
            auto lock = ledger::OutboxLock::acquire(
                ledger->path(), std::chrono::seconds(o->timeout_s), {}, outbox_scope(*session));
            if (!lock)
                return lock.error();
            AnchoringProgress progress(!o->json);
            auto chosen = outbox_options(*anchoring);
            if (!chosen)
                return chosen.error();
            OutboxOptions options = *chosen;
            options.flush = true;  // sync anchors what is pending now
            options.wait = !o->no_wait;
            options.observer = &progress;
            auto summary = sync_outbox(*ledger, *session, options);
            progress.finish();
            if (!summary)
                return summary.error();
            if (o->json) {
                std::cout << summary_json(*summary).dump() << "\n";
            } else {
                print_summary(*summary, std::cout);
            }
            return Status::Ok();
        };
    });
}

// One line per event of the elected writer: text, or one JSON object (--json).
void print_anchorer_event(const AnchorerEvent& e, bool json) {
    if (json) {
        ordered_json j{{"event", to_string(e.kind)}};
        if (!e.detail.empty())
            j["detail"] = e.detail;
        if (e.summary)
            j["pass"] = summary_json(*e.summary);
        j["pending"] = e.pending;
        j["broadcast"] = e.broadcast;
        j["lag_s"] = e.lag_s ? ordered_json(*e.lag_s) : ordered_json(nullptr);
        j["last_broadcast"] =
            e.times.last_broadcast ? ordered_json(*e.times.last_broadcast) : ordered_json(nullptr);
        j["last_confirmed"] =
            e.times.last_confirmed ? ordered_json(*e.times.last_confirmed) : ordered_json(nullptr);
        j["at"] = ledger::utc_now();
        std::cout << j.dump() << std::endl;
        return;
    }
    std::cout << ledger::utc_now() << " anchorer " << to_string(e.kind);
    if (e.summary)
        std::cout << ": sent " << e.summary->sent << " in " << e.summary->txids.size()
                  << " transaction(s), confirmed " << e.summary->confirmed
                  << (e.summary->chained_out ? ", " + std::to_string(e.summary->chained_out) +
                                                   " wait for room in the mempool"
                                             : std::string());
    if (!e.detail.empty())
        std::cout << ": " << e.detail;
    std::cout << "; pending " << e.pending << ", awaiting confirmation " << e.broadcast << ", lag "
              << (e.lag_s ? std::to_string(*e.lag_s) + " s" : std::string("unknown"))
              << ", last broadcast " << e.times.last_broadcast.value_or("never")
              << ", last confirmed " << e.times.last_confirmed.value_or("never") << std::endl;
    if (e.summary)
        for (const auto& p : e.summary->problems)
            std::cout << "  note: " << p << std::endl;
}

void add_anchorer(CLI::App& app, CommandAction& action) {
    auto o = std::make_shared<ChainOptions>();
    auto ledger_path = std::make_shared<std::string>();
    auto anchoring = std::make_shared<AnchorOptions>();
    auto interval = std::make_shared<double>(5.0);
    auto retry = std::make_shared<double>(3.0);
    auto batch = std::make_shared<std::size_t>(50);
    auto* cmd = app.add_subcommand(
        "anchorer",
        "The elected anchoring writer of a signing key: anchors and settles until SIGTERM, or "
        "stands by while another process holds the key's outbox (docs/anchorer.md)");
    add_chain_options(cmd, *o);
    add_anchor_options(cmd, *anchoring, /*root_every=*/true);
    cmd->add_option("--ledger", *ledger_path,
                    "ledger: a postgresql:// URI shared with the workers, or an SQLite file "
                    "(default $MEDANCHOR_LEDGER or ~/.medanchor/ledger.sqlite)");
    cmd->add_option("--interval", *interval, "seconds between passes while elected")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    cmd->add_option("--standby-retry", *retry,
                    "seconds between tries for the outbox lock while another holds it")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    cmd->add_option("--batch-size", *batch,
                    "records mode: analyses per transaction (the contract takes up to 50)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{50}))
        ->capture_default_str();
    cmd->footer(
        "One writer per signing key and contract on a PostgreSQL ledger (an advisory lock "
        "keyed by the sender address), one per ledger on SQLite (its outbox lock file). The "
        "lock is checked on its own session before each transaction is signed. SIGTERM or "
        "SIGINT: the current pass finishes, the lock is released, exit 0.");
    cmd->callback([&action, o, ledger_path, anchoring, interval, retry, batch] {
        action = [=]() -> Status {
            auto session = open_session(*o);
            if (!session)
                return session.error();
            auto chosen = outbox_options(*anchoring);
            if (!chosen)
                return chosen.error();
            AnchorerOptions options;
            options.outbox = *chosen;
            options.outbox.batch = *batch;
            options.interval = std::chrono::milliseconds(static_cast<long>(*interval * 1000));
            options.standby_retry = std::chrono::milliseconds(static_cast<long>(*retry * 1000));
            // The signals are blocked in every thread and taken by one with sigwait(), so a
            // pass is never interrupted half-way: it ends, then the lock is released.
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGTERM);
            sigaddset(&set, SIGINT);
            pthread_sigmask(SIG_BLOCK, &set, nullptr);
            const bool json = o->json;
            auto anchorer = Anchorer::open(
                ledger_path->empty() ? ledger::Ledger::default_path() : fs::path(*ledger_path),
                std::move(*session), options,
                [json](const AnchorerEvent& e) { print_anchorer_event(e, json); });
            if (!anchorer)
                return anchorer.error();
            Anchorer* writer = anchorer->get();
            std::thread watcher([writer, set] {
                int sig = 0;
                sigwait(&set, &sig);
                writer->stop();
            });
            Status status = writer->run();
            // The watcher waits for a signal that may never come when run() ended on its own.
            pthread_kill(watcher.native_handle(), SIGTERM);
            watcher.join();
            return status;
        };
    });
}

ordered_json analysis_json(const ledger::Analysis& a) {
    ordered_json j{{"id", a.id},
                   {"state", ledger::to_string(a.state)},
                   {"created_at", a.created_at},
                   {"image_hash", a.hash_mode + ":" + a.image_hash},
                   {"model", a.model_name + " " + a.model_version},
                   {"finding", a.finding},
                   {"confidence_bp", a.confidence_bp},
                   {"report_digest", a.report_digest},
                   {"analyst", a.analyst}};
    if (!a.review_reason.empty())
        j["review_reason"] = a.review_reason;
    if (!a.last_error.empty())
        j["last_error"] = a.last_error;
    if (a.txid)
        j["txid"] = *a.txid;
    if (a.onchain_id)
        j["onchain_id"] = *a.onchain_id;
    if (a.block_height)
        j["block_height"] = *a.block_height;
    if (a.report_dir)
        j["report_dir"] = *a.report_dir;
    return j;
}

void add_ledger(CLI::App& app, CommandAction& action) {
    auto path = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    auto* led = app.add_subcommand("ledger", "The local record of analyses and their anchoring");
    led->require_subcommand(1);
    {
        auto state = std::make_shared<std::string>();
        auto* cmd = led->add_subcommand("list", "List analyses, oldest first");
        cmd->add_option("--ledger", *path, "ledger: an SQLite file or a postgresql:// URI");
        cmd->add_option("--state", *state, "needs_review, pending, broadcast, confirmed or failed");
        cmd->add_flag("--json", *as_json, "JSON lines");
        cmd->callback([&action, path, state, as_json] {
            action = [=]() -> Status {
                auto ledger = open_ledger(*path);
                if (!ledger)
                    return ledger.error();
                std::optional<ledger::AnalysisState> filter;
                if (!state->empty()) {
                    auto s = ledger::parse_analysis_state(*state);
                    if (!s)
                        return s.error();
                    filter = *s;
                }
                auto rows = ledger->list(filter);
                if (!rows)
                    return rows.error();
                for (const auto& a : *rows) {
                    if (*as_json) {
                        std::cout << analysis_json(a).dump() << "\n";
                        continue;
                    }
                    std::cout << "#" << a.id << "  " << ledger::to_string(a.state) << "  "
                              << a.finding << " " << a.confidence_bp << " bp  "
                              << a.image_hash.substr(0, 16) << "...  "
                              << (a.onchain_id ? "on chain #" + std::to_string(*a.onchain_id) : "")
                              << (a.review_reason.empty() ? "" : "  (" + a.review_reason + ")")
                              << (a.last_error.empty() ? "" : "  [" + a.last_error + "]") << "\n";
                }
                return Status::Ok();
            };
        });
    }
    {
        auto id = std::make_shared<std::int64_t>(0);
        auto* cmd = led->add_subcommand("show", "One analysis, with its report");
        cmd->add_option("--ledger", *path, "ledger: an SQLite file or a postgresql:// URI");
        cmd->add_option("id", *id, "local id")->required();
        cmd->callback([&action, path, id] {
            action = [=]() -> Status {
                auto ledger = open_ledger(*path);
                if (!ledger)
                    return ledger.error();
                auto a = ledger->get(*id);
                if (!a)
                    return a.error();
                auto j = analysis_json(*a);
                j["report"] = nlohmann::json::parse(a->report_json, nullptr, false);
                std::cout << j.dump(2) << "\n";
                return Status::Ok();
            };
        });
    }
    {
        auto id = std::make_shared<std::int64_t>(0);
        auto* cmd = led->add_subcommand(
            "requeue", "A person's decision: send a held or failed analysis again");
        cmd->add_option("--ledger", *path, "ledger: an SQLite file or a postgresql:// URI");
        cmd->add_option("id", *id, "local id")->required();
        cmd->callback([&action, path, id] {
            action = [=]() -> Status {
                auto ledger = open_ledger(*path);
                if (!ledger)
                    return ledger.error();
                if (auto s = ledger->requeue(*id); !s)
                    return s;
                std::cout << "analysis #" << *id
                          << " is pending again; `medanchor sync` anchors it\n";
                return Status::Ok();
            };
        });
    }
}

}  // namespace

void add_workflow_commands(CLI::App& app, CommandAction& action) {
    add_professional(app, action);
    add_review(app, action);
    add_sync(app, action);
    add_anchorer(app, action);
    add_ledger(app, action);
}

}  // namespace medanchor::app

#include "app/cli/serve_command.h"

#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "app/cli/analyze_command.h"
#include "app/cli/chain_options.h"
#include "app/cli/listen_options.h"
#include "app/http/jobs.h"
#include "app/http/server.h"
#include "common/encoding.h"
#include "ledger/accounts.h"

namespace medanchor::app {
namespace fs = std::filesystem;
using namespace medanchor::http;  // the CLI starts the server

namespace {

// $MEDANCHOR_DATA, else ~/.medanchor/serve.
fs::path default_data_dir() {
    if (const char* env = std::getenv("MEDANCHOR_DATA"); env != nullptr && *env != '\0')
        return env;
    const char* home = std::getenv("HOME");
    return fs::path(home != nullptr ? home : ".") / ".medanchor" / "serve";
}

struct UsersOptions {
    std::string data_dir;
    std::string users;
    std::string name;
    std::string role;
    std::string key_file;
    std::string network = "devnet";
};

fs::path users_path(const UsersOptions& o) {
    if (!o.users.empty())
        return o.users;
    return (o.data_dir.empty() ? default_data_dir() : fs::path(o.data_dir)) / "users.sqlite";
}

Status users_add(const UsersOptions& o) {
    auto role = parse_role(o.role);
    if (!role) {
        return Error(ErrorCode::kInvalidArgument,
                     "--role: one of radiologist, verifier, auditor, admin");
    }
    if (!ledger::is_account_name(o.name)) {
        return Error(ErrorCode::kInvalidArgument,
                     "NAME: 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)");
    }
    ledger::Account account;
    account.name = o.name;
    account.role = to_string(*role);
    if (!o.key_file.empty()) {
        // The key is read (and its mode checked) now, so a wrong file fails here, not at the
        // first upload; only its path and its address are stored.
        account.key_file = fs::absolute(o.key_file).string();
        ChainOptions chain;
        chain.network = o.network;
        chain.key_file = account.key_file;
        auto session = open_session(chain);
        if (!session)
            return session.error();
        account.principal = session->sender();
    }
    auto token = random_hex(32);
    if (!token)
        return token.error();
    auto store = ledger::AccountStore::open(users_path(o));
    if (!store)
        return store.error();
    if (auto s = store->add(account, to_hex(sha256(*token))); !s)
        return s;
    std::cerr << "user " << account.name << " (" << account.role << ")"
              << (account.principal.empty() ? "" : " acting as " + account.principal)
              << " added; the token below is shown once, keep it secret:\n";
    std::cout << *token << "\n";
    return Status::Ok();
}

Status users_list(const UsersOptions& o) {
    auto store = ledger::AccountStore::open(users_path(o));
    if (!store)
        return store.error();
    auto list = store->list();
    if (!list)
        return list.error();
    for (const auto& a : *list) {
        std::cout << a.name << "\t" << a.role << "\t" << (a.principal.empty() ? "-" : a.principal)
                  << "\t" << a.created_at << "\n";
    }
    return Status::Ok();
}

Status users_remove(const UsersOptions& o) {
    auto store = ledger::AccountStore::open(users_path(o));
    if (!store)
        return store.error();
    return store->remove(o.name);
}

// `--listen-dicom [AE@][ADDR:]PORT` into the listener's options (AE title and address override
// --ae-title and 127.0.0.1).
Result<dicom::ListenOptions> dicom_options(const std::string& text, const ListenerFlags& flags,
                                           bool keep_originals) {
    auto o = listen_options(flags);
    if (!o)
        return o.error();
    std::string where = text;
    if (const auto at = where.find('@'); at != std::string::npos) {
        o->scp.ae_title = where.substr(0, at);
        where.erase(0, at + 1);
        if (o->scp.ae_title.empty() || o->scp.ae_title.size() > 16)
            return Error(ErrorCode::kInvalidArgument, "--listen-dicom " + escape_for_display(text) +
                                                          ": an AE title is 1 to 16 characters");
    }
    if (where.find(':') == std::string::npos)
        where.insert(where.begin(), ':');
    auto address = parse_listen(where);
    if (!address)
        return Error(ErrorCode::kInvalidArgument,
                     "--listen-dicom " + escape_for_display(text) + ": not [AE@][ADDR:]PORT");
    o->scp.bind_address = address->first;
    o->scp.port = static_cast<std::uint16_t>(address->second);
    o->keep_originals = keep_originals;
    return o;
}

// Serves until SIGTERM or SIGINT. The signals are blocked in every thread and taken by one
// thread with sigwait(), so no handler runs in the middle of a request.
Status serve(ServeOptions o, const std::string& listen, const ChainOptions& chain) {
    auto config = chain_config(chain);
    if (!config)
        return config.error();
    o.chain = *config;
    if (o.model.empty())
        o.model = default_model_dir();
    if (!listen.empty()) {
        auto where = parse_listen(listen);
        if (!where)
            return where.error();
        o.host = where->first;
        o.port = where->second;
    }
    if (o.data_dir.empty())
        o.data_dir = default_data_dir();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    ApiServer server(o);
    if (auto s = server.bind(); !s)
        return s;
    const bool tls = !o.tls_cert.empty();
    std::cout << "medanchor serve: listening on " << (tls ? "https" : "http") << "://"
              << (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) << ":"
              << server.port() << "/" << std::endl;
    if (o.dicom) {
        std::cout << "medanchor serve: DICOM " << o.dicom->scp.ae_title << "@"
                  << o.dicom->scp.bind_address << ":" << server.dicom_port() << std::endl;
    }
    std::thread watcher([&server, set] {
        int sig = 0;
        sigwait(&set, &sig);
        if (sig == SIGTERM || sig == SIGINT) {
            std::cerr << "medanchor serve: stopping (signal " << sig
                      << "): no new jobs; finishing the accepted ones\n";
            server.stop();
        }
    });
    Status status = server.run();
    // The watcher waits for a signal that may never come when run() ended on its own.
    pthread_kill(watcher.native_handle(), SIGTERM);
    watcher.join();
    std::cerr << "medanchor serve: stopped\n";
    return status;
}

}  // namespace

void add_serve_commands(CLI::App& app, CommandAction& action) {
    auto o = std::make_shared<ServeOptions>();
    auto listen = std::make_shared<std::string>();
    auto data = std::make_shared<std::string>();
    auto* serve_cmd = app.add_subcommand(
        "serve", "The REST API and web UI on 127.0.0.1:8080 (docs/api.md, docs/web.md)");
    serve_cmd->add_option("--listen", *listen, "ADDR:PORT to listen on (default 127.0.0.1:8080)");
    serve_cmd->add_option("--tls-cert", o->tls_cert, "PEM certificate chain: serve HTTPS");
    serve_cmd->add_option("--tls-key", o->tls_key, "PEM private key (mode 0600)");
    serve_cmd->add_flag("--allow-plain-http", o->allow_plain_http,
                        "serve plain HTTP beyond loopback (behind a TLS proxy only)");
    serve_cmd->add_option("--data", *data,
                          "state folder: ledger, reports, site key, users "
                          "(default $MEDANCHOR_DATA or ~/.medanchor/serve)");
    serve_cmd->add_option("--users", o->users, "account store (default DATA/users.sqlite)");
    serve_cmd->add_option("--model", o->model,
                          "model bundle folder (default: the reference model)");
    serve_cmd->add_option("--ledger", o->ledger,
                          "the ledger (default DATA/ledger.sqlite; not $MEDANCHOR_LEDGER): a "
                          "postgresql:// URI queues uploads for `medanchor worker` and leaves "
                          "anchoring to `medanchor anchorer` (docs/scale.md)");
    serve_cmd->add_option("--spool", o->spool,
                          "with a PostgreSQL ledger: where the de-identified uploads wait for "
                          "the workers, who must reach it at the same absolute path (default "
                          "DATA/spool)");
    auto chain = std::make_shared<ChainOptions>();
    add_chain_options(serve_cmd, *chain, /*needs_key=*/false);
    auto upload_mb = std::make_shared<std::size_t>(o->max_upload_bytes >> 20);
    serve_cmd->add_option("--max-upload-mb", *upload_mb, "largest request body (default 256)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
    serve_cmd->add_option("--max-files", o->max_files, "most files in one upload");
    serve_cmd->add_option("--threads", o->threads, "request threads");
    serve_cmd->add_option("--timeout", o->read_timeout_s, "seconds a silent client is kept");
    serve_cmd->add_flag(
        "--no-anchor", [o](std::int64_t) { o->anchor = false; },
        "record analyses only; `medanchor sync` anchors them");
    serve_cmd->add_flag("--keep-originals", o->keep_originals,
                        "keep each upload as sent (DATA/originals/); off: never stored");
    auto dicom = std::make_shared<std::string>();
    auto listener = std::make_shared<ListenerFlags>();
    serve_cmd->add_option("--listen-dicom", *dicom,
                          "[AE@][ADDR:]PORT: run the DICOM listener of `medanchor listen` in "
                          "this process (127.0.0.1 unless ADDR; docs/pacs.md)");
    serve_cmd->add_option("--listen-as", o->dicom_account,
                          "with --listen-dicom: the user (with a signing key) the received "
                          "images' analyses are recorded and anchored for");
    add_listener_options(serve_cmd, *listener);
    serve_cmd->callback([&action, o, listen, data, upload_mb, chain, dicom, listener] {
        action = [o, listen, data, upload_mb, chain, dicom, listener]() -> Status {
            ServeOptions copy = *o;
            copy.max_upload_bytes = *upload_mb << 20;
            copy.write_timeout_s = copy.read_timeout_s;
            if (!data->empty())
                copy.data_dir = *data;
            if (dicom->empty() && !copy.dicom_account.empty())
                return Error(ErrorCode::kInvalidArgument, "--listen-as needs --listen-dicom");
            if (!dicom->empty()) {
                auto d = dicom_options(*dicom, *listener, copy.keep_originals);
                if (!d)
                    return d.error();
                copy.dicom = std::move(*d);
            }
            return serve(copy, *listen, *chain);
        };
    });

    auto u = std::make_shared<UsersOptions>();
    auto* users = app.add_subcommand("users", "Accounts of `medanchor serve`");
    users->require_subcommand(1);
    const auto store_options = [u](CLI::App* cmd) {
        cmd->add_option("--data", u->data_dir,
                        "state folder of `serve` (default $MEDANCHOR_DATA or ~/.medanchor/serve)");
        cmd->add_option("--users", u->users, "account store (default DATA/users.sqlite)");
    };
    auto* add = users->add_subcommand("add", "Add a user; prints their bearer token once");
    add->add_option("NAME", u->name, "user name")->required();
    add->add_option("--role", u->role, "radiologist, verifier, auditor or admin")->required();
    add->add_option("--key-file", u->key_file, "the signing key the server uses for this user");
    add->add_option("--network", u->network, "network of the key's address (default devnet)");
    store_options(add);
    add->callback([&action, u] { action = [u] { return users_add(*u); }; });
    auto* list = users->add_subcommand("list", "List users (never their tokens)");
    store_options(list);
    list->callback([&action, u] { action = [u] { return users_list(*u); }; });
    auto* remove = users->add_subcommand("remove", "Remove a user; their token stops working");
    remove->add_option("NAME", u->name, "user name")->required();
    store_options(remove);
    remove->callback([&action, u] { action = [u] { return users_remove(*u); }; });
}

}  // namespace medanchor::app

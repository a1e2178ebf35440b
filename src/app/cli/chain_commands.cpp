#include "app/cli/chain_commands.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/cli/chain_options.h"
#include "app/ops/devnet_process.h"
#include "chain/contract.h"
#include "chain/registry.h"
#include "chain/session.h"
#include "inference/model_bundle.h"
#include "stacks/hash.h"

namespace medanchor::app {

using namespace medanchor::chain;  // the CLI is a shell over the chain layer
using namespace medanchor::ops;
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using stacks::Value;

// ---- keys -----------------------------------------------------------------------------------

// The mnemonic of [accounts.NAME] in a Clarinet settings file.
Result<std::string> devnet_mnemonic(const fs::path& settings, const std::string& account) {
    std::ifstream in(settings);
    if (!in)
        return Error(ErrorCode::kNotFound, settings.string() + ": cannot open");
    std::string line;
    bool in_section = false;
    while (std::getline(in, line)) {
        if (line.starts_with("[")) {
            in_section = line == "[accounts." + account + "]";
            continue;
        }
        if (in_section && line.starts_with("mnemonic")) {
            const auto a = line.find('"');
            const auto b = line.rfind('"');
            if (a != std::string::npos && b > a)
                return line.substr(a + 1, b - a - 1);
        }
    }
    return Error(ErrorCode::kNotFound,
                 settings.string() + ": no [accounts." + account + "] with a mnemonic");
}

void print_key(const stacks::PrivateKey& key, const std::string& file, bool as_json) {
    const auto testnet = key.address(stacks::Network::kTestnet).to_string();
    const auto mainnet = key.address(stacks::Network::kMainnet).to_string();
    const auto pub = stacks::to_hex(key.public_key());
    if (as_json) {
        std::cout << json{{"key_file", file},
                          {"public_key", pub},
                          {"address_testnet", testnet},
                          {"address_mainnet", mainnet}}
                         .dump()
                  << "\n";
    } else {
        std::cout << "key file:        " << file << "\npublic key:      " << pub
                  << "\ntestnet address: " << testnet << "\nmainnet address: " << mainnet << "\n";
    }
}

void add_keys(CLI::App& app, CommandAction& action) {
    auto* keys = app.add_subcommand("keys", "Create and inspect signing keys (never printed)");
    keys->require_subcommand(1);

    auto out = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    auto* make = keys->add_subcommand("new", "Create a new secp256k1 key in a 0600 key file");
    make->add_option("--out", *out, "key file to create (never overwritten)")->required();
    make->add_flag("--json", *as_json, "machine-readable output");
    make->callback([&action, out, as_json] {
        action = [out, as_json]() -> Status {
            auto key = stacks::PrivateKey::generate();
            if (!key)
                return key.error();
            if (auto s = stacks::write_key_file(*out, *key); !s)
                return s;
            print_key(*key, *out, *as_json);
            return Status::Ok();
        };
    });

    auto file = std::make_shared<std::string>();
    auto* show = keys->add_subcommand("show", "Show the public key and addresses of a key file");
    show->add_option("--key-file", *file, "key file")->required();
    show->add_flag("--json", *as_json, "machine-readable output");
    show->callback([&action, file, as_json] {
        action = [file, as_json]() -> Status {
            auto key = stacks::read_key_file(*file);
            if (!key)
                return key.error();
            print_key(*key, *file, *as_json);
            return Status::Ok();
        };
    });

    auto account = std::make_shared<std::string>();
    auto settings = std::make_shared<std::string>();
    auto* devnet = keys->add_subcommand(
        "devnet", "Write the key of a public devnet account (settings/Devnet.toml) to a key file");
    devnet->add_option("account", *account, "deployer, wallet_1 ... wallet_8")->required();
    devnet->add_option("--out", *out, "key file to create")->required();
    devnet->add_option("--settings", *settings, "Clarinet settings file (default: the checkout's)");
    devnet->add_flag("--json", *as_json, "machine-readable output");
    devnet->callback([&action, account, settings, out, as_json] {
        action = [=]() -> Status {
            const fs::path path = settings->empty() ? source_root() / "settings" / "Devnet.toml"
                                                    : fs::path(*settings);
            auto mnemonic = devnet_mnemonic(path, *account);
            if (!mnemonic)
                return mnemonic.error();
            auto key = stacks::PrivateKey::from_mnemonic(*mnemonic);
            if (!key)
                return key.error();
            if (auto s = stacks::write_key_file(*out, *key); !s)
                return s;
            print_key(*key, *out, *as_json);
            return Status::Ok();
        };
    });
}

// ---- devnet ---------------------------------------------------------------------------------

void add_devnet(CLI::App& app, CommandAction& action) {
    auto* devnet = app.add_subcommand(
        "devnet",
        "Run the local chain: a Stacks node's RPC and the Stacks Blockchain API over the real "
        "Clarity VM");
    devnet->require_subcommand(1);
    auto options = std::make_shared<DevnetOptions>(default_devnet_options());
    auto interval_seconds = std::make_shared<double>(1.0);
    auto as_json = std::make_shared<bool>(false);
    const auto common = [&](CLI::App* cmd) {
        cmd->add_option("--port", options->port, "the node's RPC port (0: a free one)")
            ->check(CLI::Range(0, 65535))
            ->capture_default_str();
        cmd->add_option("--api-port", options->api_port, "the API's port (0: a free one)")
            ->check(CLI::Range(0, 65535))
            ->capture_default_str();
        cmd->add_option("--block-interval", *interval_seconds,
                        "SECONDS: a block at most this often (0.01 to 3600)")
            ->check(CLI::Range(0.01, 3600.0))
            ->capture_default_str();
        cmd->add_option("--data", options->data_dir, "state directory")->capture_default_str();
        cmd->add_flag("--json", *as_json, "machine-readable output");
    };
    // The options as the commands use them, once parsed.
    const auto parsed = [options, interval_seconds] {
        DevnetOptions o = *options;
        o.block_interval = std::chrono::milliseconds(std::llround(*interval_seconds * 1000));
        return o;
    };
    const auto print = [as_json](const DevnetState& s) {
        if (*as_json) {
            json j = {
                {"running", s.running}, {"pid", s.pid}, {"url", s.url}, {"api_url", s.api_url}};
            j["tip_height"] = s.tip_height ? json(*s.tip_height) : json(nullptr);
            std::cout << j.dump() << "\n";
        } else if (s.tip_height) {
            std::cout << "local chain up on " << s.url << ", API on " << s.api_url << " (pid "
                      << s.pid << ", tip height " << *s.tip_height << ")\n";
        } else {
            std::cout << "local chain "
                      << (s.running ? "running but not answering" : "not running");
            if (!s.url.empty())
                std::cout << " (" << s.url << ", API " << s.api_url << ")";
            std::cout << "\n";
        }
    };

    auto* start = devnet->add_subcommand("start", "Start the local chain in the background");
    common(start);
    start->callback([&action, parsed, print] {
        action = [parsed, print]() -> Status {
            auto s = start_devnet(parsed());
            if (!s)
                return s.error();
            print(*s);
            return Status::Ok();
        };
    });
    auto* stop = devnet->add_subcommand("stop", "Stop the local chain (its state is kept)");
    common(stop);
    stop->callback([&action, parsed, as_json] {
        action = [parsed, as_json]() -> Status {
            if (auto s = stop_devnet(parsed()); !s)
                return s;
            std::cout << (*as_json ? "{\"running\":false}" : "local chain stopped") << "\n";
            return Status::Ok();
        };
    });
    auto* status = devnet->add_subcommand("status", "Is the local chain running, and where");
    common(status);
    status->callback([&action, parsed, print] {
        action = [parsed, print]() -> Status {
            auto s = devnet_status(parsed());
            if (!s)
                return s.error();
            print(*s);
            return s->tip_height
                       ? Status::Ok()
                       : Status(Error(ErrorCode::kNetwork, "the local chain is not answering"));
        };
    });
}

// ---- deploy ---------------------------------------------------------------------------------

void add_deploy(CLI::App& app, CommandAction& action) {
    auto o = std::make_shared<ChainOptions>();
    auto source = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>(kContractName);
    auto* deploy = app.add_subcommand(
        "deploy",
        "Deploy the medical-analysis contract (a contract-deploy transaction signed here)");
    add_chain_options(deploy, *o);
    deploy->add_option("--source", *source, "Clarity source (default: the checkout's contract)");
    deploy->add_option("--name", *name, "contract name")->capture_default_str();
    deploy->callback([&action, o, source, name] {
        action = [o, source, name]() -> Status {
            auto config = chain_config(*o);
            if (!config)
                return config.error();
            auto key = load_key(o->key_file);
            if (!key)
                return key.error();
            const fs::path path =
                source->empty() ? source_root() / kContractSourcePath : fs::path(*source);
            std::ifstream in(path);
            if (!in)
                return Error(ErrorCode::kNotFound, path.string() + ": cannot open");
            std::stringstream text;
            text << in.rdbuf();
            // The contract id follows from the deployer; the configured one is only for calls.
            ChainSession session(*config, *key);
            const std::string id = session.sender() + "." + *name;
            stacks::ContractDeploy payload{*name, text.str(), kContractClarityVersion};
            if (o->no_wait) {
                auto sent = session.send(payload);
                if (!sent)
                    return sent.error();
                std::cout << "deploy " << id << ": broadcast, tx " << sent->txid << "\n";
                return Status::Ok();
            }
            return print_outcome(*o, submit(session, "deploy " + id, payload, /*wait=*/true));
        };
    });
}

// ---- admin ----------------------------------------------------------------------------------

// Sends a registry call built (and checked) by the chain layer, as the server does.
Status send_registry_call(const ChainOptions& o, const Result<RegistryCall>& call) {
    if (!call)
        return call.error();
    return send_call(o, call->action, call->function, call->args);
}

void add_admin(CLI::App& app, CommandAction& action) {
    auto o = std::make_shared<ChainOptions>();
    auto* admin = app.add_subcommand("admin", "Admin calls: roles, parameters, models, pause");
    admin->require_subcommand(1);

    const auto principal_call = [&, o](const char* sub, const char* function, const char* help) {
        auto who = std::make_shared<std::string>();
        auto* cmd = admin->add_subcommand(sub, help);
        add_chain_options(cmd, *o);
        cmd->add_option("principal", *who, "the Stacks address")->required();
        cmd->callback([&action, o, who, function, sub] {
            action = [o, who, function, sub]() -> Status {
                const std::string_view f = function;
                if (f == "appoint-verifier" || f == "dismiss-verifier")
                    return send_registry_call(*o, verifier_call(*who, f == "appoint-verifier"));
                auto p = principal_arg(*who);
                if (!p)
                    return p.error();
                return send_call(*o, std::string(sub) + " " + *who, function, {*p});
            };
        });
    };
    principal_call("add-admin", "add-admin", "Make a principal an admin");
    principal_call("remove-admin", "remove-admin", "Remove an admin (never the last)");
    principal_call("appoint-verifier", "appoint-verifier", "Appoint a credentialing authority");
    principal_call("dismiss-verifier", "dismiss-verifier", "Dismiss a verifier");

    const auto number_call = [&, o](const char* sub, const char* function, const char* help,
                                    const char* arg_help) {
        auto n = std::make_shared<std::uint64_t>(0);
        auto* cmd = admin->add_subcommand(sub, help);
        add_chain_options(cmd, *o);
        cmd->add_option("value", *n, arg_help)->required();
        cmd->callback([&action, o, n, function, sub] {
            action = [o, n, function]() -> Status {
                const std::string_view f = function;
                return send_registry_call(
                    *o, f == "set-min-confidence" ? set_min_confidence_call(*n)
                        : f == "retire-model"
                            ? Result<RegistryCall>(retire_model_call(*n))
                            : Result<RegistryCall>(set_max_verification_period_call(*n)));
            };
        });
    };
    number_call("set-min-confidence", "set-min-confidence", "Global minimum confidence",
                "basis points, 0-10000");
    number_call("set-max-verification-period", "set-max-verification-period",
                "Longest a verification may run", "seconds");
    number_call("retire-model", "retire-model", "Retire a model for good", "model id");

    for (const char* f : {"pause", "unpause"}) {
        auto* cmd = admin->add_subcommand(
            f, std::string(f == std::string("pause") ? "Stop submissions and reviews"
                                                     : "Resume submissions and reviews"));
        add_chain_options(cmd, *o);
        cmd->callback([&action, o, f] {
            action = [o, f] {
                return send_registry_call(*o, pause_call(std::string_view(f) == "pause"));
            };
        });
    }

    auto model_hash = std::make_shared<std::string>();
    auto model_file = std::make_shared<std::string>();
    auto model_name = std::make_shared<std::string>();
    auto model_version = std::make_shared<std::string>();
    auto model_min = std::make_shared<std::uint64_t>(0);
    auto* reg =
        admin->add_subcommand("register-model", "Register a model by the SHA-256 of its ONNX file");
    add_chain_options(reg, *o);
    auto bundle_dir = std::make_shared<std::string>();
    auto* bundle_opt = reg->add_option(
        "--bundle", *bundle_dir,
        "a model bundle folder (docs/model-bundle.md): hash, name, version and minimum from it");
    auto* hash_opt = reg->add_option("--model-hash", *model_hash, "SHA-256 of the ONNX file, hex")
                         ->excludes(bundle_opt);
    reg->add_option("--model-file", *model_file, "the ONNX file (its SHA-256 is computed)")
        ->excludes(hash_opt)
        ->excludes(bundle_opt);
    reg->add_option("--name", *model_name, "model name")->excludes(bundle_opt);
    reg->add_option("--version", *model_version, "model version")->excludes(bundle_opt);
    reg->add_option("--min-confidence", *model_min, "the model's own minimum, basis points")
        ->capture_default_str();
    reg->callback(
        [&action, o, bundle_dir, model_hash, model_file, model_name, model_version, model_min] {
            action = [=]() -> Status {
                if (!bundle_dir->empty()) {
                    // The bundle's manifest is validated and its network's SHA-256 checked at load.
                    auto bundle = inference::load_model_bundle(*bundle_dir);
                    if (!bundle)
                        return bundle.error();
                    const auto& m = bundle->manifest;
                    return send_registry_call(
                        *o, register_model_call(m.model_sha256, m.name, m.version,
                                                static_cast<std::uint64_t>(m.min_confidence_bp)));
                }
                if (model_name->empty() || model_version->empty())
                    return Error(ErrorCode::kInvalidArgument,
                                 "give --bundle DIR, or --name and --version");
                Result<Value> hash =
                    !model_file->empty() ? file_digest(*model_file)
                    : !model_hash->empty()
                        ? digest_arg(*model_hash, "--model-hash")
                        : Result<Value>(Error(ErrorCode::kInvalidArgument,
                                              "give --bundle, --model-hash or --model-file"));
                if (!hash)
                    return hash.error();
                return send_registry_call(
                    *o, register_model_call(stacks::to_hex(hash->bytes()), *model_name,
                                            *model_version, *model_min));
            };
        });

    auto* params = admin->add_subcommand("params", "Show the contract's parameters (read-only)");
    add_chain_options(params, *o, /*needs_key=*/false);
    params->callback([&action, o] {
        action = [o]() -> Status {
            auto config = chain_config(*o);
            if (!config)
                return config.error();
            stacks::NodeClient node = node_client(*config);
            auto v = read_contract(node, *config, "get-parameters", {});
            if (!v)
                return v.error();
            if (o->json) {
                json j = json::object();
                for (const auto& [k, f] : v->fields())
                    j[k] = f.to_string();
                std::cout << j.dump() << "\n";
            } else {
                for (const auto& [k, f] : v->fields())
                    std::cout << k << ": " << f.to_string() << "\n";
            }
            return Status::Ok();
        };
    });
}

}  // namespace

void add_chain_commands(CLI::App& app, CommandAction& action) {
    add_keys(app, action);
    add_devnet(app, action);
    add_deploy(app, action);
    add_admin(app, action);
}

}  // namespace medanchor::app

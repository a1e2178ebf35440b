#include "app/cli/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/analyze_command.h"
#include "app/cli/chain_commands.h"
#include "app/cli/image_commands.h"
#include "app/cli/listen_command.h"
#include "app/cli/predict_command.h"
#include "app/cli/queue_commands.h"
#include "app/cli/serve_command.h"
#include "app/cli/simulate_command.h"
#include "app/cli/verify_command.h"
#include "app/cli/workflow_commands.h"

namespace medanchor::app {

namespace {

void print_settings(const std::vector<Setting>& settings, const ConfigFile& file, bool json) {
    if (json) {
        nlohmann::ordered_json j{{"file", file.path.string()},
                                 {"settings", nlohmann::ordered_json::array()}};
        for (const auto& s : settings) {
            j["settings"].push_back({{"command", s.command},
                                     {"option", s.option},
                                     {"value", s.value},
                                     {"source", s.source}});
        }
        std::cout << j.dump() << "\n";
        return;
    }
    std::cout << "config file: "
              << (file.path.empty() ? "none (" + default_config_path().string() + " is absent)"
                                    : file.path.string())
              << "\n";
    for (const auto& s : settings) {
        std::cout << (s.command.empty() ? "" : s.command + " ") << "--" << s.option << " = "
                  << s.value << "  (" << s.source << ")\n";
    }
}

// What the file and the environment set, whatever the command.
std::vector<Setting> file_settings(const ConfigFile& file) {
    std::vector<Setting> settings;
    for (const auto& [key, value] : file.entries) {
        Setting s;
        const auto dot = key.rfind('.');
        s.option = dot == std::string::npos ? key : key.substr(dot + 1);
        if (dot != std::string::npos) {
            s.command = key.substr(0, dot);
            std::replace(s.command.begin(), s.command.end(), '.', ' ');
        }
        for (const auto& v : value.values)
            s.value += (s.value.empty() ? "" : " ") + v;
        s.value = printable(s.option, s.value);
        s.source = file.where(value);
        settings.push_back(std::move(s));
    }
    for (const char* option : {"key-file", "api", "site-key", "ledger"}) {
        const char* name = env_name(option);
        if (const char* v = std::getenv(name); v != nullptr && *v != '\0')
            settings.push_back({"", option, printable(option, v), std::string("env ") + name});
    }
    return settings;
}

void add_config_command(CLI::App& app, CommandAction& action, const ConfigFile& file) {
    auto* config = app.add_subcommand("config", "The configuration file (docs/config.md)");
    config->require_subcommand(1);
    auto json = std::make_shared<bool>(false);
    auto* show = config->add_subcommand(
        "show",
        "Print the effective settings and where each comes from (flag, env, FILE:LINE, default); "
        "never a secret. With a command line after it (`config show analyze scans/ --node "
        "URL`), every option of that command as it would run");
    show->add_flag("--json", *json, "machine-readable output");
    show->allow_extras();
    show->prefix_command();
    show->callback([&action, &file, show, json] {
        std::vector<std::string> args = show->remaining();
        if (!args.empty() && args.front() == "--")
            args.erase(args.begin());
        action = [&file, json, args]() -> Status {
            if (args.empty()) {
                print_settings(file_settings(file), file, *json);
                return Status::Ok();
            }
            CommandAction ignored;
            auto inner = make_cli(ignored, file);
            if (!inner)
                return inner.error();
            std::vector<std::string> reversed(args.rbegin(), args.rend());
            try {
                (*inner)->parse(reversed);
            } catch (const CLI::CallForHelp& e) {
                // `config show CMD --help`: that command's help, as `CMD --help` prints it.
                (*inner)->exit(e);
                return Status::Ok();
            } catch (const CLI::CallForAllHelp& e) {
                (*inner)->exit(e);
                return Status::Ok();
            } catch (const CLI::CallForVersion& e) {
                (*inner)->exit(e);
                return Status::Ok();
            } catch (const CLI::ParseError& e) {
                return Error(
                    ErrorCode::kInvalidArgument,
                    std::string("config show: the command line does not parse: ") + e.what());
            }
            print_settings(effective_settings(**inner, file), file, *json);
            return Status::Ok();
        };
    });
}

}  // namespace

Result<std::unique_ptr<CLI::App>> make_cli(CommandAction& action, const ConfigFile& file) {
    auto app = std::make_unique<CLI::App>(
        "medanchor: deep-learning analysis of medical images, anchored on the Stacks blockchain.\n"
        "Not for clinical use.",
        "medanchor");
    app->set_version_flag("--version", "medanchor 0.1.0");
    app->require_subcommand(1);
    app->footer(exit_code_help());
    add_image_commands(*app, action);
    add_predict_command(*app, action);
    add_chain_commands(*app, action);
    add_simulate_command(*app, action);
    add_analyze_command(*app, action);
    add_queue_commands(*app, action);
    add_verify_command(*app, action);
    add_workflow_commands(*app, action);
    add_serve_commands(*app, action);
    add_listen_command(*app, action);
    add_config_command(*app, action, file);
    if (auto attached = attach_config(*app, file); !attached)
        return attached.error();
    return app;
}

}  // namespace medanchor::app

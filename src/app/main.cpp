// medanchor: the command-line shell over the image, inference, stacks and ledger layers. It
// parses arguments, runs the selected command, and is the only place an Error becomes a message
// on stderr and an exit code (common/error.h's table).
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/analyze_command.h"
#include "app/chain_commands.h"
#include "app/http/serve_command.h"
#include "app/image_commands.h"
#include "app/predict_command.h"
#include "app/simulate_command.h"
#include "app/verify_command.h"
#include "app/workflow_commands.h"
#include "common/error.h"

int main(int argc, char** argv) {
    CLI::App app{
        "medanchor: deep-learning analysis of medical images, anchored on the Stacks blockchain.\n"
        "Not for clinical use.",
        "medanchor"};
    app.set_version_flag("--version", "medanchor 0.1.0");
    app.require_subcommand(1);
    app.footer(medanchor::exit_code_help());

    medanchor::app::CommandAction action;
    medanchor::app::add_image_commands(app, action);
    medanchor::app::add_predict_command(app, action);
    medanchor::app::add_chain_commands(app, action);
    medanchor::app::add_simulate_command(app, action);
    medanchor::app::add_analyze_command(app, action);
    medanchor::app::add_verify_command(app, action);
    medanchor::app::add_workflow_commands(app, action);
    medanchor::http::add_serve_commands(app, action);

    const int invalid = medanchor::error_info(medanchor::ErrorCode::kInvalidArgument).exit_code;
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // CLI11's own codes (100+) are not ours: every malformed command line is "invalid
        // argument", as `medanchor --help` documents.
        app.exit(e);
        return invalid;
    }
    if (!action)
        return 0;
    try {
        const medanchor::Status status = action();
        if (!status) {
            const auto& info = medanchor::error_info(status.error().code());
            std::cerr << "medanchor: " << status.error().message() << " [" << info.name << "]\n";
            return info.exit_code;
        }
    } catch (const std::exception& e) {
        // Nothing should escape a command; if something does, say so and exit "internal".
        std::cerr << "medanchor: internal error: " << e.what() << " [internal]\n";
        return medanchor::error_info(medanchor::ErrorCode::kInternal).exit_code;
    }
    return 0;
}

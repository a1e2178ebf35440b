// medanchor: the command-line shell over the image, inference, stacks and ledger layers. It
// parses arguments, runs the selected command, and is the only place an Error becomes a message
// on stderr and an exit code (common/error.h's table).
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/analyze_command.h"
#include "app/chain_commands.h"
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
    app.footer(
        "Exit codes: 0 success; 2 invalid argument; 3 not found; 4 I/O; 5 corrupt input; "
        "6 unsupported; 7 too large; 8 permission; 9 network; 10 timeout; 11 rejected by "
        "the node; 12 refused by the contract; 70 internal error.");

    medanchor::app::CommandAction action;
    medanchor::app::add_image_commands(app, action);
    medanchor::app::add_predict_command(app, action);
    medanchor::app::add_chain_commands(app, action);
    medanchor::app::add_simulate_command(app, action);
    medanchor::app::add_analyze_command(app, action);
    medanchor::app::add_verify_command(app, action);
    medanchor::app::add_workflow_commands(app, action);

    CLI11_PARSE(app, argc, argv);
    if (!action)
        return 0;
    const medanchor::Status status = action();
    if (!status) {
        const auto& info = medanchor::error_info(status.error().code());
        std::cerr << "medanchor: " << status.error().message() << " [" << info.name << "]\n";
        return info.exit_code;
    }
    return 0;
}

// medanchor: the command-line shell over the services (src/service) and the chain layer. It loads
// the configuration file, parses arguments, runs the selected command, and is the only place an
// Error becomes a message on stderr and an exit code (common/error.h's table), with the user and
// password of any URL in it masked. Whatever escapes a command is a bug: it is reported and the
// exit code is 70 (internal).
#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>

#include "app/cli/cli.h"
#include "app/cli/config.h"
#include "common/error.h"
#include "common/http.h"

namespace {

int fail(const medanchor::Error& e) {
    const auto& info = medanchor::error_info(e.code());
    std::cerr << "medanchor: " << medanchor::mask_url_credentials(e.message()) << " [" << info.name
              << "]\n";
    return info.exit_code;
}

int run(int argc, char** argv) {
    using namespace medanchor;
    auto file = app::load_config(argc, argv);
    if (!file)
        return fail(file.error());
    app::CommandAction action;
    auto cli = app::make_cli(action, *file);
    if (!cli)
        return fail(cli.error());
    CLI::App& parser = **cli;
    const int invalid = error_info(ErrorCode::kInvalidArgument).exit_code;
    try {
        parser.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return parser.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return parser.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return parser.exit(e);
    } catch (const CLI::ParseError& e) {
        // CLI11's own codes (100+) are not ours: every malformed command line (or configuration
        // value) is "invalid argument", as `medanchor --help` documents.
        // A value from the configuration file: say where it is.
        const std::string where = app::explain_parse_error(parser, *file, e.what());
        if (where.empty()) {
            std::ostringstream out, err;  // CLI11 repeats the arguments: mask them
            parser.exit(e, out, err);
            std::cout << out.str();
            std::cerr << mask_url_credentials(err.str());
        } else {
            std::cerr << "medanchor: " << mask_url_credentials(where) << " [invalid-argument]\n";
        }
        return invalid;
    }
    if (!action)
        return 0;
    const Status status = action();
    if (!status)
        return fail(status.error());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        // Nothing should escape a command; if something does, say so and exit "internal".
        std::cerr << "medanchor: internal error: " << medanchor::mask_url_credentials(e.what())
                  << " [internal]\n";
    } catch (...) {
        std::cerr << "medanchor: internal error: an unknown exception [internal]\n";
    }
    return medanchor::error_info(medanchor::ErrorCode::kInternal).exit_code;
}

// One configuration file for every command (docs/config.md): `--config FILE`, else
// $MEDANCHOR_CONFIG, else ~/.medanchor/medanchor.toml when it exists. Every option of every
// command can be set there by its long name: at the top level for every command that has the
// option, or in a [command] / [command.subcommand] table for that command alone (which wins over
// the top level). Precedence, highest first: the command line, the option's environment variable
// (env_name()), the file, the built-in default.
//
// A key that names no option (a typo) is an error naming the file, the line and the key; so is a
// value the option refuses. The file is read with toml++ (config.cpp is the one file that uses
// it) and handed to CLI11 through its Config interface, so the file's values pass the options'
// own checks and count for required options.
// Thread safety: none needed; main() loads the file once, before the command runs.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

// The CLI11 group of the DICOM listener's options (app/cli/listen_options.h). In a command other
// than `listen` that has them (`serve --listen-dicom`), an option of this group not set in the
// command's own table is read from the [listen] table next, then from the top level: one table
// configures the listener wherever it runs.
inline constexpr const char* kListenerOptionGroup = "DICOM listener";

// Options a command reads from its own table only, never from the top level: `serve --ledger`
// (its ledger is DATA/ledger.sqlite unless its own table or the command line names another; the
// top-level `ledger` is the one `analyze` and the CLI share, not the server's).
inline constexpr std::pair<const char*, const char*> kOwnTableOnly[] = {{"serve", "ledger"}};

// One value of the file: its text as the command line would give it (one string per array
// element), and where it was.
struct ConfigValue {
    std::vector<std::string> values;
    int line = 0;
};

struct ConfigFile {
    std::filesystem::path path;  // empty: no file applies
    // "<option>" at the top level, "<command>[.<subcommand>].<option>" in a table.
    std::map<std::string, ConfigValue> entries;
    std::string where(const ConfigValue& v) const;  // "FILE:LINE"
};

// ~/.medanchor/medanchor.toml ($HOME unset: none).
std::filesystem::path default_config_path();

// Which file applies: the `--config` value on the command line (argv scanned, so it is known
// before parsing), else $MEDANCHOR_CONFIG, else the default when it exists. Reads (bounded, a
// regular file only) and parses it. kNotFound for a file named explicitly that is missing;
// kCorrupt naming FILE:LINE for TOML that does not parse or a value no option can take (a date,
// a table inside an array).
Result<ConfigFile> load_config(int argc, const char* const* argv);

// Checks every key against the commands and options of `app` (kInvalidArgument naming FILE:LINE
// and the key when one names no option), then makes `app` read its options from the file when
// it parses: `--config FILE` becomes a global option. REQUIRES: every subcommand is registered;
// `file` outlives the app.
Status attach_config(CLI::App& app, const ConfigFile& file);

// Where an option's effective value comes from.
struct Setting {
    std::string command;  // "analyze", "professional register"
    std::string option;   // long name without dashes
    std::string value;    // as printable() shows it
    std::string source;   // "flag", "env MEDANCHOR_...", "FILE:LINE" or "default"
};

// Every option of the commands the command line selected, with its effective value and source.
// REQUIRES: app parsed the command line with attach_config(app, file).
std::vector<Setting> effective_settings(const CLI::App& app, const ConfigFile& file);

// When the parse error `message` (CLI11's) is about a value the file gave, the message prefixed
// with "FILE:LINE: key: "; else an empty string (the error is the command line's).
std::string explain_parse_error(const CLI::App& app, const ConfigFile& file,
                                const std::string& message);

// True for an option whose value must never be printed (a secret rather than a path to one).
bool redacted(const std::string& option);

// How `config show` prints `value` of `option`: "(hidden)" for a redacted() option, and any URL's
// user:password@ as ***@.
std::string printable(const std::string& option, const std::string& value);

// The environment variable that sets `option` when the command line does not, or nullptr.
const char* env_name(const std::string& option);

}  // namespace medanchor::app

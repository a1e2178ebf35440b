#include "app/cli/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "common/file_io.h"
#include "common/http.h"

namespace medanchor::app {

namespace fs = std::filesystem;

namespace {

// A configuration file is a few kilobytes; more is not one.
constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;

// "~/x" as the shell would read it; other values as they are.
std::string expand_home(std::string text) {
    if (text.starts_with("~/")) {
        if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
            return std::string(home) + text.substr(1);
    }
    return text;
}

std::string where_of(const fs::path& path, const toml::source_region& source) {
    std::string w = path.string();
    w += ':';
    w += std::to_string(source.begin.line);
    return w;
}

// One scalar as the command line would give it; nullopt for a type no option takes.
std::optional<std::string> scalar_text(const toml::node& node) {
    if (auto s = node.as_string())
        return expand_home(s->get());
    if (auto i = node.as_integer())
        return std::to_string(i->get());
    if (auto f = node.as_floating_point()) {
        std::ostringstream out;
        out << f->get();
        return out.str();
    }
    if (auto b = node.as_boolean())
        return std::string(b->get() ? "true" : "false");
    return std::nullopt;
}

Status collect(const fs::path& path, const toml::table& table, const std::string& prefix,
               ConfigFile& out) {
    for (const auto& [key, node] : table) {
        std::string name = prefix;
        name += std::string(key.str());
        const std::string where = where_of(path, node.source());
        if (const toml::table* sub = node.as_table()) {
            if (auto s = collect(path, *sub, name + ".", out); !s)
                return s;
            continue;
        }
        ConfigValue value;
        value.line = static_cast<int>(node.source().begin.line);
        if (const toml::array* array = node.as_array()) {
            for (const auto& element : *array) {
                auto text = scalar_text(element);
                if (!text) {
                    return Error(ErrorCode::kCorrupt, where + ": " + name +
                                                          ": an array element must be a string, "
                                                          "number or boolean");
                }
                value.values.push_back(std::move(*text));
            }
        } else {
            auto text = scalar_text(node);
            if (!text) {
                return Error(ErrorCode::kCorrupt,
                             where + ": " + name + ": must be a string, number or boolean");
            }
            value.values.push_back(std::move(*text));
        }
        out.entries.emplace(std::move(name), std::move(value));
    }
    return Status::Ok();
}

// The long names of an app's options, without dashes (positionals and --help excluded).
std::set<std::string> option_names(const CLI::App& app) {
    std::set<std::string> names;
    for (const CLI::Option* opt : app.get_options()) {
        for (const auto& n : opt->get_lnames()) {
            if (n != "help" && n != "config" && n != "version")
                names.insert(n);
        }
    }
    return names;
}

// Every command under `app` (itself excluded) with its path: {"analyze"}, {"professional",
// "register"}, ...
void commands_of(const CLI::App& app, std::vector<std::string>& path,
                 std::vector<std::pair<std::vector<std::string>, const CLI::App*>>& out) {
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        path.push_back(sub->get_name());
        out.emplace_back(path, sub);
        commands_of(*sub, path, out);
        path.pop_back();
    }
}

std::string joined(const std::vector<std::string>& parts, const char* separator) {
    std::string s;
    for (const auto& p : parts) {
        if (!s.empty())
            s += separator;
        s += p;
    }
    return s;
}

// The commands the command line selected, outermost first.
std::vector<const CLI::App*> selected_chain(const CLI::App& app) {
    std::vector<const CLI::App*> chain;
    const CLI::App* at = &app;
    for (;;) {
        auto selected = at->get_subcommands();
        if (selected.empty())
            break;
        at = selected.front();
        chain.push_back(at);
    }
    return chain;
}

// The file's value for `option` of the command at `path`: its own table's, else the top level's.
const ConfigValue* lookup(const ConfigFile& file, const std::vector<std::string>& path,
                          const std::string& option, std::string* key) {
    std::string own = joined(path, ".");
    own += '.';
    own += option;
    if (auto it = file.entries.find(own); it != file.entries.end()) {
        *key = own;
        return &it->second;
    }
    if (auto it = file.entries.find(option); it != file.entries.end()) {
        *key = option;
        return &it->second;
    }
    return nullptr;
}

// Options the top level does not reach (config.h, kOwnTableOnly).
bool own_table_only(const std::vector<std::string>& path, const std::string& option) {
    for (const auto& [command, name] : kOwnTableOnly) {
        if (path == std::vector<std::string>{command} && option == name)
            return true;
    }
    return false;
}

bool env_set(const std::string& option) {
    const char* name = env_name(option);
    if (name == nullptr)
        return false;
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0';
}

// Hands the file to CLI11 when it parses: one item per option of the selected commands that the
// file sets and the environment does not (the environment comes before the file; the code reads
// those variables when an option is empty). CLI11 applies an item only to an option the command
// line left empty, and runs the option's own checks on it.
class TomlConfig final : public CLI::Config {
  public:
    TomlConfig(const CLI::App& app, const ConfigFile& file) : app_(app), file_(file) {}

    std::string to_config(const CLI::App*, bool, bool, std::string) const override {
        return "";  // medanchor never writes a configuration file
    }

    std::vector<CLI::ConfigItem> from_config(std::istream&) const override {
        std::vector<CLI::ConfigItem> items;
        std::vector<std::string> path;
        applied_.clear();
        for (const CLI::App* cmd : selected_chain(app_)) {
            path.push_back(cmd->get_name());
            for (const auto& option : option_names(*cmd)) {
                const CLI::Option* opt = cmd->get_option_no_throw("--" + option);
                if (opt == nullptr || opt->count() > 0)
                    continue;  // given on the command line
                std::string key;
                const ConfigValue* value = lookup(file_, path, option, &key);
                if (opt->get_group() == kListenerOptionGroup &&
                    path != std::vector<std::string>{"listen"} &&
                    (value == nullptr || key == option)) {
                    // The listener's table before the top level (config.h).
                    if (auto it = file_.entries.find("listen." + option); it != file_.entries.end())
                        value = &it->second;
                }
                if (value != nullptr && key == option && own_table_only(path, option))
                    value = nullptr;
                if (value == nullptr || env_set(option))
                    continue;
                CLI::ConfigItem item;
                item.parents = path;
                item.name = option;
                item.inputs = value->values;
                items.push_back(std::move(item));
                applied_[joined(path, ".") + "." + option] = value;
            }
        }
        return items;
    }

    const std::map<std::string, const ConfigValue*>& applied_items() const { return applied_; }

    // What from_config() handed over, by "<command path>.<option>".
    const ConfigValue* applied(const std::string& key) const {
        auto it = applied_.find(key);
        return it == applied_.end() ? nullptr : it->second;
    }

  private:
    const CLI::App& app_;
    const ConfigFile& file_;
    mutable std::map<std::string, const ConfigValue*> applied_;
};

}  // namespace

std::string ConfigFile::where(const ConfigValue& v) const {
    std::string w = path.string();
    w += ':';
    w += std::to_string(v.line);
    return w;
}

fs::path default_config_path() {
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0')
        return {};
    return fs::path(home) / ".medanchor" / "medanchor.toml";
}

Result<ConfigFile> load_config(int argc, const char* const* argv) {
    std::string given;
    bool explicit_path = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--config" && i + 1 < argc) {
            given = argv[i + 1];
            explicit_path = true;
        } else if (arg.starts_with("--config=")) {
            given = std::string(arg.substr(std::strlen("--config=")));
            explicit_path = true;
        }
    }
    if (!explicit_path) {
        if (const char* env = std::getenv("MEDANCHOR_CONFIG"); env != nullptr && *env != '\0') {
            given = env;
            explicit_path = true;
        }
    }
    ConfigFile file;
    fs::path path = explicit_path ? fs::path(given) : default_config_path();
    if (path.empty())
        return file;
    std::error_code ec;
    if (!explicit_path && !fs::exists(path, ec))
        return file;  // no file at the default place: defaults apply
    auto text = read_regular_text_file(path, kMaxConfigBytes);
    if (!text) {
        if (text.error().code() == ErrorCode::kNotFound) {
            return Error(ErrorCode::kNotFound, path.string() +
                                                   ": no such configuration file (--config or "
                                                   "$MEDANCHOR_CONFIG)");
        }
        return text.error();
    }
    file.path = path;
    try {
        const toml::table table = toml::parse(*text, path.string());
        if (auto s = collect(path, table, "", file); !s)
            return s.error();
    } catch (const toml::parse_error& e) {
        return Error(ErrorCode::kCorrupt, where_of(path, e.source()) +
                                              ": not valid TOML: " + std::string(e.description()));
    }
    return file;
}

Status attach_config(CLI::App& app, const ConfigFile& file) {
    // Every key must name an option: of some command at the top level, of its table's command
    // otherwise. A typo must not pass silently.
    std::vector<std::pair<std::vector<std::string>, const CLI::App*>> commands;
    std::vector<std::string> path;
    commands_of(app, path, commands);
    std::set<std::string> anywhere;
    std::map<std::string, std::set<std::string>> by_command;
    for (const auto& [p, cmd] : commands) {
        auto names = option_names(*cmd);
        anywhere.insert(names.begin(), names.end());
        by_command[joined(p, ".")] = std::move(names);
    }
    for (const auto& [key, value] : file.entries) {
        const auto dot = key.rfind('.');
        bool known = false;
        std::string hint;
        if (dot == std::string::npos) {
            known = anywhere.contains(key);
            hint = "no command has an option --" + key;
        } else {
            const std::string command = key.substr(0, dot);
            const std::string option = key.substr(dot + 1);
            auto it = by_command.find(command);
            if (it == by_command.end()) {
                std::string words = command;
                std::replace(words.begin(), words.end(), '.', ' ');
                hint = "there is no command `medanchor " + words + "`";
            } else {
                known = it->second.contains(option);
                std::string words = command;
                std::replace(words.begin(), words.end(), '.', ' ');
                hint = "`medanchor " + words + "` has no option --" + option;
            }
        }
        if (!known) {
            return Error(ErrorCode::kInvalidArgument,
                         file.where(value) + ": unknown key \"" + key + "\": " + hint);
        }
    }
    CLI::Option* config = app.set_config("--config", file.path.string(),
                                         "configuration file (default $MEDANCHOR_CONFIG or "
                                         "~/.medanchor/medanchor.toml; docs/config.md)");
    config->type_name("FILE");
    app.config_formatter(std::make_shared<TomlConfig>(app, file));
    return Status::Ok();
}

std::vector<Setting> effective_settings(const CLI::App& app, const ConfigFile& file) {
    const auto config = std::dynamic_pointer_cast<TomlConfig>(app.get_config_formatter());
    std::vector<Setting> settings;
    std::vector<std::string> path;
    for (const CLI::App* cmd : selected_chain(app)) {
        path.push_back(cmd->get_name());
        for (const CLI::Option* opt : cmd->get_options()) {
            const auto& names = opt->get_lnames();
            if (names.empty() || names.front() == "help")
                continue;
            const std::string& option = names.front();
            Setting s;
            s.command = joined(path, " ");
            s.option = option;
            const ConfigValue* from_file =
                config ? config->applied(joined(path, ".") + "." + option) : nullptr;
            // serve's ledger reads no environment variable either (kOwnTableOnly).
            const bool env = env_set(option) && !own_table_only(path, option);
            if (opt->count() > 0) {
                s.value = joined(opt->results(), " ");
                s.source = from_file ? file.where(*from_file) : "flag";
            } else if (env) {
                s.value = std::getenv(env_name(option));
                s.source = std::string("env ") + env_name(option);
            } else {
                s.value = opt->get_default_str();
                s.source = "default";
            }
            s.value = printable(option, s.value);
            settings.push_back(std::move(s));
        }
    }
    return settings;
}

std::string explain_parse_error(const CLI::App& app, const ConfigFile& file,
                                const std::string& message) {
    const auto config = std::dynamic_pointer_cast<TomlConfig>(app.get_config_formatter());
    if (!config)
        return "";
    for (const auto& [key, value] : config->applied_items()) {
        const std::string option = key.substr(key.rfind('.') + 1);
        if (message.find("--" + option) == std::string::npos)
            continue;
        // The file's own key: the command's table, or the top level.
        std::string named = option;
        for (const auto& [k, v] : file.entries) {
            if (&v == value)
                named = k;
        }
        return file.where(*value) + ": " + named + ": " + message;
    }
    return "";
}

bool redacted(const std::string& option) {
    for (const char* word : {"secret", "password", "token", "mnemonic", "passphrase"}) {
        if (option.find(word) != std::string::npos)
            return true;
    }
    return false;
}

std::string printable(const std::string& option, const std::string& value) {
    if (redacted(option))
        return "(hidden)";
    // user:password@ in a URL (a node or PACS behind basic authentication) is a secret too.
    return mask_url_credentials(value);
}

const char* env_name(const std::string& option) {
    if (option == "key-file")
        return "MEDANCHOR_KEY_FILE";
    if (option == "api")
        return "MEDANCHOR_API_URL";
    if (option == "site-key")
        return "MEDANCHOR_SITE_KEY_FILE";
    if (option == "ledger")
        return "MEDANCHOR_LEDGER";
    return nullptr;
}

}  // namespace medanchor::app

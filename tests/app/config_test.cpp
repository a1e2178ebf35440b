// The configuration file through the real binary (docs/config.md): what each setting's source
// is (command line, environment, the command's table, the top level, default), that a setting
// really takes effect, that a typo or a bad value is an error naming FILE:LINE and the key, that
// `config show` never prints what a key file holds, and that the shipped example file is valid.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../image/test_support.h"
#include "common/file_io.h"

namespace medanchor::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CommandResult;
using testing::ScratchDir;

const std::string kHash(64, 'a');

// 'text', built by appending (GCC 12 at -O3 sees a false -Wrestrict in "'" + s + "'").
std::string sh(const std::string& text) {
    std::string q;
    q += '\'';
    q += text;
    q += '\'';
    return q;
}

class Config : public ::testing::Test {
  protected:
    // Runs medanchor with HOME in the scratch folder and no MEDANCHOR_* variable but `env`.
    CommandResult run(const std::string& args, const std::string& env = "") const {
        std::string command =
            "env -u MEDANCHOR_CONFIG -u MEDANCHOR_KEY_FILE -u MEDANCHOR_API_URL "
            "-u MEDANCHOR_SITE_KEY_FILE -u MEDANCHOR_LEDGER HOME=";
        command += sh(dir_.path().string());
        command += ' ';
        command += env;
        command += ' ';
        command += MEDANCHOR_BINARY;
        command += ' ';
        command += args;
        return testing::run_command(command);
    }

    fs::path write(const std::string& name, const std::string& text) const {
        const fs::path p = dir_.path() / name;
        std::ofstream(p) << text;
        return p;
    }

    // The setting `option` of the last command in `config show --json` output.
    static json setting(const CommandResult& r, const std::string& option) {
        const auto j = json::parse(r.output.substr(r.output.find('{')));
        json found;
        for (const auto& s : j.at("settings")) {
            if (s.at("option") == option)
                found = s;
        }
        return found;
    }

    ScratchDir dir_;
};

TEST_F(Config, EachSettingSaysWhereItComesFromAndTheStrongestWins) {
    const fs::path file = write("m.toml",
                                "# line 1\n"
                                "node = \"http://127.0.0.1:1\"\n"
                                "ledger = \"/file/ledger.sqlite\"\n"
                                "[verify]\n"
                                "node = \"http://127.0.0.1:2\"\n");
    const std::string where = file.string() + ":";
    const std::string show =
        "--config " + sh(file.string()) + " config show --json verify --hash " + kHash;

    auto r = run(show);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // The command's own table wins over the top level.
    EXPECT_EQ(setting(r, "node")["value"], "http://127.0.0.1:2");
    EXPECT_EQ(setting(r, "node")["source"], where + "5");
    EXPECT_EQ(setting(r, "ledger")["value"], "/file/ledger.sqlite");
    EXPECT_EQ(setting(r, "ledger")["source"], where + "3");
    EXPECT_EQ(setting(r, "network")["value"], "devnet");
    EXPECT_EQ(setting(r, "network")["source"], "default");

    // The environment wins over the file...
    r = run(show, "MEDANCHOR_LEDGER=/env/ledger.sqlite");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "ledger")["value"], "/env/ledger.sqlite");
    EXPECT_EQ(setting(r, "ledger")["source"], "env MEDANCHOR_LEDGER");

    // ... and the command line over both.
    r = run(show + " --node http://127.0.0.1:3 --ledger /flag/ledger.sqlite",
            "MEDANCHOR_LEDGER=/env/ledger.sqlite");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "node")["value"], "http://127.0.0.1:3");
    EXPECT_EQ(setting(r, "node")["source"], "flag");
    EXPECT_EQ(setting(r, "ledger")["value"], "/flag/ledger.sqlite");
    EXPECT_EQ(setting(r, "ledger")["source"], "flag");
}

TEST_F(Config, TheFileTakesEffectAndTheEnvironmentAndCommandLineOverrideIt) {
    // The site key the file names is the one verify looks for (a missing one: no-key, named).
    const fs::path file = write("m.toml", "site-key = \"/nonexistent/file-site.key\"\n");
    const std::string image =
        (fs::path(MEDANCHOR_SOURCE_DIR) / "samples" / "ct" / "ctsim-42-00000.dcm").string();
    auto r = run("--config " + sh(file.string()) + " verify " + sh(image));
    EXPECT_EQ(r.exit_code, 16) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/file-site.key"), std::string::npos) << r.output;

    r = run("--config " + sh(file.string()) + " verify " + sh(image),
            "MEDANCHOR_SITE_KEY_FILE=/nonexistent/env-site.key");
    EXPECT_EQ(r.exit_code, 16) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/env-site.key"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("file-site.key"), std::string::npos) << r.output;

    r = run("--config " + sh(file.string()) + " verify --site-key /nonexistent/flag-site.key " +
                sh(image),
            "MEDANCHOR_SITE_KEY_FILE=/nonexistent/env-site.key");
    EXPECT_EQ(r.exit_code, 16) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/flag-site.key"), std::string::npos) << r.output;

    // The default file, ~/.medanchor/medanchor.toml, applies without --config.
    fs::create_directories(dir_.path() / ".medanchor");
    std::ofstream(dir_.path() / ".medanchor" / "medanchor.toml")
        << "site-key = \"/nonexistent/home-site.key\"\n";
    r = run("verify " + sh(image));
    EXPECT_EQ(r.exit_code, 16) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/home-site.key"), std::string::npos) << r.output;
}

TEST_F(Config, AnUnknownKeyIsAnErrorNamingFileLineAndKey) {
    const fs::path top = write("top.toml", "network = \"devnet\"\n\nnodee = \"http://x\"\n");
    auto r = run("--config " + sh(top.string()) + " config show");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(top.string() + ":3"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"nodee\""), std::string::npos) << r.output;

    const fs::path table = write("table.toml", "[analyze]\nmodle = \"m\"\n");
    r = run("--config " + sh(table.string()) + " verify --hash " + kHash);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(table.string() + ":2"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("analyze.modle"), std::string::npos) << r.output;

    const fs::path command = write("command.toml", "[analyse]\nmodel = \"m\"\n");
    r = run("--config " + sh(command.string()) + " config show");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("medanchor analyse"), std::string::npos) << r.output;

    const fs::path broken = write("broken.toml", "node = \"http://x\"\nnode = = 3\n");
    r = run("--config " + sh(broken.string()) + " config show");
    EXPECT_EQ(r.exit_code, 14) << r.output;
    EXPECT_NE(r.output.find(broken.string() + ":2"), std::string::npos) << r.output;

    r = run("--config " + sh((dir_.path() / "absent.toml").string()) + " config show");
    EXPECT_EQ(r.exit_code, 13) << r.output;
    EXPECT_NE(r.output.find("absent.toml"), std::string::npos) << r.output;
}

TEST_F(Config, ABadValueIsAnErrorNamingFileLineAndKey) {
    const fs::path file = write("m.toml", "[analyze]\nbatch = 8\nthreads = \"many\"\n");
    auto r = run("--config " + sh(file.string()) + " analyze " + sh(dir_.path().string()));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(file.string() + ":3"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("threads"), std::string::npos) << r.output;
}

// The anchor mode and the Merkle root's size and interval: settable at the top level for every
// command that anchors (analyze, sync), and refused, naming the value, when out of bounds.
TEST_F(Config, TheAnchorModeAndRootBoundsAreSettingsCheckedForTheirValues) {
    const fs::path file =
        write("m.toml", "anchor-mode = \"merkle\"\nroot-size = 1000\n[analyze]\nroot-every = 30\n");
    auto r = run("--config " + sh(file.string()) + " config show --json analyze scans/");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "anchor-mode")["value"], "merkle");
    EXPECT_EQ(setting(r, "root-size")["value"], "1000");
    EXPECT_EQ(setting(r, "root-every")["value"], "30");
    r = run("--config " + sh(file.string()) + " config show --json sync");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "anchor-mode")["value"], "merkle");
    EXPECT_EQ(setting(r, "root-size")["source"].get<std::string>(), file.string() + ":2");
    r = run("config show --json sync");
    EXPECT_EQ(setting(r, "anchor-mode")["value"], "records");
    EXPECT_EQ(setting(r, "root-size")["value"], "100000");

    for (const std::string& bad :
         {std::string("--anchor-mode tree"), std::string("--root-size 0"),
          std::string("--root-size 1048577"), std::string("--root-every -1")}) {
        r = run("analyze " + sh(dir_.path().string()) + " " + bad);
        EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output;
        EXPECT_NE(r.output.find(bad.substr(bad.find(' ') + 1)), std::string::npos)
            << bad << ": the value is named: " << r.output;
    }
    const fs::path wrong = write("w.toml", "[sync]\nanchor-mode = \"trees\"\n");
    r = run("--config " + sh(wrong.string()) + " sync");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(wrong.string() + ":2"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("trees"), std::string::npos) << r.output;
}

TEST_F(Config, ShowNeverPrintsAKeyFilesContents) {
    const fs::path key = dir_.path() / "analyst.key";
    auto made = run("keys new --out " + sh(key.string()));
    ASSERT_EQ(made.exit_code, 0) << made.output;
    auto secret = read_regular_text_file(key, 4096);
    ASSERT_TRUE(secret);
    std::string content = *secret;
    while (!content.empty() && (content.back() == '\n' || content.back() == ' '))
        content.pop_back();
    ASSERT_GE(content.size(), 32u);
    const fs::path file = write("m.toml", "key-file = " + sh(key.string()) + "\n" +
                                              "site-key = " + sh(key.string()) + "\n");
    for (const std::string& args : std::vector<std::string>{
             " config show", " config show --json",
             " config show professional register --specialty radiology --credential-hash " + kHash,
             " config show --json review 1 --confirm --note-file x"}) {
        auto r = run("--config " + sh(file.string()) + args);
        EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
        EXPECT_NE(r.output.find(key.string()), std::string::npos) << args << ": " << r.output;
        EXPECT_EQ(r.output.find(content), std::string::npos) << args << ": the key was printed";
    }
}

// A node behind basic authentication: its password is a secret, wherever the URL comes from.
TEST_F(Config, ShowMasksTheUserAndPasswordOfAUrl) {
    const fs::path file = write("u.toml",
                                "node = \"http://alice:s3cr3t@127.0.0.1:9/\"\n"
                                "api = \"https://bob:hunter2@api.example:3999\"\n");
    for (const std::string& args :
         std::vector<std::string>{" config show", " config show --json",
                                  " config show sync --api https://carol:pa55@h:1/x"}) {
        auto r = run("--config " + sh(file.string()) + args);
        EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
        for (const char* secret : {"s3cr3t", "alice", "hunter2", "pa55"})
            EXPECT_EQ(r.output.find(secret), std::string::npos) << args << ": " << r.output;
        EXPECT_NE(r.output.find("***@"), std::string::npos) << args << ": " << r.output;
    }
    // From the environment, and in an error message.
    auto r = run("config show", "MEDANCHOR_API_URL=http://dave:envpa55@h:1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("envpa55"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("http://***@h:1"), std::string::npos) << r.output;
    r = run("verify --hash " + kHash + " --node http://erin:nodepa55@127.0.0.1:9");
    EXPECT_EQ(r.exit_code, 9) << r.output;  // nothing listens on port 9: a network error
    EXPECT_EQ(r.output.find("nodepa55"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("http://***@127.0.0.1:9"), std::string::npos) << r.output;
    for (const std::string& args : {std::string("sync http://frank:argpa55@h:1"),
                                    std::string("config show sync http://frank:argpa55@h:1")}) {
        r = run(args);
        EXPECT_EQ(r.exit_code, 2) << r.output;
        EXPECT_EQ(r.output.find("argpa55"), std::string::npos) << args << ": " << r.output;
    }
}

// `config show CMD --help` is that command's help, as `CMD --help`, and no error.
TEST_F(Config, ShowWithHelpPrintsTheCommandsHelp) {
    auto help = run("sync --help");
    ASSERT_EQ(help.exit_code, 0) << help.output;
    auto r = run("config show sync --help");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, help.output);
}

TEST_F(Config, TheExampleFileIsValid) {
    const std::string example =
        (fs::path(MEDANCHOR_SOURCE_DIR) / "settings" / "medanchor.toml.example").string();
    auto r = run("--config " + sh(example) + " config show --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run("--config " + sh(example) + " config show --json analyze scans/");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "model")["value"], "models/ct-nodule-sim");
    EXPECT_NE(setting(r, "model")["source"].get<std::string>().find("medanchor.toml.example:"),
              std::string::npos);
    EXPECT_EQ(setting(r, "saliency")["value"], "true");
    // "~/" is the home folder.
    EXPECT_EQ(setting(r, "site-key")["value"], (dir_.path() / ".medanchor" / "site.key").string());
    r = run("--config " + sh(example) + " config show --json serve");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "listen")["value"], "127.0.0.1:8080");
    EXPECT_EQ(setting(r, "data")["value"], (dir_.path() / ".medanchor" / "serve").string());
}

// `medanchor serve` reads its [serve] table like every command: the listen address, TLS files
// and limits show with their FILE:LINE, a TLS key shows as its path, and a value from the file
// really reaches the server (a listen address it cannot parse is refused, naming --listen).
TEST_F(Config, TheServeTableSetsTheServer) {
    const fs::path key = write("tls.key", "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n");
    const fs::path file = write("m.toml",
                                "[serve]\n"
                                "listen = \"127.0.0.1:18999\"\n"
                                "tls-key = " +
                                    sh(key.string()) +
                                    "\n"
                                    "max-upload-mb = 12\n");
    auto r = run("--config " + sh(file.string()) + " config show --json serve");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "listen")["value"], "127.0.0.1:18999");
    EXPECT_EQ(setting(r, "listen")["source"], file.string() + ":2");
    EXPECT_EQ(setting(r, "max-upload-mb")["value"], "12");
    EXPECT_EQ(setting(r, "tls-key")["value"], key.string());
    EXPECT_EQ(r.output.find("not-a-real-key"), std::string::npos) << r.output;

    const fs::path bad = write("bad.toml", "[serve]\nlisten = \"127.0.0.1:http\"\n");
    r = run("--config " + sh(bad.string()) + " serve --data " + sh((dir_.path() / "d").string()));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--listen"), std::string::npos) << r.output;
}

// `serve --ledger` and `--spool` (docs/scale.md, "Front ends") come from [serve] only: the
// top-level `ledger` (analyze's, in the shipped example) does not move the server's ledger.
TEST_F(Config, TheTopLevelLedgerIsNotTheServers) {
    const fs::path top = write("top.toml", "ledger = \"/srv/ledger.sqlite\"\n");
    auto r = run("--config " + sh(top.string()) + " config show --json serve");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "ledger")["source"], "default") << r.output;
    r = run("--config " + sh(top.string()) + " config show --json analyze scans/");
    EXPECT_EQ(setting(r, "ledger")["value"], "/srv/ledger.sqlite");  // still analyze's
    const fs::path own = write("own.toml",
                               "ledger = \"/srv/ledger.sqlite\"\n[serve]\n"
                               "ledger = \"postgresql://db.example/scans\"\n"
                               "spool = \"/mnt/shared/spool\"\n");
    r = run("--config " + sh(own.string()) + " config show --json serve");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "ledger")["value"], "postgresql://db.example/scans");
    EXPECT_EQ(setting(r, "ledger")["source"], own.string() + ":3");
    EXPECT_EQ(setting(r, "spool")["value"], "/mnt/shared/spool");
}

// `serve --listen-dicom` reads the listener's options from the [listen] table (after its own
// [serve] table, before the top level), and only those: [listen]'s data folder is not serve's.
TEST_F(Config, TheListenTableSetsTheListenerInServe) {
    const fs::path file = write("m.toml",
                                "max-pdu = 8192\n"
                                "[listen]\n"
                                "stable-after = 7\n"
                                "ae-title = \"PACSNODE\"\n"
                                "max-pdu = 16384\n"
                                "workers = 3\n"
                                "data = \"/nowhere/listen\"\n"
                                "[serve]\n"
                                "workers = 9\n");
    auto r = run("--config " + sh(file.string()) + " config show --json serve");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "stable-after")["value"], "7");
    EXPECT_EQ(setting(r, "stable-after")["source"], file.string() + ":3");
    EXPECT_EQ(setting(r, "ae-title")["value"], "PACSNODE");
    EXPECT_EQ(setting(r, "max-pdu")["value"], "16384");  // [listen] before the top level
    EXPECT_EQ(setting(r, "workers")["value"], "9");      // [serve] before [listen]
    EXPECT_EQ(setting(r, "data")["source"], "default");
    r = run("--config " + sh(file.string()) + " config show --json listen");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(setting(r, "workers")["value"], "3");
    EXPECT_EQ(setting(r, "data")["value"], "/nowhere/listen");
}

}  // namespace
}  // namespace medanchor::app

// The exit-code table is a promise to scripts: `medanchor --help` prints it, the README documents
// it, and every malformed command line exits 2 (invalid-argument), never CLI11's own 100+ codes.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "../image/test_support.h"

namespace medanchor::app {
namespace {

using testing::quote;
using testing::run_command;

std::map<int, std::string> codes_in(const std::string& text, const std::regex& row) {
    std::map<int, std::string> codes;
    for (std::sregex_iterator it(text.begin(), text.end(), row), end; it != end; ++it)
        codes[std::stoi((*it)[1])] = (*it)[2];
    return codes;
}

TEST(ExitCodes, HelpAndReadmeListTheSameDistinctCodes) {
    const auto help = run_command(quote(MEDANCHOR_BINARY) + " --help");
    ASSERT_EQ(help.exit_code, 0) << help.output;
    const auto line_start = help.output.find("Exit codes:");
    ASSERT_NE(line_start, std::string::npos) << help.output;
    const auto from_help =
        codes_in(help.output.substr(line_start), std::regex(R"(; (\d+) ([a-z-]+))"));

    std::ifstream readme(std::string(MEDANCHOR_SOURCE_DIR) + "/README.md");
    std::stringstream text;
    text << readme.rdbuf();
    const auto from_readme = codes_in(text.str(), std::regex(R"(\n\| (\d+) \| ([a-z-]+) \|)"));

    EXPECT_GE(from_help.size(), 18u);
    EXPECT_EQ(from_help, from_readme);
    // verify's verdicts keep the numbers the README has always given them.
    EXPECT_EQ(from_help.at(3), "not-anchored");
    EXPECT_EQ(from_help.at(5), "report-mismatch");
}

TEST(ExitCodes, AMalformedCommandLineIsInvalidArgument) {
    for (const char* args :
         {" --no-such-flag", " hash", " analyze --threads x y.dcm", " no-such-command",
          // serve's DICOM listener: a malformed [AE@][ADDR:]PORT, an empty or too long AE
          // title, a port out of range, a listener option out of range, --listen-as alone.
          " serve --listen-dicom MEDANCHOR@abc --listen-as u",
          " serve --listen-dicom @11112 --listen-as u",
          " serve --listen-dicom ABCDEFGHIJKLMNOPQ@11112 --listen-as u",
          " serve --listen-dicom 70000 --listen-as u",
          " serve --listen-dicom 11112 --listen-as u --stable-after -1", " serve --listen-as u"}) {
        SCOPED_TRACE(args);
        const auto r = run_command(quote(MEDANCHOR_BINARY) + args);
        EXPECT_EQ(r.exit_code, 2) << r.output;
    }
    EXPECT_EQ(run_command(quote(MEDANCHOR_BINARY) + " --version").exit_code, 0);
    EXPECT_EQ(run_command(quote(MEDANCHOR_BINARY) + " hash --help").exit_code, 0);
}

}  // namespace
}  // namespace medanchor::app

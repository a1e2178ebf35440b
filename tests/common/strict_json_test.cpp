// common/strict_json: what the strict parser and the object reader refuse that nlohmann's
// defaults accept, and the "SOURCE: field PATH problem" form of every message.
#include "common/strict_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace medanchor {
namespace {

TEST(StrictJson, RefusesARepeatedKeyAtAnyDepth) {
    for (const char* text : {R"({"a": 1, "a": 2})", R"({"o": {"b": 1, "c": 2, "b": 3}})",
                             R"([{"x": 1}, {"y": 1, "y": 1}])"}) {
        auto parsed = parse_strict_json(text, "in.json");
        ASSERT_FALSE(parsed.ok()) << text;
        EXPECT_EQ(parsed.error().code(), ErrorCode::kCorrupt);
        EXPECT_EQ(parsed.error().message().rfind("in.json: an object repeats the key", 0), 0u);
    }
    // The same key in sibling objects is no repetition.
    EXPECT_TRUE(parse_strict_json(R"([{"x": 1}, {"x": 2}])", "in.json").ok());
}

TEST(StrictJson, RefusesMalformedTextAndNamesTheSource) {
    for (const char* text : {"", "{", "{\"a\": }", "[1,]", "{\"a\": 1} x", "\"\xff\""}) {
        auto parsed = parse_strict_json(text, "in.json");
        ASSERT_FALSE(parsed.ok()) << text;
        EXPECT_EQ(parsed.error().code(), ErrorCode::kCorrupt);
        EXPECT_EQ(parsed.error().message(), "in.json: not well-formed JSON (or not UTF-8)");
    }
}

// Keys come from whoever wrote the document: a message shows them escaped and cut, so a file
// cannot put a terminal code or a forged line on the user's screen.
TEST(StrictJson, MessagesShowTheDocumentsKeysEscapedAndBounded) {
    auto repeated =
        parse_strict_json("{\"\\u001b[31mX\\n\": 1, \"\\u001b[31mX\\n\": 2}", "in.json");
    ASSERT_FALSE(repeated.ok());
    const std::string& m = repeated.error().message();
    EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_NE(m.find("\\x1b[31mX\\n"), std::string::npos) << m;

    auto doc = parse_strict_json("{\"" + std::string(5000, 'k') + "\\u0007\": 1}", "in.json");
    ASSERT_TRUE(doc.ok());
    auto reader = JsonObjectReader::open(*doc, "in.json");
    ASSERT_TRUE(reader.ok());
    auto unknown = reader->finish();
    ASSERT_FALSE(unknown.ok());
    const std::string& u = unknown.error().message();
    EXPECT_LT(u.size(), 200u) << "a 5,000-byte key is cut";
    EXPECT_EQ(u.find('\a'), std::string::npos);
    EXPECT_NE(u.find(std::string(64, 'k') + "..."), std::string::npos) << u;
    EXPECT_EQ(quote_for_message("plain"), "plain");
}

TEST(JsonObjectReader, ReadsAskedMembersAndRefusesTheRest) {
    auto doc = parse_strict_json(R"({"s": "text", "n": 7, "o": {"deep": 1}, "a": [1, 2]})", "f");
    ASSERT_TRUE(doc.ok());
    auto top = JsonObjectReader::open(*doc, "f");
    ASSERT_TRUE(top.ok());
    EXPECT_EQ(*top->string("s", 4), "text");
    EXPECT_EQ(*top->integer("n", 7), 7u);
    auto a = top->array("a", 2);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ((*a)->size(), 2u);
    auto o = top->object("o");
    ASSERT_TRUE(o.ok());
    const Status inner = o->finish();
    ASSERT_FALSE(inner.ok());
    EXPECT_EQ(inner.error().message(), "f: field o.deep is not a known field");
    EXPECT_TRUE(top->finish().ok());
}

TEST(JsonObjectReader, EachProblemIsNamed) {
    auto doc = parse_strict_json(
        R"({"s": "text", "e": "", "n": 8, "neg": -1, "f": 1.5, "x": 1e2, "a": [1, 2, 3]})", "f");
    ASSERT_TRUE(doc.ok());
    auto top = JsonObjectReader::open(*doc, "f");
    ASSERT_TRUE(top.ok());
    EXPECT_EQ(top->string("s", 3).error().message(), "f: field s is longer than 3 bytes");
    EXPECT_EQ(top->string("n", 3).error().message(), "f: field n is not a string");
    EXPECT_EQ(top->string("e", 3).error().message(), "f: field e is empty");
    EXPECT_EQ(top->integer("n", 7).error().message(), "f: field n is above 7");
    for (const char* key : {"neg", "f", "x", "s"}) {
        EXPECT_EQ(top->integer(key, 100).error().message(),
                  std::string("f: field ") + key + " is not a non-negative integer");
    }
    EXPECT_EQ(top->array("a", 2).error().message(), "f: field a has more than 2 items");
    EXPECT_EQ(top->array("s", 2).error().message(), "f: field s is not an array");
    EXPECT_EQ(top->object("s").error().message(), "f: field s is not an object");
    EXPECT_EQ(top->member("missing").error().message(), "f: field missing is missing");
    EXPECT_EQ(JsonObjectReader::open(nlohmann::json::array(), "f").error().message(),
              "f: the document is not an object");
}

}  // namespace
}  // namespace medanchor

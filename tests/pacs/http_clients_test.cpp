// The DICOMweb, FHIR and Orthanc clients against what a real server cannot easily be made to do:
// a loopback HTTP server (cpp-httplib) that records requests and answers errors or nonsense. The
// STOW-RS body is checked with Python's email package, an independent MIME parser. The same
// clients against a real Orthanc are in orthanc_test.cpp.
#include <gtest/gtest.h>

#include "common/encoding.h"
#include "image/test_support.h"
#include "pacs/dicomweb.h"
#include "pacs/fhir_client.h"
#include "pacs/orthanc_client.h"
#include "support/loopback_http_server.h"

namespace medanchor::pacs {
namespace {

using testing::LoopbackHttpServer;
using testing::quote;
using testing::run_command;

// Python's email parser splits the body by the boundary the Content-Type names: prints, per
// part, its Content-Type and its payload's length and SHA-256. (It turns CRLF inside a part into
// LF, so the parts here hold every byte value but those two; Orthanc's STOW-RS in orthanc_test.cpp
// takes real instances byte for byte.)
TEST(StowBody, IsMultipartRelatedThatAMimeParserSplitsIntoTheInstances) {
    const std::vector<std::uint8_t> a{'D', 'I', 'C', 'M', 0, 1, 2, '-', '-', 0xff};
    std::vector<std::uint8_t> b;
    for (int i = 0; i < 5000; ++i) {
        const auto byte = static_cast<std::uint8_t>(i * 31);
        if (byte != '\r' && byte != '\n')
            b.push_back(byte);
    }
    const std::vector<std::span<const std::uint8_t>> parts{a, b};
    const StowBody body = stow_body(parts);
    EXPECT_EQ(
        body.content_type.rfind("multipart/related; type=\"application/dicom\"; boundary=", 0), 0u);

    testing::ScratchDir dir;
    testing::write_bytes(dir / "message", [&] {
        std::string m = "Content-Type: " + body.content_type + "\r\n\r\n";
        m += body.body;
        return std::vector<std::uint8_t>(m.begin(), m.end());
    }());
    const auto parsed = run_command(
        "python3 -c 'import sys, email, hashlib\n"
        "m = email.message_from_binary_file(open(sys.argv[1], \"rb\"))\n"
        "print(m.get_content_type(), m.get_param(\"type\"))\n"
        "for p in m.get_payload():\n"
        "    d = p.get_payload(decode=True)\n"
        "    print(p.get_content_type(), len(d), hashlib.sha256(d).hexdigest())' " +
        quote(dir / "message"));
    ASSERT_EQ(parsed.exit_code, 0) << parsed.output;
    EXPECT_EQ(parsed.output,
              "multipart/related application/dicom\n"
              "application/dicom 10 " +
                  to_hex(sha256(a)) + "\napplication/dicom " + std::to_string(b.size()) + " " +
                  to_hex(sha256(b)) + "\n");
}

TEST(DicomWebClient, SendsStowRsAndReadsTheReceipt) {
    LoopbackHttpServer server;
    std::string accept, type;
    server.server().Post("/dicom-web/studies", [&](const httplib::Request& req,
                                                   httplib::Response& res) {
        accept = req.get_header_value("Accept");
        type = req.get_header_value("Content-Type");
        res.status = 202;
        res.set_content(
            R"({"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.3"]}}]},
                            "00081198": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.4"]},
                                                                "00081197": {"vr": "US", "Value": [42752]}}]}})",
            "application/dicom+json");
    });
    auto client = DicomWebClient::create(server.url() + "/dicom-web/");
    ASSERT_TRUE(client.ok());
    const std::vector<std::uint8_t> instance(10, 1);
    const std::vector<std::span<const std::uint8_t>> parts{instance};
    auto receipt = client->store(parts);
    ASSERT_TRUE(receipt.ok()) << receipt.error().message();
    EXPECT_EQ(receipt->http_status, 202);
    EXPECT_EQ(receipt->stored, std::vector<std::string>{"1.2.3"});
    ASSERT_EQ(receipt->failed.size(), 1u);
    EXPECT_EQ(receipt->failed[0].first, "1.2.4");
    EXPECT_EQ(receipt->failed[0].second, 0xA700);
    EXPECT_EQ(accept, "application/dicom+json");
    EXPECT_EQ(type, stow_body(parts).content_type);
}

// A receipt whose sequences hold things that are not items, or a Failure Reason that does not fit a
// US, is read as far as it makes sense: no exception escapes (it once ended the process).
TEST(DicomWebClient, AMalformedReceiptIsReadWithoutThrowing) {
    LoopbackHttpServer server;
    server.server().Post("/dicom-web/studies", [&](const httplib::Request&,
                                                   httplib::Response& res) {
        res.status = 202;
        res.set_content(
            R"({"00081199": {"vr": "SQ", "Value": [1, "x", {"00081155": {"vr": "UI", "Value": ["1.2.3"]}}]},
                "00081198": {"vr": "SQ", "Value": [[], {"00081155": {"vr": "UI", "Value": ["1.2.4"]},
                                                        "00081197": {"vr": "US", "Value": [70000]}},
                                                   {"00081155": {"vr": "UI", "Value": ["1.2.5"]},
                                                        "00081197": {"vr": "US", "Value": ["-1"]}}]}})",
            "application/dicom+json");
    });
    auto client = DicomWebClient::create(server.url() + "/dicom-web/");
    ASSERT_TRUE(client.ok());
    const std::vector<std::uint8_t> instance(10, 1);
    const std::vector<std::span<const std::uint8_t>> parts{instance};
    auto receipt = client->store(parts);
    ASSERT_TRUE(receipt.ok()) << receipt.error().message();
    EXPECT_EQ(receipt->stored, std::vector<std::string>{"1.2.3"});
    ASSERT_EQ(receipt->failed.size(), 2u);
    EXPECT_EQ(receipt->failed[0], (std::pair<std::string, std::uint16_t>{"1.2.4", 0}));
    EXPECT_EQ(receipt->failed[1], (std::pair<std::string, std::uint16_t>{"1.2.5", 0}));
}

TEST(DicomWebClient, ErrorsNameTheUrlAndStatus) {
    LoopbackHttpServer server;
    server.server().Post("/dicom-web/studies", [](const httplib::Request&, httplib::Response& res) {
        res.status = 415;
        res.set_content("unsupported\x1b[31m", "text/plain");
    });
    server.server().Get("/dicom-web/studies",
                        [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    auto client = DicomWebClient::create(server.url() + "/dicom-web");
    ASSERT_TRUE(client.ok());
    const std::vector<std::uint8_t> instance(10, 1);
    const std::vector<std::span<const std::uint8_t>> parts{instance};
    auto refused = client->store(parts);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kRejected);
    EXPECT_EQ(refused.error().message(),
              "STOW-RS " + server.url() + "/dicom-web/studies: HTTP 415: unsupported\\x1b[31m");
    auto none = client->search("studies");
    ASSERT_TRUE(none.ok()) << none.error().message();
    EXPECT_TRUE(none->empty());
    auto missing = client->search("nowhere");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

    EXPECT_EQ(DicomWebClient::create("ftp://pacs/dicom-web").error().code(),
              ErrorCode::kInvalidArgument);
}

TEST(FhirClient, PostsTheBundleAsFhirJson) {
    LoopbackHttpServer server;
    std::string body, type;
    server.server().Post("/fhir/Bundle", [&](const httplib::Request& req, httplib::Response& res) {
        body = req.body;
        type = req.get_header_value("Content-Type");
        res.status = 201;
        res.set_content(R"({"resourceType":"Bundle","id":"7"})", "application/fhir+json");
    });
    server.server().Post("/fhir/bad", [](const httplib::Request&, httplib::Response& res) {
        res.status = 422;
        res.set_content(R"({"resourceType":"OperationOutcome"})", "application/fhir+json");
    });
    auto client = FhirClient::create(server.url() + "/fhir/Bundle");
    ASSERT_TRUE(client.ok());
    auto posted = client->post_bundle(R"({"resourceType":"Bundle","type":"collection"})");
    ASSERT_TRUE(posted.ok()) << posted.error().message();
    EXPECT_EQ(posted->http_status, 201);
    EXPECT_EQ(posted->body, R"({"resourceType":"Bundle","id":"7"})");
    EXPECT_EQ(body, R"({"resourceType":"Bundle","type":"collection"})");
    EXPECT_EQ(type, "application/fhir+json");

    auto bad = FhirClient::create(server.url() + "/fhir/bad")->post_bundle("{}");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code(), ErrorCode::kRejected);
    EXPECT_NE(bad.error().message().find("OperationOutcome"), std::string::npos);
    EXPECT_NE(bad.error().message().find(server.url() + "/fhir/bad"), std::string::npos);
}

// What passes and what does not: 408 and 429 are told as timeout and network (a caller tries
// again), another 4xx as rejected, 404 as not-found (a caller gives up), 5xx as network.
TEST(FhirClient, TellsAPassingRefusalFromAFinalOne) {
    LoopbackHttpServer server;
    for (int status : {404, 408, 410, 429, 503}) {
        server.server().Post(
            "/fhir/" + std::to_string(status),
            [status](const httplib::Request&, httplib::Response& res) { res.status = status; });
    }
    const auto code = [&](int status) {
        auto r =
            FhirClient::create(server.url() + "/fhir/" + std::to_string(status))->post_bundle("{}");
        return r.ok() ? ErrorCode::kInternal : r.error().code();
    };
    EXPECT_EQ(code(404), ErrorCode::kNotFound);
    EXPECT_EQ(code(408), ErrorCode::kTimeout);
    EXPECT_EQ(code(410), ErrorCode::kRejected);
    EXPECT_EQ(code(429), ErrorCode::kNetwork);
    EXPECT_EQ(code(503), ErrorCode::kNetwork);
}

TEST(FhirClient, NamesAServerNobodyAnswersFor) {
    int port = 0;
    {
        LoopbackHttpServer gone;
        port = gone.port();
    }
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/fhir";
    auto posted = FhirClient::create(url, std::chrono::seconds(2))->post_bundle("{}");
    ASSERT_FALSE(posted.ok());
    EXPECT_EQ(posted.error().code(), ErrorCode::kNetwork);
    EXPECT_EQ(posted.error().message().rfind(url, 0), 0u) << posted.error().message();
}

// An Orthanc that says "not done" without moving on would keep a follower busy for ever.
TEST(OrthancClient, StopsFollowingAFeedThatDoesNotAdvance) {
    LoopbackHttpServer server;
    int pages = 0;
    server.server().Get("/changes", [&](const httplib::Request&, httplib::Response& res) {
        ++pages;
        res.set_content(R"({"Changes": [], "Done": false, "Last": 5})", "application/json");
    });
    auto client = OrthancClient::create(server.url());
    ASSERT_TRUE(client.ok());
    auto followed = client->follow_changes(5, [](const OrthancChange&) { return Status::Ok(); });
    ASSERT_FALSE(followed.ok());
    EXPECT_EQ(followed.error().code(), ErrorCode::kNetwork);
    EXPECT_EQ(pages, 1);
}

// Identifiers from an answer go into URLs: one that is not an Orthanc identifier is refused.
TEST(OrthancClient, RefusesChangesWithoutAValidIdentifierOrOutOfOrder) {
    LoopbackHttpServer server;
    std::string answer;
    server.server().Get("/changes", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(answer, "application/json");
    });
    auto client = OrthancClient::create(server.url());
    ASSERT_TRUE(client.ok());
    const std::string id = "0123abcd-0123abcd-0123abcd-0123abcd-0123abcd";
    answer = R"({"Changes": [{"Seq": 3, "ChangeType": "StableSeries", "ResourceType": "Series",
                 "ID": "../../tools/reset"}], "Done": true, "Last": 3})";
    EXPECT_EQ(client->changes(0).error().code(), ErrorCode::kNetwork);
    answer = R"({"Changes": [{"Seq": 3, "ID": ")" + id + R"("}, {"Seq": 2, "ID": ")" + id +
             R"("}], "Done": true, "Last": 3})";
    EXPECT_EQ(client->changes(0).error().code(), ErrorCode::kNetwork);
    answer = R"({"Changes": [{"Seq": 3, "ChangeType": "StableSeries", "ResourceType": "Series",
                 "ID": ")" +
             id + R"("}], "Done": true, "Last": 3})";
    auto page = client->changes(0);
    ASSERT_TRUE(page.ok()) << page.error().message();
    ASSERT_EQ(page->changes.size(), 1u);
    EXPECT_EQ(page->changes[0].change_type, "StableSeries");
    EXPECT_EQ(page->changes[0].id, id);
    answer = "<html>not orthanc</html>";
    EXPECT_EQ(client->changes(0).error().code(), ErrorCode::kNetwork);
}

TEST(OrthancClient, ChecksIdentifiersAndModalityNamesBeforeAnyRequest) {
    EXPECT_TRUE(is_orthanc_id("0123abcd-0123abcd-0123abcd-0123abcd-0123abcd"));
    EXPECT_FALSE(is_orthanc_id("0123ABCD-0123abcd-0123abcd-0123abcd-0123abcd"));
    EXPECT_FALSE(is_orthanc_id("0123abcd-0123abcd-0123abcd-0123abcd-0123abc/"));
    EXPECT_FALSE(is_orthanc_id("0123abcd0-123abcd-0123abcd-0123abcd-0123abcd"));
    auto client = OrthancClient::create("http://127.0.0.1:1");
    ASSERT_TRUE(client.ok());
    EXPECT_EQ(client->instance_file("x/../y").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(client->send_to_modality("a/b", {}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(client->send_to_modality("pacs", {"nope"}).error().code(),
              ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medanchor::pacs

// The HTTP client against a real server on loopback (cpp-httplib): what it sends, what it hands
// back, and the bounds it keeps. Retries and timeouts as the node client uses them are in
// tests/stacks/node_client_test.cpp.
#include "common/http.h"

#include <gtest/gtest.h>

#include "support/loopback_http_server.h"

namespace medanchor {
namespace {

using testing::LoopbackHttpServer;

TEST(HttpClient, SendsExtraHeadersAndReportsTheContentType) {
    LoopbackHttpServer server;
    server.server().Get("/qido", [](const httplib::Request& req, httplib::Response& res) {
        res.set_content("[" + req.get_header_value("Accept") + "]", "application/dicom+json");
    });
    HttpClient client;
    HttpRequest request;
    request.url = server.url() + "/qido";
    request.headers = {{"Accept", "application/dicom+json"}};
    auto response = client.send(request);
    ASSERT_TRUE(response.ok()) << response.error().message();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "[application/dicom+json]");
    EXPECT_EQ(response->content_type, "application/dicom+json");
}

TEST(HttpClient, PostsBinaryBodiesWithTheirContentType) {
    LoopbackHttpServer server;
    std::string seen_body, seen_type;
    server.server().Post("/instances", [&](const httplib::Request& req, httplib::Response& res) {
        seen_body = req.body;
        seen_type = req.get_header_value("Content-Type");
        res.status = 201;
    });
    // Two megabytes with NULs in it: past the size at which libcurl would otherwise ask for
    // "100-continue", and not a C string.
    std::string body(2 << 20, '\0');
    for (std::size_t i = 0; i < body.size(); i += 7)
        body[i] = static_cast<char>(i);
    HttpClient client;
    auto response = client.post(server.url() + "/instances", body, "application/dicom");
    ASSERT_TRUE(response.ok()) << response.error().message();
    EXPECT_EQ(response->status, 201);
    EXPECT_EQ(seen_type, "application/dicom");
    EXPECT_TRUE(seen_body == body);
}

TEST(HttpClient, RefusesABodyPastTheRequestBound) {
    LoopbackHttpServer server;
    server.server().Get("/big", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(std::string(100000, 'x'), "application/octet-stream");
    });
    HttpClient client;
    HttpRequest request;
    request.url = server.url() + "/big";
    request.max_response_bytes = 99999;
    auto refused = client.send(request);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kTooLarge);
    EXPECT_EQ(refused.error().message().rfind(request.url, 0), 0u) << refused.error().message();
    request.max_response_bytes = 100000;
    auto accepted = client.send(request);
    ASSERT_TRUE(accepted.ok()) << accepted.error().message();
    EXPECT_EQ(accepted->body.size(), 100000u);
}

TEST(HttpClient, NamesTheUrlWhenNothingAnswers) {
    int port = 0;
    {
        LoopbackHttpServer closed;  // a port that was just free, now closed again
        port = closed.port();
    }
    HttpClient client(std::chrono::seconds(2));
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/changes";
    auto response = client.get(url);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().code(), ErrorCode::kNetwork);
    EXPECT_EQ(response.error().message().rfind(url, 0), 0u) << response.error().message();
}

// A node or PACS behind basic authentication: the URL's password reaches the server, never a
// message.
TEST(HttpClient, SendsAUrlsCredentialsButNeverNamesThem) {
    LoopbackHttpServer server;
    server.server().Get("/x", [](const httplib::Request& req, httplib::Response& res) {
        res.set_content(req.get_header_value("Authorization"), "text/plain");
    });
    HttpClient client(std::chrono::seconds(2));
    auto response =
        client.get("http://alice:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/x");
    ASSERT_TRUE(response.ok()) << response.error().message();
    EXPECT_EQ(response->body, "Basic YWxpY2U6czNjcmV0");  // base64("alice:s3cret")

    int port = 0;
    {
        LoopbackHttpServer closed;
        port = closed.port();
    }
    auto failed = client.get("http://alice:s3cret@127.0.0.1:" + std::to_string(port) + "/x");
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().message().find("s3cret"), std::string::npos)
        << failed.error().message();
    EXPECT_EQ(failed.error().message().rfind("http://***@127.0.0.1:", 0), 0u)
        << failed.error().message();
}

TEST(MaskUrlCredentials, MasksEveryUrlsUserAndPasswordOnly) {
    EXPECT_EQ(mask_url_credentials("http://u:p@h:1/a@b"), "http://***@h:1/a@b");
    EXPECT_EQ(mask_url_credentials("a https://u@h b http://h/x?u=a@b c http://x:y@z"),
              "a https://***@h b http://h/x?u=a@b c http://***@z");
    EXPECT_EQ(mask_url_credentials("no url @ all"), "no url @ all");
    EXPECT_EQ(mask_url_credentials("http://alice:ab/cd@h/x"), "http://***@h/x");
    EXPECT_EQ(mask_url_credentials("http://u:p@[::1]:80/x"), "http://***@[::1]:80/x");
    EXPECT_EQ(mask_url_credentials("\"http://u:p@h\"\nuser@x"), "\"http://***@h\"\nuser@x");
    EXPECT_EQ(mask_url_credentials("http://h:1\nuser@x"), "http://h:1\nuser@x");
    EXPECT_EQ(mask_url_credentials("http://h:20443"), "http://h:20443");
}

TEST(HttpClient, RefusesMethodsItDoesNotSpeak) {
    HttpClient client;
    HttpRequest request;
    request.method = "DELETE";
    request.url = "http://127.0.0.1:1/instances/x";
    auto response = client.send(request);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medanchor

// `medanchor serve`'s API over a real loopback socket (cpp-httplib's client, and raw sockets
// for what a client library would not send): the OpenAPI document against the route table,
// every role against every route, authentication, limits and bad input, a client that vanishes
// mid-upload, a flood of garbage, TLS with a certificate made by `openssl req`, and real
// uploads analysed into the real ledger (the chain is not needed: anchoring is off here; the
// end-to-end test with the local chain is serve_e2e_test.sh).
#include "app/http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "app/http/roles.h"
#include "chain/session.h"
#include "common/encoding.h"
#include "ledger/accounts.h"
#include "stacks/keys.h"

namespace medanchor::http {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kSource = MEDANCHOR_SOURCE_DIR;

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

fs::path fresh_dir(const std::string& name) {
    const fs::path d =
        fs::temp_directory_path() / ("medanchor-http-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

// The reference model, and a chain that cannot be reached (nothing listens on port 1): these
// tests need no chain, and must never reach one on a default port. A node URL a test set stays.
void test_chain(ServeOptions& o) {
    o.model = kSource / "models" / "ct-nodule-sim";
    if (o.chain.node_url.empty())
        o.chain.node_url = "http://127.0.0.1:1";
    o.chain.api_url = "";
}

// A token for each role, in an account store made directly (the `users` CLI is tested by
// users_cli_test.sh). The radiologist and the admin carry a principal, so they may upload.
struct Accounts {
    std::map<Role, std::string> token;
    // With `radiologist_key`, the radiologist's account signs with that key file (written here).
    explicit Accounts(const fs::path& users, const fs::path& radiologist_key = {}) {
        auto store = ledger::AccountStore::open(users);
        EXPECT_TRUE(store.ok());
        int n = 0;
        for (Role r : {Role::kRadiologist, Role::kVerifier, Role::kAuditor, Role::kAdmin}) {
            std::string t(64, '0');
            t[0] = static_cast<char>('a' + n);
            t[63] = static_cast<char>('1' + n++);
            ledger::Account a;
            a.name = to_string(r);
            a.role = to_string(r);
            // Two professionals: the radiologist and the admin act as different principals.
            if (r == Role::kRadiologist)
                a.principal = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG";
            if (r == Role::kRadiologist && !radiologist_key.empty()) {
                auto key = stacks::PrivateKey::generate();
                EXPECT_TRUE(key.ok());
                EXPECT_TRUE(stacks::write_key_file(radiologist_key, *key).ok());
                a.principal = key->address(stacks::Network::kTestnet).to_string();
                a.key_file = radiologist_key.string();
            }
            if (r == Role::kAdmin)
                a.principal = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";
            EXPECT_TRUE(store->add(a, to_hex(sha256(t))).ok());
            token[r] = t;
        }
    }
};

class ServerTest : public ::testing::Test {
  protected:
    // `radiologist_key`: the radiologist's account gets a signing key (serve --listen-as).
    void start(ServeOptions o = {}, bool radiologist_key = false) {
        dir_ = fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
        o.host = "127.0.0.1";
        o.port = 0;
        o.data_dir = dir_ / "data";
        o.users = dir_ / "users.sqlite";
        o.anchor = false;
        o.log_requests = false;
        test_chain(o);
        accounts_ = std::make_unique<Accounts>(
            o.users, radiologist_key ? dir_ / "radiologist.key" : fs::path());
        server_ = std::make_unique<ApiServer>(o);
        auto bound = server_->bind();
        ASSERT_TRUE(bound.ok()) << bound.error().message();
        thread_ = std::thread([this] { (void)server_->run(); });
        port_ = server_->port();
    }
    void TearDown() override {
        if (server_) {
            server_->stop();
            thread_.join();
        }
        fs::remove_all(dir_);
    }
    httplib::Client client() {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(30, 0);
        return c;
    }
    httplib::Headers auth(Role r) {
        return {{"Authorization", "Bearer " + accounts_->token.at(r)}};
    }
    static std::string error_code(const httplib::Result& res) {
        auto j = json::parse(res->body, nullptr, false);
        return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "(no JSON)";
    }
    // One part per file, as a browser's FormData sends it.
    static httplib::MultipartFormDataItems slices(std::size_t n) {
        httplib::MultipartFormDataItems items;
        for (std::size_t i = 0; i < n; ++i) {
            const auto p =
                kSource / "samples/ct" / ("ctsim-42-0000" + std::to_string(i % 6) + ".dcm");
            items.push_back({"file", read_file(p), "slice.dcm", "application/dicom"});
        }
        return items;
    }
    json wait_job(const std::string& id, Role r = Role::kAuditor) {
        auto c = client();
        for (int i = 0; i < 600; ++i) {
            auto res = c.Get("/api/jobs/" + id, auth(r));
            EXPECT_TRUE(res);
            auto j = json::parse(res->body);
            if (j["state"] == "done")
                return j;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ADD_FAILURE() << "job " << id << " not done in 30 s";
        return {};
    }

    fs::path dir_;
    std::unique_ptr<Accounts> accounts_;
    std::unique_ptr<ApiServer> server_;
    std::thread thread_;
    int port_ = 0;
    std::atomic<bool> server_stopping_{false};
};

TEST(OpenApi, IsJsonAndListsExactlyTheRoutesTheServerRegisters) {
    const auto doc = json::parse(openapi_document(), nullptr, false);
    ASSERT_FALSE(doc.is_discarded());
    EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
    // The embedded document is the committed file.
    EXPECT_EQ(json::parse(read_file(kSource / "docs/api.openapi.json")), doc);

    ServeOptions o;
    o.port = 0;
    o.anchor = false;
    o.log_requests = false;
    o.data_dir = fresh_dir("openapi");
    test_chain(o);
    ApiServer server(o);
    ASSERT_TRUE(server.bind().ok());
    std::set<std::string> registered, documented;
    for (const auto& r : server.routes()) {
        registered.insert(r.method + " " + r.path);
        // The permission documented is the one enforced.
        std::string method = r.method;
        for (auto& ch : method)
            ch = static_cast<char>(std::tolower(ch));
        const auto& op = doc["paths"][r.path][method];
        EXPECT_EQ(op.value("x-medanchor-permission", "?"),
                  r.permission ? to_string(*r.permission) : "public")
            << r.path;
    }
    for (const auto& [path, ops] : doc["paths"].items()) {
        for (const auto& [method, op] : ops.items()) {
            std::string m = method;
            for (auto& ch : m)
                ch = static_cast<char>(std::toupper(ch));
            documented.insert(m + " " + path);
        }
    }
    EXPECT_EQ(registered, documented);
    fs::remove_all(o.data_dir);
}

TEST(Listen, ParsesAddressAndPort) {
    auto a = parse_listen("127.0.0.1:9000");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->first, "127.0.0.1");
    EXPECT_EQ(a->second, 9000);
    EXPECT_EQ(parse_listen(":9001")->first, "127.0.0.1");
    EXPECT_EQ(parse_listen("[::1]:9002")->first, "::1");
    for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "x:80a", "a/b:1"})
        EXPECT_EQ(parse_listen(bad).error().code(), ErrorCode::kInvalidArgument) << bad;
    // The error names the option it came from (--listen unless told) and the text.
    EXPECT_EQ(parse_listen("x:80a").error().message().rfind("--listen x:80a: ", 0), 0u);
    const auto metrics = parse_listen("127.0.0.1:notaport", "--metrics");
    ASSERT_FALSE(metrics.ok());
    EXPECT_EQ(metrics.error().message().rfind("--metrics 127.0.0.1:notaport: ", 0), 0u)
        << metrics.error().message();
}

TEST(Roles, TheTable) {
    EXPECT_TRUE(allows(Role::kRadiologist, Permission::kAnalyze));
    EXPECT_TRUE(allows(Role::kRadiologist, Permission::kReview));
    EXPECT_FALSE(allows(Role::kRadiologist, Permission::kAdminister));  // cannot appoint verifiers
    EXPECT_FALSE(allows(Role::kRadiologist, Permission::kCredential));
    EXPECT_TRUE(allows(Role::kVerifier, Permission::kCredential));
    EXPECT_FALSE(allows(Role::kVerifier, Permission::kAnalyze));
    for (auto p : {Permission::kAnalyze, Permission::kReview, Permission::kCredential,
                   Permission::kAdminister})
        EXPECT_FALSE(allows(Role::kAuditor, p));  // an auditor cannot write
    EXPECT_TRUE(allows(Role::kAuditor, Permission::kRead));
    for (auto p : {Permission::kRead, Permission::kAnalyze, Permission::kReview,
                   Permission::kCredential, Permission::kAdminister})
        EXPECT_TRUE(allows(Role::kAdmin, p));
}

// A request path for a route's pattern: a job id, analysis 1, report.json.
std::string concrete(const std::string& pattern) {
    std::string path = pattern;
    if (auto b = path.find("{id}"); b != std::string::npos)
        path.replace(b, 4, pattern.starts_with("/api/jobs") ? std::string(32, 'a') : "1");
    if (auto b = path.find("{name}"); b != std::string::npos)
        path.replace(b, 6, "report.json");
    if (auto b = path.find("{hash}"); b != std::string::npos)
        path.replace(b, 6, std::string(64, 'c'));
    if (auto b = path.find("{principal}"); b != std::string::npos)
        path.replace(b, 11, "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG");
    return path;
}

TEST_F(ServerTest, HealthIsPublicAndEverythingElseNeedsAToken) {
    start();
    auto c = client();
    auto health = c.Get("/api/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(json::parse(health->body)["status"], "ok");
    EXPECT_EQ(c.Get("/api/openapi.json")->status, 200);

    for (const auto& r : server_->routes()) {
        if (!r.permission)
            continue;
        const std::string path = concrete(r.path);
        for (const httplib::Headers& h :
             {httplib::Headers{}, httplib::Headers{{"Authorization", "Bearer"}},
              httplib::Headers{{"Authorization", "Basic YTpi"}},
              httplib::Headers{{"Authorization", "Bearer " + std::string(64, 'f')}},
              httplib::Headers{{"Authorization", "Bearer not-hex"}}}) {
            auto res = r.method == "GET"      ? c.Get(path, h)
                       : r.method == "DELETE" ? c.Delete(path, h)
                                              : c.Post(path, h, "", "text/plain");
            ASSERT_TRUE(res) << path;
            EXPECT_EQ(res->status, 401) << r.method << " " << path;
            EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
            EXPECT_EQ(error_code(res), "permission");
        }
    }
}

TEST_F(ServerTest, EveryRoleAgainstEveryRoute) {
    start();
    auto c = client();
    for (const auto& r : server_->routes()) {
        if (!r.permission)
            continue;
        const std::string path = concrete(r.path);
        for (Role role : {Role::kRadiologist, Role::kVerifier, Role::kAuditor, Role::kAdmin}) {
            auto res = r.method == "GET"      ? c.Get(path, auth(role))
                       : r.method == "DELETE" ? c.Delete(path, auth(role))
                                              : c.Post(path, auth(role), "{}", "application/json");
            ASSERT_TRUE(res);
            if (allows(role, *r.permission)) {
                EXPECT_NE(res->status, 403) << to_string(role) << " " << r.method << " " << path;
                EXPECT_NE(res->status, 401);
            } else {
                EXPECT_EQ(res->status, 403) << to_string(role) << " " << r.method << " " << path;
                EXPECT_EQ(error_code(res), "permission");
            }
        }
    }
}

// The chain's view checks what it can before the node (400) and answers a node that cannot be
// reached with a 502 JSON error naming it, promptly (bounded tries; here nothing listens).
TEST_F(ServerTest, ChainViewChecksItsInputAndReportsAnUnreachableNode) {
    start();
    auto c = client();
    for (const char* path : {"/api/chain/professionals/not-a-principal",
                             "/api/chain/professionals/ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AX",
                             "/api/chain/models?limit=0", "/api/chain/models?limit=51",
                             "/api/chain/models?start=0", "/api/chain/models?start=x"}) {
        auto res = c.Get(path, auth(Role::kAuditor));
        ASSERT_TRUE(res) << path;
        EXPECT_EQ(res->status, 400) << path << " " << res->body;
        EXPECT_EQ(error_code(res), "invalid-argument") << path;
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (const char* path :
         {"/api/chain/parameters", "/api/chain/models", "/api/chain/professionals",
          "/api/chain/professionals/ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG"}) {
        auto res = c.Get(path, auth(Role::kAuditor));
        ASSERT_TRUE(res) << path;
        EXPECT_EQ(res->status, 502) << path << " " << res->body;
        EXPECT_EQ(error_code(res), "network") << path;
        EXPECT_NE(res->body.find("127.0.0.1:1"), std::string::npos) << res->body;
    }
    // Two tries per read, not the anchoring client's four with backoff (a bound, not a benchmark:
    // a refused connection is answered at once).
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

// A node that takes the connection and never answers: 504 `timeout` once the bounded tries are
// spent, not a request that hangs.
TEST_F(ServerTest, ChainViewAnswersASilentNodeWithATimeout) {
    const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(silent, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(silent, 16), 0);  // the kernel completes handshakes; no one reads
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    ServeOptions o;
    o.chain_read_timeout_ms = 300;
    o.chain.node_url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    start(o);
    auto res = client().Get("/api/chain/parameters", auth(Role::kAuditor));
    ::close(silent);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 504) << res->body;
    EXPECT_EQ(error_code(res), "timeout");
}

// The registry's writes check their input before anything is signed (400, naming what is
// wrong), and need a signing key bound to the account (no-key): the admin and the verifier here
// have none.
TEST_F(ServerTest, RegistryWritesCheckTheirInputBeforeSigning) {
    start();
    auto c = client();
    const std::string pro = "/api/chain/professionals/ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG";
    struct Case {
        Role role;
        std::string path, body, code, says;
    };
    const std::string hash(64, 'a');
    const Case cases[] = {
        {Role::kAdmin, "/api/chain/models", "not json", "invalid-argument", "JSON object"},
        {Role::kAdmin, "/api/chain/models",
         R"({"model_hash":"abc","name":"m","version":"1","min_confidence":0})", "invalid-argument",
         "model hash"},
        {Role::kAdmin, "/api/chain/models",
         R"({"model_hash":")" + hash + R"(","name":"","version":"1"})", "invalid-argument",
         "model name"},
        {Role::kAdmin, "/api/chain/models",
         R"({"model_hash":")" + hash + R"(","name":"m","version":"1","min_confidence":10001})",
         "invalid-argument", "minimum confidence"},
        {Role::kAdmin, "/api/chain/models",
         R"({"model_hash":")" + hash + R"(","name":"m","version":"1","min_confidence":-1})",
         "invalid-argument", "min_confidence"},
        {Role::kAdmin, "/api/chain/models",
         R"({"model_hash":")" + hash + R"(","name":"m","version":"1","min_confidence":7000})",
         "no-key", "no signing key"},
        {Role::kAdmin, "/api/chain/parameters", R"({})", "invalid-argument", "one of"},
        {Role::kAdmin, "/api/chain/parameters",
         R"({"min_confidence":5000,"max_verification_period":60})", "invalid-argument", "one of"},
        {Role::kAdmin, "/api/chain/parameters", R"({"min_confidence":10001})", "invalid-argument",
         "0 to 10000"},
        {Role::kAdmin, "/api/chain/parameters", R"({"min_confidence":"5000"})", "invalid-argument",
         "one of"},
        {Role::kAdmin, "/api/chain/parameters", R"({"max_verification_period":86400})", "no-key",
         "no signing key"},
        {Role::kAdmin, "/api/chain/verifiers/ST0NOPE", "", "invalid-argument", "principal"},
        {Role::kAdmin, "/api/chain/pause", "", "no-key", "no signing key"},
        {Role::kVerifier, "/api/chain/professionals/ST0NOPE/suspend", "{}", "invalid-argument",
         "not a Stacks principal"},
        {Role::kVerifier, pro + "/suspend", R"({"reason":256})", "invalid-argument", "reason"},
        {Role::kVerifier, pro + "/verify", R"({"reason":1})", "invalid-argument",
         "expires_in_days"},
        {Role::kVerifier, pro + "/verify", R"({"expires_in_days":0})", "invalid-argument",
         "1 to 36500"},
        {Role::kVerifier, pro + "/reinstate", "{}", "no-key", "no signing key"},
    };
    for (const auto& k : cases) {
        auto res = c.Post(k.path, auth(k.role), k.body, "application/json");
        ASSERT_TRUE(res) << k.path;
        EXPECT_EQ(error_code(res), k.code) << k.path << " " << k.body << ": " << res->body;
        EXPECT_EQ(res->status, 400) << k.path << " " << k.body;
        EXPECT_NE(res->body.find(k.says), std::string::npos) << k.path << ": " << res->body;
    }
}

TEST_F(ServerTest, MetricsArePrometheusText) {
    start();
    auto res = client().Get("/api/metrics", auth(Role::kAuditor));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_TRUE(res->get_header_value("Content-Type").starts_with("text/plain"));
    for (const char* m :
         {"\nmedanchor_images_analysed_total 0\n", "\nmedanchor_queue_depth 0\n",
          "\nmedanchor_anchoring_lag_seconds 0\n", "medanchor_analyses{state=\"pending\"} 0",
          "# TYPE medanchor_errors_total counter"})
        EXPECT_NE(res->body.find(m), std::string::npos) << m << "\n" << res->body;
}

// Without --listen-dicom the PACS routes answer 404 naming the option, and the metrics carry
// none of the listener's counters.
TEST_F(ServerTest, PacsRoutesWithoutTheListener) {
    start();
    auto c = client();
    for (const char* path : {"/api/pacs/series", "/api/pacs/series/1.2.3", "/api/pacs/stats"}) {
        auto res = c.Get(path, auth(Role::kAuditor));
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 404) << path;
        EXPECT_EQ(error_code(res), "not-found") << path;
        EXPECT_NE(res->body.find("--listen-dicom"), std::string::npos) << res->body;
    }
    auto metrics = c.Get("/api/metrics", auth(Role::kAuditor));
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->body.find("medanchor_listen_"), std::string::npos);
    EXPECT_EQ(json::parse(c.Get("/api/me", auth(Role::kAuditor))->body)["pacs"], false);
    EXPECT_EQ(server_->dicom_port(), 0);
}

// One element's value as DCMTK's dcmdump prints it ("(0020,000e) UI [1.2.3] ..." → 1.2.3).
std::string dicom_value(const fs::path& file, const std::string& tag) {
    const std::string command = "dcmdump +P " + tag + " '" + file.string() + "'";
    std::string out;
    if (FILE* p = ::popen(command.c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p) != nullptr)
            out += buf;
        ::pclose(p);
    }
    const auto open = out.find('['), close = out.find(']');
    return open == std::string::npos || close == std::string::npos
               ? std::string()
               : out.substr(open + 1, close - open - 1);
}

ServeOptions with_listener() {
    ServeOptions o;
    o.dicom.emplace();
    o.dicom->scp.port = 0;
    o.dicom->scp.ae_title = "MEDANCHOR";
    o.dicom->stable_after = std::chrono::milliseconds(500);
    o.dicom_account = "radiologist";
    return o;
}

// The listener in the server: every role reads its state; a malformed UID is 400, an unknown
// one 404; three slices sent by DCMTK's storescu (three series) each end summarised with their
// instance analysed and its analysis linked, pages list them newest first; the counters join
// /api/metrics.
TEST_F(ServerTest, PacsRoutesWithTheListener) {
    start(with_listener(), /*radiologist_key=*/true);
    ASSERT_GT(server_->dicom_port(), 0);
    auto c = client();
    for (Role r : {Role::kRadiologist, Role::kVerifier, Role::kAuditor, Role::kAdmin}) {
        auto res = c.Get("/api/pacs/series", auth(r));
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200) << to_string(r);
        EXPECT_EQ(json::parse(res->body)["total"], 0);
    }
    EXPECT_EQ(c.Get("/api/pacs/series")->status, 401);
    EXPECT_EQ(json::parse(c.Get("/api/me", auth(Role::kAuditor))->body)["pacs"], true);
    for (const char* bad :
         {"/api/pacs/series/abc", "/api/pacs/series/1..2", "/api/pacs/series/.1",
          "/api/pacs/series?limit=0", "/api/pacs/series?limit=1001", "/api/pacs/series?offset=x"}) {
        auto res = c.Get(bad, auth(Role::kAuditor));
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 400) << bad;
        EXPECT_EQ(error_code(res), "invalid-argument") << bad;
    }
    auto unknown = c.Get("/api/pacs/series/1.2.3", auth(Role::kAuditor));
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404);
    EXPECT_NE(unknown->body.find("no such series"), std::string::npos);

    std::string command =
        "storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 " + std::to_string(server_->dicom_port());
    for (int i = 0; i < 3; ++i)
        command +=
            " " +
            (kSource / "samples/ct" / ("ctsim-42-0000" + std::to_string(i) + ".dcm")).string();
    ASSERT_EQ(std::system((command + " >/dev/null 2>&1").c_str()), 0) << command;
    // The simulator gives each slice its own series: three series of one instance each.
    json list;
    const auto all_summarised = [&] {
        list = json::parse(c.Get("/api/pacs/series", auth(Role::kAuditor))->body);
        if (list["total"] != 3)
            return false;
        for (const auto& s : list["series"])
            if (s["state"] != "summarised")
                return false;
        return true;
    };
    bool done = false;
    for (int i = 0; i < 600 && !done; ++i) {
        done = all_summarised();
        if (!done)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(done) << "not every series summarised in 60 s: " << list.dump();
    std::set<std::int64_t> ids;
    std::string details;
    for (const auto& series : list["series"]) {
        EXPECT_EQ(series["instances"]["received"], 1);
        EXPECT_EQ(series["instances"]["analysed"], 1);
        EXPECT_EQ(series["instances"]["failed"], 0);
        EXPECT_EQ(series["instances"]["waiting"], 0);
        EXPECT_TRUE(series["worst"].is_object());
        auto detail = c.Get("/api/pacs/series/" + series["series_uid"].get<std::string>(),
                            auth(Role::kVerifier));
        ASSERT_TRUE(detail);
        ASSERT_EQ(detail->status, 200);
        details += detail->body;
        auto d = json::parse(detail->body);
        ASSERT_EQ(d["instance_list"].size(), 1u);
        const auto& i = d["instance_list"][0];
        EXPECT_EQ(i["state"], "analysed");
        const auto id = i["analysis_id"].get<std::int64_t>();
        EXPECT_EQ(d["worst"]["analysis_id"], id);
        EXPECT_EQ(d["worst"]["finding"], i["finding"]);
        EXPECT_EQ(c.Get("/api/analyses/" + std::to_string(id), auth(Role::kAuditor))->status, 200);
        ids.insert(id);
    }
    EXPECT_EQ(ids.size(), 3u);
    // Paged: one at a time, newest first, the same three.
    std::set<std::string> paged;
    for (int offset = 0; offset < 4; ++offset) {
        auto page = json::parse(
            c.Get("/api/pacs/series?limit=1&offset=" + std::to_string(offset), auth(Role::kAuditor))
                ->body);
        EXPECT_EQ(page["series"].size(), offset < 3 ? 1u : 0u);
        for (const auto& s : page["series"])
            paged.insert(s["series_uid"].get<std::string>());
    }
    EXPECT_EQ(paged.size(), 3u);
    // Nothing the sender had: the original UIDs (read by DCMTK's dcmdump) stay out of answers.
    for (int i = 0; i < 3; ++i) {
        const auto file = kSource / "samples/ct" / ("ctsim-42-0000" + std::to_string(i) + ".dcm");
        for (const char* tag : {"SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"}) {
            const std::string uid = dicom_value(file, tag);
            ASSERT_FALSE(uid.empty()) << tag;
            EXPECT_EQ(details.find(uid), std::string::npos) << tag;
            EXPECT_EQ(list.dump().find(uid), std::string::npos) << tag;
        }
    }

    auto stats = json::parse(c.Get("/api/pacs/stats", auth(Role::kAuditor))->body);
    EXPECT_EQ(stats["instances_received"], 3);
    EXPECT_EQ(stats["images_analysed"], 3);
    EXPECT_EQ(stats["series_analysed"], 3);
    auto metrics = c.Get("/api/metrics", auth(Role::kAuditor))->body;
    EXPECT_NE(metrics.find("\nmedanchor_listen_instances_received_total 3\n"), std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("\nmedanchor_listen_series_analysed_total 3\n"), std::string::npos);
}

// --listen-as must name a user with a signing key: refused at bind(), before anything runs.
TEST(ServeListener, NeedsAUserWithAKey) {
    for (const char* who : {"", "nobody", "auditor"}) {
        const fs::path dir = fresh_dir(std::string("listen-as-") + who);
        ServeOptions o = with_listener();
        o.dicom_account = who;
        o.port = 0;
        o.anchor = false;
        o.log_requests = false;
        o.data_dir = dir / "data";
        o.users = dir / "users.sqlite";
        test_chain(o);
        Accounts accounts(o.users);
        ApiServer server(o);
        auto bound = server.bind();
        ASSERT_FALSE(bound.ok()) << who;
        EXPECT_EQ(bound.error().code(),
                  std::string(who) == "auditor" ? ErrorCode::kNoKey : ErrorCode::kInvalidArgument);
        EXPECT_NE(bound.error().message().find("--listen-as"), std::string::npos);
        fs::remove_all(dir);
    }
}

TEST_F(ServerTest, UploadLimitsAndBadInput) {
    ServeOptions o;
    o.max_upload_bytes = 1 << 20;
    o.max_files = 3;
    start(o);
    auto c = client();
    const auto h = auth(Role::kRadiologist);

    // Over the byte cap: 413 before the body is processed.
    httplib::MultipartFormDataItems big = {{"file", std::string(2 << 20, 'x'), "a.dcm", ""}};
    auto res = c.Post("/api/jobs", h, big);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
    EXPECT_EQ(error_code(res), "too-large");

    res = c.Post("/api/jobs", h, slices(4));  // over the count cap
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
    EXPECT_EQ(error_code(res), "too-large");

    res = c.Post("/api/jobs", h, "{\"path\":\"/etc/passwd\"}", "application/json");
    EXPECT_EQ(res->status, 415);
    EXPECT_EQ(error_code(res), "unsupported");

    res = c.Post("/api/jobs", h,
                 httplib::MultipartFormDataItems{{"file", "x", "a.html", "text/html"}});
    EXPECT_EQ(res->status, 415);

    res = c.Post("/api/jobs", h, httplib::MultipartFormDataItems{{"path", "../../x", "", ""}});
    EXPECT_EQ(res->status, 400);

    // A part that is not an image is accepted as a job and fails by itself, named by kind.
    res =
        c.Post("/api/jobs", h,
               httplib::MultipartFormDataItems{{"file", "not an image at all", "../../etc/x", ""}});
    ASSERT_EQ(res->status, 202);
    auto job = wait_job(json::parse(res->body)["id"]);
    EXPECT_EQ(job["files"][0]["state"], "failed");
    EXPECT_EQ(job["files"][0]["error"]["code"], "unsupported");
    EXPECT_FALSE(fs::exists(dir_ / "etc"));

    // Unknown routes and files outside the fixed set are 404 with a JSON body.
    for (const char* path : {"/api/nope", "/api/analyses/1/files/..%2F..%2Fusers.sqlite",
                             "/api/analyses/1/files/users.sqlite", "/../../etc/passwd",
                             "/api/analyses/1/files/report.json", "/api/jobs/xyz"}) {
        res = c.Get(path, auth(Role::kAuditor));
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 404) << path;
        EXPECT_EQ(error_code(res), "not-found") << path;
    }
    res = c.Get("/api/ledger?state=bogus", auth(Role::kAuditor));
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(error_code(res), "invalid-argument");
}

// Verification and review check what they are given before they reach the chain (here: none;
// nothing listens on its port, so a well-formed request ends as `network`); the chain's side is
// tested end to end (serve_e2e_test.sh, tests/web/).
TEST_F(ServerTest, VerifyAndReviewCheckTheirInputBeforeTheChain) {
    start();
    auto c = client();
    const auto h = auth(Role::kAuditor);
    for (const std::string& bad : std::vector<std::string>{
             "zzz", std::string(63, 'a'), std::string(65, 'a'), "md5:" + std::string(64, 'a')}) {
        auto res = c.Get("/api/verify/" + bad, h);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 400) << bad;
        EXPECT_EQ(error_code(res), "invalid-argument") << bad;
    }
    for (const std::string& good :
         std::vector<std::string>{std::string(64, 'a'), "hmac-sha256:" + std::string(64, 'b')}) {
        auto res = c.Get("/api/verify/" + good, h);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 502) << good << ": " << res->body;
        EXPECT_EQ(error_code(res), "network");
    }
    auto res = c.Post("/api/verify", h,
                      httplib::MultipartFormDataItems{{"file", "not an image", "x", ""}});
    EXPECT_EQ(res->status, 415);
    res = c.Post("/api/verify", h, slices(2));
    EXPECT_EQ(res->status, 415) << "two images";
    res = c.Post("/api/verify", h, slices(1));
    EXPECT_EQ(res->status, 502) << "an image is hashed, then the chain is asked: " << res->body;

    // One analysis by the radiologist, recorded and not on chain.
    res = c.Post("/api/jobs", auth(Role::kRadiologist), slices(1));
    ASSERT_EQ(res->status, 202);
    auto job = wait_job(json::parse(res->body)["id"]);
    const std::string id = std::to_string(job["files"][0]["analysis_id"].get<int>());
    const auto post = [&](Role r, const std::string& what, const std::string& body) {
        return c.Post("/api/analyses/" + id + "/" + what, auth(r), body, "application/json");
    };
    for (const char* body :
         {"[]", "{}", R"({"decision":"maybe","note":"x"})", R"({"decision":1,"note":"x"})",
          R"({"decision":null,"note":"x"})", R"({"decision":["confirm"],"note":"x"})",
          R"({"decision":"confirm"})", R"({"decision":"confirm","note":""})"}) {
        res = post(Role::kAdmin, "review", body);
        EXPECT_EQ(res->status, 400) << body;
    }
    res = post(Role::kAdmin, "review",
               R"({"decision":"confirm","note":")" + std::string(70000, 'n') + "\"}");
    EXPECT_EQ(res->status, 400) << "a note over 64 KiB";
    res = post(Role::kRadiologist, "review", R"({"decision":"confirm","note":"agree"})");
    EXPECT_EQ(res->status, 403) << "one's own analysis: " << res->body;
    res = post(Role::kAdmin, "retract", "{}");
    EXPECT_EQ(res->status, 403) << "another's analysis: " << res->body;
    res = post(Role::kAdmin, "review", R"({"decision":"dispute","note":"disagree"})");
    EXPECT_EQ(res->status, 404) << "not on chain yet: " << res->body;
    EXPECT_EQ(error_code(res), "not-anchored");
    res = post(Role::kRadiologist, "retract", R"({"reason":0})");
    EXPECT_EQ(res->status, 400);
    res = post(Role::kRadiologist, "retract", R"({"reason":2})");
    EXPECT_EQ(res->status, 404) << res->body;
    res = c.Post("/api/analyses/999/review", auth(Role::kAdmin),
                 R"({"decision":"confirm","note":"x"})", "application/json");
    EXPECT_EQ(res->status, 404);
    EXPECT_EQ(error_code(res), "not-found");
}

// The accept queue is the system's maximum, not cpp-httplib's 5: with 5, 64 clients connecting
// at once lost handshakes and waited a second to retry (bench/http_bench.cpp measured a 1 s p99).
// `ss` (iproute2) shows a listening socket's backlog as its Send-Q.
TEST_F(ServerTest, ListensWithALongAcceptQueue) {
    start();
    const std::string command = "ss -Hltn 'sport = :" + std::to_string(port_) + "'";
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char line[512] = {};
    const bool read = std::fgets(line, sizeof line, pipe) != nullptr;
    ::pclose(pipe);
    ASSERT_TRUE(read) << command;
    std::istringstream fields(line);
    std::string state;
    long recv_q = -1, backlog = -1;
    fields >> state >> recv_q >> backlog;
    EXPECT_EQ(state, "LISTEN") << line;
    EXPECT_GE(backlog, 128) << line;
}

// Sends raw bytes and closes, without reading an answer.
void send_raw(int port, const std::string& bytes, bool read_answer = false) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        (void)!::write(fd, bytes.data(), bytes.size());
        if (read_answer) {
            timeval tv{2, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            char buf[512];
            (void)!::read(fd, buf, sizeof buf);
        }
    }
    ::close(fd);
}

TEST_F(ServerTest, AClientThatDisconnectsMidUploadLeavesNothing) {
    start();
    const std::string body_start =
        "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.dcm\"\r\n\r\n" +
        read_file(kSource / "samples/ct/ctsim-42-00000.dcm").substr(0, 4000);
    send_raw(port_, "POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                        accounts_->token.at(Role::kRadiologist) +
                        "\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: "
                        "200000\r\n\r\n" +
                        body_start);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto m = client().Get("/api/metrics", auth(Role::kAuditor));
    EXPECT_NE(m->body.find("\nmedanchor_queue_depth 0\n"), std::string::npos);
    EXPECT_NE(m->body.find("medanchor_analyses{state=\"pending\"} 0"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir_ / "data/tmp"));
    for (const auto& e : fs::directory_iterator(dir_ / "data/reports"))
        EXPECT_FALSE(e.is_directory()) << "a report folder: " << e.path();
}

TEST_F(ServerTest, UploadAnalysesEveryFileAndServesTheReports) {
    start();
    auto c = client();
    auto res = c.Post("/api/jobs", auth(Role::kRadiologist), slices(3));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 202) << res->body;
    const std::string id = json::parse(res->body)["id"];
    EXPECT_EQ(res->get_header_value("Location"), "/api/jobs/" + id);

    // The event stream follows the job to the end (anchoring is off: analyses stay recorded,
    // so the test reads events until the last file is analysed).
    std::string events;
    httplib::Client sse("127.0.0.1", port_);
    sse.set_read_timeout(30, 0);
    auto streamed = sse.Get("/api/jobs/" + id + "/events", auth(Role::kAuditor),
                            [&](const char* data, std::size_t n) {
                                events.append(data, n);
                                return events.find("\"percent\":100") == std::string::npos;
                            });
    EXPECT_NE(events.find("event: job\ndata: {"), std::string::npos);
    EXPECT_NE(events.find("\"percent\":100"), std::string::npos) << events;

    auto job = wait_job(id);
    ASSERT_EQ(job["files"].size(), 3u);
    for (const auto& f : job["files"]) {
        ASSERT_EQ(f["state"], "analysed") << job.dump();
        EXPECT_EQ(f["anchoring"], "recorded");
        auto a = c.Get("/api/analyses/" + std::to_string(f["analysis_id"].get<int>()),
                       auth(Role::kAuditor));
        ASSERT_EQ(a->status, 200);
        auto analysis = json::parse(a->body);
        EXPECT_FALSE(analysis["finding"].get<std::string>().empty());
        EXPECT_EQ(analysis["analyst"], "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG");
        EXPECT_FALSE(analysis.contains("source_path"));
        auto report = c.Get(
            "/api/analyses/" + std::to_string(f["analysis_id"].get<int>()) + "/files/report.json",
            auth(Role::kAuditor));
        ASSERT_EQ(report->status, 200);
        EXPECT_EQ(to_hex(sha256(report->body)), analysis["report_digest"]);
        auto png = c.Get(
            "/api/analyses/" + std::to_string(f["analysis_id"].get<int>()) + "/files/saliency.png",
            auth(Role::kAuditor));
        ASSERT_EQ(png->status, 200);
        EXPECT_EQ(png->body.substr(1, 3), "PNG");
        // The plain rendering: a PNG at the slice's own size (256 x 256, IHDR's width and
        // height, big-endian at bytes 16..23).
        auto image =
            c.Get("/api/analyses/" + std::to_string(f["analysis_id"].get<int>()) + "/image.png",
                  auth(Role::kAuditor));
        ASSERT_EQ(image->status, 200) << image->body;
        ASSERT_GT(image->body.size(), 24u);
        EXPECT_EQ(image->body.substr(1, 3), "PNG");
        EXPECT_EQ(image->body.substr(16, 8), std::string("\0\0\x01\0\0\0\x01\0", 8));
        EXPECT_NE(image->body, png->body);
    }
    // The upload itself is not kept: it is analysed from memory, nothing is staged on disk.
    EXPECT_FALSE(fs::exists(dir_ / "data/tmp")) << "a staged upload left by an older server";
    EXPECT_FALSE(fs::exists(dir_ / "data/originals"));
    auto ledger = c.Get("/api/ledger?state=pending", auth(Role::kAuditor));
    EXPECT_EQ(json::parse(ledger->body)["analyses"].size(), 3u);
}

// What `bind()` refuses before it serves anything, each with the reason (exit 2 in the CLI).
TEST(ServerStart, RefusesPlainHttpBeyondLoopbackAForeignDataFolderAndAnotherNetworksUser) {
    const fs::path dir = fresh_dir("refusals");
    const auto refusal = [&](ServeOptions o) {
        o.port = 0;
        o.log_requests = false;
        o.anchor = false;
        if (o.data_dir.empty())
            o.data_dir = dir / "data";
        if (o.users.empty())
            o.users = dir / "users.sqlite";
        if (o.model.empty())
            test_chain(o);
        ApiServer server(o);
        auto s = server.bind();
        return s.ok() ? std::string("(started)") : s.error().message();
    };
    // Plain HTTP on every interface: tokens in clear. Loopback of any spelling is fine.
    ServeOptions open;
    open.host = "0.0.0.0";
    EXPECT_NE(refusal(open).find("--allow-plain-http"), std::string::npos) << refusal(open);
    open.host = "::";
    EXPECT_NE(refusal(open).find("--allow-plain-http"), std::string::npos);
    for (const char* loopback : {"127.0.0.1", "127.0.0.2", "localhost"}) {
        ServeOptions o;
        o.host = loopback;
        EXPECT_EQ(refusal(o), "(started)") << loopback;
    }

    // A folder with someone else's files is never taken over (nor its mode changed).
    const fs::path home = dir / "home";
    fs::create_directories(home / "tmp");
    std::ofstream(home / "notes.txt") << "mine";
    fs::permissions(home, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
    ServeOptions mistyped;
    mistyped.data_dir = home;
    mistyped.users = home / "users.sqlite";  // the default: DATA/users.sqlite
    EXPECT_NE(refusal(mistyped).find("holds no server state"), std::string::npos)
        << refusal(mistyped);
    EXPECT_FALSE(fs::exists(home / "users.sqlite")) << "checked before anything is made there";
    EXPECT_TRUE(fs::exists(home / "tmp"));
    EXPECT_EQ(fs::status(home).permissions() & fs::perms::others_read, fs::perms::others_read);

    // A user added for the local chain (an ST address) on a mainnet server: refused, named.
    auto key = stacks::PrivateKey::generate();
    ASSERT_TRUE(key.ok());
    const fs::path key_file = dir / "alice.key";
    ASSERT_TRUE(stacks::write_key_file(key_file, *key).ok());
    const fs::path users = dir / "mainnet-users.sqlite";
    {
        auto store = ledger::AccountStore::open(users);
        ASSERT_TRUE(store.ok());
        ledger::Account alice{"alice", "radiologist", key_file.string(),
                              key->address(stacks::Network::kTestnet).to_string(), ""};
        ASSERT_TRUE(store->add(alice, to_hex(sha256(std::string(64, 'c')))).ok());
    }
    ServeOptions mainnet;
    mainnet.users = users;
    mainnet.data_dir = dir / "mainnet-data";
    mainnet.chain.network = chain::NetworkName::kMainnet;
    mainnet.chain.contract_id =
        key->address(stacks::Network::kMainnet).to_string() + ".medical-analysis";
    const std::string why = refusal(mainnet);
    EXPECT_NE(why.find("user alice was added acting as ST"), std::string::npos) << why;
    EXPECT_NE(why.find("--network mainnet"), std::string::npos) << why;

    // A port another server holds: refused (with cpp-httplib's SO_REUSEPORT both bound it and
    // the kernel shared the connections between them).
    ServeOptions first;
    first.port = 0;
    first.log_requests = false;
    first.anchor = false;
    first.data_dir = dir / "first";
    first.users = dir / "first-users.sqlite";
    test_chain(first);
    ApiServer holder(first);
    ASSERT_TRUE(holder.bind().ok());
    ServeOptions second = first;
    second.port = holder.port();
    second.data_dir = dir / "second";
    second.users = dir / "second-users.sqlite";
    ApiServer late(second);
    auto taken = late.bind();
    ASSERT_FALSE(taken.ok()) << "two servers on port " << holder.port();
    EXPECT_NE(taken.error().message().find("cannot listen"), std::string::npos)
        << taken.error().message();
    fs::remove_all(dir);
}

TEST_F(ServerTest, TheBearerSchemeIsCaseInsensitiveAndTheTokenEitherCase) {
    start();
    auto c = client();
    std::string token = accounts_->token[Role::kAuditor];
    for (char& ch : token)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    for (const std::string& header :
         {"bearer " + accounts_->token[Role::kAuditor], "BEARER " + token}) {
        auto res = c.Get("/api/me", httplib::Headers{{"Authorization", header}});
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200) << header.substr(0, 7) << ": " << res->body;
    }
    auto res = c.Get("/api/me", httplib::Headers{{"Authorization", "Basic " + token}});
    EXPECT_EQ(res->status, 401);
}

TEST_F(ServerTest, AServerFaultIsToldByIncidentNumberWithoutTheServersPaths) {
    start();
    auto c = client();
    auto res = c.Post("/api/jobs", auth(Role::kRadiologist), slices(1));
    ASSERT_EQ(res->status, 202);
    auto job = wait_job(json::parse(res->body)["id"]);
    ASSERT_EQ(job["files"][0]["state"], "analysed") << job.dump();
    const std::string id = std::to_string(job["files"][0]["analysis_id"].get<int>());
    // Damage the report folder behind the server's back: the de-identified image cut short,
    // report.json replaced by a folder.
    fs::path folder;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "data"))
        if (e.path().filename() == "image.deid.dcm")
            folder = e.path().parent_path();
    ASSERT_FALSE(folder.empty());
    fs::permissions(folder, fs::perms::owner_all, fs::perm_options::add);
    fs::permissions(folder / "image.deid.dcm", fs::perms::owner_write, fs::perm_options::add);
    fs::resize_file(folder / "image.deid.dcm", 200);
    fs::remove(folder / "report.json");
    fs::create_directory(folder / "report.json");
    for (const std::string& path :
         {"/api/analyses/" + id + "/image.png", "/api/analyses/" + id + "/files/report.json"}) {
        auto got = c.Get(path, auth(Role::kAuditor));
        ASSERT_TRUE(got);
        EXPECT_EQ(got->status, 500) << path << ": " << got->body;
        const auto message = json::parse(got->body)["error"]["message"].get<std::string>();
        EXPECT_NE(message.find("incident"), std::string::npos) << message;
        EXPECT_EQ(message.find(dir_.string()), std::string::npos) << message;
        EXPECT_EQ(message.find("image.deid.dcm"), std::string::npos) << message;
    }
}

TEST_F(ServerTest, KeepsOriginalsOnlyWhenAsked) {
    ServeOptions o;
    o.keep_originals = true;
    start(o);
    auto c = client();
    auto items = slices(1);
    // A truncated slice beside it: it fails with the decoder's reason and nothing is kept of it.
    const auto whole = read_file(kSource / "samples/ct/ctsim-42-00001.dcm");
    items.push_back({"file", whole.substr(0, whole.size() / 2), "slice.dcm", "application/dicom"});
    auto res = c.Post("/api/jobs", auth(Role::kRadiologist), items);
    ASSERT_EQ(res->status, 202);
    auto job = wait_job(json::parse(res->body)["id"]);
    ASSERT_EQ(job["files"][0]["state"], "analysed") << job.dump();
    ASSERT_EQ(job["files"][1]["state"], "failed") << job.dump();
    EXPECT_EQ(job["files"][1]["error"]["code"], "corrupt") << job.dump();
    // The reason names the upload as its client knows it, never where the server put it.
    EXPECT_EQ(job["files"][1]["error"]["message"].get<std::string>().find(dir_.string()),
              std::string::npos)
        << job.dump();
    // One file, named by the image hash (never by the client's name), with the bytes sent.
    std::vector<fs::path> kept;
    for (const auto& e : fs::directory_iterator(dir_ / "data/originals"))
        kept.push_back(e.path());
    ASSERT_EQ(kept.size(), 1u);
    auto a = json::parse(
        c.Get("/api/analyses/" + std::to_string(job["files"][0]["analysis_id"].get<int>()),
              auth(Role::kAuditor))
            ->body);
    EXPECT_EQ(
        kept[0].filename().string(),
        a["image_hash"].get<std::string>().substr(std::string("hmac-sha256:").size()) + ".dcm");
    EXPECT_EQ(read_file(kept[0]), read_file(kSource / "samples/ct/ctsim-42-00000.dcm"));
}

TEST_F(ServerTest, SurvivesAFloodOfBadRequestsAndLosesNoAcceptedJob) {
    ServeOptions o;
    o.threads = 8;
    o.max_event_streams = 2;
    o.read_timeout_s = 2;
    start(o);
    auto c = client();
    auto accepted = c.Post("/api/jobs", auth(Role::kRadiologist), slices(2));
    ASSERT_EQ(accepted->status, 202);
    const std::vector<std::string> garbage = {
        "GARBAGE\r\n\r\n",
        "GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
        "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n",
        std::string("\x16\x03\x01\x00\xa5", 5),
        "POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(64, '0') +
            "\r\nContent-Type: multipart/form-data; boundary=Z\r\nContent-Length: "
            "10\r\n\r\n--Z--\r\n",
        "GET /api/metrics HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n",
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 40; ++i)
                send_raw(port_, garbage[(t + i) % garbage.size()], i % 4 == 0);
        });
    }
    for (auto& t : threads)
        t.join();
    auto health = c.Get("/api/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    auto job = wait_job(json::parse(accepted->body)["id"]);
    for (const auto& f : job["files"])
        EXPECT_EQ(f["state"], "analysed");
}

TEST_F(ServerTest, EventStreamsAreBounded) {
    ServeOptions o;
    o.threads = 4;
    o.max_event_streams = 1;
    start(o);
    auto accepted = client().Post("/api/jobs", auth(Role::kRadiologist), slices(1));
    const std::string id = json::parse(accepted->body)["id"];
    wait_job(id);
    // One stream stays open (the analysis stays `recorded`: anchoring is off here) ...
    std::atomic<bool> open{false};
    std::thread holder([&] {
        httplib::Client sse("127.0.0.1", port_);
        sse.Get("/api/jobs/" + id + "/events", auth(Role::kAuditor), [&](const char*, std::size_t) {
            open = true;
            return !server_stopping_;
        });
    });
    while (!open)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // ... so a second one is refused, and requests are still answered.
    auto second = client().Get("/api/jobs/" + id + "/events", auth(Role::kAuditor));
    EXPECT_EQ(second->status, 503);
    EXPECT_EQ(client().Get("/api/health")->status, 200);
    server_stopping_ = true;
    server_->stop();
    holder.join();
    thread_.join();
    server_.reset();
}

TEST_F(ServerTest, ServesHttpsWithACertificateFromOpenssl) {
    dir_ = fresh_dir("tls");
    const fs::path cert = dir_ / "cert.pem", key = dir_ / "key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
        "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
        key.string() + " -out " + cert.string() + " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    ServeOptions o;
    o.tls_cert = cert.string();
    o.tls_key = key.string();
    o.host = "127.0.0.1";
    o.port = 0;
    o.data_dir = dir_ / "data";
    test_chain(o);
    o.anchor = false;
    o.log_requests = false;
    server_ = std::make_unique<ApiServer>(o);
    ASSERT_TRUE(server_->bind().ok());
    thread_ = std::thread([this] { (void)server_->run(); });
    port_ = server_->port();

    httplib::SSLClient tls("127.0.0.1", port_);
    tls.set_ca_cert_path(cert.c_str());
    tls.enable_server_certificate_verification(true);
    auto res = tls.Get("/api/health");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    // Plain HTTP to the TLS port gets no answer.
    httplib::Client plain("127.0.0.1", port_);
    plain.set_read_timeout(2, 0);
    EXPECT_FALSE(plain.Get("/api/health"));

    // A private key others can read is refused, like every key medanchor reads.
    fs::permissions(key, fs::perms::others_read, fs::perm_options::add);
    ApiServer loose(o);
    auto bound = loose.bind();
    ASSERT_FALSE(bound.ok());
    EXPECT_EQ(bound.error().code(), ErrorCode::kPermission);
}

}  // namespace
}  // namespace medanchor::http

namespace medanchor::http {
namespace {

// A listening socket with the servers' options on 127.0.0.1:port (0: any); -1 when bind fails.
int listen_on(int port) {
    const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
    listen_socket_options(sock);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(sock, 4) != 0) {
        ::close(sock);
        return -1;
    }
    return sock;
}

int port_of(int sock) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
}

}  // namespace

// serve --listen-dicom on a PostgreSQL ledger is refused before anything is opened (the
// listener's tables are SQLite only; docs/scale.md, "Front ends").
TEST(ServerStart, RefusesTheListenerOnAPostgresLedger) {
    const fs::path dir =
        fs::temp_directory_path() / ("medanchor-pg-listen-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    ServeOptions o;
    o.port = 0;
    o.log_requests = false;
    o.data_dir = dir / "data";
    o.users = dir / "users.sqlite";
    o.ledger = "postgresql://medanchor@/scans?host=/nonexistent";
    o.dicom.emplace();
    ApiServer server(o);
    auto s = server.bind();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(s.error().message().find("--listen-dicom with a PostgreSQL ledger"),
              std::string::npos)
        << s.error().message();
    EXPECT_FALSE(fs::exists(dir / "data")) << "nothing made";
    fs::remove_all(dir);
}

// A server stopped while a client's connection was open closes it first, so the port has a
// connection in TIME_WAIT for a minute; a server started again at once on that port must bind it
// (SO_REUSEADDR), while a second server beside a live one is still refused. Without
// SO_REUSEADDR (cpp-httplib sets only SO_REUSEPORT, which listen_socket_options turns off)
// serve_listen_end_to_end's restart failed with "cannot listen".
TEST(ServerStart, RebindsAPortLeftInTimeWaitButNotALiveOne) {
    const int first = listen_on(0);
    ASSERT_GE(first, 0);
    const int port = port_of(first);
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const int accepted = ::accept(first, nullptr, nullptr);
    ASSERT_GE(accepted, 0);
    EXPECT_LT(listen_on(port), 0) << "two listeners on one port";
    ::close(accepted);  // the server's side closes first: TIME_WAIT on the server's port
    char byte;
    EXPECT_EQ(::read(client, &byte, 1), 0);  // the FIN arrived
    ::close(client);
    ::close(first);
    const int again = listen_on(port);
    EXPECT_GE(again, 0) << "port " << port << " in TIME_WAIT could not be bound again";
    if (again >= 0)
        ::close(again);
}

}  // namespace medanchor::http

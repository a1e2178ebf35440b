// The job queue on a real PostgreSQL server started by this binary (postgres_server.h): an SQLite
// ledger refused, idempotent enqueue and explicit requeue, concurrent claimers (threads, each
// with its own connection) never given the same job, an expired lease taken back and a
// heartbeat keeping it, the bound on attempts, release, completion after a reclaim, and the
// counts `medanchor status` shows checked against SQL run behind the queue's back.
#include "ledger/job_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "ledger/ledger.h"
#include "postgres_server.h"

namespace medanchor::ledger {
namespace {

using namespace std::chrono_literals;

const std::string kModel(64, 'f');
const std::string kAnalyst = "ST1ANALYST";

std::vector<std::string> paths(int n, const std::string& prefix = "/shared/in/") {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i)
        out.push_back(prefix + std::to_string(i) + ".dcm");
    return out;
}

class JobQueueTest : public testing::PostgresDatabaseTest {
  protected:
    JobQueue queue(int max_attempts = JobQueue::kDefaultMaxAttempts) {
        auto q = JobQueue::open(uri_, max_attempts);
        EXPECT_TRUE(q.ok()) << q.error().message();
        return std::move(*q);
    }
    std::string sql(const std::string& query) {
        auto r = server_->exec(database_, query);
        EXPECT_TRUE(r.ok()) << r.error().message();
        return r.ok() && r.value() ? *r.value() : "";
    }
    // A real analysis row for a job to point at.
    std::int64_t an_analysis(char image) {
        auto l = Ledger::open(uri_);
        EXPECT_TRUE(l.ok());
        NewAnalysis a;
        a.source_path = "/shared/in/x.dcm";
        a.image_hash = std::string(64, image);
        a.hash_mode = "hmac-sha256";
        a.model_sha256 = kModel;
        a.model_name = "m";
        a.model_version = "1";
        a.finding = "nodule-present";
        a.confidence_bp = 9000;
        a.report_json = "{}";
        a.analyst = kAnalyst;
        auto added = l->add(a);
        EXPECT_TRUE(added.ok());
        return added->analysis.id;
    }
};

TEST(JobQueueSqlite, AnSqliteLedgerIsRefusedSayingWhy) {
    auto q = JobQueue::open("/tmp/medanchor-no-such-dir/ledger.sqlite");
    ASSERT_FALSE(q.ok());
    EXPECT_EQ(q.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(q.error().message().find("needs a PostgreSQL ledger"), std::string::npos)
        << q.error().message();
    EXPECT_FALSE(std::filesystem::exists("/tmp/medanchor-no-such-dir"));
}

TEST_F(JobQueueTest, EnqueueIsIdempotentAndRequeueIsExplicit) {
    auto q = queue();
    auto first = q.enqueue(paths(3), kModel, kAnalyst);
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_EQ(first->queued, 3u);
    EXPECT_EQ(first->already_queued, 0u);
    auto again = q.enqueue(paths(4), kModel, kAnalyst);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->queued, 1u);
    EXPECT_EQ(again->already_queued, 3u);
    EXPECT_EQ(sql("SELECT count(*) FROM jobs"), "4");
    // Another analyst's job on the same file is another job.
    ASSERT_EQ(q.enqueue(paths(1), kModel, "ST2OTHER")->queued, 1u);
    EXPECT_EQ(sql("SELECT count(*) FROM jobs"), "5");

    // Done, then enqueued again: still one job, untouched, unless requeued.
    auto claimed = q.claim(1, "w1", 60s, kModel, kAnalyst);
    ASSERT_TRUE(claimed.ok());
    ASSERT_EQ(claimed->size(), 1u);
    ASSERT_TRUE(*q.complete(claimed->front().id, an_analysis('a')));
    const std::string id = std::to_string(claimed->front().id);
    auto same = q.enqueue({claimed->front().path}, kModel, kAnalyst);
    EXPECT_EQ(same->already_queued, 1u);
    EXPECT_EQ(same->requeued, 0u);
    EXPECT_EQ(sql("SELECT state FROM jobs WHERE id = " + id), "done");
    auto requeued = q.enqueue({claimed->front().path}, kModel, kAnalyst, /*requeue=*/true);
    ASSERT_TRUE(requeued.ok()) << requeued.error().message();
    EXPECT_EQ(requeued->requeued, 1u);
    EXPECT_EQ(sql("SELECT state || ' ' || attempts FROM jobs WHERE id = " + id), "queued 0");
    // A relative path is refused by the table itself: workers elsewhere could not resolve it.
    EXPECT_FALSE(q.enqueue({"relative/x.dcm"}, kModel, kAnalyst).ok());
}

// The listener's jobs name spooled instances it de-identified already: claimed with the flag
// set, so the worker analyses them as they are; `enqueue`'s jobs are claimed without it.
TEST_F(JobQueueTest, AJobTheListenerQueuedIsClaimedAsDeidentified) {
    auto q = queue();
    ASSERT_EQ(q.enqueue(paths(1, "/shared/in/"), kModel, kAnalyst)->queued, 1u);
    auto spooled = q.enqueue_deidentified(paths(2, "/shared/spool/s/"), kModel, kAnalyst);
    ASSERT_TRUE(spooled.ok()) << spooled.error().message();
    EXPECT_EQ(spooled->queued, 2u);
    EXPECT_EQ(q.enqueue_deidentified(paths(2, "/shared/spool/s/"), kModel, kAnalyst)->queued, 0u);
    EXPECT_EQ(sql("SELECT count(*) FROM jobs WHERE deidentified"), "2");
    auto claimed = q.claim(10, "w1", 60s, kModel, kAnalyst);
    ASSERT_TRUE(claimed.ok()) << claimed.error().message();
    ASSERT_EQ(claimed->size(), 3u);
    for (const auto& job : *claimed)
        EXPECT_EQ(job.deidentified, job.path.starts_with("/shared/spool/")) << job.path;
}

// A front end follows the jobs it queued: in its own order, each job's state, the analysis a done
// one ended in and why a failed one failed; paths with no job (or another analyst's) left out, and
// a path with a quote, a backslash and a comma read back as it was queued.
TEST_F(JobQueueTest, LookupFollowsQueuedJobsInTheCallersOrder) {
    auto q = queue();
    const std::vector<std::string> odd = {"/shared/in/a \"quoted\", b\\c{}.dcm"};
    ASSERT_EQ(q.enqueue(paths(3), kModel, kAnalyst)->queued, 3u);
    ASSERT_EQ(q.enqueue(odd, kModel, kAnalyst)->queued, 1u);
    ASSERT_EQ(q.enqueue({"/shared/in/other.dcm"}, kModel, "ST2OTHER")->queued, 1u);
    auto claimed = q.claim(2, "w1", 60s, kModel, kAnalyst);
    ASSERT_TRUE(claimed.ok());
    ASSERT_EQ(claimed->size(), 2u);
    const std::int64_t analysis = an_analysis('b');
    ASSERT_TRUE(*q.complete((*claimed)[0].id, analysis));
    ASSERT_TRUE(*q.fail((*claimed)[1].id, "w1", "not a DICOM file", /*permanent=*/true));

    const auto p = paths(3);
    auto seen =
        q.lookup({odd[0], p[2], "/shared/in/other.dcm", p[1], p[0], "/none.dcm"}, kModel, kAnalyst);
    ASSERT_TRUE(seen.ok()) << seen.error().message();
    ASSERT_EQ(seen->size(), 4u);
    EXPECT_EQ((*seen)[0].path, odd[0]);
    EXPECT_EQ((*seen)[0].state, JobState::kQueued);
    EXPECT_EQ((*seen)[1].path, p[2]);
    EXPECT_EQ((*seen)[1].state, JobState::kQueued);
    EXPECT_EQ((*seen)[2].path, p[1]);
    EXPECT_EQ((*seen)[2].state, JobState::kFailed);
    EXPECT_EQ((*seen)[2].error, "not a DICOM file");
    EXPECT_FALSE((*seen)[2].analysis_id.has_value());
    EXPECT_EQ((*seen)[3].path, p[0]);
    EXPECT_EQ((*seen)[3].state, JobState::kDone);
    EXPECT_EQ((*seen)[3].analysis_id, analysis);
    EXPECT_EQ(std::to_string((*seen)[3].id),
              sql("SELECT id FROM jobs WHERE path = '" + p[0] + "'"));
    EXPECT_TRUE(q.lookup({}, kModel, kAnalyst)->empty());
}

// Four claimers, each with its own connection, drain 300 jobs in batches: every job is claimed
// exactly once (FOR UPDATE SKIP LOCKED; without it two claimers take the same rows).
TEST_F(JobQueueTest, ConcurrentClaimersNeverGetTheSameJob) {
    ASSERT_EQ(queue().enqueue(paths(300), kModel, kAnalyst)->queued, 300u);
    std::mutex mutex;
    std::map<std::int64_t, int> claims;
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            auto q = JobQueue::open(uri_);
            if (!q.ok()) {
                ++errors;
                return;
            }
            const std::string worker = "w" + std::to_string(t);
            for (;;) {
                auto got = q->claim(7, worker, 60s, kModel, kAnalyst);
                if (!got.ok()) {
                    ++errors;
                    return;
                }
                if (got->empty())
                    return;
                std::lock_guard lock(mutex);
                for (const auto& job : *got)
                    ++claims[job.id];
            }
        });
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(claims.size(), 300u);
    for (const auto& [id, n] : claims)
        EXPECT_EQ(n, 1) << "job " << id << " claimed " << n << " times";
    EXPECT_EQ(sql("SELECT count(*) FROM jobs WHERE state = 'claimed' AND attempts = 1"), "300");
}

TEST_F(JobQueueTest, AnExpiredLeaseIsTakenBackAndAHeartbeatKeepsIt) {
    auto q = queue();
    ASSERT_EQ(q.enqueue(paths(2), kModel, kAnalyst)->queued, 2u);
    auto w1 = q.claim(1, "w1", 1s, kModel, kAnalyst);
    auto w2 = q.claim(1, "w2", 1s, kModel, kAnalyst);
    ASSERT_EQ(w1->size(), 1u);
    ASSERT_EQ(w2->size(), 1u);
    // w1 keeps beating; w2 goes silent (died).
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(300ms);
        ASSERT_EQ(*q.heartbeat("w1", 1s), 1u);
    }
    auto w3 = q.claim(5, "w3", 60s, kModel, kAnalyst);
    ASSERT_TRUE(w3.ok()) << w3.error().message();
    ASSERT_EQ(w3->size(), 1u) << "only the job whose lease expired";
    EXPECT_EQ(w3->front().id, w2->front().id);
    EXPECT_EQ(w3->front().attempts, 2);
    // w2, back from the dead, no longer holds it: its failure changes nothing.
    EXPECT_FALSE(*q.fail(w2->front().id, "w2", "late", false));
    EXPECT_EQ(sql("SELECT worker FROM jobs WHERE id = " + std::to_string(w2->front().id)), "w3");
    // Its analysis was recorded before it died: whoever completes it, the job is done once.
    const auto analysis = an_analysis('b');
    EXPECT_TRUE(*q.complete(w3->front().id, analysis));
    EXPECT_FALSE(*q.complete(w3->front().id, analysis));
    EXPECT_EQ(sql("SELECT state FROM jobs WHERE id = " + std::to_string(w1->front().id)),
              "claimed");
}

TEST_F(JobQueueTest, AttemptsAreBounded) {
    auto q = queue(/*max_attempts=*/2);
    ASSERT_EQ(q.enqueue(paths(3), kModel, kAnalyst)->queued, 3u);
    // Job 1: its workers die twice; the third claim finds it failed, not claimable.
    auto first = q.claim(1, "w1", 1s, kModel, kAnalyst);
    ASSERT_EQ(first->size(), 1u);
    const auto dying = first->front().id;
    std::this_thread::sleep_for(1200ms);
    auto second = q.claim(1, "w2", 1s, kModel, kAnalyst);
    ASSERT_EQ(second->front().id, dying);
    std::this_thread::sleep_for(1200ms);
    auto third = q.claim(3, "w3", 60s, kModel, kAnalyst);
    ASSERT_TRUE(third.ok()) << third.error().message();
    for (const auto& job : *third)
        EXPECT_NE(job.id, dying);
    EXPECT_EQ(sql("SELECT state FROM jobs WHERE id = " + std::to_string(dying)), "failed");
    EXPECT_NE(sql("SELECT last_error FROM jobs WHERE id = " + std::to_string(dying)).find("w2"),
              std::string::npos);
    ASSERT_EQ(third->size(), 2u);
    // A transient failure queues it again until the attempts are spent; a permanent one fails.
    EXPECT_TRUE(*q.fail((*third)[0].id, "w3", "ledger busy", /*permanent=*/false));
    EXPECT_EQ(sql("SELECT state FROM jobs WHERE id = " + std::to_string((*third)[0].id)), "queued");
    EXPECT_TRUE(*q.fail((*third)[1].id, "w3", "not an image", /*permanent=*/true));
    EXPECT_EQ(sql("SELECT state || ': ' || last_error FROM jobs WHERE id = " +
                  std::to_string((*third)[1].id)),
              "failed: not an image");
    auto again = q.claim(1, "w4", 60s, kModel, kAnalyst);
    ASSERT_EQ(again->size(), 1u);
    EXPECT_EQ(again->front().attempts, 2);
    EXPECT_TRUE(*q.fail(again->front().id, "w4", "ledger busy", false));
    EXPECT_EQ(sql("SELECT state FROM jobs WHERE id = " + std::to_string(again->front().id)),
              "failed");
}

TEST_F(JobQueueTest, ReleasedJobsGoBackUncounted) {
    auto q = queue();
    ASSERT_EQ(q.enqueue(paths(4), kModel, kAnalyst)->queued, 4u);
    auto got = q.claim(4, "w1", 60s, kModel, kAnalyst);
    ASSERT_EQ(got->size(), 4u);
    EXPECT_EQ(*q.release({(*got)[2].id, (*got)[3].id}, "w1"), 2u);
    EXPECT_EQ(*q.release({(*got)[2].id}, "w2"), 0u) << "only the holder releases";
    EXPECT_EQ(sql("SELECT count(*) FROM jobs WHERE state = 'queued' AND attempts = 0"), "2");
    // Another model's worker never sees them.
    EXPECT_TRUE(q.claim(4, "w2", 60s, std::string(64, 'e'), kAnalyst)->empty());
}

// A claim whose answer a worker never got (the connection dropped at commit) is given back whole
// by release_all before its next claim: its jobs queued again, uncounted, and nobody else's.
TEST_F(JobQueueTest, AWorkerGivesBackAClaimItNeverLearntOf) {
    auto q = queue();
    ASSERT_EQ(q.enqueue(paths(5), kModel, kAnalyst)->queued, 5u);
    ASSERT_EQ(q.claim(3, "w1", 60s, kModel, kAnalyst)->size(), 3u);  // the lost answer
    ASSERT_EQ(q.claim(1, "w2", 60s, kModel, kAnalyst)->size(), 1u);
    EXPECT_EQ(*q.release_all("w1"), 3u);
    EXPECT_EQ(sql("SELECT count(*) FROM jobs WHERE state = 'queued' AND attempts = 0"), "4");
    EXPECT_EQ(sql("SELECT count(*) FROM jobs WHERE state = 'claimed' AND worker = 'w2'"), "1");
    EXPECT_EQ(*q.release_all("w1"), 0u);
    EXPECT_EQ(q.claim(5, "w1", 60s, kModel, kAnalyst)->size(), 4u);
}

TEST_F(JobQueueTest, StatusMatchesTheTable) {
    auto q = queue(/*max_attempts=*/1);
    ASSERT_EQ(q.enqueue(paths(10), kModel, kAnalyst)->queued, 10u);
    auto a = q.claim(3, "host-a:1", 60s, kModel, kAnalyst);
    auto b = q.claim(2, "host-b:2", 1s, kModel, kAnalyst);
    ASSERT_TRUE(*q.complete((*a)[0].id, an_analysis('c')));
    ASSERT_TRUE(*q.fail((*a)[1].id, "host-a:1", "corrupt: not DICOM", true));
    std::this_thread::sleep_for(1200ms);
    auto s = q.status();
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(std::to_string(s->queued), sql("SELECT count(*) FROM jobs WHERE state = 'queued'"));
    EXPECT_EQ(s->queued, 5u);
    EXPECT_EQ(s->claimed, 3u);
    EXPECT_EQ(s->done, 1u);
    EXPECT_EQ(s->failed, 1u);
    EXPECT_EQ(s->expired, 2u);
    ASSERT_EQ(s->workers.size(), 2u);
    EXPECT_EQ(s->workers[0].worker, "host-a:1");
    EXPECT_EQ(s->workers[0].jobs, 1u);
    EXPECT_EQ(s->workers[1].jobs, 2u);
    EXPECT_GE(s->workers[1].oldest_claim_age_s, 1);
    ASSERT_EQ(s->last_failures.size(), 1u);
    EXPECT_EQ(s->last_failures[0].error, "corrupt: not DICOM");
}

}  // namespace
}  // namespace medanchor::ledger

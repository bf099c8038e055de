// The log rate limiter: a call site that a client or guest can trigger at
// will writes its burst, then about per_second lines a second, and reports
// how many it dropped with the next line it lets through.
#include "runtime/log.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// Counts how many of `n` immediate calls are allowed.
int allowed_of(rs::log_limiter &l, int n) {
    int allowed = 0;
    for (int i = 0; i < n; ++i) {
        uint64_t suppressed = 0;
        if (l.allow(suppressed)) ++allowed;
    }
    return allowed;
}

TEST(LogLimiter, AllowsItsBurstThenSuppresses) {
    // One line a second: nothing refills during the few microseconds this takes.
    rs::log_limiter l(3, 1);
    for (int i = 0; i < 3; ++i) {
        uint64_t suppressed = 99;
        EXPECT_TRUE(l.allow(suppressed)) << "line " << i << " of the burst";
        EXPECT_EQ(suppressed, 0u);
    }
    EXPECT_EQ(allowed_of(l, 5), 0);
}

TEST(LogLimiter, AllowsAgainAfterTimePassesAndReportsWhatItSuppressed) {
    rs::log_limiter l(2, 20); // a token every 50 ms
    EXPECT_EQ(allowed_of(l, 2), 2);
    EXPECT_EQ(allowed_of(l, 4), 0);
    std::this_thread::sleep_for(120ms); // two tokens at least
    uint64_t suppressed = 0;
    ASSERT_TRUE(l.allow(suppressed));
    EXPECT_EQ(suppressed, 4u) << "the next line carries the count of those dropped";
    suppressed = 99;
    ASSERT_TRUE(l.allow(suppressed));
    EXPECT_EQ(suppressed, 0u) << "the count is reported once";
}

TEST(LogLimiter, RefillsNoMoreThanItsBurst) {
    rs::log_limiter l(2, 1000);
    EXPECT_EQ(allowed_of(l, 2), 2);
    std::this_thread::sleep_for(50ms); // 50 tokens' worth of time
    EXPECT_LE(allowed_of(l, 10), 3);   // the burst, and maybe one refilled meanwhile
}

TEST(LogLimiter, KeepsAllowingAboutPerSecondUnderASustainedFlood) {
    // Calls far more often than one per token: the time between two calls is
    // worth a small fraction of a token, which must still add up.
    rs::log_limiter l(1, 100); // a token every 10 ms
    const auto start = clock_type::now();
    const auto end = start + 300ms;
    int allowed = 0;
    while (clock_type::now() < end) {
        uint64_t suppressed = 0;
        if (l.allow(suppressed)) ++allowed;
    }
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start);
    const int64_t most = 1 + elapsed.count() / 10 + 2;
    RecordProperty("allowed", allowed);
    EXPECT_GE(allowed, 1 + elapsed.count() / 20)
        << "a flood must not silence the call site for good";
    EXPECT_LE(allowed, most);
}

TEST(LogLimiter, ZeroPerSecondAllowsOnlyTheBurst) {
    rs::log_limiter l(2, 0);
    EXPECT_EQ(allowed_of(l, 3), 2);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(allowed_of(l, 3), 0);
}

TEST(LogLimiter, SharedBetweenThreadsStaysWithinItsBudget) {
    rs::log_limiter l(5, 50);
    std::atomic<int> allowed{0};
    std::atomic<uint64_t> reported{0};
    constexpr int threads = 4;
    constexpr int calls = 20000;
    const auto start = clock_type::now();
    {
        std::vector<std::jthread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&] {
                for (int i = 0; i < calls; ++i) {
                    uint64_t suppressed = 0;
                    if (l.allow(suppressed)) {
                        allowed.fetch_add(1);
                        reported.fetch_add(suppressed);
                    }
                }
            });
    }
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start);
    const int64_t most = 5 + elapsed.count() * 50 / 1000 + threads;
    EXPECT_GE(allowed.load(), 5);
    EXPECT_LE(allowed.load(), most);
    // Every call was either allowed or counted, and no count exceeds the calls.
    EXPECT_LE(reported.load() + uint64_t(allowed.load()), uint64_t{threads} * calls);
}

TEST(LogRateLimited, FromSeveralThreadsDoesNotCrash) {
    const auto saved = rs::log_threshold();
    rs::set_log_threshold(rs::log_level::warn); // the lines are written, not just counted
    {
        std::vector<std::jthread> pool;
        for (int t = 0; t < 4; ++t)
            pool.emplace_back([t] {
                for (int i = 0; i < 5000; ++i)
                    RS_LOG_RATELIMITED("test", "thread {} line {} of a flood", t, i);
            });
    }
    rs::set_log_threshold(saved);
    SUCCEED();
}

} // namespace

#include "runtime/byte_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "runtime/cross_shard.hpp"

namespace {

namespace bp = rs::byte_pool;

// Each test runs on a fresh thread, so it starts with an empty pool.
template <typename F> void on_fresh_thread(F f) { std::thread(f).join(); }

TEST(BytePool, AGivenBufferIsTakenAgainWithItsPages) {
    on_fresh_thread([] {
        auto a = bp::take(1 << 20);
        EXPECT_TRUE(a.empty());
        EXPECT_GE(a.capacity(), size_t{1} << 20);
        a.resize(1000, 7);
        const uint8_t *pages = a.data();
        bp::give(std::move(a));
        EXPECT_EQ(bp::held().buffers, 1u);
        auto b = bp::take(512 << 10);
        EXPECT_EQ(b.data(), pages); // the same memory, not a new mapping
        EXPECT_TRUE(b.empty());     // handed out cleared
        EXPECT_EQ(bp::held().buffers, 0u);
    });
}

TEST(BytePool, TakesTheSmallestBufferThatFits) {
    on_fresh_thread([] {
        auto big = bp::take(8 << 20);
        auto mid = bp::take(2 << 20);
        const uint8_t *mid_pages = mid.data();
        bp::give(std::move(big));
        bp::give(std::move(mid));
        auto got = bp::take(1 << 20);
        EXPECT_EQ(got.data(), mid_pages);
        auto none = bp::take(16 << 20); // nothing pooled is that large
        EXPECT_GE(none.capacity(), size_t{16} << 20);
        EXPECT_EQ(bp::held().buffers, 1u); // the 8 MiB one stays
    });
}

TEST(BytePool, SmallBuffersAreNotKept) {
    on_fresh_thread([] {
        auto small = bp::take(4096);
        EXPECT_GE(small.capacity(), 4096u);
        bp::give(std::move(small));
        EXPECT_EQ(bp::held().buffers, 0u);
    });
}

TEST(BytePool, KeepsAtMostTheLimitsDroppingTheOldest) {
    on_fresh_thread([] {
        std::vector<const uint8_t *> pages;
        for (size_t i = 0; i < bp::max_entries + 2; ++i) {
            auto b = bp::take((1 << 20) + i);
            pages.push_back(b.data());
            bp::give(std::move(b));
            // Each give keeps it; take() above found nothing large enough
            // only because every buffer asked for is a little larger.
        }
        EXPECT_EQ(bp::held().buffers, bp::max_entries);
        EXPECT_LE(bp::held().bytes, bp::max_bytes);
    });
}

TEST(BytePool, ByteLimitHolds) {
    on_fresh_thread([] {
        std::vector<std::vector<uint8_t>> held;
        for (int i = 0; i < 3; ++i)
            held.push_back(bp::take(bp::max_bytes / 2 + 1));
        for (auto &b : held)
            bp::give(std::move(b));
        EXPECT_EQ(bp::held().buffers, 1u);
        EXPECT_LE(bp::held().bytes, bp::max_bytes);
    });
}

TEST(BytePool, TrimFreesWhatWasNotTakenAgainInTime) {
    on_fresh_thread([] {
        bp::give(bp::take(1 << 20));
        bp::trim(std::chrono::steady_clock::now() + bp::max_age / 2);
        EXPECT_EQ(bp::held().buffers, 1u);
        bp::trim(std::chrono::steady_clock::now() + bp::max_age * 2);
        EXPECT_EQ(bp::held().buffers, 0u);
        EXPECT_EQ(bp::held().bytes, 0u);
    });
}

TEST(BytePool, AnIdleThreadKeepsOnlyFewBytes) {
    on_fresh_thread([] {
        std::vector<std::vector<uint8_t>> held;
        held.push_back(bp::take(8 << 20));   // a picture's snapshot
        held.push_back(bp::take(300 << 10)); // a scroll frame's buffers
        held.push_back(bp::take(400 << 10));
        for (auto &b : held)
            bp::give(std::move(b));
        bp::trim_idle();
        EXPECT_LE(bp::held().bytes, bp::idle_bytes);
        EXPECT_EQ(bp::held().buffers, 2u); // the large one went, the stream's stay
    });
}

TEST(BytePool, AShardFreesLargeBuffersBeforeItWaits) {
    // An idle VM's display shard must not keep a picture's buffers.
    rs::shard_thread st({.name = "pooled"});
    std::atomic<size_t> after{~size_t{0}};
    st.get().post([] { bp::give(bp::take(8 << 20)); });
    for (int i = 0; i < 200 && after.load() != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        st.get().post([&] { after = bp::held().bytes; });
    }
    EXPECT_EQ(after.load(), 0u);
}

TEST(BytePool, EachThreadHasItsOwn) {
    on_fresh_thread([] {
        bp::give(bp::take(1 << 20));
        EXPECT_EQ(bp::held().buffers, 1u);
        std::thread([] { EXPECT_EQ(bp::held().buffers, 0u); }).join();
    });
}

} // namespace

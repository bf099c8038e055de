#include "display/image_cache.hpp"

#include <gtest/gtest.h>

namespace rs {
namespace {

TEST(ImageCache, AddFindAndLruEviction) {
    image_cache c(100);
    std::vector<uint64_t> ev;
    c.begin_message();
    ASSERT_TRUE(c.add(1, 40, false, ev));
    c.begin_message();
    ASSERT_TRUE(c.add(2, 40, true, ev));
    EXPECT_TRUE(ev.empty());
    c.begin_message();
    ASSERT_TRUE(c.find(1)); // 1 is now more recent than 2
    EXPECT_FALSE(c.find(1)->lossy);
    EXPECT_TRUE(c.find(2)->lossy);
    c.begin_message();
    ASSERT_TRUE(c.find(1));
    ASSERT_TRUE(c.add(3, 40, false, ev)); // evicts 2, the least recently used
    EXPECT_EQ(ev, std::vector<uint64_t>{2});
    EXPECT_FALSE(c.find(2));
    EXPECT_EQ(c.used(), 80);
    EXPECT_EQ(c.size(), 2u);
}

TEST(ImageCache, EntriesOfTheCurrentMessageAreNeverEvicted) {
    image_cache c(100);
    std::vector<uint64_t> ev;
    c.begin_message();
    ASSERT_TRUE(c.add(1, 60, false, ev));
    // Same message: 1 is pinned, so 50 more cannot fit and nothing is evicted.
    EXPECT_FALSE(c.add(2, 50, false, ev));
    EXPECT_TRUE(ev.empty());
    EXPECT_TRUE(c.find(1));
    c.begin_message();
    EXPECT_TRUE(c.add(2, 50, false, ev));
    EXPECT_EQ(ev, std::vector<uint64_t>{1});
}

TEST(ImageCache, RefusesWhatCannotFitAndDuplicates) {
    image_cache c(10);
    std::vector<uint64_t> ev;
    c.begin_message();
    EXPECT_FALSE(c.add(1, 11, false, ev));
    EXPECT_FALSE(c.add(1, 0, false, ev));
    EXPECT_TRUE(c.add(1, 10, false, ev));
    EXPECT_FALSE(c.add(1, 1, false, ev));
    c.set_lossy(1, true);
    EXPECT_TRUE(c.find(1)->lossy);
    c.reset(5);
    EXPECT_FALSE(c.find(1));
    EXPECT_EQ(c.used(), 0);
    EXPECT_EQ(c.capacity(), 5);
}

} // namespace
} // namespace rs

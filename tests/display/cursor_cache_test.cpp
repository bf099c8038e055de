#include "display/cursor_cache.hpp"

#include <gtest/gtest.h>

namespace {

TEST(CursorCache, FirstUseAsksTheClientToCacheThenSendsFromCache) {
    rs::cursor_cache c;
    EXPECT_EQ(c.use(7).flags, SPICE_CURSOR_FLAGS_CACHE_ME);
    EXPECT_EQ(c.use(7).flags, SPICE_CURSOR_FLAGS_FROM_CACHE);
}

TEST(CursorCache, UniqueZeroIsNeverCached) {
    rs::cursor_cache c;
    EXPECT_EQ(c.use(0).flags, 0);
    EXPECT_EQ(c.use(0).flags, 0);
    EXPECT_EQ(c.size(), 0u);
}

TEST(CursorCache, MakingRoomEvictsTheLeastRecentlyUsed) {
    rs::cursor_cache c(2);
    EXPECT_FALSE(c.use(1).evicted);
    EXPECT_FALSE(c.use(2).evicted);
    EXPECT_EQ(c.use(1).flags, SPICE_CURSOR_FLAGS_FROM_CACHE); // 2 is now the oldest
    auto d = c.use(3);
    ASSERT_TRUE(d.evicted);
    EXPECT_EQ(*d.evicted, 2u);
    EXPECT_EQ(d.flags, SPICE_CURSOR_FLAGS_CACHE_ME);
    EXPECT_EQ(c.use(2).flags, SPICE_CURSOR_FLAGS_CACHE_ME); // gone, so sent again
}

TEST(CursorCache, ClearForgetsEverything) {
    rs::cursor_cache c;
    c.use(5);
    c.clear();
    EXPECT_EQ(c.use(5).flags, SPICE_CURSOR_FLAGS_CACHE_ME);
}

} // namespace

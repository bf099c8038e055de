// The caches a client's display channels share: who may refer to what,
// which waits an eviction or a reset needs, and when GLZ must end.
#include "display/client_caches.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>

namespace rs {
namespace {

/// A display channel whose serials the test sets.
struct fake_member final : client_caches::member {
    uint64_t queued = 0;
    uint64_t sent = 0;
    uint64_t queued_serial() const noexcept override { return queued; }
    uint64_t sent_serial() const noexcept override { return sent; }
};

msgc::display_init init_of(uint8_t cache_id, int64_t pixels, int32_t glz_window = 1 << 20) {
    return msgc::display_init{.pixmap_cache_id = cache_id,
                              .pixmap_cache_size = pixels,
                              .glz_dictionary_id = 0,
                              .glz_dictionary_window_size = glz_window};
}

/// Caches that displays 0 and 1 of one client have joined.
struct two_channels : ::testing::Test {
    client_caches c;
    fake_member m0, m1;
    void SetUp() override {
        ASSERT_TRUE(c.join(0, m0, init_of(1, 100)));
        ASSERT_TRUE(c.join(1, m1, init_of(1, 100)));
    }
};

TEST(ClientCaches, ChannelsWithTheClientsCacheIdsJoinOthersAreRefused) {
    client_caches c;
    fake_member m0, m1, m2, m9;
    ASSERT_TRUE(c.join(0, m0, init_of(1, 1000)));
    EXPECT_EQ(c.pixmaps.capacity(), 1000);
    ASSERT_NE(c.glz(), nullptr);
    // A later INIT does not resize what the first one set up.
    EXPECT_TRUE(c.join(1, m1, init_of(1, 5)));
    EXPECT_EQ(c.pixmaps.capacity(), 1000);
    EXPECT_FALSE(c.join(2, m2, init_of(2, 1000))) << "another pixmap cache id";
    EXPECT_FALSE(c.join(client_caches::max_channels, m9, init_of(1, 1000)));
    EXPECT_EQ(c.members(), 2u);
    c.leave(1, m1);
    EXPECT_EQ(c.members(), 1u);
}

TEST(ClientCaches, AnotherChannelsEntryIsUsableOnceItsMessageWasSent) {
    client_caches c;
    fake_member m0, m1;
    ASSERT_TRUE(c.join(0, m0, init_of(1, 1000)));
    ASSERT_TRUE(c.join(1, m1, init_of(1, 1000)));
    EXPECT_TRUE(c.usable(0, 0, 0)) << "its own entry, even before it is queued";
    EXPECT_FALSE(c.usable(1, 0, 0)) << "another's entry not yet queued";
    m0.sent = 4;
    EXPECT_FALSE(c.usable(1, 0, 5)) << "queued but not handed to the socket";
    m0.sent = 5;
    EXPECT_TRUE(c.usable(1, 0, 5));
    c.leave(0, m0);
    EXPECT_FALSE(c.usable(1, 0, 5)) << "its channel is gone";
}

TEST(ClientCaches, EvictingWaitsForTheOtherChannelsLastUse) {
    client_caches c;
    fake_member m0, m1, m2;
    ASSERT_TRUE(c.join(0, m0, init_of(1, 100)));
    ASSERT_TRUE(c.join(1, m1, init_of(1, 100)));
    ASSERT_TRUE(c.join(2, m2, init_of(1, 100)));
    std::vector<image_cache::evicted_entry> ev;
    c.pixmaps.begin_message();
    ASSERT_TRUE(c.pixmaps.add(7, 60, false, 0, ev));
    c.pixmaps.stamp(7, 0, 3); // display 0's message 3 adds it
    c.pixmaps.begin_message();
    ASSERT_TRUE(c.pixmaps.find(7));
    c.pixmaps.stamp(7, 1, 9); // display 1's message 9 uses it
    c.pixmaps.begin_message();
    ASSERT_TRUE(c.pixmaps.find(7));
    c.pixmaps.stamp(7, 1, 12); // and 12
    c.pixmaps.begin_message();
    ASSERT_TRUE(c.pixmaps.add(8, 60, false, 2, ev)); // display 2 makes room
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].id, 7u);
    const auto waits = c.waits_for(2, ev);
    ASSERT_EQ(waits.size(), 2u);
    EXPECT_EQ(waits[0].channel_type, SPICE_CHANNEL_DISPLAY);
    EXPECT_EQ(waits[0].channel_id, 0);
    EXPECT_EQ(waits[0].message_serial, 3u);
    EXPECT_EQ(waits[1].channel_id, 1);
    EXPECT_EQ(waits[1].message_serial, 12u);
    // Display 0 evicting would not wait for itself; a channel that left is
    // not waited for.
    c.leave(1, m1);
    const auto after = c.waits_for(0, ev);
    EXPECT_TRUE(after.empty());
}

TEST_F(two_channels, AResetIsWaitedForOnceByEveryOtherChannel) {
    uint64_t seen0 = c.resets(), seen1 = c.resets();
    m1.queued = 30;
    const auto before = c.waits_for_all(0);
    ASSERT_EQ(before.size(), 1u);
    EXPECT_EQ(before[0].channel_id, 1);
    EXPECT_EQ(before[0].message_serial, 30u);
    c.note_reset(0, 42); // display 0 queued INVAL_ALL_PIXMAPS as message 42
    std::vector<msg::channel_wait> w0, w1;
    c.sync_wait(0, seen0, w0);
    c.sync_wait(1, seen1, w1);
    EXPECT_TRUE(w0.empty());
    ASSERT_EQ(w1.size(), 1u);
    EXPECT_EQ(w1[0].channel_id, 0);
    EXPECT_EQ(w1[0].message_serial, 42u);
    w1.clear();
    c.sync_wait(1, seen1, w1);
    EXPECT_TRUE(w1.empty()) << "one wait per reset";
}

TEST_F(two_channels, GlzImagesOfAnotherChannelAreExcludedUntilSent) {
    c.glz_added(0, 0); // display 0 encodes image 0, not queued yet
    EXPECT_TRUE(c.glz_excluded(0).empty());
    EXPECT_EQ(c.glz_excluded(1), std::vector<uint64_t>{0});
    c.stamp_glz(0, 7);
    m0.sent = 6;
    EXPECT_EQ(c.glz_excluded(1), std::vector<uint64_t>{0});
    m0.sent = 7;
    EXPECT_TRUE(c.glz_excluded(1).empty());
}

TEST_F(two_channels, DroppingAGlzImageEndsGlzForTheClient) {
    c.glz_added(0, 0);
    c.stamp_glz(0, 5);
    m0.sent = 5;
    std::vector<image_cache::evicted_entry> ev;
    c.pixmaps.begin_message();
    ASSERT_TRUE(c.pixmaps.add(1, 10, false, 0, ev));
    // Display 0 drops messages after 5: none carried a GLZ image.
    c.reset_after_drop(0);
    EXPECT_EQ(c.pixmaps.size(), 0u) << "both caches restart empty";
    ASSERT_NE(c.glz(), nullptr);
    // Display 1 drops message 9, which carried image 1: a gap for good.
    c.glz_added(1, 1);
    c.stamp_glz(1, 9);
    m1.sent = 8;
    c.reset_after_drop(1);
    EXPECT_EQ(c.glz(), nullptr);
}

TEST_F(two_channels, AChannelLeavingWithUnsentGlzImagesEndsGlz) {
    c.glz_added(1, 0);
    c.stamp_glz(1, 4);
    m1.sent = 4;
    c.leave(1, m1); // everything it encoded reached the socket
    ASSERT_NE(c.glz(), nullptr);
    ASSERT_TRUE(c.join(1, m1, init_of(1, 100)));
    c.glz_added(1, 1);
    c.stamp_glz(1, 6);
    c.leave(1, m1); // message 6 never left
    EXPECT_EQ(c.glz(), nullptr);
}

TEST(DisplayGroup, OneCachesObjectPerSessionWhileItsChannelsHoldIt) {
    display_group g;
    auto a = g.caches_for(1);
    auto b = g.caches_for(1);
    auto other = g.caches_for(2);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, other);
    fake_member m;
    ASSERT_TRUE(a->join(0, m, init_of(1, 100)));
    a->leave(0, m);
    a.reset();
    b.reset();
    // Nobody holds session 1's caches: it starts again from new ones.
    auto again = g.caches_for(1);
    ASSERT_NE(again, nullptr);
    EXPECT_TRUE(again->join(0, m, init_of(2, 50))) << "the old INIT's ids are gone with them";
    EXPECT_EQ(again->pixmaps.capacity(), 50);
}

} // namespace
} // namespace rs

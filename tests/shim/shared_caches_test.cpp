// A client's display channels share its pixmap cache (issue 6), through
// libspice-server.so.1 with two QXL devices as QEMU drives a two-head VM:
// spice-gtk keeps one cache per session, so an image display 0 cached is
// drawn FROM_CACHE on display 1, and when display 0 later evicts it, its
// INVAL_LIST waits (WAIT_FOR_CHANNELS) until the client has handled display
// 1's last message that used it.
#include "shim/vmm_loop.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>

#include <optional>
#include <vector>

namespace {

using namespace std::chrono_literals;
using rs::testing::channel_message;
using rs::testing::link_channel;
using rs::testing::link_main;
using rs::testing::qxl_guest;
using rs::testing::shim_server;
using rs::testing::spice_test_client;
using rs::testing::vmm_loop;

constexpr uint32_t side = 64;
constexpr uint32_t image_side = 16;

/// A display channel of the test client that counts the messages it reads:
/// with the mini header, the n-th message's serial is n.
struct counted_display {
    spice_test_client c;
    uint64_t serial = 0;

    std::optional<channel_message> next() {
        auto m = c.read_message();
        if (m) ++serial;
        return m;
    }
    /// Reads up to and including the first message of `type`; the messages
    /// before it are appended to `before`.
    std::optional<channel_message> until(uint16_t type,
                                         std::vector<channel_message> *before = nullptr) {
        while (auto m = next()) {
            if (m->type == type) return m;
            if (before != nullptr) before->push_back(std::move(*m));
        }
        return std::nullopt;
    }
};

/// SPICE_MSGC_DISPLAY_INIT: one pixmap cache of `pixels`, no GLZ window.
bool send_init(spice_test_client &c, int64_t pixels) {
    std::vector<uint8_t> body;
    rs::wire::writer w(body);
    w.u8(1); // pixmap_cache_id
    w.u64(static_cast<uint64_t>(pixels));
    w.u8(0);  // glz_dictionary_id
    w.u32(0); // glz_dictionary_window_size
    return c.send_message(SPICE_MSGC_DISPLAY_INIT, body);
}

/// The image descriptor of a DRAW_COPY (no clip): its id, type and flags.
struct copied_image {
    uint64_t id = 0;
    uint8_t type = 0;
    uint8_t flags = 0;
};
std::optional<copied_image> image_of(const channel_message &m) {
    rs::wire::reader r(m.body);
    (void)r.u32(); // surface id
    for (int i = 0; i < 4; ++i)
        (void)r.u32(); // box
    if (r.u8() != SPICE_CLIP_TYPE_NONE) return std::nullopt;
    const uint32_t at = r.u32();
    if (!r.ok() || at + 10 > m.body.size()) return std::nullopt;
    rs::wire::reader d(std::span(m.body).subspan(at));
    copied_image img;
    img.id = d.u64();
    img.type = d.u8();
    img.flags = d.u8();
    return img;
}

TEST(SharedCaches, DisplayChannelsOfOneClientShareItsPixmapCache) {
    qxl_guest head0(0, side), head1(1, side);
    vmm_loop vmm;
    shim_server srv(vmm);
    ASSERT_TRUE(srv.ok());
    spice_server_set_image_compression(srv.get(), SPICE_IMAGE_COMPRESSION_OFF);
    spice_server_vm_start(srv.get());
    ASSERT_EQ(head0.add(srv.get()), 0);
    ASSERT_EQ(head1.add(srv.get()), 0);

    spice_test_client main_c;
    counted_display d0, d1;
    bool linked = false;
    vmm.run([&] {
        const uint32_t sid = link_main(main_c, srv.port());
        if (sid == 0) return;
        if (!link_channel(d0.c, srv.port(), SPICE_CHANNEL_DISPLAY, 0, sid) ||
            !link_channel(d1.c, srv.port(), SPICE_CHANNEL_DISPLAY, 1, sid))
            return;
        // Room for exactly one 16×16 image, shared by both channels.
        if (!send_init(d0.c, image_side * image_side) || !send_init(d1.c, image_side * image_side))
            return;
        linked = d0.until(SPICE_MSG_DISPLAY_MARK) && d1.until(SPICE_MSG_DISPLAY_MARK);
    });
    ASSERT_TRUE(linked) << "the two display channels did not get their first pictures";

    constexpr uint64_t x = 0x1234, y = 0x5678;
    // Head 0 draws image X: cached by display 0.
    std::optional<copied_image> first, on_display1, third;
    std::vector<channel_message> before_third;
    uint64_t display1_serial = 0;
    ASSERT_TRUE(head0.copy_cached_image(0, 0, image_side, x, 0x11));
    vmm.run([&] {
        if (auto m = d0.until(SPICE_MSG_DISPLAY_DRAW_COPY)) first = image_of(*m);
    });
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->id, x);
    EXPECT_EQ(first->type, SPICE_IMAGE_TYPE_BITMAP);
    EXPECT_NE(first->flags & SPICE_IMAGE_FLAGS_CACHE_ME, 0);

    // Head 1 draws X: the client holds it (display 0's message reached us),
    // so display 1 names it from the shared cache.
    ASSERT_TRUE(head1.copy_cached_image(8, 8, image_side, x, 0x11));
    vmm.run([&] {
        if (auto m = d1.until(SPICE_MSG_DISPLAY_DRAW_COPY)) on_display1 = image_of(*m);
        display1_serial = d1.serial;
    });
    ASSERT_TRUE(on_display1.has_value());
    EXPECT_EQ(on_display1->id, x);
    EXPECT_EQ(on_display1->type, SPICE_IMAGE_TYPE_FROM_CACHE)
        << "display 1 did not use the image display 0 cached";

    // Head 0 draws Y: X must go, and display 0 first waits for display 1's
    // message that used it.
    ASSERT_TRUE(head0.copy_cached_image(0, 0, image_side, y, 0x22));
    vmm.run([&] {
        if (auto m = d0.until(SPICE_MSG_DISPLAY_DRAW_COPY, &before_third)) third = image_of(*m);
    });
    ASSERT_TRUE(third.has_value());
    EXPECT_EQ(third->id, y);
    EXPECT_NE(third->flags & SPICE_IMAGE_FLAGS_CACHE_ME, 0);
    ASSERT_EQ(before_third.size(), 2u) << "expected WAIT_FOR_CHANNELS then INVAL_LIST";
    EXPECT_EQ(before_third[0].type, SPICE_MSG_WAIT_FOR_CHANNELS);
    EXPECT_EQ(before_third[1].type, SPICE_MSG_DISPLAY_INVAL_LIST);
    {
        rs::wire::reader r(before_third[0].body);
        EXPECT_EQ(r.u8(), 1u); // one wait
        EXPECT_EQ(r.u8(), uint8_t{SPICE_CHANNEL_DISPLAY});
        EXPECT_EQ(r.u8(), 1u); // display 1
        EXPECT_EQ(r.u64(), display1_serial) << "the wait must name display 1's FROM_CACHE message";
        EXPECT_TRUE(r.ok());
    }
    {
        rs::wire::reader r(before_third[1].body);
        EXPECT_EQ(r.u16(), 1u);
        EXPECT_EQ(r.u8(), uint8_t{SPICE_RES_TYPE_PIXMAP});
        EXPECT_EQ(r.u64(), x);
        EXPECT_TRUE(r.ok());
    }
}

} // namespace

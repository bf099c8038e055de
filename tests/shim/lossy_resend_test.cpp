// Lossy pixels on the client are made exact before a drawing reads them
// (issue 6): with JPEG always on, a photo-like primary reaches a new client
// as JPEG; when the guest then copies part of it with COPY_BITS, the server
// first resends that part losslessly, then the COPY_BITS — so the client
// copies exact pixels, as with the reference.
#include "shim/vmm_loop.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>

#include <cmath>
#include <optional>
#include <vector>

namespace {

using namespace std::chrono_literals;
using rs::testing::link_channel;
using rs::testing::link_main;
using rs::testing::qxl_guest;
using rs::testing::shim_server;
using rs::testing::spice_test_client;
using rs::testing::vmm_loop;

/// A DRAW_COPY's destination (left, top, right, bottom) and its image type.
struct drawn_copy {
    int32_t left = 0, top = 0, right = 0, bottom = 0;
    uint8_t image_type = 0;
};

std::optional<drawn_copy> parse_draw_copy(const std::vector<uint8_t> &body) {
    rs::wire::reader r(body);
    drawn_copy c;
    (void)r.u32();                         // surface id
    c.top = static_cast<int32_t>(r.u32()); // spice.proto Rect: top, left, bottom, right
    c.left = static_cast<int32_t>(r.u32());
    c.bottom = static_cast<int32_t>(r.u32());
    c.right = static_cast<int32_t>(r.u32());
    if (r.u8() != SPICE_CLIP_TYPE_NONE) return std::nullopt;
    const uint32_t image_at = r.u32();
    if (!r.ok() || image_at + 9 > body.size()) return std::nullopt;
    c.image_type = body[image_at + 8]; // after the descriptor's u64 id
    return c;
}

TEST(LossyResend, CopyBitsFromAJpegAreaIsPrecededByALosslessResend) {
    constexpr uint32_t side = 128;
    qxl_guest guest(0, side);
    // Smooth colour fields with grain: what the classifier calls a photo.
    guest.paint_primary([](uint32_t x, uint32_t y) {
        const auto r = static_cast<uint32_t>(128 + 100 * std::sin(x / 9.0));
        const auto g = static_cast<uint32_t>(128 + 100 * std::cos(y / 11.0));
        const auto b = (x * 3 + y * 5 + (x * y) % 5) & 0xff;
        return (r << 16) | (g << 8) | b;
    });
    vmm_loop vmm;
    shim_server srv(vmm);
    ASSERT_TRUE(srv.ok());
    spice_server_set_jpeg_compression(srv.get(), SPICE_WAN_COMPRESSION_ALWAYS);
    spice_server_vm_start(srv.get());
    ASSERT_EQ(guest.add(srv.get()), 0);

    spice_test_client main_c, display_c;
    std::optional<drawn_copy> first;
    bool marked = false;
    vmm.run([&] {
        const uint32_t sid = link_main(main_c, srv.port());
        if (sid == 0 || !link_channel(display_c, srv.port(), SPICE_CHANNEL_DISPLAY, 0, sid)) return;
        while (auto m = display_c.read_message()) {
            if (m->type == SPICE_MSG_DISPLAY_DRAW_COPY && !first) first = parse_draw_copy(m->body);
            if (m->type == SPICE_MSG_DISPLAY_MARK) {
                marked = true;
                break;
            }
        }
    });
    ASSERT_TRUE(marked);
    ASSERT_TRUE(first.has_value());
    ASSERT_EQ(first->image_type, SPICE_IMAGE_TYPE_JPEG) << "the first picture was not lossy";

    // The guest copies the square at (10, 20) to (70, 80).
    ASSERT_TRUE(guest.copy_bits(10, 20, 70, 80, 32));
    std::vector<drawn_copy> before;
    bool copied = false;
    vmm.run([&] {
        display_c.set_timeout(5s);
        while (auto m = display_c.read_message()) {
            if (m->type == SPICE_MSG_DISPLAY_DRAW_COPY) {
                if (auto c = parse_draw_copy(m->body)) before.push_back(*c);
            }
            if (m->type == SPICE_MSG_DISPLAY_COPY_BITS) {
                copied = true;
                break;
            }
        }
    });
    ASSERT_TRUE(copied) << "no COPY_BITS reached the client";
    ASSERT_FALSE(before.empty()) << "COPY_BITS came without a lossless resend of its source";
    const drawn_copy &resend = before.back();
    EXPECT_NE(resend.image_type, SPICE_IMAGE_TYPE_JPEG);
    EXPECT_NE(resend.image_type, SPICE_IMAGE_TYPE_JPEG_ALPHA);
    EXPECT_LE(resend.left, 10);
    EXPECT_LE(resend.top, 20);
    EXPECT_GE(resend.right, 42);
    EXPECT_GE(resend.bottom, 52);

    // The source is exact now: a second copy from it needs no resend.
    ASSERT_TRUE(guest.copy_bits(10, 20, 40, 40, 16));
    size_t copies_before_second = 0;
    bool copied_again = false;
    vmm.run([&] {
        while (auto m = display_c.read_message()) {
            if (m->type == SPICE_MSG_DISPLAY_DRAW_COPY) ++copies_before_second;
            if (m->type == SPICE_MSG_DISPLAY_COPY_BITS) {
                copied_again = true;
                break;
            }
        }
    });
    ASSERT_TRUE(copied_again);
    EXPECT_EQ(copies_before_second, 0u);
}

} // namespace

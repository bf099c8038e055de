#include "display/cursor_messages.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

using bytes = std::vector<uint8_t>;

template <typename M> bytes encode(const M &m) {
    bytes out;
    rs::wire::writer w(out);
    m.encode(w);
    return out;
}

rs::draw::cursor_shape alpha_2x2() {
    rs::draw::cursor_shape s;
    s.unique = 0x0102030405060708ull;
    s.type = SPICE_CURSOR_TYPE_ALPHA;
    s.width = 2;
    s.height = 2;
    s.hot_spot_x = 1;
    s.hot_spot_y = 0;
    for (uint8_t i = 1; i <= 16; ++i)
        s.data.push_back(i);
    return s;
}

TEST(CursorMessages, TypesAreTheSpiceEnums) {
    EXPECT_EQ(rs::msg::cursor_init::type, 101);
    EXPECT_EQ(rs::msg::cursor_reset::type, 102);
    EXPECT_EQ(rs::msg::cursor_set::type, 103);
    EXPECT_EQ(rs::msg::cursor_move::type, 104);
    EXPECT_EQ(rs::msg::cursor_hide::type, 105);
    EXPECT_EQ(rs::msg::cursor_trail::type, 106);
    EXPECT_EQ(rs::msg::cursor_inval_one::type, 107);
    EXPECT_EQ(rs::msg::cursor_inval_all::type, 108);
}

TEST(CursorMessages, SetWithAnAlphaCursor) {
    const auto shape = alpha_2x2();
    const rs::msg::cursor_set m{{100, -2}, true, {&shape, SPICE_CURSOR_FLAGS_CACHE_ME}};
    // position (i16 x, y), visible u8, Cursor: flags u16, header (unique u64,
    // type u8, width u16, height u16, hot spot u16 × 2), then the data: the
    // rest of the message, 4 × 2 × 2 bytes of ARGB.
    bytes want = {100, 0, 0xfe, 0xff, 1, SPICE_CURSOR_FLAGS_CACHE_ME, 0, 8, 7, 6,
                  5,   4, 3,    2,    1, SPICE_CURSOR_TYPE_ALPHA,     2, 0, 2, 0,
                  1,   0, 0,    0};
    want.insert(want.end(), shape.data.begin(), shape.data.end());
    EXPECT_EQ(encode(m), want);
}

TEST(CursorMessages, FromCacheSendsTheHeaderWithoutData) {
    const auto shape = alpha_2x2();
    const rs::msg::cursor_set m{{1, 2}, false, {&shape, SPICE_CURSOR_FLAGS_FROM_CACHE}};
    EXPECT_EQ(encode(m), (bytes{1, 0, 2, 0, 0, SPICE_CURSOR_FLAGS_FROM_CACHE, 0, 8, 7, 6,
                                5, 4, 3, 2, 1, SPICE_CURSOR_TYPE_ALPHA,       2, 0, 2, 0,
                                1, 0, 0, 0}));
}

TEST(CursorMessages, InitWithoutCursorIsFlagsNone) {
    const rs::msg::cursor_init m{{3, 4}, 5, 6, false, {}};
    // position, trail length, trail frequency, visible, Cursor flags NONE only.
    EXPECT_EQ(encode(m), (bytes{3, 0, 4, 0, 5, 0, 6, 0, 0, SPICE_CURSOR_FLAGS_NONE, 0}));
}

TEST(CursorMessages, InitWithACursor) {
    const auto shape = alpha_2x2();
    const rs::msg::cursor_init m{{-1, 0}, 0, 0, true, {&shape, 0}};
    const bytes got = encode(m);
    ASSERT_EQ(got.size(), 9u + 2 + 17 + 16);
    EXPECT_EQ(got[8], 1); // visible
    EXPECT_EQ(got[9], 0); // flags: neither cached nor none
    EXPECT_EQ(got[19], SPICE_CURSOR_TYPE_ALPHA);
}

TEST(CursorMessages, ShortDataIsSentAsNoCursor) {
    auto shape = alpha_2x2();
    shape.data.resize(15); // the client would read 16
    const rs::msg::cursor_set m{{0, 0}, true, {&shape, SPICE_CURSOR_FLAGS_CACHE_ME}};
    EXPECT_EQ(encode(m), (bytes{0, 0, 0, 0, 1, SPICE_CURSOR_FLAGS_NONE, 0}));
}

TEST(CursorMessages, SmallMessages) {
    EXPECT_EQ(encode(rs::msg::cursor_move{{-2, 300}}), (bytes{0xfe, 0xff, 0x2c, 0x01}));
    EXPECT_EQ(encode(rs::msg::cursor_trail{3, 0x102}), (bytes{3, 0, 2, 1}));
    EXPECT_EQ(encode(rs::msg::cursor_inval_one{0x0102030405060708ull}),
              (bytes{8, 7, 6, 5, 4, 3, 2, 1}));
    EXPECT_TRUE(encode(rs::msg::cursor_reset{}).empty());
    EXPECT_TRUE(encode(rs::msg::cursor_hide{}).empty());
    EXPECT_TRUE(encode(rs::msg::cursor_inval_all{}).empty());
}

TEST(CursorMessages, DataSizePerType) {
    // 10×3: AND/XOR mask rows are 2 bytes.
    EXPECT_EQ(rs::cursor_data_size(SPICE_CURSOR_TYPE_ALPHA, 10, 3), 120u);
    EXPECT_EQ(rs::cursor_data_size(SPICE_CURSOR_TYPE_MONO, 10, 3), 12u);
    EXPECT_EQ(rs::cursor_data_size(SPICE_CURSOR_TYPE_COLOR4, 10, 3), 15u + 64 + 6);
    EXPECT_EQ(rs::cursor_data_size(SPICE_CURSOR_TYPE_COLOR8, 10, 3), 30u + 1024 + 6);
    EXPECT_EQ(rs::cursor_data_size(SPICE_CURSOR_TYPE_COLOR16, 10, 3), 60u + 6);
    EXPECT_EQ(rs::cursor_data_size(SPICE_CURSOR_TYPE_COLOR24, 10, 3), 90u + 6);
    EXPECT_EQ(rs::cursor_data_size(SPICE_CURSOR_TYPE_COLOR32, 10, 3), 120u + 6);
    EXPECT_EQ(rs::cursor_data_size(99, 10, 3), 0u);
    EXPECT_EQ(rs::cursor_data_size(SPICE_CURSOR_TYPE_ALPHA, 65535, 65535),
              size_t{4} * 65535 * 65535);
}

} // namespace

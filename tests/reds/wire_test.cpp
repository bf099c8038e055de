#include "reds/wire.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "reds/protocol.hpp"

namespace {

using bytes = std::vector<uint8_t>;

TEST(wire_reader, reads_little_endian_values_in_order) {
    const bytes in = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                      0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11};
    rs::wire::reader r(in);
    EXPECT_EQ(r.u8(), 0x01);
    EXPECT_EQ(r.u16(), 0x0302);
    EXPECT_EQ(r.u32(), 0x07060504u);
    EXPECT_EQ(r.u64(), 0x0f0e0d0c0b0a0908ull);
    EXPECT_EQ(r.position(), 15u);
    EXPECT_EQ(r.remaining(), 2u);
    EXPECT_TRUE(r.ok());
    EXPECT_FALSE(r.at_end());
    EXPECT_EQ(r.u16(), 0x1110);
    EXPECT_TRUE(r.at_end());
}

TEST(wire_reader, signed_values_keep_their_sign) {
    const bytes in = {0xff, 0xfe, 0xff, 0xfd, 0xff, 0xff, 0xff};
    rs::wire::reader r(in);
    EXPECT_EQ(r.i8(), -1);
    EXPECT_EQ(r.i16(), -2);
    EXPECT_EQ(r.i32(), -3);
    EXPECT_TRUE(r.at_end());
}

TEST(wire_reader, a_read_past_the_end_fails_and_stays_failed) {
    const bytes in = {1, 2, 3};
    rs::wire::reader r(in);
    EXPECT_EQ(r.u16(), 0x0201);
    EXPECT_EQ(r.u32(), 0u); // only one byte left
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
    // The byte that is still there is not handed out after the failure.
    EXPECT_EQ(r.u8(), 0u);
    EXPECT_TRUE(r.bytes(0).empty());
    EXPECT_TRUE(r.rest().empty());
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.at_end());
}

TEST(wire_reader, bytes_are_views_into_the_input) {
    const bytes in = {9, 8, 7, 6, 5};
    rs::wire::reader r(in);
    r.skip(1);
    auto b = r.bytes(3);
    ASSERT_EQ(b.size(), 3u);
    EXPECT_EQ(b.data(), in.data() + 1);
    EXPECT_EQ(r.rest().size(), 1u);
    EXPECT_TRUE(r.at_end());
}

TEST(wire_reader, huge_lengths_fail_without_wrapping) {
    const bytes in = {1, 2, 3, 4};
    rs::wire::reader r(in);
    r.skip(2);
    EXPECT_TRUE(r.bytes(SIZE_MAX).empty());
    EXPECT_FALSE(r.ok());
    rs::wire::reader r2(in);
    r2.skip(SIZE_MAX - 1);
    EXPECT_FALSE(r2.ok());
}

TEST(wire_reader, empty_input) {
    rs::wire::reader r;
    EXPECT_TRUE(r.at_end());
    EXPECT_TRUE(r.bytes(0).empty());
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.u8(), 0u);
    EXPECT_FALSE(r.ok());
}

TEST(wire_writer, appends_little_endian_values) {
    bytes out = {0xaa};
    rs::wire::writer w(out);
    w.u8(0x01);
    w.u16(0x0302);
    w.u32(0x07060504u);
    w.u64(0x0f0e0d0c0b0a0908ull);
    w.i32(-2);
    const uint8_t raw[] = {0x42, 0x43};
    w.bytes(raw);
    w.zeros(2);
    EXPECT_EQ(out, (bytes{0xaa, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                          0x0c, 0x0d, 0x0e, 0x0f, 0xfe, 0xff, 0xff, 0xff, 0x42, 0x43, 0,    0}));
    EXPECT_EQ(w.size(), out.size());
}

TEST(wire_writer, reserved_slot_is_patched_in_place) {
    bytes out;
    rs::wire::writer w(out);
    w.u8(7);
    auto slot = w.reserve_u32();
    w.u16(0xbeef);
    w.patch(slot, 0x11223344u);
    EXPECT_EQ(out, (bytes{7, 0x44, 0x33, 0x22, 0x11, 0xef, 0xbe}));
}

TEST(wire_writer, round_trips_through_reader) {
    bytes out;
    rs::wire::writer w(out);
    w.u64(0x8000000000000001ull);
    w.u16(0xffff);
    w.i64(-5);
    rs::wire::reader r(out);
    EXPECT_EQ(r.u64(), 0x8000000000000001ull);
    EXPECT_EQ(r.u16(), 0xffff);
    EXPECT_EQ(r.i64(), -5);
    EXPECT_TRUE(r.at_end());
}

// protocol.hpp: headers and caps.

TEST(data_header, full_header_is_18_bytes_in_spice_order) {
    bytes out;
    rs::wire::writer w(out);
    rs::data_header{0x0102030405060708ull, 0x0a09, 0x0e0d0c0bu, 0x1211100fu}.encode(w);
    EXPECT_EQ(out, (bytes{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x09, 0x0a, 0x0b, 0x0c,
                          0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12}));
    auto h = rs::data_header::decode(out);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->serial, 0x0102030405060708ull);
    EXPECT_EQ(h->type, 0x0a09);
    EXPECT_EQ(h->size, 0x0e0d0c0bu);
    EXPECT_EQ(h->sub_list, 0x1211100fu);
    EXPECT_FALSE(rs::data_header::decode(std::span(out).first(17)));
}

TEST(mini_header, is_6_bytes_type_then_size) {
    bytes out;
    rs::wire::writer w(out);
    rs::mini_header{0x0201, 0x06050403u}.encode(w);
    EXPECT_EQ(out, (bytes{1, 2, 3, 4, 5, 6}));
    auto h = rs::mini_header::decode(out);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->type, 0x0201);
    EXPECT_EQ(h->size, 0x06050403u);
    EXPECT_FALSE(rs::mini_header::decode(std::span(out).first(5)));
}

TEST(message_frame, patches_the_body_size_of_either_header) {
    bytes out;
    rs::wire::writer w(out);
    auto f = rs::message_frame::begin(w, /*mini=*/true, 3);
    w.u32(0xdeadbeef);
    f.finish(w);
    EXPECT_EQ(out, (bytes{3, 0, 4, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde}));

    out.clear();
    auto g = rs::message_frame::begin(w, /*mini=*/false, 4, 9);
    w.u8(1);
    w.u8(2);
    g.finish(w);
    EXPECT_EQ(out, (bytes{9, 0, 0, 0, 0, 0, 0, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2}));
}

TEST(caps, bits_map_to_words_as_on_the_wire) {
    rs::caps c;
    EXPECT_FALSE(c.has(0));
    EXPECT_TRUE(c.set(3));
    EXPECT_TRUE(c.set(33));
    ASSERT_EQ(c.num_words(), 2u);
    EXPECT_EQ(c.words()[0], 1u << 3);
    EXPECT_EQ(c.words()[1], 1u << 1);
    EXPECT_TRUE(c.has(3));
    EXPECT_TRUE(c.has(33));
    EXPECT_FALSE(c.has(4));
    EXPECT_FALSE(c.has(1000));
    c.clear(3);
    EXPECT_FALSE(c.has(3));
}

TEST(caps, is_bounded) {
    rs::caps c;
    EXPECT_TRUE(c.set(rs::caps::max_words * 32 - 1));
    EXPECT_FALSE(c.set(rs::caps::max_words * 32));
    EXPECT_EQ(c.num_words(), rs::caps::max_words);
    rs::caps big(std::vector<uint32_t>(rs::caps::max_words + 5, 1));
    EXPECT_EQ(big.num_words(), rs::caps::max_words);
}

} // namespace

// The spicevmc channels' wire formats: client messages parsed through the
// bounds-checked reader, server messages as spice.proto lays them out, and
// the LZ4 helpers with the reference's thresholds.
#include "usbredir/spicevmc_messages.hpp"

#include <gtest/gtest.h>

#include <lz4.h>

#include <string>
#include <vector>

namespace {

using bytes = std::vector<uint8_t>;

bytes encode(const auto &m) {
    bytes b;
    rs::wire::writer w(b);
    m.encode(w);
    return b;
}

bytes compressible(size_t n) {
    const std::string text = "usbredir says hello to the guest; ";
    bytes b(n);
    for (size_t i = 0; i < n; ++i)
        b[i] = static_cast<uint8_t>(text[i % text.size()]);
    return b;
}

bytes lz4_of(const bytes &in) {
    bytes out(static_cast<size_t>(LZ4_compressBound(static_cast<int>(in.size()))));
    const int n = LZ4_compress_default(reinterpret_cast<const char *>(in.data()),
                                       reinterpret_cast<char *>(out.data()),
                                       static_cast<int>(in.size()), static_cast<int>(out.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

TEST(spicevmc_messages, data_is_the_whole_body) {
    const bytes body{1, 2, 3};
    auto m = rs::parse_spicevmc_client_message(SPICE_MSGC_SPICEVMC_DATA, body);
    const auto *d = std::get_if<rs::msgc::spicevmc_data>(&m);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(bytes(d->data.begin(), d->data.end()), body);
}

TEST(spicevmc_messages, compressed_data_has_type_size_and_payload) {
    const bytes body{SPICE_DATA_COMPRESSION_TYPE_LZ4, 0x10, 0x27, 0, 0, 9, 8};
    auto m = rs::parse_spicevmc_client_message(SPICE_MSGC_SPICEVMC_COMPRESSED_DATA, body);
    const auto *c = std::get_if<rs::msgc::spicevmc_compressed_data>(&m);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->compression, SPICE_DATA_COMPRESSION_TYPE_LZ4);
    EXPECT_EQ(c->uncompressed_size, 10000u);
    EXPECT_EQ(bytes(c->data.begin(), c->data.end()), (bytes{9, 8}));
}

TEST(spicevmc_messages, compressed_data_of_type_none_carries_no_size) {
    const bytes body{SPICE_DATA_COMPRESSION_TYPE_NONE, 7, 7};
    auto m = rs::parse_spicevmc_client_message(SPICE_MSGC_SPICEVMC_COMPRESSED_DATA, body);
    const auto *c = std::get_if<rs::msgc::spicevmc_compressed_data>(&m);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->uncompressed_size, 0u);
    EXPECT_EQ(c->data.size(), 2u);
    // ... and the server does not decode it, as the reference refuses it.
    EXPECT_FALSE(rs::vmc_decompress(*c));
}

TEST(spicevmc_messages, truncated_compressed_data_is_an_error) {
    for (const bytes &body : {bytes{}, bytes{SPICE_DATA_COMPRESSION_TYPE_LZ4, 1, 2, 3}}) {
        auto m = rs::parse_spicevmc_client_message(SPICE_MSGC_SPICEVMC_COMPRESSED_DATA, body);
        const auto *e = std::get_if<rs::parse_error>(&m);
        ASSERT_NE(e, nullptr) << body.size();
        EXPECT_EQ(e->what, rs::parse_error::kind::truncated);
    }
}

TEST(spicevmc_messages, port_event_is_exactly_one_byte) {
    auto ok = rs::parse_spicevmc_client_message(SPICE_MSGC_PORT_EVENT, bytes{2});
    ASSERT_TRUE(std::holds_alternative<rs::msgc::port_event>(ok));
    EXPECT_EQ(std::get<rs::msgc::port_event>(ok).event, 2);
    auto empty = rs::parse_spicevmc_client_message(SPICE_MSGC_PORT_EVENT, bytes{});
    EXPECT_TRUE(std::holds_alternative<rs::parse_error>(empty));
    auto extra = rs::parse_spicevmc_client_message(SPICE_MSGC_PORT_EVENT, bytes{1, 2});
    ASSERT_TRUE(std::holds_alternative<rs::parse_error>(extra));
    EXPECT_EQ(std::get<rs::parse_error>(extra).what, rs::parse_error::kind::trailing_bytes);
    auto lenient = rs::parse_spicevmc_client_message(SPICE_MSGC_PORT_EVENT, bytes{1, 2},
                                                     rs::extra_bytes::ignore);
    EXPECT_TRUE(std::holds_alternative<rs::msgc::port_event>(lenient));
}

TEST(spicevmc_messages, other_types_are_unknown) {
    for (uint16_t type : {uint16_t{SPICE_MSGC_ACK}, uint16_t{103}, uint16_t{202}}) {
        auto m = rs::parse_spicevmc_client_message(type, bytes{0});
        ASSERT_TRUE(std::holds_alternative<rs::parse_error>(m)) << type;
        EXPECT_EQ(std::get<rs::parse_error>(m).what, rs::parse_error::kind::unknown_type);
    }
}

TEST(spicevmc_messages, port_init_puts_the_name_after_the_fixed_part) {
    const auto b = encode(rs::msg::port_init{.name = "org.qemu.x", .opened = 1});
    rs::wire::reader r(b);
    const uint32_t name_size = r.u32();
    const uint32_t offset = r.u32();
    EXPECT_EQ(r.u8(), 1);
    EXPECT_EQ(name_size, 11u); // with the NUL
    ASSERT_EQ(b.size(), offset + name_size);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(b.data() + offset)), "org.qemu.x");
}

TEST(spicevmc_messages, server_data_and_compressed_data_layouts) {
    const bytes payload{5, 6, 7};
    EXPECT_EQ(encode(rs::msg::spicevmc_data{.data = payload}), payload);
    EXPECT_EQ(
        encode(rs::msg::spicevmc_compressed_data{.compression = SPICE_DATA_COMPRESSION_TYPE_LZ4,
                                                 .uncompressed_size = 0x01020304,
                                                 .data = payload}),
        (bytes{SPICE_DATA_COMPRESSION_TYPE_LZ4, 4, 3, 2, 1, 5, 6, 7}));
    EXPECT_EQ(encode(rs::msg::port_event{.event = SPICE_PORT_EVENT_BREAK}),
              (bytes{SPICE_PORT_EVENT_BREAK}));
}

TEST(spicevmc_messages, compression_pays_off_only_above_the_threshold) {
    EXPECT_FALSE(rs::vmc_compress(compressible(rs::vmc_compress_threshold)));
    auto c = rs::vmc_compress(compressible(rs::vmc_compress_threshold + 1));
    ASSERT_TRUE(c);
    EXPECT_LT(c->size(), rs::vmc_compress_threshold);
    // Bytes that do not shrink go uncompressed.
    bytes noise(4000);
    uint32_t x = 2463534242u;
    for (auto &v : noise) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v = static_cast<uint8_t>(x);
    }
    EXPECT_FALSE(rs::vmc_compress(noise));
}

TEST(spicevmc_messages, decompress_round_trips_and_checks_the_announced_size) {
    const auto plain = compressible(20000);
    const auto packed = lz4_of(plain);
    rs::msgc::spicevmc_compressed_data m{
        .compression = SPICE_DATA_COMPRESSION_TYPE_LZ4, .uncompressed_size = 20000, .data = packed};
    auto out = rs::vmc_decompress(m);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, plain);

    m.uncompressed_size = 19999; // output would not fit
    EXPECT_FALSE(rs::vmc_decompress(m));
    m.uncompressed_size = 20001; // decodes short
    EXPECT_FALSE(rs::vmc_decompress(m));
    m.uncompressed_size = 0;
    EXPECT_FALSE(rs::vmc_decompress(m));
    m.uncompressed_size = rs::vmc_max_client_message + 1;
    EXPECT_FALSE(rs::vmc_decompress(m));
    m.uncompressed_size = 20000;
    m.compression = 7;
    EXPECT_FALSE(rs::vmc_decompress(m));
}

TEST(spicevmc_messages, decompress_refuses_garbage) {
    const bytes garbage{0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    rs::msgc::spicevmc_compressed_data m{
        .compression = SPICE_DATA_COMPRESSION_TYPE_LZ4, .uncompressed_size = 100, .data = garbage};
    EXPECT_FALSE(rs::vmc_decompress(m));
    m.data = {};
    EXPECT_FALSE(rs::vmc_decompress(m));
}

} // namespace

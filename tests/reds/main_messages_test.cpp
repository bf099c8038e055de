#include "reds/main_messages.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "reds/server_config.hpp"

namespace {

using bytes = std::vector<uint8_t>;

template <typename M> bytes encode(const M &m) {
    bytes out;
    rs::wire::writer w(out);
    m.encode(w);
    return out;
}

// ---- server -> client: byte layouts from spice.proto -----------------------

TEST(server_messages, types_are_the_spice_enums) {
    EXPECT_EQ(rs::msg::set_ack::type, 3);
    EXPECT_EQ(rs::msg::ping::type, 4);
    EXPECT_EQ(rs::msg::wait_for_channels::type, 5);
    EXPECT_EQ(rs::msg::disconnecting::type, 6);
    EXPECT_EQ(rs::msg::notify::type, 7);
    EXPECT_EQ(rs::msg::main_init::type, 103);
    EXPECT_EQ(rs::msg::main_channels_list::type, 104);
    EXPECT_EQ(rs::msg::main_agent_data::type, 109);
    EXPECT_EQ(rs::msg::main_name::type, 113);
    EXPECT_EQ(rs::msg::main_uuid::type, 114);
    EXPECT_EQ(rs::msg::main_agent_connected_tokens::type, 115);
}

TEST(server_messages, set_ack_is_generation_then_window) {
    EXPECT_EQ(encode(rs::msg::set_ack{0x01020304, 20}),
              (bytes{0x04, 0x03, 0x02, 0x01, 20, 0, 0, 0}));
}

TEST(server_messages, ping_is_id_timestamp_then_zero_padding) {
    EXPECT_EQ(encode(rs::msg::ping{7, 0x1122334455667788ull, 0}),
              (bytes{7, 0, 0, 0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}));
    auto padded = encode(rs::msg::ping{1, 2, 5});
    ASSERT_EQ(padded.size(), 17u);
    EXPECT_EQ(padded[12], 0);
    EXPECT_EQ(padded[16], 0);
}

TEST(server_messages, wait_for_channels_is_count_then_10_byte_entries) {
    const rs::msg::channel_wait waits[] = {{SPICE_CHANNEL_DISPLAY, 1, 0x0102030405060708ull},
                                           {SPICE_CHANNEL_CURSOR, 0, 9}};
    EXPECT_EQ(encode(rs::msg::wait_for_channels{waits}),
              (bytes{2, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1, 4, 0, 9, 0, 0, 0, 0, 0, 0, 0}));
    std::vector<rs::msg::channel_wait> many(300);
    auto out = encode(rs::msg::wait_for_channels{many});
    EXPECT_EQ(out[0], 255);
    EXPECT_EQ(out.size(), 1u + 255u * 10u);
}

TEST(server_messages, disconnecting_is_time_then_reason) {
    EXPECT_EQ(encode(rs::msg::disconnecting{0x0807060504030201ull, SPICE_LINK_ERR_ERROR}),
              (bytes{1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 0}));
}

TEST(server_messages, notify_sends_length_without_nul_and_the_nul) {
    rs::msg::notify n;
    n.time_stamp = 1;
    n.message = "hi";
    EXPECT_EQ(encode(n), (bytes{1,
                                0,
                                0,
                                0,
                                0,
                                0,
                                0,
                                0, // time_stamp
                                SPICE_NOTIFY_SEVERITY_WARN,
                                0,
                                0,
                                0, // severity
                                SPICE_NOTIFY_VISIBILITY_HIGH,
                                0,
                                0,
                                0, // visibility
                                SPICE_WARN_GENERAL,
                                0,
                                0,
                                0, // what
                                2,
                                0,
                                0,
                                0, // message_len
                                'h',
                                'i',
                                0}));
}

TEST(server_messages, main_init_is_eight_u32) {
    rs::msg::main_init m{1, 2, 3, 4, 5, 6, 7, 8};
    bytes expect;
    for (uint8_t i = 1; i <= 8; ++i)
        expect.insert(expect.end(), {i, 0, 0, 0});
    EXPECT_EQ(encode(m), expect);
}

TEST(server_messages, channels_list_is_u32_count_then_type_id_pairs) {
    const rs::msg::channel_id ids[] = {{SPICE_CHANNEL_DISPLAY, 0}, {SPICE_CHANNEL_PORT, 3}};
    EXPECT_EQ(encode(rs::msg::main_channels_list{ids}), (bytes{2, 0, 0, 0, 2, 0, 10, 3}));
    EXPECT_EQ(encode(rs::msg::main_channels_list{}), (bytes{0, 0, 0, 0}));
}

TEST(server_messages, mouse_mode_is_two_u16) {
    EXPECT_EQ(encode(rs::msg::main_mouse_mode{SPICE_MOUSE_MODE_SERVER | SPICE_MOUSE_MODE_CLIENT,
                                              SPICE_MOUSE_MODE_CLIENT}),
              (bytes{3, 0, 2, 0}));
}

TEST(server_messages, small_main_messages) {
    EXPECT_EQ(encode(rs::msg::main_multi_media_time{0x0a0b0c0d}), (bytes{0x0d, 0x0c, 0x0b, 0x0a}));
    EXPECT_EQ(encode(rs::msg::main_agent_connected{}), bytes{});
    EXPECT_EQ(encode(rs::msg::main_agent_disconnected{SPICE_LINK_ERR_OK}), (bytes{0, 0, 0, 0}));
    EXPECT_EQ(encode(rs::msg::main_agent_token{10}), (bytes{10, 0, 0, 0}));
    EXPECT_EQ(encode(rs::msg::main_agent_connected_tokens{300}), (bytes{0x2c, 1, 0, 0}));
    EXPECT_EQ(encode(rs::msg::main_migrate_cancel{}), bytes{});
    EXPECT_EQ(encode(rs::msg::main_migrate_end{}), bytes{});
    EXPECT_EQ(encode(rs::msg::migrate{SPICE_MIGRATE_NEED_FLUSH}), (bytes{1, 0, 0, 0}));
    const uint8_t agent[] = {1, 2, 3};
    EXPECT_EQ(encode(rs::msg::main_agent_data{agent}), (bytes{1, 2, 3}));
}

TEST(server_messages, name_length_counts_the_nul) {
    EXPECT_EQ(encode(rs::msg::main_name{"vm"}), (bytes{3, 0, 0, 0, 'v', 'm', 0}));
    EXPECT_EQ(encode(rs::msg::main_name{""}), (bytes{1, 0, 0, 0, 0}));
}

TEST(server_messages, uuid_is_16_raw_bytes) {
    rs::msg::main_uuid u;
    for (uint8_t i = 0; i < 16; ++i)
        u.uuid[i] = i;
    auto out = encode(u);
    ASSERT_EQ(out.size(), 16u);
    EXPECT_EQ(out[15], 15);
}

// ---- client -> server -------------------------------------------------------

// Returns a copy: the variant is usually a temporary of the caller.
template <typename T, typename V> T expect_type(const V &v) {
    if (auto *e = std::get_if<rs::parse_error>(&v)) ADD_FAILURE() << "parse error: " << e->reason;
    EXPECT_TRUE(std::holds_alternative<T>(v));
    const T *p = std::get_if<T>(&v);
    return p ? *p : T{};
}

template <typename V> rs::parse_error::kind expect_error(const V &v) {
    const auto *e = std::get_if<rs::parse_error>(&v);
    EXPECT_NE(e, nullptr);
    return e ? e->what : rs::parse_error::kind::unknown_type;
}

TEST(client_messages, common_messages_parse) {
    const bytes sync = {5, 0, 0, 0};
    EXPECT_EQ(expect_type<rs::msgc::ack_sync>(rs::parse_common_client_message(1, sync)).generation,
              5u);
    expect_type<rs::msgc::ack>(rs::parse_common_client_message(SPICE_MSGC_ACK, {}));
    const bytes pong = {9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    const auto &p = expect_type<rs::msgc::pong>(rs::parse_main_client_message(3, pong));
    EXPECT_EQ(p.id, 9u);
    EXPECT_EQ(p.timestamp, 0x0807060504030201ull);
    expect_type<rs::msgc::migrate_flush_mark>(rs::parse_common_client_message(4, {}));
    const bytes data = {1, 2, 3};
    EXPECT_EQ(
        expect_type<rs::msgc::migrate_data>(rs::parse_common_client_message(5, data)).data.size(),
        3u);
    const bytes disc = {1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0};
    const auto &d = expect_type<rs::msgc::disconnecting>(rs::parse_common_client_message(6, disc));
    EXPECT_EQ(d.time_stamp, 1u);
    EXPECT_EQ(d.reason, 3u);
}

TEST(client_messages, main_messages_parse) {
    const bytes info = {0, 0, 0, 1, 0, 0, 0, 0};
    EXPECT_EQ(expect_type<rs::msgc::main_client_info>(rs::parse_main_client_message(101, info))
                  .cache_size,
              0x01000000u);
    expect_type<rs::msgc::main_migrate_connected>(rs::parse_main_client_message(102, {}));
    expect_type<rs::msgc::main_migrate_connect_error>(rs::parse_main_client_message(103, {}));
    expect_type<rs::msgc::main_attach_channels>(rs::parse_main_client_message(104, {}));
    const bytes mode = {2, 0};
    EXPECT_EQ(
        expect_type<rs::msgc::main_mouse_mode_request>(rs::parse_main_client_message(105, mode))
            .mode,
        SPICE_MOUSE_MODE_CLIENT);
    const bytes tokens = {10, 0, 0, 0};
    EXPECT_EQ(expect_type<rs::msgc::main_agent_start>(rs::parse_main_client_message(106, tokens))
                  .num_tokens,
              10u);
    const bytes agent = {1, 2, 3, 4, 5};
    const auto &a =
        expect_type<rs::msgc::main_agent_data>(rs::parse_main_client_message(107, agent));
    EXPECT_EQ(a.data.data(), agent.data());
    EXPECT_EQ(a.data.size(), 5u);
    EXPECT_EQ(expect_type<rs::msgc::main_agent_token>(rs::parse_main_client_message(108, tokens))
                  .num_tokens,
              10u);
    expect_type<rs::msgc::main_migrate_end>(rs::parse_main_client_message(109, {}));
    EXPECT_EQ(expect_type<rs::msgc::main_migrate_dst_do_seamless>(
                  rs::parse_main_client_message(110, tokens))
                  .src_version,
              10u);
    expect_type<rs::msgc::main_migrate_connected_seamless>(rs::parse_main_client_message(111, {}));
    expect_type<rs::msgc::main_quality_indicator>(rs::parse_main_client_message(112, agent));
    // Empty agent data is allowed: the body is the data.
    expect_type<rs::msgc::main_agent_data>(
        rs::parse_main_client_message(SPICE_MSGC_MAIN_AGENT_DATA, {}));
}

TEST(client_messages, truncated_bodies_are_errors) {
    const bytes three = {1, 2, 3};
    using k = rs::parse_error::kind;
    EXPECT_EQ(expect_error(rs::parse_common_client_message(SPICE_MSGC_ACK_SYNC, three)),
              k::truncated);
    const bytes eleven(11, 0);
    EXPECT_EQ(expect_error(rs::parse_main_client_message(SPICE_MSGC_PONG, eleven)), k::truncated);
    EXPECT_EQ(expect_error(rs::parse_main_client_message(SPICE_MSGC_DISCONNECTING, eleven)),
              k::truncated);
    EXPECT_EQ(expect_error(rs::parse_main_client_message(SPICE_MSGC_MAIN_CLIENT_INFO, three)),
              k::truncated);
    const bytes one = {1};
    EXPECT_EQ(expect_error(rs::parse_main_client_message(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST, one)),
              k::truncated);
    EXPECT_EQ(expect_error(rs::parse_main_client_message(SPICE_MSGC_MAIN_AGENT_START, three)),
              k::truncated);
    EXPECT_EQ(expect_error(rs::parse_main_client_message(SPICE_MSGC_MAIN_AGENT_TOKEN, {})),
              k::truncated);
}

TEST(client_messages, trailing_bytes_are_refused_unless_ignored) {
    using k = rs::parse_error::kind;
    const bytes pong13(13, 0);
    EXPECT_EQ(expect_error(rs::parse_main_client_message(SPICE_MSGC_PONG, pong13)),
              k::trailing_bytes);
    const bytes one = {0};
    EXPECT_EQ(expect_error(rs::parse_main_client_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS, one)),
              k::trailing_bytes);
    EXPECT_EQ(expect_error(rs::parse_common_client_message(SPICE_MSGC_ACK, one)),
              k::trailing_bytes);
    // The reference's demarshaller tolerates them; the lenient mode does too.
    expect_type<rs::msgc::pong>(
        rs::parse_main_client_message(SPICE_MSGC_PONG, pong13, rs::extra_bytes::ignore));
    expect_type<rs::msgc::main_attach_channels>(rs::parse_main_client_message(
        SPICE_MSGC_MAIN_ATTACH_CHANNELS, one, rs::extra_bytes::ignore));
    // ... but never missing ones.
    const bytes eleven(11, 0);
    EXPECT_EQ(expect_error(
                  rs::parse_main_client_message(SPICE_MSGC_PONG, eleven, rs::extra_bytes::ignore)),
              k::truncated);
}

TEST(client_messages, unknown_types_are_errors) {
    using k = rs::parse_error::kind;
    for (uint16_t t : {0, 7, 100, 113, 0xffff}) {
        auto v = rs::parse_main_client_message(t, {});
        EXPECT_EQ(expect_error(v), k::unknown_type) << t;
        EXPECT_EQ(std::get<rs::parse_error>(v).type, t);
    }
    // Main-channel types mean nothing on other channels.
    EXPECT_EQ(expect_error(rs::parse_common_client_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS, {})),
              k::unknown_type);
}

// ---- channel names ----------------------------------------------------------

TEST(channel_names, match_spice_server_set_channel_security) {
    const std::pair<std::string_view, int> names[] = {
        {"main", SPICE_CHANNEL_MAIN},         {"display", SPICE_CHANNEL_DISPLAY},
        {"inputs", SPICE_CHANNEL_INPUTS},     {"cursor", SPICE_CHANNEL_CURSOR},
        {"playback", SPICE_CHANNEL_PLAYBACK}, {"record", SPICE_CHANNEL_RECORD},
        {"tunnel", SPICE_CHANNEL_TUNNEL},     {"smartcard", SPICE_CHANNEL_SMARTCARD},
        {"usbredir", SPICE_CHANNEL_USBREDIR}, {"port", SPICE_CHANNEL_PORT},
        {"webdav", SPICE_CHANNEL_WEBDAV},
    };
    for (const auto &[name, type] : names) {
        EXPECT_EQ(rs::channel_type_name(static_cast<uint32_t>(type)), name);
        EXPECT_EQ(rs::channel_type_from_name(name), type) << name;
    }
    EXPECT_EQ(rs::channel_type_name(0), "");
    EXPECT_EQ(rs::channel_type_name(SPICE_END_CHANNEL), "");
    EXPECT_FALSE(rs::channel_type_from_name("Main"));
    EXPECT_FALSE(rs::channel_type_from_name(""));
    EXPECT_FALSE(rs::channel_type_from_name("spicevmc"));
}

} // namespace

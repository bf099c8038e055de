// Byte-exact encodings of the playback and record channels' server messages
// and the record channel's client-message parser (spice.proto layouts).
#include "sound/sound_messages.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using bytes = std::vector<uint8_t>;

template <typename M> bytes encode(const M &m) {
    bytes b;
    rs::wire::writer w(b);
    m.encode(w);
    return b;
}

TEST(sound_messages, playback_data_is_time_then_the_frame) {
    const bytes frame{1, 2, 3, 4, 5, 6, 7, 8};
    EXPECT_EQ(encode(rs::msg::playback_data{.time = 0x11223344, .data = frame}),
              (bytes{0x44, 0x33, 0x22, 0x11, 1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(rs::msg::playback_data::type, SPICE_MSG_PLAYBACK_DATA);
}

TEST(sound_messages, playback_mode_start_stop_latency) {
    EXPECT_EQ(
        encode(rs::msg::playback_mode{.time = 0x01020304, .mode = SPICE_AUDIO_DATA_MODE_OPUS}),
        (bytes{4, 3, 2, 1, 3, 0}));
    EXPECT_EQ(encode(rs::msg::playback_start{
                  .channels = 2, .format = SPICE_AUDIO_FMT_S16, .frequency = 48000, .time = 7}),
              (bytes{2, 0, 0, 0, 1, 0, 0x80, 0xBB, 0, 0, 7, 0, 0, 0}));
    EXPECT_TRUE(encode(rs::msg::playback_stop{}).empty());
    EXPECT_EQ(encode(rs::msg::playback_latency{.latency_ms = 300}), (bytes{0x2C, 1, 0, 0}));
    EXPECT_EQ(rs::msg::playback_mode::type, SPICE_MSG_PLAYBACK_MODE);
    EXPECT_EQ(rs::msg::playback_start::type, SPICE_MSG_PLAYBACK_START);
    EXPECT_EQ(rs::msg::playback_stop::type, SPICE_MSG_PLAYBACK_STOP);
    EXPECT_EQ(rs::msg::playback_latency::type, SPICE_MSG_PLAYBACK_LATENCY);
}

TEST(sound_messages, volume_is_a_counted_u16_array_and_mute_a_byte) {
    const std::vector<uint16_t> vol{0x1234, 0xFFFF};
    EXPECT_EQ(encode(rs::msg::playback_volume{.volume = vol}), (bytes{2, 0x34, 0x12, 0xFF, 0xFF}));
    EXPECT_EQ(encode(rs::msg::record_volume{.volume = vol}), (bytes{2, 0x34, 0x12, 0xFF, 0xFF}));
    EXPECT_EQ(encode(rs::msg::playback_mute{.mute = 1}), (bytes{1}));
    EXPECT_EQ(encode(rs::msg::record_mute{.mute = 0}), (bytes{0}));
    EXPECT_EQ(rs::msg::playback_volume::type, SPICE_MSG_PLAYBACK_VOLUME);
    EXPECT_EQ(rs::msg::playback_mute::type, SPICE_MSG_PLAYBACK_MUTE);
    EXPECT_EQ(rs::msg::record_volume::type, SPICE_MSG_RECORD_VOLUME);
    EXPECT_EQ(rs::msg::record_mute::type, SPICE_MSG_RECORD_MUTE);
    // More than a u8 can count: the first 255 go.
    const std::vector<uint16_t> many(300, 1);
    EXPECT_EQ(encode(rs::msg::playback_volume{.volume = many}).size(), 1u + 255 * 2);
}

TEST(sound_messages, record_start_has_no_time) {
    EXPECT_EQ(encode(rs::msg::record_start{
                  .channels = 2, .format = SPICE_AUDIO_FMT_S16, .frequency = 44100}),
              (bytes{2, 0, 0, 0, 1, 0, 0x44, 0xAC, 0, 0}));
    EXPECT_TRUE(encode(rs::msg::record_stop{}).empty());
    EXPECT_EQ(rs::msg::record_start::type, SPICE_MSG_RECORD_START);
    EXPECT_EQ(rs::msg::record_stop::type, SPICE_MSG_RECORD_STOP);
}

TEST(sound_messages, record_client_messages_parse) {
    const bytes data{9, 0, 0, 0, 0xAA, 0xBB};
    auto m = rs::parse_record_client_message(SPICE_MSGC_RECORD_DATA, data);
    ASSERT_TRUE(std::holds_alternative<rs::msgc::record_data>(m));
    const auto &d = std::get<rs::msgc::record_data>(m);
    EXPECT_EQ(d.time, 9u);
    EXPECT_EQ(bytes(d.data.begin(), d.data.end()), (bytes{0xAA, 0xBB}));

    const bytes mode{1, 0, 0, 0, 3, 0};
    m = rs::parse_record_client_message(SPICE_MSGC_RECORD_MODE, mode);
    ASSERT_TRUE(std::holds_alternative<rs::msgc::record_mode>(m));
    EXPECT_EQ(std::get<rs::msgc::record_mode>(m).mode, SPICE_AUDIO_DATA_MODE_OPUS);
    EXPECT_TRUE(std::get<rs::msgc::record_mode>(m).data.empty());

    const bytes mark{5, 0, 0, 0};
    m = rs::parse_record_client_message(SPICE_MSGC_RECORD_START_MARK, mark);
    ASSERT_TRUE(std::holds_alternative<rs::msgc::record_start_mark>(m));
    EXPECT_EQ(std::get<rs::msgc::record_start_mark>(m).time, 5u);
}

TEST(sound_messages, malformed_record_messages_are_errors) {
    auto kind = [](uint16_t type, const bytes &b, rs::extra_bytes e = rs::extra_bytes::reject) {
        auto m = rs::parse_record_client_message(type, b, e);
        return std::holds_alternative<rs::parse_error>(m) ? std::get<rs::parse_error>(m).what
                                                          : static_cast<rs::parse_error::kind>(99);
    };
    EXPECT_EQ(kind(SPICE_MSGC_RECORD_DATA, bytes{1, 2, 3}), rs::parse_error::kind::truncated);
    EXPECT_EQ(kind(SPICE_MSGC_RECORD_MODE, bytes{1, 2, 3, 4, 5}), rs::parse_error::kind::truncated);
    EXPECT_EQ(kind(SPICE_MSGC_RECORD_START_MARK, bytes{1, 2, 3, 4, 5}),
              rs::parse_error::kind::trailing_bytes);
    EXPECT_EQ(kind(SPICE_MSGC_RECORD_START_MARK, bytes{1, 2, 3, 4, 5}, rs::extra_bytes::ignore),
              static_cast<rs::parse_error::kind>(99));
    EXPECT_EQ(kind(SPICE_MSGC_RECORD_START_MARK + 1, bytes{}), rs::parse_error::kind::unknown_type);
    EXPECT_EQ(kind(SPICE_MSGC_ACK, bytes{}), rs::parse_error::kind::unknown_type);
}

} // namespace

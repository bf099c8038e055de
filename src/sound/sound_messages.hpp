// The playback and record channels' messages (spice.proto PlaybackChannel,
// RecordChannel, AudioVolume, AudioMute) as typed structs: server -> client
// bodies in rs::msg, client -> server bodies parsed into a variant of
// rs::msgc structs. Layouts are spice.proto's: packed, little-endian.
// Common BaseChannel messages are parsed by parse_common_client_message.
#pragma once

#include <cstdint>
#include <span>
#include <variant>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "reds/main_messages.hpp"
#include "reds/wire.hpp"

namespace rs {

namespace msg {

/// PLAYBACK_DATA: the multimedia time of the frame, then the frame (S16
/// stereo PCM, or one Opus packet) to the end of the body.
struct playback_data {
    static constexpr uint16_t type = SPICE_MSG_PLAYBACK_DATA;
    uint32_t time = 0;
    std::span<const uint8_t> data;
    void encode(wire::writer &w) const {
        w.u32(time);
        w.bytes(data);
    }
};

/// PLAYBACK_MODE: SPICE_AUDIO_DATA_MODE_* of the DATA that follows. The
/// trailing data is always empty, as the reference sends it.
struct playback_mode {
    static constexpr uint16_t type = SPICE_MSG_PLAYBACK_MODE;
    uint32_t time = 0;
    uint16_t mode = SPICE_AUDIO_DATA_MODE_RAW;
    void encode(wire::writer &w) const {
        w.u32(time);
        w.u16(mode);
    }
};

/// PLAYBACK_START: channels, SPICE_AUDIO_FMT_*, frequency, multimedia time.
struct playback_start {
    static constexpr uint16_t type = SPICE_MSG_PLAYBACK_START;
    uint32_t channels = 2;
    uint16_t format = SPICE_AUDIO_FMT_S16;
    uint32_t frequency = 0;
    uint32_t time = 0;
    void encode(wire::writer &w) const {
        w.u32(channels);
        w.u16(format);
        w.u32(frequency);
        w.u32(time);
    }
};

struct playback_stop {
    static constexpr uint16_t type = SPICE_MSG_PLAYBACK_STOP;
    void encode(wire::writer &) const {}
};

/// AudioVolume: a u8 count, then that many u16 volumes. At most 255 fit.
void encode_audio_volume(wire::writer &w, std::span<const uint16_t> volume);

struct playback_volume {
    static constexpr uint16_t type = SPICE_MSG_PLAYBACK_VOLUME;
    std::span<const uint16_t> volume;
    void encode(wire::writer &w) const { encode_audio_volume(w, volume); }
};

struct playback_mute {
    static constexpr uint16_t type = SPICE_MSG_PLAYBACK_MUTE;
    uint8_t mute = 0;
    void encode(wire::writer &w) const { w.u8(mute); }
};

struct playback_latency {
    static constexpr uint16_t type = SPICE_MSG_PLAYBACK_LATENCY;
    uint32_t latency_ms = 0;
    void encode(wire::writer &w) const { w.u32(latency_ms); }
};

/// RECORD_START: channels, SPICE_AUDIO_FMT_*, frequency (no time).
struct record_start {
    static constexpr uint16_t type = SPICE_MSG_RECORD_START;
    uint32_t channels = 2;
    uint16_t format = SPICE_AUDIO_FMT_S16;
    uint32_t frequency = 0;
    void encode(wire::writer &w) const {
        w.u32(channels);
        w.u16(format);
        w.u32(frequency);
    }
};

struct record_stop {
    static constexpr uint16_t type = SPICE_MSG_RECORD_STOP;
    void encode(wire::writer &) const {}
};

struct record_volume {
    static constexpr uint16_t type = SPICE_MSG_RECORD_VOLUME;
    std::span<const uint16_t> volume;
    void encode(wire::writer &w) const { encode_audio_volume(w, volume); }
};

struct record_mute {
    static constexpr uint16_t type = SPICE_MSG_RECORD_MUTE;
    uint8_t mute = 0;
    void encode(wire::writer &w) const { w.u8(mute); }
};

} // namespace msg

namespace msgc {

/// RECORD_DATA: the client's time and the captured frame (raw S16 stereo or
/// one Opus packet), the rest of the body.
struct record_data {
    uint32_t time = 0;
    std::span<const uint8_t> data;
};
/// RECORD_MODE: the SPICE_AUDIO_DATA_MODE_* of the DATA that follows; the
/// trailing data is unused (spice-gtk sends none).
struct record_mode {
    uint32_t time = 0;
    uint16_t mode = 0;
    std::span<const uint8_t> data;
};
struct record_start_mark {
    uint32_t time = 0;
};

} // namespace msgc

/// A record-channel client message (types 101..) or the error that ends
/// the channel. Spans borrow the parsed body.
using record_client_message =
    std::variant<parse_error, msgc::record_data, msgc::record_mode, msgc::record_start_mark>;

/// Parses the body of a SPICE_MSGC_RECORD_* message. BaseChannel types and
/// unknown ones are parse_error::kind::unknown_type. `extra` matters only for
/// START_MARK, the one fixed-size body.
record_client_message parse_record_client_message(uint16_t type, std::span<const uint8_t> body,
                                                  extra_bytes extra = extra_bytes::reject);

} // namespace rs

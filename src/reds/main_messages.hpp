// The messages every channel shares (spice.proto BaseChannel) and those of the
// main channel, as typed structs. Server->client structs (rs::msg) carry their
// SPICE_MSG_* type and encode their body; client->server bodies (rs::msgc) are
// parsed into a variant. Layouts are spice.proto's: packed, little-endian.
// Headers are not written here (see protocol.hpp message_frame).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "reds/wire.hpp"

namespace rs {

/// The name of a SPICE_CHANNEL_* type as spice_server_set_channel_security
/// takes it ("main", "display", ..., "webdav", and "tunnel" as in the
/// reference); empty for an unknown type. The reverse is
/// channel_type_from_name in reds/server_config.hpp.
std::string_view channel_type_name(uint32_t type) noexcept;

/// Server -> client bodies. Each struct is plain data (views borrow what the
/// caller owns until encode returns), usable from any shard.
namespace msg {

/// BaseChannel MIGRATE: flags are SPICE_MIGRATE_NEED_*.
struct migrate {
    static constexpr uint16_t type = SPICE_MSG_MIGRATE;
    uint32_t flags = 0;
    void encode(wire::writer &w) const { w.u32(flags); }
};

struct set_ack {
    static constexpr uint16_t type = SPICE_MSG_SET_ACK;
    uint32_t generation = 0;
    uint32_t window = 0;
    void encode(wire::writer &w) const;
};

/// The timestamp is in microseconds of the monotonic clock, as the pong
/// echoes it; padding_bytes zeros follow (the main channel's bandwidth test).
struct ping {
    static constexpr uint16_t type = SPICE_MSG_PING;
    uint32_t id = 0;
    uint64_t timestamp = 0;
    uint32_t padding_bytes = 0;
    void encode(wire::writer &w) const;
};

/// One entry of WAIT_FOR_CHANNELS (SpiceWaitForChannel): 10 bytes.
struct channel_wait {
    uint8_t channel_type = 0;
    uint8_t channel_id = 0;
    uint64_t message_serial = 0;
};

/// At most 255 waits fit the u8 count; further entries are not sent.
struct wait_for_channels {
    static constexpr uint16_t type = SPICE_MSG_WAIT_FOR_CHANNELS;
    std::span<const channel_wait> waits;
    void encode(wire::writer &w) const;
};

struct disconnecting {
    static constexpr uint16_t type = SPICE_MSG_DISCONNECTING;
    uint64_t time_stamp = 0;
    uint32_t reason = SPICE_LINK_ERR_OK; ///< SPICE_LINK_ERR_*
    void encode(wire::writer &w) const;
};

/// message_len counts the text without its NUL, and the NUL follows, as the
/// reference sends it.
struct notify {
    static constexpr uint16_t type = SPICE_MSG_NOTIFY;
    uint64_t time_stamp = 0;
    uint32_t severity = SPICE_NOTIFY_SEVERITY_WARN;
    uint32_t visibility = SPICE_NOTIFY_VISIBILITY_HIGH;
    uint32_t what = SPICE_WARN_GENERAL;
    std::string_view message;
    void encode(wire::writer &w) const;
};

struct main_migrate_cancel {
    static constexpr uint16_t type = SPICE_MSG_MAIN_MIGRATE_CANCEL;
    void encode(wire::writer &) const {}
};

struct main_init {
    static constexpr uint16_t type = SPICE_MSG_MAIN_INIT;
    uint32_t session_id = 0;
    uint32_t display_channels_hint = 0;
    uint32_t supported_mouse_modes = 0; ///< SPICE_MOUSE_MODE_* bits
    uint32_t current_mouse_mode = 0;
    uint32_t agent_connected = 0;
    uint32_t agent_tokens = 0;
    uint32_t multi_media_time = 0;
    uint32_t ram_hint = 0;
    void encode(wire::writer &w) const;
};

/// One entry of CHANNELS_LIST (SpiceChannelId): 2 bytes.
struct channel_id {
    uint8_t type = 0;
    uint8_t id = 0;
};

struct main_channels_list {
    static constexpr uint16_t type = SPICE_MSG_MAIN_CHANNELS_LIST;
    std::span<const channel_id> channels;
    void encode(wire::writer &w) const;
};

struct main_mouse_mode {
    static constexpr uint16_t type = SPICE_MSG_MAIN_MOUSE_MODE;
    uint16_t supported_modes = 0; ///< SPICE_MOUSE_MODE_* bits
    uint16_t current_mode = 0;    ///< exactly one bit
    void encode(wire::writer &w) const;
};

struct main_multi_media_time {
    static constexpr uint16_t type = SPICE_MSG_MAIN_MULTI_MEDIA_TIME;
    uint32_t time = 0;
    void encode(wire::writer &w) const { w.u32(time); }
};

struct main_agent_connected {
    static constexpr uint16_t type = SPICE_MSG_MAIN_AGENT_CONNECTED;
    void encode(wire::writer &) const {}
};

struct main_agent_disconnected {
    static constexpr uint16_t type = SPICE_MSG_MAIN_AGENT_DISCONNECTED;
    uint32_t error_code = SPICE_LINK_ERR_OK; ///< SPICE_LINK_ERR_*
    void encode(wire::writer &w) const { w.u32(error_code); }
};

/// Raw agent bytes (VDAgentMessage chunks), the whole body.
struct main_agent_data {
    static constexpr uint16_t type = SPICE_MSG_MAIN_AGENT_DATA;
    std::span<const uint8_t> data;
    void encode(wire::writer &w) const { w.bytes(data); }
};

struct main_agent_token {
    static constexpr uint16_t type = SPICE_MSG_MAIN_AGENT_TOKEN;
    uint32_t num_tokens = 0;
    void encode(wire::writer &w) const { w.u32(num_tokens); }
};

struct main_migrate_end {
    static constexpr uint16_t type = SPICE_MSG_MAIN_MIGRATE_END;
    void encode(wire::writer &) const {}
};

/// name_len counts the NUL, which is sent, as the reference does.
struct main_name {
    static constexpr uint16_t type = SPICE_MSG_MAIN_NAME;
    std::string_view name;
    void encode(wire::writer &w) const;
};

struct main_uuid {
    static constexpr uint16_t type = SPICE_MSG_MAIN_UUID;
    std::array<uint8_t, 16> uuid{};
    void encode(wire::writer &w) const { w.bytes(uuid); }
};

struct main_agent_connected_tokens {
    static constexpr uint16_t type = SPICE_MSG_MAIN_AGENT_CONNECTED_TOKENS;
    uint32_t num_tokens = 0;
    void encode(wire::writer &w) const { w.u32(num_tokens); }
};

struct main_migrate_dst_seamless_ack {
    static constexpr uint16_t type = SPICE_MSG_MAIN_MIGRATE_DST_SEAMLESS_ACK;
    void encode(wire::writer &) const {}
};

struct main_migrate_dst_seamless_nack {
    static constexpr uint16_t type = SPICE_MSG_MAIN_MIGRATE_DST_SEAMLESS_NACK;
    void encode(wire::writer &) const {}
};

} // namespace msg

/// Client -> server bodies. Spans borrow the parsed input and live as long as
/// it does. Plain data, usable from any shard.
namespace msgc {

struct ack_sync {
    uint32_t generation = 0;
};
struct ack {};
/// The echo of a ping: the id and timestamp the server sent.
struct pong {
    uint32_t id = 0;
    uint64_t timestamp = 0;
};
struct migrate_flush_mark {};
struct migrate_data {
    std::span<const uint8_t> data;
};
struct disconnecting {
    uint64_t time_stamp = 0;
    uint32_t reason = 0; ///< SPICE_LINK_ERR_*
};

struct main_client_info {
    uint64_t cache_size = 0;
};
struct main_migrate_connected {};
struct main_migrate_connect_error {};
struct main_attach_channels {};
struct main_mouse_mode_request {
    uint16_t mode = 0; ///< SPICE_MOUSE_MODE_*; not validated here
};
struct main_agent_start {
    uint32_t num_tokens = 0;
};
struct main_agent_data {
    std::span<const uint8_t> data;
};
struct main_agent_token {
    uint32_t num_tokens = 0;
};
struct main_migrate_end {};
struct main_migrate_dst_do_seamless {
    uint32_t src_version = 0;
};
struct main_migrate_connected_seamless {};
struct main_quality_indicator {
    std::span<const uint8_t> data;
};

} // namespace msgc

/// Why a client message was refused; `reason` is a static string for the log.
/// Plain data.
struct parse_error {
    enum class kind : uint8_t { unknown_type, truncated, trailing_bytes };
    kind what = kind::unknown_type;
    uint16_t type = 0;
    const char *reason = "";
};

/// Fixed-size messages: the reference's generated demarshaller ignores bytes
/// past the fields; we refuse them unless asked to behave like it.
enum class extra_bytes : uint8_t { reject, ignore };

/// A BaseChannel client message, or the error that ends the channel.
using common_client_message =
    std::variant<parse_error, msgc::ack_sync, msgc::ack, msgc::pong, msgc::migrate_flush_mark,
                 msgc::migrate_data, msgc::disconnecting>;

/// A main-channel client message (BaseChannel ones included), or the error.
using main_client_message =
    std::variant<parse_error, msgc::ack_sync, msgc::ack, msgc::pong, msgc::migrate_flush_mark,
                 msgc::migrate_data, msgc::disconnecting, msgc::main_client_info,
                 msgc::main_migrate_connected, msgc::main_migrate_connect_error,
                 msgc::main_attach_channels, msgc::main_mouse_mode_request, msgc::main_agent_start,
                 msgc::main_agent_data, msgc::main_agent_token, msgc::main_migrate_end,
                 msgc::main_migrate_dst_do_seamless, msgc::main_migrate_connected_seamless,
                 msgc::main_quality_indicator>;

/// Parses the body of a SPICE_MSGC_* common message (types 1..6) that any
/// channel receives; other types are parse_error::kind::unknown_type.
common_client_message parse_common_client_message(uint16_t type, std::span<const uint8_t> body,
                                                  extra_bytes extra = extra_bytes::reject);

/// Parses the body of a message received on the main channel.
main_client_message parse_main_client_message(uint16_t type, std::span<const uint8_t> body,
                                              extra_bytes extra = extra_bytes::reject);

} // namespace rs

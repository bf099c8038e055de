#include "reds/main_messages.hpp"

#include <utility>

namespace rs {

namespace {

struct channel_name {
    uint8_t type;
    std::string_view name;
};

// The reference's table (server/utils.c), "tunnel" included: its
// red_channel_name_to_type knows it, so spice_server_set_channel_security does.
// Keep in step with channel_type_from_name (server_config.cpp).
constexpr channel_name channel_names[] = {
    {SPICE_CHANNEL_MAIN, "main"},         {SPICE_CHANNEL_DISPLAY, "display"},
    {SPICE_CHANNEL_INPUTS, "inputs"},     {SPICE_CHANNEL_CURSOR, "cursor"},
    {SPICE_CHANNEL_PLAYBACK, "playback"}, {SPICE_CHANNEL_RECORD, "record"},
    {SPICE_CHANNEL_TUNNEL, "tunnel"},     {SPICE_CHANNEL_SMARTCARD, "smartcard"},
    {SPICE_CHANNEL_USBREDIR, "usbredir"}, {SPICE_CHANNEL_PORT, "port"},
    {SPICE_CHANNEL_WEBDAV, "webdav"},
};

template <typename V> V error(parse_error::kind k, uint16_t type, const char *reason) {
    return parse_error{k, type, reason};
}

// Ends the parse of a fixed-size body: the fields must all have been there,
// and nothing else unless the caller tolerates it.
template <typename V, typename T>
V finish(const wire::reader &r, uint16_t type, extra_bytes extra, T value) {
    if (!r.ok()) return error<V>(parse_error::kind::truncated, type, "truncated");
    if (extra == extra_bytes::reject && r.remaining() != 0)
        return error<V>(parse_error::kind::trailing_bytes, type, "trailing bytes");
    return V(std::in_place_type<T>, std::move(value));
}

// Both variants hold the BaseChannel messages, so one parser fills either.
template <typename V>
V parse_common(uint16_t type, std::span<const uint8_t> body, extra_bytes extra) {
    wire::reader r(body);
    switch (type) {
    case SPICE_MSGC_ACK_SYNC: {
        msgc::ack_sync m;
        m.generation = r.u32();
        return finish<V>(r, type, extra, m);
    }
    case SPICE_MSGC_ACK:
        return finish<V>(r, type, extra, msgc::ack{});
    case SPICE_MSGC_PONG: {
        msgc::pong m;
        m.id = r.u32();
        m.timestamp = r.u64();
        return finish<V>(r, type, extra, m);
    }
    case SPICE_MSGC_MIGRATE_FLUSH_MARK:
        return finish<V>(r, type, extra, msgc::migrate_flush_mark{});
    case SPICE_MSGC_MIGRATE_DATA:
        return V(std::in_place_type<msgc::migrate_data>, msgc::migrate_data{body});
    case SPICE_MSGC_DISCONNECTING: {
        msgc::disconnecting m;
        m.time_stamp = r.u64();
        m.reason = r.u32();
        return finish<V>(r, type, extra, m);
    }
    default:
        return error<V>(parse_error::kind::unknown_type, type, "unknown message type");
    }
}

} // namespace

std::string_view channel_type_name(uint32_t type) noexcept {
    for (const auto &c : channel_names)
        if (c.type == type) return c.name;
    return {};
}

namespace msg {

void set_ack::encode(wire::writer &w) const {
    w.u32(generation);
    w.u32(window);
}

void ping::encode(wire::writer &w) const {
    w.u32(id);
    w.u64(timestamp);
    w.zeros(padding_bytes);
}

void wait_for_channels::encode(wire::writer &w) const {
    const size_t n = waits.size() < 255 ? waits.size() : 255;
    w.u8(static_cast<uint8_t>(n));
    for (const auto &c : waits.first(n)) {
        w.u8(c.channel_type);
        w.u8(c.channel_id);
        w.u64(c.message_serial);
    }
}

void disconnecting::encode(wire::writer &w) const {
    w.u64(time_stamp);
    w.u32(reason);
}

void notify::encode(wire::writer &w) const {
    w.u64(time_stamp);
    w.u32(severity);
    w.u32(visibility);
    w.u32(what);
    w.u32(static_cast<uint32_t>(message.size()));
    w.bytes({reinterpret_cast<const uint8_t *>(message.data()), message.size()});
    w.u8(0);
}

void main_init::encode(wire::writer &w) const {
    w.u32(session_id);
    w.u32(display_channels_hint);
    w.u32(supported_mouse_modes);
    w.u32(current_mouse_mode);
    w.u32(agent_connected);
    w.u32(agent_tokens);
    w.u32(multi_media_time);
    w.u32(ram_hint);
}

void main_channels_list::encode(wire::writer &w) const {
    w.u32(static_cast<uint32_t>(channels.size()));
    for (const auto &c : channels) {
        w.u8(c.type);
        w.u8(c.id);
    }
}

void main_mouse_mode::encode(wire::writer &w) const {
    w.u16(supported_modes);
    w.u16(current_mode);
}

void main_name::encode(wire::writer &w) const {
    w.u32(static_cast<uint32_t>(name.size() + 1));
    w.bytes({reinterpret_cast<const uint8_t *>(name.data()), name.size()});
    w.u8(0);
}

} // namespace msg

common_client_message parse_common_client_message(uint16_t type, std::span<const uint8_t> body,
                                                  extra_bytes extra) {
    return parse_common<common_client_message>(type, body, extra);
}

main_client_message parse_main_client_message(uint16_t type, std::span<const uint8_t> body,
                                              extra_bytes extra) {
    using V = main_client_message;
    // Channel-specific types start at 101 (SPICE_MSGC_MAIN_CLIENT_INFO).
    if (type < SPICE_MSGC_MAIN_CLIENT_INFO) return parse_common<V>(type, body, extra);
    wire::reader r(body);
    switch (type) {
    case SPICE_MSGC_MAIN_CLIENT_INFO: {
        msgc::main_client_info m;
        m.cache_size = r.u64();
        return finish<V>(r, type, extra, m);
    }
    case SPICE_MSGC_MAIN_MIGRATE_CONNECTED:
        return finish<V>(r, type, extra, msgc::main_migrate_connected{});
    case SPICE_MSGC_MAIN_MIGRATE_CONNECT_ERROR:
        return finish<V>(r, type, extra, msgc::main_migrate_connect_error{});
    case SPICE_MSGC_MAIN_ATTACH_CHANNELS:
        return finish<V>(r, type, extra, msgc::main_attach_channels{});
    case SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST: {
        msgc::main_mouse_mode_request m;
        m.mode = r.u16();
        return finish<V>(r, type, extra, m);
    }
    case SPICE_MSGC_MAIN_AGENT_START: {
        msgc::main_agent_start m;
        m.num_tokens = r.u32();
        return finish<V>(r, type, extra, m);
    }
    case SPICE_MSGC_MAIN_AGENT_DATA:
        return V(std::in_place_type<msgc::main_agent_data>, msgc::main_agent_data{body});
    case SPICE_MSGC_MAIN_AGENT_TOKEN: {
        msgc::main_agent_token m;
        m.num_tokens = r.u32();
        return finish<V>(r, type, extra, m);
    }
    case SPICE_MSGC_MAIN_MIGRATE_END:
        return finish<V>(r, type, extra, msgc::main_migrate_end{});
    case SPICE_MSGC_MAIN_MIGRATE_DST_DO_SEAMLESS: {
        msgc::main_migrate_dst_do_seamless m;
        m.src_version = r.u32();
        return finish<V>(r, type, extra, m);
    }
    case SPICE_MSGC_MAIN_MIGRATE_CONNECTED_SEAMLESS:
        return finish<V>(r, type, extra, msgc::main_migrate_connected_seamless{});
    case SPICE_MSGC_MAIN_QUALITY_INDICATOR:
        return V(std::in_place_type<msgc::main_quality_indicator>,
                 msgc::main_quality_indicator{body});
    default:
        return error<V>(parse_error::kind::unknown_type, type, "unknown message type");
    }
}

} // namespace rs

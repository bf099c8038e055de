// What the VDI load client (rs-vdiload) reads from a SPICE server: a message
// splitter for mini-header channels that keeps only a bounded prefix of each
// body (the client is a sink and decodes no images), and bounds-checked
// decoders for the few messages it acts on. Header-only so that the fuzz
// target (fuzz/vdi_load_fuzz.cpp) exercises exactly this code.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "reds/wire.hpp"

namespace rs::vdi {

/// Splits one channel's byte stream into mini-header messages, whatever the
/// chunking of the reads. Keeps at most `prefix_limit` bytes of each body and
/// skips the rest, so a 30 MB image costs no memory. Plain data; lives with
/// its channel on the client's shard.
class message_splitter {
  public:
    static constexpr size_t header_size = sizeof(SpiceMiniDataHeader); // 6
    static constexpr size_t prefix_limit = 1024;

    /// Feeds `in`; calls `on_message(type, size, prefix, rest)` for every
    /// message completed, where `prefix` is the first min(size, prefix_limit)
    /// body bytes and `rest` the bytes of `in` after the message. Stops and
    /// returns false as soon as on_message returns false.
    template <typename F> bool feed(std::span<const uint8_t> in, F &&on_message) {
        while (true) {
            if (!_in_body) {
                if (in.empty()) return true;
                const size_t n = std::min(in.size(), header_size - _hdr_have);
                std::copy_n(in.begin(), n, _hdr.begin() + static_cast<std::ptrdiff_t>(_hdr_have));
                _hdr_have += n;
                in = in.subspan(n);
                if (_hdr_have < header_size) return true;
                wire::reader r(_hdr);
                _type = r.u16();
                _size = r.u32();
                _left = _size;
                _hdr_have = 0;
                _in_body = true;
                _prefix.clear();
            }
            const size_t n = std::min<size_t>(in.size(), _left);
            const size_t room = prefix_limit - std::min(prefix_limit, _prefix.size());
            const size_t keep = std::min(n, room);
            _prefix.insert(_prefix.end(), in.begin(),
                           in.begin() + static_cast<std::ptrdiff_t>(keep));
            in = in.subspan(n);
            _left -= static_cast<uint32_t>(n);
            if (_left > 0) return true;
            _in_body = false;
            if (!on_message(_type, _size, std::span<const uint8_t>(_prefix), in.size()))
                return false;
        }
    }

  private:
    std::array<uint8_t, header_size> _hdr{};
    size_t _hdr_have = 0;
    bool _in_body = false;
    uint16_t _type = 0;
    uint32_t _size = 0;
    uint32_t _left = 0;
    std::vector<uint8_t> _prefix;
};

/// SPICE_MSG_SET_ACK.
struct set_ack {
    uint32_t generation = 0;
    uint32_t window = 0;
};
inline std::optional<set_ack> parse_set_ack(std::span<const uint8_t> b) noexcept {
    wire::reader r(b);
    set_ack m{.generation = r.u32(), .window = r.u32()};
    return r.ok() ? std::optional(m) : std::nullopt;
}

/// SPICE_MSG_PING without its optional padding.
struct ping {
    uint32_t id = 0;
    uint64_t timestamp = 0;
};
inline std::optional<ping> parse_ping(std::span<const uint8_t> b) noexcept {
    wire::reader r(b);
    ping m{};
    m.id = r.u32();
    m.timestamp = r.u64();
    return r.ok() ? std::optional(m) : std::nullopt;
}

/// The fields of SPICE_MSG_MAIN_INIT the client uses.
struct main_init {
    uint32_t session_id = 0;
    uint32_t ram_hint = 0; ///< bytes; spice-gtk sizes its GLZ window from it
};
inline std::optional<main_init> parse_main_init(std::span<const uint8_t> b) noexcept {
    wire::reader r(b);
    main_init m{};
    m.session_id = r.u32();
    r.skip(6 * sizeof(uint32_t)); // display hint, mouse modes, agent, tokens, mm time
    m.ram_hint = r.u32();
    return r.ok() ? std::optional(m) : std::nullopt;
}

/// One entry of SPICE_MSG_MAIN_CHANNELS_LIST.
struct channel_id {
    uint8_t type = 0;
    uint8_t id = 0;
};
/// SPICE_MSG_MAIN_CHANNELS_LIST. `complete` false: `b` is a cut prefix, and
/// the entries it holds are returned even if the count says more follow.
inline std::optional<std::vector<channel_id>> parse_channels_list(std::span<const uint8_t> b,
                                                                  bool complete) {
    wire::reader r(b);
    const uint32_t n = r.u32();
    if (!r.ok()) return std::nullopt;
    std::vector<channel_id> out;
    for (uint32_t i = 0; i < n && (complete || r.remaining() >= 2); ++i) {
        channel_id c{};
        c.type = r.u8();
        c.id = r.u8();
        if (!r.ok()) return std::nullopt;
        out.push_back(c);
    }
    return out;
}

/// SPICE_MSG_DISPLAY_SURFACE_CREATE.
struct surface_create {
    uint32_t surface_id = 0;
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t format = 0;
    uint32_t flags = 0;
};
inline std::optional<surface_create> parse_surface_create(std::span<const uint8_t> b) noexcept {
    wire::reader r(b);
    surface_create m{};
    m.surface_id = r.u32();
    m.width = r.u32();
    m.height = r.u32();
    m.format = r.u32();
    m.flags = r.u32();
    return r.ok() ? std::optional(m) : std::nullopt;
}

/// The head of SPICE_MSG_DISPLAY_DRAW_FILL: SpiceMsgDisplayBase (surface,
/// box, clip) and the brush type and, for SOLID, its colour. Enough to
/// recognise the benchmark's frame marker (README, vdi_protocol).
struct fill_head {
    uint32_t surface_id = 0;
    int32_t top = 0;
    int32_t left = 0;
    int32_t bottom = 0;
    int32_t right = 0;
    uint8_t brush_type = SPICE_BRUSH_TYPE_NONE;
    uint32_t color = 0; ///< only for SPICE_BRUSH_TYPE_SOLID
};
/// nullopt when `b` ends before the brush (or the clip type is unknown).
inline std::optional<fill_head> parse_fill_head(std::span<const uint8_t> b) noexcept {
    wire::reader r(b);
    fill_head m{};
    m.surface_id = r.u32();
    m.top = r.i32();
    m.left = r.i32();
    m.bottom = r.i32();
    m.right = r.i32();
    const uint8_t clip = r.u8();
    if (clip == SPICE_CLIP_TYPE_RECTS) {
        const uint32_t n = r.u32();
        const uint64_t rect_bytes = uint64_t{n} * 16;
        if (rect_bytes > r.remaining()) return std::nullopt;
        r.skip(static_cast<size_t>(rect_bytes));
    } else if (clip != SPICE_CLIP_TYPE_NONE) {
        return std::nullopt;
    }
    m.brush_type = r.u8();
    if (m.brush_type == SPICE_BRUSH_TYPE_SOLID) m.color = r.u32();
    return r.ok() ? std::optional(m) : std::nullopt;
}

/// True when `f` is the frame marker on a primary surface of `height`
/// lines: the solid bottom-left pixel of surface 0.
inline bool is_frame_marker(const fill_head &f, uint32_t height) noexcept {
    if (height == 0 || height > INT32_MAX) return false;
    const auto h = static_cast<int32_t>(height);
    return f.surface_id == 0 && f.left == 0 && f.right == 1 && f.top == h - 1 && f.bottom == h &&
           f.brush_type == SPICE_BRUSH_TYPE_SOLID;
}

/// Latency in 100 µs units of a marker stamped `color` and received at
/// `now_100us` (both CLOCK_MONOTONIC / 100 µs, modulo 2^24).
inline uint32_t marker_latency(uint32_t color, uint64_t now_100us) noexcept {
    return (static_cast<uint32_t>(now_100us & 0xFFFFFFu) - color) & 0xFFFFFFu;
}

} // namespace rs::vdi

// Cursor channel messages (spice.proto CursorChannel), server -> client. The
// channel has no client messages beyond BaseChannel's: parse those with
// parse_common_client_message (reds/main_messages.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "display/draw.hpp"
#include "reds/wire.hpp"

namespace rs {

/// Bytes of pixel data a cursor of this SPICE_CURSOR_TYPE_* carries: the
/// pixels, then the palette (COLOR4: 16, COLOR8: 256 u32 entries), then for
/// every type but ALPHA a 1-bit AND mask of ((width + 7) / 8) × height bytes
/// (MONO: AND mask then XOR mask, both 1-bit). 0 for an unknown type.
size_t cursor_data_size(uint16_t type, uint16_t width, uint16_t height) noexcept;

/// spice.proto Cursor: a shape as the channel sends it. Plain data; `shape`
/// is borrowed until encode returns.
///
/// No shape: flags SPICE_CURSOR_FLAGS_NONE alone (no cursor). Otherwise the
/// flags are the shape's plus `cache_flags`, then the header (unique, type,
/// width, height, hot spot) and, unless FROM_CACHE, the shape's data — the
/// rest of the message. A shape whose data is shorter than
/// cursor_data_size() for its type goes as NONE: spice-gtk would read past
/// the message for it.
struct wire_cursor {
    const draw::cursor_shape *shape = nullptr;
    /// SPICE_CURSOR_FLAGS_CACHE_ME (the client keeps it under `unique`) or
    /// SPICE_CURSOR_FLAGS_FROM_CACHE (header only; the client has it), as the
    /// channel's cursor cache decided.
    uint16_t cache_flags = 0;
    void encode(wire::writer &w) const;
};

/// Server -> client cursor bodies. Plain data, usable from any shard.
namespace msg {

/// The cursor state when the channel starts (or restarts after a reset).
struct cursor_init {
    static constexpr uint16_t type = SPICE_MSG_CURSOR_INIT;
    draw::point16 position;
    uint16_t trail_length = 0;
    uint16_t trail_frequency = 0;
    bool visible = false;
    wire_cursor cursor;
    void encode(wire::writer &w) const;
};

/// The client drops its cursor cache and waits for a new INIT.
struct cursor_reset {
    static constexpr uint16_t type = SPICE_MSG_CURSOR_RESET;
    void encode(wire::writer &) const {}
};

/// A new cursor shape at a position.
struct cursor_set {
    static constexpr uint16_t type = SPICE_MSG_CURSOR_SET;
    draw::point16 position;
    bool visible = true;
    wire_cursor cursor;
    void encode(wire::writer &w) const;
};

/// The cursor moved (server mouse mode).
struct cursor_move {
    static constexpr uint16_t type = SPICE_MSG_CURSOR_MOVE;
    draw::point16 position;
    void encode(wire::writer &w) const;
};

/// The cursor is hidden until the next SET.
struct cursor_hide {
    static constexpr uint16_t type = SPICE_MSG_CURSOR_HIDE;
    void encode(wire::writer &) const {}
};

/// Cursor trail settings (spice-gtk ignores them).
struct cursor_trail {
    static constexpr uint16_t type = SPICE_MSG_CURSOR_TRAIL;
    uint16_t length = 0;
    uint16_t frequency = 0;
    void encode(wire::writer &w) const;
};

/// Drops one cursor (by its `unique`) from the client's cache.
struct cursor_inval_one {
    static constexpr uint16_t type = SPICE_MSG_CURSOR_INVAL_ONE;
    uint64_t id = 0;
    void encode(wire::writer &w) const { w.u64(id); }
};

/// Empties the client's cursor cache.
struct cursor_inval_all {
    static constexpr uint16_t type = SPICE_MSG_CURSOR_INVAL_ALL;
    void encode(wire::writer &) const {}
};

} // namespace msg

} // namespace rs

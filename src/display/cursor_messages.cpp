#include "display/cursor_messages.hpp"

namespace rs {

size_t cursor_data_size(uint16_t type, uint16_t width, uint16_t height) noexcept {
    const size_t w = width;
    const size_t h = height;
    const size_t mask = (w + 7) / 8 * h; // 1 bit per pixel, rows padded to bytes
    switch (type) {
    case SPICE_CURSOR_TYPE_ALPHA:
        return 4 * w * h;
    case SPICE_CURSOR_TYPE_MONO:
        return 2 * mask;
    case SPICE_CURSOR_TYPE_COLOR4:
        return (w + 1) / 2 * h + 16 * 4 + mask;
    case SPICE_CURSOR_TYPE_COLOR8:
        return w * h + 256 * 4 + mask;
    case SPICE_CURSOR_TYPE_COLOR16:
        return 2 * w * h + mask;
    case SPICE_CURSOR_TYPE_COLOR24:
        return 3 * w * h + mask;
    case SPICE_CURSOR_TYPE_COLOR32:
        return 4 * w * h + mask;
    default:
        return 0;
    }
}

void wire_cursor::encode(wire::writer &w) const {
    const uint16_t flags = shape ? static_cast<uint16_t>(shape->flags | cache_flags)
                                 : static_cast<uint16_t>(SPICE_CURSOR_FLAGS_NONE);
    const bool from_cache = (flags & SPICE_CURSOR_FLAGS_FROM_CACHE) != 0;
    // spice-gtk copies the size its type implies out of `data` without
    // checking data_size; never let it read past the message.
    const bool short_data =
        shape && !from_cache &&
        shape->data.size() < cursor_data_size(shape->type, shape->width, shape->height);
    if ((flags & SPICE_CURSOR_FLAGS_NONE) || short_data) {
        w.u16(SPICE_CURSOR_FLAGS_NONE);
        return;
    }
    w.u16(flags);
    w.u64(shape->unique);
    w.u8(static_cast<uint8_t>(shape->type)); // cursor_type is enum8 on the wire
    w.u16(shape->width);
    w.u16(shape->height);
    w.u16(shape->hot_spot_x);
    w.u16(shape->hot_spot_y);
    // `data` is the rest of the message (@as_ptr(data_size)); a cached
    // cursor is named by its header alone.
    if (!from_cache) w.bytes(shape->data);
}

namespace msg {

void cursor_init::encode(wire::writer &w) const {
    w.i16(position.x);
    w.i16(position.y);
    w.u16(trail_length);
    w.u16(trail_frequency);
    w.u8(visible ? 1 : 0);
    cursor.encode(w);
}

void cursor_set::encode(wire::writer &w) const {
    w.i16(position.x);
    w.i16(position.y);
    w.u8(visible ? 1 : 0);
    cursor.encode(w);
}

void cursor_move::encode(wire::writer &w) const {
    w.i16(position.x);
    w.i16(position.y);
}

void cursor_trail::encode(wire::writer &w) const {
    w.u16(length);
    w.u16(frequency);
}

} // namespace msg

} // namespace rs

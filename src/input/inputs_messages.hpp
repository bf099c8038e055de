// The inputs channel's messages (spice.proto InputsChannel) as typed structs:
// server -> client bodies in rs::msg, client -> server bodies parsed into a
// variant of rs::msgc structs. Layouts are spice.proto's: packed,
// little-endian. Common BaseChannel messages are parsed by
// parse_common_client_message (reds/main_messages.hpp), not here.
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

/// INPUTS_INIT: the guest keyboard's lock LEDs (SPICE_KEYBOARD_MODIFIER_FLAGS_*).
struct inputs_init {
    static constexpr uint16_t type = SPICE_MSG_INPUTS_INIT;
    uint16_t keyboard_modifiers = 0;
    void encode(wire::writer &w) const { w.u16(keyboard_modifiers); }
};

/// INPUTS_KEY_MODIFIERS: the lock LEDs changed (or their periodic resync).
struct inputs_key_modifiers {
    static constexpr uint16_t type = SPICE_MSG_INPUTS_KEY_MODIFIERS;
    uint16_t modifiers = 0;
    void encode(wire::writer &w) const { w.u16(modifiers); }
};

/// INPUTS_MOUSE_MOTION_ACK: empty; one per SPICE_INPUT_MOTION_ACK_BUNCH
/// motion or position messages, so the client keeps sending.
struct inputs_mouse_motion_ack {
    static constexpr uint16_t type = SPICE_MSG_INPUTS_MOUSE_MOTION_ACK;
    void encode(wire::writer &) const {}
};

} // namespace msg

namespace msgc {

/// KEY_DOWN / KEY_UP: up to four PC set-1 scancode bytes, least significant
/// first, ended by the first zero byte (0xE0 0x48 arrives as 0x48E0).
struct inputs_key_down {
    uint32_t code = 0;
};
struct inputs_key_up {
    uint32_t code = 0;
};
/// The client's lock state (SPICE_KEYBOARD_MODIFIER_FLAGS_*).
struct inputs_key_modifiers {
    uint16_t modifiers = 0;
};
/// KEY_SCANCODE: raw scancode bytes, the whole body (may be empty).
struct inputs_key_scancode {
    std::span<const uint8_t> codes;
};
/// Relative motion (server mouse mode).
struct inputs_mouse_motion {
    int32_t dx = 0;
    int32_t dy = 0;
    uint16_t buttons_state = 0; ///< SPICE_MOUSE_BUTTON_MASK_*
};
/// Absolute position on one display (client mouse mode).
struct inputs_mouse_position {
    uint32_t x = 0;
    uint32_t y = 0;
    uint16_t buttons_state = 0;
    uint8_t display_id = 0;
};
/// `button` is SPICE_MOUSE_BUTTON_* (UP/DOWN are the wheel); not validated.
struct inputs_mouse_press {
    uint8_t button = 0;
    uint16_t buttons_state = 0;
};
struct inputs_mouse_release {
    uint8_t button = 0;
    uint16_t buttons_state = 0;
};

} // namespace msgc

/// An inputs-channel client message (types 101..) or the error that ends
/// the channel. Spans borrow the parsed body.
using inputs_client_message =
    std::variant<parse_error, msgc::inputs_key_down, msgc::inputs_key_up,
                 msgc::inputs_key_modifiers, msgc::inputs_key_scancode, msgc::inputs_mouse_motion,
                 msgc::inputs_mouse_position, msgc::inputs_mouse_press, msgc::inputs_mouse_release>;

/// Parses the body of a SPICE_MSGC_INPUTS_* message. BaseChannel types and
/// unknown ones are parse_error::kind::unknown_type.
inputs_client_message parse_inputs_client_message(uint16_t type, std::span<const uint8_t> body,
                                                  extra_bytes extra = extra_bytes::reject);

} // namespace rs

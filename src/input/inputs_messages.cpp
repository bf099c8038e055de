#include "input/inputs_messages.hpp"

#include <utility>

namespace rs {

namespace {

using V = inputs_client_message;

V error(parse_error::kind k, uint16_t type, const char *reason) {
    return parse_error{k, type, reason};
}

// Ends the parse of a fixed-size body: every field must have been there,
// and nothing else unless the caller tolerates it (the reference's
// demarshaller ignores trailing bytes).
template <typename T> V finish(const wire::reader &r, uint16_t type, extra_bytes extra, T value) {
    if (!r.ok()) return error(parse_error::kind::truncated, type, "truncated");
    if (extra == extra_bytes::reject && r.remaining() != 0)
        return error(parse_error::kind::trailing_bytes, type, "trailing bytes");
    return V(std::in_place_type<T>, std::move(value));
}

} // namespace

inputs_client_message parse_inputs_client_message(uint16_t type, std::span<const uint8_t> body,
                                                  extra_bytes extra) {
    wire::reader r(body);
    switch (type) {
    case SPICE_MSGC_INPUTS_KEY_DOWN:
        return finish(r, type, extra, msgc::inputs_key_down{r.u32()});
    case SPICE_MSGC_INPUTS_KEY_UP:
        return finish(r, type, extra, msgc::inputs_key_up{r.u32()});
    case SPICE_MSGC_INPUTS_KEY_MODIFIERS:
        return finish(r, type, extra, msgc::inputs_key_modifiers{r.u16()});
    case SPICE_MSGC_INPUTS_KEY_SCANCODE:
        return V(std::in_place_type<msgc::inputs_key_scancode>, msgc::inputs_key_scancode{body});
    case SPICE_MSGC_INPUTS_MOUSE_MOTION: {
        msgc::inputs_mouse_motion m;
        m.dx = r.i32();
        m.dy = r.i32();
        m.buttons_state = r.u16();
        return finish(r, type, extra, m);
    }
    case SPICE_MSGC_INPUTS_MOUSE_POSITION: {
        msgc::inputs_mouse_position m;
        m.x = r.u32();
        m.y = r.u32();
        m.buttons_state = r.u16();
        m.display_id = r.u8();
        return finish(r, type, extra, m);
    }
    case SPICE_MSGC_INPUTS_MOUSE_PRESS: {
        msgc::inputs_mouse_press m;
        m.button = r.u8();
        m.buttons_state = r.u16();
        return finish(r, type, extra, m);
    }
    case SPICE_MSGC_INPUTS_MOUSE_RELEASE: {
        msgc::inputs_mouse_release m;
        m.button = r.u8();
        m.buttons_state = r.u16();
        return finish(r, type, extra, m);
    }
    default:
        return error(parse_error::kind::unknown_type, type, "not an inputs message");
    }
}

} // namespace rs

// Client message parser of the inputs channel on arbitrary bytes, and the
// scancode key tracker fed whatever scancodes those bytes carry. Input: u16
// LE message type, one byte choosing strict or lenient trailing-byte
// handling, then the body. A parse that succeeds must never claim bytes
// beyond the body; the tracker's release bytes must be releases only.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "fuzz_support.hpp"
#include "input/inputs_channel.hpp"
#include "input/inputs_messages.hpp"

namespace {

using rs::fuzz::check;
using rs::fuzz::check_within;

// spice.proto's body sizes of the fixed-size inputs messages; 0 for others.
size_t fixed_size(uint16_t type) {
    switch (type) {
    case SPICE_MSGC_INPUTS_KEY_DOWN:
    case SPICE_MSGC_INPUTS_KEY_UP:
        return 4;
    case SPICE_MSGC_INPUTS_KEY_MODIFIERS:
        return 2;
    case SPICE_MSGC_INPUTS_MOUSE_MOTION:
        return 10;
    case SPICE_MSGC_INPUTS_MOUSE_POSITION:
        return 11;
    case SPICE_MSGC_INPUTS_MOUSE_PRESS:
    case SPICE_MSGC_INPUTS_MOUSE_RELEASE:
        return 3;
    default:
        return 0;
    }
}

// Releases come as code|0x80, extended ones prefixed by 0xE0; afterwards
// nothing is held.
void check_release(rs::key_tracker &keys) {
    const auto out = keys.release_all();
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == 0xE0) {
            check(i + 1 < out.size() && (out[i + 1] & 0x80) != 0);
            ++i;
            continue;
        }
        check((out[i] & 0x80) != 0);
    }
    check(!keys.any_down());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const auto in = rs::fuzz::frame(data, size);
    if (!in) return 0;
    const uint16_t type = in->type;
    const uint8_t mode = in->mode;
    const auto body = in->body;
    const auto extra = in->extra;

    const auto m = rs::parse_inputs_client_message(type, body, extra);
    rs::key_tracker keys;
    if (const auto *sc = std::get_if<rs::msgc::inputs_key_scancode>(&m)) {
        check_within(sc->codes, body);
        for (const uint8_t b : sc->codes)
            (void)keys.note(b);
    } else if (const auto *down = std::get_if<rs::msgc::inputs_key_down>(&m)) {
        for (int i = 0; i < 4 && ((down->code >> (8 * i)) & 0xff) != 0; ++i)
            (void)keys.note(static_cast<uint8_t>(down->code >> (8 * i)));
    } else if (!std::holds_alternative<rs::parse_error>(m)) {
        // Fixed-size messages: a strict parse took exactly the body, a
        // lenient one at least the fields.
        const size_t need = fixed_size(type);
        check(need > 0);
        check(extra == rs::extra_bytes::reject ? body.size() == need : body.size() >= need);
    }
    // Any byte stream keeps the tracker consistent.
    for (const uint8_t b : body)
        (void)keys.note(b);
    check_release(keys);
    (void)rs::buttons_to_vmm(static_cast<uint16_t>(mode << 8 | mode));
    return 0;
}

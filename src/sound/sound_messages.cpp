#include "sound/sound_messages.hpp"

#include <algorithm>

namespace rs {

void msg::encode_audio_volume(wire::writer &w, std::span<const uint16_t> volume) {
    const size_t n = std::min<size_t>(volume.size(), 255);
    w.u8(static_cast<uint8_t>(n));
    for (size_t i = 0; i < n; ++i)
        w.u16(volume[i]);
}

record_client_message parse_record_client_message(uint16_t type, std::span<const uint8_t> body,
                                                  extra_bytes extra) {
    using V = record_client_message;
    wire::reader r(body);
    switch (type) {
    case SPICE_MSGC_RECORD_DATA: {
        msgc::record_data m;
        m.time = r.u32();
        m.data = r.rest();
        if (!r.ok()) return parse_error{parse_error::kind::truncated, type, "truncated"};
        return V(std::in_place_type<msgc::record_data>, m);
    }
    case SPICE_MSGC_RECORD_MODE: {
        msgc::record_mode m;
        m.time = r.u32();
        m.mode = r.u16();
        m.data = r.rest();
        if (!r.ok()) return parse_error{parse_error::kind::truncated, type, "truncated"};
        return V(std::in_place_type<msgc::record_mode>, m);
    }
    case SPICE_MSGC_RECORD_START_MARK: {
        msgc::record_start_mark m{r.u32()};
        if (!r.ok()) return parse_error{parse_error::kind::truncated, type, "truncated"};
        if (extra == extra_bytes::reject && r.remaining() != 0)
            return parse_error{parse_error::kind::trailing_bytes, type, "trailing bytes"};
        return V(std::in_place_type<msgc::record_start_mark>, m);
    }
    default:
        return parse_error{parse_error::kind::unknown_type, type, "not a record message"};
    }
}

} // namespace rs

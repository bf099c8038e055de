// What the client-message fuzz targets share: the checks they abort on and
// the framing of their input (u16 message type, u8 mode, then the body).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>

#include "reds/main_messages.hpp"
#include "reds/wire.hpp"

namespace rs::fuzz {

inline void check(bool cond) {
    if (!cond) std::abort();
}

/// A parsed view must lie inside the body it was parsed from.
inline void check_within(std::span<const uint8_t> view, std::span<const uint8_t> body) {
    if (view.empty()) return;
    check(view.data() >= body.data() && view.data() + view.size() <= body.data() + body.size());
}

/// One fuzz input: the message type, the mode byte (bit 0: extra bytes are
/// ignored rather than rejected; other bits are the target's own) and the body.
struct framed_input {
    uint16_t type = 0;
    uint8_t mode = 0;
    std::span<const uint8_t> body;
    extra_bytes extra = extra_bytes::reject;
};

inline std::optional<framed_input> frame(const uint8_t *data, size_t size) {
    wire::reader r(std::span<const uint8_t>(data, size));
    framed_input in;
    in.type = r.u16();
    in.mode = r.u8();
    if (!r.ok()) return std::nullopt;
    in.body = r.rest();
    in.extra = (in.mode & 1) ? extra_bytes::ignore : extra_bytes::reject;
    return in;
}

} // namespace rs::fuzz

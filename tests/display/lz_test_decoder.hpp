// A test-only decoder for LZ and GLZ payloads, written from the formats as
// spice-gtk decodes them (lz_decode for LZ_RGB / LZ_PLT, decode-glz.c for
// GLZ_RGB). Stricter than the client: every read and every reference is
// bounds-checked, a reference may not run past the end of the image it
// points into, and the payload must end exactly where the last pass does.
// Not shipped; tests only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "display/codec/lz_encoder.hpp"

namespace rs::lz_test {

/// One decoded LZ image, pixels in the order encoded (rows in memory order).
/// `pixels` holds the native format: 4 bytes b, g, r, x per pixel for RGB32
/// (x = 0), RGBA (x = alpha) and XXXA (b = g = r = 0); 3 for RGB24; the
/// native-order u16 for RGB16; the packed row bytes (stride × height) for the
/// palette types and A8.
struct lz_image {
    lz::image_type type = lz::image_type::invalid;
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t stride = 0;
    bool top_down = false;
    std::vector<uint8_t> pixels;
};

/// Decodes one LZ payload; nullopt when it is malformed in any way.
std::optional<lz_image> decode_lz(std::span<const uint8_t> in);

/// One decoded GLZ image as the client holds it: one u32 per pixel,
/// b | g << 8 | r << 16 | x << 24 (x = alpha for RGBA, else what references
/// copied, 0 for literals), rows in the order encoded.
struct glz_image {
    lz::image_type type = lz::image_type::invalid;
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t stride = 0;
    bool top_down = false;
    uint64_t id = 0;
    uint32_t win_head_dist = 0;
    std::vector<uint32_t> pixels;
};

/// The client's GLZ window: decoded images by id. After each image it drops
/// every image older than id − win_head_dist, as spice-gtk does.
class glz_window {
  public:
    /// Decodes one GLZ payload, resolving references against the window, and
    /// adds the image. nullopt (window unchanged) when malformed or when it
    /// refers to an image the window no longer (or never) held.
    std::optional<glz_image> decode(std::span<const uint8_t> in);

    bool holds(uint64_t id) const { return images_.count(id) != 0; }
    size_t size() const { return images_.size(); }

  private:
    std::map<uint64_t, glz_image> images_;
};

/// The RGB32 pixel spice-gtk makes of an x1r5g5b5 one (decode-glz-tmpl.c).
uint32_t rgb16_to_rgb32(uint16_t v);

} // namespace rs::lz_test

// SPICE_IMAGE_TYPE_QUIC payloads: the lossless image format Windows QXL
// drivers send (SFALIC-based, as spice-common's quic.c encodes it).
//
// Layout: a stream of little-endian u32 words whose bits are read most
// significant bit first.
//
//   u32 magic    "QUIC" (0x43495551)
//   u32 version  0
//   u32 type     image_type below
//   u32 width, u32 height
//   then the pixels, row by row: per pixel and channel an adaptive
//   Golomb-Rice codeword of the prediction error (left neighbour on row 0,
//   mean of left and above afterwards), the code chosen per context bucket
//   from counters updated at pseudo-random intervals; on rows after the
//   first, a pixel whose neighbourhood repeats may start a MELCODE run of
//   copies of its left neighbour. The encoder pads the end with zero bits.
//
// The input is untrusted guest data: every read is bounds-checked and any
// malformed stream (bad header, truncation, codewords or runs that cannot
// occur) ends in an error value. Plain code with no shared state: usable on
// any shard.
#pragma once

#include "runtime/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

namespace rs::quic {

/// QuicImageType: what the stream encodes.
enum class image_type : uint32_t {
    invalid = 0,
    gray = 1,  ///< one 8-bit channel
    rgb16 = 2, ///< three 5-bit channels (x1r5g5b5)
    rgb24 = 3, ///< three 8-bit channels
    rgb32 = 4, ///< three 8-bit channels (the same stream as rgb24)
    rgba = 5,  ///< three 8-bit colour channels, then an 8-bit alpha channel
};

/// How decoded pixels are stored (rows of `width` pixels, `stride` bytes apart).
enum class pixel_layout : uint8_t {
    rgb32, ///< bytes b, g, r, 0 (pixman x8r8g8b8 on little endian); rgb16 is widened
    rgb24, ///< bytes b, g, r
    rgba,  ///< bytes b, g, r, a (pixman a8r8g8b8 on little endian)
    rgb16, ///< native u16 (r << 10 | g << 5 | b) (pixman x1r5g5b5)
    gray,  ///< one byte
};

/// Why a QUIC stream could not be decoded.
enum class quic_errc : int {
    truncated = 1,  ///< the stream ends before the header or the pixels do
    bad_magic,      ///< the first word is not "QUIC"
    bad_version,    ///< a version other than 0.0
    bad_type,       ///< an unknown image type
    bad_size,       ///< zero width or height
    too_large,      ///< larger than max_dimension / max_pixels
    bad_code,       ///< a codeword or run that no encoder produces
    layout_mismatch ///< the type cannot be stored in the requested layout, or
                    ///< the output buffer is too small
};

const std::error_category &quic_category() noexcept;
inline std::error_code make_error_code(quic_errc e) noexcept {
    return {static_cast<int>(e), quic_category()};
}

/// Limits on the decoded size: the canvas's limits for any decoded image.
inline constexpr uint32_t max_dimension = 0xffff;
inline constexpr uint64_t max_pixels = uint64_t{1} << 28;

/// The stream's header.
struct header {
    image_type type = image_type::invalid;
    uint32_t width = 0;
    uint32_t height = 0;
};

/// Bytes per pixel of a layout.
uint32_t bytes_per_pixel(pixel_layout l) noexcept;

/// True when a stream of `t` can be stored as `l` (rgb24/rgb32 streams as
/// rgb32 or rgb24, rgb16 as rgb16 or rgb32, rgba as rgba, gray as gray).
bool can_store(image_type t, pixel_layout l) noexcept;

/// The layout spice-common's canvas decodes a type into when it has a
/// choice (rgb16 as rgb16).
pixel_layout natural_layout(image_type t) noexcept;

/// Reads and validates the header (magic, version, type, size limits), so
/// that a caller may allocate the image. A stream with fewer bits than width
/// or height × channels (the least any encoder writes: row 0 codes every
/// pixel, every row its first) is refused as truncated, which bounds what a
/// short hostile stream can make the caller allocate. Only whole u32 words
/// count: trailing bytes past a multiple of 4 are ignored, as spice-common does.
result<header> read_header(std::span<const uint8_t> in);

/// Decodes the stream into `dest`: row y at dest[y * stride], top row first.
/// `dest` must hold stride × (height − 1) + width × bytes_per_pixel bytes.
/// Returns the header. On error `dest` may hold partly decoded rows.
result<header> decode(std::span<const uint8_t> in, pixel_layout layout, std::span<uint8_t> dest,
                      size_t stride);

/// A decoded image in one packed buffer (stride = width × bytes per pixel).
struct image {
    header hdr;
    pixel_layout layout = pixel_layout::rgb32;
    size_t stride = 0;
    std::vector<uint8_t> pixels;
};

/// Decodes into a new buffer in natural_layout(type).
result<image> decode(std::span<const uint8_t> in);

} // namespace rs::quic

namespace std {
template <> struct is_error_code_enum<rs::quic::quic_errc> : true_type {};
} // namespace std

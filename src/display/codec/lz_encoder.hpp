// SPICE LZ image payloads: the bytes spice-common's lz_decode (spice-gtk's
// canvas_get_lz) decodes, for SPICE_IMAGE_TYPE_LZ_RGB and the `data` of
// LZPLTData (SPICE_IMAGE_TYPE_LZ_PLT), and the alpha plane JPEG_ALPHA carries.
//
// Layout (all of it is the image's lz data; the u32 data_size before it, and
// for LZ_PLT the flags byte, palette and palette id, are written by the
// display marshaller):
//
//   u32 magic      "LZ  " (0x20205a4c), all u32 fields big-endian
//   u32 version    0x00010001
//   u32 type       LZ_IMAGE_TYPE_* (lz::image_type)
//   u32 width      pixels
//   u32 height     rows
//   u32 stride     bytes of one packed row: width × bytes-per-pixel for the
//                  RGB types (RGBA and XXXA count 4), ceil(width × bits / 8)
//                  for the palette types
//   u32 top_down   1 when the first row is the top one
//   then one pass over every pixel in row order (two for RGBA: the colour
//   pass, then the alpha pass), each a sequence of
//     ctrl < 32    ctrl + 1 literal pixels follow: b, g, r for RGB24/RGB32,
//                  the u16 high byte first for RGB16, one byte for palette
//                  bytes, alpha and A8
//     ctrl ≥ 32    a back reference: length in the top 3 bits (7 = more
//                  length bytes follow, each added, until one is < 255), then
//                  the distance − 1: 13 bits (5 in ctrl, one more byte) or,
//                  when ctrl's low 5 bits and that byte are all ones, 8191
//                  plus a big-endian u16. Lengths are biased by the minimum
//                  match: 1 pixel (RGB24/32), 2 (RGB16), 3 (bytes).
//   until exactly width × height pixels (height × stride bytes for palette
//   types) are produced; nothing may follow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "display/codec/image_view.hpp"

namespace rs::lz {

/// LZ_IMAGE_TYPE_* as spice-common's lz_common.h numbers them (the installed
/// protocol headers do not carry this enum). GLZ uses the same numbers.
enum class image_type : uint8_t {
    invalid = 0,
    plt1_le = 1,
    plt1_be = 2,
    plt4_le = 3,
    plt4_be = 4,
    plt8 = 5,
    rgb16 = 6,
    rgb24 = 7,
    rgb32 = 8,
    rgba = 9,
    xxxa = 10,
    a8 = 11,
};

inline constexpr uint32_t magic = 0x20205a4c; ///< ASCII "LZ  " read as a big-endian u32
inline constexpr uint32_t version = 0x00010001;

/// The LZ type for a SPICE_BITMAP_FMT_*, or nullopt when LZ cannot carry it.
std::optional<image_type> type_for(uint8_t bitmap_format) noexcept;

/// Compresses `img` as one LZ image (type from its format; palette formats
/// yield the LZ_PLT data, the palette itself is not part of it) and appends
/// it to `out`. Returns the bytes appended, or nullopt with `out` unchanged
/// when the format has no LZ type, the image is empty, a row is wider than
/// the stride, or the image is larger than LZ's 1 GiB limit. Uses per-thread
/// scratch (about 1 MiB plus 4 bytes per pixel), so it is safe on any shard.
std::optional<size_t> encode(const codec::image_view &img, std::vector<uint8_t> &out);

/// Compresses only the alpha plane of an RGBA image, as an LZ image of type
/// XXXA with its own header (what JPEG_ALPHA carries after the JPEG). Returns
/// the bytes appended, or nullopt (out unchanged) when `rgba` is not
/// SPICE_BITMAP_FMT_RGBA or cannot be encoded.
std::optional<size_t> encode_alpha(const codec::image_view &rgba, std::vector<uint8_t> &out);

namespace detail {

/// What an encoder matches on: one u32 per pixel ("key"), equal exactly when
/// the decoder would produce equal pixels, and the bytes a literal writes.
enum class key_kind : uint8_t {
    rgb,   ///< b | g << 8 | r << 16 (RGB32, RGBA's colour pass, RGB24); 3 literal bytes
    rgb16, ///< the u16 with its unused top bit cleared; 2 literal bytes, high first
    alpha, ///< byte 3 of each 4-byte pixel; 1 literal byte
    byte,  ///< each byte of the packed rows (palette indices, A8); 1 literal byte
};

/// Bytes of one packed row of `img` for `type` (the stride the header
/// carries), or 0 when the geometry is not encodable.
size_t packed_row_bytes(const codec::image_view &img, image_type type) noexcept;

/// Fills `keys` with one key per encoded unit (pixel, or byte for `byte`),
/// rows in memory order, `row_units` per row. Returns false when the rows do
/// not fit the stride.
bool gather_keys(const codec::image_view &img, key_kind kind, size_t row_units,
                 std::vector<uint32_t> &keys);

/// The same into `out`, which has room for row_units × height keys.
bool gather_keys(const codec::image_view &img, key_kind kind, size_t row_units, uint32_t *out);

/// Appends a big-endian u32.
void put_be32(std::vector<uint8_t> &out, uint32_t v);

/// Writes one literal of a key (LZ and GLZ write them alike) and returns
/// the end of what it wrote.
template <key_kind Kind> inline uint8_t *put_literal(uint8_t *o, uint32_t key) noexcept {
    if constexpr (Kind == key_kind::rgb) {
        o[0] = static_cast<uint8_t>(key);
        o[1] = static_cast<uint8_t>(key >> 8);
        o[2] = static_cast<uint8_t>(key >> 16);
        return o + 3;
    } else if constexpr (Kind == key_kind::rgb16) {
        o[0] = static_cast<uint8_t>(key >> 8);
        o[1] = static_cast<uint8_t>(key);
        return o + 2;
    } else {
        o[0] = static_cast<uint8_t>(key);
        return o + 1;
    }
}

} // namespace detail

} // namespace rs::lz

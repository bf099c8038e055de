// SPICE_IMAGE_TYPE_LZ4 payloads: the bytes spice-gtk's canvas_get_lz4 decodes.
//
// Layout (all of it is the BinaryData `data` of the image; its u32 data_size
// precedes it on the wire and is written by the display marshaller):
//
//   u8  top_down   1 when row 0 is the top row, 0 when it is the bottom row
//   u8  format     SPICE_BITMAP_FMT_16BIT / 24BIT / 32BIT / RGBA
//   then one or more blocks, until the payload ends:
//   u32 size       big-endian, bytes of the block that follows
//   ... block      one LZ4 block of an LZ4 *stream*: blocks decode one after the
//                  other into one buffer and may refer back to earlier blocks
//
// The decoded bytes are the rows in the order stored, each exactly
// width × bytes-per-pixel long (no stride padding: the client decodes into a
// packed buffer and then spreads the rows to its own stride).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "display/draw.hpp"

namespace rs::lz4_image {

/// Bytes per pixel of a SPICE_BITMAP_FMT_* that spice-gtk decodes from LZ4;
/// 0 for the formats it refuses (palettes, 1-bit, 8-bit alpha).
uint32_t bytes_per_pixel(uint8_t bitmap_format) noexcept;

/// Rows per LZ4 block the encoder aims for: blocks of about this many bytes
/// (at least one row). Any split decodes the same, but each block ends with
/// literals and costs 4 bytes of size: 64 KiB blocks made 1080p pictures
/// 0.3-1 % bigger than one block per image, which is what the reference
/// sends. This keeps a 1080p or 1440p picture in one block.
inline constexpr size_t target_block_bytes = 16 * 1024 * 1024;

/// Compresses a bitmap (format, TOP_DOWN flag, width, height, stride and its
/// chunks as draw::bitmap holds them) and appends the payload to `out`.
/// Returns the number of bytes appended, or nullopt (with `out` unchanged)
/// when the format is not LZ4-capable, the bitmap is empty, its chunks hold
/// fewer than stride × height bytes, or a row is wider than the stride.
/// Uses a per-thread LZ4 stream state, so it is safe on any shard.
std::optional<size_t> encode(const draw::bitmap &bmp, std::vector<uint8_t> &out);

/// The same for pixels in one span (`height` rows, `stride` bytes apart),
/// in blocks of about `block_bytes` (tests use small blocks).
std::optional<size_t> encode(std::span<const uint8_t> pixels, uint8_t format, bool top_down,
                             uint32_t width, uint32_t height, uint32_t stride,
                             std::vector<uint8_t> &out, size_t block_bytes = target_block_bytes);

} // namespace rs::lz4_image

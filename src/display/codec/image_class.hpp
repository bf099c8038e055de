// Photo or drawing? The reference's "graduality" of a bitmap, which decides
// whether an image goes out lossy (JPEG, when the client allows it) or as
// QUIC, or losslessly as LZ/GLZ (dcc.cpp get_compression_for_bitmap under
// auto_glz/auto_lz: only high graduality picks QUIC/JPEG), and which the
// video-stream heuristics use to tell video frames from UI updates
// (anything but low counts as a gradual frame).
//
// The score, computed from samples as the reference computes it:
//
//   Sample pixel p at every 15th position of the image taken as one run of
//   pixels in memory order (every 14th when 15 divides the width, so the
//   samples do not stay in one column), starting mid-way along the first
//   row and stopping at the last row; a sample that falls in the last column
//   moves one pixel left, and later samples keep that shift. Compare p with
//   its right neighbour, the pixel below it (next row in memory) and the one
//   below-right. Each pair is
//     same        every channel equal                     +0.5
//     contrast    some channel differs by ≥ 60 (≥ 8 for
//                 16BIT's 5-bit channels)                 +1.0
//     soft        different, but no channel by that much  −0.25
//   and a sample whose three pairs are all "same" scores 0 instead of 1.5.
//   score = sum / (3 × samples).
//
//   high    score < −0.03 (< 0 for 16BIT): mostly gradual steps, a photo
//   medium  score < 0.002: flat areas with little contrast (a flat image is
//           exactly 0, so medium)
//   low     otherwise: sharp edges, text, UI
//
// A 1920×1080 image is about 138,000 samples (4 of every 15 pixels read) in
// one pass, about 1 ms: samples 60 bytes apart still pull in most cache
// lines, so memory, not arithmetic, sets the cost. The score is kept in
// integers, exactly (no rounding differences from the reference's doubles).
// On packed rows the class is the reference's (checked against its code on
// 200,000 generated images). Differences: rows are addressed by the stride
// (the reference walks the pixels as if rows were packed, whatever the
// stride), and images it never classifies are `invalid`.
#pragma once

#include "display/codec/image_view.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace rs::image_class {

/// How gradual an image's colour transitions are (BITMAP_GRADUAL_*).
enum class gradual : uint8_t {
    invalid, ///< not classified: a format without RGB pixels, or an image too
             ///< small to be compressed (see classify)
    low,     ///< sharp contrast: text, UI, drawings
    medium,  ///< mostly flat or weakly varying
    high,    ///< smooth gradients: photographs, video frames
};

/// Images smaller than this in either dimension are never QUIC/JPEG
/// candidates (the reference's MIN_DIMENSION_TO_QUIC).
inline constexpr uint32_t min_dimension = 3;

/// Bitmaps of fewer bytes (height × stride) are sent uncompressed (the
/// reference's MIN_SIZE_TO_COMPRESS).
inline constexpr uint64_t min_bytes = 54;

/// True for the formats with a graduality: 16BIT, 24BIT, 32BIT, RGBA
/// (bitmap_fmt_has_graduality; alpha is not looked at).
bool has_graduality(uint8_t bitmap_format) noexcept;

/// Classifies `img` from samples (never every pixel; rows in memory order,
/// whatever img.top_down says). `invalid` when the format has no graduality,
/// data is null, width or height is below min_dimension, height × stride is
/// below min_bytes, or the rows do not fit the stride. Plain computation on
/// borrowed pixels: any shard.
gradual classify(const codec::image_view &img) noexcept;

/// The same for rows that are not one buffer apart (a bitmap in guest
/// chunks): row y starts at rows[y] (memory order), each `width` pixels of
/// `format`; `stride` is the bitmap's (for the size rules above). Equal to
/// classify() on the same pixels laid out contiguously.
gradual classify_rows(uint8_t format, uint32_t width, std::span<const uint8_t *const> rows,
                      size_t stride) noexcept;

/// "invalid", "low", "medium" or "high", for logs.
const char *to_string(gradual g) noexcept;

} // namespace rs::image_class

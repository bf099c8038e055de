// SPICE_IMAGE_TYPE_JPEG and SPICE_IMAGE_TYPE_JPEG_ALPHA payloads: the bytes
// spice-common's canvas_get_jpeg / canvas_get_jpeg_alpha hand to spice-gtk's
// JPEG decoder (decode-jpeg.c, libjpeg with out_color_space JCS_RGB).
//
// JPEG: one baseline JFIF stream, 3 components (YCbCr, 4:2:0, the libjpeg
// defaults), rows always top row first: the client decodes row 0 of the
// stream into the top row of its surface whatever the source's TOP_DOWN flag
// was, so a bottom-up bitmap is fed last row in memory first. The u32
// data_size before it on the wire is the marshaller's.
//
// JPEG_ALPHA: the JPEG of the colour as above, immediately followed by the
// alpha plane as an LZ XXXA image (rs::lz::encode_alpha). The alpha rows keep
// the source's memory order and its TOP_DOWN flag (in the LZ header and in
// JPEGAlphaData.flags as SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN); the client checks
// that both agree. JPEGAlphaData.jpeg_size is the length of the JPEG part,
// data_size the length of both.
#pragma once

#include "display/codec/image_view.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace rs::jpeg {

/// The quality the reference gives lossy images (dcc.cpp: jpeg_quality).
inline constexpr int default_quality = 85;

/// Largest width or height a JPEG frame header can carry (libjpeg's
/// JPEG_MAX_DIMENSION); larger images are refused.
inline constexpr uint32_t max_dimension = 65500;

/// Compresses the colour of `img` (SPICE_BITMAP_FMT_32BIT, RGBA — the alpha
/// byte is ignored —, 24BIT or 16BIT) at `quality` (1..100, clamped) and
/// appends the JPEG stream to `out`. Returns the bytes appended, or nullopt
/// with `out` unchanged when the format has no JPEG form, the geometry is
/// empty, larger than max_dimension or wider than the stride, when libjpeg
/// fails, or when the stream would be larger than the raw bitmap
/// (height × stride), as the reference refuses it then. `img.data` must hold
/// stride × (height − 1) bytes plus one row. Uses a per-thread compressor,
/// so it is safe on any shard.
std::optional<size_t> encode(const codec::image_view &img, int quality, std::vector<uint8_t> &out);

/// The JPEG_ALPHA payload of an RGBA image: the JPEG of its colour, then its
/// alpha plane LZ-compressed (XXXA). On success appends both to `out`,
/// returns their total size (JPEGAlphaData.data_size) and sets `jpeg_size`
/// (the JPEG part) and `flags` (SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN when
/// img.top_down). Returns nullopt with `out`, `flags` and `jpeg_size`
/// unchanged when the format is not RGBA, either part fails, or the two
/// together are larger than the raw bitmap. (The reference never sends
/// JPEG_ALPHA for rows with stride padding: its choice falls back to QUIC.)
std::optional<size_t> encode_alpha(const codec::image_view &rgba, int quality,
                                   std::vector<uint8_t> &out, uint8_t &flags, uint32_t &jpeg_size);

} // namespace rs::jpeg

// SPICE_IMAGE_TYPE_QUIC payloads from the server side: the lossless image
// coder spice-common's quic.c implements, producing the stream that
// spice-gtk's canvas_get_quic decodes (see quic_decoder.hpp for the layout).
//
// The stream is bit-for-bit the one spice-common's quic_encode writes for the
// same pixels: the same code families, context buckets, pseudo-random model
// update schedule, wait-mask growth, MELCODE runs and end padding, so the
// client's decoder follows the same model.
//
// Which bitmaps the reference server sends as QUIC (image-encoders.c,
// image_encoders_compress_quic), and so which ones encode() accepts:
//
//   SPICE_BITMAP_FMT_32BIT → rgb32   (b, g, r, x; the x byte is not coded)
//   SPICE_BITMAP_FMT_RGBA  → rgba    (b, g, r coded as rgb32, then a)
//   SPICE_BITMAP_FMT_24BIT → rgb24   (b, g, r)
//   SPICE_BITMAP_FMT_16BIT → rgb16   (x1r5g5b5, native u16)
//
// Everything else is refused. In particular SPICE_BITMAP_FMT_8BIT_A is never
// sent as QUIC by the reference, and spice-gtk refuses a gray stream
// (canvas_get_quic returns no image for QUIC_IMAGE_TYPE_GRAY); the gray type
// is available through encode_as() only, for tools and tests.
//
// A bottom-up bitmap is read from its last row in memory to its first, as
// the reference does with a negative stride: the stream is always top-down,
// and the client draws the same image either way.
#pragma once

#include "display/codec/image_view.hpp"
#include "display/codec/quic_decoder.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace rs::quic {

/// The QUIC type the reference server encodes a SPICE_BITMAP_FMT_* as, or
/// image_type::invalid when it does not send that format as QUIC.
image_type type_for_format(uint8_t bitmap_format) noexcept;

/// Compresses `img` (format mapped by type_for_format) and appends the QUIC
/// payload — the BinaryData bytes canvas_get_quic consumes, starting with the
/// "QUIC" magic, a whole number of u32 words — to `out`. Returns the number
/// of bytes appended, or nullopt with `out` unchanged when the format is not
/// one the reference sends as QUIC, the image is empty or larger than a QUIC
/// header can describe (width or height above 2^31 − 1 or more than
/// 2^29 − 1 pixels, spice-common's limit), `data` is null, or a row is wider
/// than the stride.
///
/// The reference drops a QUIC result that is larger than stride × height
/// bytes and sends the bitmap another way; that choice is the caller's.
///
/// Plain code: the per-call state lives on the stack and in one scratch
/// allocation, so it is safe on any shard and any thread.
std::optional<size_t> encode(const codec::image_view &img, std::vector<uint8_t> &out);

/// The same with the QUIC type chosen by the caller; `img.format` is
/// ignored and the pixels are read as the type's layout: 4 bytes (b, g, r, x
/// or b, g, r, a) for rgb32 and rgba, 3 for rgb24, a native u16 for rgb16,
/// 1 for gray. Refuses image_type::invalid and the cases encode() refuses.
std::optional<size_t> encode_as(image_type type, const codec::image_view &img,
                                std::vector<uint8_t> &out);

} // namespace rs::quic

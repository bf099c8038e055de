// JPEG_ALPHA: the JPEG of an RGBA image's colour, then its alpha plane as LZ
// XXXA. In a file of its own because the alpha half is the LZ encoder's.
#include "display/codec/jpeg_encoder.hpp"

#include "display/codec/lz_encoder.hpp"

#include <spice/enums.h>

#include <limits>

namespace rs::jpeg {

std::optional<size_t> encode_alpha(const codec::image_view &rgba, int quality,
                                   std::vector<uint8_t> &out, uint8_t &flags, uint32_t &jpeg_size) {
    if (rgba.format != SPICE_BITMAP_FMT_RGBA) return std::nullopt;
    const size_t start = out.size();
    const std::optional<size_t> colour = encode(rgba, quality, out);
    if (!colour) return std::nullopt;
    const std::optional<size_t> alpha = lz::encode_alpha(rgba, out);
    // As for plain JPEG, the reference keeps the pair only when it is smaller
    // than the raw bitmap; data_size and jpeg_size are u32 on the wire.
    const uint64_t total = uint64_t{*colour} + (alpha ? *alpha : 0);
    if (!alpha || total > uint64_t{rgba.height} * rgba.stride ||
        total > std::numeric_limits<uint32_t>::max()) {
        out.resize(start);
        return std::nullopt;
    }
    flags = rgba.top_down ? SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN : 0;
    jpeg_size = static_cast<uint32_t>(*colour);
    return static_cast<size_t>(total);
}

} // namespace rs::jpeg

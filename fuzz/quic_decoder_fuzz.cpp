// QUIC images are guest bytes the canvas decodes: any input must end in an
// image or an error, never out-of-bounds access, and decode() must agree
// with the span form in every layout the type allows.
#include "display/codec/quic_decoder.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace rs::quic;
    const std::span<const uint8_t> in(data, size);
    auto hdr = read_header(in);
    if (!hdr) return 0;
    // Keep each run small: huge images are decoded only into a buffer that
    // is too small (which must be refused before any row is written).
    if (uint64_t{hdr->width} * hdr->height > (uint64_t{1} << 20)) {
        std::vector<uint8_t> small(64);
        if (decode(in, natural_layout(hdr->type), small, 4)) __builtin_trap();
        return 0;
    }
    auto img = decode(in);
    constexpr pixel_layout layouts[] = {pixel_layout::rgb32, pixel_layout::rgb24,
                                        pixel_layout::rgba, pixel_layout::rgb16,
                                        pixel_layout::gray};
    for (pixel_layout l : layouts) {
        if (!can_store(hdr->type, l)) continue;
        const size_t stride = size_t{hdr->width} * bytes_per_pixel(l) + 3;
        std::vector<uint8_t> out(stride * hdr->height);
        auto r = decode(in, l, out, stride);
        if (r.ok() != img.ok()) __builtin_trap();
        if (r && l == img->layout)
            for (uint32_t y = 0; y < hdr->height; ++y)
                if (std::memcmp(out.data() + y * stride, img->pixels.data() + y * img->stride,
                                img->stride) != 0)
                    __builtin_trap();
    }
    return 0;
}

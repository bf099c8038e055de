#include "lz_test_decoder.hpp"

#include <cstring>

namespace rs::lz_test {

namespace {

using lz::image_type;

struct reader {
    std::span<const uint8_t> in;
    size_t pos = 0;
    bool ok = true;

    uint8_t u8() {
        if (pos >= in.size()) {
            ok = false;
            return 0;
        }
        return in[pos++];
    }
    uint32_t be32() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i)
            v = v << 8 | u8();
        return v;
    }
    uint64_t be64() {
        const uint64_t hi = be32();
        return hi << 32 | be32();
    }
    bool at_end() const { return ok && pos == in.size(); }
};

enum class unit { rgb, rgb16, alpha, byte };

uint32_t read_literal(reader &r, unit u) {
    switch (u) {
    case unit::rgb: {
        const uint32_t b = r.u8();
        const uint32_t g = r.u8();
        const uint32_t red = r.u8();
        return b | g << 8 | red << 16;
    }
    case unit::rgb16: {
        const uint32_t hi = r.u8();
        return hi << 8 | r.u8();
    }
    default:
        return r.u8();
    }
}

bool is_palette(image_type t) { return t >= image_type::plt1_le && t <= image_type::plt8; }

uint32_t rgb_bytes_per_pixel(image_type t) {
    switch (t) {
    case image_type::rgb16:
        return 2;
    case image_type::rgb24:
        return 3;
    case image_type::rgb32:
    case image_type::rgba:
    case image_type::xxxa:
        return 4;
    case image_type::a8:
        return 1;
    default:
        return 0;
    }
}

uint32_t palette_pixels_per_byte(image_type t) {
    switch (t) {
    case image_type::plt1_le:
    case image_type::plt1_be:
        return 8;
    case image_type::plt4_le:
    case image_type::plt4_be:
        return 2;
    case image_type::plt8:
        return 1;
    default:
        return 0;
    }
}

// One LZ pass: n units into out, each a key (unit's value). A back
// reference's length is biased by `bias`, its distance by 1; 13-bit
// distances, or 8191 + 16 bits when ctrl's low 5 bits and the next byte are
// all ones.
bool lz_pass(reader &r, unit u, uint32_t bias, std::vector<uint32_t> &out) {
    const size_t n = out.size();
    size_t op = 0;
    while (op < n) {
        const uint32_t ctrl = r.u8();
        if (!r.ok) return false;
        if (ctrl < 32) {
            const size_t count = ctrl + 1;
            if (op + count > n) return false;
            for (size_t j = 0; j < count; ++j)
                out[op++] = read_literal(r, u);
            if (!r.ok) return false;
            continue;
        }
        size_t len = (ctrl >> 5) - 1;
        uint32_t dist = (ctrl & 31) << 8;
        if (len == 6) {
            uint32_t code;
            do {
                code = r.u8();
                len += code;
            } while (code == 255 && r.ok);
        }
        const uint32_t low = r.u8();
        dist += low;
        if (low == 255 && (dist - low) == (31u << 8)) {
            const uint32_t hi = r.u8();
            dist = (hi << 8 | r.u8()) + 8191;
        }
        if (!r.ok) return false;
        len += bias;
        dist += 1;
        if (dist > op || op + len > n) return false;
        for (size_t j = 0; j < len; ++j, ++op)
            out[op] = out[op - dist];
    }
    return true;
}

} // namespace

uint32_t rgb16_to_rgb32(uint16_t v) {
    const uint8_t hi = static_cast<uint8_t>(v >> 8);
    const uint8_t lo = static_cast<uint8_t>(v);
    uint8_t g = static_cast<uint8_t>(((hi << 6) | (lo >> 2)) & ~0x07);
    g = static_cast<uint8_t>(g | (g >> 5));
    const uint8_t red = static_cast<uint8_t>(((hi << 1) & ~0x07) | ((hi >> 4) & 0x07));
    const uint8_t b = static_cast<uint8_t>((lo << 3) | ((lo >> 2) & 0x07));
    return b | uint32_t{g} << 8 | uint32_t{red} << 16;
}

std::optional<lz_image> decode_lz(std::span<const uint8_t> in) {
    reader r{in};
    if (r.be32() != lz::magic || r.be32() != lz::version) return std::nullopt;
    const uint32_t type = r.be32();
    lz_image img;
    img.width = r.be32();
    img.height = r.be32();
    img.stride = r.be32();
    const uint32_t top_down = r.be32();
    if (!r.ok || type == 0 || type > static_cast<uint32_t>(image_type::a8)) return std::nullopt;
    if (top_down > 1) return std::nullopt;
    img.type = static_cast<image_type>(type);
    img.top_down = top_down == 1;
    if (img.width == 0 || img.height == 0) return std::nullopt;
    if (uint64_t{img.stride} * img.height > (1u << 30) - 1) return std::nullopt;

    if (is_palette(img.type)) {
        // The stride is the row's bytes, rounded up only when a byte is split.
        const uint32_t ppb = palette_pixels_per_byte(img.type);
        if (img.stride != (uint64_t{img.width} + ppb - 1) / ppb) return std::nullopt;
        std::vector<uint32_t> bytes(size_t{img.stride} * img.height);
        if (!lz_pass(r, unit::byte, 3, bytes) || !r.at_end()) return std::nullopt;
        img.pixels.assign(bytes.begin(), bytes.end());
        return img;
    }
    const uint32_t bpp = rgb_bytes_per_pixel(img.type);
    if (uint64_t{img.width} * bpp != img.stride) return std::nullopt;
    const size_t n = size_t{img.width} * img.height;
    std::vector<uint32_t> rgb(n, 0);
    std::vector<uint32_t> alpha(n, 0);
    bool ok = true;
    switch (img.type) {
    case image_type::rgb16:
        ok = lz_pass(r, unit::rgb16, 2, rgb);
        break;
    case image_type::rgb24:
    case image_type::rgb32:
        ok = lz_pass(r, unit::rgb, 1, rgb);
        break;
    case image_type::rgba:
        ok = lz_pass(r, unit::rgb, 1, rgb) && lz_pass(r, unit::alpha, 3, alpha);
        break;
    case image_type::xxxa:
        ok = lz_pass(r, unit::alpha, 3, alpha);
        break;
    case image_type::a8:
        ok = lz_pass(r, unit::byte, 3, rgb);
        break;
    default:
        return std::nullopt;
    }
    if (!ok || !r.at_end()) return std::nullopt;
    img.pixels.resize(n * bpp);
    uint8_t *p = img.pixels.data();
    for (size_t i = 0; i < n; ++i) {
        switch (img.type) {
        case image_type::rgb16: {
            const auto v = static_cast<uint16_t>(rgb[i]);
            std::memcpy(p, &v, 2);
            p += 2;
            break;
        }
        case image_type::rgb24:
            *p++ = static_cast<uint8_t>(rgb[i]);
            *p++ = static_cast<uint8_t>(rgb[i] >> 8);
            *p++ = static_cast<uint8_t>(rgb[i] >> 16);
            break;
        case image_type::a8:
            *p++ = static_cast<uint8_t>(rgb[i]);
            break;
        default:
            *p++ = static_cast<uint8_t>(rgb[i]);
            *p++ = static_cast<uint8_t>(rgb[i] >> 8);
            *p++ = static_cast<uint8_t>(rgb[i] >> 16);
            *p++ = static_cast<uint8_t>(alpha[i]);
            break;
        }
    }
    return img;
}

std::optional<glz_image> glz_window::decode(std::span<const uint8_t> in) {
    reader r{in};
    if (r.be32() != lz::magic || r.be32() != lz::version) return std::nullopt;
    const uint8_t type_byte = r.u8();
    glz_image img;
    img.width = r.be32();
    img.height = r.be32();
    img.stride = r.be32();
    img.id = r.be64();
    img.win_head_dist = r.be32();
    if (!r.ok || (type_byte >> 4) > 1) return std::nullopt;
    img.type = static_cast<image_type>(type_byte & 0x0f);
    img.top_down = (type_byte >> 4) == 1;
    unit u;
    uint32_t bias;
    switch (img.type) {
    case image_type::rgb16:
        u = unit::rgb16;
        bias = 1;
        break;
    case image_type::rgb24:
    case image_type::rgb32:
    case image_type::rgba:
        u = unit::rgb;
        bias = 0;
        break;
    default:
        return std::nullopt; // the encoder only makes GLZ of RGB types
    }
    if (img.width == 0 || img.height == 0) return std::nullopt;
    if (uint64_t{img.width} * rgb_bytes_per_pixel(img.type) != img.stride) return std::nullopt;
    if (uint64_t{img.width} * img.height > (1u << 25)) return std::nullopt;
    if (images_.count(img.id) != 0) return std::nullopt;
    const size_t n = size_t{img.width} * img.height;
    img.pixels.assign(n, 0);

    // GLZ pass: like LZ, but a reference carries an image distance; 0 means
    // "this image" with a pixel distance − 1, else a pixel offset into the
    // image `id − image distance`.
    auto pass = [&](unit pu, uint32_t pbias, bool alpha_only) -> bool {
        uint32_t *out = img.pixels.data();
        size_t op = 0;
        while (op < n) {
            const uint32_t ctrl = r.u8();
            if (!r.ok) return false;
            if (ctrl < 32) {
                const size_t count = ctrl + 1;
                if (op + count > n) return false;
                for (size_t j = 0; j < count; ++j, ++op) {
                    const uint32_t v = read_literal(r, pu);
                    if (alpha_only)
                        out[op] = (out[op] & 0x00ffffffu) | v << 24;
                    else
                        out[op] = pu == unit::rgb16 ? rgb16_to_rgb32(static_cast<uint16_t>(v)) : v;
                }
                if (!r.ok) return false;
                continue;
            }
            size_t len = ctrl >> 5;
            const bool long_flag = (ctrl >> 4) & 1;
            uint64_t pix = ctrl & 0x0f;
            if (len == 7) {
                uint32_t code;
                do {
                    code = r.u8();
                    len += code;
                } while (code == 255 && r.ok);
            }
            pix += uint64_t{r.u8()} << 4;
            uint32_t code = r.u8();
            const uint32_t image_bytes = code >> 6;
            uint64_t image_dist = 0;
            if (!long_flag) {
                image_dist = code & 0x3f;
                for (uint32_t j = 0; j < image_bytes; ++j)
                    image_dist += uint64_t{r.u8()} << (6 + 8 * j);
            } else {
                const bool very_long = (code >> 5) & 1;
                pix += uint64_t{code & 0x1f} << 12;
                for (uint32_t j = 0; j < image_bytes; ++j)
                    image_dist += uint64_t{r.u8()} << (8 * j);
                if (very_long) pix += uint64_t{r.u8()} << 17;
            }
            if (!r.ok) return false;
            len += pbias;
            if (len == 0 || op + len > n) return false;
            if (image_dist == 0) {
                pix += 1;
                if (pix > op) return false;
                for (size_t j = 0; j < len; ++j, ++op) {
                    const uint32_t v = out[op - pix];
                    out[op] = alpha_only ? (out[op] & 0x00ffffffu) | (v & 0xff000000u) : v;
                }
            } else {
                if (image_dist > img.id) return false;
                auto it = images_.find(img.id - image_dist);
                if (it == images_.end()) return false;
                const auto &ref = it->second.pixels;
                if (pix + len > ref.size()) return false;
                for (size_t j = 0; j < len; ++j, ++op) {
                    const uint32_t v = ref[pix + j];
                    out[op] = alpha_only ? (out[op] & 0x00ffffffu) | (v & 0xff000000u) : v;
                }
            }
        }
        return true;
    };
    if (!pass(u, bias, false)) return std::nullopt;
    if (img.type == image_type::rgba && !pass(unit::alpha, 2, true)) return std::nullopt;
    if (!r.at_end()) return std::nullopt;

    if (img.win_head_dist > img.id) return std::nullopt;
    const uint64_t oldest = img.id - img.win_head_dist;
    images_.erase(images_.begin(), images_.lower_bound(oldest));
    images_.emplace(img.id, img);
    return img;
}

} // namespace rs::lz_test

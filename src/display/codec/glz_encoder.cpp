#include "display/codec/glz_encoder.hpp"

#include <spice/enums.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <memory>

namespace rs::glz {

namespace {

using lz::image_type;
using lz::detail::key_kind;
using lz::detail::put_literal;

constexpr unsigned hash_bits = 16; // 64 Ki slots of 16 bytes: the 1 MiB table
constexpr size_t hash_len = 5;     // keys hashed per position (see lz_encoder.cpp)
constexpr uint32_t good_enough_len = 32;
constexpr unsigned skip_after = 32; // literals in a row before lookups start skipping
constexpr size_t max_skip = 8;      // positions between lookups at most

constexpr uint64_t max_pixel_field = (uint64_t{1} << 25) - 1; // 4 + 8 + 5 + 8 bits
constexpr uint64_t max_image_dist = (uint64_t{1} << 24) - 1;  // 3 bytes in the long form
constexpr uint32_t max_window = uint32_t{1} << 25;            // so every offset fits
constexpr size_t max_images = size_t{1} << 14; // bounds the per-image overhead of tiny images

inline uint32_t hash_at(const uint32_t *k) noexcept {
    uint32_t h = (k[0] * 0x9E3779B1u) ^ (k[1] * 0x85EBCA77u) ^ (k[2] * 0xC2B2AE3Du) ^
                 (k[3] * 0x27D4EB2Fu) ^ (k[4] * 0x165667B1u);
    return h ^ (h >> 15);
}
static_assert(hash_len == 5);

constexpr unsigned literal_bytes(key_kind kind) {
    return kind == key_kind::rgb ? 3 : kind == key_kind::rgb16 ? 2 : 1;
}
// The shortest match each kind can say (GLZ length code = len - bias + 1).
constexpr uint32_t min_match(key_kind kind) {
    return kind == key_kind::rgb ? 1 : kind == key_kind::rgb16 ? 2 : 3;
}

template <key_kind Kind>
uint8_t *put_literals(uint8_t *o, const uint32_t *k, size_t from, size_t to) noexcept {
    while (from < to) {
        const size_t n = std::min<size_t>(32, to - from);
        *o++ = static_cast<uint8_t>(n - 1);
        for (size_t j = 0; j < n; ++j)
            o = put_literal<Kind>(o, k[from + j]);
        from += n;
    }
    return o;
}

uint32_t image_dist_bytes_long(uint64_t image_dist) noexcept {
    return image_dist == 0 ? 0 : image_dist < 256 ? 1 : image_dist < 65536 ? 2 : 3;
}

// Bytes a reference costs: `pix` is the pixel field as written (distance − 1
// within the image, offset into another one).
inline uint32_t ref_cost(uint64_t image_dist, uint64_t pix, uint32_t len_code) noexcept {
    uint32_t c;
    if (pix < 4096) {
        c = image_dist < 64 ? 3 : image_dist < (1u << 14) ? 4 : image_dist < (1u << 22) ? 5 : 6;
    } else {
        c = 3 + image_dist_bytes_long(image_dist) + (pix >= (1u << 17) ? 1 : 0);
    }
    if (len_code >= 7) c += 1 + (len_code - 7) / 255;
    return c;
}

inline uint8_t *put_ref(uint8_t *o, uint64_t image_dist, uint64_t pix, uint32_t len_code) noexcept {
    const bool long_pix = pix >= 4096;
    *o++ = static_cast<uint8_t>((std::min<uint32_t>(len_code, 7) << 5) | (long_pix ? 16 : 0) |
                                (pix & 15));
    if (len_code >= 7) {
        uint32_t rest = len_code - 7;
        for (; rest >= 255; rest -= 255)
            *o++ = 255;
        *o++ = static_cast<uint8_t>(rest);
    }
    *o++ = static_cast<uint8_t>((pix >> 4) & 255);
    if (!long_pix) {
        const uint32_t extra = image_dist < 64           ? 0
                               : image_dist < (1u << 14) ? 1
                               : image_dist < (1u << 22) ? 2
                                                         : 3;
        *o++ = static_cast<uint8_t>((extra << 6) | (image_dist & 63));
        for (uint32_t j = 0; j < extra; ++j)
            *o++ = static_cast<uint8_t>((image_dist >> (6 + 8 * j)) & 255);
    } else {
        const uint32_t very_long = pix >= (1u << 17) ? 32 : 0;
        const uint32_t bytes = image_dist_bytes_long(image_dist);
        *o++ = static_cast<uint8_t>((bytes << 6) | very_long | ((pix >> 12) & 31));
        for (uint32_t j = 0; j < bytes; ++j)
            *o++ = static_cast<uint8_t>((image_dist >> (8 * j)) & 255);
        if (very_long) *o++ = static_cast<uint8_t>((pix >> 17) & 255);
    }
    return o;
}

// Equal keys at a[j] and b[j] for j < max, two at a time.
inline uint32_t match_len(const uint32_t *a, const uint32_t *b, size_t max, size_t len) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
        while (len + 4 <= max) { // four keys per step, as lz_encoder.cpp's extend
            uint64_t x[2];
            uint64_t y[2];
            std::memcpy(x, a + len, 16);
            std::memcpy(y, b + len, 16);
            const uint64_t d0 = x[0] ^ y[0];
            const uint64_t d1 = x[1] ^ y[1];
            if ((d0 | d1) != 0) {
                if (d0 != 0) return static_cast<uint32_t>(len + ((d0 & 0xffffffffu) == 0 ? 1 : 0));
                return static_cast<uint32_t>(len + 2 + ((d1 & 0xffffffffu) == 0 ? 1 : 0));
            }
            len += 4;
        }
        while (len + 2 <= max) {
            uint64_t x;
            uint64_t y;
            std::memcpy(&x, a + len, 8);
            std::memcpy(&y, b + len, 8);
            const uint64_t d = x ^ y;
            if (d != 0) return static_cast<uint32_t>(len + ((d & 0xffffffffu) == 0 ? 1 : 0));
            len += 2;
        }
    }
    while (len < max && a[len] == b[len])
        ++len;
    return static_cast<uint32_t>(len);
}

/// A place an encoder may copy from.
struct candidate {
    const uint32_t *ref; ///< its first key
    size_t max_len;      ///< keys available there (and left to encode)
    uint64_t image_dist; ///< 0: this image
    uint64_t pix;        ///< the pixel field to write
};

// Per-thread scratch: the output before it is appended, the alpha keys, and
// the table of the alpha pass (which refers only to its own image; positions
// offset by a growing base, as in lz_encoder.cpp, so it needs no clearing).
struct glz_scratch {
    std::unique_ptr<uint8_t[]> out;
    size_t out_capacity = 0;
    std::vector<uint32_t> alpha;
    std::vector<uint64_t> local = std::vector<uint64_t>(size_t{1} << 13, 0); // pos | hash << 32
    uint32_t base = 1;

    uint8_t *output(size_t bytes) {
        if (out_capacity < bytes) {
            out = std::make_unique_for_overwrite<uint8_t[]>(bytes);
            out_capacity = bytes;
        }
        return out.get();
    }
    void trim() {
        constexpr size_t keep = size_t{16} << 20;
        if (out_capacity > keep) {
            out.reset();
            out_capacity = 0;
        }
        if (alpha.capacity() > keep / 4) std::vector<uint32_t>().swap(alpha);
    }
};

glz_scratch &scratch() {
    thread_local glz_scratch s;
    return s;
}

// The alpha pass's finder: references inside the image only.
struct local_finder {
    glz_scratch &s;
    const uint32_t *k;
    size_t n;
    uint32_t base;

    local_finder(glz_scratch &sc, const uint32_t *keys, size_t count)
        : s(sc)
        , k(keys)
        , n(count) {
        if (uint64_t{s.base} + n + 1 >= std::numeric_limits<uint32_t>::max()) {
            std::fill(s.local.begin(), s.local.end(), 0);
            s.base = 1;
        }
        base = s.base;
        s.base += static_cast<uint32_t>(n) + 1;
    }
    std::optional<candidate> lookup(size_t i, uint32_t h) const {
        const uint64_t e = s.local[h >> (32 - 13)];
        const auto pos = static_cast<uint32_t>(e);
        if (static_cast<uint32_t>(e >> 32) != h || pos < base) return std::nullopt;
        const size_t c = pos - base;
        if (c >= i) return std::nullopt;
        return candidate{k + c, n - i, 0, i - c - 1};
    }
    void insert(size_t i, uint32_t h) {
        s.local[h >> (32 - 13)] = uint64_t{h} << 32 | (base + static_cast<uint32_t>(i));
    }
};

} // namespace

// The colour pass's finder: the dictionary's table, whose positions run on
// across images, resolved to this image or an earlier one of the same kind
// still in the window.
struct dict_finder {
    std::vector<glz_dictionary::slot> &table;
    const std::deque<glz_dictionary::image> &window; // earlier images only
    const uint32_t *k;
    size_t n;
    uint64_t start;  // running position of this image's first pixel
    uint64_t oldest; // running position of the window's first pixel
    uint64_t id;
    uint8_t kind;
    std::span<const uint64_t> excluded; // sorted ids not to refer to

    std::optional<candidate> lookup(size_t i, uint32_t h) const {
        const auto &sl = table[h >> (32 - hash_bits)];
        if (sl.pos == 0 || sl.hash != h) return std::nullopt;
        const uint64_t pos = sl.pos - 1;
        if (pos < oldest) return std::nullopt;
        if (pos >= start) {
            const uint64_t c = pos - start;
            if (c >= i) return std::nullopt;
            return candidate{k + c, n - i, 0, i - c - 1};
        }
        auto it = std::upper_bound(
            window.begin(), window.end(), pos,
            [](uint64_t p, const glz_dictionary::image &im) { return p < im.start; });
        if (it == window.begin()) return std::nullopt;
        --it;
        const uint64_t off = pos - it->start;
        if (it->kind != kind || off >= it->count) return std::nullopt;
        if (!excluded.empty() && std::binary_search(excluded.begin(), excluded.end(), it->id))
            return std::nullopt;
        const uint64_t dist = id - it->id;
        if (dist == 0 || dist > max_image_dist || off > max_pixel_field) return std::nullopt;
        return candidate{it->keys.get() + off,
                         std::min<size_t>(n - i, it->count - static_cast<size_t>(off)), dist, off};
    }
    void insert(size_t i, uint32_t h) {
        table[h >> (32 - hash_bits)] = glz_dictionary::slot{start + i + 1, h, 0};
    }
};

namespace {

// One GLZ pass over keys [0, n): greedy, a run check then one hash lookup
// per position (fewer after a long stretch of literals), as lz_encoder.cpp.
template <key_kind Kind, class Finder>
uint8_t *glz_pass(const uint32_t *k, size_t n, uint8_t *o, Finder &f) {
    constexpr uint32_t lit = literal_bytes(Kind);
    constexpr uint32_t bias = min_match(Kind);
    size_t lit_from = 0;
    size_t i = 0;
    const size_t last = n >= hash_len ? n - (hash_len - 1) : 0;
    while (i < last) {
        uint32_t best_len = 0;
        int32_t best_gain = 0;
        uint64_t best_dist = 0;
        uint64_t best_pix = 0;
        auto consider = [&](uint64_t image_dist, uint64_t pix, uint32_t len) {
            if (len < bias) return;
            const int32_t gain = static_cast<int32_t>(len * lit) -
                                 static_cast<int32_t>(ref_cost(image_dist, pix, len - bias + 1));
            if (gain > best_gain) {
                best_gain = gain;
                best_len = len;
                best_dist = image_dist;
                best_pix = pix;
            }
        };
        if (i > 0 && k[i] == k[i - 1]) consider(0, 0, match_len(k + i - 1, k + i, n - i, 1));
        const uint32_t h = hash_at(k + i);
        if (best_len < good_enough_len) {
            if (auto c = f.lookup(i, h); c && c->ref[0] == k[i])
                consider(c->image_dist, c->pix, match_len(c->ref, k + i, c->max_len, 1));
        }
        f.insert(i, h);
        if (best_len == 0) {
            const size_t run = i - lit_from;
            if (run < skip_after) {
                ++i;
            } else {
                const size_t step = std::min<size_t>(max_skip, 1 + ((run - skip_after) >> 5));
                const size_t to = std::min(last, i + step);
                for (++i; i < to && k[i] != k[i - 1]; ++i) {
                }
            }
            continue;
        }
        o = put_literals<Kind>(o, k, lit_from, i);
        o = put_ref(o, best_dist, best_pix, best_len - bias + 1);
        const size_t end = i + best_len;
        if (end - 1 > i && end - 1 < last) f.insert(end - 1, hash_at(k + end - 1));
        i = end;
        lit_from = end;
    }
    return put_literals<Kind>(o, k, lit_from, n);
}

} // namespace

glz_dictionary::glz_dictionary(uint32_t client_window_pixels, uint32_t max_window_pixels)
    : window_pixels_(std::min({client_window_pixels, max_window_pixels, max_window}))
// The hash table comes with the first image: a client that never gets a
// GLZ image (an idle session: its first picture is LZ) costs nothing.
{}

size_t glz_dictionary::memory_bytes() const noexcept {
    size_t n = table_.capacity() * sizeof(slot) + spare_capacity_ * sizeof(uint32_t);
    for (const auto &im : window_)
        n += im.capacity * sizeof(uint32_t);
    return n;
}

void glz_dictionary::reset() {
    window_.clear();
    spare_.reset();
    spare_capacity_ = 0;
    pixels_ = 0;
    next_id_ = 0;
    next_pos_ = 0;
    std::fill(table_.begin(), table_.end(), slot{}); // empty until the first image
}

std::optional<size_t> glz_encode(glz_dictionary &d, const codec::image_view &img,
                                 std::vector<uint8_t> &out, std::span<const uint64_t> excluded) {
    const auto type = lz::type_for(img.format);
    if (!type) return std::nullopt;
    uint8_t kind_class = 0; // images refer only to images of the same class
    switch (*type) {
    case image_type::rgb16:
        kind_class = 1;
        break;
    case image_type::rgb24:
    case image_type::rgb32:
        kind_class = 2; // both decode to the same x8r8g8b8 pixels, x = 0
        break;
    case image_type::rgba:
        kind_class = 3;
        break;
    default:
        return std::nullopt;
    }
    const size_t row = lz::detail::packed_row_bytes(img, *type);
    if (row == 0) return std::nullopt;
    const uint64_t n = uint64_t{img.width} * img.height;
    if (n >= d.window_pixels_) return std::nullopt;

    const key_kind kind = *type == image_type::rgb16 ? key_kind::rgb16 : key_kind::rgb;
    const size_t count = static_cast<size_t>(n);
    glz_dictionary::image im;
    if (d.spare_capacity_ >= count) {
        im.keys = std::move(d.spare_);
        im.capacity = d.spare_capacity_;
        d.spare_capacity_ = 0;
    } else {
        im.keys = std::make_unique_for_overwrite<uint32_t[]>(count);
        im.capacity = count;
    }
    im.count = count;
    auto keep_spare = [&](glz_dictionary::image &gone) {
        if (gone.capacity > d.spare_capacity_) {
            d.spare_ = std::move(gone.keys);
            d.spare_capacity_ = gone.capacity;
        }
    };
    if (!lz::detail::gather_keys(img, kind, img.width, im.keys.get())) {
        keep_spare(im);
        return std::nullopt;
    }
    glz_scratch &s = scratch();
    const bool has_alpha = *type == image_type::rgba;
    if (has_alpha && !lz::detail::gather_keys(img, key_kind::alpha, img.width, s.alpha)) {
        keep_spare(im);
        return std::nullopt;
    }

    // Make room: the oldest images leave the window (and, through
    // win_head_dist, the client's).
    while (!d.window_.empty() &&
           (d.pixels_ + n > d.window_pixels_ || d.window_.size() >= max_images)) {
        d.pixels_ -= d.window_.front().count;
        keep_spare(d.window_.front());
        d.window_.pop_front();
    }
    im.id = d.next_id_;
    im.start = d.next_pos_;
    im.kind = kind_class;
    const uint64_t head_dist = d.window_.empty() ? 0 : im.id - d.window_.front().id;
    const uint64_t oldest = d.window_.empty() ? im.start : d.window_.front().start;

    size_t bound = 33 + count * literal_bytes(kind) + (count + 31) / 32;
    if (has_alpha) bound += count + (count + 31) / 32;
    uint8_t *const begin = s.output(bound);
    uint8_t *o = begin;
    auto be32 = [&](uint32_t v) {
        o[0] = static_cast<uint8_t>(v >> 24);
        o[1] = static_cast<uint8_t>(v >> 16);
        o[2] = static_cast<uint8_t>(v >> 8);
        o[3] = static_cast<uint8_t>(v);
        o += 4;
    };
    be32(lz::magic);
    be32(lz::version);
    *o++ = static_cast<uint8_t>(static_cast<uint8_t>(*type) | (img.top_down ? 0x10 : 0));
    be32(img.width);
    be32(img.height);
    be32(static_cast<uint32_t>(row));
    be32(static_cast<uint32_t>(im.id >> 32));
    be32(static_cast<uint32_t>(im.id));
    be32(static_cast<uint32_t>(head_dist));

    if (d.table_.empty()) d.table_.resize(size_t{1} << hash_bits);
    dict_finder colour{d.table_, d.window_, im.keys.get(), count,   im.start,
                       oldest,   im.id,     kind_class,    excluded};
    if (kind == key_kind::rgb16)
        o = glz_pass<key_kind::rgb16>(im.keys.get(), count, o, colour);
    else
        o = glz_pass<key_kind::rgb>(im.keys.get(), count, o, colour);
    if (has_alpha) {
        local_finder alpha{s, s.alpha.data(), count};
        o = glz_pass<key_kind::alpha>(s.alpha.data(), count, o, alpha);
    }

    const size_t written = static_cast<size_t>(o - begin);
    out.insert(out.end(), begin, o);
    s.trim();
    d.pixels_ += n;
    d.next_id_ += 1;
    d.next_pos_ += n;
    d.window_.push_back(std::move(im));
    return written;
}

std::optional<size_t> zlib_wrap(std::span<const uint8_t> glz, int level,
                                std::vector<uint8_t> &out) {
    if (level < 1 || level > 9 || glz.empty()) return std::nullopt;
    if (glz.size() > std::numeric_limits<uLong>::max()) return std::nullopt;
    uLongf size = compressBound(static_cast<uLong>(glz.size()));
    const size_t start = out.size();
    out.resize(start + size);
    const int rc =
        compress2(out.data() + start, &size, glz.data(), static_cast<uLong>(glz.size()), level);
    if (rc != Z_OK || size >= glz.size()) {
        out.resize(start);
        return std::nullopt;
    }
    out.resize(start + size);
    return static_cast<size_t>(size);
}

} // namespace rs::glz

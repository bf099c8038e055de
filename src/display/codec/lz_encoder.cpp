#include "display/codec/lz_encoder.hpp"

#include <spice/enums.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <memory>

namespace rs::lz {

namespace {

using detail::key_kind;
using detail::put_literal;

// The decoder refuses images whose stride × height exceeds this
// (spice-common's SPICE_MAX_IMAGE_SIZE).
constexpr uint64_t max_image_bytes = 1024 * 1024 * 1024 - 1;

// Back-reference distances the format can say: 13 bits, or 8191 plus 16 bits.
constexpr uint32_t max_near_distance = 8191;
constexpr uint32_t max_distance = max_near_distance + 65535 + 1;

// The matcher: a hash table from a hash of the next hash_len keys to the
// newest `ways` positions in that slot, each with its full 32-bit hash (so
// most false candidates are rejected without touching the pixels); one bucket
// is 16 bytes. Positions are stored offset by `base`, which grows with every
// pass, so a value below `base` is "empty" and the table needs no clearing
// between images. Tuned on 1080p text-like and photo-like images against the
// reference's lz.c (see the README): 5 keys find the long repeats of text
// where 3 find only the newest short one.
constexpr unsigned hash_bits = 13;
constexpr unsigned ways = 2;
constexpr size_t hash_len = 5;
constexpr unsigned short_bits = 12;
constexpr uint32_t good_enough_len = 32; // stop searching once a match is this long
constexpr unsigned skip_after = 32;      // literals in a row before lookups start skipping
constexpr size_t max_skip = 8;           // positions between lookups at most

struct bucket {
    uint32_t pos[ways];
    uint32_t hash[ways];
};

// Per-thread scratch, reused across images: the table, the keys of formats
// that are not matched in place, and the output before it is appended.
struct matcher_scratch {
    std::vector<bucket> table = std::vector<bucket>(size_t{1} << hash_bits, bucket{});
    // Newest position per hash of only 3 keys (pos | hash << 32), tried when
    // the long hash finds nothing: short repeats in gradients and dithering.
    std::vector<uint64_t> short_table = std::vector<uint64_t>(size_t{1} << short_bits, 0);
    uint32_t base = 1; // 0 stays "empty" forever
    std::vector<uint32_t> keys;
    std::unique_ptr<uint8_t[]> out;
    size_t out_capacity = 0;

    // Reserves positions [base, base + n) for one pass; returns the base.
    uint32_t begin_pass(size_t n) {
        if (uint64_t{base} + n + 1 >= std::numeric_limits<uint32_t>::max()) {
            std::fill(table.begin(), table.end(), bucket{});
            std::fill(short_table.begin(), short_table.end(), 0);
            base = 1;
        }
        const uint32_t b = base;
        base += static_cast<uint32_t>(n) + 1;
        return b;
    }

    // Room for `bytes` of output, uninitialised (zeroing a worst-case sized
    // vector would cost as much as matching).
    uint8_t *output(size_t bytes) {
        if (out_capacity < bytes) {
            out = std::make_unique_for_overwrite<uint8_t[]>(bytes);
            out_capacity = bytes;
        }
        return out.get();
    }

    // Scratch grown for a rare large image is let go rather than pinned to
    // the thread: keep what a 2560×1600 image needs.
    void trim() {
        constexpr size_t keep_pixels = size_t{4} << 20;
        if (keys.capacity() > keep_pixels) std::vector<uint32_t>().swap(keys);
        if (out_capacity > keep_pixels * 4) {
            out.reset();
            out_capacity = 0;
        }
    }
};

matcher_scratch &scratch() {
    thread_local matcher_scratch s;
    return s;
}

// Where a pass reads its keys from: gathered keys, one u32 each...
struct key_array {
    const uint32_t *k;
    uint32_t operator[](size_t i) const noexcept { return k[i]; }
    uint64_t pair(size_t i) const noexcept {
        uint64_t v;
        std::memcpy(&v, k + i, 8);
        return v;
    }
    static constexpr uint64_t pair_mask = ~uint64_t{0};
};

// ... or packed little-endian RGB32/RGBA pixels, matched in place on their
// colour bytes.
struct rgb32_pixels {
    const uint8_t *p;
    uint32_t operator[](size_t i) const noexcept {
        uint32_t v;
        std::memcpy(&v, p + 4 * i, 4);
        return v & 0xffffffu;
    }
    uint64_t pair(size_t i) const noexcept {
        uint64_t v;
        std::memcpy(&v, p + 4 * i, 8);
        return v;
    }
    static constexpr uint64_t pair_mask = 0x00ffffff00ffffffull;
};

template <class Src> inline uint32_t hash_at(const Src &k, size_t i) noexcept {
    uint32_t h = (k[i] * 0x9E3779B1u) ^ (k[i + 1] * 0x85EBCA77u) ^ (k[i + 2] * 0xC2B2AE3Du);
    if constexpr (hash_len > 3) h ^= k[i + 3] * 0x27D4EB2Fu;
    if constexpr (hash_len > 4) h ^= k[i + 4] * 0x165667B1u;
    return h ^ (h >> 15);
}
constexpr uint32_t slot_of(uint32_t hash) noexcept { return hash >> (32 - hash_bits); }
template <class Src> inline uint32_t short_hash_at(const Src &k, size_t i) noexcept {
    const uint32_t h = (k[i] * 0x9E3779B1u) ^ (k[i + 1] * 0x85EBCA77u) ^ (k[i + 2] * 0xC2B2AE3Du);
    return h ^ (h >> 15);
}

constexpr unsigned literal_bytes(key_kind kind) {
    switch (kind) {
    case key_kind::rgb:
        return 3;
    case key_kind::rgb16:
        return 2;
    default:
        return 1;
    }
}

// The shortest match the format can express for a kind (its length bias).
constexpr uint32_t min_match(key_kind kind) {
    switch (kind) {
    case key_kind::rgb:
        return 1;
    case key_kind::rgb16:
        return 2;
    default:
        return 3;
    }
}

template <key_kind Kind, class Src>
uint8_t *put_literals(uint8_t *o, const Src &k, size_t from, size_t to) noexcept {
    while (from < to) {
        const size_t n = std::min<size_t>(32, to - from);
        *o++ = static_cast<uint8_t>(n - 1);
        for (size_t j = 0; j < n; ++j)
            o = put_literal<Kind>(o, k[from + j]);
        from += n;
    }
    return o;
}

// Bytes a back reference costs (len already biased).
inline uint32_t match_cost(uint32_t dist, uint32_t len_code) noexcept {
    uint32_t c = dist <= max_near_distance ? 2 : 4;
    if (len_code >= 7) c += 1 + (len_code - 7) / 255;
    return c;
}

inline uint8_t *put_match(uint8_t *o, uint32_t dist, uint32_t len_code) noexcept {
    const uint32_t d = dist - 1;
    const bool near = d < max_near_distance;
    const uint32_t hi = near ? (d >> 8) : 31;
    *o++ = static_cast<uint8_t>((std::min<uint32_t>(len_code, 7) << 5) + hi);
    if (len_code >= 7) {
        uint32_t rest = len_code - 7;
        for (; rest >= 255; rest -= 255)
            *o++ = 255;
        *o++ = static_cast<uint8_t>(rest);
    }
    if (near) {
        *o++ = static_cast<uint8_t>(d & 255);
    } else {
        const uint32_t far = d - max_near_distance;
        *o++ = 255;
        *o++ = static_cast<uint8_t>(far >> 8);
        *o++ = static_cast<uint8_t>(far & 255);
    }
    return o;
}

// Length of the match between positions `ref` < `at`, known to be at least
// `len`, up to `n`. Compares two keys at a time.
template <class Src>
inline uint32_t extend(const Src &k, size_t ref, size_t at, size_t n, size_t len) noexcept {
    const size_t limit = n - at;
    if constexpr (std::endian::native == std::endian::little) {
        // Four keys per step while far from the end (runs and long matches
        // are most of a text or UI image), then two.
        while (len + 4 <= limit) {
            const uint64_t x0 = (k.pair(ref + len) ^ k.pair(at + len)) & Src::pair_mask;
            const uint64_t x1 = (k.pair(ref + len + 2) ^ k.pair(at + len + 2)) & Src::pair_mask;
            if ((x0 | x1) != 0) {
                if (x0 != 0) return static_cast<uint32_t>(len + ((x0 & 0xffffffffu) == 0 ? 1 : 0));
                return static_cast<uint32_t>(len + 2 + ((x1 & 0xffffffffu) == 0 ? 1 : 0));
            }
            len += 4;
        }
        while (len + 2 <= limit) {
            const uint64_t x = (k.pair(ref + len) ^ k.pair(at + len)) & Src::pair_mask;
            if (x != 0) return static_cast<uint32_t>(len + ((x & 0xffffffffu) == 0 ? 1 : 0));
            len += 2;
        }
    }
    while (len < limit && k[ref + len] == k[at + len])
        ++len;
    return static_cast<uint32_t>(len);
}

// One pass of LZ over keys [0, n), writing at `o` (which has room for the
// all-literal worst case); returns the new end. Greedy: at each position an
// explicit run check, then the positions in the hash bucket of the next
// hash_len keys. After skip_after literals in a row it looks up fewer
// positions (every other, then every third, ... up to every max_skip-th) as
// LZ4 does, still stopping
// at every repeated pixel, so incompressible data costs little.
template <key_kind Kind, class Src>
uint8_t *compress_pass(matcher_scratch &s, const Src &k, size_t n, uint8_t *o) {
    constexpr uint32_t lit = literal_bytes(Kind);
    constexpr uint32_t bias = min_match(Kind);
    const uint32_t base = s.begin_pass(n);
    bucket *table = s.table.data();

    size_t lit_from = 0;
    size_t i = 0;
    const size_t last = n >= hash_len ? n - (hash_len - 1) : 0; // hashing reads hash_len keys
    auto insert = [&](bucket &b, size_t p, uint32_t h) {
        for (unsigned w = ways - 1; w > 0; --w) {
            b.pos[w] = b.pos[w - 1];
            b.hash[w] = b.hash[w - 1];
        }
        b.pos[0] = base + static_cast<uint32_t>(p);
        b.hash[0] = h;
    };
    while (i < last) {
        uint32_t best_len = 0;
        uint32_t best_dist = 0;
        int32_t best_gain = 0;
        auto consider = [&](uint32_t dist, uint32_t len) {
            if (len < bias) return;
            const int32_t gain = static_cast<int32_t>(len * lit) -
                                 static_cast<int32_t>(match_cost(dist, len - bias + 1));
            if (gain > best_gain) {
                best_gain = gain;
                best_len = len;
                best_dist = dist;
            }
        };
        const uint32_t ki = k[i];
        if (i > 0 && ki == k[i - 1]) consider(1, extend(k, i - 1, i, n, 1));
        const uint32_t h = hash_at(k, i);
        bucket &b = table[slot_of(h)];
        if (best_len < good_enough_len) {
            for (unsigned w = 0; w < ways; ++w) {
                if (b.hash[w] != h || b.pos[w] < base) continue;
                const size_t c = b.pos[w] - base;
                const size_t dist = i - c;
                if (dist > max_distance) continue;
                // A better match must also equal us at the best one's end.
                if (i + best_len < n && k[c + best_len] == k[i + best_len] && k[c] == ki) {
                    consider(static_cast<uint32_t>(dist), extend(k, c, i, n, 1));
                    if (best_len >= good_enough_len) break;
                }
            }
        }
        insert(b, i, h);
        {
            const uint32_t sh = short_hash_at(k, i);
            uint64_t &e = s.short_table[sh >> (32 - short_bits)];
            const auto pos = static_cast<uint32_t>(e);
            if (best_len == 0 && static_cast<uint32_t>(e >> 32) == sh && pos >= base) {
                const size_t c = pos - base;
                const size_t dist = i - c;
                if (dist <= max_distance && k[c] == ki)
                    consider(static_cast<uint32_t>(dist), extend(k, c, i, n, 1));
            }
            e = uint64_t{sh} << 32 | (base + static_cast<uint32_t>(i));
        }
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
        o = put_match(o, best_dist, best_len - bias + 1);
        const size_t end = i + best_len;
        // Index the match's last position so later data can refer to its end
        // (its start is indexed already).
        if (end - 1 > i && end - 1 < last) {
            const uint32_t he = hash_at(k, end - 1);
            insert(table[slot_of(he)], end - 1, he);
        }
        i = end;
        lit_from = end;
    }
    return put_literals<Kind>(o, k, lit_from, n);
}

template <class Src>
uint8_t *compress_keys(matcher_scratch &s, key_kind kind, const Src &k, size_t n, uint8_t *o) {
    switch (kind) {
    case key_kind::rgb:
        return compress_pass<key_kind::rgb>(s, k, n, o);
    case key_kind::rgb16:
        return compress_pass<key_kind::rgb16>(s, k, n, o);
    case key_kind::alpha:
        return compress_pass<key_kind::alpha>(s, k, n, o);
    case key_kind::byte:
        return compress_pass<key_kind::byte>(s, k, n, o);
    }
    return o;
}

size_t worst_case(key_kind kind, size_t n) { return n * literal_bytes(kind) + (n + 31) / 32; }

// Writes the header and the passes for `type` over `img`.
std::optional<size_t> encode_as(const codec::image_view &img, image_type type,
                                std::vector<uint8_t> &out) {
    const size_t row = detail::packed_row_bytes(img, type);
    if (row == 0) return std::nullopt;

    key_kind passes[2] = {};
    size_t npasses = 1;
    size_t row_units = img.width;
    switch (type) {
    case image_type::rgb32:
    case image_type::rgb24:
        passes[0] = key_kind::rgb;
        break;
    case image_type::rgba:
        passes[0] = key_kind::rgb;
        passes[1] = key_kind::alpha;
        npasses = 2;
        break;
    case image_type::xxxa:
        passes[0] = key_kind::alpha;
        break;
    case image_type::rgb16:
        passes[0] = key_kind::rgb16;
        break;
    default: // palettes and A8: the packed row bytes
        passes[0] = key_kind::byte;
        row_units = row;
        break;
    }
    const size_t units = row_units * img.height;

    matcher_scratch &s = scratch();
    size_t bound = 7 * 4;
    for (size_t p = 0; p < npasses; ++p)
        bound += worst_case(passes[p], units);
    uint8_t *const begin = s.output(bound);
    uint8_t *o = begin;
    auto be32 = [&](uint32_t v) {
        o[0] = static_cast<uint8_t>(v >> 24);
        o[1] = static_cast<uint8_t>(v >> 16);
        o[2] = static_cast<uint8_t>(v >> 8);
        o[3] = static_cast<uint8_t>(v);
        o += 4;
    };
    be32(magic);
    be32(version);
    be32(static_cast<uint32_t>(type));
    be32(img.width);
    be32(img.height);
    be32(static_cast<uint32_t>(row));
    be32(img.top_down ? 1 : 0);
    for (size_t p = 0; p < npasses; ++p) {
        const key_kind kind = passes[p];
        // Packed 4-byte pixels are matched where they are, or, in rows apart
        // (a bitmap in guest chunks, padded rows), first copied together: a
        // row memcpy is twice as fast as gathering keys. Everything else is
        // gathered into keys.
        if (kind == key_kind::rgb && img.format != SPICE_BITMAP_FMT_24BIT &&
            std::endian::native == std::endian::little) {
            const size_t row_bytes = size_t{img.width} * 4;
            if (img.rows == nullptr && img.stride == row_bytes) {
                o = compress_keys(s, kind, rgb32_pixels{img.data}, units, o);
            } else {
                s.keys.resize(units);
                auto *flat = reinterpret_cast<uint8_t *>(s.keys.data());
                for (size_t y = 0; y < img.height; ++y)
                    std::memcpy(flat + y * row_bytes, img.row(y), row_bytes);
                o = compress_keys(s, kind, rgb32_pixels{flat}, units, o);
            }
            continue;
        }
        if (!detail::gather_keys(img, kind, row_units, s.keys)) return std::nullopt;
        o = compress_keys(s, kind, key_array{s.keys.data()}, units, o);
    }
    const size_t written = static_cast<size_t>(o - begin);
    out.insert(out.end(), begin, o);
    s.trim();
    return written;
}

} // namespace

std::optional<image_type> type_for(uint8_t bitmap_format) noexcept {
    switch (bitmap_format) {
    case SPICE_BITMAP_FMT_1BIT_LE:
        return image_type::plt1_le;
    case SPICE_BITMAP_FMT_1BIT_BE:
        return image_type::plt1_be;
    case SPICE_BITMAP_FMT_4BIT_LE:
        return image_type::plt4_le;
    case SPICE_BITMAP_FMT_4BIT_BE:
        return image_type::plt4_be;
    case SPICE_BITMAP_FMT_8BIT:
        return image_type::plt8;
    case SPICE_BITMAP_FMT_16BIT:
        return image_type::rgb16;
    case SPICE_BITMAP_FMT_24BIT:
        return image_type::rgb24;
    case SPICE_BITMAP_FMT_32BIT:
        return image_type::rgb32;
    case SPICE_BITMAP_FMT_RGBA:
        return image_type::rgba;
    case SPICE_BITMAP_FMT_8BIT_A:
        return image_type::a8;
    default:
        return std::nullopt;
    }
}

std::optional<size_t> encode(const codec::image_view &img, std::vector<uint8_t> &out) {
    const auto type = type_for(img.format);
    if (!type) return std::nullopt;
    return encode_as(img, *type, out);
}

std::optional<size_t> encode_alpha(const codec::image_view &rgba, std::vector<uint8_t> &out) {
    if (rgba.format != SPICE_BITMAP_FMT_RGBA) return std::nullopt;
    return encode_as(rgba, image_type::xxxa, out);
}

namespace detail {

namespace {

// The keys of `n` little-endian 4-byte pixels: the pixel with its top byte
// cleared. Four at a time with SSE2 where there is SSE2 (what GLZ's copy into
// its window costs, twice as fast as the scalar loop), one at a time else.
void rgb32_keys(const uint8_t *__restrict p, uint32_t *__restrict k, size_t n) noexcept {
    size_t x = 0;
#if defined(__SSE2__)
    const __m128i mask = _mm_set1_epi32(0x00ffffff);
    for (; x + 4 <= n; x += 4) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 4 * x));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(k + x), _mm_and_si128(v, mask));
    }
#endif
    for (; x < n; ++x) {
        uint32_t v;
        std::memcpy(&v, p + 4 * x, 4);
        k[x] = v & 0xffffffu;
    }
}

} // namespace

size_t packed_row_bytes(const codec::image_view &img, image_type type) noexcept {
    if (!img.has_pixels() || img.width == 0 || img.height == 0) return 0;
    // The decoder reads width, height and stride as C ints.
    if (img.width > 0x7fffffffu || img.height > 0x7fffffffu) return 0;
    uint64_t row = 0;     // bytes the header's stride says
    uint64_t src_row = 0; // bytes of one row in the source
    switch (type) {
    case image_type::plt1_le:
    case image_type::plt1_be:
        row = src_row = (uint64_t{img.width} + 7) / 8;
        break;
    case image_type::plt4_le:
    case image_type::plt4_be:
        row = src_row = (uint64_t{img.width} + 1) / 2;
        break;
    case image_type::plt8:
    case image_type::a8:
        row = src_row = img.width;
        break;
    case image_type::rgb16:
        row = src_row = uint64_t{img.width} * 2;
        break;
    case image_type::rgb24:
        row = src_row = uint64_t{img.width} * 3;
        break;
    case image_type::rgb32:
    case image_type::rgba:
    case image_type::xxxa:
        row = src_row = uint64_t{img.width} * 4;
        break;
    case image_type::invalid:
        return 0;
    }
    if (src_row > img.stride) return 0;
    if (row * img.height > max_image_bytes) return 0;
    return static_cast<size_t>(row);
}

bool gather_keys(const codec::image_view &img, key_kind kind, size_t row_units,
                 std::vector<uint32_t> &keys) {
    keys.resize(row_units * img.height);
    return gather_keys(img, kind, row_units, keys.data());
}

bool gather_keys(const codec::image_view &img, key_kind kind, size_t row_units, uint32_t *k) {
    size_t src_row = 0;
    switch (kind) {
    case key_kind::rgb:
        src_row = row_units * (img.format == SPICE_BITMAP_FMT_24BIT ? 3 : 4);
        break;
    case key_kind::rgb16:
        src_row = row_units * 2;
        break;
    case key_kind::alpha:
        src_row = row_units * 4;
        break;
    case key_kind::byte:
        src_row = row_units;
        break;
    }
    if (src_row > img.stride) return false;
    for (size_t y = 0; y < img.height; ++y) {
        const uint8_t *p = img.row(y);
        switch (kind) {
        case key_kind::rgb:
            if (img.format == SPICE_BITMAP_FMT_24BIT) {
                for (size_t x = 0; x < row_units; ++x, p += 3)
                    k[x] = p[0] | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16;
            } else if constexpr (std::endian::native == std::endian::little) {
                rgb32_keys(p, k, row_units);
            } else {
                for (size_t x = 0; x < row_units; ++x, p += 4)
                    k[x] = p[0] | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16;
            }
            break;
        case key_kind::rgb16:
            for (size_t x = 0; x < row_units; ++x, p += 2) {
                uint16_t v;
                std::memcpy(&v, p, 2); // x1r5g5b5 in native order, as QXL holds it
                k[x] = v & 0x7fffu;
            }
            break;
        case key_kind::alpha:
            for (size_t x = 0; x < row_units; ++x)
                k[x] = p[4 * x + 3];
            break;
        case key_kind::byte:
            for (size_t x = 0; x < row_units; ++x)
                k[x] = p[x];
            break;
        }
        k += row_units;
    }
    return true;
}

void put_be32(std::vector<uint8_t> &out, uint32_t v) {
    out.push_back(static_cast<uint8_t>(v >> 24));
    out.push_back(static_cast<uint8_t>(v >> 16));
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

} // namespace detail

} // namespace rs::lz

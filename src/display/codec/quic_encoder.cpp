// The SPICE QUIC encoder; see quic_encoder.hpp. Written from the facts of
// spice-common's quic.c (quic_tmpl.c, quic_family_tmpl.c): the model and the
// order of every decision follow it exactly, because the client replays the
// same model to decode. What differs is the mechanics, for speed: the
// prediction errors of a whole row are computed first, 16 bytes at a time;
// the sequential part is one template per pixel layout with the channel loop
// unrolled, one lookup of the best code by context and one of the packed
// codeword, a branch-free 64-bit bit writer fed once per pixel, and run
// scans over 8 bytes of pixels at a time.
#include "display/codec/quic_encoder.hpp"
#include "display/codec/quic_model.hpp"

#include <spice/enums.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>

namespace rs::quic {
namespace {

constexpr uint32_t quic_magic = 0x43495551; // "QUIC" as a little-endian word
constexpr uint32_t quic_version = 0;

constexpr unsigned max_codes = 8;         // code numbers per family (bpc at most 8)
constexpr unsigned codeword_limit = 26;   // longest codeword
constexpr uint32_t wait_mask_max = 6;     // the wait mask index stops growing here
constexpr uint32_t wait_mask_next = 2048; // symbols before the wait mask index grows
constexpr uint64_t max_image_pixels = (uint64_t{512} << 20) - 1; // spice-common's limit

using model::ceil_log2;
using model::chaos;
using model::low_bits;
using model::melc_len;
using model::trigger_by_wait_mask;

/// The Golomb-Rice code family of one channel depth, as lookup tables.
struct code_family {
    /// By code number l, then folded error n: the codeword in bits 5 and up,
    /// its length in the low 5 bits. Values below the code's GR limit get
    /// the unary-prefixed code (n >> l zeros, a one, l low bits of n); the
    /// rest an escape of fixed length (zeros, then n − limit).
    std::array<std::array<uint16_t, 256>, max_codes> code{};
    /// By folded error, then code number: codeword lengths (the model's cost).
    std::array<std::array<uint8_t, max_codes>, 256> len{};
    /// Prediction error (mod 2^bpc) folded to 0, -1, 1, -2, ... → 0, 1, 2, 3, ...
    std::array<uint8_t, 256> u2l{};
    /// Context bucket of a neighbour's folded error: buckets of 1, 2, 4, ...
    /// values (0 | 1-2 | 3-6 | ...), the last taking the rest.
    std::array<uint8_t, 256> bucket{};
};

constexpr code_family make_family(unsigned bpc) {
    code_family f;
    const uint32_t levels = 1u << bpc;
    for (unsigned l = 0; l < bpc; ++l) {
        const uint32_t prefix = std::min<uint32_t>(codeword_limit - bpc, low_bits(bpc - l));
        const uint32_t n_gr = prefix << l;
        const uint32_t escape_len = prefix + ceil_log2(levels - n_gr);
        for (uint32_t n = 0; n < 256; ++n) {
            uint32_t word, len;
            if (n < n_gr) {
                word = (1u << l) | (n & low_bits(l));
                len = (n >> l) + l + 1;
            } else {
                word = n - n_gr;
                len = escape_len;
            }
            f.code[l][n] = static_cast<uint16_t>(word << 5 | len);
            f.len[n][l] = static_cast<uint8_t>(len);
        }
    }
    const uint32_t mask = levels - 1;
    for (uint32_t s = 0; s < 256; ++s) {
        const uint32_t m = s & mask;
        f.u2l[s] = static_cast<uint8_t>(m <= mask >> 1 ? m << 1 : ((mask - m) << 1) + 1);
        f.bucket[s] = static_cast<uint8_t>(
            std::min<unsigned>(static_cast<unsigned>(std::bit_width(s + 1)) - 1, bpc - 1));
    }
    return f;
}

constexpr code_family family_8 = make_family(8);
constexpr code_family family_5 = make_family(5);

// The widest escape must fit the accumulator's per-put budget.
static_assert((family_8.code[0][255] & 31) == codeword_limit);
static_assert((family_5.code[0][31] & 31) <= codeword_limit);

inline void store_le32(uint8_t *p, uint32_t v) noexcept {
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}

/// Bits into little-endian u32 words, most significant bit first. The caller
/// guarantees room (ensure_room) before each row; `p` is the next word.
/// Branch-free: the pending bits sit at the top of `acc`, the next word is
/// stored on every put and `p` moves only once it is full, because whether a
/// word fills up is what a branch would mispredict on.
struct bit_writer {
    uint64_t acc = 0;  ///< the top `bits` bits are pending, oldest highest
    unsigned bits = 0; ///< < 32 between puts
    uint8_t *p = nullptr;

    /// Appends the low `len` bits of `word` (no bits above them), 1 ≤ len ≤ 32.
    [[gnu::always_inline]] void put(uint32_t word, unsigned len) {
        bits += len;
        acc |= uint64_t{word} << (64 - bits);
        store_le32(p, static_cast<uint32_t>(acc >> 32));
        const unsigned full = bits >> 5;
        p += full * 4;
        acc <<= full * 32;
        bits -= full * 32;
    }
};

/// The output vector and where this payload starts in it.
class sink {
  public:
    explicit sink(std::vector<uint8_t> &out)
        : _out(out)
        , _start(out.size()) {}

    /// Makes room for `bytes` more bytes after w.p (moving w.p if the vector
    /// grows). Growth is geometric in the payload, so zero-filling is linear.
    void ensure_room(bit_writer &w, size_t bytes) {
        const size_t pos = w.p ? static_cast<size_t>(w.p - _out.data()) : _start;
        if (_out.size() - pos < bytes) _out.resize(pos + std::max(bytes, pos - _start));
        w.p = _out.data() + pos;
    }
    /// Cuts the vector after the last written word; returns the payload size.
    size_t finish(const bit_writer &w) {
        const size_t end = static_cast<size_t>(w.p - _out.data());
        _out.resize(end);
        return end - _start;
    }

  private:
    std::vector<uint8_t> &_out;
    size_t _start;
};

// ------------------------------------------------------------ pixel layouts
//
// Each layout names the channels coded together (r, g, b or one byte), their
// depth, how to load a whole pixel into a word, and which bits of that word
// (`coded`) and of the pixel's little-endian bytes (`coded_bytes`) are coded:
// runs compare only those. The per-row buffers of prediction errors and
// contexts hold `lanes` bytes a pixel, channel c in lane(c): for the 8-bit
// layouts the same byte positions as in the pixels, so that one byte-wise
// pass predicts every channel (and rgba's colour and alpha share the rows).

inline uint32_t load_le32(const uint8_t *p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, 4);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
    return v;
}

struct layout_rgb32 { // b, g, r, x; also the colour of rgba
    static constexpr unsigned channels = 3, bpc = 8, bytes = 4, lanes = 4;
    static constexpr uint32_t coded = 0x00ffffff, coded_bytes = coded;
    static constexpr unsigned lane(unsigned c) { return 2 - c; }
    static uint32_t load(const uint8_t *row, int x) { return load_le32(row + x * 4); }
};

struct layout_alpha { // the a byte of b, g, r, a
    static constexpr unsigned channels = 1, bpc = 8, bytes = 4, lanes = 4;
    static constexpr uint32_t coded = 0xff, coded_bytes = 0xff000000;
    static constexpr unsigned lane(unsigned) { return 3; }
    static uint32_t load(const uint8_t *row, int x) { return row[x * 4 + 3]; }
};

struct layout_rgb24 { // b, g, r
    static constexpr unsigned channels = 3, bpc = 8, bytes = 3, lanes = 3;
    static constexpr uint32_t coded = 0x00ffffff, coded_bytes = coded;
    static constexpr unsigned lane(unsigned c) { return 2 - c; }
    static uint32_t load(const uint8_t *row, int x) {
        const uint8_t *p = row + x * 3;
        return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16;
    }
};

struct layout_rgb16 { // x1r5g5b5 in a native u16; lanes r, g, b
    static constexpr unsigned channels = 3, bpc = 5, bytes = 2, lanes = 3;
    static constexpr uint32_t coded = 0x7fff, coded_bytes = coded;
    static constexpr unsigned lane(unsigned c) { return c; }
    static uint32_t load(const uint8_t *row, int x) {
        uint16_t v;
        std::memcpy(&v, row + x * 2, 2);
        return v;
    }
    static unsigned get(uint32_t px, unsigned c) { return (px >> (10 - 5 * c)) & 31; }
};

struct layout_gray { // one byte
    static constexpr unsigned channels = 1, bpc = 8, bytes = 1, lanes = 1;
    static constexpr uint32_t coded = 0xff, coded_bytes = coded;
    static constexpr unsigned lane(unsigned) { return 0; }
    static uint32_t load(const uint8_t *row, int x) { return row[x]; }
};

// ------------------------------------------------------------ prediction
//
// The coder is lossless, so the neighbours the client will have decoded are
// the source pixels themselves: every pixel's folded prediction error can be
// computed for a whole row before the sequential part (the adaptive model,
// runs and bits) looks at it. Pixels that end up inside a run simply do not
// use theirs.

/// Folds an 8-bit prediction error as the reference's xlatU2L does: 0, −1,
/// 1, −2, ... → 0, 1, 2, 3, ... (the zig-zag of the error as a signed byte).
constexpr uint8_t fold8(unsigned d) { return family_8.u2l[d & 0xff]; }

/// Prediction errors of one row of 8-bit samples, `pixel` bytes apart
/// (every byte of the pixel is treated as a channel): the pixel above for
/// the first pixel (0 on the first row), the left one on the first row,
/// floor((left + above) / 2) elsewhere.
template <bool First>
void predict_bytes(const uint8_t *cur, const uint8_t *prev, size_t n, unsigned pixel,
                   uint8_t *out) {
    size_t k = 0;
    for (; k < pixel; ++k)
        out[k] = fold8(cur[k] - (First ? 0u : prev[k]));
    using u8x16 = uint8_t __attribute__((vector_size(16)));
    using i8x16 = int8_t __attribute__((vector_size(16)));
    for (; k + 16 <= n; k += 16) {
        u8x16 c, left, pred;
        std::memcpy(&c, cur + k, 16);
        std::memcpy(&left, cur + k - pixel, 16);
        if constexpr (First) {
            pred = left;
        } else {
            u8x16 up;
            std::memcpy(&up, prev + k, 16);
            pred = (left & up) + ((left ^ up) >> 1); // floor of the mean, per byte
        }
        const u8x16 d = c - pred;
        const u8x16 z = (d << 1) ^ reinterpret_cast<u8x16>(reinterpret_cast<i8x16>(d) >> 7);
        std::memcpy(out + k, &z, 16);
    }
    for (; k < n; ++k) {
        const unsigned left = cur[k - pixel];
        const unsigned pred = First ? left : (left + prev[k]) >> 1;
        out[k] = fold8(cur[k] - pred);
    }
}

/// The same for a row of layout L, into L::lanes bytes a pixel.
template <class L, bool First>
void predict_row(const uint8_t *cur, const uint8_t *prev, uint32_t width, uint8_t *out) {
    if constexpr (L::bpc == 8) {
        predict_bytes<First>(cur, prev, size_t{width} * L::bytes, L::bytes, out);
    } else {
        for (uint32_t x = 0; x < width; ++x) {
            const uint32_t px = L::load(cur, static_cast<int>(x));
            const uint32_t left = x ? L::load(cur, static_cast<int>(x) - 1) : 0;
            const uint32_t up = First ? 0 : L::load(prev, static_cast<int>(x));
            for (unsigned c = 0; c < L::channels; ++c) {
                unsigned pred;
                if (x == 0)
                    pred = First ? 0 : L::get(up, c);
                else if (First)
                    pred = L::get(left, c);
                else
                    pred = (L::get(left, c) + L::get(up, c)) >> 1;
                out[size_t{x} * L::lanes + L::lane(c)] =
                    family_5.u2l[(L::get(px, c) - pred) & ((1u << L::bpc) - 1)];
            }
        }
    }
}

/// Adaptation state of the channels coded together (CommonState): the
/// update schedule, the wait mask and the MELCODE run state.
struct coder_state {
    uint32_t waitcnt = 0;
    uint32_t seed = 0xff;
    uint32_t wm_trigger = trigger_by_wait_mask[0];
    uint32_t wmidx = 0;
    uint32_t wmileft = wait_mask_next;
    uint32_t melcstate = 0;
    uint32_t melclen = melc_len[0];
    uint32_t melcorder = 1;

    uint32_t rand() { return chaos[++seed & 0xff]; }
};

/// Codes the rows of one group of channels (all of a layout's channels),
/// carrying its model from row to row: per channel and context bucket, the
/// accumulated cost of every code number and the best code so far.
///
/// `corr` holds the folded error last coded at each x (lane layout of L):
/// corr[x * lanes + lane(c)] is pixel x, corr[lane(c) − lanes] the row's
/// left context. Runs leave their entries untouched, so the context after a
/// run comes from an older row, as in the reference.
template <class L> class group_coder {
  public:
    static constexpr unsigned n = L::channels;
    static constexpr int lanes = static_cast<int>(L::lanes);

    /// `corr_row` points lanes bytes into a buffer of (width + 1) × lanes
    /// bytes that outlives the coder.
    explicit group_coder(uint8_t *corr_row)
        : _corr(corr_row) {
        _t.code = fam.code;
        for (auto &b : _t.best)
            b.fill(static_cast<uint8_t>(L::bpc - 1));
    }

    /// One row; `vals` holds the row's prediction errors (predict_row), `prev`
    /// is the row above (unused for the first row).
    template <bool First>
    void row(const uint8_t *prev, const uint8_t *cur, const uint8_t *vals, uint32_t width,
             bit_writer &w) {
        for (unsigned c = 0; c < n; ++c) {
            const int l = static_cast<int>(L::lane(c));
            _corr[l - lanes] = First ? 0 : _corr[l];
        }
        coder_state &st = _st;
        int pos = 0;
        // Rows are coded in segments at which the wait mask index grows.
        while (st.wmidx < wait_mask_max && st.wmileft <= width) {
            if (st.wmileft) {
                segment<First>(prev, cur, vals, pos, pos + static_cast<int>(st.wmileft), w);
                width -= st.wmileft;
                pos += static_cast<int>(st.wmileft);
            }
            ++st.wmidx;
            st.wm_trigger = trigger_by_wait_mask[std::min<uint32_t>(st.wmidx, 10)];
            st.wmileft = wait_mask_next;
        }
        if (width) {
            segment<First>(prev, cur, vals, pos, pos + static_cast<int>(width), w);
            if (st.wmidx < wait_mask_max) st.wmileft -= width;
        }
    }

  private:
    static constexpr const code_family &fam = L::bpc == 8 ? family_8 : family_5;
    static constexpr unsigned mask = (1u << L::bpc) - 1;

    coder_state _st;
    uint8_t *_corr;
    /// What the pixel loop looks up, side by side so that one base register
    /// reaches all of it: a copy of the family's codewords and the best code
    /// of each channel by context value rather than by bucket (every value of
    /// a bucket holds its bucket's best code): one lookup less per sample, a
    /// short fill when an update changes a bucket's best.
    struct lookup {
        std::array<std::array<uint16_t, 256>, max_codes> code;
        std::array<std::array<uint8_t, 1u << L::bpc>, n> best;
    };
    lookup _t;
    std::array<std::array<std::array<uint32_t, max_codes>, max_codes>, n> _counters{};

    /// Codes pixel x: per channel, its folded prediction error with the code
    /// the left neighbour's context currently prefers. The channels'
    /// codewords go out as one put when they fit 32 bits together.
    [[gnu::always_inline]] static void code_pixel(const uint8_t *vals, uint8_t *corr, int x,
                                                  const lookup &t, bit_writer &w) {
        const uint8_t *v = vals + x * lanes;
        uint8_t *here = corr + x * lanes;
        unsigned cw[n];
#pragma GCC unroll 4
        for (unsigned c = 0; c < n; ++c) {
            const int l = static_cast<int>(L::lane(c));
            const unsigned value = v[l];
            const unsigned ctx = here[l - lanes];
            here[l] = static_cast<uint8_t>(value);
            cw[c] = t.code[t.best[c][ctx]][value];
        }
        if constexpr (n == 1) {
            w.put(cw[0] >> 5, cw[0] & 31);
        } else {
            unsigned len = cw[0] & 31;
            uint32_t word = cw[0] >> 5;
#pragma GCC unroll 4
            for (unsigned c = 1; c < n; ++c) {
                len += cw[c] & 31;
                word = (word << (cw[c] & 31)) | (cw[c] >> 5);
            }
            if (len <= 32) [[likely]] {
                w.put(word, len);
            } else {
#pragma GCC unroll 4
                for (unsigned c = 0; c < n; ++c)
                    w.put(cw[c] >> 5, cw[c] & 31);
            }
        }
    }

    /// Adds the cost of pixel x's value under every code to the bucket of
    /// its left context, picks the cheapest (the highest code number wins a
    /// tie) and halves the costs once the best passes the trigger.
    void update_at(int x) {
        const uint8_t *here = _corr + x * lanes;
        for (unsigned c = 0; c < n; ++c) {
            const int l = static_cast<int>(L::lane(c));
            const unsigned b = fam.bucket[here[l - lanes]];
            const auto &len = fam.len[here[l]];
            auto &cnt = _counters[c][b];
            unsigned best = L::bpc - 1;
            uint32_t best_len = cnt[best] += len[best];
            for (unsigned i = L::bpc - 1; i-- > 0;) {
                const uint32_t li = cnt[i] += len[i];
                const bool better = li < best_len; // select, not branch: it is data
                best = better ? i : best;
                best_len = better ? li : best_len;
            }
            // Bucket b holds the values 2^b − 1 to 2^(b+1) − 2, the last one the rest.
            const unsigned first = (1u << b) - 1;
            if (_t.best[c][first] != best) {
                const unsigned last = b == L::bpc - 1 ? mask : (2u << b) - 2;
                std::memset(&_t.best[c][first], static_cast<int>(best), last - first + 1);
            }
            if (best_len > _st.wm_trigger)
                for (unsigned i = 0; i < L::bpc; ++i)
                    cnt[i] >>= 1;
        }
    }

    /// MELCODE: one 1 bit per full chunk of melcorder copies (the chunk grows
    /// with each hit), then a 0 and the remainder in melclen bits.
    [[gnu::always_inline]] void put_run(uint32_t len, bit_writer &w) {
        coder_state &st = _st;
        uint32_t hits = 0;
        while (len >= st.melcorder) {
            ++hits;
            len -= st.melcorder;
            if (st.melcstate < melc_len.size() - 1) {
                st.melclen = melc_len[++st.melcstate];
                st.melcorder = 1u << st.melclen;
            }
        }
        for (; hits >= 32; hits -= 32)
            w.put(0xffffffffu, 32);
        if (hits) w.put(low_bits(hits), hits);
        w.put(len, st.melclen + 1);
        if (st.melcstate) {
            st.melclen = melc_len[--st.melcstate];
            st.melcorder = 1u << st.melclen;
        }
    }

    static bool same(const uint8_t *row, int x1, int x2) {
        return ((L::load(row, x1) ^ L::load(row, x2)) & L::coded) == 0;
    }

    /// The first x ≥ i before `end` that differs from its left neighbour, or
    /// `end`. Compares 8 bytes of pixels at a time where they fit the row.
    static int run_end(const uint8_t *cur, int i, const int end) {
        if constexpr (std::endian::native == std::endian::little) {
            // The coded bits of the whole pixels in 8 bytes.
            constexpr unsigned per_word = 8 / L::bytes;
            constexpr uint64_t coded = [] {
                uint64_t m = 0;
                for (unsigned k = 0; k < per_word; ++k)
                    m |= uint64_t{L::coded_bytes} << (k * L::bytes * 8);
                return m;
            }();
            constexpr int b = static_cast<int>(L::bytes);
            const int last = end - (8 + b - 1) / b; // the 8 bytes stay in the row
            while (i <= last) {
                uint64_t here, left;
                std::memcpy(&here, cur + i * b, 8);
                std::memcpy(&left, cur + (i - 1) * b, 8);
                const uint64_t diff = (here ^ left) & coded;
                if (diff) return i + std::countr_zero(diff) / (b * 8);
                i += per_word;
            }
        }
        while (i < end && same(cur, i, i - 1))
            ++i;
        return i;
    }

    /// A run may start at x when the two pixels above-left and above are
    /// equal and so are the two coded pixels to its left.
    static bool run_starts(const uint8_t *prev, const uint8_t *cur, int x, int run_index) {
        // Evaluated whole, without short cuts: one branch on the outcome
        // mispredicts less than four on its parts. x − 2 is clamped so that
        // nothing before the row is read; x > 2 decides those pixels anyway.
        const uint32_t diff = ((L::load(prev, x - 1) ^ L::load(prev, x)) |
                               (L::load(cur, x - 1) ^ L::load(cur, std::max(x - 2, 0)))) &
                              L::coded;
        return (static_cast<unsigned>(x > 2) & static_cast<unsigned>(x != run_index) &
                static_cast<unsigned>(diff == 0)) != 0;
    }

    /// Pixels [i, end) of a row. The model is updated at pseudo-random
    /// pixels (every one at first, about one in 32 once the wait mask is
    /// full); the countdown carries over from segment to segment and row to
    /// row in waitcnt.
    template <bool First>
    void segment(const uint8_t *prev, const uint8_t *cur, const uint8_t *vals, int i, const int end,
                 bit_writer &out) {
        bit_writer w = out; // in registers for the loop
        coder_state &st = _st;
        const uint32_t waitmask = low_bits(st.wmidx);
        uint8_t *const corr = _corr;
        const lookup &t = _t;
        int stop;
        int run_index = 0;
        if (i == 0) {
            code_pixel(vals, corr, 0, t, w);
            if (st.waitcnt) {
                --st.waitcnt;
            } else {
                st.waitcnt = st.rand() & waitmask;
                update_at(0);
            }
            stop = ++i + static_cast<int>(st.waitcnt);
        } else {
            stop = i + static_cast<int>(st.waitcnt);
        }
        for (;;) {
            bool run = false;
            for (;;) {
                const int limit = stop < end ? stop + 1 : end;
                for (; i < limit; ++i) {
                    if (!First && run_starts(prev, cur, i, run_index)) {
                        run = true;
                        break;
                    }
                    code_pixel(vals, corr, i, t, w);
                }
                if (run) break;
                if (stop >= end) {
                    st.waitcnt = static_cast<uint32_t>(stop - end);
                    out = w;
                    return;
                }
                update_at(stop);
                stop = i + static_cast<int>(st.rand() & waitmask);
            }
            // A run of copies of the left pixel: no codewords, no model update.
            run_index = i;
            st.waitcnt = static_cast<uint32_t>(stop - i);
            const int run_start = i;
            i = run_end(cur, i, end);
            put_run(static_cast<uint32_t>(i - run_start), w);
            if (i == end) {
                out = w;
                return;
            }
            stop = i + static_cast<int>(st.waitcnt);
        }
    }
};

/// Worst-case bytes one row adds: a coded pixel costs at most 26 bits a
/// channel, a run at most one bit per pixel plus 16, and a run that ends
/// before the segment does is followed by a coded pixel.
template <class L> constexpr size_t row_bound(uint32_t width) {
    return (size_t{width} * (L::channels * codeword_limit + 32) + 7) / 8 + 16;
}

/// No second group (every type but rgba).
struct no_layout {};

/// The image's rows from the top one down: in one buffer (walked by a
/// signed step) or by the view's row pointers (a bitmap in guest chunks).
struct top_down_rows {
    const codec::image_view &img;
    const uint8_t *top;
    ptrdiff_t step;
    const uint8_t *operator()(uint32_t y) const noexcept {
        if (img.rows != nullptr) return img.rows[img.top_down ? y : img.height - 1 - y];
        return top + step * static_cast<ptrdiff_t>(y);
    }
};

/// Codes every row, top row first, with one group (or two, coded one after
/// the other on each row, for rgba's colour and alpha, which share the
/// prediction and context rows in different lanes).
template <class A, class B = no_layout>
void code_rows(const top_down_rows &rows, uint32_t width, uint32_t height, sink &s, bit_writer &w) {
    constexpr bool two = !std::is_same_v<B, no_layout>;
    constexpr size_t lanes = A::lanes;
    // The prediction errors of the current row, then the context row with
    // the row's left context in front of pixel 0.
    std::vector<uint8_t> scratch(lanes * (2 * size_t{width} + 1));
    uint8_t *const vals = scratch.data();
    uint8_t *const corr = vals + lanes * width + lanes;
    group_coder<A> a(corr);
    using second = std::conditional_t<two, B, layout_alpha>;
    std::optional<group_coder<second>> b;
    if constexpr (two) {
        static_assert(B::lanes == A::lanes);
        b.emplace(corr);
    }

    size_t bound = row_bound<A>(width);
    if constexpr (two) bound += row_bound<B>(width);

    const uint8_t *cur = rows(0);
    s.ensure_room(w, bound);
    predict_row<A, true>(cur, nullptr, width, vals);
    a.template row<true>(nullptr, cur, vals, width, w);
    if constexpr (two) b->template row<true>(nullptr, cur, vals, width, w);
    for (uint32_t y = 1; y < height; ++y) {
        const uint8_t *prev = cur;
        cur = rows(y);
        s.ensure_room(w, bound);
        predict_row<A, false>(cur, prev, width, vals);
        a.template row<false>(prev, cur, vals, width, w);
        if constexpr (two) b->template row<false>(prev, cur, vals, width, w);
    }
}

uint32_t bytes_per_pixel(image_type t) {
    switch (t) {
    case image_type::gray:
        return 1;
    case image_type::rgb16:
        return 2;
    case image_type::rgb24:
        return 3;
    case image_type::rgb32:
    case image_type::rgba:
        return 4;
    default:
        return 0;
    }
}

} // namespace

image_type type_for_format(uint8_t bitmap_format) noexcept {
    switch (bitmap_format) {
    case SPICE_BITMAP_FMT_32BIT:
        return image_type::rgb32;
    case SPICE_BITMAP_FMT_RGBA:
        return image_type::rgba;
    case SPICE_BITMAP_FMT_16BIT:
        return image_type::rgb16;
    case SPICE_BITMAP_FMT_24BIT:
        return image_type::rgb24;
    default:
        return image_type::invalid;
    }
}

std::optional<size_t> encode_as(image_type type, const codec::image_view &img,
                                std::vector<uint8_t> &out) {
    const uint32_t bpp = bytes_per_pixel(type);
    if (bpp == 0 || !img.has_pixels() || img.width == 0 || img.height == 0) return std::nullopt;
    constexpr uint32_t max_side = 0x7fffffff; // the header's sizes are C ints to the client
    if (img.width > max_side || img.height > max_side ||
        uint64_t{img.width} * img.height > max_image_pixels)
        return std::nullopt;
    if (img.stride < uint64_t{img.width} * bpp) return std::nullopt;
    if (img.stride > static_cast<size_t>(PTRDIFF_MAX) / img.height) return std::nullopt;

    const ptrdiff_t stride = static_cast<ptrdiff_t>(img.stride);
    top_down_rows rows{img, img.data, stride};
    if (img.rows == nullptr && !img.top_down) { // the top row is the last in memory
        rows.top += stride * static_cast<ptrdiff_t>(img.height - 1);
        rows.step = -stride;
    }

    sink s(out);
    bit_writer w;
    s.ensure_room(w, 5 * 4);
    for (uint32_t v :
         {quic_magic, quic_version, static_cast<uint32_t>(type), img.width, img.height})
        w.put(v, 32);

    switch (type) {
    case image_type::gray:
        code_rows<layout_gray>(rows, img.width, img.height, s, w);
        break;
    case image_type::rgb16:
        code_rows<layout_rgb16>(rows, img.width, img.height, s, w);
        break;
    case image_type::rgb24:
        code_rows<layout_rgb24>(rows, img.width, img.height, s, w);
        break;
    case image_type::rgb32:
        code_rows<layout_rgb32>(rows, img.width, img.height, s, w);
        break;
    case image_type::rgba:
        code_rows<layout_rgb32, layout_alpha>(rows, img.width, img.height, s, w);
        break;
    default:
        break;
    }

    // As quic.c's flush: zero bits to the end of the word, then one zero word.
    s.ensure_room(w, 8);
    if (w.bits) w.put(0, 32 - w.bits);
    w.put(0, 32);
    return s.finish(w);
}

std::optional<size_t> encode(const codec::image_view &img, std::vector<uint8_t> &out) {
    const image_type t = type_for_format(img.format);
    if (t == image_type::invalid) return std::nullopt;
    return encode_as(t, img, out);
}

} // namespace rs::quic

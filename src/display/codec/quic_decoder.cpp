// The SPICE QUIC decoder; see quic_decoder.hpp for the format. Written from
// the facts of spice-common's quic.c (the SFALIC-derived coder): the same
// code families, context buckets, model update schedule and run coding, so
// that a stream the guest driver encodes decodes to the same pixels.
#include "display/codec/quic_decoder.hpp"
#include "display/codec/quic_model.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>

namespace rs::quic {
namespace {

class quic_category_impl final : public std::error_category {
  public:
    const char *name() const noexcept override { return "quic"; }
    std::string message(int ev) const override {
        switch (static_cast<quic_errc>(ev)) {
        case quic_errc::truncated:
            return "the QUIC stream is truncated";
        case quic_errc::bad_magic:
            return "not a QUIC stream";
        case quic_errc::bad_version:
            return "unsupported QUIC version";
        case quic_errc::bad_type:
            return "unknown QUIC image type";
        case quic_errc::bad_size:
            return "QUIC image with zero width or height";
        case quic_errc::too_large:
            return "QUIC image too large";
        case quic_errc::bad_code:
            return "corrupt QUIC codeword or run";
        case quic_errc::layout_mismatch:
            return "QUIC image type does not fit the requested layout or buffer";
        }
        return "unknown QUIC error";
    }
};

constexpr uint32_t quic_magic = 0x43495551; // "QUIC" as a little-endian word
constexpr uint32_t quic_version = 0;
constexpr unsigned header_bits = 5 * 32;

constexpr unsigned max_codes = 8;         // code numbers per family (bpc at most 8)
constexpr unsigned codeword_limit = 26;   // longest codeword
constexpr unsigned wait_mask_max = 6;     // the wait mask index stops growing here
constexpr unsigned wait_mask_next = 2048; // symbols before the wait mask index grows

using model::ceil_log2;
using model::chaos;
using model::low_bits;
using model::melc_len;
using model::trigger_by_wait_mask;

/// The Golomb-Rice code family for one channel depth: for each code number
/// l, values below n_gr[l] get a unary-prefixed code with l suffix bits; the
/// rest an escape of not_gr_len[l] bits (a zero prefix then a fixed suffix).
struct code_family {
    unsigned bpc = 0;
    uint32_t levels = 0;
    std::array<uint32_t, max_codes> n_gr{};
    std::array<uint32_t, max_codes> not_gr_len{};
    std::array<uint32_t, max_codes> not_gr_prefix_mask{};
    std::array<uint32_t, max_codes> not_gr_suffix_len{};
    std::array<std::array<uint8_t, max_codes>, 256> code_len{};
    std::array<uint8_t, 256> l2u{}; ///< folded error (0, -1, 1, -2, ...) to residue
};

constexpr code_family make_family(unsigned bpc) {
    code_family f;
    f.bpc = bpc;
    f.levels = 1u << bpc;
    for (unsigned l = 0; l < bpc; ++l) {
        const uint32_t prefix = std::min<uint32_t>(codeword_limit - bpc, low_bits(bpc - l));
        const uint32_t escapes = f.levels - (prefix << l);
        f.n_gr[l] = prefix << l;
        f.not_gr_suffix_len[l] = ceil_log2(escapes);
        f.not_gr_len[l] = prefix + f.not_gr_suffix_len[l];
        f.not_gr_prefix_mask[l] = low_bits(32 - prefix);
        for (unsigned n = 0; n < 256; ++n)
            f.code_len[n][l] =
                static_cast<uint8_t>(n < f.n_gr[l] ? (n >> l) + l + 1 : f.not_gr_len[l]);
    }
    const uint32_t max = f.levels - 1;
    for (uint32_t s = 0; s <= max; ++s)
        f.l2u[s] = static_cast<uint8_t>((s & 1) ? max - (s >> 1) : s >> 1);
    return f;
}

constexpr code_family family_8 = make_family(8);
constexpr code_family family_5 = make_family(5);

/// Context bucket of a neighbour's folded error: buckets hold 1, 2, 4, ...
/// values (0 | 1-2 | 3-6 | ...), the last one taking the rest.
inline unsigned bucket_of(unsigned v, unsigned bpc) {
    return std::min<unsigned>(static_cast<unsigned>(std::bit_width(v + 1)) - 1, bpc - 1);
}

/// LE u32 words read most significant bit first; reads past the end see
/// zero bits, and overrun() tells whether any were consumed.
class bit_reader {
  public:
    explicit bit_reader(std::span<const uint8_t> in)
        : _in(in)
        , _words(in.size() / 4) {
        refill();
    }
    uint32_t peek() const { return _word; }
    void eat(unsigned n) {
        _pos += n;
        refill();
    }
    bool overrun() const { return _pos > uint64_t{_words} * 32; }

  private:
    std::span<const uint8_t> _in;
    size_t _words;
    uint64_t _pos = 0;
    uint32_t _word = 0;

    uint32_t load(uint64_t i) const {
        if (i >= _words) return 0;
        uint32_t w;
        std::memcpy(&w, _in.data() + i * 4, 4);
        if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap32(w);
        return w;
    }
    void refill() {
        const uint64_t i = _pos >> 5;
        const uint64_t both = (uint64_t{load(i)} << 32) | load(i + 1);
        _word = static_cast<uint32_t>((both << (_pos & 31)) >> 32);
    }
};

/// Adaptation state shared by the channels coded together (CommonState).
struct coder_state {
    uint32_t waitcnt = 0;
    uint32_t seed = 0xff;
    uint32_t wm_trigger = 0;
    uint32_t wmidx = 0;
    uint32_t wmileft = wait_mask_next;
    uint32_t melcstate = 0;
    uint32_t melclen = melc_len[0];
    uint32_t melcorder = 1;

    coder_state() { set_trigger(); }
    void set_trigger() { wm_trigger = trigger_by_wait_mask[std::min<uint32_t>(wmidx, 10)]; }
    uint32_t rand() { return chaos[++seed & 0xff]; }
};

/// One colour channel: its context model and its current and previous rows.
struct channel {
    std::array<std::array<uint32_t, max_codes>, max_codes> counters{};
    std::array<uint8_t, max_codes> best{};
    std::vector<uint8_t> corr; ///< folded errors of the row; corr[x + 1] is pixel x
    std::vector<uint8_t> cur;
    std::vector<uint8_t> prev;
};

/// Channels decoded together, pixel by pixel, sharing one coder_state.
template <unsigned N> struct group {
    coder_state st;
    std::array<channel *, N> ch{};
};

class decoder {
  public:
    decoder(bit_reader &br, const code_family &fam)
        : _br(br)
        , _fam(fam)
        , _mask(fam.levels - 1) {}

    /// One row of a group; false on a corrupt codeword or run.
    template <unsigned N> bool row(group<N> &g, bool first, uint32_t width) {
        for (channel *c : g.ch)
            c->corr[0] = first ? 0 : c->corr[1];
        return first ? row_segments<N, true>(g, width) : row_segments<N, false>(g, width);
    }

  private:
    bit_reader &_br;
    const code_family &_fam;
    uint32_t _mask;

    /// One codeword with code number chosen by the context's bucket.
    bool read_value(const channel &c, unsigned context, uint8_t &out) {
        const unsigned l = c.best[bucket_of(context, _fam.bpc)];
        const uint32_t bits = _br.peek();
        uint32_t len, value;
        if (bits > _fam.not_gr_prefix_mask[l]) {
            const unsigned zeros = static_cast<unsigned>(std::countl_zero(bits));
            len = zeros + 1 + l;
            value = (zeros << l) | ((bits >> (32 - len)) & low_bits(l));
        } else {
            len = _fam.not_gr_len[l];
            value = _fam.n_gr[l] + ((bits >> (32 - len)) & low_bits(_fam.not_gr_suffix_len[l]));
        }
        if (value > _mask) return false; // an escape past the alphabet
        _br.eat(len);
        out = static_cast<uint8_t>(value);
        return true;
    }

    void update_model(const coder_state &st, channel &c, unsigned context, unsigned value) {
        const unsigned b = bucket_of(context, _fam.bpc);
        auto &cnt = c.counters[b];
        unsigned best = _fam.bpc - 1;
        uint32_t best_len = cnt[best] += _fam.code_len[value][best];
        for (unsigned i = best; i-- > 0;) {
            const uint32_t len = cnt[i] += _fam.code_len[value][i];
            if (len < best_len) {
                best = i;
                best_len = len;
            }
        }
        c.best[b] = static_cast<uint8_t>(best);
        if (best_len > st.wm_trigger)
            for (unsigned i = 0; i < _fam.bpc; ++i)
                cnt[i] >>= 1;
    }

    template <unsigned N> void update_at(group<N> &g, int x) {
        for (channel *c : g.ch)
            update_model(g.st, *c, c->corr[x], c->corr[x + 1]);
    }

    template <unsigned N, bool First> bool pixel(group<N> &g, int x) {
        for (channel *c : g.ch) {
            uint8_t v;
            if (!read_value(*c, c->corr[x], v)) return false;
            c->corr[x + 1] = v;
            unsigned pred;
            if (x == 0)
                pred = First ? 0 : c->prev[0];
            else
                pred = First ? c->cur[x - 1] : (c->cur[x - 1] + c->prev[x]) >> 1;
            c->cur[x] = static_cast<uint8_t>((_fam.l2u[v] + pred) & _mask);
        }
        return true;
    }

    /// Whether pixel x starts a run: its upper neighbours are equal and so
    /// are the two decoded pixels to its left.
    template <unsigned N> static bool run_starts(const group<N> &g, int x, int run_index) {
        if (x <= 2 || x == run_index) return false;
        for (const channel *c : g.ch)
            if (c->prev[x - 1] != c->prev[x] || c->cur[x - 1] != c->cur[x - 2]) return false;
        return true;
    }

    /// MELCODE run length; false when it exceeds `limit`.
    bool read_run(coder_state &st, uint32_t limit, uint32_t &out) {
        uint64_t len = 0;
        for (;;) {
            const unsigned ones = static_cast<unsigned>(std::countl_one(_br.peek() >> 24 << 24));
            const unsigned hits = std::min(ones, 8u);
            for (unsigned h = 0; h < hits; ++h) {
                len += st.melcorder;
                if (st.melcstate < melc_len.size() - 1) {
                    st.melclen = melc_len[++st.melcstate];
                    st.melcorder = 1u << st.melclen;
                }
            }
            if (len > limit) return false;
            if (hits != 8) {
                _br.eat(hits + 1);
                break;
            }
            _br.eat(8);
        }
        if (st.melclen) {
            len += _br.peek() >> (32 - st.melclen);
            _br.eat(st.melclen);
        }
        if (st.melcstate) {
            st.melclen = melc_len[--st.melcstate];
            st.melcorder = 1u << st.melclen;
        }
        if (len > limit) return false;
        out = static_cast<uint32_t>(len);
        return true;
    }

    template <unsigned N, bool First> bool segment(group<N> &g, int i, int end) {
        coder_state &st = g.st;
        const uint32_t waitmask = low_bits(st.wmidx);
        int stop;
        int run_index = 0;
        if (i == 0) {
            if (!pixel<N, First>(g, 0)) return false;
            if (st.waitcnt) {
                --st.waitcnt;
            } else {
                st.waitcnt = st.rand() & waitmask;
                update_at(g, 0);
            }
            stop = ++i + static_cast<int>(st.waitcnt);
        } else {
            stop = i + static_cast<int>(st.waitcnt);
        }
        for (;;) {
            bool run = false;
            while (!run && stop < end) {
                for (; i <= stop; ++i) {
                    if (!First && run_starts(g, i, run_index)) {
                        run = true;
                        break;
                    }
                    if (!pixel<N, First>(g, i)) return false;
                }
                if (run) break;
                update_at(g, stop);
                stop = i + static_cast<int>(st.rand() & waitmask);
            }
            if (!run) {
                for (; i < end; ++i) {
                    if (!First && run_starts(g, i, run_index)) {
                        run = true;
                        break;
                    }
                    if (!pixel<N, First>(g, i)) return false;
                }
                if (!run) {
                    st.waitcnt = static_cast<uint32_t>(stop - end);
                    return true;
                }
            }
            // A run of copies of the left pixel (model and folded errors untouched).
            st.waitcnt = static_cast<uint32_t>(stop - i);
            run_index = i;
            uint32_t len;
            if (!read_run(st, static_cast<uint32_t>(end - i), len)) return false;
            for (const int run_end = i + static_cast<int>(len); i < run_end; ++i)
                for (channel *c : g.ch)
                    c->cur[i] = c->cur[i - 1];
            if (i == end) return true;
            stop = i + static_cast<int>(st.waitcnt);
        }
    }

    /// Rows are coded in segments at which the wait mask index grows.
    template <unsigned N, bool First> bool row_segments(group<N> &g, uint32_t width) {
        coder_state &st = g.st;
        uint32_t pos = 0;
        while (st.wmidx < wait_mask_max && st.wmileft <= width) {
            if (st.wmileft) {
                if (!segment<N, First>(g, static_cast<int>(pos),
                                       static_cast<int>(pos + st.wmileft)))
                    return false;
                width -= st.wmileft;
                pos += st.wmileft;
            }
            ++st.wmidx;
            st.set_trigger();
            st.wmileft = wait_mask_next;
        }
        if (width) {
            if (!segment<N, First>(g, static_cast<int>(pos), static_cast<int>(pos + width)))
                return false;
            if (st.wmidx < wait_mask_max) st.wmileft -= width;
        }
        return true;
    }
};

unsigned channel_count(image_type t);

/// Row 0 codes every pixel and every row its first one, each with at least
/// one bit a channel: a cheap bound that refuses huge sizes from short
/// streams before anything is allocated.
bool enough_bits(const header &h, uint64_t bits) {
    const unsigned n = channel_count(h.type);
    return uint64_t{h.width} * n <= bits && uint64_t{h.height} * n <= bits;
}

unsigned channel_count(image_type t) {
    switch (t) {
    case image_type::gray:
        return 1;
    case image_type::rgba:
        return 4;
    default:
        return 3;
    }
}

/// Stores row values of the channels as one output row.
void store_row(std::span<channel> chans, image_type t, pixel_layout layout, uint8_t *d,
               uint32_t width) {
    const uint8_t *r = chans[0].cur.data();
    switch (layout) {
    case pixel_layout::gray:
        std::memcpy(d, r, width);
        return;
    case pixel_layout::rgb16: {
        const uint8_t *g = chans[1].cur.data(), *b = chans[2].cur.data();
        for (uint32_t x = 0; x < width; ++x) {
            const uint16_t v = static_cast<uint16_t>(r[x] << 10 | g[x] << 5 | b[x]);
            std::memcpy(d + x * 2, &v, 2);
        }
        return;
    }
    case pixel_layout::rgb24:
    case pixel_layout::rgb32:
    case pixel_layout::rgba: {
        const uint8_t *g = chans[1].cur.data(), *b = chans[2].cur.data();
        const uint8_t *a = layout == pixel_layout::rgba ? chans[3].cur.data() : nullptr;
        const unsigned bpp = layout == pixel_layout::rgb24 ? 3 : 4;
        const bool widen = t == image_type::rgb16;
        auto w8 = [widen](uint8_t v) { return widen ? static_cast<uint8_t>(v << 3 | v >> 2) : v; };
        for (uint32_t x = 0; x < width; ++x, d += bpp) {
            d[0] = w8(b[x]);
            d[1] = w8(g[x]);
            d[2] = w8(r[x]);
            if (bpp == 4) d[3] = a ? a[x] : 0;
        }
        return;
    }
    }
}

std::error_code err(quic_errc e) { return make_error_code(e); }

} // namespace

const std::error_category &quic_category() noexcept {
    static const quic_category_impl cat;
    return cat;
}

uint32_t bytes_per_pixel(pixel_layout l) noexcept {
    switch (l) {
    case pixel_layout::rgb32:
    case pixel_layout::rgba:
        return 4;
    case pixel_layout::rgb24:
        return 3;
    case pixel_layout::rgb16:
        return 2;
    case pixel_layout::gray:
        return 1;
    }
    return 4;
}

bool can_store(image_type t, pixel_layout l) noexcept {
    switch (t) {
    case image_type::rgb24:
    case image_type::rgb32:
        return l == pixel_layout::rgb32 || l == pixel_layout::rgb24;
    case image_type::rgb16:
        return l == pixel_layout::rgb16 || l == pixel_layout::rgb32;
    case image_type::rgba:
        return l == pixel_layout::rgba;
    case image_type::gray:
        return l == pixel_layout::gray;
    default:
        return false;
    }
}

pixel_layout natural_layout(image_type t) noexcept {
    switch (t) {
    case image_type::rgb16:
        return pixel_layout::rgb16;
    case image_type::rgba:
        return pixel_layout::rgba;
    case image_type::gray:
        return pixel_layout::gray;
    default:
        return pixel_layout::rgb32;
    }
}

result<header> read_header(std::span<const uint8_t> in) {
    if (in.size() / 4 < 5) return err(quic_errc::truncated);
    uint32_t w[5];
    std::memcpy(w, in.data(), sizeof w);
    if constexpr (std::endian::native == std::endian::big)
        for (auto &v : w)
            v = __builtin_bswap32(v);
    if (w[0] != quic_magic) return err(quic_errc::bad_magic);
    if (w[1] != quic_version) return err(quic_errc::bad_version);
    if (w[2] < 1 || w[2] > 5) return err(quic_errc::bad_type);
    if (w[3] == 0 || w[4] == 0) return err(quic_errc::bad_size);
    if (w[3] > max_dimension || w[4] > max_dimension || uint64_t{w[3]} * w[4] > max_pixels)
        return err(quic_errc::too_large);
    const header h{static_cast<image_type>(w[2]), w[3], w[4]};
    if (!enough_bits(h, uint64_t{in.size() / 4} * 32 - header_bits))
        return err(quic_errc::truncated);
    return h;
}

result<header> decode(std::span<const uint8_t> in, pixel_layout layout, std::span<uint8_t> dest,
                      size_t stride) {
    auto hdr = read_header(in);
    if (!hdr) return hdr;
    const header h = *hdr;
    if (!can_store(h.type, layout)) return err(quic_errc::layout_mismatch);
    const uint64_t row_bytes = uint64_t{h.width} * bytes_per_pixel(layout);
    if (stride < row_bytes || dest.size() < uint64_t{stride} * (h.height - 1) + row_bytes)
        return err(quic_errc::layout_mismatch);

    bit_reader br(in);
    br.eat(header_bits);
    const unsigned nch = channel_count(h.type);

    std::array<channel, 4> chans;
    for (unsigned c = 0; c < nch; ++c) {
        chans[c].best.fill(static_cast<uint8_t>((h.type == image_type::rgb16 ? 5 : 8) - 1));
        chans[c].corr.assign(size_t{h.width} + 1, 0);
        chans[c].cur.assign(h.width, 0);
        chans[c].prev.assign(h.width, 0);
    }
    decoder dec(br, h.type == image_type::rgb16 ? family_5 : family_8);
    group<3> rgb;
    rgb.ch = {&chans[0], &chans[1], &chans[2]};
    group<1> single; // gray, or the alpha of rgba
    single.ch = {h.type == image_type::rgba ? &chans[3] : &chans[0]};

    for (uint32_t y = 0; y < h.height; ++y) {
        const bool first = y == 0;
        bool ok = true;
        if (h.type != image_type::gray) ok = dec.row(rgb, first, h.width);
        if (ok && (h.type == image_type::gray || h.type == image_type::rgba))
            ok = dec.row(single, first, h.width);
        if (!ok) return err(quic_errc::bad_code);
        if (br.overrun()) return err(quic_errc::truncated);
        store_row(std::span(chans.data(), nch), h.type, layout, dest.data() + y * stride, h.width);
        for (unsigned c = 0; c < nch; ++c)
            std::swap(chans[c].cur, chans[c].prev);
    }
    return h;
}

result<image> decode(std::span<const uint8_t> in) {
    auto hdr = read_header(in);
    if (!hdr) return hdr.error();
    image out;
    out.layout = natural_layout(hdr->type);
    out.stride = size_t{hdr->width} * bytes_per_pixel(out.layout);
    out.pixels.resize(out.stride * hdr->height);
    auto h = decode(in, out.layout, out.pixels, out.stride);
    if (!h) return h.error();
    out.hdr = *h;
    return out;
}

} // namespace rs::quic

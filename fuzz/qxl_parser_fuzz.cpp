// The QXL command parser on arbitrary guest memory. The input is the whole
// of guest RAM, copied into a page-aligned buffer mapped as one memslot (the
// mapping of tests/display/guest_memory.hpp, so the seeds its tests write
// decode the same here); its first 8 bytes name the command: u8 QXL_CMD_*,
// u8 command flags, u16 unused, u32 LE offset of the command in the buffer.
// Whatever the bytes, parse_command must return, and every span it hands out
// must lie inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "../tests/display/guest_memory.hpp"
#include "display/qxl_parser.hpp"

namespace {

struct checker {
    std::span<const uint8_t> mem;

    void inside(std::span<const uint8_t> s) const {
        if (s.empty()) return;
        if (s.data() < mem.data() || s.data() + s.size() > mem.data() + mem.size()) std::abort();
    }
    void image(const rs::draw::image_ptr &img) const {
        if (!img) return;
        if (const auto *b = std::get_if<rs::draw::bitmap>(&img->payload)) {
            for (const auto &p : b->data.parts)
                inside(p);
            if (b->data.size() != uint64_t{b->height} * b->stride) std::abort();
            if (b->pal && b->pal->entries.size() > 256) std::abort();
        } else if (const auto *q = std::get_if<rs::draw::quic_data>(&img->payload)) {
            for (const auto &p : q->data.parts)
                inside(p);
        }
    }
    void operator()(const rs::draw::fill &f) const {
        image(f.br.pat.pat);
        image(f.mask.bitmap);
    }
    void operator()(const rs::draw::opaque &o) const {
        image(o.src);
        image(o.br.pat.pat);
        image(o.mask.bitmap);
    }
    void operator()(const rs::draw::copy &c) const {
        image(c.src);
        image(c.mask.bitmap);
    }
    void operator()(const rs::draw::rop3 &r) const {
        image(r.src);
        image(r.br.pat.pat);
        image(r.mask.bitmap);
    }
    void operator()(const rs::draw::transparent &t) const { image(t.src); }
    void operator()(const rs::draw::alpha_blend &a) const { image(a.src); }
    void operator()(const rs::draw::composite &c) const {
        image(c.src);
        image(c.mask);
    }
    void operator()(const rs::draw::text &t) const {
        image(t.fore_brush.pat.pat);
        image(t.back_brush.pat.pat);
        for (const auto &g : t.glyphs) {
            // Glyph bytes are the parser's own copy.
            if (!t.storage) std::abort();
            const auto &st = *t.storage;
            if (g.data.data() < st.data() || g.data.data() + g.data.size() > st.data() + st.size())
                std::abort();
        }
    }
    template <typename T> void operator()(const T &) const {}
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < sizeof(rs::testing::guest_memory::fuzz_header)) return 0;
    rs::testing::guest_memory g(std::span<const uint8_t>(data, size));
    const auto slots = g.table();
    const auto cmd = g.fuzz_command();
    if (!cmd) return 0;
    const auto r = rs::qxl::parse_command(*cmd, slots);
    const checker check{g.bytes()};
    if (const auto *d = std::get_if<rs::draw::drawable>(&r)) {
        std::visit(check, d->op);
        if (d->clp.rects.size() > rs::qxl::parser_limits{}.max_clip_rects) std::abort();
    } else if (const auto *s = std::get_if<rs::draw::surface_cmd>(&r)) {
        check.inside(s->data);
    }
    return 0;
}

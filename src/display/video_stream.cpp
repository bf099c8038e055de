#include "display/video_stream.hpp"

#include <pixman.h>

#include <algorithm>
#include <cstring>

#include "display/bitmap_rows.hpp"
#include "display/codec/image_class.hpp"
#include "display/codec/image_view.hpp"
#include "display/codec/jpeg_encoder.hpp"

namespace rs {

namespace {

const draw::copy *copy_of(const draw::drawable &d) noexcept {
    return std::get_if<draw::copy>(&d.op);
}

const draw::bitmap *bitmap_of(const draw::copy &c) noexcept {
    if (c.src == nullptr || c.src->type != SPICE_IMAGE_TYPE_BITMAP) return nullptr;
    return std::get_if<draw::bitmap>(&c.src->payload);
}

/// The source area of `op` as an image_view: over the bitmap's own memory
/// when it is one span, else a pointer per row into the guest chunks (see
/// chunk_rows; `rows` and `spill` hold them). nullopt when it does not fit.
std::optional<codec::image_view>
source_view(const draw::copy &op, std::vector<const uint8_t *> &rows, std::vector<uint8_t> &spill) {
    const draw::bitmap *b = bitmap_of(op);
    if (b == nullptr) return std::nullopt;
    const uint32_t bpp = codec::rgb_bytes_per_pixel(b->format);
    const draw::rect &a = op.src_area;
    if (bpp == 0 || a.empty() || a.left < 0 || a.top < 0 ||
        static_cast<uint32_t>(a.right) > b->width || static_cast<uint32_t>(a.bottom) > b->height)
        return std::nullopt;
    if (b->stride < static_cast<uint64_t>(b->width) * bpp) return std::nullopt;
    codec::image_view v;
    v.width = static_cast<uint32_t>(a.width());
    v.height = static_cast<uint32_t>(a.height());
    v.stride = b->stride;
    v.format = b->format;
    v.top_down = (b->flags & SPICE_BITMAP_FLAGS_TOP_DOWN) != 0;
    // Visual row y is memory row y (top-down) or height-1-y (bottom-up).
    const uint64_t first_row =
        v.top_down ? static_cast<uint64_t>(a.top) : b->height - static_cast<uint64_t>(a.bottom);
    const uint64_t offset = static_cast<uint64_t>(a.left) * bpp;
    if (b->data.contiguous() && !b->data.parts.empty()) {
        if (b->data.size() < static_cast<uint64_t>(b->stride) * b->height) return std::nullopt;
        v.data = b->data.parts.front().data() + first_row * b->stride + offset;
        return v;
    }
    if (!chunk_rows(b->data, b->stride, first_row, v.height, offset, size_t{v.width} * bpp, rows,
                    spill))
        return std::nullopt;
    v.rows = rows.data();
    return v;
}

} // namespace

video_streams::video_streams(int mode, bool client_can) noexcept
    : _mode(mode)
    , _enabled(client_can && mode != SPICE_STREAM_VIDEO_OFF) {}

bool video_streams::candidate(const draw::drawable &d, uint32_t primary) noexcept {
    if (d.surface_id != primary || d.effect != QXL_EFFECT_OPAQUE) return false;
    if (d.clp.type != SPICE_CLIP_TYPE_NONE && d.clp.type != SPICE_CLIP_TYPE_RECTS) return false;
    const draw::copy *c = copy_of(d);
    if (c == nullptr || c->rop_descriptor != SPICE_ROPD_OP_PUT || c->mask.bitmap != nullptr)
        return false;
    const draw::bitmap *b = bitmap_of(*c);
    return b != nullptr && codec::rgb_bytes_per_pixel(b->format) != 0 && !c->src_area.empty() &&
           !d.bbox.empty();
}

bool video_streams::gradual(const draw::drawable &d) const noexcept {
    // Under ALL the reference leaves graduality invalid, which counts as
    // gradual; under FILTER text and UI (low) do not.
    if (_mode != SPICE_STREAM_VIDEO_FILTER) return true;
    // A chunked frame is classified where the guest put it, not copied.
    auto v = source_view(*copy_of(d), _rows, _spill);
    if (!v) return true;
    return image_class::classify(*v) != image_class::gradual::low;
}

video_streams::stream *video_streams::on_drawable(const draw::drawable &d, uint32_t primary,
                                                  clock::time_point now, bool &started) {
    started = false;
    if (!_enabled || !candidate(d, primary)) return nullptr;
    const draw::copy &c = *copy_of(d);
    const auto sw = static_cast<uint32_t>(c.src_area.width());
    const auto sh = static_cast<uint32_t>(c.src_area.height());
    for (auto &s : _streams) {
        if (s.surface_id == d.surface_id && s.dest == d.bbox && s.src_width == sw &&
            s.src_height == sh && now - s.last <= continuous_max_delta) {
            s.last = now;
            ++s.frames;
            return &s;
        }
    }
    if (_mode == SPICE_STREAM_VIDEO_FILTER &&
        static_cast<int64_t>(sw) * static_cast<int64_t>(sh) < min_filter_area)
        return nullptr;
    if (_trace.empty()) _trace.resize(trace_items);
    const bool is_gradual = gradual(d);
    for (auto &t : _trace) {
        if (!t.used || t.dest != d.bbox || t.src_width != sw || t.src_height != sh ||
            now - t.time > detection_max_delta)
            continue;
        // The next frame of a traced run (video_stream_add_frame).
        t.time = now;
        ++t.frames;
        if (is_gradual) {
            if (t.frames - t.last_gradual > frames_reset_condition) {
                t.frames = 1;
                t.gradual = 1;
            } else {
                ++t.gradual;
            }
            t.last_gradual = t.frames;
        }
        if (t.frames >= frames_start_condition && t.gradual * 5 >= t.frames &&
            _streams.size() < max_streams) {
            t.used = false;
            started = true;
            return &start(d, now);
        }
        return nullptr;
    }
    // A new run replaces a free item or the one updated longest ago, so a
    // run that goes on is not pushed out by one-off drawings around it.
    auto victim = std::min_element(_trace.begin(), _trace.end(),
                                   [](const trace_item &x, const trace_item &y) {
                                       if (x.used != y.used) return !x.used;
                                       return x.time < y.time;
                                   });
    trace_item &t = *victim;
    t = trace_item{.dest = d.bbox,
                   .src_width = sw,
                   .src_height = sh,
                   .time = now,
                   .frames = 1,
                   .gradual = is_gradual ? 1 : 0,
                   .last_gradual = is_gradual ? 1 : 0,
                   .used = true};
    return nullptr;
}

video_streams::stream &video_streams::start(const draw::drawable &d, clock::time_point now) {
    const draw::copy &c = *copy_of(d);
    ++_created;
    // Ids are small and reused only after 2^32 streams; the client indexes
    // its stream table by id and grows it as needed.
    uint32_t id = _next_id;
    auto taken = [&](uint32_t x) {
        return std::any_of(_streams.begin(), _streams.end(),
                           [x](const stream &s) { return s.id == x; });
    };
    while (taken(id))
        id = (id + 1) % max_streams;
    _next_id = (id + 1) % max_streams;
    return _streams.emplace_back(stream{.id = id,
                                        .surface_id = d.surface_id,
                                        .dest = d.bbox,
                                        .src_width = static_cast<uint32_t>(c.src_area.width()),
                                        .src_height = static_cast<uint32_t>(c.src_area.height()),
                                        .last = now,
                                        .frames = 1,
                                        .clip = {},
                                        .clipped = false});
}

std::vector<video_streams::stream> video_streams::take_overlapping(uint32_t surface_id,
                                                                   const draw::rect &area) {
    std::vector<stream> out;
    std::erase_if(_streams, [&](const stream &s) {
        if (s.surface_id != surface_id || s.dest.intersect(area).empty()) return false;
        out.push_back(s);
        return true;
    });
    return out;
}

std::vector<video_streams::stream> video_streams::take_surface(uint32_t surface_id) {
    std::vector<stream> out;
    std::erase_if(_streams, [&](const stream &s) {
        if (s.surface_id != surface_id) return false;
        out.push_back(s);
        return true;
    });
    return out;
}

std::vector<video_streams::stream> video_streams::take_expired(clock::time_point now) {
    std::vector<stream> out;
    std::erase_if(_streams, [&](const stream &s) {
        if (now < s.last + timeout) return false;
        out.push_back(s);
        return true;
    });
    return out;
}

void video_streams::clear() noexcept {
    _streams.clear();
    _trace.clear();
}

void video_streams::remove(uint32_t id) noexcept {
    std::erase_if(_streams, [id](const stream &s) { return s.id == id; });
}

std::optional<video_streams::clock::time_point> video_streams::next_deadline() const noexcept {
    std::optional<clock::time_point> t;
    for (const auto &s : _streams)
        if (!t || s.last + timeout < *t) t = s.last + timeout;
    return t;
}

std::vector<draw::rect> clip_after_cover(const video_streams::stream &s, const draw::rect &cover) {
    pixman_region32_t vis;
    pixman_region32_init_rect(&vis, s.dest.left, s.dest.top, static_cast<unsigned>(s.dest.width()),
                              static_cast<unsigned>(s.dest.height()));
    if (s.clipped) {
        pixman_region32_t c;
        pixman_region32_init(&c);
        for (const auto &r : s.clip)
            if (!r.empty())
                pixman_region32_union_rect(&c, &c, r.left, r.top, static_cast<unsigned>(r.width()),
                                           static_cast<unsigned>(r.height()));
        pixman_region32_intersect(&vis, &vis, &c);
        pixman_region32_fini(&c);
    }
    pixman_region32_t gone;
    pixman_region32_init_rect(&gone, cover.left, cover.top, static_cast<unsigned>(cover.width()),
                              static_cast<unsigned>(cover.height()));
    pixman_region32_subtract(&vis, &vis, &gone);
    pixman_region32_fini(&gone);
    std::vector<draw::rect> out;
    int n = 0;
    const pixman_box32_t *boxes = pixman_region32_rectangles(&vis, &n);
    for (int i = 0; i < n; ++i)
        out.push_back({boxes[i].x1, boxes[i].y1, boxes[i].x2, boxes[i].y2});
    pixman_region32_fini(&vis);
    return out;
}

std::optional<size_t> encode_video_frame(const draw::copy &op, int quality,
                                         std::vector<uint8_t> &out) {
    // A chunked frame is encoded where the guest put it (row pointers).
    std::vector<const uint8_t *> rows;
    std::vector<uint8_t> spill;
    auto v = source_view(op, rows, spill);
    if (!v) return std::nullopt;
    return jpeg::encode(*v, quality, out);
}

uint32_t video_mm_time() noexcept {
    return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

} // namespace rs

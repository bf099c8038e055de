#include "workloads.hpp"

#include "font.hpp"

#include <glib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>
#include <string>

namespace rs::bench::vdi {

using demo::bitmap;
using demo::bitmap_ptr;
using demo::draw_op;
using demo::rect;
namespace font = demo::font;

namespace {

// Colours of the synthetic desktop (xRGB).
constexpr uint32_t desktop_bg = 0x2f5f8f;
constexpr uint32_t taskbar_bg = 0x202428;
constexpr uint32_t window_frame = 0x808890;
constexpr uint32_t title_bg = 0x3c6eb4;
constexpr uint32_t body_bg = 0xf4f4f4;
constexpr uint32_t ink = 0x222222;
constexpr uint32_t white = 0xffffff;
constexpr uint32_t heading_ink = 0x1a3d7c;
constexpr uint32_t link_ink = 0x1a5fd0;

constexpr int taskbar_height = 32;
constexpr int title_height = 24;
constexpr int text_scale = 2;                                  // body text: 12 x 18 px cells
constexpr int line_pitch = font::cell_height * text_scale + 4; // 22 px between lines

constexpr int office_line_width = 400;
constexpr int office_line_height = 40;
constexpr int64_t office_full_period_us = 10'000'000;
constexpr unsigned office_period_ms = 200; // ~5 updates a second
constexpr unsigned office_jitter_ms = 80;  // each interval is 200 +- 80 ms

constexpr unsigned scroll_period_ms = 100; // 10 fps
constexpr int scroll_step = 24;            // rows scrolled per frame
constexpr int scroll_toolbar = 40;         // the browser's fixed toolbar
constexpr int scroll_page_screens = 4;     // the page is 4 screens tall, then wraps

constexpr unsigned video_period_ms = 40; // 25 fps
constexpr int video_bottom_margin = 16;  // rows below the video (the marker's row)
constexpr int video_pan_x = 128;         // the panorama is wider/taller by twice these
constexpr int video_pan_y = 72;

constexpr std::array<std::string_view, 48> vocabulary{
    "the",      "server",   "client",  "display",  "channel", "image",    "stream",  "frame",
    "surface",  "window",   "report",  "quarter",  "budget",  "meeting",  "project", "update",
    "network",  "latency",  "pixel",   "compress", "office",  "draft",    "review",  "account",
    "schedule", "customer", "invoice", "summary",  "and",     "of",       "to",      "with",
    "for",      "a",        "new",     "old",      "quick",   "brown",    "lazy",    "monday",
    "figures",  "growth",   "policy",  "agenda",   "minutes", "proposal", "table",   "chart"};

uint32_t rgb(int r, int g, int b) {
    auto c = [](int v) { return static_cast<uint32_t>(std::clamp(v, 0, 255)); };
    return c(r) << 16 | c(g) << 8 | c(b);
}

void fill(bitmap &bm, rect r, uint32_t color) {
    r = r.intersect(rect{0, 0, bm.width, bm.height});
    for (int y = r.top; y < r.bottom; ++y)
        std::fill(bm.row(y) + r.left, bm.row(y) + r.right, color);
}

void text(bitmap &bm, int x, int y, std::string_view s, uint32_t color, int scale = text_scale) {
    font::draw_text(bm.pixels.data(), bm.width, bm.height, bm.width, x, y, s, color, scale);
}

/// Words from the vocabulary, capitalised first, filling at most `max_chars`.
std::string sentence(rng &r, int max_chars) {
    std::string s;
    while (true) {
        const std::string_view w = vocabulary[r.below(vocabulary.size())];
        const std::size_t need = s.size() + (s.empty() ? 0 : 1) + w.size();
        if (need + 1 > static_cast<std::size_t>(std::max(max_chars, 2))) break;
        if (!s.empty()) s += ' ';
        s += w;
    }
    if (!s.empty()) {
        s[0] = static_cast<char>(s[0] - 'a' + 'A');
        s += '.';
    }
    return s;
}

/// A window with a title bar and lines of body text; returns its body area.
rect window(bitmap &bm, rect frame, std::string_view title, rng &r, bool with_text) {
    fill(bm, frame, window_frame);
    const rect title_bar{frame.left + 1, frame.top + 1, frame.right - 1, frame.top + title_height};
    fill(bm, title_bar, title_bg);
    text(bm, title_bar.left + 8, title_bar.top + 3, title, white);
    const rect body{frame.left + 1, title_bar.bottom, frame.right - 1, frame.bottom - 1};
    fill(bm, body, body_bg);
    if (with_text) {
        const int chars = (body.width() - 16) / (font::cell_width * text_scale);
        for (int y = body.top + 8; y + line_pitch <= body.bottom; y += line_pitch)
            text(bm, body.left + 8, y, sentence(r, chars), ink);
    }
    return body;
}

/// The desktop of idle and office: a W x (H-1) picture (everything but the
/// bottom row, which holds the marker pixel) and a fill of the bottom row
/// right of the marker. Sets `text_area` to the editor's body.
void desktop_paint(int w, int h, uint64_t seed, std::vector<draw_op> &ops, rect &text_area) {
    rng r(seed);
    auto bm = std::make_shared<bitmap>(w, h - 1, desktop_bg);
    const int bar_top = h - 1 - (taskbar_height - 1);
    fill(*bm, rect{0, bar_top, w, h - 1}, taskbar_bg);
    fill(*bm, rect{4, bar_top + 4, 84, h - 1}, 0x3a7a3a);
    text(*bm, 14, bar_top + 6, "Start", white);
    text(*bm, w - 80, bar_top + 6, "09:41", white);

    const int split = w * 62 / 100;
    const rect editor{24, 24, split, bar_top - 24};
    text_area = window(*bm, editor, "Report.odt - Writer", r, true);
    text_area =
        rect{text_area.left + 8, text_area.top + 8, text_area.right - 8, text_area.bottom - 8};
    window(*bm, rect{split + 24, 24, w - 24, (bar_top) / 2 - 12}, "Inbox - Mail", r, true);
    const rect mon = window(*bm, rect{split + 24, bar_top / 2 + 12, w - 24, bar_top - 24},
                            "System Monitor", r, false);
    for (int i = 0; i < 6; ++i) {
        const int y = mon.top + 12 + i * 28;
        if (y + 18 > mon.bottom) break;
        const int len = static_cast<int>(r.below(static_cast<uint32_t>(mon.width() - 40))) + 10;
        fill(*bm, rect{mon.left + 12, y, mon.left + 12 + len, y + 18},
             rgb(60 + i * 30, 160 - i * 15, 90 + i * 20));
    }
    bm->seal();
    ops.push_back(draw_op{draw_op::kind::copy, rect{0, 0, w, h - 1}, 0, bm, 0, 0});
    ops.push_back(draw_op{draw_op::kind::fill, rect{1, h - 1, w, h}, taskbar_bg, nullptr, 0, 0});
}

// idle ------------------------------------------------------------------------------

class idle_workload final : public workload {
  public:
    idle_workload(int w, int h, uint64_t seed)
        : _w(w)
        , _h(h)
        , _seed(seed) {}
    void first_paint(std::vector<draw_op> &ops) override {
        rect area;
        desktop_paint(_w, _h, _seed, ops, area);
    }
    void next_frame(std::vector<draw_op> &) override {}
    unsigned interval_ms() override { return 0; }
    unsigned period_ms() const noexcept override { return 0; }

  private:
    int _w;
    int _h;
    uint64_t _seed;
};

// office ----------------------------------------------------------------------------

class office_workload final : public workload {
  public:
    office_workload(int w, int h, uint64_t seed)
        : _w(w)
        , _h(h)
        , _seed(seed)
        , _rng(seed ^ 0x0ff1ce) {}

    void first_paint(std::vector<draw_op> &ops) override {
        desktop_paint(_w, _h, _seed, ops, _area);
        _last_full_us = g_get_monotonic_time();
    }

    void next_frame(std::vector<draw_op> &ops) override {
        const int64_t now = g_get_monotonic_time();
        if (now - _last_full_us >= office_full_period_us) {
            _last_full_us = now;
            ops.push_back(full_page());
        } else {
            ops.push_back(line());
        }
    }

    unsigned interval_ms() override {
        return office_period_ms - office_jitter_ms + _rng.below(2 * office_jitter_ms + 1);
    }
    unsigned period_ms() const noexcept override { return office_period_ms; }

  private:
    // A 400x40 bitmap of two freshly typed lines at a random line slot of the
    // editor's text area.
    draw_op line() {
        const int lw = std::min(office_line_width, _area.width());
        const int lh = std::min(office_line_height, _area.height());
        if (!_line || _line->width != lw || _line->height != lh)
            _line = std::make_shared<bitmap>(lw, lh, body_bg);
        std::fill(_line->pixels.begin(), _line->pixels.end(), body_bg);
        const int chars = (lw - 8) / (font::cell_width * text_scale);
        text(*_line, 4, 1, sentence(_rng, chars), ink);
        text(*_line, 4, 1 + lh / 2, sentence(_rng, chars), ink);
        _line->seal();
        const int slots_x = std::max(1, (_area.width() - lw) / 48 + 1); // tab stops
        const int slots_y = std::max(1, _area.height() / lh);
        const int x =
            _area.left + 48 * static_cast<int>(_rng.below(static_cast<uint32_t>(slots_x)));
        const int y = _area.top + lh * static_cast<int>(_rng.below(static_cast<uint32_t>(slots_y)));
        return draw_op{draw_op::kind::copy, rect{x, y, x + lw, y + lh}, 0, _line, 0, 0};
    }

    // A full-screen (all but the marker's row) page of new text.
    draw_op full_page() {
        if (!_page) _page = std::make_shared<bitmap>(_w, _h - 1, white);
        std::fill(_page->pixels.begin(), _page->pixels.end(), white);
        fill(*_page, rect{0, 0, _w, 36}, 0xdde3ea);
        text(*_page, 16, 8, "Report.odt - page " + std::to_string(++_pages), ink);
        const int margin = _w / 10;
        text(*_page, margin, 56, sentence(_rng, 40), heading_ink, 3);
        const int chars = (_w - 2 * margin) / (font::cell_width * text_scale);
        int y = 100;
        while (y + line_pitch < _h - 1) {
            for (int i = 0; i < 6 && y + line_pitch < _h - 1; ++i, y += line_pitch)
                text(*_page, margin, y, sentence(_rng, chars), ink);
            y += line_pitch; // paragraph break
        }
        _page->seal();
        return draw_op{draw_op::kind::copy, rect{0, 0, _w, _h - 1}, 0, _page, 0, 0};
    }

    int _w;
    int _h;
    uint64_t _seed;
    rng _rng;
    rect _area;
    int64_t _last_full_us = 0;
    int _pages = 0;
    std::shared_ptr<bitmap> _line;
    std::shared_ptr<bitmap> _page;
};

// scroll ----------------------------------------------------------------------------

/// A tall web page: headings, paragraphs, picture blocks and a sidebar.
bitmap_ptr make_scroll_page(int w, int h) {
    const int page_h = h * scroll_page_screens;
    auto bm = std::make_shared<bitmap>(w, page_h, white);
    rng r(0x5c7011);
    const int margin = w / 12;
    const int column = w * 62 / 100;
    const int side_left = margin + column + 32;
    const int chars = column / (font::cell_width * text_scale);
    int y = 24;
    while (y < page_h - 4 * line_pitch) {
        text(*bm, margin, y, sentence(r, column / (font::cell_width * 3)), heading_ink, 3);
        y += font::cell_height * 3 + 12;
        const int paragraphs = 1 + static_cast<int>(r.below(3));
        for (int p = 0; p < paragraphs && y < page_h - 2 * line_pitch; ++p) {
            const int lines = 3 + static_cast<int>(r.below(6));
            for (int i = 0; i < lines && y < page_h - line_pitch; ++i, y += line_pitch)
                text(*bm, margin, y, sentence(r, chars), r.below(9) == 0 ? link_ink : ink);
            y += line_pitch / 2;
        }
        if (r.below(3) == 0 && y + 200 < page_h) { // a picture with a caption
            const int pw = std::min(column, 360);
            const int base = static_cast<int>(r.below(200));
            for (int py = 0; py < 160; ++py)
                for (int px = 0; px < pw; ++px)
                    bm->row(y + py)[margin + px] =
                        rgb(base + px / 3, 120 + py / 2, 200 - px / 4 + py / 3);
            text(*bm, margin, y + 166, sentence(r, pw / (font::cell_width * text_scale)), 0x666666);
            y += 200;
        }
        y += line_pitch;
    }
    // The sidebar: boxes of links down the whole page.
    for (int by = 24; side_left + 64 < w && by + 220 < page_h; by += 260) {
        fill(*bm, rect{side_left, by, w - margin / 2, by + 220}, 0xeef1f5);
        const int side_chars = (w - margin / 2 - side_left - 16) / (font::cell_width * text_scale);
        text(*bm, side_left + 8, by + 8, sentence(r, side_chars), heading_ink);
        for (int i = 0; i < 7; ++i)
            text(*bm, side_left + 8, by + 40 + i * line_pitch, sentence(r, side_chars), link_ink);
    }
    bm->seal();
    return bm;
}

class scroll_workload final : public workload {
  public:
    scroll_workload(int w, int h, uint64_t seed, shared_assets &assets)
        : _w(w)
        , _h(h) {
        auto &page = assets.scroll_pages[{w, h}];
        if (!page) page = make_scroll_page(w, h);
        _page = page;
        rng r(seed);
        _offset = scroll_step *
                  static_cast<int>(r.below(static_cast<uint32_t>(_page->height / scroll_step)));
        _frame = std::make_shared<bitmap>(w, h - 1, white);
    }

    void first_paint(std::vector<draw_op> &ops) override {
        ops.push_back(frame());
        ops.push_back(draw_op{draw_op::kind::fill, rect{1, _h - 1, _w, _h}, white, nullptr, 0, 0});
    }
    void next_frame(std::vector<draw_op> &ops) override {
        _offset = (_offset + scroll_step) % _page->height;
        ops.push_back(frame());
    }
    unsigned interval_ms() override { return scroll_period_ms; }
    unsigned period_ms() const noexcept override { return scroll_period_ms; }

  private:
    // The browser's fixed toolbar (with a frame counter, so no two frames are
    // the same image) over the page window at _offset, wrapping.
    draw_op frame() {
        bitmap &f = *_frame;
        fill(f, rect{0, 0, _w, scroll_toolbar}, 0xe4e6ea);
        fill(f, rect{80, 8, _w - 80, scroll_toolbar - 8}, white);
        text(f, 90, 11, "https://news.example.test/article/" + std::to_string(++_frames), ink);
        const std::size_t row_bytes = static_cast<std::size_t>(_w) * 4;
        for (int y = scroll_toolbar; y < f.height; ++y) {
            const int src = (_offset + y - scroll_toolbar) % _page->height;
            std::memcpy(f.row(y), _page->row(src), row_bytes);
        }
        f.seal();
        return draw_op{draw_op::kind::copy, rect{0, 0, _w, _h - 1}, 0, _frame, 0, 0};
    }

    int _w;
    int _h;
    bitmap_ptr _page;
    int _offset = 0;
    uint64_t _frames = 0;
    std::shared_ptr<bitmap> _frame;
};

// video -----------------------------------------------------------------------------

/// A photo-like landscape (sky, sun, hills, textured ground, low noise),
/// larger than the video by the pan range.
bitmap_ptr make_panorama(int w, int h) {
    const int pw = w + 2 * video_pan_x;
    const int ph = h + 2 * video_pan_y;
    auto bm = std::make_shared<bitmap>(pw, ph, 0);
    std::vector<int> horizon(static_cast<std::size_t>(pw));
    for (int x = 0; x < pw; ++x)
        horizon[static_cast<std::size_t>(x)] = static_cast<int>(
            ph * 0.55 + ph * 0.08 * std::sin(x * 0.004) + ph * 0.03 * std::sin(x * 0.017 + 1.3) +
            ph * 0.01 * std::sin(x * 0.05));
    const double sun_x = pw * 0.7;
    const double sun_y = ph * 0.25;
    const double sun_r = ph * 0.07;
    uint32_t noise = 0x12345678;
    for (int y = 0; y < ph; ++y) {
        uint32_t *row = bm->row(y);
        for (int x = 0; x < pw; ++x) {
            noise = noise * 1664525u + 1013904223u;
            const int n = static_cast<int>(noise >> 29) - 3; // -3 .. 4
            const int hz = horizon[static_cast<std::size_t>(x)];
            int r;
            int g;
            int b;
            if (y < hz) { // sky: deep blue to pale near the horizon, a sun
                const double t = static_cast<double>(y) / hz;
                r = static_cast<int>(60 + 140 * t);
                g = static_cast<int>(110 + 110 * t);
                b = static_cast<int>(200 + 40 * t);
                const double dx = x - sun_x;
                const double dy = y - sun_y;
                const double d = std::sqrt(dx * dx + dy * dy);
                if (d < sun_r * 3) {
                    const double glow = d < sun_r ? 1.0 : (sun_r * 3 - d) / (sun_r * 2);
                    r += static_cast<int>(glow * glow * 120);
                    g += static_cast<int>(glow * glow * 100);
                    b += static_cast<int>(glow * glow * 30);
                }
            } else { // ground: green hills darkening to the front, soft texture
                const double t = static_cast<double>(y - hz) / std::max(1, ph - hz);
                const double tex = std::sin(x * 0.03 + y * 0.011) * 10 + std::sin(x * 0.007) * 14;
                r = static_cast<int>(70 - 30 * t + tex);
                g = static_cast<int>(140 - 50 * t + tex);
                b = static_cast<int>(50 - 20 * t + tex / 2);
            }
            row[x] = rgb(r + n, g + n, b + n);
        }
    }
    bm->seal();
    return bm;
}

class video_workload final : public workload {
  public:
    video_workload(int w, int h, uint64_t seed, shared_assets &assets)
        : _w(w)
        , _h(h)
        , _vh(h - video_bottom_margin) {
        auto &pano = assets.video_panoramas[{w, _vh}];
        if (!pano) pano = make_panorama(w, _vh);
        _pano = pano;
        rng r(seed);
        _t = static_cast<int>(r.below(100000));
        _radius = std::max(8, _vh / 10);
        _bx = static_cast<int>(r.below(static_cast<uint32_t>(w - 2 * _radius)));
        _by = static_cast<int>(r.below(static_cast<uint32_t>(_vh - 2 * _radius)));
        // The moving object: a shaded ball, precomputed with its mask.
        const int d = 2 * _radius;
        _ball.assign(static_cast<std::size_t>(d) * static_cast<std::size_t>(d), 0);
        for (int y = 0; y < d; ++y)
            for (int x = 0; x < d; ++x) {
                const double dx = (x - _radius + 0.5) / _radius;
                const double dy = (y - _radius + 0.5) / _radius;
                if (dx * dx + dy * dy > 1) continue;
                const double lx = dx + 0.4;
                const double ly = dy + 0.4;
                const double light = std::max(0.0, 1 - std::sqrt(lx * lx + ly * ly) / 1.6);
                _ball[static_cast<std::size_t>(y * d + x)] =
                    0xff000000u |
                    rgb(static_cast<int>(120 + 135 * light), static_cast<int>(30 + 100 * light),
                        static_cast<int>(20 + 60 * light));
            }
        _frame = std::make_shared<bitmap>(w, _vh, 0);
    }

    void first_paint(std::vector<draw_op> &ops) override {
        ops.push_back(frame());
        ops.push_back(
            draw_op{draw_op::kind::fill, rect{0, _vh, _w, _h - 1}, 0x101010, nullptr, 0, 0});
        ops.push_back(
            draw_op{draw_op::kind::fill, rect{1, _h - 1, _w, _h}, 0x101010, nullptr, 0, 0});
    }
    void next_frame(std::vector<draw_op> &ops) override {
        ++_t;
        _bx += _vx;
        _by += _vy;
        if (_bx < 0 || _bx + 2 * _radius > _w) { // bounce off the sides
            _vx = -_vx;
            _bx = std::clamp(_bx, 0, _w - 2 * _radius);
        }
        if (_by < 0 || _by + 2 * _radius > _vh) {
            _vy = -_vy;
            _by = std::clamp(_by, 0, _vh - 2 * _radius);
        }
        ops.push_back(frame());
    }
    unsigned interval_ms() override { return video_period_ms; }
    unsigned period_ms() const noexcept override { return video_period_ms; }

  private:
    // The panorama window at this frame's pan (periods 239 and 181 frames:
    // the pan repeats only after hours), with the ball over it.
    draw_op frame() {
        constexpr double two_pi = 2 * std::numbers::pi;
        const int ox = video_pan_x + static_cast<int>(video_pan_x * std::sin(two_pi * _t / 239));
        const int oy = video_pan_y + static_cast<int>(video_pan_y * std::sin(two_pi * _t / 181));
        bitmap &f = *_frame;
        const std::size_t row_bytes = static_cast<std::size_t>(_w) * 4;
        for (int y = 0; y < _vh; ++y)
            std::memcpy(f.row(y), _pano->row(oy + y) + ox, row_bytes);
        const int d = 2 * _radius;
        for (int y = 0; y < d; ++y) {
            uint32_t *dst = f.row(_by + y) + _bx;
            const uint32_t *src = _ball.data() + static_cast<std::size_t>(y * d);
            for (int x = 0; x < d; ++x)
                if (src[x] != 0) dst[x] = src[x] & 0xffffff;
        }
        f.seal();
        return draw_op{draw_op::kind::copy, rect{0, 0, _w, _vh}, 0, _frame, 0, 0};
    }

    int _w;
    int _h;
    int _vh; // video height
    bitmap_ptr _pano;
    int _t = 0;
    int _radius;
    int _bx;
    int _by;
    int _vx = 7;
    int _vy = 4;
    std::vector<uint32_t> _ball; // ARGB, alpha 0 outside the ball
    std::shared_ptr<bitmap> _frame;
};

} // namespace

uint64_t rng::next() noexcept {
    uint64_t z = (_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::optional<workload_kind> workload_named(std::string_view name) {
    if (name == "idle") return workload_kind::idle;
    if (name == "office") return workload_kind::office;
    if (name == "scroll") return workload_kind::scroll;
    if (name == "video") return workload_kind::video;
    return std::nullopt;
}

const char *workload_name(workload_kind kind) noexcept {
    switch (kind) {
    case workload_kind::idle:
        return "idle";
    case workload_kind::office:
        return "office";
    case workload_kind::scroll:
        return "scroll";
    case workload_kind::video:
        return "video";
    }
    return "?";
}

std::unique_ptr<workload> make_workload(workload_kind kind, int width, int height, uint64_t seed,
                                        shared_assets &assets) {
    switch (kind) {
    case workload_kind::idle:
        return std::make_unique<idle_workload>(width, height, seed);
    case workload_kind::office:
        return std::make_unique<office_workload>(width, height, seed);
    case workload_kind::scroll:
        return std::make_unique<scroll_workload>(width, height, seed, assets);
    case workload_kind::video:
        return std::make_unique<video_workload>(width, height, seed, assets);
    }
    return nullptr;
}

} // namespace rs::bench::vdi

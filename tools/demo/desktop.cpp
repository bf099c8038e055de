#include "desktop.hpp"

#include <spice/enums.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>

#include "font.hpp"

namespace rs::demo {
namespace {

constexpr int taskbar_height = 28;
constexpr int video_width = 320;
constexpr int video_height = 240;
constexpr int band_height = 16;
constexpr int title_height = 18;
constexpr int line_height = 11;
constexpr int text_pad = 6;
constexpr std::size_t max_dots = 64;
constexpr std::size_t max_text = 4096;

constexpr uint32_t border_color = 0x202020;
constexpr uint32_t body_color = 0xf4f4f0;
constexpr uint32_t text_color = 0x101010;
constexpr uint32_t title_text_color = 0xffffff;
constexpr uint32_t taskbar_color = 0x2b2b2b;
constexpr uint32_t log_bg = 0x101820;
constexpr uint32_t log_fg = 0x80ff80;
constexpr uint32_t marker_color = 0xffd000;

uint32_t rgb(int r, int g, int b) {
    return static_cast<uint32_t>(r) << 16 | static_cast<uint32_t>(g) << 8 |
           static_cast<uint32_t>(b);
}

// Desktop gradient: band `i` of `n`, dark blue at the top to teal.
uint32_t band_color(int i, int n) {
    const int d = std::max(1, n - 1);
    return rgb(0x10 + (0x20 - 0x10) * i / d, 0x28 + (0x80 - 0x28) * i / d,
               0x58 + (0x90 - 0x58) * i / d);
}

// A triangle wave: 0, 1, ..., range, range-1, ..., 0, ...
int bounce(uint64_t t, int range) {
    if (range <= 0) return 0;
    const uint64_t period = 2 * static_cast<uint64_t>(range);
    const auto p = static_cast<int>(t % period);
    return p <= range ? p : 2 * range - p;
}

constexpr std::array<const char *, 12> log_phrases = {
    "worker: drained 12 commands",  "display: surface 0 updated",
    "cursor: moved along its path", "qxl: release ring returned blocks",
    "the quick brown fox jumps",    "over the lazy dog 0123456789",
    "inputs: waiting for keys",     "main: ping 0.4 ms",
    "glz: dictionary 8 MiB",        "stream: none (static text)",
    "memslot 0 gen 1 group 0",      "lorem ipsum dolor sit amet",
};

// Set 1 make codes to characters (unshifted, shifted); 0: not a character.
struct key_chars {
    char plain;
    char shifted;
};
constexpr std::array<key_chars, 0x3a> scancode_chars = [] {
    std::array<key_chars, 0x3a> t{};
    auto row = [&t](uint8_t first, const char *plain, const char *shifted) {
        for (int i = 0; plain[i] != 0; ++i)
            t[first + i] = {plain[i], shifted[i]};
    };
    row(0x02, "1234567890-=", "!@#$%^&*()_+");
    row(0x10, "qwertyuiop[]", "QWERTYUIOP{}");
    row(0x1e, "asdfghjkl;'`", "ASDFGHJKL:\"~");
    row(0x2b, "\\zxcvbnm,./", "|ZXCVBNM<>?");
    t[0x39] = {' ', ' '};
    return t;
}();

// The arrow: 'X' black, 'o' white, ' ' transparent.
constexpr std::array<const char *, 19> arrow_art = {
    "X           ", "XX          ", "XoX         ", "XooX        ", "XoooX       ",
    "XooooX      ", "XoooooX     ", "XooooooX    ", "XoooooooX   ", "XooooooooX  ",
    "XoooooooooX ", "XooooooXXXXX", "XoooXooX    ", "XooXXooX    ", "XoX  XooX   ",
    "XX   XooX   ", "X     XooX  ", "      XooX  ", "       XX   ",
};

} // namespace

desktop::desktop(int width, int height, bool photo, bool video, int head)
    : _head(head)
    , _photo(photo ? photo_bitmap(width, height - taskbar_height) : nullptr)
    , _video_source(video ? photo_bitmap(2 * video_width, 2 * video_height) : nullptr)
    , _width(width)
    , _height(height)
    , _screen(static_cast<std::size_t>(width) * static_cast<std::size_t>(height), 0)
    , _pointer_x(width / 2)
    , _pointer_y(height / 2) {
    _about = {{24, 24, 464, 194},
              head == 0 ? std::string("About ringspice")
                        : "About ringspice: head " + std::to_string(head),
              0x3060a0};
    _typed = {{width - 484, 24, width - 24, 224}, "Typed text", 0x2a7a3a};
    _log = {{24, 220, 464, std::min(520, height - taskbar_height - 24)}, "Scrolling log", 0x7a3a8a};
    if (video) {
        // The video takes the about window's place; the log moves below it.
        const rect v = video_area();
        _log.frame.top = v.bottom + 16;
        _log.frame.bottom = std::min(v.bottom + 316, height - taskbar_height - 24);
    }
    _moving = {{0, 0, 240, 100}, "Moving window", 0xa05a20};
    _moving.frame = moving_frame();
    _moving_painted = _moving.frame;

    _cursor.width = 32;
    _cursor.height = 32;
    _cursor.hot_x = 0;
    _cursor.hot_y = 0;
    _cursor.pixels.assign(32 * 32, 0);
    for (std::size_t y = 0; y < arrow_art.size(); ++y)
        for (int x = 0; arrow_art[y][x] != 0; ++x) {
            const char c = arrow_art[y][x];
            _cursor.pixels[y * 32 + static_cast<std::size_t>(x)] = c == 'X'   ? 0xff000000
                                                                   : c == 'o' ? 0xffffffff
                                                                              : 0;
        }

    invalidate({0, 0, width, height});
}

// Geometry --------------------------------------------------------------------

rect desktop::body(const window &w) const {
    return {w.frame.left + 1, w.frame.top + 1 + title_height + 1, w.frame.right - 1,
            w.frame.bottom - 1};
}

rect desktop::moving_frame() const {
    const int w = _moving.frame.width();
    const int h = _moving.frame.height();
    const int x0 = 490;
    const int y0 = 250;
    const int x1 = std::max(x0, _width - 24 - w);
    const int y1 = std::max(y0, _height - taskbar_height - 24 - h);
    const int x = x0 + bounce(_frame * 2, x1 - x0);
    const int y = y0 + bounce(_frame, y1 - y0);
    return {x, y, x + w, y + h};
}

rect desktop::video_area() const {
    if (!_video_source) return {};
    return {24, 24, 24 + video_width, 24 + video_height};
}

rect desktop::counter_area() const {
    const int top = _height - taskbar_height;
    const int text_w = font::text_width("frame 000000", 2);
    return {_width - 8 - 20 - 8 - text_w, top + 1, _width, _height};
}

rect desktop::marker_area() const {
    return {_pointer_x - 6, _pointer_y - 6, _pointer_x + 7, _pointer_y + 7};
}

std::pair<int, int> desktop::cursor_position() const {
    const double t = static_cast<double>(_frame);
    const int x = _width / 2 + static_cast<int>(std::lround(_width * 0.4 * std::sin(t * 0.021)));
    const int y = _height / 2 + static_cast<int>(std::lround(_height * 0.4 * std::sin(t * 0.034)));
    return {std::clamp(x, 0, _width - 1), std::clamp(y, 0, _height - 1)};
}

// Dirty region ------------------------------------------------------------------

void desktop::invalidate(const rect &r) {
    rect add = r.intersect({0, 0, _width, _height});
    if (add.empty()) return;
    // Merge with whatever it touches, so overlapping areas repaint once.
    for (bool merged = true; merged;) {
        merged = false;
        for (auto it = _dirty.begin(); it != _dirty.end(); ++it) {
            if (it->touches(add)) {
                add = add.unite(*it);
                _dirty.erase(it);
                merged = true;
                break;
            }
        }
    }
    _dirty.push_back(add);
    if (_dirty.size() > 16) {
        rect all;
        for (const auto &d : _dirty)
            all = all.unite(d);
        _dirty.assign(1, all);
    }
}

void desktop::changed() {
    if (on_change) on_change();
}

void desktop::animate() {
    ++_frame;
    _moving.frame = moving_frame();
    if (!(_moving.frame == _moving_painted)) {
        invalidate(_moving_painted);
        invalidate(_moving.frame);
        _moving_painted = _moving.frame;
    }
    invalidate(body(_log));
    invalidate(counter_area());
    if (_video_source) invalidate(video_area());
}

// Display list --------------------------------------------------------------------

void desktop::add_fill(std::vector<draw_op> &out, const rect &r, uint32_t color) const {
    const rect a = r.intersect({0, 0, _width, _height});
    if (a.empty()) return;
    draw_op op;
    op.type = draw_op::kind::fill;
    op.area = a;
    op.color = color;
    out.push_back(std::move(op));
}

void desktop::add_copy(std::vector<draw_op> &out, const bitmap_ptr &bm, int x, int y,
                       const rect &clip) const {
    const rect a = rect{x, y, x + bm->width, y + bm->height}.intersect(clip).intersect(
        {0, 0, _width, _height});
    if (a.empty()) return;
    draw_op op;
    op.type = draw_op::kind::copy;
    op.area = a;
    op.src = bm;
    op.src_x = a.left - x;
    op.src_y = a.top - y;
    out.push_back(std::move(op));
}

bitmap_ptr desktop::text_bitmap(const std::string &text, uint32_t fg, uint32_t bg, int scale) {
    std::string key = text;
    key += '\0';
    key += std::to_string(fg) + ':' + std::to_string(bg) + ':' + std::to_string(scale);
    if (auto it = _text_cache.find(key); it != _text_cache.end()) return it->second;
    auto bm = std::make_shared<bitmap>(std::max(1, font::text_width(text, scale)),
                                       font::text_height(scale), bg);
    font::draw_text(bm->pixels.data(), bm->width, bm->height, bm->width, 0, 0, text, fg, scale);
    bm->seal();
    if (_text_cache.size() > 1024) _text_cache.clear();
    _text_cache.emplace(std::move(key), bm);
    return bm;
}

void desktop::add_text(std::vector<draw_op> &out, const std::string &text, int x, int y,
                       uint32_t fg, uint32_t bg, int scale, const rect &clip) {
    if (text.empty()) return;
    add_copy(out, text_bitmap(text, fg, bg, scale), x, y, clip);
}

void desktop::paint_window(std::vector<draw_op> &out, const window &w) const {
    add_fill(out, w.frame, border_color);
    add_fill(out,
             {w.frame.left + 1, w.frame.top + 1, w.frame.right - 1, w.frame.top + 1 + title_height},
             w.title_color);
    add_fill(out, body(w), body_color);
}

bitmap_ptr desktop::photo_bitmap(int width, int height) {
    // Smooth colour fields (a sky-like vertical gradient, soft hills of
    // overlapping waves) plus a little deterministic grain: every
    // neighbouring pixel differs slightly, as in a photograph.
    auto bm = std::make_shared<bitmap>(width, height, 0);
    uint32_t seed = 0x2545f491;
    for (int y = 0; y < height; ++y) {
        uint32_t *row = bm->row(y);
        for (int x = 0; x < width; ++x) {
            seed = seed * 1664525u + 1013904223u;
            const int grain = static_cast<int>((seed >> 24) % 7) - 3;
            const double fx = x / 97.0;
            const double fy = y / 71.0;
            const double wave = std::sin(fx + std::sin(fy) * 1.7) * 0.5 + 0.5;
            const double hill = std::cos(fx * 0.6 - fy * 0.9) * 0.5 + 0.5;
            const double t = static_cast<double>(y) / std::max(1, height - 1);
            auto c = [&](double v) { return std::clamp(static_cast<int>(v) + grain, 0, 255); };
            const int r = c(40 + 120 * t + 60 * wave);
            const int g = c(70 + 90 * hill + 40 * (1 - t));
            const int b = c(200 - 110 * t + 30 * wave * hill);
            row[x] = rgb(r, g, b);
        }
    }
    bm->seal();
    return bm;
}

bitmap_ptr desktop::video_bitmap() {
    // A fresh bitmap every frame (new pixels, new id): a window panning over
    // a larger photo-like image, its brightness pulsing a little.
    if (_video_frame && _video_frame_no == _frame) return _video_frame;
    auto bm = std::make_shared<bitmap>(video_width, video_height, 0);
    const int ox = bounce(_frame * 3, video_width);
    const int oy = bounce(_frame * 2, video_height);
    const int pulse = bounce(_frame, 32) - 16;
    for (int y = 0; y < video_height; ++y) {
        const uint32_t *src = _video_source->row(oy + y) + ox;
        uint32_t *dst = bm->row(y);
        for (int x = 0; x < video_width; ++x) {
            const uint32_t p = src[x];
            auto ch = [&](int shift) {
                return static_cast<uint32_t>(
                    std::clamp(static_cast<int>((p >> shift) & 0xff) + pulse, 0, 255));
            };
            dst[x] = (ch(16) << 16) | (ch(8) << 8) | ch(0);
        }
    }
    bm->seal();
    _video_frame = bm;
    _video_frame_no = _frame;
    return bm;
}

bitmap_ptr desktop::log_bitmap() {
    if (_log_cache && _log_cache_frame == _frame) return _log_cache;
    const rect b = body(_log);
    auto bm = std::make_shared<bitmap>(b.width(), b.height(), log_bg);
    const auto offset = static_cast<int64_t>(_frame); // one pixel a frame
    const int64_t first = offset / line_height;
    const int shift = static_cast<int>(offset % line_height);
    for (int k = 0; k * line_height - shift < b.height(); ++k) {
        const int64_t n = first + k;
        char line[96];
        // Heads past the first log their own lines, so each head sends
        // images of its own besides the ones all heads share.
        if (_head == 0)
            std::snprintf(line, sizeof line, "%06lld  %s", static_cast<long long>(n),
                          log_phrases[static_cast<std::size_t>(n) % log_phrases.size()]);
        else
            std::snprintf(line, sizeof line, "%06lld  head %d: %s", static_cast<long long>(n),
                          _head, log_phrases[static_cast<std::size_t>(n) % log_phrases.size()]);
        font::draw_text(bm->pixels.data(), bm->width, bm->height, bm->width, text_pad,
                        k * line_height - shift + 1, line, log_fg);
    }
    bm->seal();
    _log_cache = bm;
    _log_cache_frame = _frame;
    return bm;
}

std::vector<std::string> desktop::typed_lines() const {
    const rect b = body(_typed);
    const auto cols =
        static_cast<std::size_t>(std::max(1, (b.width() - 2 * text_pad) / font::cell_width));
    std::vector<std::string> lines(1);
    for (char c : _text) {
        if (c == '\n') {
            lines.emplace_back();
            continue;
        }
        if (lines.back().size() >= cols) lines.emplace_back();
        lines.back() += c;
    }
    if (lines.back().size() >= cols) lines.emplace_back();
    lines.back() += '_'; // the caret
    const auto rows = static_cast<std::size_t>(std::max(1, (b.height() - 4) / line_height));
    if (lines.size() > rows) lines.erase(lines.begin(), lines.end() - static_cast<long>(rows));
    return lines;
}

std::vector<draw_op> desktop::scene() {
    std::vector<draw_op> out;
    const int desk_h = _height - taskbar_height;

    // Background: a photo-like image, or horizontal bands of a gradient.
    if (_photo) {
        add_copy(out, _photo, 0, 0, {0, 0, _width, desk_h});
    } else {
        const int bands = (desk_h + band_height - 1) / band_height;
        for (int i = 0; i < bands; ++i)
            add_fill(out, {0, i * band_height, _width, std::min(desk_h, (i + 1) * band_height)},
                     band_color(i, bands));
    }

    // Taskbar: label, per-frame counter and a square whose colour changes.
    add_fill(out, {0, desk_h, _width, _height}, taskbar_color);
    add_fill(out, {0, desk_h, _width, desk_h + 1}, 0x505050);
    const rect screen{0, 0, _width, _height};
    add_text(out, "ringspice demo", 8, desk_h + 5, 0xffffff, taskbar_color, 2, screen);
    char counter[32];
    std::snprintf(counter, sizeof counter, "frame %06llu",
                  static_cast<unsigned long long>(_frame % 1000000));
    const rect ca = counter_area();
    add_text(out, counter, ca.left, desk_h + 5, 0xffd060, taskbar_color, 2, screen);
    const auto f = static_cast<int>(_frame % 256);
    add_fill(out, {_width - 28, desk_h + 4, _width - 8, desk_h + 24},
             rgb((f * 7) & 0xff, (f * 3 + 0x40) & 0xff, (255 - f * 5) & 0xff));

    // Window: about (not with the video, which plays where it would be).
    if (!_video_source) paint_window(out, _about);
    add_text(out, _about.title, _about.frame.left + text_pad, _about.frame.top + 1 + 4,
             title_text_color, _about.title_color, 1, _video_source ? rect{} : _about.frame);
    static constexpr std::array<const char *, 8> about_lines = {
        "ringspice: a SPICE server on io_uring.",
        "This desktop is drawn by a fake QXL device",
        "through the public spice.h API, as QEMU does.",
        "Every frame a window moves, the log scrolls",
        "and the counter in the taskbar changes.",
        "Type: the keys appear on the right.",
        "Click: a dot stays where you clicked.",
        "Move: a yellow marker follows the pointer.",
    };
    const rect ab = _video_source ? rect{} : body(_about);
    for (std::size_t i = 0; i < about_lines.size(); ++i)
        add_text(out, about_lines[i], ab.left + text_pad,
                 ab.top + 4 + static_cast<int>(i) * line_height, text_color, body_color, 1, ab);

    // Window: typed text.
    paint_window(out, _typed);
    std::string title = "Typed text";
    if ((_leds & SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK) != 0) title += " [CAPS]";
    if ((_leds & SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK) != 0) title += " [NUM]";
    if ((_leds & SPICE_KEYBOARD_MODIFIER_FLAGS_SCROLL_LOCK) != 0) title += " [SCROLL]";
    add_text(out, title, _typed.frame.left + text_pad, _typed.frame.top + 1 + 4, title_text_color,
             _typed.title_color, 1, _typed.frame);
    const rect tb = body(_typed);
    const auto lines = typed_lines();
    for (std::size_t i = 0; i < lines.size(); ++i)
        add_text(out, lines[i], tb.left + text_pad, tb.top + 4 + static_cast<int>(i) * line_height,
                 text_color, body_color, 1, tb);

    // Window: scrolling log (its body is one bitmap, redrawn every frame).
    paint_window(out, _log);
    add_text(out, _log.title, _log.frame.left + text_pad, _log.frame.top + 1 + 4, title_text_color,
             _log.title_color, 1, _log.frame);
    const rect lb = body(_log);
    add_copy(out, log_bitmap(), lb.left, lb.top, lb);

    // Window: the one that moves.
    paint_window(out, _moving);
    add_text(out, _moving.title, _moving.frame.left + text_pad, _moving.frame.top + 1 + 4,
             title_text_color, _moving.title_color, 1, _moving.frame);
    const rect mb = body(_moving);
    static constexpr std::array<const char *, 4> moving_lines = {
        "I move a little every frame;",
        "what I uncover is repainted",
        "from the display list, so the",
        "demo knows every pixel.",
    };
    for (std::size_t i = 0; i < moving_lines.size(); ++i)
        add_text(out, moving_lines[i], mb.left + text_pad,
                 mb.top + 4 + static_cast<int>(i) * line_height, text_color, body_color, 1, mb);

    // The video, one COPY of a fresh bitmap.
    if (_video_source) {
        const rect v = video_area();
        add_copy(out, video_bitmap(), v.left, v.top, v);
    }

    // Overlay: click dots, then the pointer marker.
    for (const auto &d : _dots)
        add_fill(out, d.area, d.color);
    if (_pointer_seen) {
        const int x = _pointer_x;
        const int y = _pointer_y;
        add_fill(out, {x - 6, y - 1, x + 7, y + 2}, marker_color);
        add_fill(out, {x - 1, y - 6, x + 2, y + 7}, marker_color);
        add_fill(out, {x, y, x + 1, y + 1}, 0x000000);
    }
    return out;
}

std::vector<draw_op> desktop::repaint() {
    std::vector<draw_op> ops;
    if (_dirty.empty()) return ops;
    const auto list = scene();
    // With the video, what lies under it is not drawn: it would be covered
    // at once, and a guest playing a video draws only the video there.
    const rect video = video_area();
    for (const rect &d : _dirty) {
        const rect under = video.intersect(d);
        bool above_video = false;
        for (const draw_op &op : list) {
            const rect a = op.area.intersect(d);
            if (a.empty()) continue;
            if (_video_source && op.src == _video_frame) above_video = true;
            if (!above_video && !under.empty() && a.left >= under.left && a.top >= under.top &&
                a.right <= under.right && a.bottom <= under.bottom)
                continue;
            draw_op c = op;
            c.area = a;
            if (c.type == draw_op::kind::copy) {
                c.src_x += a.left - op.area.left;
                c.src_y += a.top - op.area.top;
            }
            ops.push_back(std::move(c));
        }
    }
    _dirty.clear();
    return ops;
}

void desktop::apply(std::span<const draw_op> ops) {
    const auto w = static_cast<std::size_t>(_width);
    for (const draw_op &op : ops) {
        const rect &a = op.area;
        for (int y = a.top; y < a.bottom; ++y) {
            uint32_t *dst =
                _screen.data() + static_cast<std::size_t>(y) * w + static_cast<std::size_t>(a.left);
            if (op.type == draw_op::kind::fill) {
                std::fill(dst, dst + a.width(), op.color);
            } else {
                const uint32_t *src = op.src->row(op.src_y + (y - a.top)) + op.src_x;
                std::copy(src, src + a.width(), dst);
            }
        }
    }
}

// Output ------------------------------------------------------------------------------

bool desktop::write_ppm(const std::string &path) const {
    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path.c_str(), "wb"), std::fclose);
    if (!f) return false;
    std::fprintf(f.get(), "P6\n%d %d\n255\n", _width, _height);
    std::vector<uint8_t> row(static_cast<std::size_t>(_width) * 3);
    for (int y = 0; y < _height; ++y) {
        const uint32_t *src = _screen.data() + static_cast<std::size_t>(y) * _width;
        for (int x = 0; x < _width; ++x) {
            row[static_cast<std::size_t>(x) * 3 + 0] = static_cast<uint8_t>(src[x] >> 16);
            row[static_cast<std::size_t>(x) * 3 + 1] = static_cast<uint8_t>(src[x] >> 8);
            row[static_cast<std::size_t>(x) * 3 + 2] = static_cast<uint8_t>(src[x]);
        }
        if (std::fwrite(row.data(), 1, row.size(), f.get()) != row.size()) return false;
    }
    return std::fflush(f.get()) == 0;
}

std::size_t desktop::count_differences(const uint32_t *other) const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < _screen.size(); ++i)
        if (((_screen[i] ^ other[i]) & 0xffffff) != 0) ++n;
    return n;
}

// Input --------------------------------------------------------------------------------

void desktop::key(uint8_t byte) {
    if (byte == 0xe0) {
        _extended = true;
        return;
    }
    const bool released = (byte & 0x80) != 0;
    const uint8_t code = byte & 0x7f;
    const bool extended = _extended;
    _extended = false;
    if (code == 0x2a || code == 0x36) { // left/right shift
        if (!extended) _shift = !released;
        return;
    }
    if (released) return;
    bool typed = false;
    if (code == 0x1c) { // Enter (and keypad Enter, E0 1C)
        _text += '\n';
        typed = true;
    } else if (extended) {
        if (code == 0x35) { // keypad '/'
            _text += '/';
            typed = true;
        }
    } else if (code == 0x0e) { // Backspace
        if (!_text.empty()) _text.pop_back();
        typed = true;
    } else if (code == 0x3a || code == 0x45 || code == 0x46) { // Caps, Num, Scroll Lock
        // A guest toggles its LEDs on the lock keys; the server compares them
        // with the client's (get_leds) and sends lock keys to resync.
        _leds ^= code == 0x3a   ? SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK
                 : code == 0x45 ? SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK
                                : SPICE_KEYBOARD_MODIFIER_FLAGS_SCROLL_LOCK;
        invalidate(_typed.frame);
        changed();
        return;
    } else if (code < scancode_chars.size() && scancode_chars[code].plain != 0) {
        const auto k = scancode_chars[code];
        char c = _shift ? k.shifted : k.plain;
        if ((_leds & SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK) != 0 && c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
        else if ((_leds & SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK) != 0 && c >= 'A' && c <= 'Z' &&
                 _shift)
            c = static_cast<char>(c - 'A' + 'a');
        _text += c;
        typed = true;
    }
    if (!typed) return;
    if (_text.size() > max_text) _text.erase(0, _text.size() - max_text / 2);
    invalidate(body(_typed));
    changed();
}

void desktop::pointer(int x, int y) {
    x = std::clamp(x, 0, _width - 1);
    y = std::clamp(y, 0, _height - 1);
    if (_pointer_seen && x == _pointer_x && y == _pointer_y) return;
    if (_pointer_seen) invalidate(marker_area());
    _pointer_x = x;
    _pointer_y = y;
    _pointer_seen = true;
    invalidate(marker_area());
    changed();
}

void desktop::buttons(uint32_t state) {
    const uint32_t pressed = state & ~_buttons;
    _buttons = state;
    struct button {
        uint32_t mask;
        uint32_t color;
    };
    // The VMM's layout of the state (the server converts from the protocol's
    // SPICE_MOUSE_BUTTON_MASK_*): bit 0 left, bit 1 right, bit 2 middle.
    static constexpr button colors[] = {
        {1u << 0, 0xe02020}, {1u << 1, 0x2040e0}, {1u << 2, 0x20c020}};
    bool any = false;
    for (const auto &b : colors) {
        if ((pressed & b.mask) == 0) continue;
        const rect area{_pointer_x - 3, _pointer_y - 3, _pointer_x + 4, _pointer_y + 4};
        _dots.push_back({area, b.color});
        invalidate(area);
        if (_dots.size() > max_dots) {
            invalidate(_dots.front().area);
            _dots.pop_front();
        }
        any = true;
    }
    if (any) changed();
}

} // namespace rs::demo

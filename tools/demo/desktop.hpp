// The synthetic VM's desktop: what the fake QXL device draws each frame,
// deterministic from a frame counter and the input received, and the demo's
// own software rendering of the primary surface, so the demo knows exactly
// what a client must see.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fake_qxl.hpp"

namespace rs::demo {

/// The scene (background, taskbar with a per-frame counter, three windows
/// with text -- one of them typed by the keyboard, one a scrolling log --, a
/// window that moves, dots where clicks landed, a marker that follows the
/// pointer) plus the rendering of everything sent so far. It repaints by
/// dirty rectangles: each frame it emits the display-list ops clipped to the
/// areas that changed. Lives on the demo's main-loop thread, as do the input
/// callbacks that feed it.
class desktop {
  public:
    /// `photo`: the background is a photo-like image (smooth gradients with
    /// a little grain, what the server's codec choice treats as a photo)
    /// instead of flat bands. `video`: a 320x240 region at the top left
    /// (where the about window was; the log moves below it) shows photo-like
    /// content that changes every frame, drawn as one COPY of a fresh bitmap
    /// each frame: what a guest playing a video sends.
    /// `head`: which display of the VM this is (0 the first); heads past
    /// the first title their about window "head N" and prefix their log
    /// lines with it, and draw the rest alike, so identical images (the
    /// moving window, the counter) appear on every head.
    desktop(int width, int height, bool photo = false, bool video = false, int head = 0);

    int width() const noexcept { return _width; }
    int height() const noexcept { return _height; }
    /// The animation frame the state shows (0: the first full paint).
    uint64_t frame() const noexcept { return _frame; }

    /// Advances the animation one frame: the moving window, the scrolling
    /// log, the counter and the cursor path change, and their areas are dirty.
    void animate();
    bool dirty() const noexcept { return !_dirty.empty(); }
    /// The ops that repaint the dirty areas from the current state; clears the
    /// dirty set. They are not applied to screen() until apply().
    std::vector<draw_op> repaint();
    /// Applies ops to the demo's own rendering (once the device took them).
    void apply(std::span<const draw_op> ops);

    /// The demo's rendering of the primary surface: width*height xRGB, top-down.
    const std::vector<uint32_t> &screen() const noexcept { return _screen; }
    /// Writes screen() as a binary PPM (P6). False on I/O error.
    bool write_ppm(const std::string &path) const;
    /// Pixels whose RGB differ between screen() and `other` (same geometry).
    std::size_t count_differences(const uint32_t *other) const;

    /// The cursor shape (a 32x32 alpha arrow) and where it is at frame().
    const cursor_image &cursor() const noexcept { return _cursor; }
    bool photo() const noexcept { return _photo != nullptr; }
    bool video() const noexcept { return _video_source != nullptr; }
    /// Where the video plays (empty without `video`).
    rect video_area() const;
    std::pair<int, int> cursor_position() const;

    // Input, as the keyboard/mouse/tablet interfaces deliver it.
    /// One byte of a PC scancode set 1 sequence (make, break = make|0x80,
    /// 0xE0 prefix for extended keys).
    void key(uint8_t byte);
    /// The pointer's absolute position (clamped to the screen).
    void pointer(int x, int y);
    void pointer_relative(int dx, int dy) { pointer(_pointer_x + dx, _pointer_y + dy); }
    /// The button state as the server hands it to the VMM (spice-input.h
    /// callbacks): bit 0 left, bit 1 right, bit 2 middle -- not the protocol's
    /// SPICE_MOUSE_BUTTON_MASK_* order. Each newly pressed button leaves a
    /// dot at the pointer (left red, right blue, middle green).
    void buttons(uint32_t state);
    /// Keyboard LEDs (SPICE_KEYBOARD_MODIFIER_FLAGS_*); the lock keys toggle them.
    uint8_t leds() const noexcept { return _leds; }
    /// Called when input made part of the screen dirty.
    std::function<void()> on_change;

  private:
    struct window {
        rect frame;
        std::string title;
        uint32_t title_color;
    };
    struct dot {
        rect area;
        uint32_t color;
    };

    void invalidate(const rect &r);
    void changed();
    // The whole-screen display list for the current state, bottom to top.
    std::vector<draw_op> scene();
    void paint_window(std::vector<draw_op> &out, const window &w) const;
    void add_text(std::vector<draw_op> &out, const std::string &text, int x, int y, uint32_t fg,
                  uint32_t bg, int scale, const rect &clip);
    void add_fill(std::vector<draw_op> &out, const rect &r, uint32_t color) const;
    void add_copy(std::vector<draw_op> &out, const bitmap_ptr &bm, int x, int y,
                  const rect &clip) const;
    bitmap_ptr text_bitmap(const std::string &text, uint32_t fg, uint32_t bg, int scale);
    bitmap_ptr log_bitmap();
    bitmap_ptr video_bitmap();
    static bitmap_ptr photo_bitmap(int width, int height);
    rect body(const window &w) const;
    rect moving_frame() const;
    rect counter_area() const;
    rect marker_area() const;
    std::vector<std::string> typed_lines() const;

    int _head;                // which display of the VM (0: the first)
    bitmap_ptr _photo;        // the background when photo-like, else null
    bitmap_ptr _video_source; // what the video pans over, or null
    bitmap_ptr _video_frame;  // the frame for _video_frame_no
    uint64_t _video_frame_no = ~uint64_t{0};
    int _width;
    int _height;
    uint64_t _frame = 0;
    std::vector<uint32_t> _screen;
    std::vector<rect> _dirty;

    window _about;
    window _typed;
    window _log;
    window _moving;
    rect _moving_painted; // where the moving window was last drawn

    std::unordered_map<std::string, bitmap_ptr> _text_cache;
    bitmap_ptr _log_cache;
    uint64_t _log_cache_frame = ~uint64_t{0};

    cursor_image _cursor;

    // Input state.
    std::string _text; // typed so far, '\n' for Enter
    bool _shift = false;
    bool _extended = false;
    uint8_t _leds = 0;
    int _pointer_x;
    int _pointer_y;
    bool _pointer_seen = false;
    uint32_t _buttons = 0;
    std::deque<dot> _dots;
};

} // namespace rs::demo

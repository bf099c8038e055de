// ringspice-demo: a SPICE server with a synthetic VM, so a client can
// connect without QEMU. It uses only the public <spice.h> API, exactly as a
// VMM does, so the same binary runs on the reference library too:
//   LD_LIBRARY_PATH=/lib/x86_64-linux-gnu ringspice-demo
// The VM: a fake QXL device drawing a desktop (desktop.hpp, fake_qxl.hpp), a
// keyboard whose keys appear in a window, a mouse and a tablet whose clicks
// leave dots and whose motion moves a marker, and a sound card playing a
// tone (tone.hpp).
#include <glib-unix.h>
#include <spice.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "desktop.hpp"
#include "fake_qxl.hpp"
#include "glib_core.hpp"
#include "spice_option_names.hpp"
#include "tone.hpp"

namespace {

using rs::demo::image_compression_named;
using rs::demo::streaming_video_named;
using rs::demo::wan_named;

struct options {
    std::string addr = "127.0.0.1";
    int port = 5900;
    std::string password;
    int seconds = 0; // 0: until Ctrl-C
    long frames = 0; // 0: no limit
    int fps = 20;
    int width = 1024;
    int height = 768;
    bool still = false; // --static
    bool verify = false;
    long heap_mb = 64;
    std::string dump_primary;
    bool photo = false;            // --photo
    bool video = false;            // --video
    std::string streaming_video;   // --streaming-video off|all|filter (server default when empty)
    bool hold = false;             // --hold
    std::string image_compression; // --image-compression (server default when empty)
    std::string jpeg;              // --jpeg auto|never|always
    std::string zlib_glz;          // --zlib-glz auto|never|always
    double tone_hz = 440;          // --tone HZ (0: no sound card)
    int heads = 1;                 // --heads N: QXL devices (displays), 1..4
};

void usage() {
    std::puts(
        "usage: ringspice-demo [--addr A] [--port P] [--password PW] [--seconds N] [--frames N]\n"
        "                      [--fps N] [--size WxH] [--static] [--dump-primary FILE.ppm]\n"
        "                      [--verify] [--qxl-heap-mb N] [--photo] [--video]\n"
        "                      [--streaming-video off|all|filter]\n"
        "                      [--image-compression C] [--jpeg W] [--zlib-glz W] [--tone HZ]\n"
        "  Serves a synthetic VM over SPICE on A:P (default 127.0.0.1:5900): a QXL display\n"
        "  drawing a desktop, a cursor, a keyboard, a mouse, a tablet and a sound card.\n"
        "  --seconds N       stop after N seconds (0, the default, runs until Ctrl-C)\n"
        "  --frames N        stop after N frames were drawn (the first full paint is frame 1)\n"
        "  --fps N           animation rate (default 20)\n"
        "  --size WxH        primary surface size (default 1024x768, at least 640x480)\n"
        "  --static          draw one deterministic frame, then change only on input\n"
        "  --dump-primary F  at exit, write the demo's own rendering of the primary surface\n"
        "                    (what a client must show) to F as a PPM\n"
        "  --verify          after the first frame and at exit, have the server render the\n"
        "                    primary (spice_qxl_update_area) and compare it with the demo's\n"
        "  --qxl-heap-mb N   guest memory for commands in flight (default 64); when it is\n"
        "                    full the device waits for releases and calls spice_qxl_oom\n"
        "  --photo           a photo-like desktop background instead of flat bands\n"
        "  --video           a 320x240 video (photo-like, new every frame) at the top left\n"
        "  --streaming-video W  off, all or filter (the default): which drawings the server\n"
        "                    may turn into MJPEG video streams, as QEMU's streaming-video=\n"
        "  --hold            with --frames: after the last frame keep serving, still\n"
        "  --image-compression C  off, auto_glz (default), auto_lz, quic, glz, lz or lz4\n"
        "  --jpeg W, --zlib-glz W  auto (default), never or always, as QEMU's\n"
        "                    jpeg-wan-compression and zlib-glz-wan-compression\n"
        "  --tone HZ         the sound card plays a continuous sine of HZ (default 440) in\n"
        "                    real time on the playback channel; 0: no sound card\n"
        "  --heads N         N QXL devices (1-4, default 1): a client gets N display\n"
        "                    channels; each head draws the desktop (its about window says\n"
        "                    which head), input goes to head 0; with --dump-primary F.ppm\n"
        "                    head K > 0 is written to F.K.ppm");
}

bool parse(int argc, char **argv, options &o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&](std::string &out) {
            if (i + 1 >= argc) return false;
            out = argv[++i];
            return true;
        };
        std::string v;
        if (a == "--help" || a == "-h") {
            usage();
            std::exit(0);
        } else if (a == "--addr" && next(v)) {
            o.addr = v;
        } else if (a == "--port" && next(v)) {
            o.port = std::atoi(v.c_str());
        } else if (a == "--password" && next(v)) {
            o.password = v;
        } else if (a == "--seconds" && next(v)) {
            o.seconds = std::atoi(v.c_str());
        } else if (a == "--frames" && next(v)) {
            o.frames = std::atol(v.c_str());
        } else if (a == "--fps" && next(v)) {
            o.fps = std::atoi(v.c_str());
        } else if (a == "--size" && next(v)) {
            if (std::sscanf(v.c_str(), "%dx%d", &o.width, &o.height) != 2) return false;
        } else if (a == "--static") {
            o.still = true;
        } else if (a == "--qxl-heap-mb" && next(v)) {
            o.heap_mb = std::atol(v.c_str());
        } else if (a == "--verify") {
            o.verify = true;
        } else if (a == "--dump-primary" && next(v)) {
            o.dump_primary = v;
        } else if (a == "--video") {
            o.video = true;
        } else if (a == "--streaming-video" && next(v) && streaming_video_named(v)) {
            o.streaming_video = v;
        } else if (a == "--photo") {
            o.photo = true;
        } else if (a == "--hold") {
            o.hold = true;
        } else if (a == "--image-compression" && next(v) && image_compression_named(v)) {
            o.image_compression = v;
        } else if (a == "--jpeg" && next(v) && wan_named(v)) {
            o.jpeg = v;
        } else if (a == "--zlib-glz" && next(v) && wan_named(v)) {
            o.zlib_glz = v;
        } else if (a == "--tone" && next(v)) {
            o.tone_hz = std::atof(v.c_str());
        } else if (a == "--heads" && next(v)) {
            o.heads = std::atoi(v.c_str());
        } else {
            std::fprintf(stderr, "ringspice-demo: unknown or incomplete argument '%s'\n",
                         a.c_str());
            usage();
            return false;
        }
    }
    if (o.width < 640 || o.height < 480 || o.width > 4096 || o.height > 4096 || o.fps < 1 ||
        o.fps > 1000 || o.heap_mb < 1 || o.heap_mb > 4096 || !(o.tone_hz >= 0) ||
        o.tone_hz > 20000 || o.heads < 1 || o.heads > 4) {
        std::fprintf(stderr,
                     "ringspice-demo: bad --size, --fps, --qxl-heap-mb, --tone or --heads\n");
        return false;
    }
    return true;
}

/// Where head `k` > 0 is dumped: "F.ppm" becomes "F.k.ppm" (or "F.k" with
/// no .ppm suffix).
std::string head_path(const std::string &path, std::size_t k) {
    const std::string suffix = ".ppm";
    const std::string tag = "." + std::to_string(k);
    if (path.size() > suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
        return path.substr(0, path.size() - suffix.size()) + tag + suffix;
    return path + tag;
}

const char *event_name(int event) {
    switch (event) {
    case SPICE_CHANNEL_EVENT_CONNECTED:
        return "connected";
    case SPICE_CHANNEL_EVENT_INITIALIZED:
        return "initialized";
    case SPICE_CHANNEL_EVENT_DISCONNECTED:
        return "disconnected";
    default:
        return "event";
    }
}

} // namespace

namespace rs::demo {
namespace {

/// The VM's keyboard (PC scancodes, set 1), relative mouse and absolute
/// tablet: each forwards what the server delivers to the desktop, which draws
/// it. The server calls these on the main-loop thread (the thread running the
/// core interface), the same thread that owns the desktop.
class input_devices {
  public:
    explicit input_devices(desktop &desk)
        : _desk(desk) {
        _kbd_iface.base = {SPICE_INTERFACE_KEYBOARD, "ringspice demo keyboard",
                           SPICE_INTERFACE_KEYBOARD_MAJOR, SPICE_INTERFACE_KEYBOARD_MINOR};
        _kbd_iface.push_scan_freg = kbd_push;
        _kbd_iface.get_leds = kbd_leds;
        _mouse_iface.base = {SPICE_INTERFACE_MOUSE, "ringspice demo mouse",
                             SPICE_INTERFACE_MOUSE_MAJOR, SPICE_INTERFACE_MOUSE_MINOR};
        _mouse_iface.motion = mouse_motion;
        _mouse_iface.buttons = mouse_buttons;
        _tablet_iface.base = {SPICE_INTERFACE_TABLET, "ringspice demo tablet",
                              SPICE_INTERFACE_TABLET_MAJOR, SPICE_INTERFACE_TABLET_MINOR};
        _tablet_iface.set_logical_size = tablet_size;
        _tablet_iface.position = tablet_position;
        _tablet_iface.wheel = tablet_wheel;
        _tablet_iface.buttons = tablet_buttons;
        _kbd.sin.base.sif = &_kbd_iface.base;
        _kbd.self = this;
        _mouse.sin.base.sif = &_mouse_iface.base;
        _mouse.self = this;
        _tablet.sin.base.sif = &_tablet_iface.base;
        _tablet.self = this;
        _logical_w = desk.width();
        _logical_h = desk.height();
    }
    input_devices(const input_devices &) = delete;
    input_devices &operator=(const input_devices &) = delete;

    bool attach(SpiceServer *server) {
        return spice_server_add_interface(server, &_kbd.sin.base) == 0 &&
               spice_server_add_interface(server, &_mouse.sin.base) == 0 &&
               spice_server_add_interface(server, &_tablet.sin.base) == 0;
    }

  private:
    // Each instance comes first in its holder, so the callbacks' instance
    // pointer converts back to the holder.
    struct kbd_holder {
        SpiceKbdInstance sin;
        input_devices *self;
    };
    struct mouse_holder {
        SpiceMouseInstance sin;
        input_devices *self;
    };
    struct tablet_holder {
        SpiceTabletInstance sin;
        input_devices *self;
    };

    static void kbd_push(SpiceKbdInstance *sin, uint8_t frag) {
        auto *h = reinterpret_cast<kbd_holder *>(sin);
        const uint8_t before = h->self->_desk.leds();
        h->self->_desk.key(frag);
        const uint8_t after = h->self->_desk.leds();
        if (after != before) spice_server_kbd_leds(sin, after); // as a guest answers Caps Lock
    }
    static uint8_t kbd_leds(SpiceKbdInstance *sin) {
        return reinterpret_cast<kbd_holder *>(sin)->self->_desk.leds();
    }
    // Server mouse mode: a press arrives as motion(0, 0, dz, state), a release
    // as buttons(state).
    static void mouse_motion(SpiceMouseInstance *sin, int dx, int dy, int, uint32_t buttons) {
        desktop &d = reinterpret_cast<mouse_holder *>(sin)->self->_desk;
        d.pointer_relative(dx, dy);
        d.buttons(buttons);
    }
    static void mouse_buttons(SpiceMouseInstance *sin, uint32_t buttons) {
        reinterpret_cast<mouse_holder *>(sin)->self->_desk.buttons(buttons);
    }
    static void tablet_size(SpiceTabletInstance *sin, int width, int height) {
        input_devices *self = reinterpret_cast<tablet_holder *>(sin)->self;
        if (width > 0 && height > 0) {
            self->_logical_w = width;
            self->_logical_h = height;
        }
    }
    static void tablet_position(SpiceTabletInstance *sin, int x, int y, uint32_t buttons) {
        input_devices *self = reinterpret_cast<tablet_holder *>(sin)->self;
        desktop &d = self->_desk;
        // Positions are in the logical size the server set (the surface size).
        d.pointer(static_cast<int>(static_cast<long long>(x) * d.width() / self->_logical_w),
                  static_cast<int>(static_cast<long long>(y) * d.height() / self->_logical_h));
        d.buttons(buttons);
    }
    // In client mouse mode the server delivers a button press as wheel(0,
    // state) and a release as buttons(state).
    static void tablet_wheel(SpiceTabletInstance *sin, int, uint32_t buttons) {
        reinterpret_cast<tablet_holder *>(sin)->self->_desk.buttons(buttons);
    }
    static void tablet_buttons(SpiceTabletInstance *sin, uint32_t buttons) {
        reinterpret_cast<tablet_holder *>(sin)->self->_desk.buttons(buttons);
    }

    desktop &_desk;
    SpiceKbdInterface _kbd_iface{};
    SpiceMouseInterface _mouse_iface{};
    SpiceTabletInterface _tablet_iface{};
    kbd_holder _kbd{};
    mouse_holder _mouse{};
    tablet_holder _tablet{};
    int _logical_w = 1;
    int _logical_h = 1;
};

/// Produces frames on a GLib timer on the main loop: animates the desktop
/// (unless static), sends the repaint ops to the device and applies them to
/// the demo's rendering once the device took them. Idle (no timer) while
/// nothing changes. Main-loop thread only.
class frame_pump {
  public:
    frame_pump(desktop &desk, fake_qxl &qxl, const options &opt)
        : _desk(desk)
        , _qxl(qxl)
        , _animate(!opt.still)
        , _limit(opt.frames)
        , _interval_ms(static_cast<guint>(1000 / opt.fps)) {}
    ~frame_pump() { stop(); }
    frame_pump(const frame_pump &) = delete;
    frame_pump &operator=(const frame_pump &) = delete;

    /// Draws the first frame (the full paint) and sets the cursor; false if
    /// the device refused it.
    bool first_frame() {
        _pending = _desk.repaint();
        const auto [x, y] = _desk.cursor_position();
        _qxl.cursor_set(_desk.cursor(), x, y);
        return flush();
    }
    /// Makes sure a tick is due (for input in static mode; always when animating).
    void schedule() {
        if (_source == 0) _source = g_timeout_add(_interval_ms, tick, this);
    }
    void stop() {
        if (_source != 0) g_source_remove(_source);
        _source = 0;
    }
    long frames() const noexcept { return _frames; }
    bool done() const noexcept { return _limit > 0 && _frames >= _limit; }
    /// Called once the frame limit is reached.
    std::function<void()> on_done;

  private:
    bool flush() {
        if (_pending.empty()) return true;
        if (!_qxl.submit(_pending)) return false; // full: retry on the next tick
        _desk.apply(_pending);
        _pending.clear();
        ++_frames;
        return true;
    }
    static gboolean tick(gpointer p) {
        auto *self = static_cast<frame_pump *>(p);
        if (self->step()) return G_SOURCE_CONTINUE;
        self->_source = 0;
        return G_SOURCE_REMOVE;
    }
    bool step() {
        if (done()) return false;
        if (_pending.empty()) {
            if (_animate) {
                _desk.animate();
                const auto [x, y] = _desk.cursor_position();
                _qxl.cursor_move(x, y); // dropped if the cursor ring is full
            }
            if (_desk.dirty()) _pending = _desk.repaint();
        }
        flush();
        if (done()) {
            if (on_done) on_done();
            return false;
        }
        return _animate || !_pending.empty() || _desk.dirty();
    }

    desktop &_desk;
    fake_qxl &_qxl;
    bool _animate;
    long _limit;
    guint _interval_ms;
    guint _source = 0;
    long _frames = 0;
    std::vector<draw_op> _pending;
};

void verify(const char *when, fake_qxl &qxl, const desktop &desk) {
    const std::size_t diff = desk.count_differences(qxl.update_primary());
    std::printf("demo: verify (%s): the server's rendering of the primary %s the demo's "
                "(%zu of %d pixels differ)\n",
                when, diff == 0 ? "matches" : "DIFFERS FROM", diff, desk.width() * desk.height());
    std::fflush(stdout);
}

} // namespace
} // namespace rs::demo

int main(int argc, char **argv) {
    using namespace rs::demo;
    options opt;
    if (!parse(argc, argv, opt)) return 2;

    rs::tools::glib_core core;
    core.on_channel_event = [](int event, SpiceChannelEventInfo *info) {
        if (event == SPICE_CHANNEL_EVENT_INITIALIZED)
            std::printf("demo: client %s channel type %d id %d\n", event_name(event), info->type,
                        info->id);
        else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED && info->type != 0)
            std::printf("demo: client channel type %d id %d closed\n", info->type, info->id);
        std::fflush(stdout);
    };

    SpiceServer *server = spice_server_new();
    spice_server_set_addr(server, opt.addr.c_str(), 0);
    if (spice_server_set_port(server, opt.port) != 0) {
        std::fprintf(stderr, "ringspice-demo: bad port %d\n", opt.port);
        return 2;
    }
    if (opt.password.empty())
        spice_server_set_noauth(server);
    else
        spice_server_set_ticket(server, opt.password.c_str(), 0, 0, 0);
    spice_server_set_name(server, "ringspice demo");
    if (!opt.image_compression.empty())
        spice_server_set_image_compression(server, *image_compression_named(opt.image_compression));
    if (!opt.jpeg.empty()) spice_server_set_jpeg_compression(server, *wan_named(opt.jpeg));
    if (!opt.streaming_video.empty())
        spice_server_set_streaming_video(server, *streaming_video_named(opt.streaming_video));
    if (!opt.zlib_glz.empty())
        spice_server_set_zlib_glz_compression(server, *wan_named(opt.zlib_glz));
    if (spice_server_init(server, core.interface()) != 0) {
        std::fprintf(stderr, "ringspice-demo: the server did not start (is port %d free?)\n",
                     opt.port);
        return 1;
    }

    // The VM's devices: one QXL device, desktop and frame pump per head.
    // A QXL device's memory must outlive the server (the worker reads it
    // until spice_server_destroy), so it is released after.
    struct head {
        std::unique_ptr<fake_qxl> qxl;
        std::unique_ptr<desktop> desk;
        std::unique_ptr<frame_pump> pump;
        bool display = false;
    };
    std::vector<head> heads(static_cast<std::size_t>(opt.heads));
    for (int k = 0; k < opt.heads; ++k) {
        qxl_config qcfg;
        qcfg.width = opt.width;
        qcfg.height = opt.height;
        qcfg.heap_bytes = static_cast<std::size_t>(opt.heap_mb) << 20;
        qcfg.id = k;
        auto &h = heads[static_cast<std::size_t>(k)];
        h.qxl = std::make_unique<fake_qxl>(server, qcfg);
        h.desk = std::make_unique<desktop>(opt.width, opt.height, opt.photo, opt.video, k);
        h.display = h.qxl->attach();
        if (!h.display)
            std::fprintf(stderr,
                         "ringspice-demo: the server refused the QXL interface of head %d\n", k);
    }
    desktop &desk = *heads[0].desk; // input goes to the first head
    input_devices inputs(desk);
    if (!inputs.attach(server))
        std::fprintf(stderr, "ringspice-demo: the server refused an input interface\n");
    spice_server_vm_start(server);
    std::unique_ptr<tone_player> tone;
    if (opt.tone_hz > 0) {
        tone = std::make_unique<tone_player>(opt.tone_hz);
        if (tone->attach(server))
            tone->start();
        else
            std::fprintf(stderr, "ringspice-demo: the server refused the playback interface\n");
    }

    GMainLoop *loop = g_main_loop_new(core.context(), FALSE);
    auto all_done = [&heads] {
        return std::all_of(heads.begin(), heads.end(),
                           [](const head &h) { return h.pump->done(); });
    };
    for (auto &h : heads) {
        h.pump = std::make_unique<frame_pump>(*h.desk, *h.qxl, opt);
        h.pump->on_done = [&all_done, &opt, loop] {
            if (all_done() && !opt.hold) g_main_loop_quit(loop);
        };
        h.desk->on_change = [p = h.pump.get()] { p->schedule(); };
    }
    for (std::size_t k = 0; k < heads.size(); ++k) {
        auto &h = heads[k];
        if (!h.display) continue;
        const bool queued = h.pump->first_frame();
        if (!queued) // the frame timer retries it
            std::fprintf(stderr,
                         "ringspice-demo: the QXL device of head %zu could not queue the first "
                         "frame\n",
                         k);
        // Let the server take in the first frame before any client arrives,
        // so a static screen is complete on connect; optionally check it.
        if (opt.verify)
            verify(heads.size() > 1 ? ("first frame, head " + std::to_string(k)).c_str()
                                    : "first frame",
                   *h.qxl, *h.desk);
        else if (opt.still)
            h.qxl->update_primary();
        if (!opt.still || !queued) h.pump->schedule();
    }

    std::printf("ringspice demo listening on %s:%d\n", opt.addr.c_str(), opt.port);
    std::printf("connect with:  remote-viewer spice://%s:%d%s\n", opt.addr.c_str(), opt.port,
                opt.password.empty() ? "" : "   (password required)");
    std::printf(
        "the VM: a %dx%d QXL display drawing a desktop (%s), a cursor, a keyboard\n"
        "        (keys appear in 'Typed text'), a mouse and a tablet (clicks leave dots).\n",
        opt.width, opt.height, opt.still ? "static" : "animated");
    if (tone)
        std::printf("        a sound card playing a %g Hz tone (stereo S16 at %u Hz).\n",
                    opt.tone_hz, tone->rate());
    std::fflush(stdout);

    g_unix_signal_add(
        SIGINT,
        +[](gpointer l) -> gboolean {
            g_main_loop_quit(static_cast<GMainLoop *>(l));
            return G_SOURCE_REMOVE;
        },
        loop);
    g_unix_signal_add(
        SIGTERM,
        +[](gpointer l) -> gboolean {
            g_main_loop_quit(static_cast<GMainLoop *>(l));
            return G_SOURCE_REMOVE;
        },
        loop);
    if (opt.seconds > 0)
        g_timeout_add_seconds(
            static_cast<guint>(opt.seconds),
            +[](gpointer l) -> gboolean {
                g_main_loop_quit(static_cast<GMainLoop *>(l));
                return G_SOURCE_REMOVE;
            },
            loop);
    if (!all_done() || opt.hold) g_main_loop_run(loop);
    for (auto &h : heads)
        h.pump->stop();

    for (std::size_t k = 0; k < heads.size(); ++k) {
        auto &h = heads[k];
        if (h.display && opt.verify)
            verify(heads.size() > 1 ? ("exit, head " + std::to_string(k)).c_str() : "exit", *h.qxl,
                   *h.desk);
        if (opt.dump_primary.empty()) continue;
        const std::string path = k == 0 ? opt.dump_primary : head_path(opt.dump_primary, k);
        if (h.desk->write_ppm(path))
            std::printf("demo: wrote the primary surface (frame %llu) to %s\n",
                        static_cast<unsigned long long>(h.desk->frame()), path.c_str());
        else
            std::fprintf(stderr, "ringspice-demo: cannot write %s\n", path.c_str());
    }

    for (auto &h : heads)
        h.desk->on_change = nullptr;
    if (tone) tone->stop();
    spice_server_destroy(server);
    qxl_stats s;
    long frames = 0;
    for (auto &h : heads) {
        const qxl_stats one = h.qxl->stats();
        s.commands_queued += one.commands_queued;
        s.commands_fetched += one.commands_fetched;
        s.released += one.released;
        s.bad_releases += one.bad_releases;
        s.cursor_queued += one.cursor_queued;
        s.cursor_fetched += one.cursor_fetched;
        s.wakeups += one.wakeups;
        s.notify_requests += one.notify_requests;
        s.oom_calls += one.oom_calls;
        s.full += one.full;
        frames += h.pump->frames();
        h.pump.reset();
        h.qxl.reset();
    }
    g_main_loop_unref(loop);
    std::printf("demo: %ld frames; qxl: %llu commands queued, %llu fetched, %llu released "
                "(%llu bad), %llu cursor commands; %llu wakeups, %llu notify requests, %llu oom, "
                "%llu full\n",
                frames, static_cast<unsigned long long>(s.commands_queued),
                static_cast<unsigned long long>(s.commands_fetched),
                static_cast<unsigned long long>(s.released),
                static_cast<unsigned long long>(s.bad_releases),
                static_cast<unsigned long long>(s.cursor_fetched),
                static_cast<unsigned long long>(s.wakeups),
                static_cast<unsigned long long>(s.notify_requests),
                static_cast<unsigned long long>(s.oom_calls),
                static_cast<unsigned long long>(s.full));
    std::puts("ringspice demo stopped");
    return 0;
}

// rs-vmdriver: K synthetic VMs for the VDI benchmark (issue 7), each one
// SpiceServer with a fake QXL device, a keyboard and a tablet, all on one
// GLib main loop, playing one workload (idle, office, scroll, video). It uses
// only the public <spice.h> API, as QEMU does, so the same binary runs on the
// reference library:  LD_LIBRARY_PATH=/lib/x86_64-linux-gnu rs-vmdriver ...
// Every frame ends with the marker drawable of the VDI contract (a 1-pixel
// solid fill at the bottom-left whose colour is the send time), so a load
// client measures frames and latency without decoding images.
#include <glib-unix.h>
#include <spice.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fake_qxl.hpp"
#include "glib_core.hpp"
#include "spice_option_names.hpp"
#include "workloads.hpp"

namespace rs::bench::vdi {
namespace {

using demo::draw_op;
using demo::image_compression_named;
using demo::streaming_video_named;
using demo::wan_named;

struct options {
    int port = 5900;
    int vms = 1;
    workload_kind workload = workload_kind::idle;
    int width = 0; // 0: the workload's default
    int height = 0;
    int seconds = 0; // 0: until SIGTERM/SIGINT or stdin EOF
    std::optional<SpiceImageCompression> image_compression;
    std::optional<spice_wan_compression_t> jpeg;
    std::optional<spice_wan_compression_t> zlib_glz;
    std::optional<int> streaming_video; // SPICE_STREAM_VIDEO_*
    uint64_t seed = 1;
    long heap_mb = 64;
};

void usage() {
    std::puts(
        "usage: rs-vmdriver [--port P] [--vms K] [--workload idle|office|scroll|video]\n"
        "                   [--size WxH] [--seconds S] [--image-compression C] [--jpeg W]\n"
        "                   [--zlib-glz W] [--streaming-video off|all|filter] [--seed N]\n"
        "                   [--qxl-heap-mb N]\n"
        "  Runs K synthetic VMs (one SPICE server each, no auth) on 127.0.0.1:P..P+K-1.\n"
        "  --workload        idle (default): one still desktop; office: ~5 text lines/s and a\n"
        "                    full text page every 10 s; scroll: 10 fps full-screen page\n"
        "                    scroll; video: 25 fps panned photo over all but the bottom 16 rows\n"
        "  --size WxH        default 1920x1080 for scroll/video, 1280x800 for idle/office\n"
        "  --seconds S       stop after S seconds; 0 (default): at SIGTERM, SIGINT or EOF on\n"
        "                    stdin\n"
        "  --image-compression C  off, auto_glz, auto_lz, quic, glz, lz, lz4 (default: the\n"
        "                    library's)\n"
        "  --jpeg W, --zlib-glz W  auto, never, always (default: the library's)\n"
        "  --streaming-video M     off, all, filter (default: the library's)\n"
        "  --seed N          varies each VM's phase, jitter and text (default 1)\n"
        "  --qxl-heap-mb N   guest command memory per VM (default 64)\n"
        "Prints 'READY port=P vms=K pid=N' once all listen; at exit one\n"
        "'VM i=I frames=F refused=R' line per VM, then 'DONE'.");
}

bool parse(int argc, char **argv, options &o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        std::string v;
        auto next = [&] {
            if (i + 1 >= argc) return false;
            v = argv[++i];
            return true;
        };
        bool ok = true;
        if (a == "--help" || a == "-h") {
            usage();
            std::exit(0);
        } else if (a == "--port" && next()) {
            o.port = std::atoi(v.c_str());
        } else if (a == "--vms" && next()) {
            o.vms = std::atoi(v.c_str());
        } else if (a == "--workload" && next()) {
            const auto k = workload_named(v);
            ok = k.has_value();
            if (ok) o.workload = *k;
        } else if (a == "--size" && next()) {
            ok = std::sscanf(v.c_str(), "%dx%d", &o.width, &o.height) == 2;
        } else if (a == "--seconds" && next()) {
            o.seconds = std::atoi(v.c_str());
        } else if (a == "--image-compression" && next()) {
            o.image_compression = image_compression_named(v);
            ok = o.image_compression.has_value();
        } else if (a == "--jpeg" && next()) {
            o.jpeg = wan_named(v);
            ok = o.jpeg.has_value();
        } else if (a == "--zlib-glz" && next()) {
            o.zlib_glz = wan_named(v);
            ok = o.zlib_glz.has_value();
        } else if (a == "--streaming-video" && next()) {
            o.streaming_video = streaming_video_named(v);
            ok = o.streaming_video.has_value();
        } else if (a == "--seed" && next()) {
            o.seed = std::strtoull(v.c_str(), nullptr, 10);
        } else if (a == "--qxl-heap-mb" && next()) {
            o.heap_mb = std::atol(v.c_str());
        } else {
            ok = false;
        }
        if (!ok) {
            std::fprintf(stderr, "rs-vmdriver: unknown, incomplete or bad argument '%s'\n",
                         a.c_str());
            return false;
        }
    }
    if (o.width == 0 && o.height == 0) {
        const bool big = o.workload == workload_kind::scroll || o.workload == workload_kind::video;
        o.width = big ? 1920 : 1280;
        o.height = big ? 1080 : 800;
    }
    if (o.width < 640 || o.height < 480 || o.width > 4096 || o.height > 4096 || o.vms < 1 ||
        o.vms > 1000 || o.port < 1 || o.port + o.vms - 1 > 65535 || o.seconds < 0 ||
        o.heap_mb < 16 || o.heap_mb > 4096) {
        std::fprintf(stderr, "rs-vmdriver: bad --size (640x480..4096x4096), --vms, --port, "
                             "--seconds or --qxl-heap-mb (16..4096)\n");
        return false;
    }
    return true;
}

/// The marker's colour: CLOCK_MONOTONIC in units of 100 us, low 24 bits.
uint32_t stamp_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t units =
        static_cast<uint64_t>(ts.tv_sec) * 10000 + static_cast<uint64_t>(ts.tv_nsec) / 100000;
    return static_cast<uint32_t>(units & 0xffffff);
}

/// A keyboard and a tablet whose callbacks do nothing: a VM's input devices,
/// so clients open the inputs channel as they do with QEMU. Main-loop thread.
class input_stubs {
  public:
    input_stubs() {
        _kbd_iface.base = {SPICE_INTERFACE_KEYBOARD, "rs-vmdriver keyboard",
                           SPICE_INTERFACE_KEYBOARD_MAJOR, SPICE_INTERFACE_KEYBOARD_MINOR};
        _kbd_iface.push_scan_freg = [](SpiceKbdInstance *, uint8_t) {};
        _kbd_iface.get_leds = [](SpiceKbdInstance *) -> uint8_t { return 0; };
        _tablet_iface.base = {SPICE_INTERFACE_TABLET, "rs-vmdriver tablet",
                              SPICE_INTERFACE_TABLET_MAJOR, SPICE_INTERFACE_TABLET_MINOR};
        _tablet_iface.set_logical_size = [](SpiceTabletInstance *, int, int) {};
        _tablet_iface.position = [](SpiceTabletInstance *, int, int, uint32_t) {};
        _tablet_iface.wheel = [](SpiceTabletInstance *, int, uint32_t) {};
        _tablet_iface.buttons = [](SpiceTabletInstance *, uint32_t) {};
        _kbd.base.sif = &_kbd_iface.base;
        _tablet.base.sif = &_tablet_iface.base;
    }
    input_stubs(const input_stubs &) = delete;
    input_stubs &operator=(const input_stubs &) = delete;

    bool attach(SpiceServer *server) {
        return spice_server_add_interface(server, &_kbd.base) == 0 &&
               spice_server_add_interface(server, &_tablet.base) == 0;
    }

  private:
    SpiceKbdInterface _kbd_iface{};
    SpiceTabletInterface _tablet_iface{};
    SpiceKbdInstance _kbd{};
    SpiceTabletInstance _tablet{};
};

/// One VM: its SpiceServer, QXL device, input devices and workload, and the
/// one GLib timer that draws its frames. Lives on the main-loop thread; the
/// device's memory outlives the server (destroy() before the destructor).
class vm {
  public:
    vm(int index, const options &opt, shared_assets &assets)
        : _index(index)
        , _rng(opt.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(index) + 1) {
        _workload = make_workload(opt.workload, opt.width, opt.height, _rng.next(), assets);
        _config.width = opt.width;
        _config.height = opt.height;
        _config.heap_bytes = static_cast<std::size_t>(opt.heap_mb) << 20;
    }
    ~vm() { destroy(); }
    vm(const vm &) = delete;
    vm &operator=(const vm &) = delete;

    /// Creates and starts the server on `port` (options set before init, as
    /// QEMU does), adds the devices and queues the first paint. False (with a
    /// message) if the server did not start.
    bool start(const options &opt, int port, SpiceCoreInterface *core) {
        _server = spice_server_new();
        spice_server_set_addr(_server, "127.0.0.1", 0);
        if (spice_server_set_port(_server, port) != 0) {
            std::fprintf(stderr, "rs-vmdriver: bad port %d\n", port);
            return false;
        }
        spice_server_set_noauth(_server);
        const std::string name = "rs-vmdriver vm " + std::to_string(_index);
        spice_server_set_name(_server, name.c_str());
        if (opt.image_compression)
            spice_server_set_image_compression(_server, *opt.image_compression);
        if (opt.jpeg) spice_server_set_jpeg_compression(_server, *opt.jpeg);
        if (opt.zlib_glz) spice_server_set_zlib_glz_compression(_server, *opt.zlib_glz);
        if (opt.streaming_video) spice_server_set_streaming_video(_server, *opt.streaming_video);
        if (spice_server_init(_server, core) != 0) {
            std::fprintf(stderr,
                         "rs-vmdriver: VM %d: the server did not start (is port %d free?)\n",
                         _index, port);
            return false;
        }
        _qxl = std::make_unique<demo::fake_qxl>(_server, _config);
        if (!_qxl->attach()) {
            std::fprintf(stderr, "rs-vmdriver: VM %d: the server refused the QXL interface\n",
                         _index);
            return false;
        }
        if (!_inputs.attach(_server))
            std::fprintf(stderr, "rs-vmdriver: VM %d: the server refused an input interface\n",
                         _index);
        spice_server_vm_start(_server);

        _workload->first_paint(_ops);
        _painted = _qxl->submit(_ops);
        if (!_painted) ++_refused; // the first tick retries it
        _ops.clear();
        // A random phase, so K VMs do not all draw in the same millisecond.
        const unsigned period = _workload->period_ms();
        if (period > 0 || !_painted) {
            const unsigned phase = _rng.below(std::max(period, 1u));
            _due_us = g_get_monotonic_time() + static_cast<int64_t>(phase) * 1000;
            arm();
        }
        return true;
    }

    /// Stops drawing (the timer) and destroys the server; idempotent.
    void destroy() {
        if (_timer != 0) g_source_remove(_timer);
        _timer = 0;
        if (_server != nullptr) spice_server_destroy(_server);
        _server = nullptr;
        _qxl.reset();
    }
    /// Stops the frame timer; the server keeps serving what was drawn.
    void stop_drawing() {
        if (_timer != 0) g_source_remove(_timer);
        _timer = 0;
    }

    int index() const noexcept { return _index; }
    uint64_t frames() const noexcept { return _frames; }
    uint64_t refused() const noexcept { return _refused; }

  private:
    // One-shot timers chained on absolute deadlines, so the frame rate does
    // not drift by the time each frame takes; a VM that fell behind by more
    // than a period skips ahead instead of drawing a burst.
    void arm() {
        const int64_t now = g_get_monotonic_time();
        const int64_t wait_us = std::max<int64_t>(0, _due_us - now);
        _timer = g_timeout_add(static_cast<guint>((wait_us + 999) / 1000), tick, this);
    }
    static gboolean tick(gpointer p) {
        auto *self = static_cast<vm *>(p);
        self->_timer = 0;
        self->step();
        return G_SOURCE_REMOVE;
    }
    void step() {
        if (!_painted) {
            _workload->first_paint(_ops);
            _painted = _qxl->submit(_ops);
            if (!_painted) ++_refused;
            _ops.clear();
        } else {
            _workload->next_frame(_ops);
            if (!_ops.empty()) {
                // The marker, last in the frame's submission, stamped just
                // before the drawables are queued.
                _ops.push_back(draw_op{draw_op::kind::fill,
                                       demo::rect{0, _config.height - 1, 1, _config.height},
                                       stamp_now(), nullptr, 0, 0});
                if (_qxl->submit(_ops))
                    ++_frames;
                else
                    ++_refused; // ring or heap full: this frame is dropped
                _ops.clear();
            }
        }
        const unsigned interval = _painted ? _workload->interval_ms() : 100;
        if (interval == 0) return; // idle: no timer after the first paint
        const int64_t now = g_get_monotonic_time();
        _due_us += static_cast<int64_t>(interval) * 1000;
        if (_due_us < now - static_cast<int64_t>(interval) * 1000) _due_us = now;
        arm();
    }

    int _index;
    rng _rng;
    demo::qxl_config _config;
    std::unique_ptr<workload> _workload;
    SpiceServer *_server = nullptr;
    std::unique_ptr<demo::fake_qxl> _qxl;
    input_stubs _inputs;
    std::vector<draw_op> _ops;
    bool _painted = false;
    guint _timer = 0;
    int64_t _due_us = 0;
    uint64_t _frames = 0;
    uint64_t _refused = 0;
};

gboolean quit_loop(gpointer loop) {
    g_main_loop_quit(static_cast<GMainLoop *>(loop));
    return G_SOURCE_REMOVE;
}

/// Stdin: data is discarded; EOF or an error stops the driver.
gboolean stdin_ready(gint fd, GIOCondition, gpointer loop) {
    char buf[256];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN))) return G_SOURCE_CONTINUE;
    g_main_loop_quit(static_cast<GMainLoop *>(loop));
    return G_SOURCE_REMOVE;
}

int run(const options &opt) {
    rs::tools::glib_core core; // one core interface for all the servers
    shared_assets assets;
    std::vector<std::unique_ptr<vm>> vms;
    for (int i = 0; i < opt.vms; ++i) {
        vms.push_back(std::make_unique<vm>(i, opt, assets));
        if (!vms.back()->start(opt, opt.port + i, core.interface())) return 1;
    }

    GMainLoop *loop = g_main_loop_new(core.context(), FALSE);
    g_unix_signal_add(SIGINT, quit_loop, loop);
    g_unix_signal_add(SIGTERM, quit_loop, loop);
    if (opt.seconds > 0)
        g_timeout_add(static_cast<guint>(opt.seconds) * 1000, quit_loop, loop);
    else
        g_unix_fd_add(STDIN_FILENO, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR),
                      stdin_ready, loop);

    std::printf("READY port=%d vms=%d pid=%d\n", opt.port, opt.vms, static_cast<int>(getpid()));
    std::fflush(stdout);
    g_main_loop_run(loop);

    for (auto &v : vms)
        v->stop_drawing();
    for (auto &v : vms)
        std::printf("VM i=%d frames=%llu refused=%llu\n", v->index(),
                    static_cast<unsigned long long>(v->frames()),
                    static_cast<unsigned long long>(v->refused()));
    std::fflush(stdout);
    vms.clear(); // each server is destroyed before its device's memory
    g_main_loop_unref(loop);
    std::puts("DONE");
    std::fflush(stdout);
    return 0;
}

} // namespace
} // namespace rs::bench::vdi

int main(int argc, char **argv) {
    rs::bench::vdi::options opt;
    if (!rs::bench::vdi::parse(argc, argv, opt)) {
        rs::bench::vdi::usage();
        return 2;
    }
    return rs::bench::vdi::run(opt);
}

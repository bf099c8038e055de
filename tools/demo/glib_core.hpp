// A SpiceCoreInterface over a GLib main context: what a VMM gives the
// server (watches, timers, channel events). QEMU's is the same shape.
#pragma once

#include <glib.h>
#include <spice.h>

#include <functional>

namespace rs::tools {

/// Owns the GLib main context the server's watches and timers run on; lives
/// on the thread that runs the loop (the "VMM main thread").
class glib_core {
  public:
    glib_core();
    ~glib_core();
    glib_core(const glib_core &) = delete;
    glib_core &operator=(const glib_core &) = delete;

    SpiceCoreInterface *interface() noexcept { return &_iface; }
    GMainContext *context() noexcept { return _ctx; }
    /// Called for each channel event the server reports.
    std::function<void(int event, SpiceChannelEventInfo *info)> on_channel_event;

  private:
    SpiceCoreInterface _iface{};
    GMainContext *_ctx;
};

} // namespace rs::tools

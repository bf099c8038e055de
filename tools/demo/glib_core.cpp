#include "glib_core.hpp"

#include <glib-unix.h>

namespace rs::tools {
namespace {

glib_core *g_core = nullptr; // SpiceCoreInterface callbacks carry no opaque

struct SpiceTimerImpl {
    SpiceTimerFunc func;
    void *opaque;
    GSource *source = nullptr;
};

struct SpiceWatchImpl {
    int fd;
    SpiceWatchFunc func;
    void *opaque;
    GSource *source = nullptr;
};

SpiceTimer *timer_add(SpiceTimerFunc func, void *opaque) {
    return reinterpret_cast<SpiceTimer *>(new SpiceTimerImpl{func, opaque});
}

gboolean timer_fired(gpointer p) {
    auto *t = static_cast<SpiceTimerImpl *>(p);
    g_source_unref(t->source);
    t->source = nullptr;
    t->func(t->opaque);
    return G_SOURCE_REMOVE;
}

void timer_cancel(SpiceTimer *timer) {
    auto *t = reinterpret_cast<SpiceTimerImpl *>(timer);
    if (t->source != nullptr) {
        g_source_destroy(t->source);
        g_source_unref(t->source);
        t->source = nullptr;
    }
}

void timer_start(SpiceTimer *timer, uint32_t ms) {
    auto *t = reinterpret_cast<SpiceTimerImpl *>(timer);
    timer_cancel(timer);
    t->source = g_timeout_source_new(ms);
    g_source_set_callback(t->source, timer_fired, t, nullptr);
    g_source_attach(t->source, g_core->context());
}

void timer_remove(SpiceTimer *timer) {
    timer_cancel(timer);
    delete reinterpret_cast<SpiceTimerImpl *>(timer);
}

gboolean watch_ready(gint fd, GIOCondition cond, gpointer p) {
    auto *w = static_cast<SpiceWatchImpl *>(p);
    int ev = 0;
    if ((cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0) ev |= SPICE_WATCH_EVENT_READ;
    if ((cond & G_IO_OUT) != 0) ev |= SPICE_WATCH_EVENT_WRITE;
    w->func(fd, ev, w->opaque);
    return G_SOURCE_CONTINUE;
}

void watch_update_mask(SpiceWatch *watch, int mask) {
    auto *w = reinterpret_cast<SpiceWatchImpl *>(watch);
    if (w->source != nullptr) {
        g_source_destroy(w->source);
        g_source_unref(w->source);
        w->source = nullptr;
    }
    int cond = 0;
    if ((mask & SPICE_WATCH_EVENT_READ) != 0) cond |= G_IO_IN;
    if ((mask & SPICE_WATCH_EVENT_WRITE) != 0) cond |= G_IO_OUT;
    if (cond == 0) return;
    w->source = g_unix_fd_source_new(w->fd, static_cast<GIOCondition>(cond));
    g_source_set_callback(w->source, G_SOURCE_FUNC(watch_ready), w, nullptr);
    g_source_attach(w->source, g_core->context());
}

SpiceWatch *watch_add(int fd, int mask, SpiceWatchFunc func, void *opaque) {
    auto *w = new SpiceWatchImpl{fd, func, opaque};
    watch_update_mask(reinterpret_cast<SpiceWatch *>(w), mask);
    return reinterpret_cast<SpiceWatch *>(w);
}

void watch_remove(SpiceWatch *watch) {
    watch_update_mask(watch, 0);
    delete reinterpret_cast<SpiceWatchImpl *>(watch);
}

void channel_event(int event, SpiceChannelEventInfo *info) {
    if (g_core->on_channel_event) g_core->on_channel_event(event, info);
}

} // namespace

glib_core::glib_core()
    : _ctx(g_main_context_default()) {
    g_core = this;
    _iface.base.type = SPICE_INTERFACE_CORE;
    _iface.base.description = "ringspice tools core";
    _iface.base.major_version = SPICE_INTERFACE_CORE_MAJOR;
    _iface.base.minor_version = SPICE_INTERFACE_CORE_MINOR;
    _iface.timer_add = timer_add;
    _iface.timer_start = timer_start;
    _iface.timer_cancel = timer_cancel;
    _iface.timer_remove = timer_remove;
    _iface.watch_add = watch_add;
    _iface.watch_update_mask = watch_update_mask;
    _iface.watch_remove = watch_remove;
    _iface.channel_event = channel_event;
}

glib_core::~glib_core() { g_core = nullptr; }

} // namespace rs::tools

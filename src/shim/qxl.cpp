// The spice_qxl_* entry points: calls from the VMM's threads about one QXL
// device. Until the display shard lands they record state and answer:
// synchronous calls return at once, async ones complete on the VMM's loop.
#include <spice.h>

#include <unistd.h>

#include <cstring>

#include "runtime/log.hpp"
#include "shim/shim_state.hpp"

namespace {

QXLState *qxl_state(QXLInstance *qxl) { return qxl != nullptr ? qxl->st : nullptr; }

/// Completes an async QXL call from the VMM's loop thread: until the
/// display shard exists there is no worker thread to answer from.
void complete_async(QXLInstance *qxl, uint64_t cookie) {
    auto *st = qxl_state(qxl);
    if (st == nullptr || st->reds == nullptr) return;
    auto *sif = reinterpret_cast<const QXLInterface *>(qxl->base.sif);
    if (!st->reds->srv.initialized() || sif->async_complete == nullptr) return;
    st->reds->srv.control().post([qxl, sif, cookie] { sif->async_complete(qxl, cookie); });
}

} // namespace

using rs::shim::not_supported;

extern "C" {

void spice_qxl_wakeup(QXLInstance *) {}
void spice_qxl_oom(QXLInstance *) {}
void spice_qxl_start(QXLInstance *qxl) {
    if (auto *st = qxl_state(qxl)) st->running = true;
}
void spice_qxl_stop(QXLInstance *qxl) {
    if (auto *st = qxl_state(qxl)) st->running = false;
}
void spice_qxl_update_area(QXLInstance *, uint32_t, struct QXLRect *, struct QXLRect *dirty_rects,
                           uint32_t num_dirty_rects, uint32_t) {
    if (dirty_rects != nullptr) std::memset(dirty_rects, 0, sizeof(QXLRect) * num_dirty_rects);
}
void spice_qxl_add_memslot(QXLInstance *, QXLDevMemSlot *) {}
void spice_qxl_del_memslot(QXLInstance *, uint32_t, uint32_t) {}
void spice_qxl_reset_memslots(QXLInstance *) {}
void spice_qxl_destroy_surfaces(QXLInstance *) {}
void spice_qxl_destroy_primary_surface(QXLInstance *, uint32_t) {}
void spice_qxl_create_primary_surface(QXLInstance *, uint32_t, QXLDevSurfaceCreate *) {}
void spice_qxl_reset_image_cache(QXLInstance *) {}
void spice_qxl_reset_cursor(QXLInstance *) {}
void spice_qxl_destroy_surface_wait(QXLInstance *, uint32_t) {}
void spice_qxl_loadvm_commands(QXLInstance *, struct QXLCommandExt *, uint32_t) {}
void spice_qxl_update_area_async(QXLInstance *qxl, uint32_t, struct QXLRect *, uint32_t,
                                 uint64_t cookie) {
    complete_async(qxl, cookie);
}
void spice_qxl_add_memslot_async(QXLInstance *qxl, QXLDevMemSlot *, uint64_t cookie) {
    complete_async(qxl, cookie);
}
void spice_qxl_destroy_surfaces_async(QXLInstance *qxl, uint64_t cookie) {
    complete_async(qxl, cookie);
}
void spice_qxl_destroy_primary_surface_async(QXLInstance *qxl, uint32_t, uint64_t cookie) {
    complete_async(qxl, cookie);
}
void spice_qxl_create_primary_surface_async(QXLInstance *qxl, uint32_t, QXLDevSurfaceCreate *,
                                            uint64_t cookie) {
    complete_async(qxl, cookie);
}
void spice_qxl_destroy_surface_async(QXLInstance *qxl, uint32_t, uint64_t cookie) {
    complete_async(qxl, cookie);
}
void spice_qxl_flush_surfaces_async(QXLInstance *qxl, uint64_t cookie) {
    complete_async(qxl, cookie);
}
void spice_qxl_monitors_config_async(QXLInstance *qxl, QXLPHYSICAL, int, uint64_t cookie) {
    complete_async(qxl, cookie);
}
void spice_qxl_driver_unload(QXLInstance *) {}
void spice_qxl_set_max_monitors(QXLInstance *qxl, unsigned int max_monitors) {
    if (auto *st = qxl_state(qxl)) st->max_monitors = max_monitors;
}
void spice_qxl_set_device_info(QXLInstance *, const char *, uint32_t, uint32_t) {}
void spice_qxl_gl_scanout(QXLInstance *, int fd, uint32_t, uint32_t, uint32_t, uint32_t, int) {
    not_supported(__func__);
    if (fd >= 0) ::close(fd); // ownership of the dmabuf fd passes to us
}
void spice_qxl_gl_draw_async(QXLInstance *qxl, uint32_t, uint32_t, uint32_t, uint32_t,
                             uint64_t cookie) {
    not_supported(__func__);
    complete_async(qxl, cookie);
}

} // extern "C"

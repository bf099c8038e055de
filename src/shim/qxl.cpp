// The spice_qxl_* entry points: calls from the VMM's threads (vCPU threads,
// the main loop) about one QXL device. Each becomes a message to the
// device's display shard: synchronous calls wait for it, _async ones return
// at once and complete through QXLInterface::async_complete from the display
// shard, as the reference's worker thread does.
#include <spice.h>

#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "reds/agent.hpp" // agent (issue 8): device info limits
#include "runtime/log.hpp"
#include "shim/shim_state.hpp"

namespace {

rs::qxl_device *device_of(QXLInstance *qxl, const char *fn) {
    if (qxl == nullptr || qxl->st == nullptr || !qxl->st->device) {
        RS_LOG_RATELIMITED("shim", "{} on a QXL instance that was never added; ignored", fn);
        return nullptr;
    }
    return qxl->st->device.get();
}

/// Answers an async call on a device we do not know, so the VMM never waits
/// forever: from the calling thread, as there is no worker to answer from.
void complete_unknown(QXLInstance *qxl, uint64_t cookie) {
    if (qxl == nullptr || qxl->base.sif == nullptr) return;
    auto *sif = reinterpret_cast<const QXLInterface *>(qxl->base.sif);
    if (sif->async_complete != nullptr) sif->async_complete(qxl, cookie);
}

/// Tells the control shard whether client mouse mode is allowed: the
/// reference allows it only while a primary surface exists, whose size is
/// the tablet's logical size. Posted, never waited for: the VMM calls from
/// vCPU threads that hold its lock.
void report_primary(QXLInstance *qxl, bool allowed, int width, int height) {
    if (qxl == nullptr || qxl->st == nullptr || qxl->st->reds == nullptr) return;
    rs::server &srv = qxl->st->reds->srv;
    if (!srv.initialized()) return;
    srv.control().post(
        [&srv, allowed, width, height] { srv.set_client_mouse_allowed(allowed, width, height); });
}

} // namespace

using rs::shim::not_supported;

extern "C" {

void spice_qxl_wakeup(QXLInstance *qxl) {
    if (auto *d = device_of(qxl, __func__)) d->post([](rs::qxl_device &x) { x.wakeup(); });
}

void spice_qxl_oom(QXLInstance *qxl) {
    if (auto *d = device_of(qxl, __func__)) d->post([](rs::qxl_device &x) { x.oom(); });
}

void spice_qxl_start(QXLInstance *qxl) {
    if (auto *d = device_of(qxl, __func__)) d->sync_call([](rs::qxl_device &x) { x.start(); });
}

void spice_qxl_stop(QXLInstance *qxl) {
    if (auto *d = device_of(qxl, __func__)) d->sync_call([](rs::qxl_device &x) { x.stop(); });
}

void spice_qxl_update_area(QXLInstance *qxl, uint32_t surface_id, struct QXLRect *area,
                           struct QXLRect *dirty_rects, uint32_t num_dirty_rects,
                           uint32_t clear_dirty_region) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr || area == nullptr) return;
    const QXLRect a = *area;
    std::vector<QXLRect> dirty(dirty_rects != nullptr ? num_dirty_rects : 0);
    d->sync_call(
        [&](rs::qxl_device &x) { x.update_area(surface_id, a, dirty, clear_dirty_region != 0); });
    if (!dirty.empty()) std::memcpy(dirty_rects, dirty.data(), dirty.size() * sizeof(QXLRect));
}

void spice_qxl_update_area_async(QXLInstance *qxl, uint32_t surface_id, struct QXLRect *area,
                                 uint32_t clear_dirty_region, uint64_t cookie) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr || area == nullptr) return complete_unknown(qxl, cookie);
    const QXLRect a = *area;
    d->async_call(cookie, [qxl, surface_id, a, clear_dirty_region](rs::qxl_device &x) {
        QXLRect dirty{};
        x.update_area(surface_id, a, std::span(&dirty, 1), clear_dirty_region != 0);
        auto *sif = reinterpret_cast<const QXLInterface *>(qxl->base.sif);
        if (sif->update_area_complete != nullptr)
            sif->update_area_complete(qxl, surface_id, &dirty, 1);
    });
}

void spice_qxl_add_memslot(QXLInstance *qxl, QXLDevMemSlot *slot) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr || slot == nullptr) return;
    const QXLDevMemSlot copy = *slot;
    d->sync_call([copy](rs::qxl_device &x) { x.add_memslot(copy); });
}

void spice_qxl_add_memslot_async(QXLInstance *qxl, QXLDevMemSlot *slot, uint64_t cookie) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr || slot == nullptr) return complete_unknown(qxl, cookie);
    const QXLDevMemSlot copy = *slot;
    d->async_call(cookie, [copy](rs::qxl_device &x) { x.add_memslot(copy); });
}

void spice_qxl_del_memslot(QXLInstance *qxl, uint32_t slot_group_id, uint32_t slot_id) {
    if (auto *d = device_of(qxl, __func__))
        d->sync_call([=](rs::qxl_device &x) { x.del_memslot(slot_group_id, slot_id); });
}

void spice_qxl_reset_memslots(QXLInstance *qxl) {
    if (auto *d = device_of(qxl, __func__))
        d->sync_call([](rs::qxl_device &x) { x.reset_memslots(); });
}

void spice_qxl_destroy_surfaces(QXLInstance *qxl) {
    if (auto *d = device_of(qxl, __func__))
        d->sync_call([](rs::qxl_device &x) { x.destroy_surfaces(); });
}

void spice_qxl_destroy_surfaces_async(QXLInstance *qxl, uint64_t cookie) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr) return complete_unknown(qxl, cookie);
    d->async_call(cookie, [](rs::qxl_device &x) { x.destroy_surfaces(); });
}

void spice_qxl_destroy_primary_surface(QXLInstance *qxl, uint32_t surface_id) {
    if (auto *d = device_of(qxl, __func__)) {
        d->sync_call([=](rs::qxl_device &x) { x.destroy_primary(surface_id); });
        report_primary(qxl, false, 0, 0);
    }
}

void spice_qxl_destroy_primary_surface_async(QXLInstance *qxl, uint32_t surface_id,
                                             uint64_t cookie) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr) return complete_unknown(qxl, cookie);
    d->async_call(cookie, [=](rs::qxl_device &x) { x.destroy_primary(surface_id); });
    report_primary(qxl, false, 0, 0);
}

void spice_qxl_create_primary_surface(QXLInstance *qxl, uint32_t surface_id,
                                      QXLDevSurfaceCreate *surface) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr || surface == nullptr) return;
    const QXLDevSurfaceCreate copy = *surface;
    d->sync_call([=](rs::qxl_device &x) { x.create_primary(surface_id, copy); });
    report_primary(qxl, true, static_cast<int>(copy.width), static_cast<int>(copy.height));
}

void spice_qxl_create_primary_surface_async(QXLInstance *qxl, uint32_t surface_id,
                                            QXLDevSurfaceCreate *surface, uint64_t cookie) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr || surface == nullptr) return complete_unknown(qxl, cookie);
    const QXLDevSurfaceCreate copy = *surface;
    d->async_call(cookie, [=](rs::qxl_device &x) { x.create_primary(surface_id, copy); });
    report_primary(qxl, true, static_cast<int>(copy.width), static_cast<int>(copy.height));
}

void spice_qxl_reset_image_cache(QXLInstance *qxl) {
    if (auto *d = device_of(qxl, __func__))
        d->sync_call([](rs::qxl_device &x) { x.reset_image_cache(); });
}

void spice_qxl_reset_cursor(QXLInstance *qxl) {
    if (auto *d = device_of(qxl, __func__))
        d->sync_call([](rs::qxl_device &x) { x.reset_cursor(); });
}

void spice_qxl_destroy_surface_wait(QXLInstance *qxl, uint32_t surface_id) {
    if (auto *d = device_of(qxl, __func__))
        d->sync_call([=](rs::qxl_device &x) { x.destroy_surface(surface_id); });
}

void spice_qxl_destroy_surface_async(QXLInstance *qxl, uint32_t surface_id, uint64_t cookie) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr) return complete_unknown(qxl, cookie);
    d->async_call(cookie, [=](rs::qxl_device &x) { x.destroy_surface(surface_id); });
}

void spice_qxl_loadvm_commands(QXLInstance *qxl, struct QXLCommandExt *ext, uint32_t count) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr || ext == nullptr) return;
    std::vector<QXLCommandExt> cmds(ext, ext + count);
    d->sync_call([&](rs::qxl_device &x) { x.loadvm_commands(cmds); });
}

void spice_qxl_flush_surfaces_async(QXLInstance *qxl, uint64_t cookie) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr) return complete_unknown(qxl, cookie);
    d->async_call(cookie, [](rs::qxl_device &x) { x.flush_surfaces(); });
}

void spice_qxl_monitors_config_async(QXLInstance *qxl, QXLPHYSICAL monitors_config, int group_id,
                                     uint64_t cookie) {
    auto *d = device_of(qxl, __func__);
    if (d == nullptr) return complete_unknown(qxl, cookie);
    d->async_call(cookie, [=](rs::qxl_device &x) { x.monitors_config(monitors_config, group_id); });
}

void spice_qxl_driver_unload(QXLInstance *qxl) {
    // The reference drops the driver's monitors config and video streams
    // here; ringspice keeps neither yet, so there is nothing to drop.
    (void)device_of(qxl, __func__);
}

void spice_qxl_set_max_monitors(QXLInstance *qxl, unsigned int max_monitors) {
    if (auto *d = device_of(qxl, __func__))
        d->post([=](rs::qxl_device &x) { x.set_max_monitors(max_monitors); });
}

void spice_qxl_set_device_info(QXLInstance *qxl, const char *device_address,
                               uint32_t device_display_id_start, uint32_t device_display_id_count) {
    // agent (issue 8): the reference's limits, then the control shard keeps
    // the info and tells the agent (VD_AGENT_GRAPHICS_DEVICE_INFO).
    if (device_of(qxl, __func__) == nullptr || device_address == nullptr) return;
    const size_t len = ::strnlen(device_address, rs::agent_pipe::max_device_address_len);
    if (len >= rs::agent_pipe::max_device_address_len ||
        device_display_id_count > rs::agent_pipe::max_device_displays) {
        RS_LOG_WARN("shim",
                    "spice_qxl_set_device_info: address longer than {} or more than {} "
                    "displays; ignored",
                    rs::agent_pipe::max_device_address_len - 1,
                    rs::agent_pipe::max_device_displays);
        return;
    }
    RS_LOG_DEBUG("shim", "QXL {} device info: {} displays {}+{}", qxl->id, device_address,
                 device_display_id_start, device_display_id_count);
    rs::server &srv = qxl->st->reds->srv;
    rs::server::qxl_device_info info{.qxl_id = qxl->id,
                                     .address = std::string(device_address, len),
                                     .first_display_id = device_display_id_start,
                                     .count = device_display_id_count};
    if (!srv.initialized()) {
        srv.set_qxl_device_info(std::move(info));
        return;
    }
    // Posted, never waited for: the VMM may call with its lock held.
    srv.control().post(
        [&srv, i = std::move(info)]() mutable { srv.set_qxl_device_info(std::move(i)); });
}

void spice_qxl_gl_scanout(QXLInstance *, int fd, uint32_t, uint32_t, uint32_t, uint32_t, int) {
    not_supported(__func__);
    if (fd >= 0) ::close(fd); // ownership of the dmabuf fd passes to us
}

void spice_qxl_gl_draw_async(QXLInstance *qxl, uint32_t, uint32_t, uint32_t, uint32_t,
                             uint64_t cookie) {
    not_supported(__func__);
    if (auto *d = device_of(qxl, __func__))
        d->async_call(cookie, [](rs::qxl_device &) {});
    else
        complete_unknown(qxl, cookie);
}

} // extern "C"

/* The public API of libspice-server.so.1 called in the wrong order, as a
 * confused or racing VMM would: calls on instances never added, removals of
 * instances never added, a second spice_server_init, audio calls before
 * start, and spice_server_destroy with a QXL device still added.
 *
 * The specification: every call returns its documented value and nothing
 * crashes or hangs. spice_qxl_* on an instance never added logs and returns;
 * the _async ones still complete their cookie through async_complete, so
 * the VMM never waits forever. Exit 0 when every check holds. */
#include <spice.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "wrong_state.c:%d: check failed: %s\n", __LINE__, #cond);              \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

/* ---- a core that never fires: the VMM's main loop is not needed here ------ */

struct SpiceTimer {
    SpiceTimerFunc func;
    void *opaque;
};
struct SpiceWatch {
    int fd;
};

static SpiceTimer *timer_add(SpiceTimerFunc func, void *opaque) {
    SpiceTimer *t = calloc(1, sizeof *t);
    if (t != NULL) {
        t->func = func;
        t->opaque = opaque;
    }
    return t;
}
static void timer_start(SpiceTimer *t, uint32_t ms) {
    (void)t;
    (void)ms;
}
static void timer_cancel(SpiceTimer *t) { (void)t; }
static void timer_remove(SpiceTimer *t) { free(t); }
static SpiceWatch *watch_add(int fd, int mask, SpiceWatchFunc func, void *opaque) {
    (void)mask;
    (void)func;
    (void)opaque;
    SpiceWatch *w = calloc(1, sizeof *w);
    if (w != NULL) w->fd = fd;
    return w;
}
static void watch_update_mask(SpiceWatch *w, int mask) {
    (void)w;
    (void)mask;
}
static void watch_remove(SpiceWatch *w) { free(w); }
static void channel_event(int event, SpiceChannelEventInfo *info) {
    (void)event;
    (void)info;
}

static SpiceCoreInterface core = {
    .base = {.type = SPICE_INTERFACE_CORE,
             .description = "wrong_state core",
             .major_version = SPICE_INTERFACE_CORE_MAJOR,
             .minor_version = SPICE_INTERFACE_CORE_MINOR},
    .timer_add = timer_add,
    .timer_start = timer_start,
    .timer_cancel = timer_cancel,
    .timer_remove = timer_remove,
    .watch_add = watch_add,
    .watch_update_mask = watch_update_mask,
    .watch_remove = watch_remove,
    .channel_event = channel_event,
};

/* ---- a QXL interface that records async completions ---------------------- */

static uint64_t cookies[64];
static int n_cookies;

static void attached_worker(QXLInstance *qin) { (void)qin; }
static void set_compression_level(QXLInstance *qin, int level) {
    (void)qin;
    (void)level;
}
static void get_init_info(QXLInstance *qin, QXLDevInitInfo *info) {
    (void)qin;
    memset(info, 0, sizeof *info);
    info->num_memslots_groups = 2;
    info->num_memslots = 8;
    info->memslot_gen_bits = 8;
    info->memslot_id_bits = 8;
    info->n_surfaces = 64;
}
static int get_command(QXLInstance *qin, QXLCommandExt *cmd) {
    (void)qin;
    (void)cmd;
    return 0;
}
static int req_cmd_notification(QXLInstance *qin) {
    (void)qin;
    return 1;
}
static void release_resource(QXLInstance *qin, QXLReleaseInfoExt info) {
    (void)qin;
    (void)info;
}
static int flush_resources(QXLInstance *qin) {
    (void)qin;
    return 0;
}
static void async_complete(QXLInstance *qin, uint64_t cookie) {
    (void)qin;
    if (n_cookies < (int)(sizeof cookies / sizeof cookies[0])) cookies[n_cookies] = cookie;
    ++n_cookies;
}
static void update_area_complete(QXLInstance *qin, uint32_t surface_id, QXLRect *updated_rects,
                                 uint32_t num_updated_rects) {
    (void)qin;
    (void)surface_id;
    (void)updated_rects;
    (void)num_updated_rects;
}
static void set_client_capabilities(QXLInstance *qin, uint8_t client_present, uint8_t *caps) {
    (void)qin;
    (void)client_present;
    (void)caps;
}
static int client_monitors_config(QXLInstance *qin, VDAgentMonitorsConfig *config) {
    (void)qin;
    (void)config;
    return 0;
}

static const QXLInterface qxl_interface = {
    .base = {.type = SPICE_INTERFACE_QXL,
             .description = "wrong_state qxl",
             .major_version = SPICE_INTERFACE_QXL_MAJOR,
             .minor_version = SPICE_INTERFACE_QXL_MINOR},
    .attached_worker = attached_worker,
    .set_compression_level = set_compression_level,
    .get_init_info = get_init_info,
    .get_command = get_command,
    .req_cmd_notification = req_cmd_notification,
    .release_resource = release_resource,
    .get_cursor_command = get_command,
    .req_cursor_notification = req_cmd_notification,
    .notify_update = NULL,
    .flush_resources = flush_resources,
    .async_complete = async_complete,
    .update_area_complete = update_area_complete,
    .set_client_capabilities = set_client_capabilities,
    .client_monitors_config = client_monitors_config,
};

static const SpiceKbdInterface kbd_interface = {
    .base = {.type = SPICE_INTERFACE_KEYBOARD,
             .description = "wrong_state kbd",
             .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
             .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR},
};

static const SpicePlaybackInterface playback_interface = {
    .base = {.type = SPICE_INTERFACE_PLAYBACK,
             .description = "wrong_state playback",
             .major_version = SPICE_INTERFACE_PLAYBACK_MAJOR,
             .minor_version = SPICE_INTERFACE_PLAYBACK_MINOR},
};

static const SpiceRecordInterface record_interface = {
    .base = {.type = SPICE_INTERFACE_RECORD,
             .description = "wrong_state record",
             .major_version = SPICE_INTERFACE_RECORD_MAJOR,
             .minor_version = SPICE_INTERFACE_RECORD_MINOR},
};

/* spice_qxl_* on an instance never added: each logs and returns; each async
 * call completes its cookie from the calling thread. */
static void qxl_calls_on_an_instance_never_added(void) {
    QXLInstance qxl;
    memset(&qxl, 0, sizeof qxl);
    qxl.base.sif = &qxl_interface.base;

    QXLRect area = {.top = 0, .left = 0, .bottom = 16, .right = 16};
    QXLRect dirty[2];
    QXLDevMemSlot slot;
    memset(&slot, 0, sizeof slot);
    QXLDevSurfaceCreate create;
    memset(&create, 0, sizeof create);
    create.width = 64;
    create.height = 64;
    create.stride = 256;
    create.format = SPICE_SURFACE_FMT_32_xRGB;
    QXLCommandExt cmd;
    memset(&cmd, 0, sizeof cmd);

    spice_qxl_wakeup(&qxl);
    spice_qxl_oom(&qxl);
    spice_qxl_start(&qxl);
    spice_qxl_stop(&qxl);
    spice_qxl_update_area(&qxl, 0, &area, dirty, 2, 1);
    spice_qxl_add_memslot(&qxl, &slot);
    spice_qxl_del_memslot(&qxl, 1, 1);
    spice_qxl_reset_memslots(&qxl);
    spice_qxl_destroy_surfaces(&qxl);
    spice_qxl_destroy_primary_surface(&qxl, 0);
    spice_qxl_create_primary_surface(&qxl, 0, &create);
    spice_qxl_reset_image_cache(&qxl);
    spice_qxl_reset_cursor(&qxl);
    spice_qxl_destroy_surface_wait(&qxl, 1);
    spice_qxl_loadvm_commands(&qxl, &cmd, 1);
    spice_qxl_set_max_monitors(&qxl, 4);
    spice_qxl_driver_unload(&qxl);
    spice_qxl_wakeup(NULL);

    n_cookies = 0;
    spice_qxl_update_area_async(&qxl, 0, &area, 1, 101);
    spice_qxl_add_memslot_async(&qxl, &slot, 102);
    spice_qxl_destroy_surfaces_async(&qxl, 103);
    spice_qxl_destroy_primary_surface_async(&qxl, 0, 104);
    spice_qxl_create_primary_surface_async(&qxl, 0, &create, 105);
    spice_qxl_destroy_surface_async(&qxl, 1, 106);
    spice_qxl_flush_surfaces_async(&qxl, 107);
    spice_qxl_monitors_config_async(&qxl, 0, 0, 108);
    CHECK(n_cookies == 8);
    for (int i = 0; i < 8 && i < n_cookies; ++i)
        CHECK(cookies[i] == (uint64_t)(101 + i));
    /* No instance, no interface: nothing to complete, and no crash. */
    spice_qxl_flush_surfaces_async(NULL, 109);
    CHECK(n_cookies == 8);

    CHECK(spice_server_remove_interface(&qxl.base) == -1);
}

static void other_calls_on_instances_never_added(void) {
    SpiceKbdInstance kbd;
    memset(&kbd, 0, sizeof kbd);
    kbd.base.sif = &kbd_interface.base;
    CHECK(spice_server_kbd_leds(&kbd, 7) == -1);
    CHECK(spice_server_kbd_leds(NULL, 7) == -1);
    CHECK(spice_server_remove_interface(&kbd.base) == -1);
    CHECK(spice_server_remove_interface(NULL) == -1);

    SpicePlaybackInstance playback;
    memset(&playback, 0, sizeof playback);
    playback.base.sif = &playback_interface.base;
    spice_server_playback_start(&playback);
    uint32_t *samples = (uint32_t *)&playback;
    uint32_t n = 99;
    spice_server_playback_get_buffer(&playback, &samples, &n);
    CHECK(samples == NULL);
    CHECK(n == 0);
    uint32_t frame[16] = {0};
    spice_server_playback_put_samples(&playback, frame);
    uint16_t volume[2] = {100, 100};
    spice_server_playback_set_volume(&playback, 2, volume);
    spice_server_playback_set_mute(&playback, 1);
    spice_server_set_playback_rate(&playback, 48000);
    spice_server_playback_stop(&playback);

    SpiceRecordInstance record;
    memset(&record, 0, sizeof record);
    record.base.sif = &record_interface.base;
    spice_server_record_start(&record);
    CHECK(spice_server_record_get_samples(&record, frame, 16) == 0);
    spice_server_record_set_volume(&record, 2, volume);
    spice_server_record_set_mute(&record, 1);
    spice_server_set_record_rate(&record, 48000);
    spice_server_record_stop(&record);

    SpiceCharDeviceInstance chr;
    memset(&chr, 0, sizeof chr);
    spice_server_char_device_wakeup(&chr);
    spice_server_port_event(&chr, 0 /* SPICE_PORT_EVENT_OPENED */);
}

/* Audio instances added but never started: the channel has nothing to give
 * and takes nothing, and stop before start is harmless. */
static void audio_calls_before_start(SpiceServer *server) {
    static SpicePlaybackInstance playback;
    static SpiceRecordInstance record;
    playback.base.sif = &playback_interface.base;
    record.base.sif = &record_interface.base;
    CHECK(spice_server_add_interface(server, &playback.base) == 0);
    CHECK(spice_server_add_interface(server, &record.base) == 0);

    spice_server_playback_stop(&playback);
    uint32_t *samples = NULL;
    uint32_t n = 0;
    spice_server_playback_get_buffer(&playback, &samples, &n);
    if (samples != NULL && n > 0) spice_server_playback_put_samples(&playback, samples);
    uint16_t volume[2] = {100, 100};
    spice_server_playback_set_volume(&playback, 2, volume);
    spice_server_playback_set_volume(&playback, 0, NULL);
    spice_server_playback_set_mute(&playback, 0);

    spice_server_record_stop(&record);
    uint32_t frame[64];
    CHECK(spice_server_record_get_samples(&record, frame, 64) == 0);
    spice_server_record_set_volume(&record, 2, volume);
    spice_server_record_set_mute(&record, 0);

    /* Started and stopped twice over. */
    spice_server_playback_start(&playback);
    spice_server_playback_start(&playback);
    spice_server_playback_stop(&playback);
    spice_server_playback_stop(&playback);
    spice_server_record_start(&record);
    spice_server_record_start(&record);
    spice_server_record_stop(&record);
    spice_server_record_stop(&record);
}

int main(void) {
    qxl_calls_on_an_instance_never_added();
    other_calls_on_instances_never_added();

    SpiceServer *server = spice_server_new();
    CHECK(server != NULL);
    if (server == NULL) return 1;
    CHECK(spice_server_init(server, &core) == 0);
    CHECK(spice_server_init(server, &core) == 0); /* logged and ignored */

    audio_calls_before_start(server);

    /* A QXL device added and left there: destroy must take it down. */
    static QXLInstance qxl;
    qxl.base.sif = &qxl_interface.base;
    qxl.id = 0;
    CHECK(spice_server_add_interface(server, &qxl.base) == 0);
    spice_server_vm_start(server);
    spice_qxl_start(&qxl);
    n_cookies = 0;
    spice_qxl_flush_surfaces_async(&qxl, 201);
    spice_qxl_destroy_primary_surface(&qxl, 0); /* no primary: refused */
    QXLRect area = {.top = 0, .left = 0, .bottom = 4, .right = 4};
    QXLRect dirty[1];
    spice_qxl_update_area(&qxl, 0, &area, dirty, 1, 0);
    spice_qxl_stop(&qxl); /* a sync call: the async one before it has run */
    CHECK(n_cookies == 1 && cookies[0] == 201);
    spice_server_vm_stop(server);

    spice_server_destroy(server);

    if (failures != 0) {
        fprintf(stderr, "wrong_state: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}

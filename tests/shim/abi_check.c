/* The binary contract of <spice.h> as QEMU 7.2 was built against it
 * (Debian's libspice-server-dev 0.15.1), pinned for x86_64.
 *
 * The shim reads these structs from memory the VMM laid out and calls the
 * function pointers in them, so a changed size, offset, callback signature,
 * type string or version macro would silently break every VM. When this test
 * fails the headers changed: check what QEMU was built with before updating
 * the numbers. Layout and constants are checked at compile time; the type
 * strings at run time (exit 1 with a message per mismatch). */
#include <spice.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if !defined(__x86_64__) || !defined(__LP64__)
#error "abi_check.c pins the x86_64 LP64 layout"
#endif

#define CHECK_SIZE(T, n) _Static_assert(sizeof(T) == (n), "sizeof(" #T ") changed")
#define CHECK_OFFSET(T, f, n)                                                                      \
    _Static_assert(offsetof(T, f) == (n), "offsetof(" #T ", " #f ") changed")
#define CHECK_VALUE(expr, v) _Static_assert((expr) == (v), #expr " changed")
/* _Generic compares the declared type exactly, so a changed parameter list
 * fails here even where the size of a function pointer cannot. */
#define CHECK_TYPE(expr, T)                                                                        \
    _Static_assert(_Generic((expr), T : 1, default : 0), #expr " is not " #T)
#define MEMBER(T, f) (((T *)0)->f)

/* Opaque handles: the VMM only ever holds pointers to these. Defining each
 * struct here fails to compile if the headers ever gave it a body; the
 * typedefs must still name these tags. */
struct SpiceWatch {
    int unused;
};
struct SpiceTimer {
    int unused;
};
struct RedsState {
    int unused;
};
struct QXLState {
    int unused;
};
struct QXLWorker {
    int unused;
};
struct SpiceKbdState {
    int unused;
};
struct SpiceMouseState {
    int unused;
};
struct SpiceTabletState {
    int unused;
};
struct SpicePlaybackState {
    int unused;
};
struct SpiceRecordState {
    int unused;
};
struct SpiceCharDeviceState {
    int unused;
};
struct SpiceMigrateState {
    int unused;
};
struct SpiceReplay {
    int unused;
};
CHECK_TYPE((SpiceWatch *)0, struct SpiceWatch *);
CHECK_TYPE((SpiceTimer *)0, struct SpiceTimer *);
CHECK_TYPE((SpiceServer *)0, struct RedsState *);
CHECK_TYPE((QXLState *)0, struct QXLState *);
CHECK_TYPE((QXLWorker *)0, struct QXLWorker *);
CHECK_TYPE((SpiceKbdState *)0, struct SpiceKbdState *);
CHECK_TYPE((SpiceMouseState *)0, struct SpiceMouseState *);
CHECK_TYPE((SpiceTabletState *)0, struct SpiceTabletState *);
CHECK_TYPE((SpicePlaybackState *)0, struct SpicePlaybackState *);
CHECK_TYPE((SpiceRecordState *)0, struct SpiceRecordState *);
CHECK_TYPE((SpiceCharDeviceState *)0, struct SpiceCharDeviceState *);
CHECK_TYPE((SpiceMigrateState *)0, struct SpiceMigrateState *);
CHECK_TYPE((SpiceReplay *)0, struct SpiceReplay *);

/* Sizes and offsets, from Debian 0.15.1 headers on x86_64. */

/* Base types every instance and interface table starts with. */
CHECK_SIZE(SpiceBaseInterface, 24);
CHECK_OFFSET(SpiceBaseInterface, type, 0);
CHECK_OFFSET(SpiceBaseInterface, description, 8);
CHECK_OFFSET(SpiceBaseInterface, major_version, 16);
CHECK_OFFSET(SpiceBaseInterface, minor_version, 20);
CHECK_SIZE(SpiceBaseInstance, 8);
CHECK_OFFSET(SpiceBaseInstance, sif, 0);

/* Core: the VMM's event loop, handed to spice_server_init. */
CHECK_SIZE(SpiceCoreInterface, 88);
CHECK_OFFSET(SpiceCoreInterface, base, 0);
CHECK_OFFSET(SpiceCoreInterface, timer_add, 24);
CHECK_OFFSET(SpiceCoreInterface, timer_start, 32);
CHECK_OFFSET(SpiceCoreInterface, timer_cancel, 40);
CHECK_OFFSET(SpiceCoreInterface, timer_remove, 48);
CHECK_OFFSET(SpiceCoreInterface, watch_add, 56);
CHECK_OFFSET(SpiceCoreInterface, watch_update_mask, 64);
CHECK_OFFSET(SpiceCoreInterface, watch_remove, 72);
CHECK_OFFSET(SpiceCoreInterface, channel_event, 80);
CHECK_SIZE(SpiceChannelEventInfo, 320);
CHECK_OFFSET(SpiceChannelEventInfo, connection_id, 0);
CHECK_OFFSET(SpiceChannelEventInfo, type, 4);
CHECK_OFFSET(SpiceChannelEventInfo, id, 8);
CHECK_OFFSET(SpiceChannelEventInfo, flags, 12);
CHECK_OFFSET(SpiceChannelEventInfo, laddr, 16);
CHECK_OFFSET(SpiceChannelEventInfo, paddr, 32);
CHECK_OFFSET(SpiceChannelEventInfo, llen, 48);
CHECK_OFFSET(SpiceChannelEventInfo, plen, 52);
CHECK_OFFSET(SpiceChannelEventInfo, laddr_ext, 56);
CHECK_OFFSET(SpiceChannelEventInfo, paddr_ext, 184);
CHECK_OFFSET(SpiceChannelEventInfo, llen_ext, 312);
CHECK_OFFSET(SpiceChannelEventInfo, plen_ext, 316);

/* QXL: the display device and the structs its callbacks and spice_qxl_* pass. */
CHECK_SIZE(QXLInterface, 144);
CHECK_OFFSET(QXLInterface, base, 0);
CHECK_OFFSET(QXLInterface, attached_worker, 24);
CHECK_OFFSET(QXLInterface, attache_worker, 24);
CHECK_OFFSET(QXLInterface, set_compression_level, 32);
CHECK_OFFSET(QXLInterface, set_mm_time, 40);
CHECK_OFFSET(QXLInterface, get_init_info, 48);
CHECK_OFFSET(QXLInterface, get_command, 56);
CHECK_OFFSET(QXLInterface, req_cmd_notification, 64);
CHECK_OFFSET(QXLInterface, release_resource, 72);
CHECK_OFFSET(QXLInterface, get_cursor_command, 80);
CHECK_OFFSET(QXLInterface, req_cursor_notification, 88);
CHECK_OFFSET(QXLInterface, notify_update, 96);
CHECK_OFFSET(QXLInterface, flush_resources, 104);
CHECK_OFFSET(QXLInterface, async_complete, 112);
CHECK_OFFSET(QXLInterface, update_area_complete, 120);
CHECK_OFFSET(QXLInterface, set_client_capabilities, 128);
CHECK_OFFSET(QXLInterface, client_monitors_config, 136);
CHECK_SIZE(QXLInstance, 24);
CHECK_OFFSET(QXLInstance, base, 0);
CHECK_OFFSET(QXLInstance, id, 8);
CHECK_OFFSET(QXLInstance, st, 16);
CHECK_SIZE(QXLDevInitInfo, 24);
CHECK_OFFSET(QXLDevInitInfo, num_memslots_groups, 0);
CHECK_OFFSET(QXLDevInitInfo, num_memslots, 4);
CHECK_OFFSET(QXLDevInitInfo, memslot_gen_bits, 8);
CHECK_OFFSET(QXLDevInitInfo, memslot_id_bits, 9);
CHECK_OFFSET(QXLDevInitInfo, qxl_ram_size, 12);
CHECK_OFFSET(QXLDevInitInfo, internal_groupslot_id, 16);
CHECK_OFFSET(QXLDevInitInfo, n_surfaces, 20);
CHECK_SIZE(QXLDevMemSlot, 48);
CHECK_OFFSET(QXLDevMemSlot, slot_group_id, 0);
CHECK_OFFSET(QXLDevMemSlot, slot_id, 4);
CHECK_OFFSET(QXLDevMemSlot, generation, 8);
CHECK_OFFSET(QXLDevMemSlot, virt_start, 16);
CHECK_OFFSET(QXLDevMemSlot, virt_end, 24);
CHECK_OFFSET(QXLDevMemSlot, addr_delta, 32);
CHECK_OFFSET(QXLDevMemSlot, qxl_ram_size, 40);
CHECK_SIZE(QXLDevSurfaceCreate, 48);
CHECK_OFFSET(QXLDevSurfaceCreate, width, 0);
CHECK_OFFSET(QXLDevSurfaceCreate, height, 4);
CHECK_OFFSET(QXLDevSurfaceCreate, stride, 8);
CHECK_OFFSET(QXLDevSurfaceCreate, format, 12);
CHECK_OFFSET(QXLDevSurfaceCreate, position, 16);
CHECK_OFFSET(QXLDevSurfaceCreate, mouse_mode, 20);
CHECK_OFFSET(QXLDevSurfaceCreate, flags, 24);
CHECK_OFFSET(QXLDevSurfaceCreate, type, 28);
CHECK_OFFSET(QXLDevSurfaceCreate, mem, 32);
CHECK_OFFSET(QXLDevSurfaceCreate, group_id, 40);

/* Inputs. */
CHECK_SIZE(SpiceKbdInterface, 40);
CHECK_OFFSET(SpiceKbdInterface, base, 0);
CHECK_OFFSET(SpiceKbdInterface, push_scan_freg, 24);
CHECK_OFFSET(SpiceKbdInterface, get_leds, 32);
CHECK_SIZE(SpiceKbdInstance, 16);
CHECK_OFFSET(SpiceKbdInstance, base, 0);
CHECK_OFFSET(SpiceKbdInstance, st, 8);
CHECK_SIZE(SpiceMouseInterface, 40);
CHECK_OFFSET(SpiceMouseInterface, base, 0);
CHECK_OFFSET(SpiceMouseInterface, motion, 24);
CHECK_OFFSET(SpiceMouseInterface, buttons, 32);
CHECK_SIZE(SpiceMouseInstance, 16);
CHECK_OFFSET(SpiceMouseInstance, base, 0);
CHECK_OFFSET(SpiceMouseInstance, st, 8);
CHECK_SIZE(SpiceTabletInterface, 56);
CHECK_OFFSET(SpiceTabletInterface, base, 0);
CHECK_OFFSET(SpiceTabletInterface, set_logical_size, 24);
CHECK_OFFSET(SpiceTabletInterface, position, 32);
CHECK_OFFSET(SpiceTabletInterface, wheel, 40);
CHECK_OFFSET(SpiceTabletInterface, buttons, 48);
CHECK_SIZE(SpiceTabletInstance, 16);
CHECK_OFFSET(SpiceTabletInstance, base, 0);
CHECK_OFFSET(SpiceTabletInstance, st, 8);

/* Audio. */
CHECK_SIZE(SpicePlaybackInterface, 24);
CHECK_OFFSET(SpicePlaybackInterface, base, 0);
CHECK_SIZE(SpicePlaybackInstance, 16);
CHECK_OFFSET(SpicePlaybackInstance, base, 0);
CHECK_OFFSET(SpicePlaybackInstance, st, 8);
CHECK_SIZE(SpiceRecordInterface, 24);
CHECK_OFFSET(SpiceRecordInterface, base, 0);
CHECK_SIZE(SpiceRecordInstance, 16);
CHECK_OFFSET(SpiceRecordInstance, base, 0);
CHECK_OFFSET(SpiceRecordInstance, st, 8);

/* Char devices (agent, usbredir, ports, webdav, smartcard). */
CHECK_SIZE(SpiceCharDeviceInterface, 64);
CHECK_OFFSET(SpiceCharDeviceInterface, base, 0);
CHECK_OFFSET(SpiceCharDeviceInterface, state, 24);
CHECK_OFFSET(SpiceCharDeviceInterface, write, 32);
CHECK_OFFSET(SpiceCharDeviceInterface, read, 40);
CHECK_OFFSET(SpiceCharDeviceInterface, event, 48);
CHECK_OFFSET(SpiceCharDeviceInterface, flags, 56);
CHECK_SIZE(SpiceCharDeviceInstance, 32);
CHECK_OFFSET(SpiceCharDeviceInstance, base, 0);
CHECK_OFFSET(SpiceCharDeviceInstance, subtype, 8);
CHECK_OFFSET(SpiceCharDeviceInstance, st, 16);
CHECK_OFFSET(SpiceCharDeviceInstance, portname, 24);

/* Migration. */
CHECK_SIZE(SpiceMigrateInterface, 40);
CHECK_OFFSET(SpiceMigrateInterface, base, 0);
CHECK_OFFSET(SpiceMigrateInterface, migrate_connect_complete, 24);
CHECK_OFFSET(SpiceMigrateInterface, migrate_end_complete, 32);
CHECK_SIZE(SpiceMigrateInstance, 16);
CHECK_OFFSET(SpiceMigrateInstance, base, 0);
CHECK_OFFSET(SpiceMigrateInstance, st, 8);

/* Enums passed by value. */
CHECK_SIZE(spice_compat_version_t, 4);
CHECK_SIZE(spice_wan_compression_t, 4);
CHECK_SIZE(SpiceImageCompression, 4);
CHECK_SIZE(spice_char_device_flags, 4);
/* spice-protocol structs that cross the QXL callbacks (release_resource
 * takes QXLReleaseInfoExt by value). */
CHECK_SIZE(QXLRect, 16);
CHECK_OFFSET(QXLRect, top, 0);
CHECK_OFFSET(QXLRect, left, 4);
CHECK_OFFSET(QXLRect, bottom, 8);
CHECK_OFFSET(QXLRect, right, 12);
CHECK_SIZE(QXLCommand, 16);
CHECK_OFFSET(QXLCommand, data, 0);
CHECK_OFFSET(QXLCommand, type, 8);
CHECK_SIZE(QXLCommandExt, 24);
CHECK_OFFSET(QXLCommandExt, cmd, 0);
CHECK_OFFSET(QXLCommandExt, group_id, 16);
CHECK_OFFSET(QXLCommandExt, flags, 20);
CHECK_SIZE(QXLReleaseInfoExt, 16);
CHECK_OFFSET(QXLReleaseInfoExt, info, 0);
CHECK_OFFSET(QXLReleaseInfoExt, group_id, 8);
CHECK_SIZE(VDAgentMonitorsConfig, 8);
CHECK_OFFSET(VDAgentMonitorsConfig, monitors, 8);
CHECK_VALUE(SPICE_CAPABILITIES_SIZE, 58);

/* Callback signatures the VMM implements. */
CHECK_TYPE(MEMBER(SpiceCoreInterface, timer_add), SpiceTimer *(*)(SpiceTimerFunc, void *));
CHECK_TYPE(MEMBER(SpiceCoreInterface, timer_start), void (*)(SpiceTimer *, uint32_t));
CHECK_TYPE(MEMBER(SpiceCoreInterface, timer_cancel), void (*)(SpiceTimer *));
CHECK_TYPE(MEMBER(SpiceCoreInterface, timer_remove), void (*)(SpiceTimer *));
CHECK_TYPE(MEMBER(SpiceCoreInterface, watch_add),
           SpiceWatch *(*)(int, int, SpiceWatchFunc, void *));
CHECK_TYPE(MEMBER(SpiceCoreInterface, watch_update_mask), void (*)(SpiceWatch *, int));
CHECK_TYPE(MEMBER(SpiceCoreInterface, watch_remove), void (*)(SpiceWatch *));
CHECK_TYPE(MEMBER(SpiceCoreInterface, channel_event), void (*)(int, SpiceChannelEventInfo *));
CHECK_TYPE((SpiceWatchFunc)0, void (*)(int, int, void *));
CHECK_TYPE((SpiceTimerFunc)0, void (*)(void *));

CHECK_TYPE(MEMBER(QXLInterface, attached_worker), void (*)(QXLInstance *));
CHECK_TYPE(MEMBER(QXLInterface, set_compression_level), void (*)(QXLInstance *, int));
CHECK_TYPE(MEMBER(QXLInterface, set_mm_time), void (*)(QXLInstance *, uint32_t));
CHECK_TYPE(MEMBER(QXLInterface, get_init_info), void (*)(QXLInstance *, QXLDevInitInfo *));
CHECK_TYPE(MEMBER(QXLInterface, get_command), int (*)(QXLInstance *, struct QXLCommandExt *));
CHECK_TYPE(MEMBER(QXLInterface, req_cmd_notification), int (*)(QXLInstance *));
CHECK_TYPE(MEMBER(QXLInterface, release_resource),
           void (*)(QXLInstance *, struct QXLReleaseInfoExt));
CHECK_TYPE(MEMBER(QXLInterface, get_cursor_command),
           int (*)(QXLInstance *, struct QXLCommandExt *));
CHECK_TYPE(MEMBER(QXLInterface, req_cursor_notification), int (*)(QXLInstance *));
CHECK_TYPE(MEMBER(QXLInterface, notify_update), void (*)(QXLInstance *, uint32_t));
CHECK_TYPE(MEMBER(QXLInterface, flush_resources), int (*)(QXLInstance *));
CHECK_TYPE(MEMBER(QXLInterface, async_complete), void (*)(QXLInstance *, uint64_t));
CHECK_TYPE(MEMBER(QXLInterface, update_area_complete),
           void (*)(QXLInstance *, uint32_t, struct QXLRect *, uint32_t));
CHECK_TYPE(MEMBER(QXLInterface, set_client_capabilities),
           void (*)(QXLInstance *, uint8_t, uint8_t *));
CHECK_TYPE(MEMBER(QXLInterface, client_monitors_config),
           int (*)(QXLInstance *, VDAgentMonitorsConfig *));

CHECK_TYPE(MEMBER(SpiceKbdInterface, push_scan_freg), void (*)(SpiceKbdInstance *, uint8_t));
CHECK_TYPE(MEMBER(SpiceKbdInterface, get_leds), uint8_t (*)(SpiceKbdInstance *));
CHECK_TYPE(MEMBER(SpiceMouseInterface, motion),
           void (*)(SpiceMouseInstance *, int, int, int, uint32_t));
CHECK_TYPE(MEMBER(SpiceMouseInterface, buttons), void (*)(SpiceMouseInstance *, uint32_t));
CHECK_TYPE(MEMBER(SpiceTabletInterface, set_logical_size),
           void (*)(SpiceTabletInstance *, int, int));
CHECK_TYPE(MEMBER(SpiceTabletInterface, position),
           void (*)(SpiceTabletInstance *, int, int, uint32_t));
CHECK_TYPE(MEMBER(SpiceTabletInterface, wheel), void (*)(SpiceTabletInstance *, int, uint32_t));
CHECK_TYPE(MEMBER(SpiceTabletInterface, buttons), void (*)(SpiceTabletInstance *, uint32_t));

CHECK_TYPE(MEMBER(SpiceCharDeviceInterface, state), void (*)(SpiceCharDeviceInstance *, int));
CHECK_TYPE(MEMBER(SpiceCharDeviceInterface, write),
           int (*)(SpiceCharDeviceInstance *, const uint8_t *, int));
CHECK_TYPE(MEMBER(SpiceCharDeviceInterface, read),
           int (*)(SpiceCharDeviceInstance *, uint8_t *, int));
CHECK_TYPE(MEMBER(SpiceCharDeviceInterface, event), void (*)(SpiceCharDeviceInstance *, uint8_t));
CHECK_TYPE(MEMBER(SpiceMigrateInterface, migrate_connect_complete),
           void (*)(SpiceMigrateInstance *));
CHECK_TYPE(MEMBER(SpiceMigrateInterface, migrate_end_complete), void (*)(SpiceMigrateInstance *));

/* Interface versions the shim accepts (spice_server_add_interface refuses
 * another major or a newer minor). */
CHECK_VALUE(SPICE_INTERFACE_CORE_MAJOR, 1);
CHECK_VALUE(SPICE_INTERFACE_CORE_MINOR, 3);
CHECK_VALUE(SPICE_INTERFACE_QXL_MAJOR, 3);
CHECK_VALUE(SPICE_INTERFACE_QXL_MINOR, 3);
CHECK_VALUE(SPICE_INTERFACE_KEYBOARD_MAJOR, 1);
CHECK_VALUE(SPICE_INTERFACE_KEYBOARD_MINOR, 1);
CHECK_VALUE(SPICE_INTERFACE_MOUSE_MAJOR, 1);
CHECK_VALUE(SPICE_INTERFACE_MOUSE_MINOR, 1);
CHECK_VALUE(SPICE_INTERFACE_TABLET_MAJOR, 1);
CHECK_VALUE(SPICE_INTERFACE_TABLET_MINOR, 1);
CHECK_VALUE(SPICE_INTERFACE_PLAYBACK_MAJOR, 1);
CHECK_VALUE(SPICE_INTERFACE_PLAYBACK_MINOR, 3);
CHECK_VALUE(SPICE_INTERFACE_RECORD_MAJOR, 2);
CHECK_VALUE(SPICE_INTERFACE_RECORD_MINOR, 3);
CHECK_VALUE(SPICE_INTERFACE_CHAR_DEVICE_MAJOR, 1);
CHECK_VALUE(SPICE_INTERFACE_CHAR_DEVICE_MINOR, 3);
CHECK_VALUE(SPICE_INTERFACE_MIGRATION_MAJOR, 1);
CHECK_VALUE(SPICE_INTERFACE_MIGRATION_MINOR, 1);
CHECK_VALUE(SPICE_SERVER_VERSION, 0x000f01);

/* Constants passed across the API. */
CHECK_VALUE(SPICE_WATCH_EVENT_READ, 1);
CHECK_VALUE(SPICE_WATCH_EVENT_WRITE, 2);
CHECK_VALUE(SPICE_CHANNEL_EVENT_CONNECTED, 1);
CHECK_VALUE(SPICE_CHANNEL_EVENT_INITIALIZED, 2);
CHECK_VALUE(SPICE_CHANNEL_EVENT_DISCONNECTED, 3);
CHECK_VALUE(SPICE_CHANNEL_EVENT_FLAG_TLS, 1);
CHECK_VALUE(SPICE_CHANNEL_EVENT_FLAG_ADDR_EXT, 2);
CHECK_VALUE(SPICE_COMPAT_VERSION_0_4, 0);
CHECK_VALUE(SPICE_COMPAT_VERSION_0_6, 1);
CHECK_VALUE(SPICE_COMPAT_VERSION_CURRENT, SPICE_COMPAT_VERSION_0_6);
CHECK_VALUE(SPICE_ADDR_FLAG_IPV4_ONLY, 1);
CHECK_VALUE(SPICE_ADDR_FLAG_IPV6_ONLY, 2);
CHECK_VALUE(SPICE_ADDR_FLAG_UNIX_ONLY, 4);
CHECK_VALUE(SPICE_CHANNEL_SECURITY_NONE, 1);
CHECK_VALUE(SPICE_CHANNEL_SECURITY_SSL, 2);
CHECK_VALUE(SPICE_IMAGE_COMPRESSION_INVALID, 0);
CHECK_VALUE(SPICE_IMAGE_COMPRESSION_OFF, 1);
CHECK_VALUE(SPICE_IMAGE_COMPRESSION_AUTO_GLZ, 2);
CHECK_VALUE(SPICE_IMAGE_COMPRESSION_AUTO_LZ, 3);
CHECK_VALUE(SPICE_IMAGE_COMPRESSION_QUIC, 4);
CHECK_VALUE(SPICE_IMAGE_COMPRESSION_GLZ, 5);
CHECK_VALUE(SPICE_IMAGE_COMPRESSION_LZ, 6);
CHECK_VALUE(SPICE_IMAGE_COMPRESSION_LZ4, 7);
CHECK_VALUE(SPICE_WAN_COMPRESSION_INVALID, 0);
CHECK_VALUE(SPICE_WAN_COMPRESSION_AUTO, 1);
CHECK_VALUE(SPICE_WAN_COMPRESSION_ALWAYS, 2);
CHECK_VALUE(SPICE_WAN_COMPRESSION_NEVER, 3);
CHECK_VALUE(SPICE_STREAM_VIDEO_INVALID, 0);
CHECK_VALUE(SPICE_STREAM_VIDEO_OFF, 1);
CHECK_VALUE(SPICE_STREAM_VIDEO_ALL, 2);
CHECK_VALUE(SPICE_STREAM_VIDEO_FILTER, 3);
CHECK_VALUE(SPICE_CHAR_DEVICE_NOTIFY_WRITABLE, 1);
CHECK_VALUE(SPICE_INTERFACE_AUDIO_FMT_S16, 1);
CHECK_VALUE(SPICE_INTERFACE_PLAYBACK_FREQ, 44100);
CHECK_VALUE(SPICE_INTERFACE_PLAYBACK_CHAN, 2);
CHECK_VALUE(SPICE_INTERFACE_RECORD_FREQ, 44100);
CHECK_VALUE(SPICE_INTERFACE_RECORD_CHAN, 2);

static int failures;

static void check_string(const char *what, const char *got, const char *want) {
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "abi_check: %s is \"%s\", expected \"%s\"\n", what, got, want);
        ++failures;
    }
}

int main(void) {
    /* The type strings are how spice_server_add_interface tells instances
     * apart; C cannot compare strings at compile time. */
    check_string("SPICE_INTERFACE_CORE", SPICE_INTERFACE_CORE, "core");
    check_string("SPICE_INTERFACE_QXL", SPICE_INTERFACE_QXL, "qxl");
    check_string("SPICE_INTERFACE_KEYBOARD", SPICE_INTERFACE_KEYBOARD, "keyboard");
    check_string("SPICE_INTERFACE_MOUSE", SPICE_INTERFACE_MOUSE, "mouse");
    check_string("SPICE_INTERFACE_TABLET", SPICE_INTERFACE_TABLET, "tablet");
    check_string("SPICE_INTERFACE_PLAYBACK", SPICE_INTERFACE_PLAYBACK, "playback");
    check_string("SPICE_INTERFACE_RECORD", SPICE_INTERFACE_RECORD, "record");
    check_string("SPICE_INTERFACE_CHAR_DEVICE", SPICE_INTERFACE_CHAR_DEVICE, "char_device");
    check_string("SPICE_INTERFACE_MIGRATION", SPICE_INTERFACE_MIGRATION, "migration");
    if (failures) {
        fprintf(stderr, "abi_check: %d mismatch(es) against the pinned <spice.h> ABI\n", failures);
        return 1;
    }
    printf("abi_check: <spice.h> matches the pinned x86_64 ABI\n");
    return 0;
}

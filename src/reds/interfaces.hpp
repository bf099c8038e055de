// The device instances a VMM registers with spice_server_add_interface:
// validation by interface type string and version, with the reference
// server's rules and return values (server/reds.cpp), and the record of
// which instance plays which role.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <spice.h>

namespace rs {

/// The interface types spice_server_add_interface acts on.
enum class interface_kind : uint8_t {
    keyboard,
    mouse,
    tablet,
    qxl,
    playback,
    record,
    char_device,
    migration,
};

/// What a char device instance serves, from its subtype and port name.
enum class char_device_kind : uint8_t {
    vdagent,   ///< subtype "vdagent": the main channel's agent pipe
    smartcard, ///< subtype "smartcard"
    usbredir,  ///< subtype "usbredir": a spicevmc usbredir channel
    webdav,    ///< subtype "port", portname "org.spice-space.webdav.0"
    stream,    ///< subtype "port", portname "org.spice-space.stream.0"
    port,      ///< any other "port"
};

/// A registered char device and its role.
struct char_device_entry {
    SpiceCharDeviceInstance *instance = nullptr;
    char_device_kind kind = char_device_kind::port;
};

/// The instances registered with one server, by role. Owned by the server
/// object on the control shard; add and remove arrive from the VMM thread,
/// which in host-driven mode is the thread that reaps the control shard, so
/// no lock is needed. The registry only records pointers: the VMM owns the
/// instances and keeps them alive until it removes them. It never calls
/// into an interface table and never touches an instance's `st` field.
class interface_registry {
  public:
    /// Validates `sin` by sif->type and version and records it. Returns what
    /// spice_server_add_interface returns: -1 for a major version other than
    /// the header's or a minor version above it, a second keyboard, mouse,
    /// tablet or migration instance, a QXL id below 0 or already used, or a
    /// null instance; 0 otherwise — also for an unknown type (ignored) and
    /// for a char device whose subtype is unknown or whose vdagent slot is
    /// taken (logged, not recorded), because the reference returns 0 there.
    int add_interface(SpiceBaseInstance *sin);

    /// Forgets `sin`. Returns what spice_server_remove_interface returns:
    /// 0 for a registered tablet, QXL or char device and for any playback or
    /// record instance; -1 for a null instance, an unregistered tablet, QXL
    /// or char device, and for keyboard, mouse, migration or unknown types,
    /// which the reference cannot remove.
    int remove_interface(SpiceBaseInstance *sin);

    /// What spice_server_init checks of the core interface: major version 1
    /// (any minor). 0 or -1.
    static int check_core_interface(const SpiceCoreInterface *core);

    /// True when the instance's interface is at least major.minor; gates the
    /// optional callbacks (QXL 3.2 set_client_capabilities, 3.3
    /// client_monitors_config; core 1.3 channel_event; char device 1.2
    /// event, 1.3 flags).
    static bool version_at_least(const SpiceBaseInstance *sin, uint32_t major,
                                 uint32_t minor) noexcept;

    /// The null-terminated list spice_server_char_device_recognized_subtypes
    /// returns; the same three names as Debian's build.
    static const char **recognized_char_subtypes() noexcept;

    SpiceKbdInstance *keyboard() const noexcept { return _keyboard; }
    SpiceMouseInstance *mouse() const noexcept { return _mouse; }
    SpiceTabletInstance *tablet() const noexcept { return _tablet; }
    SpiceMigrateInstance *migration() const noexcept { return _migration; }
    /// In registration order; each id appears once.
    const std::vector<QXLInstance *> &qxls() const noexcept { return _qxls; }
    QXLInstance *qxl_by_id(int id) const noexcept;
    const std::vector<SpicePlaybackInstance *> &playbacks() const noexcept { return _playbacks; }
    const std::vector<SpiceRecordInstance *> &records() const noexcept { return _records; }
    const std::vector<char_device_entry> &char_devices() const noexcept { return _char_devices; }
    SpiceCharDeviceInstance *vdagent() const noexcept;

  private:
    int add_char_device(SpiceCharDeviceInstance *sin);

    SpiceKbdInstance *_keyboard = nullptr;
    SpiceMouseInstance *_mouse = nullptr;
    SpiceTabletInstance *_tablet = nullptr;
    SpiceMigrateInstance *_migration = nullptr;
    std::vector<QXLInstance *> _qxls;
    std::vector<SpicePlaybackInstance *> _playbacks;
    std::vector<SpiceRecordInstance *> _records;
    std::vector<char_device_entry> _char_devices;
};

} // namespace rs

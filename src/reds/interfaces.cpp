#include "reds/interfaces.hpp"

#include <algorithm>
#include <cstddef>

#include "runtime/log.hpp"

namespace rs {

namespace {

// The instance structs all start with SpiceBaseInstance, which is how the C
// API passes them; this is the reference's SPICE_UPCAST.
template <typename T> T *instance_cast(SpiceBaseInstance *sin) noexcept {
    static_assert(offsetof(T, base) == 0);
    return reinterpret_cast<T *>(sin);
}

// A VMM may offer an older minor version (fewer optional callbacks), never a
// newer one or another major: those tables have a layout we do not know.
bool version_ok(const SpiceBaseInterface *sif, uint32_t major, uint32_t minor) noexcept {
    return sif->major_version == major && sif->minor_version <= minor;
}

bool refuse_version(const SpiceBaseInterface *sif, uint32_t major, uint32_t minor) {
    if (version_ok(sif, major, minor)) return false;
    RS_LOG_WARN("interfaces", "unsupported {} interface version {}.{} (want {}.0 to {}.{})",
                sif->type, sif->major_version, sif->minor_version, major, major, minor);
    return true;
}

template <typename T> bool set_once(T *&slot, T *instance, const char *what) {
    if (slot != nullptr) {
        RS_LOG_WARN("interfaces", "already have a {} instance", what);
        return false;
    }
    slot = instance;
    return true;
}

template <typename T> bool erase_one(std::vector<T> &v, const T &x) {
    auto it = std::find(v.begin(), v.end(), x);
    if (it == v.end()) return false;
    v.erase(it);
    return true;
}

std::string_view str(const char *s) noexcept {
    return s ? std::string_view(s) : std::string_view();
}

// Non-const elements because the C API returns `const char **`.
const char *char_subtypes[] = {"vdagent", "smartcard", "usbredir", nullptr};

} // namespace

int interface_registry::add_interface(SpiceBaseInstance *sin) {
    if (sin == nullptr || sin->sif == nullptr || sin->sif->type == nullptr) {
        RS_LOG_WARN("interfaces", "add_interface: instance without an interface table");
        return -1;
    }
    const SpiceBaseInterface *sif = sin->sif;
    std::string_view type = sif->type;

    if (type == SPICE_INTERFACE_KEYBOARD) {
        if (refuse_version(sif, SPICE_INTERFACE_KEYBOARD_MAJOR, SPICE_INTERFACE_KEYBOARD_MINOR))
            return -1;
        return set_once(_keyboard, instance_cast<SpiceKbdInstance>(sin), "keyboard") ? 0 : -1;
    }
    if (type == SPICE_INTERFACE_MOUSE) {
        if (refuse_version(sif, SPICE_INTERFACE_MOUSE_MAJOR, SPICE_INTERFACE_MOUSE_MINOR))
            return -1;
        return set_once(_mouse, instance_cast<SpiceMouseInstance>(sin), "mouse") ? 0 : -1;
    }
    if (type == SPICE_INTERFACE_TABLET) {
        if (refuse_version(sif, SPICE_INTERFACE_TABLET_MAJOR, SPICE_INTERFACE_TABLET_MINOR))
            return -1;
        return set_once(_tablet, instance_cast<SpiceTabletInstance>(sin), "tablet") ? 0 : -1;
    }
    if (type == SPICE_INTERFACE_QXL) {
        if (refuse_version(sif, SPICE_INTERFACE_QXL_MAJOR, SPICE_INTERFACE_QXL_MINOR)) return -1;
        auto *qxl = instance_cast<QXLInstance>(sin);
        if (qxl->id < 0) {
            RS_LOG_WARN("interfaces", "invalid QXL id {}", qxl->id);
            return -1;
        }
        // The id is the display channel id a client links to: it must be unique.
        if (qxl_by_id(qxl->id) != nullptr) {
            RS_LOG_WARN("interfaces", "QXL id {} already registered", qxl->id);
            return -1;
        }
        _qxls.push_back(qxl);
        return 0;
    }
    if (type == SPICE_INTERFACE_PLAYBACK) {
        if (refuse_version(sif, SPICE_INTERFACE_PLAYBACK_MAJOR, SPICE_INTERFACE_PLAYBACK_MINOR))
            return -1;
        auto *p = instance_cast<SpicePlaybackInstance>(sin);
        if (std::find(_playbacks.begin(), _playbacks.end(), p) == _playbacks.end())
            _playbacks.push_back(p);
        return 0;
    }
    if (type == SPICE_INTERFACE_RECORD) {
        if (refuse_version(sif, SPICE_INTERFACE_RECORD_MAJOR, SPICE_INTERFACE_RECORD_MINOR))
            return -1;
        auto *r = instance_cast<SpiceRecordInstance>(sin);
        if (std::find(_records.begin(), _records.end(), r) == _records.end()) _records.push_back(r);
        return 0;
    }
    if (type == SPICE_INTERFACE_CHAR_DEVICE) {
        if (refuse_version(sif, SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
                           SPICE_INTERFACE_CHAR_DEVICE_MINOR))
            return -1;
        return add_char_device(instance_cast<SpiceCharDeviceInstance>(sin));
    }
    if (type == SPICE_INTERFACE_MIGRATION) {
        // The reference checks for a second instance before the version.
        if (_migration != nullptr) {
            RS_LOG_WARN("interfaces", "already have a migration instance");
            return -1;
        }
        if (refuse_version(sif, SPICE_INTERFACE_MIGRATION_MAJOR, SPICE_INTERFACE_MIGRATION_MINOR))
            return -1;
        _migration = instance_cast<SpiceMigrateInstance>(sin);
        return 0;
    }
    RS_LOG_DEBUG("interfaces", "ignoring interface type '{}'", type);
    return 0;
}

int interface_registry::add_char_device(SpiceCharDeviceInstance *sin) {
    // Failures below are logged and return 0: the reference drops the
    // device but reports success, and QEMU relies on that to start.
    std::string_view subtype = str(sin->subtype);
    char_device_kind kind;
    if (subtype == "vdagent") {
        if (vdagent() != nullptr) {
            RS_LOG_WARN("interfaces", "vdagent already attached, ignoring another");
            return 0;
        }
        kind = char_device_kind::vdagent;
    } else if (subtype == "smartcard") {
        kind = char_device_kind::smartcard;
    } else if (subtype == "usbredir") {
        kind = char_device_kind::usbredir;
    } else if (subtype == "port") {
        std::string_view port = str(sin->portname);
        if (port == "org.spice-space.webdav.0")
            kind = char_device_kind::webdav;
        else if (port == "org.spice-space.stream.0")
            kind = char_device_kind::stream;
        else
            kind = char_device_kind::port;
    } else {
        RS_LOG_WARN("interfaces", "unknown char device subtype '{}', ignored", subtype);
        return 0;
    }
    bool known = std::any_of(_char_devices.begin(), _char_devices.end(),
                             [&](const char_device_entry &e) { return e.instance == sin; });
    if (known) {
        RS_LOG_WARN("interfaces", "char device '{}' added twice", subtype);
        return 0;
    }
    _char_devices.push_back({sin, kind});
    return 0;
}

int interface_registry::remove_interface(SpiceBaseInstance *sin) {
    if (sin == nullptr || sin->sif == nullptr || sin->sif->type == nullptr) return -1;
    std::string_view type = sin->sif->type;

    if (type == SPICE_INTERFACE_TABLET) {
        auto *tablet = instance_cast<SpiceTabletInstance>(sin);
        if (tablet != _tablet) return -1;
        _tablet = nullptr;
        return 0;
    }
    if (type == SPICE_INTERFACE_PLAYBACK) {
        erase_one(_playbacks, instance_cast<SpicePlaybackInstance>(sin));
        return 0;
    }
    if (type == SPICE_INTERFACE_RECORD) {
        erase_one(_records, instance_cast<SpiceRecordInstance>(sin));
        return 0;
    }
    if (type == SPICE_INTERFACE_CHAR_DEVICE) {
        auto *dev = instance_cast<SpiceCharDeviceInstance>(sin);
        auto it = std::find_if(_char_devices.begin(), _char_devices.end(),
                               [&](const char_device_entry &e) { return e.instance == dev; });
        if (it == _char_devices.end()) return -1;
        _char_devices.erase(it);
        return 0;
    }
    if (type == SPICE_INTERFACE_QXL) {
        return erase_one(_qxls, instance_cast<QXLInstance>(sin)) ? 0 : -1;
    }
    RS_LOG_WARN("interfaces", "removing a '{}' interface is not supported", type);
    return -1;
}

int interface_registry::check_core_interface(const SpiceCoreInterface *core) {
    if (core == nullptr || core->base.major_version != SPICE_INTERFACE_CORE_MAJOR) {
        RS_LOG_WARN("interfaces", "bad core interface version");
        return -1;
    }
    return 0;
}

bool interface_registry::version_at_least(const SpiceBaseInstance *sin, uint32_t major,
                                          uint32_t minor) noexcept {
    const SpiceBaseInterface *sif = sin->sif;
    return sif->major_version > major ||
           (sif->major_version == major && sif->minor_version >= minor);
}

const char **interface_registry::recognized_char_subtypes() noexcept { return char_subtypes; }

QXLInstance *interface_registry::qxl_by_id(int id) const noexcept {
    auto it = std::find_if(_qxls.begin(), _qxls.end(), [&](QXLInstance *q) { return q->id == id; });
    return it == _qxls.end() ? nullptr : *it;
}

SpiceCharDeviceInstance *interface_registry::vdagent() const noexcept {
    for (const auto &e : _char_devices)
        if (e.kind == char_device_kind::vdagent) return e.instance;
    return nullptr;
}

} // namespace rs

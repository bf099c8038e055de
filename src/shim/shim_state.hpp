// State shared by the shim's translation units: the opaque structs of
// <spice.h> that ringspice defines.
#pragma once

#include <spice.h>

#include <string_view>

#include "display/qxl_device.hpp"
#include "reds/server.hpp"

/// The opaque SpiceServer of <spice.h>: owns the ringspice server. Created
/// and destroyed on the VMM's thread.
struct RedsState {
    rs::server srv;
    /// The QXL devices' group: one display shard, each client's caches
    /// shared by its display channels. Made with the first device.
    std::shared_ptr<rs::display_group> displays;
};

/// The opaque per-instance state behind QXLInstance::st: which server the
/// device belongs to and the device itself, which lives on its display
/// shard. Written on the VMM thread at add/remove_interface only.
struct QXLState {
    RedsState *reds = nullptr;
    /// The device; shared so that session stop hooks can hold it weakly.
    std::shared_ptr<rs::qxl_device> device;
    rs::shard *home = nullptr;
};

namespace rs::shim {

/// Logs once per call site that a function is not supported yet.
void not_supported(const char *fn);

} // namespace rs::shim

// State shared by the shim's translation units: the opaque structs of
// <spice.h> that ringspice defines.
#pragma once

#include <spice.h>

#include <string_view>

#include "reds/server.hpp"

/// The opaque SpiceServer of <spice.h>: owns the ringspice server. Created
/// and destroyed on the VMM's thread.
struct RedsState {
    rs::server srv;
};

/// The opaque per-instance state behind QXLInstance::st: which server the
/// device belongs to and what the VMM told us of it. VMM threads write it
/// only through spice_qxl_* calls, which the display shard will serialise.
struct QXLState {
    RedsState *reds = nullptr;
    bool running = false;
    uint32_t max_monitors = 1;
};

namespace rs::shim {

/// Logs once per call site that a function is not supported yet.
void not_supported(const char *fn);

} // namespace rs::shim

// Offering a QXL device's display and cursor channels to clients.
#pragma once

#include <memory>

#include "display/qxl_device.hpp"
#include "reds/server.hpp"

namespace rs {

/// Registers SPICE_CHANNEL_DISPLAY and _CURSOR with the device's id. A
/// linked client's stream moves from the control shard to the device's
/// display shard, which alone touches it from then on; the session gets a
/// hook that stops those clients through a message. Control shard.
void register_qxl_channels(server &srv, const std::shared_ptr<qxl_device> &dev);
void unregister_qxl_channels(server &srv, int qxl_id);

} // namespace rs

// spicevmc char devices: usbredir, port and webdav channels.
#pragma once

#include <spice.h>

#include <memory>

#include "reds/char_device.hpp"
#include "reds/interfaces.hpp"

namespace rs {

class server;

/// Starts serving the spicevmc char device `sin` (usbredir, port, webdav,
/// ...) as a channel of `srv`. nullptr (logged) when its kind is not
/// served. Control shard.
std::unique_ptr<char_device_handler> attach_spicevmc(server &srv, SpiceCharDeviceInstance *sin,
                                                     char_device_kind kind);

} // namespace rs

// The vdagent char device: the agent pipe of the main channel.
#pragma once

#include <spice.h>

#include <memory>

#include "reds/char_device.hpp"

namespace rs {

class server;

/// Starts serving the "vdagent" char device `sin` for `srv`'s main channel.
/// nullptr (logged) when it cannot be served. Control shard.
std::unique_ptr<char_device_handler> attach_agent(server &srv, SpiceCharDeviceInstance *sin);

} // namespace rs

// The seam between the shim's char-device entry points and what serves a
// char device instance (the agent in the main channel, spicevmc channels).
#pragma once

#include <cstdint>

namespace rs {

/// Serves one SpiceCharDeviceInstance the VMM added: reads and writes it
/// through its SpiceCharDeviceInterface and owns the channel state that
/// carries its data to clients. Owned by the instance's shim state (created
/// at spice_server_add_interface, destroyed at remove_interface or when the
/// server is destroyed); lives on the control shard, and every call below
/// arrives there (the VMM's loop thread when embedded).
class char_device_handler {
  public:
    virtual ~char_device_handler() = default;
    /// spice_server_char_device_wakeup: the device has data to read or room
    /// to write again.
    virtual void wakeup() = 0;
    /// spice_server_port_event (SPICE_PORT_EVENT_*): only port devices act
    /// on it; the default logs and ignores it.
    virtual void port_event(uint8_t event);
};

} // namespace rs

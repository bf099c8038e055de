// spicevmc char devices: usbredir, port and webdav channels. Each device the
// VMM adds becomes one channel (usbredir 0, 1, ...; a PORT channel per named
// port; WEBDAV for "org.spice-space.webdav.0") that passes bytes between the
// device and the one client linked to it, under bounded queues both ways.
#pragma once

#include <spice.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "reds/char_device.hpp"
#include "reds/interfaces.hpp"
#include "usbredir/usb_policy.hpp"

namespace rs {

class server;
class vmc_channel;

/// One spicevmc char device served as a channel: the char_device_handler
/// the shim keeps in the instance's state. Owns (shares, with the coroutine
/// serving its client) the channel state; registers the channel with the
/// server when created and unregisters it, ending its client, when
/// destroyed, so the VMM may free the instance right after. Safe to destroy
/// after the server (it then touches nothing of it). Control shard.
class vmc_device final : public char_device_handler {
  public:
    /// Serves `sin` as the channel its kind calls for, under the lowest
    /// free id of that type. nullptr (logged) for kinds spicevmc does not
    /// serve (vdagent, smartcard, stream) or when all 256 ids are taken.
    /// A usbredir device follows the policy in $RINGSPICE_USBREDIR_FILTER.
    static std::unique_ptr<vmc_device> create(server &srv, SpiceCharDeviceInstance *sin,
                                              char_device_kind kind);
    /// As above with an explicit USB policy (nullopt: every device allowed);
    /// only usbredir devices use it. A client redirecting a device outside
    /// it gets a NOTIFY saying why and its channel ends; the guest never
    /// sees the device.
    static std::unique_ptr<vmc_device> create(server &srv, SpiceCharDeviceInstance *sin,
                                              char_device_kind kind,
                                              std::optional<usb_policy> policy);
    ~vmc_device() override;
    vmc_device(const vmc_device &) = delete;
    vmc_device &operator=(const vmc_device &) = delete;

    /// Writes what the client sent and the device did not take yet, then
    /// reads the device while the client's queue has room.
    void wakeup() override;
    /// OPENED / CLOSED are remembered (PORT_INIT tells later clients);
    /// every event goes to the connected client as PORT_EVENT.
    void port_event(uint8_t event) override;

    uint8_t channel_type() const noexcept;
    uint8_t channel_id() const noexcept;

    /// What tests and logs look at.
    struct counters {
        bool connected = false;
        bool port_opened = false;
        uint64_t clients = 0;             ///< clients served so far
        uint64_t bytes_from_device = 0;   ///< read from the device
        uint64_t bytes_to_device = 0;     ///< written to the device
        uint64_t compressed_sent = 0;     ///< COMPRESSED_DATA messages sent
        uint64_t compressed_received = 0; ///< COMPRESSED_DATA messages decoded
        size_t to_client_queued = 0;      ///< in the client's send queue
        size_t to_device_queued = 0;      ///< client data the device has not taken
        size_t peak_to_client_queued = 0; ///< high-water marks of the two above
        size_t peak_to_device_queued = 0;
        uint64_t usb_devices_refused = 0; ///< by the USB policy
    };
    counters stats() const;

  private:
    explicit vmc_device(std::shared_ptr<vmc_channel> ch) noexcept;
    std::shared_ptr<vmc_channel> _channel;
};

/// Starts serving the spicevmc char device `sin` (usbredir, port, webdav,
/// ...) as a channel of `srv`. nullptr (logged) when its kind is not
/// served. Control shard.
std::unique_ptr<char_device_handler> attach_spicevmc(server &srv, SpiceCharDeviceInstance *sin,
                                                     char_device_kind kind);

} // namespace rs

// The server's USB device policy: an optional usbredirfilter rule string
// ("class,vendor,product,version,allow|..."), and a watch over one usbredir
// session that finds the device a client is about to redirect, so a device
// outside the policy never reaches the guest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <usbredirfilter.h>

#include "runtime/result.hpp"

namespace rs {

/// A USB device as a usbredir host announces it (interface_info, then
/// device_connect). Plain data.
struct usb_device_info {
    uint8_t device_class = 0;
    uint8_t device_subclass = 0;
    uint8_t device_protocol = 0;
    uint16_t vendor_id = 0;
    uint16_t product_id = 0;
    uint16_t device_version_bcd = 0;
    std::vector<uint8_t> interface_class;
    std::vector<uint8_t> interface_subclass;
    std::vector<uint8_t> interface_protocol;
};

/// Parsed usbredirfilter rules (libusbredirparser's format and matching:
/// the first matching rule decides, per device and per interface; no match
/// refuses). Immutable once parsed; any shard.
class usb_policy {
  public:
    /// errc::protocol when libusbredirparser rejects the string.
    static result<usb_policy> parse(std::string_view filter);
    /// The policy from $RINGSPICE_USBREDIR_FILTER: nullopt when unset or
    /// empty (every device allowed); an unparsable value refuses every
    /// device (logged), never silently allows.
    static std::optional<usb_policy> from_environment();

    /// nullopt when `dev` may be redirected, else why not (for the log and
    /// the client).
    std::optional<std::string> refusal(const usb_device_info &dev) const;
    const std::string &text() const noexcept { return _text; }

  private:
    std::vector<usbredirfilter_rule> _rules;
    /// An unparsable environment string: nothing is allowed.
    bool _refuse_all = false;
    std::string _text;
};

/// Follows the usbredir protocol of one spicevmc usbredir session from the
/// outside: the guest's hello (first packet from the device) for its caps,
/// and the client's packets for interface_info and device_connect. Frames
/// packets itself through bounds-checked readers and buffers at most one
/// control packet; data packets are skipped by length. Owned by the channel
/// client it watches; control shard.
class usbredir_watch {
  public:
    /// Largest control packet kept to be parsed (hello with its caps, or
    /// interface_info); a longer one of those types is malformed.
    static constexpr size_t max_control_packet = 4096;

    /// Bytes the guest sent (device -> client). Only its first packet, the
    /// hello, matters.
    void from_guest(std::span<const uint8_t> bytes);
    /// Bytes the client sent (client -> device), in order. The devices
    /// whose device_connect completed in them, or errc::protocol when they
    /// are not a usbredir stream.
    result<std::vector<usb_device_info>> from_client(std::span<const uint8_t> bytes);

  private:
    /// One direction's framing state.
    struct framer {
        std::vector<uint8_t> header; ///< header bytes so far
        std::vector<uint8_t> body;   ///< body of a kept packet
        uint32_t type = 0;
        size_t body_left = 0; ///< body bytes still to come
        bool keep = false;    ///< body is buffered (a control packet we parse)
        bool in_body = false;
        uint64_t packets = 0; ///< complete packets seen
    };
    size_t header_size(bool from_client_side, uint64_t packets) const noexcept;

    framer _guest;
    framer _client;
    std::optional<std::vector<uint32_t>> _guest_caps;
    std::optional<std::vector<uint32_t>> _client_caps;
    bool _guest_done = false;
    std::optional<usb_device_info> _interfaces; ///< the last interface_info
};

} // namespace rs

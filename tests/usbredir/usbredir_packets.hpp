// Test helper: usbredir protocol packets as a usbredir host (the client) and
// guest (QEMU) put them on the wire, for the USB policy tests. Header-only:
// tests/<area>/ compiles only *_test.cpp files.
#pragma once

#include <usbredirproto.h>

#include <cstdint>
#include <string>
#include <vector>

#include "reds/wire.hpp"

namespace rs::testing {

using usb_bytes = std::vector<uint8_t>;

/// Caps both sides announce in these tests unless a test says otherwise.
inline constexpr uint32_t usb_caps_default =
    (1u << usb_redir_cap_connect_device_version) | (1u << usb_redir_cap_64bits_ids);

/// One packet: type, length, id (64-bit when `wide`), body.
inline usb_bytes usb_packet(uint32_t type, const usb_bytes &body, bool wide, uint64_t id = 0) {
    usb_bytes b;
    wire::writer w(b);
    w.u32(type);
    w.u32(static_cast<uint32_t>(body.size()));
    if (wide)
        w.u64(id);
    else
        w.u32(static_cast<uint32_t>(id));
    w.bytes(body);
    return b;
}

/// A hello (always with a 32-bit id header): version string, caps.
inline usb_bytes usb_hello(const std::string &version, uint32_t caps = usb_caps_default) {
    usb_bytes body(64, 0);
    for (size_t i = 0; i < version.size() && i < 63; ++i)
        body[i] = static_cast<uint8_t>(version[i]);
    wire::writer w(body);
    w.u32(caps);
    return usb_packet(usb_redir_hello, body, false);
}

/// interface_info with `classes.size()` interfaces of those classes.
inline usb_bytes usb_interface_info(const std::vector<uint8_t> &classes, bool wide) {
    usb_bytes body;
    wire::writer w(body);
    w.u32(static_cast<uint32_t>(classes.size()));
    for (int part = 0; part < 4; ++part)
        for (size_t i = 0; i < 32; ++i)
            w.u8(part == 0                         ? static_cast<uint8_t>(i)
                 : part == 1 && i < classes.size() ? classes[i]
                                                   : 0);
    return usb_packet(usb_redir_interface_info, body, wide);
}

inline usb_bytes usb_device_connect(uint8_t cls, uint16_t vendor, uint16_t product, bool wide,
                                    uint16_t bcd = 0x0100) {
    usb_bytes body;
    wire::writer w(body);
    w.u8(usb_redir_speed_high);
    w.u8(cls);
    w.u8(0);
    w.u8(0);
    w.u16(vendor);
    w.u16(product);
    w.u16(bcd);
    return usb_packet(usb_redir_device_connect, body, wide);
}

inline usb_bytes operator+(usb_bytes a, const usb_bytes &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace rs::testing

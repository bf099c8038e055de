// The spicevmc channels' messages (spice.proto SpicevmcChannel, PortChannel,
// CompressedData) as typed structs: server -> client bodies in rs::msg,
// client -> server bodies parsed into a variant of rs::msgc structs, and the
// LZ4 helpers both directions use. Layouts are spice.proto's: packed,
// little-endian. The usbredir, port and webdav channels share them.
#pragma once

#include <spice/enums.h>
#include <spice/protocol.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "reds/main_messages.hpp"
#include "reds/wire.hpp"
#include "runtime/result.hpp"

namespace rs {

/// Bytes of device data the server keeps queued per direction and channel
/// (the "vmc queue cap"): guest data waiting for a slow client, client data
/// waiting for a device that does not take it. At the cap the server stops
/// reading the device (the guest sees backpressure) or the client's socket.
inline constexpr size_t vmc_queue_cap = 1024 * 1024;
/// Largest read from the device, and so the largest DATA message body the
/// server sends (the reference's 64 KiB buffer).
inline constexpr size_t vmc_read_chunk = 64 * 1024;
/// Data at most this long is never compressed (the reference's
/// COMPRESS_THRESHOLD; spice-gtk uses the same).
inline constexpr size_t vmc_compress_threshold = 1000;
/// Largest client message body, and largest uncompressed size a
/// COMPRESSED_DATA may announce: one message never exceeds the queue cap.
inline constexpr size_t vmc_max_client_message = vmc_queue_cap;

namespace msg {

/// SPICEVMC_DATA: device bytes to the end of the body.
struct spicevmc_data {
    static constexpr uint16_t type = SPICE_MSG_SPICEVMC_DATA;
    std::span<const uint8_t> data;
    void encode(wire::writer &w) const { w.bytes(data); }
};

/// SPICEVMC_COMPRESSED_DATA: u8 SPICE_DATA_COMPRESSION_TYPE_*, u32
/// uncompressed size (any type but NONE), then the compressed bytes.
struct spicevmc_compressed_data {
    static constexpr uint16_t type = SPICE_MSG_SPICEVMC_COMPRESSED_DATA;
    uint8_t compression = SPICE_DATA_COMPRESSION_TYPE_LZ4;
    uint32_t uncompressed_size = 0;
    std::span<const uint8_t> data;
    void encode(wire::writer &w) const {
        w.u8(compression);
        if (compression != SPICE_DATA_COMPRESSION_TYPE_NONE) w.u32(uncompressed_size);
        w.bytes(data);
    }
};

/// PORT_INIT: u32 name_size (with the NUL), u32 offset of the name from the
/// start of the body (a marshalled pointer: the name follows the fixed
/// part), u8 opened, then the NUL-terminated name.
struct port_init {
    static constexpr uint16_t type = SPICE_MSG_PORT_INIT;
    std::string_view name;
    uint8_t opened = 0;
    static constexpr uint32_t fixed_size = 9;
    void encode(wire::writer &w) const {
        w.u32(static_cast<uint32_t>(name.size() + 1));
        w.u32(fixed_size);
        w.u8(opened);
        w.bytes(std::span(reinterpret_cast<const uint8_t *>(name.data()), name.size()));
        w.u8(0);
    }
};

/// PORT_EVENT: one SPICE_PORT_EVENT_* byte.
struct port_event {
    static constexpr uint16_t type = SPICE_MSG_PORT_EVENT;
    uint8_t event = 0;
    void encode(wire::writer &w) const { w.u8(event); }
};

} // namespace msg

namespace msgc {

/// SPICEVMC_DATA: bytes for the device, the whole body.
struct spicevmc_data {
    std::span<const uint8_t> data;
};
/// SPICEVMC_COMPRESSED_DATA as parsed: the type byte, the announced size
/// (0 for NONE, which carries none) and the compressed bytes. Whether the
/// type is one the server decodes is the channel's decision.
struct spicevmc_compressed_data {
    uint8_t compression = SPICE_DATA_COMPRESSION_TYPE_NONE;
    uint32_t uncompressed_size = 0;
    std::span<const uint8_t> data;
};
/// PORT_EVENT from the client: one SPICE_PORT_EVENT_* byte for the VMM.
struct port_event {
    uint8_t event = 0;
};

} // namespace msgc

/// A spicevmc-channel client message (types 101.. and PORT_EVENT) or the
/// error that ends the channel. Spans borrow the parsed body.
using spicevmc_client_message = std::variant<parse_error, msgc::spicevmc_data,
                                             msgc::spicevmc_compressed_data, msgc::port_event>;

/// Parses the body of a SPICE_MSGC_SPICEVMC_* or SPICE_MSGC_PORT_EVENT
/// message. BaseChannel types and unknown ones are
/// parse_error::kind::unknown_type. `extra` matters only for PORT_EVENT,
/// the one fixed-size body.
spicevmc_client_message parse_spicevmc_client_message(uint16_t type, std::span<const uint8_t> body,
                                                      extra_bytes extra = extra_bytes::reject);

/// Decodes a client's COMPRESSED_DATA into exactly uncompressed_size bytes
/// (bounds-checked LZ4). errc::protocol for a type other than LZ4, a size
/// of 0 or above vmc_max_client_message, or data that does not decode to
/// exactly that size.
result<std::vector<uint8_t>> vmc_decompress(const msgc::spicevmc_compressed_data &m);

/// LZ4 of `data` when it pays off as the reference decides: longer than
/// vmc_compress_threshold and strictly smaller compressed. nullopt otherwise
/// (the caller sends DATA).
std::optional<std::vector<uint8_t>> vmc_compress(std::span<const uint8_t> data);

} // namespace rs

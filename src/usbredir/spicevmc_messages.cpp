#include "usbredir/spicevmc_messages.hpp"

#include <lz4.h>

#include <limits>

namespace rs {

spicevmc_client_message parse_spicevmc_client_message(uint16_t type, std::span<const uint8_t> body,
                                                      extra_bytes extra) {
    using V = spicevmc_client_message;
    wire::reader r(body);
    switch (type) {
    case SPICE_MSGC_SPICEVMC_DATA:
        return V(std::in_place_type<msgc::spicevmc_data>, msgc::spicevmc_data{r.rest()});
    case SPICE_MSGC_SPICEVMC_COMPRESSED_DATA: {
        msgc::spicevmc_compressed_data m;
        m.compression = r.u8();
        // spice.proto: the size is there for every type but NONE.
        if (m.compression != SPICE_DATA_COMPRESSION_TYPE_NONE) m.uncompressed_size = r.u32();
        m.data = r.rest();
        if (!r.ok()) return parse_error{parse_error::kind::truncated, type, "truncated"};
        return V(std::in_place_type<msgc::spicevmc_compressed_data>, m);
    }
    case SPICE_MSGC_PORT_EVENT: {
        msgc::port_event m{r.u8()};
        if (!r.ok()) return parse_error{parse_error::kind::truncated, type, "truncated"};
        if (extra == extra_bytes::reject && r.remaining() != 0)
            return parse_error{parse_error::kind::trailing_bytes, type, "trailing bytes"};
        return V(std::in_place_type<msgc::port_event>, m);
    }
    default:
        return parse_error{parse_error::kind::unknown_type, type, "not a spicevmc message"};
    }
}

result<std::vector<uint8_t>> vmc_decompress(const msgc::spicevmc_compressed_data &m) {
    if (m.compression != SPICE_DATA_COMPRESSION_TYPE_LZ4) return errc::protocol;
    if (m.uncompressed_size == 0 || m.uncompressed_size > vmc_max_client_message)
        return errc::protocol;
    if (m.data.size() > static_cast<size_t>(std::numeric_limits<int>::max())) return errc::protocol;
    std::vector<uint8_t> out(m.uncompressed_size);
    // LZ4_decompress_safe never writes past the capacity it is given nor
    // reads past the input; a negative result is malformed input.
    const int n = LZ4_decompress_safe(
        reinterpret_cast<const char *>(m.data.data()), reinterpret_cast<char *>(out.data()),
        static_cast<int>(m.data.size()), static_cast<int>(out.size()));
    if (n < 0 || static_cast<uint32_t>(n) != m.uncompressed_size) return errc::protocol;
    return out;
}

std::optional<std::vector<uint8_t>> vmc_compress(std::span<const uint8_t> data) {
    if (data.size() <= vmc_compress_threshold ||
        data.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE))
        return std::nullopt;
    const int n = static_cast<int>(data.size());
    std::vector<uint8_t> out(static_cast<size_t>(LZ4_compressBound(n)));
    const int c =
        LZ4_compress_default(reinterpret_cast<const char *>(data.data()),
                             reinterpret_cast<char *>(out.data()), n, static_cast<int>(out.size()));
    if (c <= 0 || c >= n) return std::nullopt;
    out.resize(static_cast<size_t>(c));
    return out;
}

} // namespace rs

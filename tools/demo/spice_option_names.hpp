// QEMU's -spice option values (image-compression=, jpeg-wan-compression=,
// zlib-glz-wan-compression=, streaming-video=) and the <spice.h> constants
// they stand for, shared by the demo and the VDI benchmark's VM driver.
#pragma once

#include <spice.h>

#include <optional>
#include <string>

namespace rs::demo {

/// SpiceImageCompression by the names image-compression= takes.
inline std::optional<SpiceImageCompression> image_compression_named(const std::string &n) {
    if (n == "off") return SPICE_IMAGE_COMPRESSION_OFF;
    if (n == "auto_glz") return SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
    if (n == "auto_lz") return SPICE_IMAGE_COMPRESSION_AUTO_LZ;
    if (n == "quic") return SPICE_IMAGE_COMPRESSION_QUIC;
    if (n == "glz") return SPICE_IMAGE_COMPRESSION_GLZ;
    if (n == "lz") return SPICE_IMAGE_COMPRESSION_LZ;
    if (n == "lz4") return SPICE_IMAGE_COMPRESSION_LZ4;
    return std::nullopt;
}

/// spice_wan_compression_t by the names jpeg-/zlib-glz-wan-compression= take.
inline std::optional<spice_wan_compression_t> wan_named(const std::string &n) {
    if (n == "auto") return SPICE_WAN_COMPRESSION_AUTO;
    if (n == "never") return SPICE_WAN_COMPRESSION_NEVER;
    if (n == "always") return SPICE_WAN_COMPRESSION_ALWAYS;
    return std::nullopt;
}

/// SPICE_STREAM_VIDEO_* by the names streaming-video= takes.
inline std::optional<int> streaming_video_named(const std::string &n) {
    if (n == "off") return SPICE_STREAM_VIDEO_OFF;
    if (n == "all") return SPICE_STREAM_VIDEO_ALL;
    if (n == "filter") return SPICE_STREAM_VIDEO_FILTER;
    return std::nullopt;
}

} // namespace rs::demo

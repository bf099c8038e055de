// What the VMM configured for display images, as one client link sees it.
#pragma once

#include <spice.h>

namespace rs {

/// The server's image compression settings (spice_server_set_image_compression,
/// set_jpeg_compression, set_zlib_glz_compression), copied from the server
/// config on the control shard when a display channel links, then owned by
/// that client on its display shard. Plain data.
struct image_settings {
    SpiceImageCompression compression = SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
    spice_wan_compression_t jpeg = SPICE_WAN_COMPRESSION_AUTO;
    spice_wan_compression_t zlib_glz = SPICE_WAN_COMPRESSION_AUTO;
    /// Whether the client's link counts as low bandwidth, which turns the
    /// AUTO WAN settings on. The image sender keeps it current from the
    /// link's measured delivery rate (reds/link_rate.hpp); false until a
    /// measurement says otherwise, as the reference decides for a fast link.
    bool low_bandwidth = false;
    int jpeg_quality = 85; ///< the reference's default
    /// SPICE_STREAM_VIDEO_* (spice_server_set_streaming_video): which
    /// drawings may become MJPEG video streams (display/video_stream.hpp).
    int streaming_video = SPICE_STREAM_VIDEO_FILTER;
};

} // namespace rs

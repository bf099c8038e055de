// Display channel messages (spice.proto DisplayChannel), as main_messages.hpp
// does it for the main channel: server->client bodies are written through
// wire::writer, client->server bodies are parsed into a variant.
//
// Drawing commands carry pointers: a u32 offset, from the start of the body,
// of data placed after the fixed part. They are laid out as spice-common's
// generated marshaller and the reference server lay them out, so the bytes
// match the reference for the same input: each pointer opens a block that is
// appended after every block opened before it (the body is the fixed part,
// then the blocks in the order their pointers were written, where the
// pointers inside an image, its palette, are written when the image is), and
// a pointer whose block stays empty is 0. For a DRAW_COPY with a paletted
// source and a mask that is: fixed part, source image (descriptor, bitmap
// header, pixels), mask image, source palette.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <variant>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "display/draw.hpp"
#include "reds/main_messages.hpp"
#include "reds/wire.hpp"

namespace rs {

/// Which field of a drawing an image fills; the display channel decides per
/// role (the reference never compresses masks, nor caches lossy patterns).
using image_role = draw::image_role;

/// How one image of a drawing goes on the wire, as the display channel
/// decided it (compression, pixmap and palette caches). Plain data; `encoded`
/// borrows bytes the caller keeps until the message is encoded.
struct image_plan {
    enum class method : uint8_t {
        /// SPICE_IMAGE_TYPE_BITMAP with the pixels as stored (rows bottom-up
        /// unless SPICE_BITMAP_FLAGS_TOP_DOWN), or the image's own payload
        /// when it is not a bitmap (a guest QUIC image, a surface).
        raw,
        /// SPICE_IMAGE_TYPE_LZ4, for clients with
        /// SPICE_DISPLAY_CAP_LZ4_COMPRESSION. Falls back to raw when the
        /// format has no LZ4 form (palettes, 1-bit, 8-bit alpha) or LZ4 does
        /// not make it smaller, as the reference does.
        lz4,
        /// SPICE_IMAGE_TYPE_FROM_CACHE: the descriptor alone; the client
        /// takes the pixmap it cached under the image id.
        from_cache,
        /// SPICE_IMAGE_TYPE_FROM_CACHE_LOSSLESS: likewise, and the cached
        /// copy must be lossless.
        from_cache_lossless,
        /// A payload compressed elsewhere: `encoded_type` is
        /// SPICE_IMAGE_TYPE_QUIC, LZ_RGB, GLZ_RGB, JPEG or LZ4 (spice.proto
        /// BinaryData: u32 size, bytes); LZ_PLT (LZPLTData: `encoded_flags`
        /// with the bitmap's TOP_DOWN bit, size, the bitmap's palette as
        /// `palette` says, bytes); ZLIB_GLZ_RGB (ZlibGlzRGBData:
        /// `encoded_aux` is glz_data_size); JPEG_ALPHA (JPEGAlphaData:
        /// `encoded_flags`, `encoded_aux` is jpeg_size).
        encoded,
    };
    /// What happens to a bitmap's palette (ignored for other payloads and
    /// for bitmaps without one).
    enum class palette_mode : uint8_t {
        send,           ///< sent with the image
        send_and_cache, ///< sent, with SPICE_BITMAP_FLAGS_PAL_CACHE_ME
        from_cache,     ///< SPICE_BITMAP_FLAGS_PAL_FROM_CACHE, its `unique` as the id
    };

    method how = method::raw;
    /// The descriptor's SPICE_IMAGE_FLAGS_* (CACHE_ME, HIGH_BITS_SET,
    /// CACHE_REPLACE_ME), written as given.
    uint8_t descriptor_flags = 0;
    palette_mode palette = palette_mode::send;
    uint8_t encoded_type = SPICE_IMAGE_TYPE_QUIC;
    uint8_t encoded_flags = 0;
    uint32_t encoded_aux = 0;
    std::span<const uint8_t> encoded;
};

/// The display channel's per-image decision. Called once per image of a
/// drawing, in wire order, while its message is encoded.
using image_encoder = std::function<image_plan(const draw::image &, image_role)>;

/// The plan used when no encoder is given: raw, palette sent, and of the
/// guest's descriptor flags only SPICE_IMAGE_FLAGS_HIGH_BITS_SET (as the
/// reference keeps it; caching is the channel's choice).
image_plan default_image_plan(const draw::image &img, image_role role) noexcept;

/// The SPICE_MSG_DISPLAY_DRAW_* type for an operation (COPY_BITS for
/// draw::copy_bits).
uint16_t draw_message_type(const draw::operation &op) noexcept;

/// Writes the body of draw_message_type(d.op) for `d`: the DisplayBase
/// (surface_id, bbox, clip) then the operation, images as SpiceImage as
/// `images` decides (default_image_plan when empty). Spans inside `d` are
/// read, never kept. Counts that do not fit their wire field (more than
/// 255 style segments) are cut to what fits.
void encode_draw(wire::writer &w, const draw::drawable &d, const image_encoder &images = {});

/// One entry of INVAL_LIST (spice.proto ResourceID): 9 bytes.
struct resource_id {
    uint8_t type = SPICE_RES_TYPE_PIXMAP; ///< SPICE_RES_TYPE_*
    uint64_t id = 0;
};

/// One entry of MONITORS_CONFIG (spice.proto Head): 28 bytes.
struct monitor_head {
    uint32_t monitor_id = 0;
    uint32_t surface_id = 0;
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t x = 0;
    uint32_t y = 0;
    uint32_t flags = 0;
};

/// Server -> client display bodies. Plain data (spans borrow what the caller
/// owns until encode returns), usable from any shard. Drawing commands are
/// not here: see encode_draw.
namespace msg {

/// Ends the drawing of the initial screen: the client may show it now.
struct display_mark {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_MARK;
    void encode(wire::writer &) const {}
};

/// Drops the client's surfaces, caches and streams (sent before migration
/// or a device reset).
struct display_reset {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_RESET;
    void encode(wire::writer &) const {}
};

/// Drops the listed resources from the client's caches. At most 65535
/// entries fit the u16 count; further ones are not sent.
struct display_inval_list {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_INVAL_LIST;
    std::span<const resource_id> resources;
    void encode(wire::writer &w) const;
};

/// Drops the whole pixmap cache once the listed messages of other channels
/// were processed. At most 255 waits fit the u8 count.
struct display_inval_all_pixmaps {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_INVAL_ALL_PIXMAPS;
    std::span<const channel_wait> waits;
    void encode(wire::writer &w) const;
};

/// Drops one palette (by its `unique`) from the client's palette cache.
struct display_inval_palette {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_INVAL_PALETTE;
    uint64_t id = 0;
    void encode(wire::writer &w) const { w.u64(id); }
};

/// Empties the client's palette cache.
struct display_inval_all_palettes {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_INVAL_ALL_PALETTES;
    void encode(wire::writer &) const {}
};

/// The client creates a surface. `flags` are SPICE_SURFACE_FLAGS_* (PRIMARY for the primary
/// surface; STREAMING_MODE only to clients with SPICE_DISPLAY_CAP_MULTI_CODEC).
struct display_surface_create {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_SURFACE_CREATE;
    uint32_t surface_id = 0;
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t format = SPICE_SURFACE_FMT_32_xRGB; ///< SPICE_SURFACE_FMT_*
    uint32_t flags = 0;
    void encode(wire::writer &w) const;
};

/// The client forgets the surface.
struct display_surface_destroy {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_SURFACE_DESTROY;
    uint32_t surface_id = 0;
    void encode(wire::writer &w) const { w.u32(surface_id); }
};

/// The monitors and where they show which surface. At most 65535 heads fit
/// the u16 count.
struct display_monitors_config {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_MONITORS_CONFIG;
    std::span<const monitor_head> heads;
    uint16_t max_allowed = 0;
    void encode(wire::writer &w) const;
};

/// A video stream starts on the client: frames of src_width × src_height,
/// decoded by `codec_type` (SPICE_VIDEO_CODEC_TYPE_*), shown scaled into
/// `dest` of the surface, through `clip` (rects inline, as in DisplayBase;
/// SPICE_CLIP_TYPE_NONE unless `clipped` or rects are given).
struct display_stream_create {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_STREAM_CREATE;
    uint32_t surface_id = 0;
    uint32_t id = 0;
    uint8_t flags = 0; ///< SPICE_STREAM_FLAGS_TOP_DOWN
    uint8_t codec_type = SPICE_VIDEO_CODEC_TYPE_MJPEG;
    uint64_t stamp = 0;
    uint32_t stream_width = 0;
    uint32_t stream_height = 0;
    uint32_t src_width = 0;
    uint32_t src_height = 0;
    draw::rect dest;
    std::span<const draw::rect> clip;
    bool clipped = false; ///< SPICE_CLIP_TYPE_RECTS even with no rects (nothing shows)
    void encode(wire::writer &w) const;
};

/// One encoded frame of a stream, to be shown at `multi_media_time` of the
/// client's mm clock.
struct display_stream_data {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_STREAM_DATA;
    uint32_t id = 0;
    uint32_t multi_media_time = 0;
    std::span<const uint8_t> data;
    void encode(wire::writer &w) const;
};

/// A frame whose size differs from the stream's (SPICE_DISPLAY_CAP_SIZED_STREAM).
struct display_stream_data_sized {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_STREAM_DATA_SIZED;
    uint32_t id = 0;
    uint32_t multi_media_time = 0;
    uint32_t width = 0;
    uint32_t height = 0;
    draw::rect dest;
    std::span<const uint8_t> data;
    void encode(wire::writer &w) const;
};

/// The stream's new clip: SPICE_CLIP_TYPE_NONE unless `clipped` or rects
/// are given (RECTS with no rects: nothing of the stream shows).
struct display_stream_clip {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_STREAM_CLIP;
    uint32_t id = 0;
    std::span<const draw::rect> clip;
    bool clipped = false;
    void encode(wire::writer &w) const;
};

/// The client stops and forgets one stream.
struct display_stream_destroy {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_STREAM_DESTROY;
    uint32_t id = 0;
    void encode(wire::writer &w) const { w.u32(id); }
};

/// The client stops and forgets every stream.
struct display_stream_destroy_all {
    static constexpr uint16_t type = SPICE_MSG_DISPLAY_STREAM_DESTROY_ALL;
    void encode(wire::writer &) const {}
};

} // namespace msg

/// Client -> server display bodies. Spans borrow the parsed input. Plain data,
/// usable from any shard.
namespace msgc {

/// The client's cache sizes, sent once after linking.
struct display_init {
    uint8_t pixmap_cache_id = 0;
    int64_t pixmap_cache_size = 0; ///< in pixels
    uint8_t glz_dictionary_id = 0;
    int32_t glz_dictionary_window_size = 0; ///< in pixels
};

/// How a video stream plays on the client (SPICE_DISPLAY_CAP_STREAM_REPORT).
struct display_stream_report {
    uint32_t stream_id = 0;
    uint32_t unique_id = 0;
    uint32_t start_frame_mm_time = 0;
    uint32_t end_frame_mm_time = 0;
    uint32_t num_frames = 0;
    uint32_t num_drops = 0; ///< 0xffffffff with num_frames 0: the client cannot decode the stream
    int32_t last_frame_delay = 0;
    uint32_t audio_delay = 0; ///< 0xffffffff without audio playback
};

/// The image compression the client asks for.
struct display_preferred_compression {
    uint8_t image_compression = 0; ///< SPICE_IMAGE_COMPRESSION_*; not validated here
};

/// The client finished a GL_DRAW; the next may be sent.
struct display_gl_draw_done {};

/// The video codecs the client prefers, most preferred first.
struct display_preferred_video_codec_type {
    std::span<const uint8_t>
        codecs; ///< SPICE_VIDEO_CODEC_TYPE_*, most preferred first; not validated
};

} // namespace msgc

/// A display-channel client message (BaseChannel ones included), or the error.
using display_client_message =
    std::variant<parse_error, msgc::ack_sync, msgc::ack, msgc::pong, msgc::migrate_flush_mark,
                 msgc::migrate_data, msgc::disconnecting, msgc::display_init,
                 msgc::display_stream_report, msgc::display_preferred_compression,
                 msgc::display_gl_draw_done, msgc::display_preferred_video_codec_type>;

/// Parses the body of a message received on the display channel. With
/// extra_bytes::reject, bytes after the fields (after the codec list for
/// PREFERRED_VIDEO_CODEC_TYPE) are an error.
display_client_message parse_display_client_message(uint16_t type, std::span<const uint8_t> body,
                                                    extra_bytes extra = extra_bytes::reject);

} // namespace rs

// Video streams (MJPEG) of one display client: which guest drawings are
// frames of a video, the streams that carry them, and the frames' encoding.
//
// A region the guest redraws at video rate as same-size COPY drawables of
// fresh bitmaps becomes a stream, as the reference detects it
// (server/video-stream.cpp): a candidate is an opaque COPY with ROP PUT of a
// BITMAP onto the primary surface, without mask (a clip becomes the
// stream's clip); candidates with the same destination and source size less
// than detection_max_delta apart count as consecutive frames; the frame that
// makes frames_start_condition of them, of which at least a fifth are
// "gradual" (image_class not low; under SPICE_STREAM_VIDEO_ALL every frame
// counts as gradual, under FILTER only photo-like ones and only from
// min_filter_area pixels), starts a stream. From then on frames go out as
// STREAM_DATA (JPEG) instead of drawings. An opaque drawing over a stream
// clips it (STREAM_CLIP; the next frame is on top again). A stream ends when
// no frame came for `timeout` or when any other drawing touches it (it may
// read the lossy pixels): the client then gets the area's exact pixels again
// (the "upgrade"); or when its surface goes or the picture is resent whole.
//
// Detection and encoding are per client (each client its own trace and its
// own encode of each frame), so a client that cannot stream (no MJPEG) or
// that joined late gets drawings, and the others are not affected.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include <spice.h>

#include "display/draw.hpp"

namespace rs {

/// The detection state and live streams of one display client; plain data
/// owned by its display_channel_client, on the device's display shard.
class video_streams {
  public:
    using clock = std::chrono::steady_clock;

    static constexpr auto detection_max_delta = std::chrono::milliseconds(200);
    static constexpr auto continuous_max_delta = std::chrono::seconds(1);
    static constexpr auto timeout = std::chrono::seconds(1);
    static constexpr int frames_start_condition = 20;
    static constexpr int frames_reset_condition = 100;
    static constexpr int64_t min_filter_area = 96 * 96;
    static constexpr size_t trace_items = 8;
    static constexpr size_t max_streams = 50;
    /// JPEG quality of stream frames (the reference's MJPEG starts near it).
    static constexpr int quality = 80;

    /// One live stream, as this client knows it.
    struct stream {
        uint32_t id = 0;
        uint32_t surface_id = 0;
        draw::rect dest;
        uint32_t src_width = 0;
        uint32_t src_height = 0;
        clock::time_point last;
        uint64_t frames = 0;
        /// The clip the client has for it, in surface coordinates: none
        /// (the whole destination shows) unless `clipped`; clipped with no
        /// rects while drawings hide all of it (it lives on: the next frame
        /// is on top again).
        std::vector<draw::rect> clip;
        bool clipped = false;
    };

    /// `mode` is SPICE_STREAM_VIDEO_*; `client_can` whether the client
    /// decodes MJPEG streams (no MULTI_CODEC cap, or CODEC_MJPEG).
    video_streams(int mode, bool client_can) noexcept;

    bool enabled() const noexcept { return _enabled; }
    int mode() const noexcept { return _mode; }

    /// Whether `d` may be a video frame on `primary`: an opaque COPY, ROP
    /// PUT, of a BITMAP with a JPEG form, no mask, onto `primary` (a clip is
    /// allowed: it becomes the stream's clip).
    static bool candidate(const draw::drawable &d, uint32_t primary) noexcept;

    /// Feeds one drawable of the primary surface. Returns the stream it is
    /// a frame of (`started` set when this frame starts it), or nullptr when
    /// it goes out as a drawing.
    stream *on_drawable(const draw::drawable &d, uint32_t primary, clock::time_point now,
                        bool &started);

    /// Removes and returns the streams of `surface_id` whose destination
    /// intersects `area`.
    std::vector<stream> take_overlapping(uint32_t surface_id, const draw::rect &area);
    std::vector<stream> take_surface(uint32_t surface_id);
    /// The live streams, for the channel to update their clips.
    std::vector<stream> &live() noexcept { return _streams; }
    std::vector<stream> take_expired(clock::time_point now);
    /// Forgets every stream and the trace (after STREAM_DESTROY_ALL).
    void clear() noexcept;
    /// A stream whose frame could not be encoded.
    void remove(uint32_t id) noexcept;

    bool empty() const noexcept { return _streams.empty(); }
    /// When the oldest stream times out, if any stream lives.
    std::optional<clock::time_point> next_deadline() const noexcept;

    uint64_t streams_created() const noexcept { return _created; }
    uint64_t frames_sent() const noexcept { return _frames; }
    void count_frame() noexcept { ++_frames; }
    /// Frames skipped because the client was behind.
    uint64_t frames_dropped() const noexcept { return _dropped; }
    void count_dropped() noexcept { ++_dropped; }

  private:
    /// A recent candidate that was not (yet) a stream frame.
    struct trace_item {
        draw::rect dest;
        uint32_t src_width = 0;
        uint32_t src_height = 0;
        clock::time_point time;
        int frames = 0;
        int gradual = 0;
        int last_gradual = 0;
        bool used = false;
    };
    bool gradual(const draw::drawable &d) const noexcept;
    stream &start(const draw::drawable &d, clock::time_point now);

    int _mode;
    bool _enabled;
    std::vector<stream> _streams;
    std::vector<trace_item> _trace;
    uint32_t _next_id = 0;
    uint64_t _created = 0;
    uint64_t _frames = 0;
    uint64_t _dropped = 0;
    /// The classifier's view of a chunked candidate (row pointers, and the
    /// rows that straddle chunks), kept between frames.
    mutable std::vector<const uint8_t *> _rows;
    mutable std::vector<uint8_t> _spill;
};

/// The JPEG of a candidate's source area, rows top first (so the stream is
/// TOP_DOWN whatever the bitmap's order); appended to `out`. nullopt when
/// the bitmap has no JPEG form or libjpeg refuses it.
std::optional<size_t> encode_video_frame(const draw::copy &op, int quality,
                                         std::vector<uint8_t> &out);

/// The stream's clip once an opaque drawing covers `cover` of it: the rects
/// still visible (none when nothing shows any more). Reads s.dest, s.clip
/// and s.clipped.
std::vector<draw::rect> clip_after_cover(const video_streams::stream &s, const draw::rect &cover);

/// The client's multimedia clock as the server runs it
/// (server::multi_media_time): steady-clock milliseconds.
uint32_t video_mm_time() noexcept;

} // namespace rs

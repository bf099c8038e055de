// The display and cursor channels of one QXL device, seen from one client.
#pragma once

#include <pixman.h>

#include <chrono>
#include <memory>
#include <unordered_map>
#include <vector>

#include "display/cursor_cache.hpp"
#include "display/draw.hpp"
#include "display/image_sender.hpp"
#include "display/image_settings.hpp"
#include "display/qxl_device.hpp"
#include "display/video_stream.hpp"
#include "reds/channel_client.hpp"
#include "runtime/sync.hpp"

namespace rs {

/// One client's display channel for one QXL device. Owns nothing of the
/// device; lives on the device's display shard. Draw commands reach it as
/// they are processed and are marshalled at once (so guest memory can be
/// released); when the client falls behind by more than `resync_bytes`, the
/// queued drawing is dropped and the current picture of every surface is
/// sent instead — newer content replacing what it covers, with a bounded queue.
/// Drawings that are frames of a video go out as MJPEG stream frames instead
/// (its own `video_streams`: detection and encode per client); a stream's
/// area is lossy on the client until the stream ends and the area is resent
/// losslessly.
class display_channel_client final : public channel_client {
  public:
    static constexpr size_t resync_bytes = 16u << 20;
    /// A stream frame is skipped while more than this waits to be handed
    /// to the socket (about 4 to 8 1080p frames).
    static constexpr size_t stream_backlog_bytes = 1u << 20;

    display_channel_client(qxl_device &dev, std::unique_ptr<stream> s, channel_link link,
                           image_settings images);

    void on_surface_created(uint32_t id, uint32_t width, uint32_t height, uint32_t format,
                            bool primary);
    void on_surface_destroyed(uint32_t id);
    void on_drawable(const draw::drawable &d);
    void on_monitors_config(std::span<const struct monitor_head> heads, uint16_t max_allowed);
    void on_mark();
    /// spice_qxl_reset_image_cache: the client empties its pixmap cache.
    void on_reset_image_cache();
    bool lz4() const noexcept { return _lz4; }
    const image_sender &images() const noexcept { return _images; }
    const video_streams &streams() const noexcept { return _video; }

  protected:
    void on_start() override;
    void on_stopped() override;
    task<void> background() override;
    task<result<void>> handle_message(uint16_t type, std::span<const uint8_t> body) override;

  private:
    /// How long the first picture waits for the client's INIT (its cache
    /// and GLZ window sizes, so the picture can use them); both spice-gtk
    /// and spice-html5 send INIT at once.
    static constexpr std::chrono::milliseconds init_wait{500};
    /// Sends every surface (create + its current pixels) and a MARK.
    void send_full_state();
    void send_surface_image(uint32_t id);
    /// A copy of `area` of a surface from the canvas, as its own drawing.
    void send_area(uint32_t id, draw::rect area, image_sender::lossy_use use);
    /// A guest drawing: first a lossless resend of the lossy pixels it
    /// reads, then the drawing.
    void send_drawable(const draw::drawable &d);
    /// Plans the drawable's images, sends the cache invalidations they need,
    /// then the drawing, and records where it left lossy pixels.
    void send_now(const draw::drawable &d, image_sender::lossy_use use);
    void resend_lossless_under(const draw::drawable &d);
    /// After queued messages were dropped: the client may lack images the
    /// caches and the GLZ window count on, so both start over.
    void forget_client_caches();
    bool behind() const noexcept;
    /// A frame of a live (or starting) stream: STREAM_CREATE when it
    /// starts, then its STREAM_DATA. False when it could not be encoded
    /// (the stream is ended and the drawable goes out as a drawing).
    bool send_stream_frame(video_streams::stream &s, const draw::drawable &d, bool started);
    /// The client holds pixels of `area` that differ from the canvas.
    void mark_lossy(uint32_t surface_id, const draw::rect &area);
    /// Ends the streams the drawing touches: STREAM_DESTROY, then the
    /// area's exact pixels unless the drawing replaces all of them.
    void end_streams_under(const draw::drawable &d);
    /// STREAM_DESTROY and, with `upgrade`, the stream's area resent
    /// losslessly from the canvas (the client ends with exact pixels).
    void end_stream(const video_streams::stream &s, bool upgrade);
    /// Every stream ends without upgrade (a full picture follows).
    void drop_all_streams();

    /// This channel's serials, as the client's shared caches read them.
    struct serials final : client_caches::member {
        const channel_client &c;
        explicit serials(const channel_client &cc)
            : c(cc) {}
        uint64_t queued_serial() const noexcept override { return c.queued_serial(); }
        uint64_t sent_serial() const noexcept override { return c.sent_serial(); }
    };

    qxl_device &_dev;
    bool _lz4;
    serials _serials{*this}; // before _images, which reads it until it is gone
    image_sender _images;
    bool _marked = false;
    /// The first picture is not sent yet: device events are ignored until
    /// it is (it is read from the canvas, which already holds them).
    bool _awaiting_first_picture = true;
    std::vector<uint32_t> _surfaces; // what this client has been told exists
    /// Per surface, where the client holds lossy (JPEG) pixels; a drawing
    /// that reads them gets them resent losslessly first.
    struct region_deleter {
        void operator()(pixman_region32_t *r) const noexcept;
    };
    using region_ptr = std::unique_ptr<pixman_region32_t, region_deleter>;
    std::unordered_map<uint32_t, region_ptr> _lossy;
    /// Video streams of this client (its own detection and encode).
    video_streams _video;
    /// Set when a stream starts, so the timeout loop in background() runs
    /// only while streams live.
    event _video_wake;
    std::vector<uint8_t> _frame; ///< the frame being encoded, reused
};

/// One client's cursor channel for one QXL device; lives on its display shard.
class cursor_channel_client final : public channel_client {
  public:
    cursor_channel_client(qxl_device &dev, std::unique_ptr<stream> s, channel_link link);
    void on_cursor(const draw::cursor_cmd &cmd);
    void on_reset();

  protected:
    void on_start() override;
    task<result<void>> handle_message(uint16_t type, std::span<const uint8_t> body) override;

  private:
    /// Cache flags for sending `shape`; sends INVAL_ONE first when room is made.
    uint16_t cache_flags_for(const draw::cursor_shape *shape);

    qxl_device &_dev;
    cursor_cache _cache;
};

} // namespace rs

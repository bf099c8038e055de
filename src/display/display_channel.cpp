#include "display/display_channel.hpp"

#include <spice/enums.h>

#include <algorithm>
#include <variant>

#include "display/cursor_messages.hpp"
#include "display/display_messages.hpp"
#include "runtime/byte_pool.hpp"
#include "runtime/io.hpp"
#include "runtime/log.hpp"

#include <fmt/format.h>
#include <string>

namespace rs {

namespace {

channel_limits display_limits() {
    channel_limits l;
    // Whole-surface images are large; the resync policy bounds the queue
    // well below this hard cap.
    l.max_queued_bytes = 256u << 20;
    return l;
}

/// The bitmap format that carries a surface format's pixels.
std::optional<uint8_t> bitmap_format_of(uint32_t surface_format) {
    switch (surface_format) {
    case SPICE_SURFACE_FMT_32_xRGB:
        return SPICE_BITMAP_FMT_32BIT;
    case SPICE_SURFACE_FMT_32_ARGB:
        return SPICE_BITMAP_FMT_RGBA;
    case SPICE_SURFACE_FMT_16_555:
        return SPICE_BITMAP_FMT_16BIT;
    case SPICE_SURFACE_FMT_8_A:
        return SPICE_BITMAP_FMT_8BIT_A;
    case SPICE_SURFACE_FMT_1_A:
        return SPICE_BITMAP_FMT_1BIT_LE;
    default:
        return std::nullopt;
    }
}

} // namespace

display_channel_client::display_channel_client(qxl_device &dev, std::unique_ptr<stream> s,
                                               channel_link link, image_settings images)
    : channel_client(std::move(s), std::move(link), /*handle_acks=*/true, display_limits())
    , _dev(dev)
    , _lz4(this->link().channel_caps.has(SPICE_DISPLAY_CAP_LZ4_COMPRESSION))
    // The client has one pixmap cache and one GLZ window for all its
    // display channels: they join them at INIT (client_caches).
    , _images(images, _lz4, this->link().id)
    // As the reference decides (dcc_create_video_encoder): a client without
    // MULTI_CODEC decodes MJPEG; one with it says so with CODEC_MJPEG.
    , _video(images.streaming_video,
             !this->link().channel_caps.has(SPICE_DISPLAY_CAP_MULTI_CODEC) ||
                 this->link().channel_caps.has(SPICE_DISPLAY_CAP_CODEC_MJPEG)) {}

void display_channel_client::on_start() {
    // The link's measured rate decides the AUTO WAN settings (JPEG, ZLIB_GLZ).
    _images.set_socket(fd());
    // The first picture waits for INIT (or init_wait): see background().
}

task<void> display_channel_client::background() {
    (void)co_await sleep_for(init_wait, stop_token());
    if (!stopped() && _awaiting_first_picture) {
        RS_LOG_DEBUG("display", "client {} sent no INIT within {} ms; sending the screen",
                     link().connection_id, init_wait.count());
        send_full_state();
    }
    // Stream timeouts: this loop sleeps on _video_wake while no stream lives
    // (an idle client costs nothing) and wakes at the oldest stream's deadline
    // while some do.
    std::stop_callback wake_on_stop(stop_token(), [this] { _video_wake.set(); });
    while (!stopped()) {
        const auto deadline = _video.next_deadline();
        if (!deadline) {
            _video_wake.reset();
            co_await _video_wake.wait();
            continue;
        }
        const auto now = video_streams::clock::now();
        if (*deadline > now) {
            (void)co_await sleep_for(*deadline - now, stop_token());
            continue;
        }
        for (const auto &s : _video.take_expired(now))
            end_stream(s, true);
    }
}

void display_channel_client::on_stopped() {
    std::string counts;
    const auto &sent = _images.images_sent();
    for (size_t t = 0; t < sent.size(); ++t)
        if (sent[t] != 0)
            counts += fmt::format(" {}={}", image_type_name(static_cast<uint8_t>(t)), sent[t]);
    // Parsers read the space-separated k=v items after "images sent:"; the
    // stream counts follow after " | ", without '=', so they do not read as
    // image types.
    RS_LOG_INFO("display",
                "display {} client {} images sent:{} | from another channel's cache entries: {} "
                "| video streams: {}, frames: {}, dropped: {}; codec cpu {:.1f} ms",
                link().id, link().connection_id, counts.empty() ? std::string(" none") : counts,
                _images.shared_cache_hits(), _video.streams_created(), _video.frames_sent(),
                _video.frames_dropped(), static_cast<double>(_images.codec_cpu_ns()) / 1e6);
}

void display_channel_client::send_full_state() {
    _awaiting_first_picture = false;
    drop_all_streams();
    _surfaces.clear();
    _lossy.clear();
    if (_dev.has_primary()) {
        const uint32_t pid = _dev.primary_id();
        // The primary first: the client creates its window from it.
        if (auto *img = _dev.surfaces().image(pid)) {
            on_surface_created(pid, static_cast<uint32_t>(pixman_image_get_width(img)),
                               static_cast<uint32_t>(pixman_image_get_height(img)),
                               SPICE_SURFACE_FMT_32_xRGB, true);
            send_surface_image(pid);
        }
        on_mark();
    }
}

void display_channel_client::send_surface_image(uint32_t id) {
    auto *img = _dev.surfaces().image(id);
    if (img == nullptr) return;
    const draw::rect full{0, 0, pixman_image_get_width(img), pixman_image_get_height(img)};
    send_area(id, full, image_sender::lossy_use::whole_picture);
}

void display_channel_client::send_area(uint32_t id, draw::rect area, image_sender::lossy_use use) {
    auto *img = _dev.surfaces().image(id);
    if (img == nullptr) return;
    area = area.intersect({0, 0, pixman_image_get_width(img), pixman_image_get_height(img)});
    if (area.empty()) return;
    auto px = _dev.surfaces().read_area(id, area);
    if (!px) {
        RS_LOG_RATELIMITED("display", "surface {} not readable: {}", id, px.error().message());
        return;
    }
    auto fmt = bitmap_format_of(px->format);
    if (!fmt) return;
    auto image = std::make_shared<draw::image>();
    image->type = SPICE_IMAGE_TYPE_BITMAP;
    image->width = px->width;
    image->height = px->height;
    draw::bitmap bmp;
    bmp.format = *fmt;
    bmp.flags = SPICE_BITMAP_FLAGS_TOP_DOWN;
    bmp.width = px->width;
    bmp.height = px->height;
    bmp.stride = px->stride;
    bmp.data.parts.emplace_back(px->data.data(), px->data.size());
    image->payload = std::move(bmp);
    draw::drawable d;
    d.surface_id = id;
    d.bbox = {area.left, area.top, area.left + static_cast<int32_t>(px->width),
              area.top + static_cast<int32_t>(px->height)};
    draw::copy op;
    op.src = image;
    op.src_area = {0, 0, static_cast<int32_t>(px->width), static_cast<int32_t>(px->height)};
    d.op = std::move(op);
    send_now(d, use);
    // The message holds its own copy; unless something kept the image, its
    // pixels go back for the next snapshot.
    d = draw::drawable{};
    if (image.use_count() == 1) {
        image.reset();
        byte_pool::give(std::move(px->data));
    }
}

void display_channel_client::on_surface_created(uint32_t id, uint32_t width, uint32_t height,
                                                uint32_t format, bool primary) {
    if (_awaiting_first_picture) return;
    if (std::find(_surfaces.begin(), _surfaces.end(), id) == _surfaces.end())
        _surfaces.push_back(id);
    send(msg::display_surface_create{
        .surface_id = id,
        .width = width,
        .height = height,
        .format = format,
        .flags = primary ? static_cast<uint32_t>(SPICE_SURFACE_FLAGS_PRIMARY) : 0u});
}

void display_channel_client::on_surface_destroyed(uint32_t id) {
    if (_awaiting_first_picture) return;
    auto it = std::find(_surfaces.begin(), _surfaces.end(), id);
    if (it == _surfaces.end()) return;
    for (const auto &s : _video.take_surface(id))
        end_stream(s, false);
    _surfaces.erase(it);
    _lossy.erase(id);
    send(msg::display_surface_destroy{.surface_id = id});
}

void display_channel_client::on_mark() {
    if (_awaiting_first_picture) return;
    if (_marked) return;
    _marked = true;
    send(msg::display_mark{});
}

bool display_channel_client::behind() const noexcept { return queued_bytes() > resync_bytes; }

void display_channel_client::on_drawable(const draw::drawable &d) {
    if (_awaiting_first_picture) return;
    if (std::find(_surfaces.begin(), _surfaces.end(), d.surface_id) == _surfaces.end()) return;
    if (behind()) {
        // The client fell behind: what is queued is superseded by the
        // current picture, which the canvas already holds.
        RS_LOG_DEBUG("display", "client {} behind by {} bytes; resending the current picture",
                     link().connection_id, queued_bytes());
        const size_t dropped = clear_queue();
        // Other channels may have queued waits for the dropped serials:
        // empty WAIT_FOR_CHANNELS take their numbers, so the client counts
        // on as those waits expect.
        if (_images.caches_shared())
            for (size_t i = 0; i < dropped; ++i)
                send(msg::wait_for_channels{});
        forget_client_caches();
        // The dropped queue may have held the MARK: the client gets one
        // after this picture in any case (a second MARK is harmless).
        _marked = false;
        send_full_state();
        // The canvas holds the picture before this drawable: it follows.
        if (std::find(_surfaces.begin(), _surfaces.end(), d.surface_id) == _surfaces.end()) return;
    }
    send_drawable(d);
}

void display_channel_client::send_drawable(const draw::drawable &d) {
    if (_video.enabled() && _dev.has_primary() && d.surface_id == _dev.primary_id()) {
        bool started = false;
        if (auto *s =
                _video.on_drawable(d, _dev.primary_id(), video_streams::clock::now(), started))
            if (send_stream_frame(*s, d, started)) return;
    }
    end_streams_under(d);
    resend_lossless_under(d);
    send_now(d, image_sender::lossy_use::by_operation);
}

void display_channel_client::send_now(const draw::drawable &d, image_sender::lossy_use use) {
    const auto inv = _images.prepare(d, use);
    if (!inv.waits.empty()) send(msg::wait_for_channels{.waits = inv.waits});
    if (!inv.pixmaps.empty()) send(msg::display_inval_list{.resources = inv.pixmaps});
    for (uint64_t id : inv.palettes)
        send(msg::display_inval_palette{.id = id});
    const image_encoder enc = _images.encoder();
    send_with(draw_message_type(d.op), [&](wire::writer &w) { encode_draw(w, d, enc); });
    _images.commit(queued_serial());
    // Where the client now holds lossy pixels. A lossless drawing that
    // writes its whole bbox from exact inputs leaves exact pixels there.
    const bool exact_bbox =
        !inv.lossy && (draw::replaces_bbox(d) || (std::holds_alternative<draw::copy_bits>(d.op) &&
                                                  d.clp.type == SPICE_CLIP_TYPE_NONE));
    auto it = _lossy.find(d.surface_id);
    if (inv.lossy) {
        mark_lossy(d.surface_id, d.bbox);
    } else if (exact_bbox && it != _lossy.end()) {
        pixman_region32_t box;
        pixman_region32_init_rect(&box, d.bbox.left, d.bbox.top,
                                  static_cast<unsigned>(d.bbox.width()),
                                  static_cast<unsigned>(d.bbox.height()));
        pixman_region32_subtract(it->second.get(), it->second.get(), &box);
        pixman_region32_fini(&box);
        if (!pixman_region32_not_empty(it->second.get())) _lossy.erase(it);
    }
}

bool display_channel_client::send_stream_frame(video_streams::stream &s, const draw::drawable &d,
                                               bool started) {
    const auto &op = std::get<draw::copy>(d.op);
    // A newer frame is on top of what covered the stream: the clip is the
    // frame's own (none, or the guest's clip rects).
    std::vector<draw::rect> frame_clip;
    const bool frame_clipped = d.clp.type == SPICE_CLIP_TYPE_RECTS;
    if (frame_clipped) frame_clip = d.clp.rects;
    if (started) {
        s.clip = frame_clip;
        s.clipped = frame_clipped;
    }
    if (!started && queued_bytes() > stream_backlog_bytes) {
        // The client is behind: skip this frame, as the reference drops a
        // frame while the previous one still waits. The next frame covers
        // the same area; until then the client's pixels there differ from
        // the canvas, which the lossy region records (reads and the
        // stream's upgrade resend them).
        _video.count_dropped();
        mark_lossy(d.surface_id, d.bbox);
        return true;
    }
    _frame.clear();
    if (!encode_video_frame(op, video_streams::quality, _frame)) {
        RS_LOG_RATELIMITED("display", "client {}: stream {} frame not encoded; stream ends",
                           link().connection_id, s.id);
        const auto ended = s;
        _video.remove(s.id);
        if (!started) end_stream(ended, false); // the drawing follows and covers it
        return false;
    }
    if (started) {
        RS_LOG_DEBUG("display", "client {}: stream {} {}x{} at ({},{})-({},{})",
                     link().connection_id, s.id, s.src_width, s.src_height, s.dest.left, s.dest.top,
                     s.dest.right, s.dest.bottom);
        send(msg::display_stream_create{.surface_id = s.surface_id,
                                        .id = s.id,
                                        .flags = SPICE_STREAM_FLAGS_TOP_DOWN,
                                        .codec_type = SPICE_VIDEO_CODEC_TYPE_MJPEG,
                                        .stamp = 0,
                                        .stream_width = s.src_width,
                                        .stream_height = s.src_height,
                                        .src_width = s.src_width,
                                        .src_height = s.src_height,
                                        .dest = s.dest,
                                        .clip = s.clip,
                                        .clipped = s.clipped});
        _video_wake.set();
    } else if (s.clipped != frame_clipped || s.clip != frame_clip) {
        s.clip = std::move(frame_clip);
        s.clipped = frame_clipped;
        send(msg::display_stream_clip{.id = s.id, .clip = s.clip, .clipped = s.clipped});
    }
    send(msg::display_stream_data{.id = s.id, .multi_media_time = video_mm_time(), .data = _frame});
    _video.count_frame();
    // The client holds lossy pixels there until the stream's upgrade.
    mark_lossy(d.surface_id, d.bbox);
    return true;
}

void display_channel_client::mark_lossy(uint32_t surface_id, const draw::rect &area) {
    auto it = _lossy.find(surface_id);
    if (it == _lossy.end()) {
        region_ptr r(new pixman_region32_t);
        pixman_region32_init(r.get());
        it = _lossy.emplace(surface_id, std::move(r)).first;
    }
    pixman_region32_union_rect(it->second.get(), it->second.get(), area.left, area.top,
                               static_cast<unsigned>(area.width()),
                               static_cast<unsigned>(area.height()));
}

void display_channel_client::end_streams_under(const draw::drawable &d) {
    if (_video.empty()) return;
    // An opaque drawing over a stream clips it, as the reference shrinks
    // the stream's visible region: the client stops drawing frames there
    // (all of them when nothing shows). The stream lives on: its next frame
    // is on top again, and the timeout ends it.
    if (draw::replaces_bbox(d)) {
        for (auto &s : _video.live()) {
            if (s.surface_id != d.surface_id || s.dest.intersect(d.bbox).empty()) continue;
            s.clip = clip_after_cover(s, d.bbox);
            s.clipped = true;
            send(msg::display_stream_clip{.id = s.id, .clip = s.clip, .clipped = true});
        }
        return;
    }
    auto ended = _video.take_overlapping(d.surface_id, d.bbox);
    for (const auto &s : ended) {
        // Anything else (clipped, blended, reading what it draws over)
        // may read the stream's lossy pixels: the stream ends and its area
        // is made exact first, as the reference detaches it.
        RS_LOG_DEBUG("display", "client {}: stream {} ends under draw type {} ({},{})-({},{})",
                     link().connection_id, s.id, draw_message_type(d.op), d.bbox.left, d.bbox.top,
                     d.bbox.right, d.bbox.bottom);
        end_stream(s, true);
    }
}

void display_channel_client::end_stream(const video_streams::stream &s, bool upgrade) {
    RS_LOG_DEBUG("display", "client {}: stream {} ends after {} frames{}", link().connection_id,
                 s.id, s.frames, upgrade ? "; its area is resent losslessly" : "");
    send(msg::display_stream_destroy{.id = s.id});
    // The canvas holds the picture before the drawing being sent (if any):
    // the stream's last frame, exactly.
    if (upgrade && std::find(_surfaces.begin(), _surfaces.end(), s.surface_id) != _surfaces.end())
        send_area(s.surface_id, s.dest, image_sender::lossy_use::never);
}

void display_channel_client::drop_all_streams() {
    if (_video.empty()) return;
    send(msg::display_stream_destroy_all{});
    _video.clear();
}

void display_channel_client::region_deleter::operator()(pixman_region32_t *r) const noexcept {
    pixman_region32_fini(r);
    delete r;
}

void display_channel_client::resend_lossless_under(const draw::drawable &d) {
    if (_lossy.empty()) return;
    // Pixels the drawing reads must be exact on the client: resend the lossy
    // parts of what it reads, losslessly, from the canvas (which holds the
    // picture before this drawing) first, as the reference does.
    std::vector<std::pair<uint32_t, draw::rect>> resend;
    draw::for_each_read(d, [&](uint32_t sid, const draw::rect &area) {
        const auto it = _lossy.find(sid);
        if (it == _lossy.end() || area.empty()) return;
        pixman_region32_t part;
        pixman_region32_init_rect(&part, area.left, area.top, static_cast<unsigned>(area.width()),
                                  static_cast<unsigned>(area.height()));
        pixman_region32_intersect(&part, &part, it->second.get());
        if (pixman_region32_not_empty(&part)) {
            const pixman_box32_t *e = pixman_region32_extents(&part);
            resend.emplace_back(sid, draw::rect{e->x1, e->y1, e->x2, e->y2});
        }
        pixman_region32_fini(&part);
    });
    for (const auto &[sid, box] : resend)
        send_area(sid, box, image_sender::lossy_use::never);
}

void display_channel_client::forget_client_caches() {
    const auto waits = _images.forget_client_state();
    // INVAL_ALL_PALETTES carries no waits of its own: one WAIT covers both.
    if (!waits.empty()) send(msg::wait_for_channels{.waits = waits});
    send(msg::display_inval_all_pixmaps{});
    send(msg::display_inval_all_palettes{});
    _images.reset_sent(queued_serial());
}

void display_channel_client::on_reset_image_cache() {
    const auto waits = _images.reset_pixmap_cache();
    send(msg::display_inval_all_pixmaps{.waits = waits});
    _images.reset_sent(queued_serial());
}

void display_channel_client::on_monitors_config(std::span<const monitor_head> heads,
                                                uint16_t max_allowed) {
    if (!link().channel_caps.has(SPICE_DISPLAY_CAP_MONITORS_CONFIG)) return;
    send(msg::display_monitors_config{.heads = heads, .max_allowed = max_allowed});
}

task<result<void>> display_channel_client::handle_message(uint16_t type,
                                                          std::span<const uint8_t> body) {
    auto m = parse_display_client_message(type, body, extra_bytes::ignore);
    if (auto *e = std::get_if<parse_error>(&m)) {
        RS_LOG_RATELIMITED("display", "bad display message type {}: {}", type, e->reason);
        co_return errc::protocol;
    }
    if (auto *init = std::get_if<msgc::display_init>(&m)) {
        RS_LOG_DEBUG("display", "client cache: pixmaps {} ({} px), glz dictionary {} window {}",
                     init->pixmap_cache_id, init->pixmap_cache_size, init->glz_dictionary_id,
                     init->glz_dictionary_window_size);
        _images.on_init(*init, _dev.group().caches_for(link().connection_id), _serials);
        if (_awaiting_first_picture) send_full_state();
    } else if (auto *pc = std::get_if<msgc::display_preferred_compression>(&m)) {
        _images.on_preferred_compression(pc->image_compression);
    }
    // Stream reports and video codec preferences are accepted; streams use
    // a fixed MJPEG quality (no rate control yet).
    co_return result<void>{};
}

// ---- cursor ---------------------------------------------------------------------------

cursor_channel_client::cursor_channel_client(qxl_device &dev, std::unique_ptr<stream> s,
                                             channel_link link)
    : channel_client(std::move(s), std::move(link), /*handle_acks=*/true, channel_limits{})
    , _dev(dev) {}

void cursor_channel_client::on_start() {
    const auto &c = _dev.cursor();
    send(msg::cursor_init{.position = c.position,
                          .trail_length = c.trail_length,
                          .trail_frequency = c.trail_frequency,
                          .visible = c.visible && c.shape != nullptr,
                          .cursor = wire_cursor{.shape = c.shape.get(),
                                                .cache_flags = cache_flags_for(c.shape.get())}});
}

void cursor_channel_client::on_cursor(const draw::cursor_cmd &cmd) {
    switch (cmd.type) {
    case QXL_CURSOR_SET:
        send(msg::cursor_set{.position = cmd.position,
                             .visible = cmd.visible,
                             .cursor =
                                 wire_cursor{.shape = cmd.shape.get(),
                                             .cache_flags = cache_flags_for(cmd.shape.get())}});
        break;
    case QXL_CURSOR_MOVE:
        send(msg::cursor_move{.position = cmd.position});
        break;
    case QXL_CURSOR_HIDE:
        send(msg::cursor_hide{});
        break;
    case QXL_CURSOR_TRAIL:
        send(msg::cursor_trail{.length = cmd.trail_length, .frequency = cmd.trail_frequency});
        break;
    default:
        break;
    }
}

void cursor_channel_client::on_reset() {
    // The client empties its cursor cache on RESET.
    _cache.clear();
    send(msg::cursor_reset{});
}

uint16_t cursor_channel_client::cache_flags_for(const draw::cursor_shape *shape) {
    if (shape == nullptr) return 0;
    const auto d = _cache.use(shape->unique);
    if (d.evicted) send(msg::cursor_inval_one{.id = *d.evicted});
    return d.flags;
}

task<result<void>> cursor_channel_client::handle_message(uint16_t type, std::span<const uint8_t>) {
    RS_LOG_RATELIMITED("cursor", "the cursor channel has no client message type {}; closing", type);
    co_return errc::protocol;
}

} // namespace rs

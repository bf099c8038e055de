#include "display/qxl_channels.hpp"

#include <spice/enums.h>

namespace rs {

namespace {

/// What crosses from the control shard to the display shard: the linked
/// stream and its link. Boxed so that no coroutine frame or capture holds
/// the stream itself; the display shard takes it out of the box.
struct handoff_box {
    std::unique_ptr<stream> s;
    channel_link link;
    image_settings images; ///< the server's settings when the client linked
};

task<void> serve_on_home(std::shared_ptr<qxl_device> dev, std::shared_ptr<handoff_box> box,
                         bool cursor) {
    std::unique_ptr<stream> s = std::move(box->s);
    channel_link link = std::move(box->link);
    if (cursor)
        co_await dev->serve_cursor(std::move(s), std::move(link));
    else
        co_await dev->serve_display(std::move(s), std::move(link), box->images);
}

/// Runs on the control shard until the client leaves: registers the stop
/// hook, then waits while the display shard serves the stream.
task<void> hand_off(std::weak_ptr<qxl_device> weak, std::shared_ptr<handoff_box> box, session *sess,
                    bool cursor) {
    auto dev = weak.lock();
    if (!dev) co_return;
    const uint32_t cid = box->link.connection_id;
    sess->stop_hooks.push_back([weak, cid] {
        if (auto d = weak.lock()) d->post([cid](qxl_device &x) { x.stop_clients_of(cid); });
    });
    // `sess` is not touched past this point: the session may end meanwhile.
    // The callable is named before the co_await: see submit_to's note.
    auto serve = [dev, box, cursor] { return serve_on_home(dev, box, cursor); };
    co_await submit_to(dev->home(), std::move(serve));
}

caps display_caps() {
    caps c;
    c.set(SPICE_DISPLAY_CAP_SIZED_STREAM);
    c.set(SPICE_DISPLAY_CAP_MONITORS_CONFIG);
    c.set(SPICE_DISPLAY_CAP_COMPOSITE);
    c.set(SPICE_DISPLAY_CAP_A8_SURFACE);
    c.set(SPICE_DISPLAY_CAP_LZ4_COMPRESSION);
    c.set(SPICE_DISPLAY_CAP_PREF_COMPRESSION);
    return c;
}

/// The server's image settings, read on the control shard where they live.
image_settings settings_of(const server &srv) {
    const auto &cfg = srv.config();
    return image_settings{.compression = cfg.image_compression(),
                          .jpeg = cfg.jpeg_compression(),
                          .zlib_glz = cfg.zlib_glz_compression(),
                          .streaming_video = cfg.streaming_video()};
}

} // namespace

void register_qxl_channels(server &srv, const std::shared_ptr<qxl_device> &dev) {
    std::weak_ptr<qxl_device> weak = dev;
    const auto id = static_cast<uint8_t>(dev->id());
    srv.register_channel(channel_service{
        .type = SPICE_CHANNEL_DISPLAY,
        .id = id,
        .channel_caps = display_caps(),
        .serve = [weak, &srv](std::unique_ptr<stream> s, channel_link l, session &sess) {
            return hand_off(weak,
                            std::make_shared<handoff_box>(
                                handoff_box{std::move(s), std::move(l), settings_of(srv)}),
                            &sess, false);
        }});
    srv.register_channel(
        channel_service{.type = SPICE_CHANNEL_CURSOR,
                        .id = id,
                        .channel_caps = {},
                        .serve = [weak](std::unique_ptr<stream> s, channel_link l, session &sess) {
                            return hand_off(weak,
                                            std::make_shared<handoff_box>(handoff_box{
                                                std::move(s), std::move(l), image_settings{}}),
                                            &sess, true);
                        }});
}

void unregister_qxl_channels(server &srv, int qxl_id) {
    srv.unregister_channel(SPICE_CHANNEL_DISPLAY, static_cast<uint8_t>(qxl_id));
    srv.unregister_channel(SPICE_CHANNEL_CURSOR, static_cast<uint8_t>(qxl_id));
}

} // namespace rs

// Video stream detection, frame encoding and the stream messages: a region
// redrawn at video rate as same-size COPYs of fresh bitmaps becomes a stream
// after the reference's threshold, its frames decode (with libjpeg, as
// spice-gtk decodes them) to the source, and the modes, caps, overlaps and
// timeouts decide as the reference does. Time is passed in, never waited for.
#include "display/video_stream.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "display/display_messages.hpp"
#include "display/jpeg_test_support.hpp"
#include "reds/wire.hpp"

namespace {

using namespace std::chrono_literals;
using rs::video_streams;
using namespace rs::jpeg_test;

constexpr uint32_t primary = 0;

/// A COPY of `src_area` of `img` to `dest`, as the QXL parser would give it.
rs::draw::drawable frame(const test_image &img, rs::draw::rect dest, rs::draw::rect src_area) {
    auto image = std::make_shared<rs::draw::image>();
    image->type = SPICE_IMAGE_TYPE_BITMAP;
    image->width = img.view.width;
    image->height = img.view.height;
    rs::draw::bitmap b;
    b.format = img.view.format;
    b.flags = img.view.top_down ? SPICE_BITMAP_FLAGS_TOP_DOWN : 0;
    b.width = img.view.width;
    b.height = img.view.height;
    b.stride = static_cast<uint32_t>(img.view.stride);
    b.data.parts.emplace_back(img.bytes.data(), img.bytes.size());
    image->payload = std::move(b);
    rs::draw::drawable d;
    d.surface_id = primary;
    d.bbox = dest;
    rs::draw::copy op;
    op.src = image;
    op.src_area = src_area;
    d.op = std::move(op);
    return d;
}

/// Sharp black-on-white strokes: what the classifier calls text or UI.
rgb_plane text_like(uint32_t w, uint32_t h) {
    rgb_plane p(size_t{w} * h * 3, 0xff);
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x)
            if ((x % 7 < 2) || (y % 11 == 3))
                for (int c = 0; c < 3; ++c)
                    p[(size_t{y} * w + x) * 3 + static_cast<size_t>(c)] = 0;
    return p;
}

/// Feeds `n` frames `gap` apart from `t0`; returns the index of the frame
/// that started a stream (-1: none) and leaves the time after the last in t0.
int feed(video_streams &v, const rs::draw::drawable &d, int n, video_streams::clock::duration gap,
         video_streams::clock::time_point &t) {
    int started_at = -1;
    for (int i = 0; i < n; ++i) {
        bool started = false;
        auto *s = v.on_drawable(d, primary, t, started);
        if (started) {
            EXPECT_NE(s, nullptr);
            if (started_at < 0) started_at = i;
        }
        t += gap;
    }
    return started_at;
}

TEST(VideoStream, SameSizeCopiesAtVideoRateStartAStreamAfterTheThreshold) {
    const auto img = make_bitmap(photo(200, 150), 200, 150, SPICE_BITMAP_FMT_32BIT, false);
    const rs::draw::rect dest{100, 50, 260, 170};
    const auto d = frame(img, dest, {10, 20, 170, 140});
    video_streams v(SPICE_STREAM_VIDEO_ALL, true);
    auto t = video_streams::clock::time_point{} + 1h;
    // The first 19 frames are traced; the 20th starts the stream.
    EXPECT_EQ(feed(v, d, video_streams::frames_start_condition - 1, 40ms, t), -1);
    EXPECT_TRUE(v.empty());
    bool started = false;
    auto *s = v.on_drawable(d, primary, t, started);
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(started);
    EXPECT_EQ(s->dest, dest);
    EXPECT_EQ(s->src_width, 160u);
    EXPECT_EQ(s->src_height, 120u);
    EXPECT_EQ(v.streams_created(), 1u);
    // Later frames belong to it without starting another.
    t += 40ms;
    auto *again = v.on_drawable(d, primary, t, started);
    ASSERT_NE(again, nullptr);
    EXPECT_FALSE(started);
    EXPECT_EQ(again->id, s->id);
}

TEST(VideoStream, FrameDecodesToTheSourceAreaTopRowFirst) {
    for (bool top_down : {true, false}) {
        const auto rgb = photo(200, 150);
        const auto img = make_bitmap(rgb, 200, 150, SPICE_BITMAP_FMT_32BIT, top_down, 8);
        const auto d = frame(img, {0, 0, 160, 120}, {10, 20, 170, 140});
        std::vector<uint8_t> jpeg;
        const auto n =
            rs::encode_video_frame(std::get<rs::draw::copy>(d.op), video_streams::quality, jpeg);
        ASSERT_TRUE(n.has_value()) << top_down;
        auto dec = decode(jpeg);
        ASSERT_TRUE(dec.has_value());
        ASSERT_EQ(dec->width, 160u);
        ASSERT_EQ(dec->height, 120u);
        rgb_plane crop;
        for (uint32_t y = 20; y < 140; ++y)
            crop.insert(crop.end(), rgb.begin() + (size_t{y} * 200 + 10) * 3,
                        rgb.begin() + (size_t{y} * 200 + 170) * 3);
        EXPECT_GT(psnr(dec->rgb, crop), 30.0) << "top_down " << top_down;
    }
}

TEST(VideoStream, FilterStreamsPhotosButNotTextWhichAllStreams) {
    const auto text = make_bitmap(text_like(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, true);
    const auto td = frame(text, {0, 0, 128, 128}, {0, 0, 128, 128});
    const auto pic = make_bitmap(photo(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, true);
    const auto pd = frame(pic, {0, 0, 128, 128}, {0, 0, 128, 128});
    auto t = video_streams::clock::time_point{} + 1h;
    video_streams filter(SPICE_STREAM_VIDEO_FILTER, true);
    EXPECT_EQ(feed(filter, td, 60, 40ms, t), -1) << "text streamed under FILTER";
    video_streams filter2(SPICE_STREAM_VIDEO_FILTER, true);
    EXPECT_EQ(feed(filter2, pd, 30, 40ms, t), video_streams::frames_start_condition - 1);
    video_streams all(SPICE_STREAM_VIDEO_ALL, true);
    EXPECT_EQ(feed(all, td, 30, 40ms, t), video_streams::frames_start_condition - 1);
}

/// `d` with its bitmap split into guest chunks of `chunk` bytes (rows
/// straddle them unless chunk is a multiple of the stride).
rs::draw::drawable chunked(const rs::draw::drawable &d, size_t chunk) {
    auto out = d;
    auto &op = std::get<rs::draw::copy>(out.op);
    auto image = std::make_shared<rs::draw::image>(*op.src);
    auto &b = std::get<rs::draw::bitmap>(image->payload);
    const auto all = b.data.parts.front();
    b.data.parts.clear();
    for (size_t off = 0; off < all.size(); off += chunk)
        b.data.parts.push_back(all.subspan(off, std::min(chunk, all.size() - off)));
    op.src = image;
    return out;
}

TEST(VideoStream, FilterClassifiesChunkedBitmapsInPlaceAsWhole) {
    // 1000-byte chunks: most 512-byte rows of a 128-pixel RGB32 image lie in
    // one chunk, some straddle two; the class must be the same as for the
    // contiguous bitmap, both for a part of it and for a bottom-up one.
    const auto text = make_bitmap(text_like(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, true);
    const auto pic = make_bitmap(photo(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, false);
    for (const rs::draw::rect src :
         {rs::draw::rect{0, 0, 128, 128}, rs::draw::rect{5, 9, 125, 121}}) {
        const rs::draw::rect dest{0, 0, src.width(), src.height()};
        auto t = video_streams::clock::time_point{} + 1h;
        video_streams a(SPICE_STREAM_VIDEO_FILTER, true);
        EXPECT_EQ(feed(a, chunked(frame(text, dest, src), 1000), 60, 40ms, t), -1)
            << "chunked text streamed under FILTER";
        video_streams b(SPICE_STREAM_VIDEO_FILTER, true);
        EXPECT_EQ(feed(b, chunked(frame(pic, dest, src), 1000), 30, 40ms, t),
                  video_streams::frames_start_condition - 1);
    }
}

TEST(VideoStream, FilterNeedsAMinimumArea) {
    const auto pic = make_bitmap(photo(64, 64), 64, 64, SPICE_BITMAP_FMT_32BIT, true);
    const auto d = frame(pic, {0, 0, 64, 64}, {0, 0, 64, 64});
    auto t = video_streams::clock::time_point{} + 1h;
    video_streams filter(SPICE_STREAM_VIDEO_FILTER, true);
    EXPECT_EQ(feed(filter, d, 40, 40ms, t), -1);
    video_streams all(SPICE_STREAM_VIDEO_ALL, true);
    EXPECT_GE(feed(all, d, 40, 40ms, t), 0);
}

TEST(VideoStream, OffAndClientsWithoutMjpegNeverStream) {
    const auto pic = make_bitmap(photo(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, true);
    const auto d = frame(pic, {0, 0, 128, 128}, {0, 0, 128, 128});
    auto t = video_streams::clock::time_point{} + 1h;
    video_streams off(SPICE_STREAM_VIDEO_OFF, true);
    EXPECT_FALSE(off.enabled());
    EXPECT_EQ(feed(off, d, 60, 40ms, t), -1);
    video_streams no_codec(SPICE_STREAM_VIDEO_ALL, false);
    EXPECT_FALSE(no_codec.enabled());
    EXPECT_EQ(feed(no_codec, d, 60, 40ms, t), -1);
}

TEST(VideoStream, FramesTooFarApartOrOfOtherDrawingsDoNotCount) {
    const auto pic = make_bitmap(photo(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, true);
    const auto d = frame(pic, {0, 0, 128, 128}, {0, 0, 128, 128});
    auto t = video_streams::clock::time_point{} + 1h;
    video_streams slow(SPICE_STREAM_VIDEO_ALL, true);
    EXPECT_EQ(feed(slow, d, 60, 250ms, t), -1);
    // Not candidates: a ROP other than PUT, a blend, a mask, another surface.
    video_streams v(SPICE_STREAM_VIDEO_ALL, true);
    auto rop = d;
    std::get<rs::draw::copy>(rop.op).rop_descriptor = SPICE_ROPD_OP_XOR;
    EXPECT_FALSE(video_streams::candidate(rop, primary));
    EXPECT_FALSE(video_streams::candidate(d, primary + 1));
    auto masked = d;
    std::get<rs::draw::copy>(masked.op).mask.bitmap = std::get<rs::draw::copy>(d.op).src;
    EXPECT_FALSE(video_streams::candidate(masked, primary));
    auto translucent = d;
    translucent.effect = QXL_EFFECT_BLEND;
    EXPECT_FALSE(video_streams::candidate(translucent, primary));
    EXPECT_TRUE(video_streams::candidate(d, primary));
    EXPECT_EQ(feed(v, rop, 40, 40ms, t), -1);
}

TEST(VideoStream, OtherDrawingsOverTheStreamEndIt) {
    const auto pic = make_bitmap(photo(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, true);
    const auto d = frame(pic, {100, 100, 228, 228}, {0, 0, 128, 128});
    auto t = video_streams::clock::time_point{} + 1h;
    video_streams v(SPICE_STREAM_VIDEO_ALL, true);
    ASSERT_GE(feed(v, d, 25, 40ms, t), 0);
    EXPECT_TRUE(v.take_overlapping(primary, {0, 0, 100, 100}).empty()) << "edges do not overlap";
    EXPECT_TRUE(v.take_overlapping(primary + 1, {0, 0, 300, 300}).empty());
    const auto ended = v.take_overlapping(primary, {220, 220, 240, 240});
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].dest, d.bbox);
    EXPECT_TRUE(v.empty());
}

TEST(VideoStream, AnOpaqueDrawingOverPartOfAStreamClipsIt) {
    video_streams::stream s;
    s.dest = {100, 100, 200, 200};
    // A window over the right half: the left half still shows.
    auto clip = rs::clip_after_cover(s, {150, 50, 300, 300});
    ASSERT_EQ(clip.size(), 1u);
    EXPECT_EQ(clip[0], (rs::draw::rect{100, 100, 150, 200}));
    // Then one over the top-left corner: an L of two rects remains.
    s.clip = clip;
    s.clipped = true;
    clip = rs::clip_after_cover(s, {0, 0, 120, 120});
    int64_t area = 0;
    for (const auto &r : clip) {
        EXPECT_TRUE(s.dest.contains(r));
        EXPECT_TRUE(r.intersect({0, 0, 120, 120}).empty());
        EXPECT_TRUE(r.intersect({150, 50, 300, 300}).empty());
        area += int64_t{r.width()} * r.height();
    }
    EXPECT_EQ(area, 50 * 100 - 20 * 20);
    // A drawing over all that is left hides the stream.
    s.clip = clip;
    EXPECT_TRUE(rs::clip_after_cover(s, {100, 100, 150, 200}).empty());
}

TEST(VideoStream, ClippedCopiesAreFramesToo) {
    const auto pic = make_bitmap(photo(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, true);
    auto d = frame(pic, {0, 0, 128, 128}, {0, 0, 128, 128});
    d.clp.type = SPICE_CLIP_TYPE_RECTS;
    d.clp.rects.push_back({0, 0, 64, 128});
    EXPECT_TRUE(video_streams::candidate(d, primary));
    auto t = video_streams::clock::time_point{} + 1h;
    video_streams v(SPICE_STREAM_VIDEO_ALL, true);
    EXPECT_EQ(feed(v, d, 25, 40ms, t), video_streams::frames_start_condition - 1);
}

TEST(VideoStream, AStreamWithoutFramesTimesOut) {
    const auto pic = make_bitmap(photo(128, 128), 128, 128, SPICE_BITMAP_FMT_32BIT, true);
    const auto d = frame(pic, {0, 0, 128, 128}, {0, 0, 128, 128});
    auto t = video_streams::clock::time_point{} + 1h;
    video_streams v(SPICE_STREAM_VIDEO_ALL, true);
    EXPECT_FALSE(v.next_deadline().has_value());
    ASSERT_GE(feed(v, d, 25, 40ms, t), 0);
    const auto last = t - 40ms;
    ASSERT_TRUE(v.next_deadline().has_value());
    EXPECT_EQ(*v.next_deadline(), last + video_streams::timeout);
    EXPECT_TRUE(v.take_expired(last + video_streams::timeout - 1ms).empty());
    EXPECT_EQ(v.take_expired(last + video_streams::timeout).size(), 1u);
    EXPECT_TRUE(v.empty());
    EXPECT_FALSE(v.next_deadline().has_value());
}

TEST(VideoStreamMessages, StreamCreateAndDataAreLaidOutAsSpiceProto) {
    std::vector<uint8_t> out;
    rs::wire::writer w(out);
    const rs::draw::rect clip[] = {{1, 2, 3, 4}};
    rs::msg::display_stream_create{.surface_id = 7,
                                   .id = 3,
                                   .flags = SPICE_STREAM_FLAGS_TOP_DOWN,
                                   .codec_type = SPICE_VIDEO_CODEC_TYPE_MJPEG,
                                   .stamp = 0x0102030405060708ull,
                                   .stream_width = 320,
                                   .stream_height = 240,
                                   .src_width = 320,
                                   .src_height = 240,
                                   .dest = {10, 20, 330, 260},
                                   .clip = clip}
        .encode(w);
    rs::wire::reader r(out);
    EXPECT_EQ(r.u32(), 7u);
    EXPECT_EQ(r.u32(), 3u);
    EXPECT_EQ(r.u8(), SPICE_STREAM_FLAGS_TOP_DOWN);
    EXPECT_EQ(r.u8(), SPICE_VIDEO_CODEC_TYPE_MJPEG);
    EXPECT_EQ(r.u32(), 0x05060708u);
    EXPECT_EQ(r.u32(), 0x01020304u);
    for (uint32_t want : {320u, 240u, 320u, 240u})
        EXPECT_EQ(r.u32(), want);
    for (int32_t want : {20, 10, 260, 330}) // top, left, bottom, right
        EXPECT_EQ(r.i32(), want);
    EXPECT_EQ(r.u8(), SPICE_CLIP_TYPE_RECTS);
    EXPECT_EQ(r.u32(), 1u);
    for (int32_t want : {2, 1, 4, 3})
        EXPECT_EQ(r.i32(), want);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);

    out.clear();
    const uint8_t data[] = {0xff, 0xd8, 0xff, 0xd9};
    rs::msg::display_stream_data{.id = 3, .multi_media_time = 1234, .data = data}.encode(w);
    rs::wire::reader rd(out);
    EXPECT_EQ(rd.u32(), 3u);
    EXPECT_EQ(rd.u32(), 1234u);
    EXPECT_EQ(rd.u32(), 4u);
    const auto body = rd.rest();
    EXPECT_EQ(std::vector<uint8_t>(body.begin(), body.end()),
              std::vector<uint8_t>(std::begin(data), std::end(data)));
}

TEST(VideoStreamMessages, SizedDataClipAndDestroyAreLaidOutAsSpiceProto) {
    std::vector<uint8_t> out;
    rs::wire::writer w(out);
    const uint8_t data[] = {1, 2, 3};
    rs::msg::display_stream_data_sized{.id = 5,
                                       .multi_media_time = 77,
                                       .width = 64,
                                       .height = 48,
                                       .dest = {1, 2, 65, 50},
                                       .data = data}
        .encode(w);
    rs::wire::reader r(out);
    for (uint32_t want : {5u, 77u, 64u, 48u})
        EXPECT_EQ(r.u32(), want);
    for (int32_t want : {2, 1, 50, 65})
        EXPECT_EQ(r.i32(), want);
    EXPECT_EQ(r.u32(), 3u);
    EXPECT_EQ(r.remaining(), 3u);

    out.clear();
    rs::msg::display_stream_clip{.id = 9, .clip = {}}.encode(w);
    EXPECT_EQ(out, (std::vector<uint8_t>{9, 0, 0, 0, SPICE_CLIP_TYPE_NONE}));
    // Hidden: RECTS with none.
    out.clear();
    rs::msg::display_stream_clip{.id = 9, .clip = {}, .clipped = true}.encode(w);
    EXPECT_EQ(out, (std::vector<uint8_t>{9, 0, 0, 0, SPICE_CLIP_TYPE_RECTS, 0, 0, 0, 0}));
    out.clear();
    rs::msg::display_stream_destroy{.id = 0x01020304}.encode(w);
    EXPECT_EQ(out, (std::vector<uint8_t>{4, 3, 2, 1}));
}

// The encode cost of one frame at the stream quality: reported, not asserted
// (the frame must still decode to its size).
TEST(VideoStreamCost, EncodeTimePerFrameIsReported) {
    struct size_case {
        uint32_t w, h;
        int reps;
    };
    for (const auto c : {size_case{320, 240, 50}, size_case{1920, 1080, 5}}) {
        const auto img = make_bitmap(photo(c.w, c.h), c.w, c.h, SPICE_BITMAP_FMT_32BIT, true);
        const auto d = frame(img, {0, 0, static_cast<int32_t>(c.w), static_cast<int32_t>(c.h)},
                             {0, 0, static_cast<int32_t>(c.w), static_cast<int32_t>(c.h)});
        std::vector<uint8_t> jpeg;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < c.reps; ++i) {
            jpeg.clear();
            ASSERT_TRUE(rs::encode_video_frame(std::get<rs::draw::copy>(d.op),
                                               video_streams::quality, jpeg));
        }
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count() /
                        c.reps;
        auto dec = decode(jpeg);
        ASSERT_TRUE(dec.has_value());
        EXPECT_EQ(dec->width, c.w);
        std::printf("[ cost     ] %ux%u frame: %lld us, %zu bytes\n", c.w, c.h,
                    static_cast<long long>(us), jpeg.size());
    }
}

} // namespace

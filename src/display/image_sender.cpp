#include "display/image_sender.hpp"

#include <spice/enums.h>

#include <algorithm>
#include <ctime>
#include <limits>

#include "display/bitmap_rows.hpp"
#include "display/codec/glz_encoder.hpp"
#include "display/codec/image_class.hpp"
#include "display/codec/image_view.hpp"
#include "display/codec/jpeg_encoder.hpp"
#include "display/codec/lz4_image.hpp"
#include "display/codec/lz_encoder.hpp"
#include "display/codec/quic_encoder.hpp"
#include "runtime/byte_pool.hpp"
#include "runtime/log.hpp"

namespace rs {

namespace {

/// A codec's output buffer: one recycled on this shard for a large image
/// (its payload is at most `bytes`, or it goes raw), else an empty vector
/// that grows to exactly what the codec writes.
std::vector<uint8_t> pooled(size_t bytes) {
    return bytes >= byte_pool::min_pooled ? byte_pool::take(bytes) : std::vector<uint8_t>{};
}

/// Below this many bytes (stride × height) an image goes raw (MIN_SIZE_TO_COMPRESS).
constexpr uint64_t min_size_to_compress = 54;
/// QUIC needs at least this many rows and columns (MIN_DIMENSION_TO_QUIC).
constexpr uint32_t min_dimension_to_quic = 3;
/// GLZ output smaller than this is not worth a zlib pass (MIN_GLZ_SIZE_FOR_ZLIB).
constexpr size_t min_glz_size_for_zlib = 100;
/// zlib level for ZLIB_GLZ, the reference's ZLIB_DEFAULT_COMPRESSION_LEVEL.
constexpr int zlib_glz_level = 3;

bool is_palette(uint8_t fmt) noexcept {
    switch (fmt) {
    case SPICE_BITMAP_FMT_1BIT_LE:
    case SPICE_BITMAP_FMT_1BIT_BE:
    case SPICE_BITMAP_FMT_4BIT_LE:
    case SPICE_BITMAP_FMT_4BIT_BE:
    case SPICE_BITMAP_FMT_8BIT:
        return true;
    default:
        return false;
    }
}

/// Rows padded beyond their pixels (bitmap_has_extra_stride): LZ and GLZ
/// carry packed rows only, as in the reference.
bool has_extra_stride(const draw::bitmap &b) noexcept {
    const uint64_t row = (uint64_t{b.width} * draw::bitmap_bits_per_pixel(b.format) + 7) / 8;
    return b.stride > row;
}

bool can_quic(const draw::bitmap &b) noexcept {
    return !is_palette(b.format) && b.width >= min_dimension_to_quic &&
           b.height >= min_dimension_to_quic;
}

bool can_lz(const draw::bitmap &b) noexcept { return !has_extra_stride(b); }

/// This thread's CPU time (a syscall of about 0.3 µs: twice per image).
uint64_t thread_cpu_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

bool valid_compression(uint8_t c) noexcept {
    return c >= SPICE_IMAGE_COMPRESSION_OFF && c <= SPICE_IMAGE_COMPRESSION_LZ4 &&
           c != SPICE_IMAGE_COMPRESSION_INVALID;
}

/// Whether a lossy source is acceptable for this drawing: a plain copy of
/// the source onto the surface (what the reference allows JPEG for).
bool op_can_lossy(const draw::operation &op) noexcept {
    if (const auto *c = std::get_if<draw::copy>(&op))
        return c->rop_descriptor == SPICE_ROPD_OP_PUT && !c->mask.bitmap;
    return false;
}

} // namespace

const char *image_type_name(uint8_t type) noexcept {
    switch (type) {
    case SPICE_IMAGE_TYPE_BITMAP:
        return "BITMAP";
    case SPICE_IMAGE_TYPE_QUIC:
        return "QUIC";
    case SPICE_IMAGE_TYPE_LZ_PLT:
        return "LZ_PLT";
    case SPICE_IMAGE_TYPE_LZ_RGB:
        return "LZ_RGB";
    case SPICE_IMAGE_TYPE_GLZ_RGB:
        return "GLZ_RGB";
    case SPICE_IMAGE_TYPE_FROM_CACHE:
        return "FROM_CACHE";
    case SPICE_IMAGE_TYPE_SURFACE:
        return "SURFACE";
    case SPICE_IMAGE_TYPE_JPEG:
        return "JPEG";
    case SPICE_IMAGE_TYPE_FROM_CACHE_LOSSLESS:
        return "FROM_CACHE_LOSSLESS";
    case SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB:
        return "ZLIB_GLZ_RGB";
    case SPICE_IMAGE_TYPE_JPEG_ALPHA:
        return "JPEG_ALPHA";
    case SPICE_IMAGE_TYPE_LZ4:
        return "LZ4";
    default:
        return "?";
    }
}

image_sender::image_sender(image_settings settings, bool client_lz4, uint8_t channel_id)
    : _settings(settings)
    , _client_lz4(client_lz4)
    , _id(channel_id) {}

image_sender::~image_sender() {
    if (_caches && _self != nullptr) _caches->leave(_id, *_self);
}

void image_sender::on_init(const msgc::display_init &init, std::shared_ptr<client_caches> caches,
                           client_caches::member &self) {
    // A second INIT on the channel keeps what it joined: the client's
    // caches and window hold what was sent under the first.
    if (_caches || !caches) return;
    if (!caches->join(_id, self, init)) {
        RS_LOG_RATELIMITED("display",
                           "display {}: INIT names other cache ids than the client's other "
                           "display channels; sending its images uncached",
                           _id);
        return;
    }
    _caches = std::move(caches);
    _self = &self;
    _seen_resets = _caches->resets();
}

void image_sender::on_preferred_compression(uint8_t c) {
    if (!valid_compression(c)) {
        RS_LOG_RATELIMITED("display", "client prefers an unknown image compression {}; ignored", c);
        return;
    }
    _preferred = c;
}

std::vector<msg::channel_wait> image_sender::reset_pixmap_cache() {
    if (!_caches) return {};
    _caches->reset_pixmaps();
    return _caches->waits_for_all(_id);
}

std::vector<msg::channel_wait> image_sender::forget_client_state() {
    if (!_caches) return {};
    _caches->reset_after_drop(_id);
    return _caches->waits_for_all(_id);
}

void image_sender::reset_sent(uint64_t serial) {
    if (!_caches) return;
    _caches->note_reset(_id, serial);
    _seen_resets = _caches->resets();
}

void image_sender::commit(uint64_t serial) {
    if (!_caches) return;
    for (uint64_t id : _used_pixmaps)
        _caches->pixmaps.stamp(id, _id, serial);
    for (uint64_t id : _used_palettes)
        _caches->palettes.stamp(id, _id, serial);
    _caches->stamp_glz(_id, serial);
    _used_pixmaps.clear();
    _used_palettes.clear();
}

void image_sender::add_waits(invalidations &inv,
                             const std::vector<image_cache::evicted_entry> &evicted) {
    for (const auto &w : _caches->waits_for(_id, evicted)) {
        auto it = std::find_if(inv.waits.begin(), inv.waits.end(), [&](const msg::channel_wait &x) {
            return x.channel_id == w.channel_id;
        });
        if (it == inv.waits.end())
            inv.waits.push_back(w);
        else
            it->message_serial = std::max(it->message_serial, w.message_serial);
    }
}

SpiceImageCompression image_sender::effective_compression() const noexcept {
    return _preferred ? static_cast<SpiceImageCompression>(*_preferred) : _settings.compression;
}

void image_sender::sample_link() {
    const bool wants = _settings.jpeg == SPICE_WAN_COMPRESSION_AUTO ||
                       _settings.zlib_glz == SPICE_WAN_COMPRESSION_AUTO;
    if (_fd < 0 || !wants) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - _last_sample < std::chrono::milliseconds(100)) return;
    _last_sample = now;
    const auto s = read_link_rate(_fd);
    if (!s || !_bandwidth.add(*s)) return;
    _settings.low_bandwidth = _bandwidth.low();
    RS_LOG_INFO("display", "client link measured at {:.1f} Mbit/s: {} (AUTO JPEG and ZLIB_GLZ {})",
                static_cast<double>(_bandwidth.last_bits_per_sec()) / 1e6,
                _bandwidth.low() ? "low bandwidth" : "fast", _bandwidth.low() ? "on" : "off");
}

image_sender::invalidations image_sender::prepare(const draw::drawable &d, lossy_use lossy) {
    sample_link();
    invalidations inv;
    _plans.clear();
    for (auto &b : _buffers)
        byte_pool::give(std::move(b));
    _buffers.clear();
    _used_pixmaps.clear();
    _used_palettes.clear();
    if (_caches) {
        _caches->pixmaps.begin_message();
        _caches->palettes.begin_message();
        // A reset by another channel must reach the client before anything
        // this message adds.
        _caches->sync_wait(_id, _seen_resets, inv.waits);
    }
    _whole_picture = lossy == lossy_use::whole_picture;
    const bool lossy_ok = lossy == lossy_use::whole_picture ||
                          (lossy == lossy_use::by_operation && op_can_lossy(d.op));
    draw::for_each_image(d.op, [&](const draw::image &img, image_role role) {
        // The same image twice in one drawing: the second copy goes as the
        // first, uncached, so no FROM_CACHE can precede the image it names.
        const bool seen = std::any_of(_plans.begin(), _plans.end(),
                                      [&](const planned &p) { return p.img == &img; });
        if (seen) return;
        _plans.push_back(planned{
            &img, role, plan_image(img, role, lossy_ok && role == image_role::source, inv)});
    });
    return inv;
}

image_encoder image_sender::encoder() const {
    return [this](const draw::image &img, image_role role) {
        for (const auto &p : _plans)
            if (p.img == &img) return p.plan;
        return default_image_plan(img, role);
    };
}

image_plan::palette_mode image_sender::palette_for(const draw::palette *pal, invalidations &inv) {
    if (pal == nullptr || pal->unique == 0 || !_caches) return image_plan::palette_mode::send;
    auto &cache = _caches->palettes;
    if (auto hit = cache.find(pal->unique)) {
        // Another channel's entry that may never reach the client: inline.
        if (!_caches->usable(_id, hit->owner, hit->added_in)) return image_plan::palette_mode::send;
        _used_palettes.push_back(pal->unique);
        return image_plan::palette_mode::from_cache;
    }
    std::vector<image_cache::evicted_entry> evicted;
    if (!cache.add(pal->unique, 1, false, _id, evicted)) return image_plan::palette_mode::send;
    _used_palettes.push_back(pal->unique);
    for (const auto &e : evicted)
        inv.palettes.push_back(e.id);
    add_waits(inv, evicted);
    return image_plan::palette_mode::send_and_cache;
}

image_plan image_sender::plan_image(const draw::image &img, image_role role, bool can_lossy,
                                    invalidations &inv) {
    image_plan p = default_image_plan(img, role);
    if (std::holds_alternative<draw::surface_ref>(img.payload)) {
        ++_sent[SPICE_IMAGE_TYPE_SURFACE];
        return p;
    }
    const bool jpeg_on = _settings.jpeg == SPICE_WAN_COMPRESSION_ALWAYS ||
                         (_settings.jpeg == SPICE_WAN_COMPRESSION_AUTO && _settings.low_bandwidth);
    const bool cacheable =
        _caches && (img.flags & SPICE_IMAGE_FLAGS_CACHE_ME) && uint64_t{img.width} * img.height > 0;
    bool replace = false;
    bool held = false; // the client holds it, added by a channel we may not refer to yet
    if (cacheable) {
        auto &pixmaps = _caches->pixmaps;
        if (auto hit = pixmaps.find(img.id);
            hit && !_caches->usable(_id, hit->owner, hit->added_in)) {
            held = true; // sent whole, uncached
        } else if (hit) {
            _used_pixmaps.push_back(img.id);
            if (can_lossy || !hit->lossy) {
                if (hit->owner != _id) ++_shared_hits;
                p.how = (!jpeg_on || hit->lossy) ? image_plan::method::from_cache
                                                 : image_plan::method::from_cache_lossless;
                if (hit->lossy) inv.lossy = true;
                ++_sent[p.how == image_plan::method::from_cache
                            ? SPICE_IMAGE_TYPE_FROM_CACHE
                            : SPICE_IMAGE_TYPE_FROM_CACHE_LOSSLESS];
                return p;
            }
            // The client holds a lossy copy where exact pixels are needed:
            // this channel's message now makes it lossless.
            pixmaps.set_lossy(img.id, false);
            pixmaps.set_owner(img.id, _id);
            p.descriptor_flags |= SPICE_IMAGE_FLAGS_CACHE_REPLACE_ME;
            replace = true;
        }
    }
    bool lossy = false;
    if (const auto *bmp = std::get_if<draw::bitmap>(&img.payload)) {
        // Masks are never compressed (the reference turns compression off
        // for them); patterns are never lossy.
        const uint64_t t0 = thread_cpu_ns();
        const bool compressed =
            role != image_role::mask && compress(*bmp, can_lossy && jpeg_on, p, lossy);
        _codec_cpu_ns += thread_cpu_ns() - t0;
        if (!compressed) {
            p.how = image_plan::method::raw;
            p.palette = palette_for(bmp->pal.get(), inv);
            ++_sent[SPICE_IMAGE_TYPE_BITMAP];
        } else if (p.encoded_type == SPICE_IMAGE_TYPE_LZ_PLT) {
            p.palette = palette_for(bmp->pal.get(), inv);
        }
    } else {
        ++_sent[SPICE_IMAGE_TYPE_QUIC]; // the guest's own QUIC bytes pass through
    }
    if (lossy) inv.lossy = true;
    if (cacheable && !replace && !held) {
        std::vector<image_cache::evicted_entry> evicted;
        if (_caches->pixmaps.add(img.id, int64_t{img.width} * img.height, lossy, _id, evicted)) {
            p.descriptor_flags |= SPICE_IMAGE_FLAGS_CACHE_ME;
            _used_pixmaps.push_back(img.id);
        }
        for (const auto &e : evicted)
            inv.pixmaps.push_back(resource_id{SPICE_RES_TYPE_PIXMAP, e.id});
        add_waits(inv, evicted);
    }
    return p;
}

bool image_sender::compress(const draw::bitmap &bmp, bool lossy_allowed, image_plan &plan,
                            bool &lossy) {
    const uint64_t bytes = uint64_t{bmp.stride} * bmp.height;
    if (bytes < min_size_to_compress || bmp.width == 0 || bmp.height == 0) return false;
    if (bmp.data.size() < bytes) return false; // the parser guarantees it; be safe
    // The pixels: in place when the guest gave one buffer; a bitmap in
    // several chunks is walked by row pointers (every codec but LZ4, which
    // reads the chunks itself), never copied into one buffer first.
    codec::image_view view{.data = nullptr,
                           .width = bmp.width,
                           .height = bmp.height,
                           .stride = bmp.stride,
                           .format = bmp.format,
                           .top_down = (bmp.flags & SPICE_BITMAP_FLAGS_TOP_DOWN) != 0,
                           .palette = bmp.pal ? std::span<const uint32_t>(bmp.pal->entries)
                                              : std::span<const uint32_t>{},
                           .palette_unique = bmp.pal ? bmp.pal->unique : 0};
    if (bmp.data.contiguous()) {
        view.data = bmp.data.parts.front().data();
    } else {
        const size_t row = (size_t{bmp.width} * draw::bitmap_bits_per_pixel(bmp.format) + 7) / 8;
        if (!chunk_rows(bmp.data, bmp.stride, 0, bmp.height, 0, row, _rows, _row_spill))
            return false;
        view.rows = _rows.data();
    }
    const SpiceImageCompression wanted = effective_compression();

    // Which codec, as the reference's get_compression_for_bitmap decides.
    SpiceImageCompression c = wanted;
    if (c == SPICE_IMAGE_COMPRESSION_OFF) return false;
    if (c == SPICE_IMAGE_COMPRESSION_QUIC && !can_quic(bmp)) return false;
    if (c == SPICE_IMAGE_COMPRESSION_AUTO_GLZ || c == SPICE_IMAGE_COMPRESSION_AUTO_LZ) {
        bool quic = false;
        if (can_quic(bmp)) {
            quic = (image_class::has_graduality(bmp.format) &&
                    image_class::classify(view) == image_class::gradual::high) ||
                   !can_lz(bmp);
        }
        if (quic)
            c = SPICE_IMAGE_COMPRESSION_QUIC;
        else
            c = c == SPICE_IMAGE_COMPRESSION_AUTO_LZ ? SPICE_IMAGE_COMPRESSION_LZ
                                                     : SPICE_IMAGE_COMPRESSION_GLZ;
    }
    // A whole-surface picture goes LZ, as in the reference: GLZ would copy
    // the whole screen into the dictionary of every client that connects
    // (memory) and compresses one fresh picture less well than LZ.
    glz::glz_dictionary *const dict = _caches ? _caches->glz() : nullptr;
    if (c == SPICE_IMAGE_COMPRESSION_GLZ &&
        (!image_class::has_graduality(bmp.format) || dict == nullptr || _whole_picture))
        c = SPICE_IMAGE_COMPRESSION_LZ;
    if (c == SPICE_IMAGE_COMPRESSION_LZ4 &&
        (!image_class::has_graduality(bmp.format) || !_client_lz4))
        c = SPICE_IMAGE_COMPRESSION_LZ;
    if ((c == SPICE_IMAGE_COMPRESSION_LZ || c == SPICE_IMAGE_COMPRESSION_LZ4 ||
         c == SPICE_IMAGE_COMPRESSION_GLZ) &&
        !can_lz(bmp))
        return false;

    auto &out = _buffers.emplace_back(pooled(bytes));
    auto done = [&](uint8_t type, bool is_lossy) {
        // As the reference: a payload bigger than the pixels goes raw instead.
        if (out.size() > bytes) return false;
        plan.how = image_plan::method::encoded;
        plan.encoded_type = type;
        plan.encoded = out;
        lossy = is_lossy;
        ++_sent[type];
        return true;
    };
    switch (c) {
    case SPICE_IMAGE_COMPRESSION_QUIC:
        if (lossy_allowed && (bmp.format != SPICE_BITMAP_FMT_RGBA || !has_extra_stride(bmp))) {
            if (bmp.format == SPICE_BITMAP_FMT_RGBA) {
                uint8_t flags = 0;
                uint32_t jpeg_size = 0;
                if (jpeg::encode_alpha(view, _settings.jpeg_quality, out, flags, jpeg_size)) {
                    plan.encoded_flags = flags;
                    plan.encoded_aux = jpeg_size;
                    return done(SPICE_IMAGE_TYPE_JPEG_ALPHA, true);
                }
            } else if (jpeg::encode(view, _settings.jpeg_quality, out)) {
                return done(SPICE_IMAGE_TYPE_JPEG, true);
            }
            out.clear();
        }
        if (quic::encode(view, out)) return done(SPICE_IMAGE_TYPE_QUIC, false);
        return false;
    case SPICE_IMAGE_COMPRESSION_GLZ: {
        if (glz::glz_encode(*dict, view, out, _caches->glz_excluded(_id))) {
            _caches->glz_added(_id, dict->next_id() - 1);
            const bool zlib =
                _settings.zlib_glz == SPICE_WAN_COMPRESSION_ALWAYS ||
                (_settings.zlib_glz == SPICE_WAN_COMPRESSION_AUTO && _settings.low_bandwidth);
            if (zlib && out.size() >= min_glz_size_for_zlib) {
                auto &z = _buffers.emplace_back(pooled(out.size()));
                if (glz::zlib_wrap(out, zlib_glz_level, z) && z.size() < out.size()) {
                    plan.how = image_plan::method::encoded;
                    plan.encoded_type = SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB;
                    plan.encoded_aux = static_cast<uint32_t>(out.size());
                    plan.encoded = z;
                    ++_sent[SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB];
                    return true;
                }
            }
            return done(SPICE_IMAGE_TYPE_GLZ_RGB, false);
        }
        out.clear();
        [[fallthrough]]; // as the reference: GLZ failing falls back to LZ
    }
    case SPICE_IMAGE_COMPRESSION_LZ:
        if (lz::encode(view, out)) {
            if (is_palette(bmp.format)) {
                plan.encoded_flags = view.top_down ? SPICE_BITMAP_FLAGS_TOP_DOWN : 0;
                return done(SPICE_IMAGE_TYPE_LZ_PLT, false);
            }
            return done(SPICE_IMAGE_TYPE_LZ_RGB, false);
        }
        return false;
    case SPICE_IMAGE_COMPRESSION_LZ4:
        if (lz4_image::encode(bmp, out) && out.size() <= bytes)
            return done(SPICE_IMAGE_TYPE_LZ4, false);
        return false;
    default:
        return false;
    }
}

} // namespace rs

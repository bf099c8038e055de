// How one client's display channel sends images: the codec chosen per image,
// the pixmap and palette caches, and the GLZ dictionary.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "display/client_caches.hpp"
#include "display/display_messages.hpp"
#include "display/draw.hpp"
#include "display/image_cache.hpp"
#include "display/image_settings.hpp"
#include "reds/link_rate.hpp"

namespace rs {

namespace glz {
class glz_dictionary;
}

/// The SPICE_IMAGE_TYPE_* name ("LZ_RGB", ...), "?" for an unknown value.
const char *image_type_name(uint8_t type) noexcept;

/// Decides how every image of one display channel client goes on the wire,
/// as the reference's fill_bits / dcc_compress_image do, using the client's
/// caches and GLZ window that all its display channels share
/// (client_caches). Owned by one display_channel_client; lives on its
/// display shard.
///
/// Use: prepare(d) before encoding each drawable (it compresses the images
/// and makes room in the caches; the client must get the returned waits and
/// invalidations first), then encode the drawable with encoder(), whose
/// plans borrow bytes this object keeps until the next prepare(), queue it,
/// and commit() its serial.
class image_sender {
  public:
    /// `channel_id`: the display channel's id, its name among the client's
    /// display channels.
    image_sender(image_settings settings, bool client_lz4, uint8_t channel_id);
    ~image_sender();
    image_sender(const image_sender &) = delete;
    image_sender &operator=(const image_sender &) = delete;

    /// The client's display INIT: joins the client's shared `caches` (the
    /// first INIT sizes them) as `self`. Without caches (null, or the
    /// client named other cache ids on another channel) images go uncached
    /// and without GLZ.
    void on_init(const msgc::display_init &init, std::shared_ptr<client_caches> caches,
                 client_caches::member &self);
    /// SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION (ignored when invalid).
    void on_preferred_compression(uint8_t compression);
    /// The client's socket, whose measured delivery rate decides "low
    /// bandwidth" for the AUTO JPEG and ZLIB_GLZ settings (sampled by
    /// prepare() at most every 100 ms). -1: not measured (treated as fast).
    void set_socket(int fd) noexcept { _fd = fd; }
    /// Whether the link counts as low bandwidth now.
    bool low_bandwidth() const noexcept { return _settings.low_bandwidth; }

    /// What the client must be told before the drawable's message, and
    /// whether the drawing puts lossy pixels on its surface.
    struct invalidations {
        std::vector<msg::channel_wait> waits; ///< WAIT_FOR_CHANNELS, before all else
        std::vector<resource_id> pixmaps;     ///< INVAL_LIST entries
        std::vector<uint64_t> palettes;       ///< INVAL_PALETTE each
        bool lossy = false;                   ///< a JPEG image or a lossy cached one is drawn
    };
    /// When an image of a drawing may be lossy (JPEG, when the settings
    /// turn it on): never; for a plain copy of a source (as the reference
    /// allows); or always (a whole-surface picture for a client).
    enum class lossy_use : uint8_t { never, by_operation, whole_picture };
    /// Plans and compresses every image of `d`.
    invalidations prepare(const draw::drawable &d, lossy_use lossy = lossy_use::by_operation);
    /// The encoder for encode_draw: the plans prepare() made.
    image_encoder encoder() const;
    /// The drawable's message was queued as `serial`: the entries and GLZ
    /// images prepare() used or added are recorded as that message's.
    void commit(uint64_t serial);

    /// spice_qxl_reset_image_cache: empties the pixmap cache mirror; the
    /// caller sends INVAL_ALL_PIXMAPS with the returned waits, then
    /// reset_sent() with its serial.
    std::vector<msg::channel_wait> reset_pixmap_cache();
    /// Queued messages were dropped: the client may lack images the
    /// caches and the GLZ window count on. Empties both cache mirrors (the
    /// caller sends WAIT_FOR_CHANNELS with the returned waits,
    /// INVAL_ALL_PIXMAPS and INVAL_ALL_PALETTES, then reset_sent()) and ends
    /// GLZ for the client if a dropped message carried a GLZ image: it
    /// leaves a gap the client's window never closes, and references into
    /// it would stall the client's decoder.
    std::vector<msg::channel_wait> forget_client_state();
    /// The INVAL_ALL_* of a reset was queued as `serial`.
    void reset_sent(uint64_t serial);
    /// Other display channels of the client share its caches with this one.
    bool caches_shared() const noexcept { return _caches && _caches->members() > 1; }

    /// Images sent, by SPICE_IMAGE_TYPE_* (what the wire carried), for tests
    /// and the benchmark.
    const std::array<uint64_t, 256> &images_sent() const noexcept { return _sent; }
    /// Thread CPU time spent compressing images (the codecs, and the
    /// classifier that picks one), for the benchmark's "time outside the
    /// codec" and the end-of-channel log line.
    uint64_t codec_cpu_ns() const noexcept { return _codec_cpu_ns; }
    /// FROM_CACHE (or _LOSSLESS) of pixmaps another display channel of the
    /// client added: what sharing the client's cache saved.
    uint64_t shared_cache_hits() const noexcept { return _shared_hits; }

  private:
    struct planned {
        const draw::image *img;
        image_role role;
        image_plan plan;
    };
    image_plan plan_image(const draw::image &img, image_role role, bool can_lossy,
                          invalidations &inv);
    bool compress(const draw::bitmap &bmp, bool lossy_allowed, image_plan &plan, bool &lossy);
    image_plan::palette_mode palette_for(const draw::palette *pal, invalidations &inv);
    void add_waits(invalidations &inv, const std::vector<image_cache::evicted_entry> &evicted);
    SpiceImageCompression effective_compression() const noexcept;
    void sample_link();

    image_settings _settings;
    bool _client_lz4;
    uint8_t _id;
    std::optional<uint8_t> _preferred; // from the client
    bool _whole_picture = false;       // the drawable being prepared is a whole-surface picture
    std::shared_ptr<client_caches> _caches; // null until INIT, or when refused
    client_caches::member *_self = nullptr;
    uint64_t _seen_resets = 0;
    std::vector<uint64_t> _used_pixmaps; // by the message being prepared
    std::vector<uint64_t> _used_palettes;
    std::vector<planned> _plans;
    std::deque<std::vector<uint8_t>> _buffers; // encoded bytes the plans borrow
    std::vector<const uint8_t *> _rows;        // a chunked bitmap's rows, in place
    std::vector<uint8_t> _row_spill;           // its rows that straddle two chunks
    std::array<uint64_t, 256> _sent{};
    uint64_t _codec_cpu_ns = 0;
    uint64_t _shared_hits = 0;
    int _fd = -1;
    bandwidth_monitor _bandwidth;
    std::chrono::steady_clock::time_point _last_sample{};
};

} // namespace rs

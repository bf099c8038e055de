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
/// as the reference's fill_bits / dcc_compress_image do, and keeps the
/// server's mirror of the client's caches. Owned by one
/// display_channel_client; lives on its display shard.
///
/// Use: prepare(d) before encoding each drawable (it compresses the images
/// and makes room in the caches; the client must get the returned
/// invalidations first), then encode the drawable with encoder(), whose
/// plans borrow bytes this object keeps until the next prepare().
class image_sender {
  public:
    /// `shares_client_caches`: this channel manages the client's pixmap
    /// cache and GLZ dictionary. The client has one of each for all its
    /// display channels, so only one channel (display 0) may fill them;
    /// the others send images uncached and use LZ for GLZ.
    image_sender(image_settings settings, bool client_lz4, bool shares_client_caches);
    ~image_sender();
    image_sender(const image_sender &) = delete;
    image_sender &operator=(const image_sender &) = delete;

    /// The client's display INIT: cache and dictionary sizes.
    void on_init(const msgc::display_init &init);
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
        std::vector<resource_id> pixmaps; ///< INVAL_LIST entries
        std::vector<uint64_t> palettes;   ///< INVAL_PALETTE each
        bool lossy = false;               ///< a JPEG image or a lossy cached one is drawn
    };
    /// When an image of a drawing may be lossy (JPEG, when the settings
    /// turn it on): never; for a plain copy of a source (as the reference
    /// allows); or always (a whole-surface picture for a client).
    enum class lossy_use : uint8_t { never, by_operation, whole_picture };
    /// Plans and compresses every image of `d`.
    invalidations prepare(const draw::drawable &d, lossy_use lossy = lossy_use::by_operation);
    /// The encoder for encode_draw: the plans prepare() made.
    image_encoder encoder() const;

    /// spice_qxl_reset_image_cache: empties the pixmap cache mirror; the
    /// caller sends INVAL_ALL_PIXMAPS.
    void reset_pixmap_cache();
    /// Queued messages were dropped: the client may lack images the
    /// caches and the GLZ window count on. Empties both cache mirrors (the
    /// caller sends INVAL_ALL_PIXMAPS and INVAL_ALL_PALETTES) and stops
    /// using GLZ on this channel: a GLZ image that never arrives leaves a
    /// gap the client's window never closes, and references into it would
    /// stall the client's decoder.
    void forget_client_state();

    /// Images sent, by SPICE_IMAGE_TYPE_* (what the wire carried), for tests
    /// and the benchmark.
    const std::array<uint64_t, 256> &images_sent() const noexcept { return _sent; }
    /// Thread CPU time spent compressing images (the codecs, and the
    /// classifier that picks one), for the benchmark's "time outside the
    /// codec" and the end-of-channel log line.
    uint64_t codec_cpu_ns() const noexcept { return _codec_cpu_ns; }

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
    SpiceImageCompression effective_compression() const noexcept;
    void sample_link();

    image_settings _settings;
    bool _client_lz4;
    bool _shares_caches;
    std::optional<uint8_t> _preferred; // from the client
    bool _have_init = false;
    bool _glz_lost = false;      // forget_client_state() ended GLZ on this channel
    bool _whole_picture = false; // the drawable being prepared is a whole-surface picture
    image_cache _pixmaps;
    image_cache _palettes;
    std::unique_ptr<glz::glz_dictionary> _glz;
    std::vector<planned> _plans;
    std::deque<std::vector<uint8_t>> _buffers; // encoded bytes the plans borrow
    std::vector<const uint8_t *> _rows;        // a chunked bitmap's rows, in place
    std::vector<uint8_t> _row_spill;           // its rows that straddle two chunks
    std::array<uint64_t, 256> _sent{};
    uint64_t _codec_cpu_ns = 0;
    int _fd = -1;
    bandwidth_monitor _bandwidth;
    std::chrono::steady_clock::time_point _last_sample{};
};

} // namespace rs

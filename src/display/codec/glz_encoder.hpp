// SPICE GLZ image payloads (SPICE_IMAGE_TYPE_GLZ_RGB): LZ with a dictionary
// shared across the images sent to one client, and their zlib wrapping
// (SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB). The bytes spice-gtk's decode-glz.c decodes.
//
// Layout (all of it is the image's GLZ data; the u32 data_size before it is
// written by the display marshaller):
//
//   u32 magic          "LZ  " (0x20205a4c), all multi-byte fields big-endian
//   u32 version        0x00010001
//   u8  type           LZ_IMAGE_TYPE_* in the low 4 bits, top_down in bit 4
//   u32 width, height
//   u32 stride         width × bytes-per-pixel (2, 3, 4, 4 for RGB16, RGB24,
//                      RGB32, RGBA)
//   u64 id             the image's number in this dictionary, from 0
//   u32 win_head_dist  id − the oldest image later payloads may still refer
//                      to; the client frees every image older than that
//   then the colour pass (and for RGBA the alpha pass), each a sequence of
//     ctrl < 32        ctrl + 1 literal pixels (as in LZ)
//     ctrl ≥ 32        a reference: length in the top 3 bits (7 = more bytes,
//                      each added, until one is < 255), then a pixel field
//                      and an image distance. Image distance 0: the field is
//                      the distance back in this image − 1; otherwise it is
//                      the offset of the first pixel in image id − distance.
//                      Short fields (< 4096) take ctrl's low 4 bits, a byte,
//                      and a byte whose top 2 bits count the image distance's
//                      extra bytes (6 + 8 + 8 + 8 bits); longer ones set ctrl
//                      bit 4 and take 5 more bits (and 8 more when bit 5 of
//                      that byte is set) with 0–3 image distance bytes.
//   Lengths are biased by 1 pixel less than in LZ (RGB: none, RGB16: 1,
//   alpha: 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "display/codec/image_view.hpp"
#include "display/codec/lz_encoder.hpp"

namespace rs::glz {

class glz_dictionary;
struct dict_finder;

/// Compresses `img` (SPICE_BITMAP_FMT_16BIT, 24BIT, 32BIT or RGBA) as the
/// next image of `dict` and appends the GLZ_RGB payload to `out`. The colour
/// pass may refer to earlier images of the same kind still in the window (an
/// RGBA image's alpha pass refers only to itself). Returns the bytes
/// appended, or nullopt with `out` and `dict` unchanged when the format is
/// not an RGB one, the image is empty, a row is wider than the stride, or the
/// image has as many pixels as the window or more (send it another way).
/// `excluded` (sorted) names images of the window the payload must not refer
/// to: another display channel's, whose message may never reach the client.
std::optional<size_t> glz_encode(glz_dictionary &dict, const codec::image_view &img,
                                 std::vector<uint8_t> &out,
                                 std::span<const uint64_t> excluded = {});

/// Deflates a GLZ payload (zlib format, what spice-gtk inflates) at `level`
/// (1–9) and appends the deflated bytes: ZlibGlzRGBData's `data`. The
/// display marshaller writes the two u32 before them, glz_data_size
/// (= glz.size()) and data_size (= the returned size). nullopt (out
/// unchanged) when the level is out of range, `glz` is empty, or deflating
/// does not make it smaller: send the GLZ_RGB payload itself then, as the
/// reference does.
std::optional<size_t> zlib_wrap(std::span<const uint8_t> glz, int level, std::vector<uint8_t> &out);

/// The GLZ dictionary of one client: copies of the colour of the latest
/// images sent as GLZ, that later images may refer back to, and the hash
/// table that finds repeats in them. The client keeps its own decoded copies
/// of the same images and frees them as each header's win_head_dist allows,
/// so the two stay in step only if every payload glz_encode returns reaches
/// the client, in order, once: drop one and the client waits for an image
/// that never comes. After the client's window is reset (a new session), use
/// a new dictionary or reset(); ids start again at 0, as a fresh client
/// window expects. spice-gtk keeps one window per session, shared by all its
/// display channels: two dictionaries feeding one session would reuse ids.
///
/// Owned by the client's client_caches (all its display channels, on one
/// display shard) and used only on that shard;
/// not thread-safe. Memory is bounded: 4 bytes per pixel of the window
/// (window_pixels() ≤ max_window_pixels, 16 MiB by default), as much again at
/// most for one spare buffer kept from an evicted image, and a 1 MiB hash
/// table, per client; none of it until the first image is encoded.
class glz_dictionary {
  public:
    /// The default cap on the window (4 Mi pixels, 16 MiB of copies), below
    /// the 3–16 Mi pixels spice-gtk offers: using less than the client
    /// offered is always safe, win_head_dist tells it what to keep.
    static constexpr uint32_t default_max_window_pixels = 4u << 20;

    /// `client_window_pixels` is the glz_dictionary_window_size of the
    /// client's display INIT message (pixels). The window is the smaller of
    /// it, `max_window_pixels` and the format's 2^25 limit.
    explicit glz_dictionary(uint32_t client_window_pixels,
                            uint32_t max_window_pixels = default_max_window_pixels);

    glz_dictionary(const glz_dictionary &) = delete; // one per client: never two copies
    glz_dictionary &operator=(const glz_dictionary &) = delete;
    glz_dictionary(glz_dictionary &&) = default;
    glz_dictionary &operator=(glz_dictionary &&) = default;

    /// Pixels the window holds at most.
    uint32_t window_pixels() const noexcept { return window_pixels_; }
    /// Images in the window now.
    size_t images() const noexcept { return window_.size(); }
    /// Pixels in the window now.
    uint64_t pixels() const noexcept { return pixels_; }
    /// The id the next image will get.
    uint64_t next_id() const noexcept { return next_id_; }
    /// Bytes the dictionary holds on the heap: the hash table and the
    /// copies of the window's images (and the spare buffer).
    size_t memory_bytes() const noexcept;
    /// Forgets every image; the next one gets id 0.
    void reset();

  private:
    friend std::optional<size_t> glz_encode(glz_dictionary &, const codec::image_view &,
                                            std::vector<uint8_t> &, std::span<const uint64_t>);
    friend struct dict_finder;

    /// One image in the window: its colour keys (lz::detail::key_kind rgb or
    /// rgb16), and where its pixels sit in the dictionary's running pixel
    /// numbering (positions the hash table stores).
    struct image {
        uint64_t id = 0;
        uint64_t start = 0;
        uint8_t kind = 0; ///< images refer only to images of the same kind
        size_t count = 0; ///< pixels
        size_t capacity = 0;
        std::unique_ptr<uint32_t[]> keys;
    };
    struct slot {
        uint64_t pos = 0; ///< running pixel position + 1; 0 is empty
        uint32_t hash = 0;
        uint32_t unused = 0;
    };

    uint32_t window_pixels_;
    std::deque<image> window_;
    uint64_t pixels_ = 0;
    uint64_t next_id_ = 0;
    uint64_t next_pos_ = 0;
    std::vector<slot> table_;
    // The keys buffer of the last image to leave the window, reused by the
    // next image that fits in it (fresh pages cost as much as matching).
    std::unique_ptr<uint32_t[]> spare_;
    size_t spare_capacity_ = 0;
};

} // namespace rs::glz

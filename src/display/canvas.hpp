// The server's software canvas: every surface's pixels, kept so that the
// server can answer update_area, send a whole surface to a client that
// connects late, and resolve SURFACE image sources.
//
// The SPICE client renders the same drawables with spice-common's software
// canvas (sw_canvas.c on top of canvas_base.c), and tests compare a client
// screenshot with our idea of the screen, so every operation here follows
// that canvas's semantics: the ROP descriptor mapping, clip then 1-bit mask,
// image conversion to the surface's format, raw (bit-exact) copies for ROPs
// and pixman compositing with the same parameters where spice-common uses
// pixman. Where spice-common would crash or abort on an input we return an
// error value instead; canvas.cpp's comments name the few places where we
// differ on purpose.
#pragma once

#include "display/draw.hpp"
#include "runtime/result.hpp"

#include <pixman.h>

#include <cstdint>
#include <memory>
#include <span>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace rs {

/// Why a surface operation or a drawable could not be carried out.
enum class canvas_errc : int {
    no_such_surface = 1, ///< the surface id (destination or SURFACE source) does not exist
    surface_exists,      ///< create_surface for an id that is in use
    bad_surface,         ///< invalid surface format, size, stride or memory
    src_area_outside,    ///< src_area is inverted, empty or not inside its image
    bad_image,           ///< an image's data, palette or format cannot be read
    format_mismatch,     ///< a raw operation between surfaces of different depths
    unsupported,         ///< an operation spice-common does not define for these inputs
    out_of_memory,       ///< pixman could not allocate an image or region
};

const std::error_category &canvas_category() noexcept;
inline std::error_code make_error_code(canvas_errc e) noexcept {
    return {static_cast<int>(e), canvas_category()};
}

/// A rectangle of a surface copied out, rows top-down. Pixels are in the
/// surface's own format (4 bytes for 32_xRGB/ARGB, 2 for 16_555/565, 1 for
/// 8_A; 1_A rows are bit-packed least significant bit first, as pixman's a1).
struct surface_pixels {
    uint32_t format = SPICE_SURFACE_FMT_32_xRGB;
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t stride = 0; ///< bytes per row in data
    std::vector<uint8_t> data;
};

/// The surfaces of one QXL device and the renderer that draws into them.
///
/// Owns each surface's pixman image and, for surfaces created without
/// memory, the pixels themselves; a surface created over guest memory (the
/// primary) only borrows it, so that memory must outlive the surface.
/// Lives on the display shard of its QXL instance and is used only there.
class surface_store {
  public:
    surface_store();
    ~surface_store();
    surface_store(const surface_store &) = delete;
    surface_store &operator=(const surface_store &) = delete;

    /// Creates surface `id`. `stride` < 0 means bottom-up: the top row is the
    /// last |stride| bytes of `memory`. An empty `memory` makes the store own
    /// zeroed pixels (stride 0 then means the natural 4-byte aligned stride).
    result<void> create_surface(uint32_t id, uint32_t format, uint32_t width, uint32_t height,
                                int32_t stride, std::span<uint8_t> memory = {});
    /// QXL_SURFACE_CMD_CREATE / _DESTROY.
    result<void> apply(const draw::surface_cmd &cmd);
    result<void> destroy_surface(uint32_t id);
    void destroy_all() noexcept;

    bool has_surface(uint32_t id) const noexcept;
    /// The surface's pixman image (borrowed, null when there is none). It
    /// stays valid until the surface is destroyed.
    pixman_image_t *image(uint32_t id) const noexcept;

    /// Draws one parsed drawable into its surface. On error nothing or only
    /// part of the drawable may have been drawn.
    result<void> render(const draw::drawable &d);

    /// Copies `area` (which must lie inside the surface) out, rows top-down.
    result<surface_pixels> read_area(uint32_t id, const draw::rect &area) const;

    struct surface; ///< defined in canvas.cpp

  private:
    const surface *find(uint32_t id) const noexcept;
    std::unordered_map<uint32_t, std::unique_ptr<surface>> _surfaces;
};

} // namespace rs

template <> struct std::is_error_code_enum<rs::canvas_errc> : std::true_type {};

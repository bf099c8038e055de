// QXL commands from guest memory to the plain structs of draw.hpp.
//
// The guest hands the worker a QXLCommandExt (type, address, memslot group,
// flags); everything it points at is guest memory that the guest may rewrite
// while we read it. So the parser
//   * reaches guest memory only through memslot_table::translate, for exactly
//     the bytes it is about to read;
//   * copies every guest struct into a local once (memcpy: the structs are
//     packed) and decides from the copy, so a size is never read twice;
//   * bounds every count and size by parser_limits before it allocates;
//   * answers a bad command with parse_error and a rate-limited log line.
// Pixel data (bitmap and QUIC chunks, surface memory) is not copied: those
// spans point into guest memory, as draw.hpp describes. Everything else
// (palettes, clip rects, paths, glyphs, cursor shapes) is copied out.
#pragma once

#include "display/draw.hpp"
#include "display/memslot.hpp"

#include <spice/qxl_dev.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace rs::qxl {

/// Bounds on what one guest command may make the host read or allocate. The
/// defaults admit anything a real QXL driver sends (Linux kms, Windows XDDM
/// and WDDM) with a wide margin; they exist so that a hostile guest costs a
/// bounded amount of memory and time per command. Plain data; one instance is
/// shared (read-only) by every parse on a display shard.
struct parser_limits {
    /// Chunks in one QXLDataChunk chain, empty ones included. Also what ends
    /// a cycle the cycle check cannot see (two guest addresses aliasing one
    /// host page). Windows drivers split bitmaps into 64 KiB chunks, so this
    /// allows 4 GiB of bitmap, more than max_image_bytes.
    uint32_t max_chunks = 65536;
    /// Bytes of one image's pixel data (bitmap: stride × height; QUIC: the
    /// compressed stream). The reference's cap is 2 GiB - 1; 512 MiB holds an
    /// uncompressed 32 bpp image of 11585 × 11585.
    uint64_t max_image_bytes = 512ull << 20;
    /// Bytes of an off-screen surface (|stride| × height), as the reference's
    /// red_validate_surface (2 GiB - 1).
    uint64_t max_surface_bytes = 0x7fffffff;
    /// Characters of a QXL_CMD_MESSAGE, which has no length field: the text
    /// must end with a NUL within this many bytes. The reference's bound.
    uint32_t max_message_length = 100000;
    /// Glyphs in one QXLString (its length field allows 65535).
    uint32_t max_glyphs = 16384;
    /// Bytes of one QXLString's glyph data.
    uint32_t max_text_bytes = 16u << 20;
    /// Segments in one QXLPath.
    uint32_t max_path_segments = 65536;
    /// Bytes of one QXLPath's segment data (8 per segment header, 8 per point).
    uint32_t max_path_bytes = 4u << 20;
    /// Rectangles in one QXLClipRects.
    uint32_t max_clip_rects = 65536;
    /// Bytes of one cursor shape: a 1024 × 1024 COLOR32 cursor with its
    /// 1-bit mask, the reference stream device's largest cursor.
    uint32_t max_cursor_bytes = 1024 * 1024 * 4 + 1024 / 8 * 1024;
};

/// Why a command was refused: a static string naming the first check that
/// failed. Never owns memory, so a parse_error costs nothing to return.
struct parse_error {
    const char *reason = "";
};

/// QXL_CMD_MESSAGE after parsing: the guest driver's debug text, copied out
/// (without its NUL), at most parser_limits::max_message_length bytes.
struct message_cmd {
    std::string text;
};

/// One parsed command. drawable, surface_cmd, update_cmd and message_cmd come
/// from the command ring, cursor_cmd from the cursor ring.
using parse_result = std::variant<draw::drawable, draw::surface_cmd, draw::update_cmd, message_cmd,
                                  draw::cursor_cmd, parse_error>;

/// Parses the command `cmd` names (QXL_CMD_DRAW, _UPDATE, _MESSAGE, _SURFACE,
/// _CURSOR), reading guest memory through `slots` in the command's group.
/// QXL_COMMAND_FLAG_COMPAT drawables (QXLCompatDrawable, from qxl revision 1
/// drivers) are accepted and mapped onto the same structs, as the reference
/// does; QXL_COMMAND_FLAG_COMPAT_16BPP turns solid colours and palettes from
/// x555 into x888. A pure function of guest memory and its arguments: no I/O
/// besides rate-limited log lines for refused commands. Runs on the display
/// shard of the QXL device that owns `slots`.
parse_result parse_command(const QXLCommandExt &cmd, const memslot_table &slots,
                           const parser_limits &limits = {});

/// Where the guest's QXLReleaseInfo of a command lives (the first field of
/// every command struct), for QXLInterface::release_resource once the server
/// is done with the command. nullopt when its address does not translate; a
/// command that parsed always has one. The pointer is into guest memory.
std::optional<QXLReleaseInfoExt> release_info_of(const QXLCommandExt &cmd,
                                                 const memslot_table &slots);

} // namespace rs::qxl

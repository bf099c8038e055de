// What one client keeps for all its display channels together: the pixmap
// and palette caches and the GLZ window. spice-gtk holds one of each per
// session and every display channel fills and reads them (a channel that
// needs an image another channel has not delivered yet waits for it), so
// the server mirrors them once per client, shared by that client's display
// channels, as the reference does with its pixmap cache and GLZ dictionary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "display/codec/glz_encoder.hpp"
#include "display/display_messages.hpp"
#include "display/image_cache.hpp"
#include "reds/main_messages.hpp"

namespace rs {

/// The server's mirror of one client's pixmap and palette caches and its
/// GLZ dictionary, shared by the client's display channels ("members", by
/// display channel id). All members live on one display shard (a server's
/// QXL devices share a shard, see display_shards) and use this object only
/// there; it is never touched by two threads.
///
/// Three rules keep the client's shared state consistent while each member
/// queues its own messages and may drop its unsent ones (a resync):
/// * a member refers (FROM_CACHE, PAL_FROM_CACHE, a GLZ reference) only to
///   what it added itself or what another member has already handed to its
///   socket, so dropping unsent messages never breaks another member's;
/// * evicting an entry another member used is preceded by
///   WAIT_FOR_CHANNELS up to that member's last message that used it;
/// * a member that drops messages resets both caches for everyone (after
///   waiting for the others' queued messages) and ends GLZ for the client,
///   whose window would otherwise keep a gap it never closes.
class client_caches {
  public:
    static constexpr size_t max_channels = image_cache::max_channels;
    static constexpr int64_t palette_entries = 128;

    /// What the caches need to know of a member channel.
    class member {
      public:
        /// The serial of its last queued message (channel_client).
        virtual uint64_t queued_serial() const noexcept = 0;
        /// The serial of its last message handed to the socket.
        virtual uint64_t sent_serial() const noexcept = 0;

      protected:
        ~member() = default;
    };

    /// Channel `id` joins with its display INIT. The first INIT sizes the
    /// pixmap cache and the GLZ window; a later one must name the same
    /// cache and dictionary ids (spice-gtk's do), else the channel is
    /// refused (false) and sends its images uncached and without GLZ. A
    /// channel id of max_channels or more is refused too.
    bool join(uint8_t id, member &m, const msgc::display_init &init);
    /// Channel `id` is gone: what it queued but did not send never reaches
    /// the client, so its entries stop being usable by the others.
    void leave(uint8_t id, const member &m);
    /// Members now.
    size_t members() const noexcept;

    image_cache pixmaps{0};
    image_cache palettes{palette_entries};
    /// The client's GLZ window, or null (none offered, or GLZ has ended).
    glz::glz_dictionary *glz() noexcept { return _glz_lost ? nullptr : _glz.get(); }

    /// Whether member `c` may refer to an entry that member `owner` added
    /// in its message `added_in` (0: not queued yet): its own, or one whose
    /// message the owner has already handed to its socket.
    bool usable(uint8_t c, uint8_t owner, uint64_t added_in) const noexcept;

    /// GLZ images: `c` encoded the dictionary's image `glz_id` (its message
    /// is not queued yet); stamp_glz gives c's pending images the serial
    /// of the message that carries them.
    void glz_added(uint8_t c, uint64_t glz_id);
    void stamp_glz(uint8_t c, uint64_t serial);
    /// The ids (sorted) of the window's images that `c` must not refer to.
    const std::vector<uint64_t> &glz_excluded(uint8_t c);

    /// The waits that must precede member `c`'s invalidation of `evicted`:
    /// for each other member, its last message that used one of them.
    std::vector<msg::channel_wait>
    waits_for(uint8_t c, const std::vector<image_cache::evicted_entry> &evicted) const;
    /// Every other member's last queued message: what must be handled
    /// before member `c`'s reset of the whole caches.
    std::vector<msg::channel_wait> waits_for_all(uint8_t c) const;
    /// Member `c` dropped unsent messages: both caches restart empty (the
    /// caller sends the waits and INVAL_ALL_*) and GLZ ends for the client
    /// when any of the dropped messages carried a GLZ image.
    void reset_after_drop(uint8_t c);
    /// spice_qxl_reset_image_cache: the pixmap cache restarts empty (the
    /// caller sends waits_for_all and INVAL_ALL_PIXMAPS).
    void reset_pixmaps() { pixmaps.reset(pixmaps.capacity()); }

    /// Member `c` queued the INVAL_ALL_* of a reset (reset_after_drop or
    /// reset_pixmaps) as its message `serial`. Until the client has handled
    /// it, another member's new entries could be wiped by it: each other
    /// member waits for it before its next use of the caches (sync_wait).
    void note_reset(uint8_t c, uint64_t serial) noexcept;
    /// The wait member `c` owes the last reset it has not yet waited for
    /// (appended to `out`); `seen` is the member's record of resets seen.
    void sync_wait(uint8_t c, uint64_t &seen, std::vector<msg::channel_wait> &out) const;
    /// Resets so far: a member's `seen` when it joins.
    uint64_t resets() const noexcept { return _resets; }

  private:
    struct glz_image {
        uint64_t id;
        uint8_t owner;
        uint64_t serial; // 0 while its message is not queued
    };
    void prune_glz();

    std::array<const member *, max_channels> _members{};
    bool _have_init = false;
    msgc::display_init _init{};
    std::unique_ptr<glz::glz_dictionary> _glz;
    bool _glz_lost = false;
    std::vector<glz_image> _glz_images; // the window's images, oldest first
    std::vector<uint64_t> _excluded;
    uint64_t _resets = 0;
    uint8_t _reset_by = 0;
    uint64_t _reset_serial = 0;
};

/// The QXL devices of one server, which share one display shard so that a
/// client's display channels can share its caches: the client_caches of
/// each session. Created with the server's first QXL device; used only on
/// that display shard.
class display_group {
  public:
    /// The caches of session `connection_id`, made on first use and kept
    /// while a member holds them.
    std::shared_ptr<client_caches> caches_for(uint32_t connection_id);

  private:
    std::unordered_map<uint32_t, std::weak_ptr<client_caches>> _sessions;
};

} // namespace rs

// The server's mirror of what one client keeps in its pixmap and palette
// caches.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

namespace rs {

/// A least-recently-used set of ids, each with a size, within a capacity:
/// the server's model of a client cache it fills (SPICE_IMAGE_FLAGS_CACHE_ME,
/// SPICE_BITMAP_FLAGS_PAL_CACHE_ME) and must tell when it evicts
/// (INVAL_LIST, INVAL_PALETTE), because the client never evicts on its own.
///
/// Entries used by the message being built are pinned: making room never
/// evicts them, since the client must still find them when it reads that
/// message (as the reference refuses to evict an item of the current
/// serial). A client's display channels share its caches (client_caches):
/// each entry then also records which channel added it, in which message,
/// and the last message of every channel that used it, the facts
/// WAIT_FOR_CHANNELS needs when one channel evicts what another used.
/// Plain data on the display shard of the channels that share it.
class image_cache {
  public:
    /// Display channel ids whose uses are recorded (0 … max_channels-1).
    static constexpr size_t max_channels = 8;
    /// Per channel id: the serial of the last message that used an entry (0: none).
    using serials = std::array<uint64_t, max_channels>;
    /// An entry made room for: the client must drop it, but only after
    /// every channel has handled the messages in `used_by`.
    struct evicted_entry {
        uint64_t id;
        serials used_by;
    };

    explicit image_cache(int64_t capacity = 0)
        : _capacity(capacity) {}

    /// Forgets every entry and takes a new capacity (the client's INIT, or
    /// a reset the client is told about with INVAL_ALL_*).
    void reset(int64_t capacity) {
        _lru.clear();
        _index.clear();
        _capacity = capacity;
        _used = 0;
    }
    int64_t capacity() const noexcept { return _capacity; }
    int64_t used() const noexcept { return _used; }
    size_t size() const noexcept { return _index.size(); }

    /// Starts a new message: entries used from now on are pinned until the
    /// next call.
    void begin_message() noexcept { ++_serial; }

    struct hit {
        bool lossy = false;
        uint8_t owner = 0;     ///< the channel that added it
        uint64_t added_in = 0; ///< that channel's message adding it; 0 while not yet queued
    };
    /// The entry for `id`, made most recently used and pinned; nullopt when
    /// the client does not hold it.
    std::optional<hit> find(uint64_t id) {
        auto it = _index.find(id);
        if (it == _index.end()) return std::nullopt;
        _lru.splice(_lru.begin(), _lru, it->second);
        it->second->serial = _serial;
        return hit{it->second->lossy, it->second->owner, it->second->added_in};
    }

    /// Channel `owner` now provides `id` (a lossless replacement): its
    /// message, not yet queued, is the one others must wait for.
    void set_owner(uint64_t id, uint8_t owner) {
        if (auto it = _index.find(id); it != _index.end()) {
            it->second->owner = owner;
            it->second->added_in = 0;
        }
    }

    /// Message `serial` of channel `channel` used (or added) `id`; the
    /// first stamp by the adding channel is the message that adds it.
    void stamp(uint64_t id, uint8_t channel, uint64_t serial) {
        auto it = _index.find(id);
        if (it == _index.end() || channel >= max_channels) return;
        entry &e = *it->second;
        e.used_by[channel] = std::max(e.used_by[channel], serial);
        if (e.owner == channel && e.added_in == 0) e.added_in = serial;
    }

    /// Marks a held entry lossless or lossy (a lossless resend replaced it).
    void set_lossy(uint64_t id, bool lossy) {
        if (auto it = _index.find(id); it != _index.end()) it->second->lossy = lossy;
    }

    /// Adds `id` (not held yet) with `size` units, evicting least recently
    /// used entries not pinned by this message; their ids are appended to
    /// `evicted` (the client must be told before it reads this message).
    /// False, with nothing evicted, when it cannot fit.
    bool add(uint64_t id, int64_t size, bool lossy, std::vector<uint64_t> &evicted) {
        std::vector<evicted_entry> ev;
        const bool ok = add(id, size, lossy, 0, ev);
        for (const auto &e : ev)
            evicted.push_back(e.id);
        return ok;
    }
    /// The same, added by channel `owner`; the evicted entries come with
    /// the last message of each channel that used them.
    bool add(uint64_t id, int64_t size, bool lossy, uint8_t owner,
             std::vector<evicted_entry> &evicted) {
        if (size <= 0 || size > _capacity || _index.count(id)) return false;
        // Check first that enough unpinned room exists, so a refusal evicts nothing.
        int64_t freeable = _capacity - _used;
        for (auto it = _lru.rbegin(); it != _lru.rend() && freeable < size; ++it)
            if (it->serial != _serial) freeable += it->size;
        if (freeable < size) return false;
        while (_capacity - _used < size) {
            auto victim = std::prev(_lru.end());
            while (victim->serial == _serial)
                --victim; // pinned entries stay; the check above found room
            evicted.push_back(evicted_entry{victim->id, victim->used_by});
            _used -= victim->size;
            _index.erase(victim->id);
            _lru.erase(victim);
        }
        _lru.push_front(entry{id, size, lossy, _serial, owner, 0, {}});
        _index[id] = _lru.begin();
        _used += size;
        return true;
    }

  private:
    struct entry {
        uint64_t id;
        int64_t size;
        bool lossy;
        uint64_t serial; // the message that last used it
        uint8_t owner;
        uint64_t added_in;
        serials used_by;
    };
    int64_t _capacity;
    int64_t _used = 0;
    uint64_t _serial = 1;
    std::list<entry> _lru; // front: most recently used
    std::unordered_map<uint64_t, std::list<entry>::iterator> _index;
};

} // namespace rs

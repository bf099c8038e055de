// The server's mirror of what one client keeps in its pixmap and palette
// caches.
#pragma once

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
/// serial). Plain data owned by one display channel client, on its display
/// shard.
class image_cache {
  public:
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
    };
    /// The entry for `id`, made most recently used and pinned; nullopt when
    /// the client does not hold it.
    std::optional<hit> find(uint64_t id) {
        auto it = _index.find(id);
        if (it == _index.end()) return std::nullopt;
        _lru.splice(_lru.begin(), _lru, it->second);
        it->second->serial = _serial;
        return hit{it->second->lossy};
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
            evicted.push_back(victim->id);
            _used -= victim->size;
            _index.erase(victim->id);
            _lru.erase(victim);
        }
        _lru.push_front(entry{id, size, lossy, _serial});
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
    };
    int64_t _capacity;
    int64_t _used = 0;
    uint64_t _serial = 1;
    std::list<entry> _lru; // front: most recently used
    std::unordered_map<uint64_t, std::list<entry>::iterator> _index;
};

} // namespace rs

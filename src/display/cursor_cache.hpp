// Which cursor shapes one client holds in its cursor cache.
#pragma once

#include <spice/enums.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>

namespace rs {

/// The server's mirror of one client's cursor cache: the `unique` ids of
/// shapes the client was told to keep (SPICE_CURSOR_FLAGS_CACHE_ME), least
/// recently used first out. A shape sent again is sent as FROM_CACHE;
/// making room evicts the least recently used id, which the client must be
/// told about (INVAL_ONE) before the new shape arrives. Plain data owned by
/// one cursor channel client, on its display shard.
class cursor_cache {
  public:
    /// The reference's CLIENT_CURSOR_CACHE_SIZE.
    static constexpr size_t default_capacity = 256;

    explicit cursor_cache(size_t capacity = default_capacity)
        : _capacity(capacity == 0 ? 1 : capacity) {}

    struct decision {
        uint16_t flags = 0;              ///< SPICE_CURSOR_FLAGS_FROM_CACHE, _CACHE_ME or 0
        std::optional<uint64_t> evicted; ///< send INVAL_ONE for this id first
    };

    /// How to send a shape with this `unique` (0: not cacheable).
    decision use(uint64_t unique) {
        decision d;
        if (unique == 0) return d;
        if (auto it = _index.find(unique); it != _index.end()) {
            _lru.splice(_lru.begin(), _lru, it->second);
            d.flags = SPICE_CURSOR_FLAGS_FROM_CACHE;
            return d;
        }
        if (_lru.size() >= _capacity) {
            d.evicted = _lru.back();
            _index.erase(_lru.back());
            _lru.pop_back();
        }
        _lru.push_front(unique);
        _index[unique] = _lru.begin();
        d.flags = SPICE_CURSOR_FLAGS_CACHE_ME;
        return d;
    }

    /// The client dropped its cache (CURSOR_RESET / INVAL_ALL).
    void clear() noexcept {
        _lru.clear();
        _index.clear();
    }

    size_t size() const noexcept { return _lru.size(); }

  private:
    size_t _capacity;
    std::list<uint64_t> _lru; // front: most recently used
    std::unordered_map<uint64_t, std::list<uint64_t>::iterator> _index;
};

} // namespace rs

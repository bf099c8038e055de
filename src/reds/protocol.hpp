// Message framing after the link: the full SpiceDataHeader and the mini header
// (used once both sides announce SPICE_COMMON_CAP_MINI_HEADER), and the
// capability bit sets exchanged in the link messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <spice/protocol.h>

#include "reds/wire.hpp"

namespace rs {

/// SpiceDataHeader: serial u64, type u16, size u32, sub_list u32, packed LE.
/// Plain data, usable from any shard.
struct data_header {
    static constexpr size_t wire_size = 18;
    static_assert(wire_size == sizeof(SpiceDataHeader));

    uint64_t serial = 0;
    uint16_t type = 0;
    uint32_t size = 0;     ///< body bytes that follow the header
    uint32_t sub_list = 0; ///< offset of a SpiceSubMessageList in the body, 0 if none

    void encode(wire::writer &w) const {
        w.u64(serial);
        w.u16(type);
        w.u32(size);
        w.u32(sub_list);
    }
    /// Decodes the first wire_size bytes; nullopt when fewer are given.
    static std::optional<data_header> decode(std::span<const uint8_t> in) noexcept {
        wire::reader r(in);
        data_header h;
        h.serial = r.u64();
        h.type = r.u16();
        h.size = r.u32();
        h.sub_list = r.u32();
        if (!r.ok()) return std::nullopt;
        return h;
    }
};

/// SpiceMiniDataHeader: type u16, size u32, packed LE. Plain data, usable
/// from any shard.
struct mini_header {
    static constexpr size_t wire_size = 6;
    static_assert(wire_size == sizeof(SpiceMiniDataHeader));

    uint16_t type = 0;
    uint32_t size = 0; ///< body bytes that follow the header

    void encode(wire::writer &w) const {
        w.u16(type);
        w.u32(size);
    }
    static std::optional<mini_header> decode(std::span<const uint8_t> in) noexcept {
        wire::reader r(in);
        mini_header h;
        h.type = r.u16();
        h.size = r.u32();
        if (!r.ok()) return std::nullopt;
        return h;
    }
};

/// An outgoing message whose header was written before its body; finish()
/// fills in the body size. Keeps the header kind decision in one place.
class message_frame {
  public:
    /// Writes a full header (with serial) or a mini header (serial unused).
    static message_frame begin(wire::writer &w, bool mini, uint16_t type, uint64_t serial = 0) {
        message_frame f;
        if (mini) {
            w.u16(type);
        } else {
            w.u64(serial);
            w.u16(type);
        }
        f._size = w.reserve_u32();
        if (!mini) w.u32(0); // sub_list: the server never sends sub-message lists
        f._body_start = w.size();
        return f;
    }
    void finish(wire::writer &w) const noexcept {
        w.patch(_size, static_cast<uint32_t>(w.size() - _body_start));
    }

  private:
    wire::u32_slot _size{0};
    size_t _body_start = 0;
};

/// A capability bit set as sent on the wire: u32 words, bit n is bit n%32 of
/// word n/32. Bounded by max_words (the link limit) so a peer cannot make it
/// grow without limit. Plain data, usable from any shard.
class caps {
  public:
    /// The reference rejects links announcing more words than this.
    static constexpr size_t max_words = 1024;

    caps() = default;
    /// Keeps at most max_words words.
    explicit caps(std::vector<uint32_t> words)
        : _words(std::move(words)) {
        if (_words.size() > max_words) _words.resize(max_words);
    }

    bool has(uint32_t bit) const noexcept {
        const size_t i = bit / 32;
        return i < _words.size() && (_words[i] >> (bit % 32) & 1u) != 0;
    }
    /// Grows to the word holding `bit`; false (and no change) past the bound.
    bool set(uint32_t bit) {
        const size_t i = bit / 32;
        if (i >= max_words) return false;
        if (i >= _words.size()) _words.resize(i + 1, 0);
        _words[i] |= 1u << (bit % 32);
        return true;
    }
    void clear(uint32_t bit) noexcept {
        const size_t i = bit / 32;
        if (i < _words.size()) _words[i] &= ~(1u << (bit % 32));
    }
    std::span<const uint32_t> words() const noexcept { return _words; }
    size_t num_words() const noexcept { return _words.size(); }
    bool empty() const noexcept { return _words.empty(); }

    friend bool operator==(const caps &, const caps &) = default;

  private:
    std::vector<uint32_t> _words;
};

} // namespace rs

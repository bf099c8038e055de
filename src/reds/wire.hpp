// Little-endian reading and writing of SPICE wire data. Every byte that comes
// from a client goes through wire::reader before any logic sees it; every
// message the server sends is appended through wire::writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace rs::wire {

/// A bounds-checked cursor over bytes it does not own (the span must outlive
/// it). Failure is sticky: once a read runs past the end, that read and every
/// later one yield 0 or an empty span and ok() stays false, so a parser can
/// read a whole struct and check ok() once. Plain data, usable from any shard.
class reader {
  public:
    reader() noexcept = default;
    explicit reader(std::span<const uint8_t> data) noexcept
        : _data(data) {}

    uint8_t u8() noexcept {
        const uint8_t *p = take(1);
        return p ? p[0] : 0;
    }
    uint16_t u16() noexcept {
        const uint8_t *p = take(2);
        return p ? static_cast<uint16_t>(p[0] | (p[1] << 8)) : 0;
    }
    uint32_t u32() noexcept {
        const uint8_t *p = take(4);
        return p ? load32(p) : 0;
    }
    uint64_t u64() noexcept {
        const uint8_t *p = take(8);
        return p ? (load32(p) | (uint64_t{load32(p + 4)} << 32)) : 0;
    }
    int8_t i8() noexcept { return static_cast<int8_t>(u8()); }
    int16_t i16() noexcept { return static_cast<int16_t>(u16()); }
    int32_t i32() noexcept { return static_cast<int32_t>(u32()); }
    int64_t i64() noexcept { return static_cast<int64_t>(u64()); }

    /// The next n bytes as a view into the input; empty (and failed) when
    /// fewer remain. n == 0 yields an empty span without failing.
    std::span<const uint8_t> bytes(size_t n) noexcept {
        const uint8_t *p = take(n);
        return p ? std::span<const uint8_t>(p, n) : std::span<const uint8_t>();
    }
    /// Everything not yet read; never fails.
    std::span<const uint8_t> rest() noexcept { return bytes(remaining()); }
    void skip(size_t n) noexcept { (void)take(n); }

    /// Bytes left to read; 0 after a failure.
    size_t remaining() const noexcept { return _ok ? _data.size() - _pos : 0; }
    /// Offset of the next read from the start of the input.
    size_t position() const noexcept { return _pos; }
    bool ok() const noexcept { return _ok; }
    /// True when every byte was read and nothing failed.
    bool at_end() const noexcept { return _ok && _pos == _data.size(); }

  private:
    const uint8_t *take(size_t n) noexcept {
        if (!_ok || n > _data.size() - _pos) {
            _ok = false;
            return nullptr;
        }
        const uint8_t *p = _data.data() + _pos;
        _pos += n;
        return p;
    }
    static uint32_t load32(const uint8_t *p) noexcept {
        return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
               (uint32_t{p[3]} << 24);
    }

    std::span<const uint8_t> _data;
    size_t _pos = 0;
    bool _ok = true;
};

/// A u32 placeholder in a writer's buffer, filled in later by writer::patch
/// (message sizes, counts known only after the body is written).
struct u32_slot {
    size_t _offset;
};

/// Appends little-endian values to a byte vector it borrows (the vector must
/// outlive the writer; pooled buffers can be reused). Plain data, usable from
/// any shard.
class writer {
  public:
    explicit writer(std::vector<uint8_t> &out) noexcept
        : _out(&out) {}

    void u8(uint8_t v) { _out->push_back(v); }
    void u16(uint16_t v) {
        const uint8_t b[2] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)};
        _out->insert(_out->end(), b, b + 2);
    }
    void u32(uint32_t v) {
        uint8_t b[4];
        store32(b, v);
        _out->insert(_out->end(), b, b + 4);
    }
    void u64(uint64_t v) {
        uint8_t b[8];
        store32(b, static_cast<uint32_t>(v));
        store32(b + 4, static_cast<uint32_t>(v >> 32));
        _out->insert(_out->end(), b, b + 8);
    }
    void i8(int8_t v) { u8(static_cast<uint8_t>(v)); }
    void i16(int16_t v) { u16(static_cast<uint16_t>(v)); }
    void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
    void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
    void bytes(std::span<const uint8_t> b) { _out->insert(_out->end(), b.begin(), b.end()); }
    void zeros(size_t n) { _out->insert(_out->end(), n, uint8_t{0}); }

    /// Appends four zero bytes to be overwritten by patch().
    u32_slot reserve_u32() {
        const u32_slot s{_out->size()};
        zeros(4);
        return s;
    }
    void patch(u32_slot s, uint32_t v) noexcept { store32(_out->data() + s._offset, v); }

    /// Bytes in the underlying buffer, including what was there before.
    size_t size() const noexcept { return _out->size(); }
    std::vector<uint8_t> &buffer() noexcept { return *_out; }

  private:
    static void store32(uint8_t *p, uint32_t v) noexcept {
        p[0] = static_cast<uint8_t>(v);
        p[1] = static_cast<uint8_t>(v >> 8);
        p[2] = static_cast<uint8_t>(v >> 16);
        p[3] = static_cast<uint8_t>(v >> 24);
    }

    std::vector<uint8_t> *_out;
};

} // namespace rs::wire

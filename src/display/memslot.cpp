#include "display/memslot.hpp"

#include "runtime/log.hpp"

namespace rs {

memslot_table::memslot_table(const QXLDevInitInfo &info)
    : _num_groups(info.num_memslots_groups)
    , _num_slots(info.num_memslots)
    , _n_surfaces(info.n_surfaces)
    , _id_bits(info.memslot_id_bits)
    , _gen_bits(info.memslot_gen_bits) {
    const unsigned high_bits = unsigned{_id_bits} + _gen_bits;
    const bool usable = _num_groups > 0 && _num_slots > 0 && high_bits <= 64 &&
                        uint64_t{_num_groups} * _num_slots <= max_entries;
    if (!usable) {
        // The VMM is trusted, but a geometry like this is a bug there; an
        // empty table turns it into failed commands instead of a crash.
        RS_LOG_ERROR("qxl",
                     "unusable memslot geometry: {} groups x {} slots, id bits {}, "
                     "generation bits {}; every guest address will be refused",
                     _num_groups, _num_slots, _id_bits, _gen_bits);
        _num_groups = 0;
        _num_slots = 0;
        return;
    }
    // The reference shifts by 64 - bits; shifting a 64-bit value by 64 is
    // undefined, so the all-or-nothing cases are spelled out.
    _gen_mask = _gen_bits >= 64 ? ~uint64_t{0} : ~(~uint64_t{0} << _gen_bits);
    _clean_mask = high_bits >= 64 ? 0 : (~uint64_t{0} >> high_bits);
    _slots.resize(size_t{_num_groups} * _num_slots);
}

uint64_t memslot_table::slot_id_of(QXLPHYSICAL addr) const noexcept {
    if (_id_bits == 0) return 0;
    return addr >> (64 - _id_bits);
}

uint64_t memslot_table::generation_of(QXLPHYSICAL addr) const noexcept {
    const unsigned shift = 64 - (unsigned{_id_bits} + _gen_bits);
    if (_gen_bits == 0 || shift >= 64) return 0;
    return (addr >> shift) & _gen_mask;
}

bool memslot_table::add(uint32_t group, uint32_t slot_id, const QXLDevMemSlot &s) noexcept {
    if (group >= _num_groups || slot_id >= _num_slots) {
        RS_LOG_RATELIMITED("qxl", "add memslot: group {} slot {} out of range ({} x {})", group,
                           slot_id, _num_groups, _num_slots);
        return false;
    }
    slot &e = _slots[size_t{group} * _num_slots + slot_id];
    e.mapped = true;
    e.generation = s.generation;
    e.virt_start = s.virt_start;
    e.virt_end = s.virt_end;
    e.addr_delta = static_cast<uintptr_t>(s.addr_delta);
    return true;
}

bool memslot_table::del(uint32_t group, uint32_t slot_id) noexcept {
    if (group >= _num_groups || slot_id >= _num_slots) {
        RS_LOG_RATELIMITED("qxl", "del memslot: group {} slot {} out of range ({} x {})", group,
                           slot_id, _num_groups, _num_slots);
        return false;
    }
    _slots[size_t{group} * _num_slots + slot_id] = slot{};
    return true;
}

void memslot_table::reset() noexcept {
    for (auto &e : _slots)
        e = slot{};
}

const memslot_table::slot *memslot_table::lookup(QXLPHYSICAL addr, uint32_t group,
                                                 uintptr_t &host) const noexcept {
    if (group >= _num_groups) {
        RS_LOG_RATELIMITED("qxl", "guest address {:#x}: group {} out of range ({} groups)", addr,
                           group, _num_groups);
        return nullptr;
    }
    const uint64_t id = slot_id_of(addr);
    if (id >= _num_slots) {
        RS_LOG_RATELIMITED("qxl", "guest address {:#x}: slot id {} out of range ({} slots)", addr,
                           id, _num_slots);
        return nullptr;
    }
    const slot &e = _slots[size_t{group} * _num_slots + id];
    if (!e.mapped) {
        RS_LOG_RATELIMITED("qxl", "guest address {:#x}: group {} slot {} is not mapped", addr,
                           group, id);
        return nullptr;
    }
    const uint64_t gen = generation_of(addr);
    if (gen != e.generation) {
        RS_LOG_RATELIMITED("qxl",
                           "guest address {:#x}: generation {} but group {} slot {} is at "
                           "generation {}",
                           addr, gen, group, id, e.generation);
        return nullptr;
    }
    // Modular, as in the reference: the range check below is what makes the
    // result trustworthy, whatever delta the VMM chose.
    host = static_cast<uintptr_t>(addr & _clean_mask) + e.addr_delta;
    return &e;
}

std::optional<std::span<uint8_t>> memslot_table::translate(QXLPHYSICAL addr, size_t size,
                                                           uint32_t group) const noexcept {
    uintptr_t host = 0;
    const slot *e = lookup(addr, group, host);
    if (e == nullptr) return std::nullopt;
    // host + size must neither wrap nor pass the slot's end; written as a
    // subtraction so that it cannot overflow.
    if (host < e->virt_start || host > e->virt_end || size > e->virt_end - host) {
        RS_LOG_RATELIMITED("qxl",
                           "guest range {:#x}+{:#x} (group {} slot {}) leaves the slot "
                           "[{:#x}, {:#x})",
                           addr, size, group, slot_id_of(addr), e->virt_start, e->virt_end);
        return std::nullopt;
    }
    return std::span<uint8_t>(reinterpret_cast<uint8_t *>(host), size);
}

std::optional<std::span<uint8_t>> memslot_table::translate_prefix(QXLPHYSICAL addr, size_t max_size,
                                                                  uint32_t group) const noexcept {
    uintptr_t host = 0;
    const slot *e = lookup(addr, group, host);
    if (e == nullptr) return std::nullopt;
    if (host < e->virt_start || host > e->virt_end) {
        RS_LOG_RATELIMITED("qxl",
                           "guest address {:#x} (group {} slot {}) is outside the slot "
                           "[{:#x}, {:#x})",
                           addr, group, slot_id_of(addr), e->virt_start, e->virt_end);
        return std::nullopt;
    }
    const size_t avail = e->virt_end - host;
    return std::span<uint8_t>(reinterpret_cast<uint8_t *>(host),
                              avail < max_size ? avail : max_size);
}

} // namespace rs

// Guest memory slots: how a QXLPHYSICAL the guest wrote becomes a host
// pointer. The VMM maps guest RAM and registers regions of it as slots
// (spice_qxl_add_memslot); the guest names memory as
//
//   [ slot id : id_bits ][ generation : gen_bits ][ address : the rest ]
//
// and the slot turns the low bits into a host address (address + addr_delta)
// that must lie inside [virt_start, virt_end). Same decoding as the reference
// server's memslot.c, so addresses from a real QXL driver resolve identically.
#pragma once

#include <spice.h>
#include <spice/qxl_dev.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace rs {

/// The memslots of one QXL device: num_groups × num_slots entries, each
/// absent or mapping guest addresses onto a range of host memory the VMM
/// owns. Holds no guest memory itself, only the VMM's ranges. Lives on the
/// display shard of its QXL device; add/del/reset arrive there as messages
/// from the VMM's spice_qxl_* calls, and translate is called by the parser
/// on the same shard, so no locking.
class memslot_table {
  public:
    /// Geometry from QXLInterface::get_init_info. A geometry no QXL device
    /// has (id_bits + gen_bits > 64, zero groups or slots, more than
    /// max_entries slots in all) yields a table on which every translate
    /// fails, with an error logged once.
    explicit memslot_table(const QXLDevInitInfo &info);

    /// Maps slot (group, slot) as the VMM describes it; `s.slot_group_id`
    /// and `s.slot_id` are ignored in favour of the arguments. Replaces
    /// what the slot held. False (and a log line) when out of range.
    bool add(uint32_t group, uint32_t slot, const QXLDevMemSlot &s) noexcept;
    /// Unmaps one slot; addresses in it fail to translate from now on.
    bool del(uint32_t group, uint32_t slot) noexcept;
    /// Unmaps every slot (spice_qxl_reset_memslots).
    void reset() noexcept;

    /// Host memory for the guest bytes [addr, addr + size) in `group`, or
    /// nullopt (and a rate-limited log line) when the group or slot id is out
    /// of range, the slot is not mapped, the generation is stale, or the range
    /// leaves the slot or wraps around. A size of 0 yields an empty span.
    std::optional<std::span<uint8_t>> translate(QXLPHYSICAL addr, size_t size,
                                                uint32_t group) const noexcept;

    /// Like translate, but for data of unknown length: the bytes from addr to
    /// the end of its slot, at most max_size of them. Fails only as translate
    /// does for the first byte (an address at the very end yields empty).
    std::optional<std::span<uint8_t>> translate_prefix(QXLPHYSICAL addr, size_t max_size,
                                                       uint32_t group) const noexcept;

    /// The slot id and generation a guest address names, decoded exactly as
    /// the reference's memslot_get_id / memslot_get_generation.
    uint64_t slot_id_of(QXLPHYSICAL addr) const noexcept;
    uint64_t generation_of(QXLPHYSICAL addr) const noexcept;

    uint32_t num_groups() const noexcept { return _num_groups; }
    uint32_t num_slots() const noexcept { return _num_slots; }
    /// The device's surface count (QXLDevInitInfo::n_surfaces). It rides
    /// here because the parser needs it next to the slots and both come from
    /// the same init info; surface ids from the guest must be below it.
    uint32_t n_surfaces() const noexcept { return _n_surfaces; }

    /// Upper bound on num_groups × num_slots; QEMU uses 2 × 8.
    static constexpr size_t max_entries = 1u << 16;

  private:
    struct slot {
        bool mapped = false;
        uint32_t generation = 0;
        uintptr_t virt_start = 0;
        uintptr_t virt_end = 0;
        uintptr_t addr_delta = 0;
    };

    /// The host address for addr in its slot, before the range check; null
    /// when the group, slot or generation does not match.
    const slot *lookup(QXLPHYSICAL addr, uint32_t group, uintptr_t &host) const noexcept;

    uint32_t _num_groups = 0;
    uint32_t _num_slots = 0;
    uint32_t _n_surfaces = 0;
    uint8_t _id_bits = 0;
    uint8_t _gen_bits = 0;
    uint64_t _gen_mask = 0;
    uint64_t _clean_mask = 0;
    std::vector<slot> _slots; // group-major: _slots[group * _num_slots + slot]
};

} // namespace rs

#include "display/memslot.hpp"

#include "display/guest_memory.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace {

using rs::memslot_table;
using rs::testing::guest_memory;

QXLDevInitInfo geometry(uint32_t groups, uint32_t slots, uint8_t gen_bits, uint8_t id_bits) {
    QXLDevInitInfo i{};
    i.num_memslots_groups = groups;
    i.num_memslots = slots;
    i.memslot_gen_bits = gen_bits;
    i.memslot_id_bits = id_bits;
    i.n_surfaces = 16;
    return i;
}

/// One slot over a vector, the way QEMU describes a slot over guest RAM:
/// guest address `base` is the vector's first byte.
QXLDevMemSlot slot_over(std::vector<uint8_t> &mem, uint64_t base, uint32_t generation) {
    QXLDevMemSlot s{};
    s.generation = generation;
    s.virt_start = reinterpret_cast<uintptr_t>(mem.data());
    s.virt_end = s.virt_start + mem.size();
    s.addr_delta = s.virt_start - base;
    return s;
}

TEST(MemslotTable, TranslatesAnAddressInsideItsSlot) {
    guest_memory g(8192);
    const auto t = g.table();
    const QXLPHYSICAL a = guest_memory::phys(100);
    auto s = t.translate(a, 16, guest_memory::group);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->data(), g.host(a));
    EXPECT_EQ(s->size(), 16u);
}

TEST(MemslotTable, DecodesSlotIdAndGenerationFromTheHighBitsAsTheReference) {
    const memslot_table t(geometry(2, 8, 8, 8));
    // id in the top 8 bits, generation in the next 8, address below.
    const QXLPHYSICAL a = (uint64_t{5} << 56) | (uint64_t{0xab} << 48) | 0x1234;
    EXPECT_EQ(t.slot_id_of(a), 5u);
    EXPECT_EQ(t.generation_of(a), 0xabu);

    const memslot_table odd(geometry(1, 4, 3, 2));
    const QXLPHYSICAL b = (uint64_t{3} << 62) | (uint64_t{6} << 59) | 0x10;
    EXPECT_EQ(odd.slot_id_of(b), 3u);
    EXPECT_EQ(odd.generation_of(b), 6u);
}

TEST(MemslotTable, TheWholeSlotIsReachableAndNotOneByteMore) {
    guest_memory g(4096);
    const auto t = g.table();
    EXPECT_TRUE(t.translate(guest_memory::phys(0), 4096, guest_memory::group));
    EXPECT_TRUE(t.translate(guest_memory::phys(4095), 1, guest_memory::group));
    EXPECT_TRUE(t.translate(guest_memory::phys(4096), 0, guest_memory::group));
    EXPECT_FALSE(t.translate(guest_memory::phys(4095), 2, guest_memory::group));
    EXPECT_FALSE(t.translate(guest_memory::phys(4096), 1, guest_memory::group));
    EXPECT_FALSE(t.translate(guest_memory::phys(0), 4097, guest_memory::group));
}

TEST(MemslotTable, RefusesAddressesBelowTheSlot) {
    guest_memory g(4096);
    const auto t = g.table();
    // One byte before guest_base: below virt_start.
    const QXLPHYSICAL a = guest_memory::phys(0) - 1;
    EXPECT_FALSE(t.translate(a, 1, guest_memory::group));
}

TEST(MemslotTable, RefusesSizesThatWrapAround) {
    guest_memory g(4096);
    const auto t = g.table();
    const auto max = std::numeric_limits<size_t>::max();
    EXPECT_FALSE(t.translate(guest_memory::phys(16), max, guest_memory::group));
    EXPECT_FALSE(t.translate(guest_memory::phys(16), max - 15, guest_memory::group));
}

TEST(MemslotTable, RefusesAStaleGeneration) {
    guest_memory g(4096);
    const auto t = g.table();
    EXPECT_FALSE(
        t.translate(guest_memory::phys(64, guest_memory::slot, 2), 4, guest_memory::group));
    EXPECT_FALSE(
        t.translate(guest_memory::phys(64, guest_memory::slot, 0), 4, guest_memory::group));
}

TEST(MemslotTable, RefusesSlotIdsAndGroupsOutOfRange) {
    guest_memory g(4096);
    const auto t = g.table();
    EXPECT_FALSE(
        t.translate(guest_memory::phys(64, guest_memory::num_slots), 4, guest_memory::group));
    EXPECT_FALSE(t.translate(guest_memory::phys(64, 0xff), 4, guest_memory::group));
    EXPECT_FALSE(t.translate(guest_memory::phys(64), 4, guest_memory::num_groups));
    EXPECT_FALSE(t.translate(guest_memory::phys(64), 4, 0xffffffffu));
    // The same address in the other group: nothing is mapped there.
    EXPECT_FALSE(t.translate(guest_memory::phys(64), 4, 0));
}

TEST(MemslotTable, RefusesAnUnmappedOrDeletedSlot) {
    guest_memory g(4096);
    auto t = g.table();
    ASSERT_TRUE(t.translate(guest_memory::phys(64), 4, guest_memory::group));
    EXPECT_FALSE(t.translate(guest_memory::phys(64, 2), 4, guest_memory::group)); // never added
    EXPECT_TRUE(t.del(guest_memory::group, guest_memory::slot));
    EXPECT_FALSE(t.translate(guest_memory::phys(64), 4, guest_memory::group));
    EXPECT_FALSE(t.translate(guest_memory::phys(4096), 0, guest_memory::group));
}

TEST(MemslotTable, ResetUnmapsEverySlotAndAddMapsAgain) {
    guest_memory g(4096);
    auto t = g.table();
    t.reset();
    EXPECT_FALSE(t.translate(guest_memory::phys(64), 4, guest_memory::group));
    EXPECT_TRUE(t.add(guest_memory::group, guest_memory::slot, g.mem_slot()));
    EXPECT_TRUE(t.translate(guest_memory::phys(64), 4, guest_memory::group));
}

TEST(MemslotTable, AddReplacesASlotIncludingItsGeneration) {
    guest_memory g(4096);
    auto t = g.table();
    auto s = g.mem_slot();
    s.generation = 2;
    EXPECT_TRUE(t.add(guest_memory::group, guest_memory::slot, s));
    EXPECT_FALSE(
        t.translate(guest_memory::phys(64, guest_memory::slot, 1), 4, guest_memory::group));
    EXPECT_TRUE(t.translate(guest_memory::phys(64, guest_memory::slot, 2), 4, guest_memory::group));
}

TEST(MemslotTable, AddAndDelOutOfRangeAreRefused) {
    memslot_table t(guest_memory::init_info());
    QXLDevMemSlot s{};
    EXPECT_FALSE(t.add(guest_memory::num_groups, 0, s));
    EXPECT_FALSE(t.add(0, guest_memory::num_slots, s));
    EXPECT_FALSE(t.del(guest_memory::num_groups, 0));
    EXPECT_FALSE(t.del(0, guest_memory::num_slots));
}

TEST(MemslotTable, WorksWithoutIdOrGenerationBits) {
    std::vector<uint8_t> mem(256);
    memslot_table t(geometry(1, 1, 0, 0));
    ASSERT_TRUE(t.add(0, 0, slot_over(mem, 0x1000, 0)));
    EXPECT_EQ(t.slot_id_of(0x1010), 0u);
    EXPECT_EQ(t.generation_of(0x1010), 0u);
    auto s = t.translate(0x1010, 4, 0);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->data(), mem.data() + 0x10);
}

TEST(MemslotTable, AnImpossibleGeometryRefusesEverything) {
    std::vector<uint8_t> mem(256);
    memslot_table bits(geometry(1, 1, 40, 40));
    EXPECT_FALSE(bits.add(0, 0, slot_over(mem, 0, 0)));
    EXPECT_FALSE(bits.translate(0, 1, 0));
    memslot_table empty(geometry(0, 8, 8, 8));
    EXPECT_FALSE(empty.translate(0, 1, 0));
    memslot_table huge(geometry(0x10000, 0x10000, 8, 8));
    EXPECT_EQ(huge.num_slots(), 0u);
}

TEST(MemslotTable, TranslatePrefixStopsAtTheSlotEnd) {
    guest_memory g(4096);
    const auto t = g.table();
    auto s = t.translate_prefix(guest_memory::phys(4000), 1000, guest_memory::group);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->size(), 96u);
    s = t.translate_prefix(guest_memory::phys(100), 10, guest_memory::group);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->size(), 10u);
    EXPECT_FALSE(t.translate_prefix(guest_memory::phys(4097), 10, guest_memory::group));
    EXPECT_FALSE(t.translate_prefix(guest_memory::phys(64, 3), 10, guest_memory::group));
}

TEST(MemslotTable, CarriesTheDeviceSurfaceCount) {
    const memslot_table t(guest_memory::init_info());
    EXPECT_EQ(t.n_surfaces(), guest_memory::n_surfaces);
}

} // namespace

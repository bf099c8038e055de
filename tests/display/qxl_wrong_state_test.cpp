// A VMM that calls the QXL device in the wrong state: before a primary
// surface exists, twice, on slots and surfaces that do not exist, with
// garbage, while stopped. The specification: every such call returns (no
// crash, no hang), async calls complete their cookie even when refused, and
// the device keeps serving afterwards: a valid primary takes a valid fill,
// which renders and reads back through read_area.
#include "display/qxl_device.hpp"

#include "display/fake_qxl_interface.hpp"
#include "display/guest_memory.hpp"
#include "runtime/cross_shard.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using rs::testing::fake_qxl_interface;
using rs::testing::guest_memory;
using namespace std::chrono_literals;

constexpr uint32_t side = 64;
constexpr size_t primary_bytes = size_t{side} * side * 4;
constexpr auto take_timeout = 10s;
/// How long a stopped device is given to (wrongly) take commands.
constexpr auto idle_wait = 100ms;

class QxlWrongState : public ::testing::Test {
  protected:
    // Built in this order, destroyed the other way: the device before its
    // shard, both before the guest RAM.
    guest_memory ram{size_t{1} << 20};
    QXLPHYSICAL primary_mem = ram.alloc(primary_bytes, 4096);
    fake_qxl_interface vmm{guest_memory::init_info()};
    rs::shard_thread thread{rs::shard_options{.name = "qxl-wrong-state"}};
    rs::qxl_device dev{vmm.instance(), thread.get()};

    template <typename F> auto on_shard(F f) { return dev.sync_call(std::move(f)); }

    QXLDevSurfaceCreate primary() const {
        QXLDevSurfaceCreate c{};
        c.width = side;
        c.height = side;
        c.stride = int32_t(side * 4);
        c.format = SPICE_SURFACE_FMT_32_xRGB;
        c.mem = primary_mem;
        c.group_id = guest_memory::group;
        return c;
    }

    void add_slot() {
        on_shard([m = ram.mem_slot()](rs::qxl_device &d) { d.add_memslot(m); });
    }
    void start() {
        on_shard([](rs::qxl_device &d) { d.start(); });
    }
    bool create_primary(const QXLDevSurfaceCreate &c) {
        return on_shard([c](rs::qxl_device &d) {
            d.create_primary(0, c);
            return d.has_primary();
        });
    }
    bool has_primary() {
        return on_shard([](rs::qxl_device &d) { return d.has_primary(); });
    }
    /// The usual state: slot mapped, running, primary 0 created.
    void bring_up() {
        add_slot();
        start();
        ASSERT_TRUE(create_primary(primary()));
    }

    /// A fill of `colour` over `area` of surface 0, written into guest RAM.
    /// Only while the device is idle: it reads the RAM on its shard.
    QXLCommandExt fill(QXLRect area, uint32_t colour) {
        auto d = guest_memory::drawable(QXL_DRAW_FILL, area);
        d.surface_id = 0;
        d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
        d.u.fill.brush.u.color = colour;
        d.u.fill.rop_descriptor = SPICE_ROPD_OP_PUT;
        return guest_memory::command(QXL_CMD_DRAW, ram.put(d));
    }

    /// Queues the commands, wakes the worker, waits until it has taken and
    /// processed them all.
    ::testing::AssertionResult feed(const std::vector<QXLCommandExt> &cmds) {
        for (const auto &c : cmds)
            vmm.push(c);
        dev.post([](rs::qxl_device &d) { d.wakeup(); });
        if (!vmm.wait_until_taken(take_timeout))
            return ::testing::AssertionFailure() << "the device did not take the commands";
        on_shard([](rs::qxl_device &) {});
        return ::testing::AssertionSuccess();
    }

    /// Pixels of `area` of surface 0 that are not `colour` (all of them when
    /// the surface cannot be read).
    size_t wrong_pixels(QXLRect area, uint32_t colour) {
        const auto px = on_shard([&](rs::qxl_device &d) {
            return d.surfaces().read_area(
                0, rs::draw::rect{area.left, area.top, area.right, area.bottom});
        });
        const size_t all = size_t(area.right - area.left) * size_t(area.bottom - area.top);
        if (!px || px->width * px->height != all) return all;
        size_t wrong = 0;
        for (uint32_t y = 0; y < px->height; ++y)
            for (uint32_t x = 0; x < px->width; ++x) {
                uint32_t v = 0;
                std::memcpy(&v, px->data.data() + size_t{y} * px->stride + size_t{x} * 4, 4);
                if ((v & 0x00ffffff) != colour) ++wrong;
            }
        return wrong;
    }

    /// The device still serves: a fill on the primary renders and is
    /// released, and update_area reports the area.
    ::testing::AssertionResult serves(uint32_t colour = 0x00c0ffee) {
        const QXLRect area = guest_memory::rect(8, 12, 40, 36);
        const size_t released = vmm.releases().size();
        if (auto r = feed({fill(area, colour)}); !r) return r;
        // Reading the canvas renders the pending fill, which releases it.
        if (const size_t w = wrong_pixels(area, colour); w != 0)
            return ::testing::AssertionFailure() << w << " pixels not filled";
        if (vmm.releases().size() != released + 1)
            return ::testing::AssertionFailure() << "the fill was not released";
        const QXLRect dirty = on_shard([&](rs::qxl_device &d) {
            std::array<QXLRect, 2> rects{};
            d.update_area(0, area, rects, true);
            return rects[0];
        });
        if (dirty.left != area.left || dirty.top != area.top || dirty.right != area.right ||
            dirty.bottom != area.bottom)
            return ::testing::AssertionFailure() << "update_area did not report the area";
        return ::testing::AssertionSuccess();
    }
};

TEST_F(QxlWrongState, UpdateAreaBeforeAnyPrimaryReturnsNoDirtyRect) {
    add_slot();
    start();
    const QXLRect area = guest_memory::rect(0, 0, 16, 16);
    const QXLRect dirty = on_shard([&](rs::qxl_device &d) {
        std::array<QXLRect, 2> rects{};
        rects[0] = guest_memory::rect(1, 2, 3, 4);
        d.update_area(0, area, rects, false);
        return rects[0];
    });
    EXPECT_EQ(dirty.right - dirty.left, 0);
    EXPECT_EQ(dirty.bottom - dirty.top, 0);
    // No dirty array at all, and a surface id past n_surfaces.
    on_shard([&](rs::qxl_device &d) {
        d.update_area(0, area, {}, true);
        std::array<QXLRect, 1> r{};
        d.update_area(0xffffffff, area, r, true);
    });
    ASSERT_TRUE(create_primary(primary()));
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, DestroyPrimaryTwiceIsRefusedTheSecondTime) {
    bring_up();
    on_shard([](rs::qxl_device &d) { d.destroy_primary(0); });
    EXPECT_FALSE(has_primary());
    on_shard([](rs::qxl_device &d) { d.destroy_primary(0); });
    EXPECT_FALSE(has_primary());
    ASSERT_TRUE(create_primary(primary()));
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, DestroyPrimaryOfAnotherSurfaceIdLeavesThePrimary) {
    bring_up();
    on_shard([](rs::qxl_device &d) {
        d.destroy_primary(5);
        d.destroy_primary(0xffffffff);
    });
    EXPECT_TRUE(has_primary());
    EXPECT_EQ(on_shard([](rs::qxl_device &d) { return d.primary_id(); }), 0u);
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, CreatePrimaryTwiceWithoutDestroyReplacesIt) {
    bring_up();
    EXPECT_TRUE(serves(0x00112233));
    ASSERT_TRUE(create_primary(primary()));
    EXPECT_TRUE(has_primary());
    EXPECT_TRUE(serves(0x00445566));
}

TEST_F(QxlWrongState, CreatePrimaryOutsideEveryMemslotIsRefused) {
    add_slot();
    start();
    auto unmapped_slot = primary();
    unmapped_slot.mem = guest_memory::phys(guest_memory::offset_of(primary_mem), 5);
    EXPECT_FALSE(create_primary(unmapped_slot));
    auto stale_generation = primary();
    stale_generation.mem =
        guest_memory::phys(guest_memory::offset_of(primary_mem), guest_memory::slot, 7);
    EXPECT_FALSE(create_primary(stale_generation));
    auto past_the_end = primary();
    past_the_end.mem = guest_memory::phys(ram.bytes().size() - primary_bytes / 2);
    EXPECT_FALSE(create_primary(past_the_end));
    auto wrong_group = primary();
    wrong_group.group_id = 9;
    EXPECT_FALSE(create_primary(wrong_group));
    auto huge = primary();
    huge.height = 0x7fffffff;
    huge.stride = -0x7fffffff;
    EXPECT_FALSE(create_primary(huge));

    ASSERT_TRUE(create_primary(primary()));
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, DelMemslotNeverAddedIsIgnored) {
    bring_up();
    on_shard([](rs::qxl_device &d) {
        d.del_memslot(guest_memory::group, 7);
        d.del_memslot(0, 0);
        d.del_memslot(99, 0);
        d.del_memslot(guest_memory::group, 0xffffffff);
    });
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, DrawsThroughADeletedMemslotAreDroppedNotRead) {
    bring_up();
    const QXLRect area = guest_memory::rect(8, 12, 40, 36);
    ASSERT_TRUE(serves(0x000000aa));
    on_shard([](rs::qxl_device &d) { d.del_memslot(guest_memory::group, guest_memory::slot); });
    const size_t released = vmm.releases().size();
    ASSERT_TRUE(feed({fill(area, 0x00bb0000)}));
    // Its address no longer translates: not drawn, and not released either
    // (the QXLReleaseInfo is in the deleted slot).
    EXPECT_EQ(vmm.releases().size(), released);
    EXPECT_EQ(wrong_pixels(area, 0x000000aa), 0u);
    // The primary itself survives; mapping the slot again brings draws back.
    EXPECT_TRUE(has_primary());
    add_slot();
    EXPECT_TRUE(serves(0x0000cc00));
}

TEST_F(QxlWrongState, CommandsAfterResetMemslotsAreDroppedUntilASlotIsAdded) {
    bring_up();
    on_shard([](rs::qxl_device &d) { d.reset_memslots(); });
    const size_t released = vmm.releases().size();
    ASSERT_TRUE(feed({fill(guest_memory::rect(0, 0, 8, 8), 0x00ff0000),
                      guest_memory::command(QXL_CMD_SURFACE, guest_memory::phys(128))}));
    EXPECT_EQ(vmm.releases().size(), released);
    on_shard([](rs::qxl_device &d) { d.reset_memslots(); }); // twice: still fine
    add_slot();
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, LoadvmCommandsWithGarbageAreDropped) {
    bring_up();
    std::vector<QXLCommandExt> garbage;
    garbage.push_back(guest_memory::command(0xff, guest_memory::phys(256)));
    garbage.push_back(guest_memory::command(QXL_CMD_DRAW, 0));
    garbage.push_back(guest_memory::command(QXL_CMD_CURSOR, ~uint64_t{0}));
    garbage.push_back(
        guest_memory::command(QXL_CMD_SURFACE, guest_memory::phys(ram.bytes().size())));
    garbage.push_back(
        guest_memory::command(QXL_CMD_DRAW, guest_memory::phys(ram.bytes().size() - 8)));
    auto in_no_group = guest_memory::command(QXL_CMD_DRAW, guest_memory::phys(512));
    in_no_group.group_id = 1000;
    garbage.push_back(in_no_group);
    // Bytes that are not a drawable, at a valid address.
    std::vector<uint8_t> noise(sizeof(QXLDrawable) + 64);
    for (size_t i = 0; i < noise.size(); ++i)
        noise[i] = uint8_t(i * 37 + 11);
    garbage.push_back(guest_memory::command(QXL_CMD_DRAW, ram.put_bytes(noise)));
    on_shard([&](rs::qxl_device &d) {
        d.loadvm_commands({});
        d.loadvm_commands(garbage);
    });
    EXPECT_TRUE(has_primary());
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, RefusedAsyncCallsStillCompleteTheirCookies) {
    add_slot();
    start();
    auto outside = primary();
    outside.mem = guest_memory::phys(0, 6);
    dev.async_call(1, [](rs::qxl_device &d) { d.destroy_primary(0); });
    dev.async_call(2, [outside](rs::qxl_device &d) { d.create_primary(0, outside); });
    dev.async_call(3, [](rs::qxl_device &d) { d.del_memslot(1, 6); });
    dev.async_call(4, [](rs::qxl_device &d) {
        std::array<QXLRect, 1> r{};
        d.update_area(3, guest_memory::rect(0, 0, 4, 4), r, true);
    });
    dev.async_call(5, [](rs::qxl_device &d) { d.monitors_config(~uint64_t{0}, 1); });
    dev.async_call(6, [](rs::qxl_device &d) { d.destroy_surfaces(); });
    on_shard([](rs::qxl_device &) {});
    EXPECT_EQ(vmm.async_cookies(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
    EXPECT_FALSE(has_primary());
    ASSERT_TRUE(create_primary(primary()));
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, MonitorsConfigOutsideTheSlotsIsIgnored) {
    bring_up();
    on_shard([&](rs::qxl_device &d) {
        d.set_max_monitors(4);
        d.monitors_config(0, guest_memory::group);
        d.monitors_config(guest_memory::phys(0, 5), guest_memory::group);
        d.monitors_config(guest_memory::phys(64), 7);  // a group that does not exist
        d.monitors_config(guest_memory::phys(64), -1); // negative: huge as unsigned
        // The header fits at the end of the slot, the heads do not.
        d.monitors_config(guest_memory::phys(ram.bytes().size() - sizeof(QXLMonitorsConfig)),
                          guest_memory::group);
    });
    // A header whose count is far larger than the heads that fit.
    QXLMonitorsConfig mc{};
    mc.count = 0xffff;
    mc.max_allowed = 0xffff;
    std::vector<uint8_t> b(sizeof mc);
    std::memcpy(b.data(), &mc, sizeof mc);
    const auto at = ram.bytes().size() - sizeof mc - sizeof(QXLHead);
    std::memcpy(ram.host(guest_memory::phys(at)), b.data(), b.size());
    on_shard([&](rs::qxl_device &d) { d.monitors_config(guest_memory::phys(at), 1); });
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, CommandsAreFetchedOnlyAfterStart) {
    add_slot();
    // Never started: commands wait in the ring.
    on_shard([](rs::qxl_device &d) {
        d.wakeup();
        d.oom();
    });
    const QXLRect area = guest_memory::rect(4, 4, 20, 20);
    ASSERT_TRUE(create_primary(primary()));
    vmm.push(fill(area, 0x00010203));
    dev.post([](rs::qxl_device &d) { d.wakeup(); });
    std::this_thread::sleep_for(idle_wait);
    on_shard([](rs::qxl_device &) {});
    EXPECT_EQ(vmm.display_taken(), 0u);

    start();
    ASSERT_TRUE(vmm.wait_until_taken(take_timeout));
    on_shard([](rs::qxl_device &) {});
    EXPECT_EQ(wrong_pixels(area, 0x00010203), 0u);

    // Stopped again (twice): queued commands stay queued until the next start.
    on_shard([](rs::qxl_device &d) {
        d.stop();
        d.stop();
    });
    vmm.push(fill(area, 0x00040506));
    dev.post([](rs::qxl_device &d) { d.wakeup(); });
    std::this_thread::sleep_for(idle_wait);
    on_shard([](rs::qxl_device &) {});
    EXPECT_EQ(vmm.display_taken(), 1u);
    EXPECT_EQ(wrong_pixels(area, 0x00010203), 0u);
    // update_area while stopped does not drain the ring either.
    on_shard([&](rs::qxl_device &d) {
        std::array<QXLRect, 1> r{};
        d.update_area(0, area, r, true);
    });
    EXPECT_EQ(vmm.display_taken(), 1u);

    on_shard([](rs::qxl_device &d) {
        d.start();
        d.start();
    });
    ASSERT_TRUE(vmm.wait_until_taken(take_timeout));
    on_shard([](rs::qxl_device &) {});
    EXPECT_EQ(wrong_pixels(area, 0x00040506), 0u);
    EXPECT_TRUE(serves());
}

TEST_F(QxlWrongState, ShutdownTwiceReturnsAndLaterCallsStillAnswer) {
    bring_up();
    ASSERT_TRUE(serves());
    dev.shutdown();
    dev.shutdown();
    EXPECT_FALSE(has_primary()); // shutdown destroys the surfaces
    // The worker is gone: commands stay in the ring, calls still answer.
    const size_t released = vmm.releases().size();
    vmm.push(fill(guest_memory::rect(0, 0, 4, 4), 0x00ffffff));
    dev.post([](rs::qxl_device &d) { d.wakeup(); });
    dev.async_call(42, [](rs::qxl_device &d) { d.destroy_primary(0); });
    on_shard([](rs::qxl_device &d) { d.start(); });
    std::this_thread::sleep_for(idle_wait);
    on_shard([](rs::qxl_device &) {});
    EXPECT_EQ(vmm.releases().size(), released);
    EXPECT_EQ(vmm.async_cookies(), std::vector<uint64_t>{42});
}

// ---- lazy rendering ------------------------------------------------------------------

TEST_F(QxlWrongState, ADrawableCoveredBeforeItIsNeededIsNeverRendered) {
    bring_up();
    const QXLRect area = guest_memory::rect(4, 4, 60, 50);
    const QXLRect inner = guest_memory::rect(10, 10, 20, 20);
    const size_t released = vmm.releases().size();
    const uint64_t culled = on_shard([](rs::qxl_device &d) { return d.culled_draws(); });
    ASSERT_TRUE(feed({fill(inner, 0x00ff0000), fill(area, 0x000000ff)}));
    // The first fill lies inside the second: it is released unrendered; the
    // second waits until someone needs the pixels.
    EXPECT_EQ(on_shard([](rs::qxl_device &d) { return d.culled_draws(); }), culled + 1);
    EXPECT_EQ(vmm.releases().size(), released + 1);
    EXPECT_EQ(wrong_pixels(area, 0x000000ff), 0u);
    EXPECT_EQ(vmm.releases().size(), released + 2);
}

TEST_F(QxlWrongState, ADrawableNotCoveredIsRenderedInOrder) {
    bring_up();
    const QXLRect big = guest_memory::rect(4, 4, 60, 50);
    const QXLRect small = guest_memory::rect(10, 10, 20, 20);
    const uint64_t culled = on_shard([](rs::qxl_device &d) { return d.culled_draws(); });
    // The later fill covers only part of the earlier one: both are drawn.
    ASSERT_TRUE(feed({fill(big, 0x00ff0000), fill(small, 0x000000ff)}));
    EXPECT_EQ(on_shard([](rs::qxl_device &d) { return d.culled_draws(); }), culled);
    EXPECT_EQ(wrong_pixels(small, 0x000000ff), 0u);
    EXPECT_EQ(wrong_pixels(guest_memory::rect(4, 4, 60, 10), 0x00ff0000), 0u);
}

TEST_F(QxlWrongState, PendingDrawablesAreBounded) {
    bring_up();
    const size_t released = vmm.releases().size();
    std::vector<QXLCommandExt> cmds;
    constexpr int n = 100; // one-pixel fills side by side, none covering another
    for (int i = 0; i < n; ++i)
        cmds.push_back(
            fill(guest_memory::rect(i % 50, i / 50, i % 50 + 1, i / 50 + 1), 0x00102030));
    ASSERT_TRUE(feed(cmds));
    EXPECT_GE(vmm.releases().size(), released + n - rs::qxl_device::max_pending_draws);
    EXPECT_EQ(wrong_pixels(guest_memory::rect(0, 0, 50, 2), 0x00102030), 0u);
    EXPECT_EQ(vmm.releases().size(), released + n);
}

TEST_F(QxlWrongState, ADrawableThatReadsItsSurfaceNeverCullsItsSource) {
    bring_up();
    const QXLRect inner = guest_memory::rect(0, 0, 8, 8);
    const QXLRect whole = guest_memory::rect(0, 0, 32, 32);
    const uint64_t culled = on_shard([](rs::qxl_device &d) { return d.culled_draws(); });
    // A red square, then a copy of surface 0 onto itself, in place, that
    // covers it: the square is also the copy's source, so it must be drawn.
    auto copy = guest_memory::drawable(QXL_DRAW_COPY, whole);
    copy.surface_id = 0;
    copy.u.copy.src_bitmap = ram.surface_image(0);
    copy.u.copy.src_area = whole;
    copy.u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
    ASSERT_TRUE(
        feed({fill(inner, 0x00ff0000), guest_memory::command(QXL_CMD_DRAW, ram.put(copy))}));
    EXPECT_EQ(on_shard([](rs::qxl_device &d) { return d.culled_draws(); }), culled);
    EXPECT_EQ(wrong_pixels(inner, 0x00ff0000), 0u);
}

} // namespace

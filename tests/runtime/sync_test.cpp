#include "runtime/sync.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "runtime/io.hpp"
#include "support/run_task.hpp"

namespace {

using rs::task;
using rs::testing::run_task;

TEST(Event, WaitersResumeAfterSet) {
    auto order = run_task([]() -> task<std::vector<int>> {
        rs::event ev;
        std::vector<int> seen;
        for (int i = 0; i < 3; ++i)
            rs::spawn([](rs::event &e, std::vector<int> &s, int id) -> task<void> {
                co_await e.wait();
                s.push_back(id);
            }(ev, seen, i));
        co_await rs::yield_now{};
        EXPECT_TRUE(seen.empty());
        ev.set();
        co_await rs::yield_now{};
        co_await ev.wait(); // already set: no suspension
        co_return seen;
    }());
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(BoundedQueue, TryPushRefusesWhenFull) {
    rs::shard s;
    rs::bounded_queue<int> q(2);
    EXPECT_TRUE(q.try_push(1));
    EXPECT_TRUE(q.try_push(2));
    EXPECT_FALSE(q.try_push(3));
    EXPECT_EQ(q.size(), 2u);
}

TEST(BoundedQueue, PushWaitsForRoomAndPopForItems) {
    auto got = run_task([]() -> task<std::vector<int>> {
        rs::bounded_queue<int> q(1);
        std::vector<int> out;
        rs::spawn([](rs::bounded_queue<int> &bq) -> task<void> {
            for (int i = 0; i < 5; ++i) {
                auto r = co_await bq.push(i);
                EXPECT_TRUE(r.ok());
            }
            bq.close();
        }(q));
        while (auto v = co_await q.pop())
            out.push_back(*v);
        co_return out;
    }());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(BoundedQueue, CloseWakesWaitersAndFailsPushes) {
    auto r = run_task([]() -> task<std::pair<bool, std::error_code>> {
        rs::bounded_queue<int> q(1);
        bool popped_nothing = false;
        rs::spawn([](rs::bounded_queue<int> &bq, bool &nothing) -> task<void> {
            auto v = co_await bq.pop();
            nothing = !v.has_value();
        }(q, popped_nothing));
        co_await rs::yield_now{};
        q.close();
        co_await rs::yield_now{};
        auto pushed = co_await q.push(1);
        co_return std::pair{popped_nothing, pushed.error()};
    }());
    EXPECT_TRUE(r.first);
    EXPECT_EQ(r.second, rs::errc::closed);
}

TEST(AsyncMutex, WaitersGetTheLockInOrderAndNeverTogether) {
    auto order = run_task([]() -> task<std::vector<int>> {
        rs::async_mutex m;
        std::vector<int> log;
        int holders = 0;
        co_await m.lock();
        for (int i = 0; i < 3; ++i)
            rs::spawn([](rs::async_mutex &mx, std::vector<int> &l, int &h, int id) -> task<void> {
                co_await mx.lock();
                EXPECT_EQ(++h, 1); // alone in the critical section
                co_await rs::yield_now{};
                l.push_back(id);
                --h;
                mx.unlock();
            }(m, log, holders, i));
        EXPECT_FALSE(m.try_lock());
        m.unlock(); // handed to waiter 0, not released
        EXPECT_TRUE(m.locked());
        while (log.size() < 3)
            co_await rs::yield_now{};
        EXPECT_FALSE(m.locked());
        EXPECT_TRUE(m.try_lock());
        m.unlock();
        co_return log;
    }());
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(Gate, CloseWaitsForHoldersAndRefusesNewOnes) {
    auto r = run_task([]() -> task<std::vector<std::string>> {
        rs::gate g;
        std::vector<std::string> log;
        rs::spawn([](rs::gate &gt, std::vector<std::string> &l) -> task<void> {
            rs::gate::holder h(gt);
            EXPECT_TRUE(h.entered());
            co_await rs::sleep_for(std::chrono::milliseconds(2));
            l.emplace_back("worker done");
        }(g, log));
        co_await g.close();
        log.emplace_back("gate closed");
        rs::gate::holder late(g);
        log.emplace_back(late.entered() ? "late entered" : "late refused");
        co_return log;
    }());
    EXPECT_EQ(r, (std::vector<std::string>{"worker done", "gate closed", "late refused"}));
}

} // namespace

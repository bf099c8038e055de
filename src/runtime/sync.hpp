// Coroutine primitives of one shard: event, bounded queue, gate. None is
// thread-safe: each lives on one shard and wakes its waiters through that
// shard's run queue (never inline, so a notifier's stack stays short).
#pragma once

#include <coroutine>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "runtime/result.hpp"
#include "runtime/shard.hpp"
#include "runtime/task.hpp"

namespace rs {

namespace detail {
/// Intrusive list of suspended coroutines waiting on one primitive.
struct waiter {
    std::coroutine_handle<> h;
    waiter *next = nullptr;
};
class waiter_list {
  public:
    void push(waiter *w) noexcept {
        w->next = nullptr;
        if (_tail != nullptr)
            _tail->next = w;
        else
            _head = w;
        _tail = w;
    }
    waiter *pop() noexcept {
        waiter *w = _head;
        if (w != nullptr) {
            _head = w->next;
            if (_head == nullptr) _tail = nullptr;
        }
        return w;
    }
    bool empty() const noexcept { return _head == nullptr; }
    void wake_one() {
        if (waiter *w = pop()) shard::current()->schedule(w->h);
    }
    void wake_all() {
        while (waiter *w = pop())
            shard::current()->schedule(w->h);
    }

  private:
    waiter *_head = nullptr;
    waiter *_tail = nullptr;
};
} // namespace detail

/// A manual-reset event: wait() suspends until set(). Lives on one shard.
///
///     event ready;  ... co_await ready.wait(); ... ready.set();
class event {
  public:
    bool is_set() const noexcept { return _set; }
    void set() {
        _set = true;
        _waiters.wake_all();
    }
    void reset() noexcept { _set = false; }

    struct awaiter : detail::waiter {
        event &e;
        explicit awaiter(event &ev) noexcept
            : e(ev) {}
        bool await_ready() const noexcept { return e._set; }
        void await_suspend(std::coroutine_handle<> c) noexcept {
            h = c;
            e._waiters.push(this);
        }
        void await_resume() const noexcept {}
    };
    awaiter wait() noexcept { return awaiter{*this}; }

  private:
    bool _set = false;
    detail::waiter_list _waiters;
};

/// A FIFO of at most `capacity` items for one consumer and any producers of
/// the same shard. try_push never waits (the send path decides what to drop);
/// push waits for room; pop waits for an item. close() wakes everyone: pushes
/// fail with errc::closed, pop drains what is left and then returns nullopt.
template <typename T> class bounded_queue {
  public:
    explicit bounded_queue(size_t capacity)
        : _capacity(capacity == 0 ? 1 : capacity) {}

    size_t size() const noexcept { return _items.size(); }
    size_t capacity() const noexcept { return _capacity; }
    bool full() const noexcept { return _items.size() >= _capacity; }
    bool closed() const noexcept { return _closed; }

    /// Adds `v` if there is room and the queue is open.
    bool try_push(T v) {
        if (_closed || full()) return false;
        _items.push_back(std::move(v));
        _readers.wake_one();
        return true;
    }

    task<result<void>> push(T v) {
        while (!_closed && full())
            co_await space_awaiter{*this};
        if (_closed) co_return errc::closed;
        _items.push_back(std::move(v));
        _readers.wake_one();
        co_return result<void>{};
    }

    task<std::optional<T>> pop() {
        while (_items.empty() && !_closed)
            co_await item_awaiter{*this};
        co_return try_pop();
    }

    std::optional<T> try_pop() {
        if (_items.empty()) return std::nullopt;
        T v = std::move(_items.front());
        _items.pop_front();
        _writers.wake_one();
        return v;
    }

    /// Items in order, for coalescing (a newer drawable replacing older ones).
    std::deque<T> &items() noexcept { return _items; }

    void close() {
        _closed = true;
        _readers.wake_all();
        _writers.wake_all();
    }

  private:
    struct item_awaiter : detail::waiter {
        bounded_queue &q;
        explicit item_awaiter(bounded_queue &bq) noexcept
            : q(bq) {}
        bool await_ready() const noexcept { return !q._items.empty() || q._closed; }
        void await_suspend(std::coroutine_handle<> c) noexcept {
            h = c;
            q._readers.push(this);
        }
        void await_resume() const noexcept {}
    };
    struct space_awaiter : detail::waiter {
        bounded_queue &q;
        explicit space_awaiter(bounded_queue &bq) noexcept
            : q(bq) {}
        bool await_ready() const noexcept { return !q.full() || q._closed; }
        void await_suspend(std::coroutine_handle<> c) noexcept {
            h = c;
            q._writers.push(this);
        }
        void await_resume() const noexcept {}
    };

    size_t _capacity;
    std::deque<T> _items;
    bool _closed = false;
    detail::waiter_list _readers;
    detail::waiter_list _writers;
};

/// A coroutine mutex of one shard: lock() suspends while another coroutine
/// holds it; unlock() hands it straight to the next waiter (FIFO), which then
/// owns it without re-checking. Streams use it so that concurrent writers
/// never interleave their records or frames on the wire.
///
///     co_await m.lock();  ...  m.unlock();      // or: if (m.try_lock()) {...}
class async_mutex {
  public:
    bool try_lock() noexcept {
        if (_locked) return false;
        _locked = true;
        return true;
    }
    bool locked() const noexcept { return _locked; }
    void unlock() {
        if (detail::waiter *w = _waiters.pop())
            shard::current()->schedule(w->h); // still locked: w owns it now
        else
            _locked = false;
    }

    struct awaiter : detail::waiter {
        async_mutex &m;
        explicit awaiter(async_mutex &mx) noexcept
            : m(mx) {}
        bool await_ready() noexcept { return m.try_lock(); }
        void await_suspend(std::coroutine_handle<> c) noexcept {
            h = c;
            m._waiters.push(this);
        }
        void await_resume() const noexcept {}
    };
    awaiter lock() noexcept { return awaiter{*this}; }

  private:
    bool _locked = false;
    detail::waiter_list _waiters;
};

/// Tracks in-flight work for shutdown (seastar's gate): enter() while open,
/// leave() when done; close() stops new entries and completes when the last
/// one leaves. Lives on one shard.
///
///     if (!g.try_enter()) co_return; gate::holder h(g, adopt);  ...  co_await g.close();
class gate {
  public:
    bool try_enter() noexcept {
        if (_closed) return false;
        ++_count;
        return true;
    }
    void leave() {
        if (--_count == 0 && _closed) _drained.set();
    }
    size_t count() const noexcept { return _count; }
    bool is_closed() const noexcept { return _closed; }

    task<void> close() {
        _closed = true;
        if (_count == 0) _drained.set();
        co_await _drained.wait();
    }

    /// RAII: leaves the gate it entered when destroyed.
    class holder {
      public:
        holder() noexcept = default;
        /// Enters `g`; check `entered()` (false when the gate is closed).
        explicit holder(gate &g) noexcept
            : _g(g.try_enter() ? &g : nullptr) {}
        holder(holder &&o) noexcept
            : _g(std::exchange(o._g, nullptr)) {}
        holder &operator=(holder &&o) noexcept {
            if (this != &o) {
                release();
                _g = std::exchange(o._g, nullptr);
            }
            return *this;
        }
        holder(const holder &) = delete;
        holder &operator=(const holder &) = delete;
        ~holder() { release(); }
        bool entered() const noexcept { return _g != nullptr; }
        void release() {
            if (_g != nullptr) std::exchange(_g, nullptr)->leave();
        }

      private:
        gate *_g = nullptr;
    };

  private:
    size_t _count = 0;
    bool _closed = false;
    event _drained;
};

} // namespace rs

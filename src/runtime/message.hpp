// Messages between threads: a node of an intrusive multi-producer,
// single-consumer queue carrying one callable.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

namespace rs {

/// One unit of work posted to a shard. Owned by the queue while queued and by
/// the shard while it runs; deleted after it has run.
class message {
  public:
    message() = default;
    message(const message &) = delete;
    message &operator=(const message &) = delete;
    virtual ~message() = default;
    virtual void run() = 0;

  private:
    friend class mpsc_queue;
    friend class local_queue;
    std::atomic<message *> _next{nullptr};
};

template <typename F> class fn_message final : public message {
  public:
    explicit fn_message(F f)
        : _f(std::move(f)) {}
    void run() override { _f(); }

  private:
    F _f;
};

template <typename F> std::unique_ptr<message> make_message(F &&f) {
    return std::make_unique<fn_message<std::decay_t<F>>>(std::forward<F>(f));
}

/// Vyukov's intrusive MPSC queue: push is wait-free from any thread, pop is
/// for the owning shard only. pop() may return nullptr while a push is half
/// done; the pusher's wake-up that follows makes the consumer look again.
class mpsc_queue {
  public:
    mpsc_queue() noexcept
        : _head(&_stub)
        , _tail(&_stub) {}
    mpsc_queue(const mpsc_queue &) = delete;
    mpsc_queue &operator=(const mpsc_queue &) = delete;
    ~mpsc_queue() {
        while (message *m = pop())
            delete m;
    }

    void push(message *m) noexcept {
        m->_next.store(nullptr, std::memory_order_relaxed);
        message *prev = _head.exchange(m, std::memory_order_acq_rel);
        prev->_next.store(m, std::memory_order_release);
    }

    message *pop() noexcept {
        message *tail = _tail;
        message *next = tail->_next.load(std::memory_order_acquire);
        if (tail == &_stub) {
            if (next == nullptr) return nullptr;
            _tail = next;
            tail = next;
            next = next->_next.load(std::memory_order_acquire);
        }
        if (next != nullptr) {
            _tail = next;
            return tail;
        }
        if (tail != _head.load(std::memory_order_acquire)) return nullptr;
        push(&_stub);
        next = tail->_next.load(std::memory_order_acquire);
        if (next != nullptr) {
            _tail = next;
            return tail;
        }
        return nullptr;
    }

    /// True when nothing is queued and no push is half done: what pop()
    /// returned nullptr for is really absent. For the owning shard only.
    [[nodiscard]] bool settled() const noexcept {
        // pop() hands out every node but the stub, which it re-links behind
        // the last one: empty is the stub alone at both ends.
        return _tail == &_stub && _head.load(std::memory_order_acquire) == &_stub;
    }

  private:
    struct stub final : message {
        void run() override {}
    };
    std::atomic<message *> _head;
    message *_tail;
    stub _stub;
};

} // namespace rs

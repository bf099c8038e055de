// The shard: one io_uring ring, a run queue of coroutines and the messages
// posted to it, owned by exactly one thread.
#pragma once

#include <liburing.h>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "runtime/message.hpp"

namespace rs {

/// Anything with an SQE in flight. The SQE's user_data points at it and the
/// reap loop calls complete() once per CQE: one line of dispatch.
class completion {
  public:
    virtual void complete(int res, uint32_t flags) noexcept = 0;

  protected:
    completion() = default;
    completion(const completion &) = default;
    completion &operator=(const completion &) = default;
    ~completion() = default;
};

/// What the kernel offered when the ring was set up. Each flag decides one
/// code path; every path has a fallback for kernels without it.
struct shard_features {
    bool single_issuer = false;    ///< the kernel skips cross-thread submit checks
    bool defer_taskrun = false;    ///< completions run only when we ask: no IPIs
    bool coop_taskrun = false;     ///< fallback for defer_taskrun: fewer IPIs
    bool multishot_accept = false; ///< one SQE accepts every connection
    bool multishot_recv = false;   ///< one SQE receives until the buffer ring is empty
    bool buf_ring = false;         ///< provided buffer rings: idle sockets hold no buffer
    bool send_zc = false;          ///< zero-copy send for large payloads
    bool msg_ring = false;         ///< post a CQE straight into another ring
    bool cqe_skip_success = false; ///< fire-and-forget SQEs (cancels) cost no CQE
};

/// Setup knobs of a shard.
struct shard_options {
    std::string name = "shard";
    unsigned entries = 256;
    /// The ring's fd is watched by a foreign event loop (the VMM's), which
    /// calls poll() when it is readable; run() is never called.
    bool host_driven = false;
};

/// One io_uring ring, a run queue and a message queue; owned by the thread
/// that constructs it, which alone may submit, run coroutines or poll.
/// Other threads only post() messages and stop() it.
class shard {
  public:
    explicit shard(shard_options opts = {});
    ~shard();
    shard(const shard &) = delete;
    shard &operator=(const shard &) = delete;

    /// The shard owned by the calling thread, or nullptr. A thread that
    /// drives several host-driven shards (a VMM loop serving many servers)
    /// has the one it is running: see entered.
    static shard *current() noexcept;

    /// While alive, current() is this shard on the calling thread (its
    /// owner); the one before comes back after. poll() enters its shard;
    /// so must code that runs a host-driven shard's work inline from the
    /// host's thread, when that thread owns several shards.
    class entered {
      public:
        explicit entered(shard &s) noexcept;
        ~entered();
        entered(const entered &) = delete;
        entered &operator=(const entered &) = delete;

      private:
        shard *_before;
    };

    const std::string &name() const noexcept { return _opts.name; }
    const shard_features &features() const noexcept { return _features; }
    bool on_owner_thread() const noexcept { return std::this_thread::get_id() == _owner; }

    /// A free SQE, submitting what is queued first if the SQ is full.
    io_uring_sqe *get_sqe();
    /// Queue an ASYNC_CANCEL for the SQE whose user_data is `target`.
    void cancel(const void *target);
    /// Resume `h` on the next turn of the loop (owner thread only).
    void schedule(std::coroutine_handle<> h);

    /// Run `f` on this shard's thread. Callable from any thread; from the
    /// owner it runs on the next turn of the loop, never inline.
    template <typename F> void post(F &&f) { post_message(make_message(std::forward<F>(f))); }
    void post_message(std::unique_ptr<message> m);

    /// Standalone mode: run until stop(); on the owner thread.
    void run();
    /// Any thread: ask run() to return after the current turn.
    void stop();
    bool stopping() const noexcept { return _stop.load(std::memory_order_acquire); }

    /// Host-driven mode: the fd a foreign loop watches for readability.
    int fd() const noexcept { return _ring.ring_fd; }
    /// Host-driven mode: make all progress possible without blocking, then
    /// submit what is pending. Owner thread only.
    void poll();

    /// Counters for tests and benchmarks.
    uint64_t wakeups() const noexcept { return _wakeups; }
    uint64_t completions() const noexcept { return _completions; }

  private:
    class wake_reader;
    void setup_ring();
    void probe();
    void arm_wake();
    size_t reap();
    bool run_ready();
    void drain_messages();
    void submit_pending(bool wait);

    shard_options _opts;
    shard_features _features;
    io_uring _ring{};
    std::thread::id _owner;
    std::deque<std::coroutine_handle<>> _ready;
    mpsc_queue _inbox;
    std::deque<std::unique_ptr<message>> _local;
    std::atomic<bool> _wake_pending{false};
    std::atomic<bool> _stop{false};
    bool _in_loop = false;
    bool _closing = false;
    int _wake_fd = -1;
    std::unique_ptr<wake_reader> _wake;
    uint64_t _wakeups = 0;
    uint64_t _completions = 0;
    shard *_previous = nullptr; // the thread's shard before this one (tests nest)
};

} // namespace rs

#include "runtime/shard.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "runtime/byte_pool.hpp"
#include "runtime/log.hpp"

namespace rs {
namespace {

thread_local shard *t_current = nullptr;

} // namespace

/// The permanent read on the shard's eventfd: a foreign thread's post() writes
/// the eventfd, this read completes, and the loop drains the inbox. Lives as
/// long as the shard; re-armed after every completion.
class shard::wake_reader final : public completion {
  public:
    explicit wake_reader(shard &s)
        : _s(s) {}
    void arm() {
        io_uring_sqe *sqe = _s.get_sqe();
        io_uring_prep_read(sqe, _s._wake_fd, &_value, sizeof(_value), 0);
        io_uring_sqe_set_data(sqe, static_cast<completion *>(this));
    }
    void complete(int res, uint32_t /*flags*/) noexcept override {
        if (res < 0 && res != -EINTR && res != -EAGAIN) {
            RS_LOG_ERROR("runtime", "shard {}: eventfd read failed: {}", _s.name(),
                         std::strerror(-res));
        }
        _woken = true;
        if (!_s._closing) arm();
    }
    bool take_woken() noexcept { return std::exchange(_woken, false); }
    bool woken() const noexcept { return _woken; }

  private:
    shard &_s;
    uint64_t _value = 0;
    bool _woken = false;
};

shard::shard(shard_options opts)
    : _opts(std::move(opts))
    , _owner(std::this_thread::get_id()) {
    setup_ring();
    probe();
    _wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (_wake_fd < 0) {
        io_uring_queue_exit(&_ring);
        throw std::system_error(errno, std::generic_category(), "eventfd");
    }
    _previous = t_current;
    t_current = this;
    _wake = std::make_unique<wake_reader>(*this);
    _wake->arm();
    io_uring_submit(&_ring);
}

shard::~shard() {
    _closing = true;
    // Messages still queued are dropped without running: their owners are
    // going away with this shard.
    io_uring_queue_exit(&_ring);
    ::close(_wake_fd);
    // Handles still in _ready are not destroyed here: frames belong to their
    // tasks, not to the shard.
    if (t_current == this) t_current = _previous;
}

shard *shard::current() noexcept { return t_current; }

shard::entered::entered(shard &s) noexcept
    : _before(t_current) {
    t_current = &s;
}

shard::entered::~entered() { t_current = _before; }

void shard::setup_ring() {
    // Flags in order of preference, each with its reason and fallback:
    // - SINGLE_ISSUER: only this thread submits, the kernel can skip locking.
    // - DEFER_TASKRUN (6.1): completions are processed only when we reap, so
    //   the shard is never interrupted mid-turn. Standalone only: a host-driven
    //   ring must signal readiness on its fd without being entered.
    // - COOP_TASKRUN + TASKRUN_FLAG (5.19): fallback, no IPI per completion.
    // - none: any kernel with io_uring.
    // CQSIZE: multishot accept and zero-copy sends post several CQEs per SQE.
    const unsigned base = IORING_SETUP_CQSIZE;
    const unsigned attempts_standalone[] = {
        base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        base | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, base, 0};
    const unsigned attempts_host[] = {base | IORING_SETUP_SINGLE_ISSUER, base, 0};
    const auto *begin =
        _opts.host_driven ? std::begin(attempts_host) : std::begin(attempts_standalone);
    const auto *end = _opts.host_driven ? std::end(attempts_host) : std::end(attempts_standalone);
    int err = 0;
    for (const auto *f = begin; f != end; ++f) {
        io_uring_params p{};
        p.flags = *f;
        p.cq_entries = _opts.entries * 4;
        err = io_uring_queue_init_params(_opts.entries, &_ring, &p);
        if (err == 0) {
            _features.single_issuer = (p.flags & IORING_SETUP_SINGLE_ISSUER) != 0;
            _features.defer_taskrun = (p.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
            _features.coop_taskrun = (p.flags & IORING_SETUP_COOP_TASKRUN) != 0;
            _features.cqe_skip_success = (p.features & IORING_FEAT_CQE_SKIP) != 0;
            return;
        }
    }
    throw std::system_error(-err, std::generic_category(), "io_uring_queue_init_params");
}

void shard::probe() {
    io_uring_probe *pr = io_uring_get_probe_ring(&_ring);
    if (pr == nullptr) return;
    // The opcode probe names opcodes, not flags; flags came with opcodes of
    // the same release: SOCKET (5.19) with multishot accept and buffer rings,
    // SEND_ZC (6.0) with multishot recv.
    const bool k519 = io_uring_opcode_supported(pr, IORING_OP_SOCKET) != 0;
    const bool k60 = io_uring_opcode_supported(pr, IORING_OP_SEND_ZC) != 0;
    _features.multishot_accept = k519;
    _features.buf_ring = k519;
    _features.multishot_recv = k60;
    _features.send_zc = k60;
    _features.msg_ring = io_uring_opcode_supported(pr, IORING_OP_MSG_RING) != 0;
    io_uring_free_probe(pr);
}

io_uring_sqe *shard::get_sqe() {
    io_uring_sqe *sqe = io_uring_get_sqe(&_ring);
    if (sqe == nullptr) {
        io_uring_submit(&_ring);
        sqe = io_uring_get_sqe(&_ring);
    }
    if (sqe == nullptr) throw std::runtime_error("io_uring submission queue stays full");
    return sqe;
}

void shard::cancel(const void *target) {
    io_uring_sqe *sqe = get_sqe();
    io_uring_prep_cancel(sqe, const_cast<void *>(target), 0); // NOLINT: liburing's signature
    io_uring_sqe_set_data(sqe, nullptr);
    if (_features.cqe_skip_success) sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void shard::schedule(std::coroutine_handle<> h) { _ready.push_back(h); }

void shard::post_message(std::unique_ptr<message> m) {
    if (on_owner_thread() && _in_loop) {
        _local.push_back(std::move(m));
        return;
    }
    _inbox.push(m.release());
    if (!_wake_pending.exchange(true)) {
        const uint64_t one = 1;
        // A full eventfd counter (never in practice) still leaves it readable.
        [[maybe_unused]] const ssize_t n = ::write(_wake_fd, &one, sizeof(one));
    }
}

void shard::stop() {
    _stop.store(true, std::memory_order_release);
    post([] {});
}

void shard::drain_messages() {
    // An exchange, not a store: a poster whose exchange(true) came first and
    // so wrote nothing has its push made visible to the pops below.
    if (_wake->take_woken()) (void)_wake_pending.exchange(false, std::memory_order_acq_rel);
    while (message *m = _inbox.pop()) {
        std::unique_ptr<message> owned(m);
        owned->run();
    }
    // Run only what was queued before this turn: a message that posts another
    // must not starve I/O.
    for (size_t n = _local.size(); n > 0 && !_local.empty(); --n) {
        auto m = std::move(_local.front());
        _local.pop_front();
        m->run();
    }
}

bool shard::run_ready() {
    drain_messages();
    for (size_t n = _ready.size(); n > 0 && !_ready.empty(); --n) {
        auto h = _ready.front();
        _ready.pop_front();
        h.resume();
    }
    return !_ready.empty() || !_local.empty();
}

size_t shard::reap() {
    io_uring_cqe *cqe = nullptr;
    unsigned head = 0;
    size_t n = 0;
    io_uring_for_each_cqe(&_ring, head, cqe) {
        ++n;
        if (auto *c = static_cast<completion *>(io_uring_cqe_get_data(cqe)))
            c->complete(cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&_ring, static_cast<unsigned>(n));
    _completions += n;
    return n;
}

void shard::submit_pending(bool wait) {
    if (wait) {
        ++_wakeups;
        const int r = io_uring_submit_and_wait(&_ring, 1);
        if (r < 0 && r != -EINTR && r != -ETIME)
            RS_LOG_ERROR("runtime", "shard {}: submit_and_wait: {}", name(), std::strerror(-r));
    } else if (_features.defer_taskrun) {
        io_uring_submit_and_get_events(&_ring);
    } else {
        io_uring_submit(&_ring);
    }
}

void shard::run() {
    _in_loop = true;
    while (!_stop.load(std::memory_order_acquire)) {
        const bool busy = run_ready();
        if (_stop.load(std::memory_order_acquire)) break;
        if (!busy) byte_pool::trim_idle(); // it may wait for hours
        submit_pending(!busy);
        reap();
    }
    // Let the turn that saw stop() finish its resumptions, and run every
    // message posted before stop(): pop() gives up on a push that is half
    // done (another thread's post racing stop()'s own), so look again until
    // the inbox has truly settled.
    run_ready();
    while (!_inbox.settled()) {
        std::this_thread::yield();
        run_ready();
    }
    io_uring_submit(&_ring);
    _in_loop = false;
}

void shard::poll() {
    const entered here(*this); // the host thread may drive several shards
    ++_wakeups;
    _in_loop = true;
    for (int round = 0; round < 64; ++round) {
        const bool busy = run_ready();
        io_uring_submit(&_ring);
        const size_t reaped = reap();
        if (!busy && reaped == 0) break;
    }
    io_uring_submit(&_ring);
    _in_loop = false;
    // Work left after the bounded rounds — what run_ready left, or what the
    // last round's completions woke (a coroutine, or posted messages): nudge
    // our own fd so the host loop calls again soon instead of us holding its
    // thread. Nothing else would: the completions are reaped, so the ring
    // is not readable. Written even when a wake-up is pending: its
    // completion may be among those just reaped.
    const bool left = !_ready.empty() || !_local.empty() || _wake->woken();
    if (left) {
        _wake_pending.store(true);
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(_wake_fd, &one, sizeof(one));
    }
}

} // namespace rs

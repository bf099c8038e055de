// The pool of display shards: threads with a ring each, shared by the QXL
// devices of the process (one per device up to one per core).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/cross_shard.hpp"

namespace rs {

/// Owns the display shard threads of the process. A VMM with one QXL device
/// gets one display thread, as with the reference; a host running many
/// small VMs in one process shares `max_shards` threads among them. Thread-
/// safe: devices are added from VMM threads.
class display_shards {
  public:
    /// The process-wide pool (created on first use, joined at exit).
    static display_shards &instance();

    /// The shard a new device should live on: `with`, the shard of another
    /// device of the same server (its display channels share each client's
    /// caches, which live on one shard); else a new thread while fewer than
    /// max_shards exist, else the least loaded one.
    shard &acquire(shard *with = nullptr);
    /// The device that acquired `s` is gone.
    void release(shard &s);

    size_t size() const;
    static size_t default_max_shards();

  private:
    struct entry {
        std::unique_ptr<shard_thread> thread;
        size_t devices = 0;
    };
    mutable std::mutex _mutex;
    std::vector<entry> _shards;
    size_t _max = default_max_shards();
};

} // namespace rs

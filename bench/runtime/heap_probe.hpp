// Heap accounting for the idle-connection measurement: mallinfo2 totals and a
// histogram of operator new sizes while a window is open. The program
// replaces the global operator new (heap_probe.cpp) only to feed this
// histogram; outside a window it costs one relaxed load per allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rs::bench {

/// Bytes the process's malloc hands out right now (all arenas, including
/// chunks it mmap'd for large requests).
size_t heap_in_use() noexcept;

/// One allocation size seen in a window, in order of first appearance.
struct alloc_size {
    size_t size;
    uint64_t count;
};

/// Counts operator new calls by size between open() and close(), from every
/// thread of the process. One window at a time; process-wide state.
class heap_window {
  public:
    static void open() noexcept;
    static std::vector<alloc_size> close();
};

} // namespace rs::bench

// The pictures the VDI benchmark's synthetic VMs draw (issue 7): a desktop
// that stays still (idle), text lines typed into an editor (office), a web
// page scrolled without copy-bits (scroll) and a panned photo (video). All
// content is generated in-process from a seed, and what can be is generated
// once at start-up and shared by every VM of the same size, so the driver's
// own CPU per frame stays small next to the server's.
#pragma once

#include "fake_qxl.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace rs::bench::vdi {

/// What a VM draws (see the file comment); a value type.
enum class workload_kind : uint8_t { idle, office, scroll, video };

/// The kind named `idle`, `office`, `scroll` or `video`.
std::optional<workload_kind> workload_named(std::string_view name);
const char *workload_name(workload_kind kind) noexcept;

/// A small deterministic PRNG (splitmix64): phases, jitter and text.
class rng {
  public:
    explicit rng(uint64_t seed) noexcept
        : _state(seed) {}
    uint64_t next() noexcept;
    /// Uniform in [0, n), n > 0.
    uint32_t below(uint32_t n) noexcept { return static_cast<uint32_t>(next() % n); }

  private:
    uint64_t _state;
};

/// The read-only pictures workloads scroll or pan over, built on first use
/// once per surface size and shared by the VMs of one process. Main-loop
/// thread only.
struct shared_assets {
    std::map<std::pair<int, int>, demo::bitmap_ptr> scroll_pages;    // by (width, height)
    std::map<std::pair<int, int>, demo::bitmap_ptr> video_panoramas; // by (width, height)
};

/// One VM's frame source. `first_paint` is the full paint right after the
/// primary surface is created (no marker, not counted as a frame);
/// `next_frame` the drawables of the next frame (the caller appends the
/// marker). Neither touches the marker pixel (0, H-1). Bitmaps the ops name
/// may be reused by the next call: the device copies them into guest memory
/// on submit. Main-loop thread only.
class workload {
  public:
    virtual ~workload() = default;
    virtual void first_paint(std::vector<demo::draw_op> &ops) = 0;
    virtual void next_frame(std::vector<demo::draw_op> &ops) = 0;
    /// Milliseconds until the frame after the one just drawn (jitter
    /// included); 0 when the workload draws no frames after the first paint.
    virtual unsigned interval_ms() = 0;
    /// The nominal frame period in ms (0: no frames), for the start phase.
    virtual unsigned period_ms() const noexcept = 0;
};

/// Builds (or reuses from `assets`) what the workload needs for a `width` x
/// `height` surface; `seed` varies the text, phase and jitter of this VM.
/// `assets` must outlive the workload.
std::unique_ptr<workload> make_workload(workload_kind kind, int width, int height, uint64_t seed,
                                        shared_assets &assets);

} // namespace rs::bench::vdi

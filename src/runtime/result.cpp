#include "runtime/result.hpp"

#include <string>

namespace rs {
namespace {

class runtime_category_impl final : public std::error_category {
  public:
    const char *name() const noexcept override { return "ringspice"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::eof:
            return "end of stream";
        case errc::cancelled:
            return "cancelled";
        case errc::timed_out:
            return "timed out";
        case errc::closed:
            return "closed";
        case errc::protocol:
            return "protocol error";
        case errc::not_supported:
            return "not supported";
        }
        return "unknown error";
    }
};

} // namespace

const std::error_category &runtime_category() noexcept {
    static const runtime_category_impl cat;
    return cat;
}

bool is_disconnect(const std::error_code &ec) noexcept {
    if (ec == errc::eof) return true;
    return ec == std::errc::connection_reset || ec == std::errc::broken_pipe ||
           ec == std::errc::connection_aborted || ec == std::errc::not_connected;
}

} // namespace rs

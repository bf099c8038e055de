#include "usbredir/spicevmc.hpp"

#include "runtime/log.hpp"

namespace rs {

std::unique_ptr<char_device_handler> attach_spicevmc(server &, SpiceCharDeviceInstance *,
                                                     char_device_kind kind) {
    RS_LOG_WARN("spicevmc", "char device kind {} is not served yet", static_cast<int>(kind));
    return nullptr;
}

} // namespace rs

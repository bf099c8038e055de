#include "reds/agent.hpp"

#include "runtime/log.hpp"

namespace rs {

std::unique_ptr<char_device_handler> attach_agent(server &, SpiceCharDeviceInstance *) {
    RS_LOG_WARN("agent", "the vdagent device is not served yet");
    return nullptr;
}

} // namespace rs

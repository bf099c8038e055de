#include "reds/char_device.hpp"

#include "runtime/log.hpp"

namespace rs {

void char_device_handler::port_event(uint8_t event) {
    RS_LOG_DEBUG("chardev", "port event {} on a device that is not a port: ignored", event);
}

} // namespace rs

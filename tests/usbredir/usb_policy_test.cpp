// The USB device policy: usbredirfilter rules as libusbredirparser reads and
// applies them, and the watch that finds the device a client redirects in
// its usbredir stream, however the bytes are split.
#include "usbredir/usb_policy.hpp"

#include <gtest/gtest.h>

#include "usbredir_packets.hpp"

namespace {

using namespace rs::testing;

/// The client's stream up to a device_connect: hello, interface_info,
/// ep_info and a bulk packet (skipped by length), device_connect.
usb_bytes client_stream(bool wide, uint16_t vendor, uint16_t product) {
    return usb_hello("spice-gtk test host") + usb_interface_info({0x08}, wide) +
           usb_packet(usb_redir_ep_info, usb_bytes(32 * 3 + 32 * 2 + 32 * 4, 0), wide, 7) +
           usb_packet(usb_redir_bulk_packet, usb_bytes(3000, 0xab), wide, 8) +
           usb_device_connect(0x00, vendor, product, wide);
}

TEST(usbredir_watch, finds_the_device_in_a_stream_fed_byte_by_byte) {
    rs::usbredir_watch w;
    for (uint8_t b : usb_hello("qemu usb-redir guest"))
        w.from_guest(std::span(&b, 1));
    std::vector<rs::usb_device_info> found;
    for (uint8_t b : client_stream(/*wide=*/true, 0x1234, 0x5678)) {
        auto r = w.from_client(std::span(&b, 1));
        ASSERT_TRUE(r);
        found.insert(found.end(), r->begin(), r->end());
    }
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].vendor_id, 0x1234);
    EXPECT_EQ(found[0].product_id, 0x5678);
    EXPECT_EQ(found[0].device_version_bcd, 0x0100);
    EXPECT_EQ(found[0].interface_class, std::vector<uint8_t>{0x08});
}

TEST(usbredir_watch, ids_stay_32_bit_when_the_guest_lacks_the_cap) {
    rs::usbredir_watch w;
    w.from_guest(usb_hello("old guest", 1u << usb_redir_cap_connect_device_version));
    auto r = w.from_client(client_stream(/*wide=*/false, 0xdead, 0xbeef));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].vendor_id, 0xdead);
    // Framed with 64-bit ids instead, the same device is not found whole.
    rs::usbredir_watch w2;
    w2.from_guest(usb_hello("old guest", 1u << usb_redir_cap_connect_device_version));
    auto r2 = w2.from_client(client_stream(/*wide=*/true, 0xdead, 0xbeef));
    EXPECT_TRUE(!r2 || r2->empty() || (*r2)[0].vendor_id != 0xdead);
}

TEST(usbredir_watch, a_stream_that_is_not_usbredir_is_an_error) {
    rs::usbredir_watch w;
    w.from_guest(usb_hello("qemu"));
    EXPECT_FALSE(w.from_client(usb_device_connect(0, 1, 2, false))); // no hello first
    rs::usbredir_watch big;
    EXPECT_FALSE(big.from_client(usb_packet(usb_redir_hello, usb_bytes(5000, 0), false)));
    rs::usbredir_watch short_hello;
    EXPECT_FALSE(short_hello.from_client(usb_packet(usb_redir_hello, usb_bytes(10, 0), false)));
    rs::usbredir_watch many;
    many.from_guest(usb_hello("qemu"));
    usb_bytes info(4 + 128, 0);
    info[0] = 33; // more interfaces than the packet has slots
    EXPECT_FALSE(
        many.from_client(usb_hello("host") + usb_packet(usb_redir_interface_info, info, true)));
}

TEST(usb_policy, rules_allow_and_refuse_as_libusbredirparser_does) {
    EXPECT_FALSE(rs::usb_policy::parse("not a filter"));
    auto p = rs::usb_policy::parse("-1,0x1234,0x5678,-1,1|0x08,-1,-1,-1,0");
    ASSERT_TRUE(p);
    rs::usb_device_info ok;
    ok.vendor_id = 0x1234;
    ok.product_id = 0x5678;
    ok.interface_class = {0x03};
    ok.interface_subclass = {0};
    ok.interface_protocol = {0};
    EXPECT_FALSE(p->refusal(ok));
    rs::usb_device_info storage = ok;
    storage.vendor_id = 0xdead;
    storage.interface_class = {0x08};
    auto why = p->refusal(storage);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("blocked"), std::string::npos) << *why;
    rs::usb_device_info other = ok;
    other.vendor_id = 0xdead; // no rule matches: refused too
    EXPECT_TRUE(p->refusal(other));
}

} // namespace

// Several servers in one VMM process, all host-driven by the same loop
// thread (a host running many small VMs in one process, as the VDI
// benchmark's shared mode does): each server's control shard must be the
// current one while its work runs. Before the fix, every shard but the last
// created queued its I/O on the last one's ring, and links to the other
// servers were never read.
#include "shim/vmm_loop.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>

#include <memory>
#include <vector>

namespace {

using rs::testing::link_main;
using rs::testing::shim_server;
using rs::testing::spice_test_client;
using rs::testing::vmm_loop;

TEST(ServersInOneProcess, EveryServerLinksItsClientsNotOnlyTheLastCreated) {
    vmm_loop vmm;
    std::vector<std::unique_ptr<shim_server>> servers;
    for (int i = 0; i < 3; ++i) {
        servers.push_back(std::make_unique<shim_server>(vmm));
        ASSERT_TRUE(servers.back()->ok());
    }
    // The first server first: the one whose shard is furthest from current.
    for (auto &srv : servers) {
        spice_test_client main_c;
        uint32_t sid = 0;
        bool listed = false;
        vmm.run([&] {
            sid = link_main(main_c, srv->port());
            if (sid != 0 && main_c.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS))
                listed = main_c.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST).has_value();
        });
        EXPECT_NE(sid, 0u) << "no MAIN_INIT from the server on port " << srv->port();
        EXPECT_TRUE(listed) << "no CHANNELS_LIST from the server on port " << srv->port();
    }
}

} // namespace

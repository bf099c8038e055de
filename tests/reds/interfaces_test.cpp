#include "reds/interfaces.hpp"

#include <string_view>

#include <gtest/gtest.h>

// Real instance structs from <spice.h> with interface tables whose callbacks
// are all null: the registry must never call them. Return values are those
// of the reference's spice_server_add_interface / remove_interface.

namespace rs {
namespace {

SpiceBaseInterface base(const char *type, uint32_t major, uint32_t minor) {
    return SpiceBaseInterface{type, "test", major, minor};
}

struct fake_tables {
    SpiceKbdInterface kbd{base(SPICE_INTERFACE_KEYBOARD, SPICE_INTERFACE_KEYBOARD_MAJOR,
                               SPICE_INTERFACE_KEYBOARD_MINOR),
                          nullptr, nullptr};
    SpiceMouseInterface mouse{
        base(SPICE_INTERFACE_MOUSE, SPICE_INTERFACE_MOUSE_MAJOR, SPICE_INTERFACE_MOUSE_MINOR),
        nullptr, nullptr};
    SpiceTabletInterface tablet{
        base(SPICE_INTERFACE_TABLET, SPICE_INTERFACE_TABLET_MAJOR, SPICE_INTERFACE_TABLET_MINOR),
        nullptr, nullptr, nullptr, nullptr};
    QXLInterface qxl{};
    SpicePlaybackInterface playback{base(SPICE_INTERFACE_PLAYBACK, SPICE_INTERFACE_PLAYBACK_MAJOR,
                                         SPICE_INTERFACE_PLAYBACK_MINOR)};
    SpiceRecordInterface record{
        base(SPICE_INTERFACE_RECORD, SPICE_INTERFACE_RECORD_MAJOR, SPICE_INTERFACE_RECORD_MINOR)};
    SpiceCharDeviceInterface chr{};
    SpiceMigrateInterface migrate{base(SPICE_INTERFACE_MIGRATION, SPICE_INTERFACE_MIGRATION_MAJOR,
                                       SPICE_INTERFACE_MIGRATION_MINOR),
                                  nullptr, nullptr};
    fake_tables() {
        qxl.base = base(SPICE_INTERFACE_QXL, SPICE_INTERFACE_QXL_MAJOR, SPICE_INTERFACE_QXL_MINOR);
        chr.base = base(SPICE_INTERFACE_CHAR_DEVICE, SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
                        SPICE_INTERFACE_CHAR_DEVICE_MINOR);
    }
};

QXLInstance make_qxl(const QXLInterface &sif, int id) {
    QXLInstance q{};
    q.base.sif = &sif.base;
    q.id = id;
    return q;
}

SpiceCharDeviceInstance make_char(const SpiceCharDeviceInterface &sif, const char *subtype,
                                  const char *portname = nullptr) {
    SpiceCharDeviceInstance c{};
    c.base.sif = &sif.base;
    c.subtype = subtype;
    c.portname = portname;
    return c;
}

class InterfaceRegistry : public ::testing::Test {
  protected:
    fake_tables t;
    interface_registry reg;
};

TEST_F(InterfaceRegistry, RecordsOneInstanceOfEachInputKind) {
    SpiceKbdInstance kbd{{&t.kbd.base}, nullptr};
    SpiceMouseInstance mouse{{&t.mouse.base}, nullptr};
    SpiceTabletInstance tablet{{&t.tablet.base}, nullptr};
    EXPECT_EQ(reg.add_interface(&kbd.base), 0);
    EXPECT_EQ(reg.add_interface(&mouse.base), 0);
    EXPECT_EQ(reg.add_interface(&tablet.base), 0);
    EXPECT_EQ(reg.keyboard(), &kbd);
    EXPECT_EQ(reg.mouse(), &mouse);
    EXPECT_EQ(reg.tablet(), &tablet);

    SpiceKbdInstance kbd2{{&t.kbd.base}, nullptr};
    SpiceMouseInstance mouse2{{&t.mouse.base}, nullptr};
    SpiceTabletInstance tablet2{{&t.tablet.base}, nullptr};
    EXPECT_EQ(reg.add_interface(&kbd2.base), -1);
    EXPECT_EQ(reg.add_interface(&mouse2.base), -1);
    EXPECT_EQ(reg.add_interface(&tablet2.base), -1);
    EXPECT_EQ(reg.keyboard(), &kbd);
}

TEST_F(InterfaceRegistry, VersionMustMatchMajorAndNotExceedMinor) {
    struct row {
        const char *type;
        uint32_t major, minor;
    };
    for (row r : {row{SPICE_INTERFACE_KEYBOARD, 1, 1}, row{SPICE_INTERFACE_MOUSE, 1, 1},
                  row{SPICE_INTERFACE_TABLET, 1, 1}, row{SPICE_INTERFACE_QXL, 3, 3},
                  row{SPICE_INTERFACE_PLAYBACK, 1, 3}, row{SPICE_INTERFACE_RECORD, 2, 3},
                  row{SPICE_INTERFACE_CHAR_DEVICE, 1, 3}, row{SPICE_INTERFACE_MIGRATION, 1, 1}}) {
        // A QXL instance needs its id; for the other kinds a char device
        // instance works, since the registry reads only `subtype` past base.
        auto add_fresh = [&](const SpiceBaseInterface *sif) {
            interface_registry fresh;
            QXLInstance qxl{};
            qxl.base.sif = sif;
            SpiceCharDeviceInstance chr{};
            chr.base.sif = sif;
            chr.subtype = "usbredir";
            return fresh.add_interface(std::string_view(r.type) == SPICE_INTERFACE_QXL ? &qxl.base
                                                                                       : &chr.base);
        };
        SpiceBaseInterface newer_minor = base(r.type, r.major, r.minor + 1);
        SpiceBaseInterface other_major = base(r.type, r.major + 1, 0);
        SpiceBaseInterface older_major = base(r.type, r.major - 1, r.minor);
        for (const SpiceBaseInterface *sif : {&newer_minor, &other_major, &older_major})
            EXPECT_EQ(add_fresh(sif), -1)
                << r.type << ' ' << sif->major_version << '.' << sif->minor_version;
        SpiceBaseInterface oldest_minor = base(r.type, r.major, 0);
        SpiceBaseInterface newest = base(r.type, r.major, r.minor);
        EXPECT_EQ(add_fresh(&oldest_minor), 0) << r.type << " minor 0";
        EXPECT_EQ(add_fresh(&newest), 0) << r.type << " header minor";
    }
}

TEST_F(InterfaceRegistry, QxlIdsMustBeNonNegativeAndUnique) {
    QXLInstance a = make_qxl(t.qxl, 0), b = make_qxl(t.qxl, 1), dup = make_qxl(t.qxl, 0),
                neg = make_qxl(t.qxl, -1);
    EXPECT_EQ(reg.add_interface(&a.base), 0);
    EXPECT_EQ(reg.add_interface(&b.base), 0);
    EXPECT_EQ(reg.add_interface(&dup.base), -1);
    EXPECT_EQ(reg.add_interface(&neg.base), -1);
    ASSERT_EQ(reg.qxls().size(), 2u);
    EXPECT_EQ(reg.qxl_by_id(1), &b);
    EXPECT_EQ(reg.qxl_by_id(2), nullptr);

    EXPECT_EQ(reg.remove_interface(&a.base), 0);
    EXPECT_EQ(reg.qxl_by_id(0), nullptr);
    EXPECT_EQ(reg.add_interface(&dup.base), 0); // the id is free again
    EXPECT_EQ(reg.remove_interface(&a.base), -1);
}

TEST_F(InterfaceRegistry, SeveralPlaybackAndRecordInstancesAreAllowed) {
    SpicePlaybackInstance p1{{&t.playback.base}, nullptr}, p2{{&t.playback.base}, nullptr};
    SpiceRecordInstance r1{{&t.record.base}, nullptr};
    EXPECT_EQ(reg.add_interface(&p1.base), 0);
    EXPECT_EQ(reg.add_interface(&p2.base), 0);
    EXPECT_EQ(reg.add_interface(&r1.base), 0);
    EXPECT_EQ(reg.playbacks().size(), 2u);
    EXPECT_EQ(reg.records().size(), 1u);
    EXPECT_EQ(reg.remove_interface(&p1.base), 0);
    EXPECT_EQ(reg.remove_interface(&p1.base), 0); // the reference returns 0 regardless
    EXPECT_EQ(reg.playbacks().size(), 1u);
    EXPECT_EQ(reg.remove_interface(&r1.base), 0);
    EXPECT_TRUE(reg.records().empty());
}

TEST_F(InterfaceRegistry, CharDevicesAreClassifiedBySubtypeAndPortName) {
    auto agent = make_char(t.chr, "vdagent");
    auto card = make_char(t.chr, "smartcard");
    auto usb = make_char(t.chr, "usbredir");
    auto webdav = make_char(t.chr, "port", "org.spice-space.webdav.0");
    auto stream = make_char(t.chr, "port", "org.spice-space.stream.0");
    auto port = make_char(t.chr, "port", "org.qemu.monitor.qmp.0");
    for (auto *c : {&agent, &card, &usb, &webdav, &stream, &port})
        EXPECT_EQ(reg.add_interface(&c->base), 0) << c->subtype;
    ASSERT_EQ(reg.char_devices().size(), 6u);
    EXPECT_EQ(reg.char_devices()[0].kind, char_device_kind::vdagent);
    EXPECT_EQ(reg.char_devices()[1].kind, char_device_kind::smartcard);
    EXPECT_EQ(reg.char_devices()[2].kind, char_device_kind::usbredir);
    EXPECT_EQ(reg.char_devices()[3].kind, char_device_kind::webdav);
    EXPECT_EQ(reg.char_devices()[4].kind, char_device_kind::stream);
    EXPECT_EQ(reg.char_devices()[5].kind, char_device_kind::port);
    EXPECT_EQ(reg.vdagent(), &agent);
}

TEST_F(InterfaceRegistry, CharDeviceFailuresAreDroppedButReportSuccess) {
    auto agent = make_char(t.chr, "vdagent");
    auto agent2 = make_char(t.chr, "vdagent");
    auto unknown = make_char(t.chr, "serial");
    auto null_subtype = make_char(t.chr, nullptr);
    EXPECT_EQ(reg.add_interface(&agent.base), 0);
    EXPECT_EQ(reg.add_interface(&agent2.base), 0);
    EXPECT_EQ(reg.add_interface(&unknown.base), 0);
    EXPECT_EQ(reg.add_interface(&null_subtype.base), 0);
    EXPECT_EQ(reg.add_interface(&agent.base), 0);
    ASSERT_EQ(reg.char_devices().size(), 1u);
    EXPECT_EQ(reg.vdagent(), &agent);

    EXPECT_EQ(reg.remove_interface(&agent2.base), -1); // never registered
    EXPECT_EQ(reg.remove_interface(&agent.base), 0);
    EXPECT_EQ(reg.vdagent(), nullptr);
    EXPECT_EQ(reg.add_interface(&agent2.base), 0);
    EXPECT_EQ(reg.vdagent(), &agent2);
}

TEST_F(InterfaceRegistry, SecondMigrationIsRefusedBeforeItsVersionIsChecked) {
    SpiceMigrateInstance m1{{&t.migrate.base}, nullptr}, m2{{&t.migrate.base}, nullptr};
    EXPECT_EQ(reg.add_interface(&m1.base), 0);
    EXPECT_EQ(reg.migration(), &m1);
    EXPECT_EQ(reg.add_interface(&m2.base), -1);
    SpiceBaseInterface bad = base(SPICE_INTERFACE_MIGRATION, 9, 9);
    SpiceMigrateInstance m3{{&bad}, nullptr};
    EXPECT_EQ(reg.add_interface(&m3.base), -1);
    EXPECT_EQ(reg.migration(), &m1);
}

TEST_F(InterfaceRegistry, UnknownTypesAreIgnoredWithSuccess) {
    SpiceBaseInterface core = base(SPICE_INTERFACE_CORE, 1, 3);
    SpiceBaseInterface odd = base("vnc", 1, 0);
    SpiceBaseInstance a{&core}, b{&odd};
    EXPECT_EQ(reg.add_interface(&a), 0);
    EXPECT_EQ(reg.add_interface(&b), 0);
    EXPECT_EQ(reg.remove_interface(&b), -1);
}

TEST_F(InterfaceRegistry, NullInstancesAreRefused) {
    EXPECT_EQ(reg.add_interface(nullptr), -1);
    EXPECT_EQ(reg.remove_interface(nullptr), -1);
    SpiceBaseInstance no_sif{nullptr};
    EXPECT_EQ(reg.add_interface(&no_sif), -1);
    SpiceBaseInterface no_type = base(nullptr, 1, 0);
    SpiceBaseInstance untyped{&no_type};
    EXPECT_EQ(reg.add_interface(&untyped), -1);
}

TEST_F(InterfaceRegistry, TabletRemovalNeedsTheRegisteredInstance) {
    SpiceTabletInstance tab{{&t.tablet.base}, nullptr}, other{{&t.tablet.base}, nullptr};
    EXPECT_EQ(reg.remove_interface(&tab.base), -1);
    ASSERT_EQ(reg.add_interface(&tab.base), 0);
    EXPECT_EQ(reg.remove_interface(&other.base), -1);
    EXPECT_EQ(reg.remove_interface(&tab.base), 0);
    EXPECT_EQ(reg.tablet(), nullptr);
    EXPECT_EQ(reg.add_interface(&other.base), 0);
}

TEST_F(InterfaceRegistry, KeyboardMouseAndMigrationCannotBeRemoved) {
    SpiceKbdInstance kbd{{&t.kbd.base}, nullptr};
    SpiceMouseInstance mouse{{&t.mouse.base}, nullptr};
    SpiceMigrateInstance mig{{&t.migrate.base}, nullptr};
    ASSERT_EQ(reg.add_interface(&kbd.base), 0);
    ASSERT_EQ(reg.add_interface(&mouse.base), 0);
    ASSERT_EQ(reg.add_interface(&mig.base), 0);
    EXPECT_EQ(reg.remove_interface(&kbd.base), -1);
    EXPECT_EQ(reg.remove_interface(&mouse.base), -1);
    EXPECT_EQ(reg.remove_interface(&mig.base), -1);
    EXPECT_EQ(reg.keyboard(), &kbd);
}

TEST_F(InterfaceRegistry, CoreInterfaceNeedsMajorOneAnyMinor) {
    SpiceCoreInterface core{};
    core.base = base(SPICE_INTERFACE_CORE, 1, 0);
    EXPECT_EQ(interface_registry::check_core_interface(&core), 0);
    core.base.minor_version = 99;
    EXPECT_EQ(interface_registry::check_core_interface(&core), 0);
    core.base.major_version = 2;
    EXPECT_EQ(interface_registry::check_core_interface(&core), -1);
    core.base.major_version = 0;
    EXPECT_EQ(interface_registry::check_core_interface(&core), -1);
    EXPECT_EQ(interface_registry::check_core_interface(nullptr), -1);
}

TEST_F(InterfaceRegistry, VersionAtLeastGatesOptionalCallbacks) {
    SpiceBaseInterface q32 = base(SPICE_INTERFACE_QXL, 3, 2);
    SpiceBaseInstance inst{&q32};
    EXPECT_TRUE(interface_registry::version_at_least(&inst, 3, 2));
    EXPECT_FALSE(interface_registry::version_at_least(&inst, 3, 3));
    EXPECT_TRUE(interface_registry::version_at_least(&inst, 2, 9));
}

TEST_F(InterfaceRegistry, RecognizedCharSubtypesMatchDebiansBuild) {
    const char **s = interface_registry::recognized_char_subtypes();
    ASSERT_NE(s, nullptr);
    EXPECT_STREQ(s[0], "vdagent");
    EXPECT_STREQ(s[1], "smartcard");
    EXPECT_STREQ(s[2], "usbredir");
    EXPECT_EQ(s[3], nullptr);
}

} // namespace
} // namespace rs

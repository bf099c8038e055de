// rs_echo_bench: TCP echo over loopback, the ringspice runtime against a
// plain epoll server in the same program and under the same client, then the
// heap each server spends per idle connection. Prints a table and one line
// per figure for an issue note. Loopback only, bounded, exits by itself.
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "echo_servers.hpp"
#include "heap_probe.hpp"
#include "load_client.hpp"
#include "runtime/task.hpp"

namespace {

using namespace std::chrono_literals;
using namespace rs::bench;

struct options {
    unsigned connections = 100;
    std::vector<size_t> sizes{64, 4096};
    double seconds = 5;
    double warmup = 1;
    unsigned depth = 1;
    unsigned rounds = 3;
    size_t idle = 10000;
    std::vector<std::string> servers{"ringspice", "epoll"};
    unsigned ring_buffers = 256;
    size_t buffer_size = 4096;
};

constexpr std::string_view usage = R"(usage: rs_echo_bench [options]

TCP echo over 127.0.0.1: the ringspice runtime (one shard thread, one
coroutine per connection, recv_select on a shared buffer ring) against a
plain level-triggered epoll server (one thread), both driven by the same
epoll client thread. Then the server heap per idle connection.

  --connections N    concurrent connections for throughput (100)
  --sizes A,B,...    message sizes in bytes (64,4096)
  --seconds T        measured seconds per run (5)
  --warmup W         warm-up seconds before each window (1)
  --depth D          messages in flight per connection; 1 = ping-pong (1)
  --rounds R         rounds per size, servers interleaved; medians reported (3)
  --idle N           idle connections for the memory figure; 0 skips it (10000)
  --servers LIST     of ringspice, ringspice-plain, epoll (ringspice,epoll)
  --ring-buffers N   buffers in ringspice's ring, a power of two (256)
  --buffer-size B    ring buffer size = epoll/plain recv buffer size (4096)
  --help             this text

Runs take about sizes x rounds x servers x (warmup + seconds); a watchdog ends the
program if it overruns that by a minute.
)";

[[noreturn]] void die(const std::string &msg) {
    std::fprintf(stderr, "rs_echo_bench: %s\n", msg.c_str());
    std::exit(1);
}

template <typename T> T number(const char *flag, const char *v) {
    char *end = nullptr;
    const double d = std::strtod(v, &end);
    if (end == v || *end != '\0' || d < 0) die(fmt::format("{} wants a number, got '{}'", flag, v));
    return static_cast<T>(d);
}

std::vector<std::string> split(const std::string &s) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at <= s.size()) {
        const size_t comma = s.find(',', at);
        const size_t end = comma == std::string::npos ? s.size() : comma;
        if (end > at) out.push_back(s.substr(at, end - at));
        at = end + 1;
    }
    return out;
}

options parse(int argc, char **argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(usage.data(), stdout);
            std::exit(0);
        }
        if (i + 1 >= argc) die(fmt::format("{} needs a value (see --help)", a));
        const char *v = argv[++i];
        if (a == "--connections")
            o.connections = number<unsigned>(a.c_str(), v);
        else if (a == "--sizes") {
            o.sizes.clear();
            for (auto &s : split(v))
                o.sizes.push_back(number<size_t>(a.c_str(), s.c_str()));
        } else if (a == "--seconds")
            o.seconds = number<double>(a.c_str(), v);
        else if (a == "--warmup")
            o.warmup = number<double>(a.c_str(), v);
        else if (a == "--depth")
            o.depth = number<unsigned>(a.c_str(), v);
        else if (a == "--rounds")
            o.rounds = number<unsigned>(a.c_str(), v);
        else if (a == "--idle")
            o.idle = number<size_t>(a.c_str(), v);
        else if (a == "--servers")
            o.servers = split(v);
        else if (a == "--ring-buffers")
            o.ring_buffers = number<unsigned>(a.c_str(), v);
        else if (a == "--buffer-size")
            o.buffer_size = number<size_t>(a.c_str(), v);
        else
            die(fmt::format("unknown option {} (see --help)", a));
    }
    for (auto &s : o.servers)
        if (s != "ringspice" && s != "ringspice-plain" && s != "epoll")
            die(fmt::format("unknown server '{}'", s));
    for (size_t s : o.sizes)
        if (s == 0) die("message sizes must be positive");
    if (o.connections == 0 || o.depth == 0 || o.rounds == 0 || o.seconds <= 0 ||
        o.servers.empty() || o.sizes.empty())
        die("connections, depth, seconds, servers and sizes must be non-empty/positive");
    return o;
}

std::unique_ptr<echo_server> start(const std::string &name, const options &o) {
    if (name == "epoll") return start_epoll_server(o.buffer_size);
    return start_ringspice_server({.buffer_ring = name == "ringspice",
                                   .ring_buffers = o.ring_buffers,
                                   .buffer_size = o.buffer_size});
}

bool wait_for(const echo_server &s, size_t want, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (s.connections() != want) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

/// One server at one message size over all rounds; figures are medians, so
/// a round disturbed by another process on the machine does not decide.
struct run_figure {
    std::string server;
    size_t size = 0;
    std::vector<load_result> rounds;
    static double rate(const load_result &r) {
        return r.seconds > 0 ? double(r.messages) / r.seconds : 0;
    }
    double msgs() const {
        std::vector<double> v;
        for (auto &r : rounds)
            v.push_back(rate(r));
        return median(v);
    }
    double lowest() const {
        double m = rounds.empty() ? 0 : rate(rounds[0]);
        for (auto &r : rounds)
            m = std::min(m, rate(r));
        return m;
    }
    double highest() const {
        double m = 0;
        for (auto &r : rounds)
            m = std::max(m, rate(r));
        return m;
    }
    double mbps() const { return msgs() * double(size) / 1e6; }
    double cpu_ns_per_msg() const {
        std::vector<double> v;
        for (auto &r : rounds)
            if (r.messages > 0) v.push_back(r.server_cpu_s * 1e9 / double(r.messages));
        return median(v);
    }
};

struct idle_figure {
    std::string server;
    double heap_per_conn = 0;
    std::string allocations; // per-connection operator new sizes, in order
    double frames_per_conn = 0;
    std::string detail;
};

run_figure *find(std::vector<run_figure> &v, const std::string &server, size_t size) {
    for (auto &f : v)
        if (f.server == server && f.size == size) return &f;
    return nullptr;
}

extern "C" void on_watchdog(int) {
    const char msg[] = "rs_echo_bench: watchdog: the run overran its time bound, aborting\n";
    [[maybe_unused]] const ssize_t n = ::write(2, msg, sizeof(msg) - 1);
    ::_exit(3);
}

} // namespace

int main(int argc, char **argv) {
    const options o = parse(argc, argv);

    // Descriptors: this process holds the servers' ends of the idle
    // connections and both ends of the throughput ones; the connector child
    // holds the idle clients' ends (it inherits the limit at fork).
    std::string why;
    const size_t needed = std::max(o.idle, size_t{o.connections} * 2) + 256;
    if (!raise_fd_limit(needed, why)) die(why);

    const double per_run = o.warmup + o.seconds + 5;
    const auto bound =
        static_cast<unsigned>(double(o.sizes.size() * o.servers.size()) * per_run +
                              (o.idle > 0 ? 70.0 * double(o.servers.size()) : 0.0) + 60);
    ::signal(SIGALRM, on_watchdog);
    ::alarm(bound);

    // Fork before any thread exists.
    idle_connector connector = idle_connector::create(o.idle);

    utsname u{};
    ::uname(&u);
    fmt::print("rs_echo_bench: loopback TCP echo, {} connections, depth {} ({}), {} round(s) of "
               "{} s warm-up + {} s per server and size\n",
               o.connections, o.depth, o.depth == 1 ? "ping-pong" : "pipelined", o.rounds, o.warmup,
               o.seconds);
    fmt::print("host: Linux {} on {} CPUs; server 1 thread, client 1 thread\n", u.release,
               std::thread::hardware_concurrency());

    // ---- throughput ----
    std::vector<run_figure> runs;
    std::vector<std::string> details;
    for (size_t size : o.sizes)
        for (const auto &name : o.servers)
            runs.push_back({name, size, {}});
    // Rounds interleave the servers so that a slow spell of the machine
    // falls on both.
    for (size_t size : o.sizes) {
        for (unsigned round = 0; round < o.rounds; ++round) {
            for (const auto &name : o.servers) {
                const long frames = rs::live_task_frames();
                auto srv = start(name, o);
                if (size == o.sizes.front() && round == 0)
                    details.push_back(name + ": " + srv->detail());
                load_options lo{.port = srv->port(),
                                .connections = o.connections,
                                .message_size = size,
                                .depth = o.depth,
                                .warmup_s = o.warmup,
                                .seconds = o.seconds,
                                .server_cpu = srv->cpu_clock()};
                load_result r = run_load(lo);
                if (!r.error.empty())
                    die(fmt::format("{} at {} B: client: {}", name, size, r.error));
                if (r.mismatches != 0)
                    die(fmt::format("{} at {} B: {} echoed runs differ from what was sent", name,
                                    size, r.mismatches));
                wait_for(*srv, 0, 10s);
                srv->stop();
                if (rs::live_task_frames() != frames)
                    die(fmt::format("{}: {} task frames leaked", name,
                                    rs::live_task_frames() - frames));
                find(runs, name, size)->rounds.push_back(r);
            }
        }
    }

    for (auto &d : details)
        fmt::print("  {}\n", d);
    fmt::print("\n{:>6}  {:<16} {:>10} {:>19} {:>8} {:>7} {:>11}\n", "size", "server", "msgs/s",
               "(min..max)", "MB/s", "ratio", "srv ns/msg");
    for (size_t size : o.sizes) {
        const run_figure *base = find(runs, "epoll", size);
        for (const auto &name : o.servers) {
            const run_figure *f = find(runs, name, size);
            const std::string ratio = base != nullptr && name != "epoll" && base->msgs() > 0
                                          ? fmt::format("{:.2f}", f->msgs() / base->msgs())
                                          : "";
            fmt::print("{:>6}  {:<16} {:>10.0f} {:>19} {:>8.1f} {:>7} {:>11.0f}\n", size, name,
                       f->msgs(), fmt::format("({:.0f}..{:.0f})", f->lowest(), f->highest()),
                       f->mbps(), ratio, f->cpu_ns_per_msg());
        }
    }
    fmt::print("(medians of {} interleaved rounds. MB/s: echoed payload, one direction. ratio: "
               "msgs/s against epoll. srv ns/msg: server thread CPU time per echo, kernel "
               "included.)\n",
               o.rounds);

    // ---- heap per idle connection ----
    std::vector<idle_figure> idles;
    if (o.idle > 0) {
        for (const auto &name : o.servers) {
            auto srv = start(name, o);
            std::this_thread::sleep_for(100ms); // the accept SQE is armed, setup is done
            const long frames0 = rs::live_task_frames();
            const size_t heap0 = rs::bench::heap_in_use();
            heap_window::open();
            const std::string err = connector.open(srv->port(), o.idle);
            if (!err.empty()) die(fmt::format("{}: idle connections: {}", name, err));
            if (!wait_for(*srv, o.idle, 30s))
                die(fmt::format("{}: accepted only {} of {} idle connections in 30 s", name,
                                srv->connections(), o.idle));
            std::this_thread::sleep_for(200ms); // every receive armed, nothing in flight
            const size_t heap1 = rs::bench::heap_in_use();
            const long frames1 = rs::live_task_frames();
            const auto sizes = heap_window::close();
            idle_figure f;
            f.server = name;
            f.heap_per_conn = (double(heap1) - double(heap0)) / double(o.idle);
            f.frames_per_conn = double(frames1 - frames0) / double(o.idle);
            for (const auto &a : sizes) {
                // Sizes allocated about once per connection. A container
                // block of the same size (the run queue's deque uses 512 B
                // blocks) can add to a count: hence the multiplier.
                if (a.count >= o.idle * 99 / 100) {
                    const double per = double(a.count) / double(o.idle);
                    f.allocations +=
                        fmt::format("{}{} B", f.allocations.empty() ? "" : " + ", a.size);
                    if (per > 1.005) f.allocations += fmt::format(" (x{:.2f})", per);
                }
            }
            if (f.allocations.empty()) f.allocations = "none";
            f.detail = srv->detail();
            connector.close_all();
            if (!wait_for(*srv, 0, 30s)) die(fmt::format("{}: idle connections did not end", name));
            srv->stop();
            idles.push_back(f);
        }
        fmt::print("\nidle connections: {} (opened by a child process: its heap is not ours)\n",
                   o.idle);
        fmt::print("{:<16} {:>14} {:>14}  {}\n", "server", "heap B/conn", "task frames",
                   "operator new per connection");
        for (auto &f : idles)
            fmt::print("{:<16} {:>14.0f} {:>14.2f}  {}\n", f.server, f.heap_per_conn,
                       f.frames_per_conn, f.allocations);
        fmt::print("(heap: mallinfo2 uordblks+hblkhd delta around the accepts, server process "
                   "only; kernel socket memory excluded. ringspice's buffer ring is mmap'd "
                   "once, shared, and not heap.)\n");
    }

    // ---- lines to paste ----
    fmt::print("\n");
    bool ratio_goal = true, heap_goal = true;
    bool ratio_known = false, heap_known = false;
    for (size_t size : o.sizes) {
        const run_figure *rsf = find(runs, "ringspice", size);
        const run_figure *ep = find(runs, "epoll", size);
        std::string line =
            fmt::format("echo {} B x {} conns (depth {}, median of {} x {} s):", size,
                        o.connections, o.depth, o.rounds, o.seconds);
        for (const auto &name : o.servers) {
            const run_figure *f = find(runs, name, size);
            line += fmt::format(" {} {:.0f} msg/s ({:.1f} MB/s);", name, f->msgs(), f->mbps());
        }
        if (rsf != nullptr && ep != nullptr && ep->msgs() > 0) {
            const double ratio = rsf->msgs() / ep->msgs();
            line += fmt::format(" ratio ringspice/epoll {:.2f}", ratio);
            if (size == 64) {
                ratio_known = true;
                ratio_goal = ratio >= 1.0;
                line += fmt::format(" [goal >= 1.0: {}]", ratio_goal ? "met" : "NOT met");
            }
        }
        fmt::print("{}\n", line);
    }
    for (auto &f : idles) {
        std::string line = fmt::format("idle heap/conn ({} conns): {} {:.0f} B", o.idle, f.server,
                                       f.heap_per_conn);
        if (f.server == "ringspice") {
            heap_known = true;
            heap_goal = f.heap_per_conn <= 4096;
            line += fmt::format(" [goal <= 4096 B: {}]", heap_goal ? "met" : "NOT met");
        }
        fmt::print("{}\n", line);
        if (f.server.rfind("ringspice", 0) == 0)
            fmt::print("{} per-connection allocations: {} (connection coroutine frame, then the "
                       "rs::spawn wrapper frame); {:.2f} task frames/conn\n",
                       f.server, f.allocations, f.frames_per_conn);
    }
    if (ratio_known || heap_known)
        fmt::print("goals: {}\n", (ratio_goal && heap_goal) ? "met" : "NOT all met");
    return 0;
}

// Port analysis rules: the statistics, the allocator fingerprint, range inference, occupancy with
// TIME_WAIT, and the kinds of reuse. Connections are given as the tracker would record them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "test_endpoints.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "ephemera/analysis/duration_histogram.hpp"
#include "ephemera/analysis/findings.hpp"
#include "ephemera/analysis/ports.hpp"
#include "ephemera/analysis/statistics.hpp"
#include "ephemera/analysis/summary.hpp"

namespace ephemera {
namespace {

constexpr Micros second = 1'000'000;
constexpr Micros t0 = 1'700'000'000 * second;

using test::endpoint;

enum class Close { by_client, by_server, reset, still_open };

// A TCP connection from 198.18.0.1:port to 198.18.0.server_host:server_port.
Connection connection(std::uint16_t port, Micros start, Micros end = 0,
                      Close close = Close::by_client, std::uint8_t server_host = 2,
                      std::uint16_t server_port = 8080) {
    Connection c;
    c.protocol = Protocol::tcp;
    c.endpoint = {endpoint(1, port), endpoint(server_host, server_port)};
    c.first_seen = start;
    c.last_seen = end == 0 ? start + second / 10 : end;
    c.syn_side = 0;
    c.syn_ack_side = 1;
    c.packets = {5, 4};
    switch (close) {
        case Close::by_client:
        case Close::by_server: {
            const int first = close == Close::by_client ? 0 : 1;
            c.set_fin(0);
            c.set_fin(1);
            c.first_fin_side = static_cast<std::int8_t>(first);
            c.close_time = c.last_seen - 1;
            break;
        }
        case Close::reset:
            c.rst_side = 1;
            c.close_time = c.last_seen;
            break;
        case Close::still_open:
            break;
    }
    return c;
}

// Connections as the log keeps them, each with its role settled: side 0 is the client, as the
// SYN's sender (also for the UDP flows some tests make of these).
struct Log : ConnectionRecords {
    Log() = default;
    Log(std::initializer_list<Connection> connections) {
        for (const Connection& c : connections) push_back(c);
    }
    void push_back(const Connection& c) {
        ConnectionRecord& record = add(c);
        record.client_side = 0;
        record.role_reason = RoleReason::syn;
        record.role_from_handshake = true;
    }
};

std::vector<const ConnectionRecord*> pointers(const ConnectionRecords& records) {
    std::vector<const ConnectionRecord*> result;
    for (const ConnectionRecord& record : records) result.push_back(&record);
    return result;
}

ClientPorts analyze(const ConnectionRecords& records, Micros capture_end,
                    PortAnalysisOptions options = {}) {
    return analyze_client_ports(records, endpoint(1, 0).address, pointers(records), capture_end,
                                options);
}

// A deterministic stand-in for random draws.
struct Lcg {
    std::uint64_t state;
    std::uint32_t next() {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::uint32_t>(state >> 33);
    }
};

TEST(Statistics, WilsonLowerBound) {
    EXPECT_EQ(wilson_lower_bound(0, 0), 0.0);
    EXPECT_NEAR(wilson_lower_bound(10, 10), 0.7225, 1e-3);
    EXPECT_NEAR(wilson_lower_bound(50, 100), 0.4038, 1e-3);
    EXPECT_LT(wilson_lower_bound(19, 20), wilson_lower_bound(190, 200)) << "more data, more sure";
}

TEST(Statistics, KolmogorovSmirnovTellsUniformFromClustered) {
    std::vector<double> spread;
    for (int i = 0; i < 50; ++i) spread.push_back(i * 20.0 + 10);
    EXPECT_GT(uniform_ks_p_value(spread, 0, 1000), 0.5);
    std::vector<double> clustered;
    for (int i = 0; i < 50; ++i) clustered.push_back(i * 2.0);
    EXPECT_LT(uniform_ks_p_value(clustered, 0, 1000), 0.01);
}

// A port set gives what a std::set of the same ports does, as a list and once it is a bitmap.
TEST(PortSet, ListedAndAsABitmapItHoldsTheDistinctPortsInOrder) {
    PortSet ports;
    std::set<std::uint16_t> expected;
    Lcg random{7};
    std::vector<std::uint16_t> in_order;
    for (int i = 0; i < 20'000; ++i) {
        const auto port = static_cast<std::uint16_t>(random.next() % 9000 + 30000);
        ports.add(port);
        expected.insert(port);
        if (i == 100 || i == 19'999) {  // a list at 100, a bitmap by the end
            ASSERT_EQ(ports.distinct(), expected.size()) << i;
            ports.in_order(in_order);
            EXPECT_TRUE(
                std::equal(in_order.begin(), in_order.end(), expected.begin(), expected.end()))
                << i;
            EXPECT_EQ(ports.added(), static_cast<std::uint64_t>(i + 1));
        }
    }
    ports.clear();
    EXPECT_EQ(ports.distinct(), 0u);
    EXPECT_EQ(ports.added(), 0u);
}

// The exact median: the middle value, or the mean of the two middle ones.
double exact_median(std::vector<Micros> values) {
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    if (values.size() % 2 == 1) return static_cast<double>(values[middle]);
    return (static_cast<double>(values[middle - 1]) + static_cast<double>(values[middle])) / 2;
}

TEST(DurationHistogram, SmallCountsAreExactWhereTheValuesAreAlike) {
    DurationHistogram histogram;
    EXPECT_EQ(histogram.median(), 0);
    for (const Micros value : {3, 1, 2}) histogram.add(value);
    EXPECT_EQ(histogram.median(), 2);
    histogram.add(4);
    EXPECT_EQ(histogram.median(), 2.5);
    DurationHistogram alike;  // every value the same: read back exactly, not as its bucket's
    for (int i = 0; i < 5; ++i) alike.add(60'000'000);
    EXPECT_EQ(alike.median(), 60'000'000);
    DurationHistogram zeros;
    for (const Micros value : {0, 0, 7'000'000}) zeros.add(value);
    EXPECT_EQ(zeros.median(), 0);
    EXPECT_EQ(zeros.min(), 0);
    EXPECT_EQ(zeros.max(), 7'000'000);
}

// Every rank of a million durations spread from a microsecond to a day, listed and then dense,
// read back within 0.1% of the exact value at that rank; the median too.
TEST(DurationHistogram, EveryRankIsWithinTheRelativeAccuracy) {
    std::mt19937_64 random(23);
    std::vector<Micros> values;
    DurationHistogram histogram;
    for (int i = 0; i < 100'000; ++i) {
        // Log-uniform over 12 decades, and a tenth of them zero.
        const double exponent = std::uniform_real_distribution<double>(0, 11)(random);
        const Micros value = i % 10 == 0 ? 0 : static_cast<Micros>(std::pow(10.0, exponent));
        values.push_back(value);
        histogram.add(value);
        if (i == 50) {  // while the buckets are still listed
            std::vector<Micros> sorted = values;
            std::sort(sorted.begin(), sorted.end());
            for (std::size_t rank = 0; rank < sorted.size(); ++rank) {
                ASSERT_NEAR(histogram.at_rank(rank), static_cast<double>(sorted[rank]),
                            static_cast<double>(sorted[rank]) * 0.001);
            }
        }
    }
    std::vector<Micros> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(histogram.count(), sorted.size());
    EXPECT_EQ(histogram.min(), sorted.front());
    EXPECT_EQ(histogram.max(), sorted.back());
    for (std::size_t rank = 0; rank < sorted.size(); rank += 97) {
        ASSERT_NEAR(histogram.at_rank(rank), static_cast<double>(sorted[rank]),
                    static_cast<double>(sorted[rank]) * 0.001)
            << "rank " << rank;
    }
    const double median = exact_median(values);
    EXPECT_NEAR(histogram.median(), median, median * 0.001);
}

TEST(Fingerprint, TooFewConnectionsIsUnknown) {
    Log records;
    for (int i = 0; i < 19; ++i) records.push_back(connection(50000 + i, t0 + i * second));
    EXPECT_EQ(fingerprint_allocation(pointers(records)).pattern, AllocationPattern::unknown);
}

// The OS profiles named, as an allocation's os_hint holds them.
TableSet profiles_named(std::initializer_list<std::string_view> names) {
    TableSet set;
    for (const std::string_view name : names) {
        for (std::size_t index = 0; index < os_profiles().size(); ++index) {
            if (os_profiles()[index].name == name) set.add(index);
        }
    }
    return set;
}

TEST(Fingerprint, GlobalCounterAcrossDestinationsIsSequential) {
    Log records;
    for (int i = 0; i < 40; ++i) {
        records.push_back(connection(50000 + i, t0 + i * second, 0, Close::by_client,
                                     static_cast<std::uint8_t>(2 + i % 3)));
    }
    const AllocationFingerprint result = fingerprint_allocation(pointers(records));
    EXPECT_EQ(result.pattern, AllocationPattern::sequential);
    EXPECT_GT(result.confidence, 0.8);
    EXPECT_EQ(profile_names(result.os_hint), "macos or windows");  // 50000+ lies in the IANA range
}

TEST(Fingerprint, LinuxStepsPerDestinationAreUnrelatedAcross) {
    Lcg random{42};
    std::uint16_t next_port[2] = {34000, 52000};
    Log records;
    for (int i = 0; i < 40; ++i) {
        const int destination = i % 2;
        records.push_back(connection(next_port[destination], t0 + i * second / 10, 0,
                                     Close::by_client, static_cast<std::uint8_t>(2 + destination)));
        next_port[destination] += static_cast<std::uint16_t>(2 + 2 * (random.next() % 8));
    }
    const AllocationFingerprint result = fingerprint_allocation(pointers(records));
    EXPECT_EQ(result.pattern, AllocationPattern::per_destination);
    EXPECT_EQ(result.even_share, 1.0);
    EXPECT_EQ(profile_names(result.os_hint), "linux");
}

TEST(Fingerprint, UniformDrawsAreRandom) {
    Lcg random{7};
    Log records;
    for (int i = 0; i < 60; ++i) {
        records.push_back(
            connection(static_cast<std::uint16_t>(10000 + random.next() % 55536), t0 + i * second));
    }
    EXPECT_EQ(fingerprint_allocation(pointers(records)).pattern, AllocationPattern::random);
}

TEST(Range, PortsUsedOverAndOverAreTheWholeRange) {
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 40; ++i) ports.push_back(static_cast<std::uint16_t>(40000 + i % 8));
    const RangeEstimate estimate = infer_range(ports, AllocationPattern::unknown, {});
    EXPECT_EQ(estimate.basis_name(), "observed");
    EXPECT_EQ(estimate.evidence, RangeEvidence::cycled);
    EXPECT_EQ(estimate.ports_seen, 8u);
    EXPECT_EQ(estimate.allocations, 40u);
    EXPECT_EQ(estimate.range.low, 40000);
    EXPECT_EQ(estimate.range.high, 40007);
}

TEST(Range, FewPortsInsideADefaultTakeThatDefault) {
    const std::vector<std::uint16_t> ports = {33000, 36000, 41000, 45000, 52000};
    const RangeEstimate estimate =
        infer_range(ports, AllocationPattern::per_destination, profiles_named({"linux"}));
    EXPECT_EQ(estimate.basis_name(), "linux");
    EXPECT_EQ(estimate.evidence, RangeEvidence::os_default);
    EXPECT_EQ(default_names(estimate.fits), std::vector<std::string_view>{"linux"});
    EXPECT_EQ(estimate.range.size(), 28232u);
    const std::vector<std::uint16_t> high_ports = {50000, 50001, 50002};
    EXPECT_EQ(
        infer_range(high_ports, AllocationPattern::sequential, profiles_named({"macos", "windows"}))
            .basis_name(),
        "iana");
    const std::vector<std::uint16_t> xp_ports = {1100, 1101, 4000};
    EXPECT_EQ(infer_range(xp_ports, AllocationPattern::unknown, {}).basis_name(), "windows-xp");
}

// With no allocator to go by, every default that holds the ports is named, narrowest first.
TEST(Range, EveryDefaultThatFitsIsNamed) {
    const std::vector<std::uint16_t> ports = {50000, 52000, 55000};
    const RangeEstimate estimate = infer_range(ports, AllocationPattern::unknown, {});
    EXPECT_EQ(estimate.basis_name(), "iana");
    const std::vector<std::string_view> fits = {"iana", "linux", "solaris", "freebsd"};
    EXPECT_EQ(default_names(estimate.fits), fits);
    EXPECT_EQ(estimate.seen.low, 50000);
    EXPECT_EQ(estimate.seen.high, 55000);
}

// The range and the OS hint agree: a random allocator points to FreeBSD or Solaris, so the range
// is one of theirs, not Linux's (narrower, but Linux does not allocate at random). Random ports
// that fill only half of FreeBSD's range are not FreeBSD's.
TEST(Range, TheRangeIsOneOfTheHintedSystems) {
    Lcg random{11};
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 40; ++i)
        ports.push_back(static_cast<std::uint16_t>(32768 + random.next() % 28232));
    const RangeEstimate estimate =
        infer_range(ports, AllocationPattern::random, profiles_named({"freebsd", "solaris"}));
    EXPECT_EQ(estimate.basis_name(), "solaris");
    EXPECT_EQ(default_names(estimate.fits), std::vector<std::string_view>{"solaris"});
}

TEST(Range, NoPortsNoRange) {
    const RangeEstimate estimate = infer_range({}, AllocationPattern::unknown, {});
    EXPECT_EQ(estimate.evidence, RangeEvidence::none);
    EXPECT_EQ(estimate.basis_name(), "unknown");
    EXPECT_EQ(estimate.ports_seen, 0u);
}

TEST(Range, RandomPortsClusteredInsideADefaultAreNotFromIt) {
    Lcg random{3};
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 30; ++i)
        ports.push_back(static_cast<std::uint16_t>(20000 + random.next() % 1000));
    const RangeEstimate estimate =
        infer_range(ports, AllocationPattern::random, profiles_named({"freebsd", "solaris"}));
    EXPECT_EQ(estimate.basis_name(), "observed");
    EXPECT_LE(estimate.range.low, *std::min_element(ports.begin(), ports.end()));
    EXPECT_GE(estimate.range.high, *std::max_element(ports.begin(), ports.end()));
    EXPECT_LE(estimate.range.size(), 2 * 1000u) << "never more than twice the observed span";
}

TEST(Range, NoDefaultHoldsThePortsSoEstimateFromThem) {
    const std::vector<std::uint16_t> ports = {2000, 20000, 40000, 64000};
    const RangeEstimate estimate = infer_range(ports, AllocationPattern::unknown, {});
    EXPECT_EQ(estimate.basis_name(), "observed");
    EXPECT_EQ(estimate.evidence, RangeEvidence::estimated);
    EXPECT_LE(estimate.range.low, 2000);
    EXPECT_GE(estimate.range.high, 64000);
}

TEST(Occupancy, ClientClosingFirstHoldsTimeWait) {
    // Three connections one after another, each closed by the client before the next.
    const Log records = {connection(40000, t0), connection(40002, t0 + second),
                         connection(40004, t0 + 2 * second)};
    const ClientPorts result = analyze(records, t0 + 3 * second);
    const DestinationOccupancy& destination = result.exhaustion.destinations.at(0);
    EXPECT_EQ(destination.peak_open, 1u);
    EXPECT_EQ(destination.peak_occupied, 3u);
    EXPECT_EQ(destination.peak_at, t0 + 2 * second);
    EXPECT_EQ(destination.peak_new_per_s, 1.0);
}

// The series over time is for the HTML plots: without it, every number is the same.
TEST(Occupancy, SeriesOnlyWhenAskedForAndNumbersTheSameWithout) {
    Log records;
    for (int i = 0; i < 40; ++i) {
        records.push_back(connection(static_cast<std::uint16_t>(40000 + 2 * i), t0 + i * 1000, 0,
                                     i % 3 == 0 ? Close::by_server : Close::by_client));
    }
    PortAnalysisOptions options;
    const ExhaustionStats with = analyze(records, t0 + second, options).exhaustion;
    options.occupancy_series = false;
    const ExhaustionStats without = analyze(records, t0 + second, options).exhaustion;
    ASSERT_EQ(with.destinations.size(), 1u);
    ASSERT_EQ(without.destinations.size(), 1u);
    EXPECT_FALSE(with.destinations[0].occupied_series.empty());
    EXPECT_TRUE(without.destinations[0].occupied_series.empty());
    EXPECT_EQ(without.destinations[0].peak_occupied, with.destinations[0].peak_occupied);
    EXPECT_EQ(without.destinations[0].peak_at, with.destinations[0].peak_at);
    EXPECT_EQ(without.destinations[0].peak_open, with.destinations[0].peak_open);
    EXPECT_EQ(without.utilization, with.utilization);
    EXPECT_EQ(without.peak_occupied_total, with.peak_occupied_total);
}

TEST(Occupancy, EachDestinationCountsItsOwnAndTheClientAll) {
    // To 2:8080 the client closes first three times (each port then waits out TIME_WAIT); to
    // 3:443, between them, the server closes first twice.
    const Log records = {connection(40000, t0),
                         connection(40002, t0 + second / 2, 0, Close::by_server, 3, 443),
                         connection(40004, t0 + second),
                         connection(40006, t0 + 3 * second / 2, 0, Close::by_server, 3, 443),
                         connection(40008, t0 + 2 * second)};
    const ExhaustionStats stats = analyze(records, t0 + 3 * second).exhaustion;
    ASSERT_EQ(stats.destinations.size(), 2u);
    const DestinationOccupancy& web = stats.destinations[0];  // the fuller one first
    const DestinationOccupancy& tls = stats.destinations[1];
    EXPECT_EQ(web.server, endpoint(2, 8080));
    EXPECT_EQ(web.connections, 3u);
    EXPECT_EQ(web.peak_occupied, 3u);
    EXPECT_EQ(web.peak_at, t0 + 2 * second);
    EXPECT_EQ(tls.server, endpoint(3, 443));
    EXPECT_EQ(tls.connections, 2u);
    EXPECT_EQ(tls.peak_occupied, 1u);
    EXPECT_EQ(tls.peak_at, t0 + second / 2);
    EXPECT_EQ(stats.peak_open_total, 1u);
    // At 1.5 s: two ports in TIME_WAIT to 2:8080 and one open to 3:443.
    EXPECT_EQ(stats.peak_occupied_total, 3u);
}

// A 4-tuple taken over while its TIME_WAIT is held (tcp_tw_reuse) frees the port then: the sweep's
// expiry for the old TIME_WAIT's end is stale from there on, and must not free a port again when
// its time comes.
TEST(Occupancy, ATakeoverEndsTheTimeWaitOnceOnly) {
    const Log records = {
        connection(40000, t0, t0 + second),                         // TIME_WAIT to t0 + 61 s
        connection(40000, t0 + 10 * second, 0, Close::by_server),   // takes the 4-tuple over
        connection(40002, t0 + 20 * second, t0 + 21 * second),      // TIME_WAIT to t0 + 81 s
        connection(40004, t0 + 70 * second, 0, Close::still_open),  // after the stale end
        connection(40006, t0 + 70 * second, 0, Close::still_open)};
    const ClientPorts ports = analyze(records, t0 + 90 * second);
    EXPECT_EQ(ports.reuse.tuple_reuses, 1u);
    EXPECT_EQ(ports.reuse.time_wait_reuses, 1u);
    const DestinationOccupancy& service = ports.exhaustion.destinations.at(0);
    EXPECT_EQ(service.peak_occupied, 3u);  // 40002 in TIME_WAIT, 40004 and 40006 open
    EXPECT_EQ(service.peak_at, t0 + 70 * second);
    EXPECT_EQ(service.occupied_at_end, 2u);
    EXPECT_EQ(ports.exhaustion.peak_occupied_total, 3u);
    // Its occupancy over time: 1 from t0; the takeover at 10 s keeps it at 1 (the old TIME_WAIT
    // freed as the 4-tuple is taken again); 2 at 20 s; 3 at 70 s; 2 at 81 s. (The helper's
    // connections close a microsecond before their last packet.)
    const std::vector<std::pair<Micros, std::uint32_t>> expected = {
        {t0, 1},
        {t0 + 10 * second, 1},
        {t0 + 10 * second + second / 10 - 1, 0},
        {t0 + 20 * second, 1},
        {t0 + 70 * second, 3},
        {t0 + 81 * second - 1, 2},
        {t0 + 90 * second, 0}};
    EXPECT_EQ(service.occupied_series, expected);
}

TEST(Occupancy, ConnectionsInAnyOrderGiveTheSameNumbers) {
    Log records;
    for (int i = 0; i < 30; ++i) {
        records.push_back(connection(static_cast<std::uint16_t>(40000 + 2 * i), t0 + i * second / 4,
                                     0, i % 3 == 0 ? Close::by_server : Close::by_client,
                                     static_cast<std::uint8_t>(2 + i % 4)));
    }
    std::vector<const ConnectionRecord*> reversed = pointers(records);
    std::reverse(reversed.begin(), reversed.end());
    const ExhaustionStats in_order = analyze(records, t0 + 10 * second).exhaustion;
    const ExhaustionStats backwards =
        analyze_client_ports(records, endpoint(1, 0).address, reversed, t0 + 10 * second, {})
            .exhaustion;
    ASSERT_EQ(backwards.destinations.size(), in_order.destinations.size());
    for (std::size_t d = 0; d < in_order.destinations.size(); ++d) {
        EXPECT_EQ(backwards.destinations[d].server, in_order.destinations[d].server);
        EXPECT_EQ(backwards.destinations[d].peak_open, in_order.destinations[d].peak_open);
        EXPECT_EQ(backwards.destinations[d].peak_occupied, in_order.destinations[d].peak_occupied);
        EXPECT_EQ(backwards.destinations[d].peak_at, in_order.destinations[d].peak_at);
        EXPECT_EQ(backwards.destinations[d].peak_new_per_s,
                  in_order.destinations[d].peak_new_per_s);
    }
    EXPECT_EQ(backwards.peak_open_total, in_order.peak_open_total);
    EXPECT_EQ(backwards.peak_occupied_total, in_order.peak_occupied_total);
    EXPECT_GT(in_order.peak_occupied_total, in_order.destinations[0].peak_occupied);
}

TEST(Occupancy, ServerClosingFirstOrResetLeavesNoTimeWaitHere) {
    for (Close close : {Close::by_server, Close::reset}) {
        const Log records = {connection(40000, t0, 0, close),
                             connection(40002, t0 + second, 0, close)};
        EXPECT_EQ(analyze(records, t0 + 3 * second).exhaustion.destinations.at(0).peak_occupied,
                  1u);
    }
}

TEST(Occupancy, OpenAtTheEndStaysOccupied) {
    const Log records = {connection(40000, t0, t0 + 1, Close::still_open),
                         connection(40002, t0 + 10 * second, 0, Close::reset)};
    EXPECT_EQ(analyze(records, t0 + 20 * second).exhaustion.destinations.at(0).peak_open, 2u);
}

TEST(Occupancy, VerdictFromUtilizationOfTheRange) {
    Log records;
    for (int i = 0; i < 12; ++i) records.push_back(connection(40000 + i, t0 + i * 1000));
    PortAnalysisOptions options;
    options.range = PortRange{40000, 40015};  // 12 of 16: 0.75
    ClientPorts result = analyze(records, t0 + second, options);
    EXPECT_EQ(result.range.basis_name(), "configured");
    EXPECT_DOUBLE_EQ(result.exhaustion.utilization, 0.75);
    EXPECT_EQ(result.exhaustion.verdict, Verdict::warning);
    options.range = PortRange{40000, 40011};
    EXPECT_EQ(analyze(records, t0 + second, options).exhaustion.verdict, Verdict::exhausted);
}

TEST(Reuse, KindsOfReuse) {
    const Log records = {
        connection(40000, t0),                 // closed by the client at ~t0
        connection(40000, t0 + 5 * second),    // same 4-tuple in TIME_WAIT
        connection(40000, t0 + 100 * second),  // same 4-tuple, TIME_WAIT over
        connection(40002, t0 + 200 * second, t0 + 200 * second + 10, Close::still_open),
        connection(40002, t0 + 201 * second),                          // on a 4-tuple still open
        connection(40000, t0 + 300 * second, 0, Close::by_client, 3),  // port, other destination
    };
    const ReuseStats reuse = analyze(records, t0 + 400 * second).reuse;
    EXPECT_EQ(reuse.tuple_reuses, 3u);
    EXPECT_EQ(reuse.time_wait_reuses, 1u);
    EXPECT_EQ(reuse.active_reuses, 1u);
    EXPECT_EQ(reuse.port_reuses, 4u);
    EXPECT_NEAR(reuse.min_interval_s, 0.9999, 1e-3);  // t0+201 s after the use ending t0+200 s
}

// A port that goes to another service in between still comes back to its first 4-tuple: the
// third connection reuses the first's 4-tuple while its TIME_WAIT holds, and takes it over.
TEST(Reuse, ATupleComesBackAfterThePortWentElsewhere) {
    const Log records = {
        connection(40000, t0, t0 + second),                                  // TIME_WAIT to 61 s
        connection(40000, t0 + 10 * second, 0, Close::by_server, 3),         // another service
        connection(40000, t0 + 20 * second, t0 + 21 * second, Close::reset)  // the first 4-tuple
    };
    const ClientPorts ports = analyze(records, t0 + 100 * second);
    EXPECT_EQ(ports.reuse.port_reuses, 2u);
    EXPECT_EQ(ports.reuse.tuple_reuses, 1u);
    EXPECT_EQ(ports.reuse.time_wait_reuses, 1u);
    const auto in_time_wait = static_cast<std::size_t>(ReuseKind::tuple_in_time_wait);
    const auto other = static_cast<std::size_t>(ReuseKind::other_service);
    std::uint32_t counted_in_time_wait = 0, counted_other = 0;
    for (const std::uint32_t count : ports.reuse.interval_bins[in_time_wait]) {
        counted_in_time_wait += count;
    }
    for (const std::uint32_t count : ports.reuse.interval_bins[other]) counted_other += count;
    EXPECT_EQ(counted_in_time_wait, 1u);
    EXPECT_EQ(counted_other, 1u);
    // Taken over at 20 s, the first connection's TIME_WAIT holds its port no longer: towards
    // 2:8080, one port at a time.
    const DestinationOccupancy& first = ports.exhaustion.destinations.at(0);
    EXPECT_EQ(first.server, endpoint(2, 8080));
    EXPECT_EQ(first.peak_occupied, 1u);
}

TEST(Failures, CountedPerAttempt) {
    Connection refused = connection(40002, t0 + 1);
    refused.syn_ack_side = no_side;  // RST from the server
    refused.fin_from_0 = refused.fin_from_1 = false;
    refused.rst_side = 1;
    Connection unanswered = connection(40004, t0 + 2);
    unanswered.syn_ack_side = no_side;  // three SYNs, nothing back
    unanswered.fin_from_0 = unanswered.fin_from_1 = false;
    unanswered.packets = {3, 0};
    unanswered.syn_retransmissions = 2;
    const Log records = {connection(40000, t0), refused, unanswered};
    const FailureStats failures = analyze(records, t0 + second).failures;
    EXPECT_EQ(failures.refused, 1u);
    EXPECT_EQ(failures.unanswered, 1u);
    EXPECT_EQ(failures.syn_retransmissions, 2u);
}

// build_report shares a large capture's hosts between two threads; each host's result must be
// what analyzing that host alone gives.
TEST(Report, HostsAnalyzedOnTwoThreadsMatchEachHostAlone) {
    constexpr int hosts = 40;
    constexpr int per_host = 1000;  // 40,000 connections: enough to share
    Lcg random{7};
    Log records;
    for (int i = 0; i < hosts * per_host; ++i) {
        const auto host = static_cast<std::uint8_t>(10 + i % hosts);
        // Each host its own habits: narrow or wide ranges, its own mix of closes and services.
        const std::uint32_t width = 64u << (host % 6);
        const auto port = static_cast<std::uint16_t>(40000 + random.next() % width);
        const auto close = static_cast<Close>(random.next() % (host % 4 + 1));
        const auto service = static_cast<std::uint16_t>(8000 + random.next() % (host % 3 + 1));
        Connection c = connection(port, t0 + i * second / 100, t0 + i * second / 100 + second,
                                  close, 2, service);
        c.endpoint[0] = endpoint(host, port);
        records.push_back(c);
    }
    const Micros capture_end = t0 + hosts * per_host * second / 100 + 2 * second;
    CaptureSummary capture;
    capture.last = capture_end;
    ConnectionRecords analyzed = records;
    const Report report = build_report(analyzed, capture, {}, {}, {});
    ASSERT_EQ(report.clients.size(), static_cast<std::size_t>(hosts));
    for (const ClientSummary& client : report.clients) {
        std::vector<const ConnectionRecord*> own;
        for (const ConnectionRecord& record : records) {
            if (records.client(record).address == client.address) own.push_back(&record);
        }
        const ClientPorts alone =
            analyze_client_ports(records, client.address, own, capture_end, {});
        const ClientPorts& shared = client.port_use;
        SCOPED_TRACE(to_string(client.address));
        EXPECT_EQ(client.connections(), own.size());
        EXPECT_EQ(shared.range.range.low, alone.range.range.low);
        EXPECT_EQ(shared.range.range.high, alone.range.range.high);
        EXPECT_EQ(shared.allocation.pattern, alone.allocation.pattern);
        EXPECT_EQ(shared.allocation.confidence, alone.allocation.confidence);
        EXPECT_EQ(shared.reuse.tuple_reuses, alone.reuse.tuple_reuses);
        EXPECT_EQ(shared.reuse.port_reuses, alone.reuse.port_reuses);
        EXPECT_EQ(shared.reuse.median_interval_s, alone.reuse.median_interval_s);
        EXPECT_EQ(shared.exhaustion.peak_occupied_total, alone.exhaustion.peak_occupied_total);
        EXPECT_EQ(shared.exhaustion.utilization, alone.exhaustion.utilization);
        EXPECT_EQ(shared.exhaustion.destinations.size(), alone.exhaustion.destinations.size());
        EXPECT_EQ(shared.failures.refused, alone.failures.refused);
    }
    // The hosts differ, so the comparison above is not of forty copies of one result.
    std::set<double> utilizations;
    for (const ClientSummary& client : report.clients) {
        utilizations.insert(client.port_use.exhaustion.utilization);
    }
    EXPECT_GT(utilizations.size(), 5u);
}

// A report past default_max_clients_held computes its clients' summaries again on demand; here
// every client is on demand (a limit of 0), and the report must say exactly what the one that
// holds them says: the same clients in the same ranks, the same worst verdict, the same findings.
TEST(Report, ClientsOnDemandMatchClientsHeld) {
    constexpr int hosts = 30;
    Lcg random{11};
    Log records;
    for (int i = 0; i < hosts * 200; ++i) {
        const auto host = static_cast<std::uint8_t>(10 + i % hosts);
        // Narrow ranges for some hosts, so verdicts and findings differ between them.
        const std::uint32_t width = 16u << (host % 7);
        const auto port = static_cast<std::uint16_t>(40000 + random.next() % width);
        const auto close = static_cast<Close>(random.next() % 4);
        const auto service = static_cast<std::uint16_t>(8000 + random.next() % 3);
        Connection c = connection(port, t0 + i * second / 50, t0 + i * second / 50 + 5 * second,
                                  close, 2, service);
        c.endpoint[0] = endpoint(host, port);
        records.push_back(c);
    }
    CaptureSummary capture;
    capture.last = t0 + hosts * 200 * second / 50 + 10 * second;
    ConnectionRecords copy = records;
    const Report held = build_report(copy, capture, {}, {}, {});
    const Report on_demand =
        build_report(std::make_shared<ConnectionRecords>(records), capture, {}, {}, {}, 0);
    ASSERT_FALSE(held.clients.on_demand());
    ASSERT_TRUE(on_demand.clients.on_demand());
    ASSERT_EQ(held.clients.size(), static_cast<std::size_t>(hosts));
    ASSERT_EQ(on_demand.clients.size(), held.clients.size());
    std::set<Verdict> verdicts;
    for (std::size_t rank = 0; rank < held.clients.size(); ++rank) {
        const ClientSummary expected = held.clients[rank];
        const ClientSummary actual = on_demand.clients[rank];
        SCOPED_TRACE(rank);
        EXPECT_EQ(actual.address, expected.address);
        EXPECT_EQ(actual.connections(), expected.connections());
        EXPECT_EQ(actual.servers, expected.servers);
        EXPECT_EQ(actual.port_use.exhaustion.utilization, expected.port_use.exhaustion.utilization);
        EXPECT_EQ(actual.port_use.exhaustion.verdict, expected.port_use.exhaustion.verdict);
        EXPECT_EQ(actual.port_use.range.range.low, expected.port_use.range.range.low);
        EXPECT_EQ(actual.port_use.allocation.pattern, expected.port_use.allocation.pattern);
        verdicts.insert(expected.port_use.exhaustion.verdict);
    }
    EXPECT_GT(verdicts.size(), 1u);  // not thirty copies of one verdict
    EXPECT_EQ(on_demand.clients.worst_verdict(), held.clients.worst_verdict());
    const std::vector<Finding> expected = rank_findings(held);
    const std::vector<Finding> actual = rank_findings(on_demand);
    ASSERT_EQ(actual.size(), expected.size());
    EXPECT_FALSE(expected.empty());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(actual[i].kind, expected[i].kind);
        EXPECT_EQ(actual[i].subject, expected[i].subject);
        EXPECT_EQ(actual[i].detail, expected[i].detail);
        EXPECT_EQ(actual[i].severity, expected[i].severity);
    }
}

// Distinct services per client and distinct clients per service, with the connections of all
// hosts interleaved, repeats, and one address and port serving TCP and UDP (two services), some
// services seen only in the later half; with 30,000 connections the hosts are analyzed on two
// threads.
TEST(Report, CountsDistinctServicesPerClientAndClientsPerService) {
    for (const int count : {600, 30'000}) {
        SCOPED_TRACE(count);
        Lcg random{11};
        Log records;
        std::map<std::uint8_t, std::set<std::pair<std::uint16_t, bool>>> services_of;
        std::map<std::uint8_t, std::uint64_t> connections_of;
        std::map<std::pair<std::uint16_t, bool>, std::set<std::uint8_t>> clients_of;
        std::map<std::pair<std::uint16_t, bool>, std::uint64_t> connections_to;
        for (int i = 0; i < count; ++i) {
            const auto host = static_cast<std::uint8_t>(10 + random.next() % 12);
            const bool later_only = i >= count / 2 && random.next() % 3 == 0;
            // Each host its own few services, overlapping other hosts' (so that the halves see
            // services first in different orders).
            const auto service_port = static_cast<std::uint16_t>(
                8000 + host % 7 * 3 + random.next() % (host % 5 + 1) + (later_only ? 100 : 0));
            const bool udp = random.next() % 4 == 0;
            Connection c = connection(static_cast<std::uint16_t>(10000 + i % 50000),
                                      t0 + std::int64_t{i} * 1000);
            c.endpoint[0] = endpoint(host, c.endpoint[0].port);
            c.endpoint[1] = endpoint(2, service_port);
            if (udp) c.protocol = Protocol::udp;
            records.push_back(c);
            services_of[host].insert({service_port, udp});
            ++connections_of[host];
            clients_of[{service_port, udp}].insert(host);
            ++connections_to[{service_port, udp}];
        }
        CaptureSummary capture;
        capture.last = t0 + std::int64_t{count} * 1000 + second;
        const Report report = build_report(records, capture, {}, {}, {});
        EXPECT_EQ(report.tcp_connections + report.udp_flows, static_cast<std::uint64_t>(count));
        ASSERT_EQ(report.clients.size(), services_of.size());
        for (const ClientSummary& client : report.clients) {
            SCOPED_TRACE(to_string(client.address));
            EXPECT_EQ(client.servers, services_of.at(client.address.bytes[3]).size());
            EXPECT_EQ(client.connections(), connections_of.at(client.address.bytes[3]));
        }
        ASSERT_EQ(report.servers.size(), clients_of.size());
        for (const ServerSummary& server : report.servers) {
            const bool udp = server.protocol == Protocol::udp;
            SCOPED_TRACE(std::to_string(server.endpoint.port) + (udp ? "/udp" : "/tcp"));
            EXPECT_EQ(server.clients, clients_of.at({server.endpoint.port, udp}).size());
            EXPECT_EQ(server.connections, connections_to.at({server.endpoint.port, udp}));
        }
    }
}

}  // namespace
}  // namespace ephemera

namespace ephemera {
namespace {

// `ttls[i]` is the SYN TTL of connection i (sequential ports from 40000, one destination); the
// option layout follows the TTL, as a different system's would.
SharedAddress shared_with_ttls(const std::vector<std::uint8_t>& ttls) {
    Log log;
    for (std::size_t i = 0; i < ttls.size(); ++i) {
        Connection c = connection(static_cast<std::uint16_t>(40000 + 7 * i),
                                  t0 + static_cast<Micros>(i) * second);
        c.syn_ttl = ttls[i];
        c.syn_option_layout = static_cast<std::uint8_t>(ttls[i] / 2);
        log.push_back(c);
    }
    AllocatedConnections connections;
    for (const ConnectionRecord& record : log) {
        connections.ports.push_back(record.client_port());
        connections.fingerprints.add(syn_fingerprint(record));
    }
    const std::vector<std::uint64_t> servers(connections.ports.size(), 0);
    connections.servers = servers;
    return detect_shared_address(connections, false);
}

// The tally, fed one SYN at a time, says what the whole sequence says: the fingerprints with
// enough SYNs among the first 32 seen, and whether the SYNs switched between those often enough,
// on sequences of a few frequent fingerprints among rarer ones and a crowd of more than 32.
TEST(SharedAddress, TheFingerprintTallySaysWhatTheWholeSequenceSays) {
    Lcg random{11};
    for (int trial = 0; trial < 400; ++trial) {
        FingerprintTally tally;
        std::vector<std::uint16_t> sequence;
        const std::size_t length = 1 + random.next() % 300;
        const std::uint32_t kinds = 1 + random.next() % 40;
        const std::uint32_t run = 1 + random.next() % 50;  // SYNs in a row before a change
        std::uint16_t key = 0;
        for (std::size_t i = 0; i < length; ++i) {
            if (i % run == 0) key = static_cast<std::uint16_t>((1 + random.next() % kinds) << 8);
            sequence.push_back(key);
            tally.add(key);
        }
        // The whole sequence: the first 32 fingerprints, those with 5 SYNs or more, switches.
        std::vector<std::uint16_t> first_seen;
        std::map<std::uint16_t, std::uint32_t> syns;
        for (const std::uint16_t k : sequence) {
            if (!syns.contains(k) && first_seen.size() == FingerprintTally::max_fingerprints) {
                continue;
            }
            if (!syns.contains(k)) first_seen.push_back(k);
            ++syns[k];
        }
        std::vector<std::uint16_t> frequent;
        for (const std::uint16_t k : first_seen) {
            if (syns[k] >= min_fingerprint_syns) frequent.push_back(k);
        }
        std::uint32_t switches = 0;
        std::optional<std::uint16_t> previous;
        for (const std::uint16_t k : sequence) {
            if (std::find(frequent.begin(), frequent.end(), k) == frequent.end()) continue;
            switches += previous && *previous != k;
            previous = k;
        }
        ASSERT_EQ(tally.frequent(), frequent) << "trial " << trial;
        ASSERT_EQ(tally.switched_enough(), switches >= min_fingerprint_switches)
            << "trial " << trial;
    }
}

TEST(SharedAddress, InterleavedSynFingerprintsShowAtLeastThatManyHosts) {
    std::vector<std::uint8_t> ttls;
    for (int i = 0; i < 30; ++i) ttls.push_back(i % 3 == 0 ? 127 : 63);
    const SharedAddress shared = shared_with_ttls(ttls);
    EXPECT_TRUE(shared.likely);
    EXPECT_EQ(shared.evidence, SharedEvidence::syn_fingerprints);
    EXPECT_EQ(shared.syn_fingerprints, 2);
    EXPECT_EQ(shared.hosts_estimate, 2);
    EXPECT_TRUE(shared.hosts_at_least);
    EXPECT_EQ(shared.fingerprint_ttls[0], 63);
    EXPECT_EQ(shared.fingerprint_ttls[1], 127);
    EXPECT_EQ(shared.fingerprint_layouts, 2);
}

// One host whose route changed once shows two TTLs one after the other, not interleaved.
TEST(SharedAddress, ARouteChangeIsNotASecondHost) {
    const auto passes = [](std::initializer_list<std::uint8_t> run_ttls) {
        std::vector<std::uint8_t> ttls;
        for (const std::uint8_t ttl : run_ttls) {
            for (int syn = 0; syn < 20; ++syn) ttls.push_back(ttl);
        }
        return ttls;
    };
    EXPECT_FALSE(shared_with_ttls(passes({64, 63})).likely);
    // Back once more: still too few passes between them to be two hosts at once.
    EXPECT_FALSE(shared_with_ttls(passes({64, 63, 64})).likely);
}

// A few odd SYNs (crafted, or an application setting its own TTL) are not a host.
TEST(SharedAddress, AFewOddSynsAreNotAHost) {
    std::vector<std::uint8_t> ttls(40, 64);
    for (std::size_t i = 3; i < ttls.size(); i += 10) ttls[i] = 128;
    EXPECT_FALSE(shared_with_ttls(ttls).likely);
    ttls[38] = 128;  // a fifth: now a host of its own, interleaved
    EXPECT_TRUE(shared_with_ttls(ttls).likely);
}

}  // namespace
}  // namespace ephemera

// Scratch space for one client's analysis. A capture's million clients with a few connections
// each would otherwise allocate every temporary array a million times (docs/performance.md,
// "Scratch space per thread"): a client of up to small_client connections works in its thread's own
// arrays, kept from one client to the next; a bigger one gets fresh ones, freed after it, so no
// thread holds on to a big client's arrays.
#pragma once

#include <cstddef>
#include <optional>

namespace ephemera {

inline constexpr std::size_t small_client = 4096;

// The scratch space of type `Scratch` for a client of `connections` connections: the thread's,
// or `own` made fresh. Each use site has a Scratch type of its own: two sites sharing one type
// would share the thread's copy.
template <typename Scratch>
Scratch& scratch_for(std::size_t connections, std::optional<Scratch>& own) {
    thread_local Scratch shared;
    if (connections <= small_client) return shared;
    return own.emplace();
}

}  // namespace ephemera

// Emptying a container so that its memory goes too.
#pragma once

namespace ephemera {

// Empties `container` and frees its buffer. `container = {}` is not the same: for a vector it
// assigns an empty initializer list, which keeps the capacity (and the memory) it had.
template <typename Container>
void free_memory(Container& container) noexcept {
    Container().swap(container);
}

}  // namespace ephemera

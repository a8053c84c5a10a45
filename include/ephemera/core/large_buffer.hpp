// An allocator for the few containers that grow to many megabytes (the connection table, the
// connection log). Buffers of 2 MiB and more are mapped 2 MiB-aligned and advised to use
// transparent huge pages: one page fault per 2 MiB instead of per 4 KiB, which on a virtual
// machine is most of what filling such a buffer costs. Smaller ones come from operator new.
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>
#include <span>

namespace ephemera {

namespace large_buffer {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

// Whether reserving more than is filled costs only address space. Under AddressSanitizer large
// buffers come from operator new (so it watches them), which writes shadow memory for every
// byte reserved: there, containers should grow as they fill instead.
inline constexpr bool reserving_is_free = !sanitized;

// Aligned to a cache line at least (to a 2 MiB huge page when mapped).
void* allocate(std::size_t bytes);
void deallocate(void* pointer, std::size_t bytes) noexcept;
// Gives the whole pages inside [begin, begin + bytes) of a large buffer back to the system
// while the buffer stays allocated: the caller reads none of those bytes again (they would read
// as zeros). Does nothing for buffers that came from operator new.
void release(const void* begin, std::size_t bytes) noexcept;
// Faults in the pages of [begin, begin + bytes) as a first write would, without changing a byte
// (MADV_POPULATE_WRITE): another thread can pay for a buffer's fresh pages ahead of the thread
// that fills it. Nothing under AddressSanitizer or on a kernel older than 5.14.
void populate(void* begin, std::size_t bytes) noexcept;
}  // namespace large_buffer

// The bytes of the next `count` elements `vector` will fill, where it reserved its buffer as
// address space (see reserving_is_free), for large_buffer::populate on another thread. Empty
// where it did not, or is full: a buffer that may move is not given to another thread. The
// vector is const because nothing is written through the span: populate changes no byte.
template <typename Vector>
std::span<std::byte> space_ahead(const Vector& vector, std::size_t count) noexcept {
    using Element = typename Vector::value_type;
    if (!large_buffer::reserving_is_free || vector.capacity() == vector.size()) return {};
    const std::size_t end = std::min(vector.capacity(), vector.size() + count);
    auto* filled =
        reinterpret_cast<std::byte*>(const_cast<Element*>(vector.data()) + vector.size());
    return {filled, (end - vector.size()) * sizeof(Element)};
}

template <typename T>
struct LargeBufferAllocator {
    using value_type = T;

    LargeBufferAllocator() noexcept = default;
    template <typename U>
    LargeBufferAllocator(const LargeBufferAllocator<U>&) noexcept {}

    T* allocate(std::size_t count) {
        static_assert(alignof(T) <= 64, "large_buffer aligns to cache lines, no more");
        return static_cast<T*>(large_buffer::allocate(count * sizeof(T)));
    }
    void deallocate(T* pointer, std::size_t count) noexcept {
        large_buffer::deallocate(pointer, count * sizeof(T));
    }

    template <typename U>
    bool operator==(const LargeBufferAllocator<U>&) const noexcept {
        return true;
    }
};

}  // namespace ephemera

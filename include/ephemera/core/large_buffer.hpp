// An allocator for the few containers that grow to many megabytes (the connection table, the
// connection log). Buffers of 2 MiB and more are mapped 2 MiB-aligned and advised to use
// transparent huge pages: one page fault per 2 MiB instead of per 4 KiB, which on a virtual
// machine is most of what filling such a buffer costs. Smaller ones come from operator new.
#pragma once

#include <cstddef>
#include <new>

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

void* allocate(std::size_t bytes);
void deallocate(void* pointer, std::size_t bytes) noexcept;
// Gives the whole pages inside [begin, begin + bytes) of a large buffer back to the system
// while the buffer stays allocated: the caller reads none of those bytes again (they would read
// as zeros). Does nothing for buffers that came from operator new.
void release(const void* begin, std::size_t bytes) noexcept;
}  // namespace large_buffer

template <typename T>
struct LargeBufferAllocator {
    using value_type = T;

    LargeBufferAllocator() noexcept = default;
    template <typename U>
    LargeBufferAllocator(const LargeBufferAllocator<U>&) noexcept {}

    T* allocate(std::size_t count) {
        static_assert(alignof(T) <= alignof(std::max_align_t));
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

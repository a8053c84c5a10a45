// Stage 1 for `ephemera live`: frames from a network interface, through libpcap. The capture is
// non-blocking: wait() polls its selectable descriptor with a timeout, so the caller's loop wakes
// on its own to refresh a view even when no packet arrives.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ephemera/capture/reader.hpp"
#include "ephemera/core/errors.hpp"

typedef struct pcap pcap_t;
typedef struct pcap_dumper pcap_dumper_t;

namespace ephemera {

struct LiveCaptureOptions {
    std::string interface;
    std::string filter;  // BPF, tcpdump syntax
    // Enough for Ethernet, two VLAN tags, IPv6 with extension headers and TCP with options: the
    // analysis needs headers, not payload.
    int snaplen = 256;
    int buffer_mib = 32;  // the kernel's ring buffer
};

struct InterfaceInfo {
    std::string name;
    std::string description;
    std::vector<std::string> addresses;
    bool up = false;
    bool running = false;
    bool loopback = false;
};

// What can be captured on (pcap_findalldevs). Throws UserError when libpcap cannot list them.
std::vector<InterfaceInfo> list_interfaces();

struct LiveStats {
    std::uint64_t received = 0;         // packets the filter passed
    std::uint64_t kernel_drops = 0;     // dropped for lack of buffer space
    std::uint64_t interface_drops = 0;  // dropped by the interface or its driver
};

// The capture failed after it had started: the interface went away (a container's veth, a NIC
// reset) or stopped delivering. The session can still report what it saw.
class CaptureLost : public UserError {
  public:
    using UserError::UserError;
};

class LiveCapture {
  public:
    // Opens and activates the interface; throws UserError naming it and the reason (no such
    // interface, permission denied, bad filter).
    explicit LiveCapture(const LiveCaptureOptions& options);
    ~LiveCapture();
    LiveCapture(const LiveCapture&) = delete;
    LiveCapture& operator=(const LiveCapture&) = delete;

    // Also saves every captured packet to `path` (pcap_dump), flushed at each dispatch. Throws
    // UserError when the file cannot be created.
    void write_to(const std::string& path);

    // Waits until packets are ready or `timeout_ms` passes (or a signal arrives).
    void wait(int timeout_ms);

    // Hands every frame waiting in the buffer to on_frame(context, frame); returns how many.
    // Throws CaptureLost when the capture fails (the interface went away).
    using FrameCallback = void (*)(void* context, const RawFrame& frame);
    int dispatch(FrameCallback on_frame, void* context);

    // Opens the interface again after CaptureLost, with the same settings; the --write file goes
    // on where it was, and the statistics go on from their totals. False while it cannot be
    // opened (the interface is still gone); throws UserError if it comes back with another link
    // type, whose frames the --write file could not hold.
    bool reopen();

    LiveStats stats();
    int link_type() const noexcept { return link_type_; }
    const std::string& link_name() const noexcept { return link_name_; }
    const std::string& interface() const noexcept { return interface_; }

  private:
    void open();

    LiveCaptureOptions options_;
    pcap_t* handle_ = nullptr;
    pcap_dumper_t* dumper_ = nullptr;
    int selectable_fd_ = -1;
    int link_type_ = 0;
    std::string link_name_;
    std::string interface_;
    // pcap_stats counters are 32-bit and wrap; these carry the running totals.
    LiveStats totals_;
    LiveStats last_raw_;
};

}  // namespace ephemera

#include "ephemera/capture/live.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <fmt/format.h>
#include <pcap/pcap.h>

#include <cerrno>

#include "ephemera/core/errors.hpp"

namespace ephemera {
namespace {

constexpr int read_timeout_ms = 100;

std::string activation_error(pcap_t* handle, int status, const std::string& interface) {
    switch (status) {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            return fmt::format("no such interface '{}' (see: ephemera interfaces)", interface);
        case PCAP_ERROR_PERM_DENIED:
            return fmt::format(
                "permission denied capturing on '{}': run as root, or give the binary "
                "CAP_NET_RAW and CAP_NET_ADMIN (setcap cap_net_raw,cap_net_admin=eip)",
                interface);
        case PCAP_ERROR_IFACE_NOT_UP:
            return fmt::format("interface '{}' is not up", interface);
        default:
            return fmt::format("cannot capture on '{}': {}", interface, pcap_geterr(handle));
    }
}

void check(int status, pcap_t* handle, const char* what, const std::string& interface) {
    if (status != 0) {
        throw UserError(
            fmt::format("cannot set {} on '{}': {}", what, interface, pcap_geterr(handle)));
    }
}

// pcap_stats counts in 32 bits on Linux: add the change since the last reading, modulo 2^32.
std::uint64_t advance(std::uint64_t total, std::uint64_t& last, unsigned int now) {
    const std::uint32_t delta = static_cast<std::uint32_t>(now - static_cast<std::uint32_t>(last));
    last = now;
    return total + delta;
}

struct DispatchContext {
    LiveCapture::FrameCallback on_frame;
    void* context;
    int link_type;
    pcap_dumper_t* dumper;
};

void on_packet(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
    auto* dispatch = reinterpret_cast<DispatchContext*>(user);
    if (dispatch->dumper != nullptr) {
        pcap_dump(reinterpret_cast<u_char*>(dispatch->dumper), header, bytes);
    }
    RawFrame frame;
    frame.timestamp = static_cast<Micros>(header->ts.tv_sec) * 1'000'000 + header->ts.tv_usec;
    frame.link_type = dispatch->link_type;
    frame.bytes = {bytes, header->caplen};
    frame.wire_length = header->len;
    dispatch->on_frame(dispatch->context, frame);
}

// "198.18.0.1" or "2001:db8::1"; empty for other families (link-layer addresses).
std::string address_text(const sockaddr* address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (address == nullptr) return "";
    if (address->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text,
                  sizeof text);
    } else if (address->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text,
                  sizeof text);
    }
    return text;
}

}  // namespace

std::vector<InterfaceInfo> list_interfaces() {
    char error[PCAP_ERRBUF_SIZE] = {};
    pcap_if_t* devices = nullptr;
    if (pcap_findalldevs(&devices, error) != 0) {
        throw UserError(fmt::format("cannot list interfaces: {}", error));
    }
    std::vector<InterfaceInfo> interfaces;
    for (pcap_if_t* device = devices; device != nullptr; device = device->next) {
        InterfaceInfo info;
        info.name = device->name;
        if (device->description != nullptr) info.description = device->description;
        info.up = (device->flags & PCAP_IF_UP) != 0;
        info.running = (device->flags & PCAP_IF_RUNNING) != 0;
        info.loopback = (device->flags & PCAP_IF_LOOPBACK) != 0;
        for (pcap_addr_t* address = device->addresses; address != nullptr;
             address = address->next) {
            std::string text = address_text(address->addr);
            if (!text.empty()) info.addresses.push_back(std::move(text));
        }
        interfaces.push_back(std::move(info));
    }
    pcap_freealldevs(devices);
    return interfaces;
}

LiveCapture::LiveCapture(const LiveCaptureOptions& options)
    : options_(options), interface_(options.interface) {
    open();
}

bool LiveCapture::reopen() {
    if (handle_ != nullptr) pcap_close(handle_);
    handle_ = nullptr;
    selectable_fd_ = -1;
    const int link_type = link_type_;
    try {
        open();
    } catch (const UserError&) {
        return false;
    }
    if (link_type_ != link_type) {
        throw UserError(
            fmt::format("'{}' came back with another link type ({}), which the "
                        "capture so far cannot be mixed with",
                        interface_, link_name_));
    }
    last_raw_ = {};  // the new handle counts from zero; the totals go on
    return true;
}

void LiveCapture::open() {
    const LiveCaptureOptions& options = options_;
    char error[PCAP_ERRBUF_SIZE] = {};
    handle_ = pcap_create(options.interface.c_str(), error);
    if (handle_ == nullptr) {
        throw UserError(fmt::format("cannot capture on '{}': {}", options.interface, error));
    }
    try {
        check(pcap_set_snaplen(handle_, options.snaplen), handle_, "snaplen", interface_);
        check(pcap_set_buffer_size(handle_, options.buffer_mib * 1024 * 1024), handle_,
              "buffer size", interface_);
        check(pcap_set_timeout(handle_, read_timeout_ms), handle_, "timeout", interface_);
        const int status = pcap_activate(handle_);
        if (status < 0) throw UserError(activation_error(handle_, status, interface_));
        if (!options.filter.empty()) {
            bpf_program program{};
            if (pcap_compile(handle_, &program, options.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) !=
                0) {
                throw UserError(
                    fmt::format("bad filter '{}': {}", options.filter, pcap_geterr(handle_)));
            }
            const int applied = pcap_setfilter(handle_, &program);
            pcap_freecode(&program);
            check(applied, handle_, "filter", interface_);
        }
        if (pcap_setnonblock(handle_, 1, error) != 0) {
            throw UserError(
                fmt::format("cannot read '{}' without blocking: {}", interface_, error));
        }
    } catch (...) {
        pcap_close(handle_);
        handle_ = nullptr;
        throw;
    }
    selectable_fd_ = pcap_get_selectable_fd(handle_);
    link_type_ = pcap_datalink(handle_);
    const char* name = pcap_datalink_val_to_name(link_type_);
    link_name_ = name != nullptr ? name : "unknown";
}

LiveCapture::~LiveCapture() {
    if (dumper_ != nullptr) pcap_dump_close(dumper_);
    if (handle_ != nullptr) pcap_close(handle_);
}

void LiveCapture::write_to(const std::string& path) {
    dumper_ = pcap_dump_open(handle_, path.c_str());
    if (dumper_ == nullptr) {
        // libpcap's message names the file: "PATH: Permission denied".
        throw UserError(fmt::format("cannot write {}", pcap_geterr(handle_)));
    }
}

void LiveCapture::wait(int timeout_ms) {
    if (selectable_fd_ < 0) return;  // no descriptor to poll: dispatch() is called anyway
    pollfd descriptor{selectable_fd_, POLLIN, 0};
    poll(&descriptor, 1, timeout_ms);  // EINTR (a signal) returns early, as it should
}

int LiveCapture::dispatch(FrameCallback on_frame, void* context) {
    DispatchContext dispatch{on_frame, context, link_type_, dumper_};
    const int count = pcap_dispatch(handle_, -1, on_packet, reinterpret_cast<u_char*>(&dispatch));
    if (count < 0 && count != PCAP_ERROR_BREAK) {
        throw CaptureLost(
            fmt::format("capture on '{}' failed: {}", interface_, pcap_geterr(handle_)));
    }
    if (dumper_ != nullptr && count > 0) pcap_dump_flush(dumper_);
    return count < 0 ? 0 : count;
}

LiveStats LiveCapture::stats() {
    pcap_stat raw{};
    if (handle_ != nullptr && pcap_stats(handle_, &raw) == 0) {
        totals_.received = advance(totals_.received, last_raw_.received, raw.ps_recv);
        totals_.kernel_drops = advance(totals_.kernel_drops, last_raw_.kernel_drops, raw.ps_drop);
        totals_.interface_drops =
            advance(totals_.interface_drops, last_raw_.interface_drops, raw.ps_ifdrop);
    }
    return totals_;
}

}  // namespace ephemera

// The floor for scripts/bench: the least any libpcap-based reader does. Open the capture, call
// pcap_next_ex for every packet, touch one byte of it, count.
#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: bench-floor CAPTURE\n");
        return 2;
    }
    char error[PCAP_ERRBUF_SIZE];
    pcap_t* handle = pcap_open_offline(argv[1], error);
    if (handle == nullptr) {
        std::fprintf(stderr, "bench-floor: %s\n", error);
        return 2;
    }
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    std::uint64_t packets = 0;
    std::uint64_t touched = 0;
    while (pcap_next_ex(handle, &header, &data) == 1) {
        ++packets;
        touched += header->caplen > 0 ? data[header->caplen - 1] : 0;
    }
    pcap_close(handle);
    std::printf("%llu packets (%llu)\n", static_cast<unsigned long long>(packets),
                static_cast<unsigned long long>(touched));
    return 0;
}

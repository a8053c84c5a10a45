// What tshark (Wireshark's dissectors) finds in a capture, as the reference the tests compare
// ephemera's counts with.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ephemera::test {

struct Conversations {
    std::size_t tcp = 0;
    std::size_t udp = 0;
};

// The distinct TCP and UDP conversations (unordered pairs of address and port) of the innermost
// IP packets, as ephemera defines them: the transport right after a packet's last IP header,
// where nothing is carried inside that transport (a VXLAN's UDP carries a frame, so it is the
// inner packet or nothing) and no ICMP error came before (ephemera does not look inside those).
// `decode_as` are tshark's -d rules (e.g. "udp.port==8472,vxlan", Linux's VXLAN port).
Conversations tshark_innermost_conversations(const std::string& path,
                                             const std::vector<std::string>& decode_as = {});

}  // namespace ephemera::test

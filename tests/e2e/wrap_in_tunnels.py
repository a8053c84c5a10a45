#!/usr/bin/python3
"""Wraps the frames of real Ethernet captures in every encapsulation ephemera unwraps, with
scapy (Debian's python3-scapy), for tests/e2e/tunnels_test.cpp to compare with tshark and with the
plain capture.

    wrap_in_tunnels.py OUT_DIR CAPTURE...

Writes OUT_DIR/NAME.pcap for each encapsulation below: every frame of the captures, in time
order, inside it. Encapsulations that carry IP rather than Ethernet get the frame's IP packet.
Teredo carries IPv6 only: its file holds the IPv6 frames alone. vxlan-two-segments.pcap holds
every frame twice, in VNI 42 and in VNI 43. The outer addresses are the
tunnel endpoints 198.18.255.1 and 198.18.255.2 (2001:db8:ff::1 and ::2 for an IPv6 underlay).
"""
import os
import sys
import zlib

from scapy.all import (GRE, IP, IPv6, IPv6ExtHdrDestOpt, LLC, PPP, PPPoE, SNAP, UDP, Dot1Q,
                       Dot11, Dot11QoS, Ether, HDLC, RadioTap, Raw, rdpcap, wrpcap)
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header
from scapy.contrib.macsec import MACsec
from scapy.contrib.mpls import MPLS
from scapy.contrib.nsh import NSH
from scapy.contrib.pim import PIMv2Hdr
from scapy.layers.vxlan import VXLAN

DLT_EN10MB, DLT_PPP, DLT_C_HDLC, DLT_RADIOTAP = 1, 9, 104, 127

underlay = Ether(src="02:00:00:00:ff:01", dst="02:00:00:00:ff:02")
outer4 = IP(src="198.18.255.1", dst="198.18.255.2")
outer6 = IPv6(src="2001:db8:ff::1", dst="2001:db8:ff::2")


def entropy_port(frame):
    """A source port from the inner flow, as VXLAN and Geneve endpoints choose theirs."""
    return 49152 + zlib.crc32(bytes(frame[IP if IP in frame else IPv6])[:40]) % 16384


def ip_of(frame):
    return frame[IP] if IP in frame else frame[IPv6]


def ip_ethertype(frame):
    return 0x0800 if IP in frame else 0x86DD


def ip_version_protocol(frame):
    return 4 if IP in frame else 41


# name -> (link type, builder from the inner Ethernet frame, IPv6 inner only)
ENCAPSULATIONS = {
    "vxlan": (DLT_EN10MB, lambda f: underlay / outer4 /
              UDP(sport=entropy_port(f), dport=4789) / VXLAN(vni=42) / f, False),
    "vxlan-linux-port": (DLT_EN10MB, lambda f: underlay / outer4 /
                         UDP(sport=entropy_port(f), dport=8472) / VXLAN(vni=43) / f, False),
    "vxlan-gpe": (DLT_EN10MB, lambda f: underlay / outer4 /
                  UDP(sport=entropy_port(f), dport=4790) /
                  VXLAN(flags=0x0C, NextProtocol=1 if IP in f else 2, vni=44) / ip_of(f), False),
    "geneve": (DLT_EN10MB, lambda f: underlay / outer6 /
               UDP(sport=entropy_port(f), dport=6081) / GENEVE(vni=45, proto=0x6558) / f, False),
    "gtp-u": (DLT_EN10MB, lambda f: underlay / outer4 / UDP(sport=2152, dport=2152) /
              GTP_U_Header(teid=3000, gtp_type=255) / ip_of(f), False),
    "teredo": (DLT_EN10MB, lambda f: underlay / outer4 / UDP(sport=40000, dport=3544) /
               ip_of(f), True),
    "mpls-udp": (DLT_EN10MB, lambda f: underlay / outer4 / UDP(sport=entropy_port(f), dport=6635) /
                 MPLS(label=100, s=1) / ip_of(f), False),
    "gre-key-checksum-sequence": (DLT_EN10MB, lambda f: underlay / outer4 /
                                  GRE(chksum_present=1, key_present=1, key=99, seqnum_present=1,
                                      sequence_number=1, proto=ip_ethertype(f)) / ip_of(f),
                                  False),
    "gre-bridged-ipv6-underlay": (DLT_EN10MB, lambda f: underlay / outer6 / GRE(proto=0x6558) / f,
                                  False),
    "erspan-ii": (DLT_EN10MB, lambda f: underlay / outer4 /
                  GRE(seqnum_present=1, proto=0x88BE) / ERSPAN_II(ver=1, session_id=7) / f, False),
    "erspan-iii": (DLT_EN10MB, lambda f: underlay / outer4 / GRE(seqnum_present=1, proto=0x22EB) /
                   ERSPAN_III(session_id=8, o=1) / ERSPAN_PlatformSpecific() / f, False),
    "ip-in-ip": (DLT_EN10MB, lambda f: underlay / IP(src="198.18.255.1", dst="198.18.255.2",
                                                     proto=ip_version_protocol(f)) / ip_of(f),
                 False),
    "ip-in-ipv6-with-extensions": (DLT_EN10MB, lambda f: underlay / outer6 /
                                   IPv6ExtHdrDestOpt(nh=ip_version_protocol(f)) / ip_of(f), False),
    "mpls-stack": (DLT_EN10MB, lambda f: underlay / MPLS(label=100, s=0) / MPLS(label=200, s=1) /
                   ip_of(f), False),
    "mpls-pseudowire-control-word": (DLT_EN10MB, lambda f: underlay / MPLS(label=300, s=1) /
                                     Raw(b"\x00\x00\x00\x00") / f, False),
    "pppoe-in-vlan": (DLT_EN10MB, lambda f: underlay / Dot1Q(vlan=10) / PPPoE(sessionid=0x1234) /
                      PPP(proto=0x21 if IP in f else 0x57) / ip_of(f), False),
    "pbb": (DLT_EN10MB, lambda f: Ether(src="02:00:00:00:ff:01", dst="02:00:00:00:ff:02",
                                        type=0x88E7) / Raw(b"\x00\x01\x00\x02") / f, False),
    "vn-tag": (DLT_EN10MB, lambda f: Ether(src=f.src, dst=f.dst, type=0x8926) /
               Raw(b"\x80\x01\x00\x02" + ip_ethertype(f).to_bytes(2, "big")) / ip_of(f), False),
    "nsh": (DLT_EN10MB, lambda f: Ether(src=f.src, dst=f.dst) /
            NSH(spi=300, si=255, mdtype=2, nextproto=1 if IP in f else 2) / ip_of(f), False),
    "pim-register": (DLT_EN10MB, lambda f: underlay / IP(src="198.18.255.1", dst="198.18.255.2",
                                                         proto=103) /
                     PIMv2Hdr(type=1) / Raw(b"\x00\x00\x00\x00") / ip_of(f), False),
    "macsec-integrity-only": (DLT_EN10MB, lambda f: Ether(src=f.src, dst=f.dst) /
                              MACsec(SC=1, PN=1, SCI=b"\x02\x00\x00\x00\x00\x01\x00\x01",
                                     type=ip_ethertype(f)) / ip_of(f) /
                              Raw(b"\xee" * 16), False),
    "ppp-link": (DLT_PPP, lambda f: HDLC() / PPP(proto=0x21 if IP in f else 0x57) / ip_of(f),
                 False),
    "cisco-hdlc-link": (DLT_C_HDLC, lambda f: Raw(b"\x0f\x00" + ip_ethertype(f).to_bytes(2, "big"))
                        / ip_of(f), False),
    "wifi-radiotap": (DLT_RADIOTAP, lambda f: RadioTap() /
                      Dot11(type=2, subtype=8, FCfield="to-DS", addr1=f.dst, addr2=f.src,
                            addr3=f.dst) / Dot11QoS() / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) /
                      SNAP(OUI=0, code=ip_ethertype(f)) / ip_of(f), False),
}


def main():
    out_dir, captures = sys.argv[1], sys.argv[2:]
    frames = sorted((frame for path in captures for frame in rdpcap(path)),
                    key=lambda frame: frame.time)
    frames = [frame for frame in frames if IP in frame or IPv6 in frame]
    os.makedirs(out_dir, exist_ok=True)
    for name, (link_type, wrap, ipv6_only) in ENCAPSULATIONS.items():
        wrapped = []
        for frame in frames:
            if ipv6_only and IPv6 not in frame:
                continue
            outer = wrap(frame)
            outer.time = frame.time
            wrapped.append(outer)
        wrpcap(os.path.join(out_dir, name + ".pcap"), wrapped, linktype=link_type)
    # The same traffic in two VXLAN segments at once (VNI 42 and 43, as two tenants with the same
    # addresses): two hosts for --split-segments, one without.
    twice = []
    for frame in frames:
        for vni in (42, 43):
            outer = underlay / outer4 / UDP(sport=entropy_port(frame), dport=4789) / VXLAN(vni=vni) / frame
            outer.time = frame.time
            twice.append(outer)
    wrpcap(os.path.join(out_dir, "vxlan-two-segments.pcap"), twice, linktype=DLT_EN10MB)
    print(len(ENCAPSULATIONS), "encapsulations of", len(frames), "frames")


if __name__ == "__main__":
    main()

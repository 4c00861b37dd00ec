#!/usr/bin/env python3
"""What a compromised guest sends on its link, frame by frame (AF_PACKET):
the hostile-guest tests run it inside the guest's network namespace.

  hostile_guest.py arp IFACE OP ETH_SRC SENDER_MAC SENDER_IP TARGET_IP
      ARP request (OP 1, to broadcast) or reply (OP 2, broadcast too, as a
      gratuitous one) saying SENDER_IP is at SENDER_MAC, from ETH_SRC.
  hostile_guest.py udp IFACE ETH_SRC ETH_DST SRC_IP DST_IP PORT PAYLOAD
      One IPv4 UDP datagram with whatever source it is given.
  hostile_guest.py ra IFACE ETH_SRC PREFIX
      An IPv6 router advertisement from fe80::bad to ff02::1: a default
      router and PREFIX/64 for autoconfiguration.

Each frame is sent three times, 50 ms apart. Only the standard library."""
import socket
import struct
import sys
import time


def mac(text):
    return bytes(int(b, 16) for b in text.split(":"))


def ip4(text):
    return socket.inet_aton(text)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def arp(op, eth_src, sha, spa, tpa):
    broadcast = b"\xff" * 6
    header = broadcast + mac(eth_src) + struct.pack("!H", 0x0806)
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, int(op))
    body += mac(sha) + ip4(spa) + (b"\0" * 6 if int(op) == 1 else broadcast) + ip4(tpa)
    return header + body


def udp(eth_src, eth_dst, src, dst, port, payload):
    data = payload.encode()
    udp_header = struct.pack("!HHHH", 40000, int(port), 8 + len(data), 0)
    total = 20 + len(udp_header) + len(data)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, 17, 0, ip4(src), ip4(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return mac(eth_dst) + mac(eth_src) + struct.pack("!H", 0x0800) + ip + udp_header + data


def ra(eth_src, prefix):
    src = socket.inet_pton(socket.AF_INET6, "fe80::bad")
    dst = socket.inet_pton(socket.AF_INET6, "ff02::1")
    option = struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0) + socket.inet_pton(socket.AF_INET6, prefix)
    body = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + option
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(body), 58, 255) + src + dst
    return b"\x33\x33\x00\x00\x00\x01" + mac(eth_src) + struct.pack("!H", 0x86DD) + ip6 + body


def main(argv):
    kind, iface, args = argv[1], argv[2], argv[3:]
    frame = {"arp": arp, "udp": udp, "ra": ra}[kind](*args)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for _ in range(3):
        s.send(frame)
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

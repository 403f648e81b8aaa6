import struct, sys
out=[]
def emit(b, comment):
    h=b.hex()
    chunks=[h[i:i+2] for i in range(0,len(h),2)]
    lines=[' '.join(chunks[i:i+16]) for i in range(0,len(chunks),16)] or ['']
    out.append('# '+comment)
    out.extend(lines)
def pad(b, a):
    n=len(b) if len(b) else 0
    r = a if n==0 else (n+a-1)//a*a
    return b + b'\0'*(r-n)
def sin(ip, ln=16):
    return bytes([ln,2])+b'\0\0'+bytes(ip)+b'\0'*8
def sin6(ip, scope, af6, ln=28):
    return bytes([ln,af6])+b'\0\0'+b'\0'*4+bytes(ip)+struct.pack('<I',scope)
def sdl(index, ln=20):
    return bytes([ln,18])+struct.pack('<H',index)+bytes([6,0,0,0])+b'\0'*(ln-8)
def v6(s):
    import ipaddress; return ipaddress.IPv6Address(s).packed
def v4(s):
    import ipaddress; return ipaddress.IPv4Address(s).packed
def darwin_msg(index, flags, addrs, sas, what):
    body=b''.join(pad(s,4) for s,_ in sas)
    ln=92+len(body)
    hdr=struct.pack('<HBBHHiiiiiiI',ln,5,4,index,0,flags,addrs,0,0,0,0,0)+b'\0'*56
    assert len(hdr)==92
    emit(hdr, f'{what}: rt_msghdr (92 bytes): rtm_msglen={ln} rtm_version=5 rtm_type=RTM_GET rtm_index={index} rtm_flags=0x{flags:x} rtm_addrs=0x{addrs:x}, pid/seq/errno/use/inits and rt_metrics zero')
    for s,c in sas: emit(pad(s,4), c)
def fbsd_msg(index, flags, addrs, sas, what, af6=28):
    body=b''.join(pad(s,8) for s,_ in sas)
    ln=152+len(body)
    hdr=struct.pack('<HBBHHii iiii Q',ln,5,4,index,0,flags,addrs,0,0,0,0,0)+b'\0'*112
    assert len(hdr)==152, len(hdr)
    emit(hdr, f'{what}: rt_msghdr (152 bytes, amd64): rtm_msglen={ln} rtm_version=5 rtm_type=RTM_GET rtm_index={index} rtm_flags=0x{flags:x} rtm_addrs=0x{addrs:x}, the rest zero')
    for s,c in sas: emit(pad(s,8), c)
kind=sys.argv[1]
if kind=='darwin4':
    darwin_msg(14,0x1010803,7,[(sin(v4('0.0.0.0')),'RTAX_DST sockaddr_in 0.0.0.0'),(sin(v4('10.0.0.1')),'RTAX_GATEWAY sockaddr_in 10.0.0.1'),(b'','RTAX_NETMASK, kernel form of length 0 (/0), padded to 4')],'default via 10.0.0.1 on en7 (index 14), UGScI: scoped to en7')
    darwin_msg(6,0x10803,7,[(sin(v4('0.0.0.0')),'RTAX_DST sockaddr_in 0.0.0.0'),(sin(v4('192.168.1.1')),'RTAX_GATEWAY sockaddr_in 192.168.1.1'),(b'','RTAX_NETMASK, length 0')],'default via 192.168.1.1 on en0 (index 6), UGSc: the primary default route')
    darwin_msg(6,0x10901,7,[(sin(v4('192.168.1.0')),'RTAX_DST sockaddr_in 192.168.1.0'),(sdl(6),'RTAX_GATEWAY sockaddr_dl link#6 (an interface route: no IP gateway)'),(bytes([7,0,0,0,255,255,255]),'RTAX_NETMASK kernel form 255.255.255, length 7, padded to 8')],'192.168.1/24 link#6, UCSc')
    darwin_msg(1,0x200805,3,[(sin(v4('127.0.0.1')),'RTAX_DST sockaddr_in 127.0.0.1'),(sin(v4('127.0.0.1')),'RTAX_GATEWAY sockaddr_in 127.0.0.1')],'127.0.0.1 host route on lo0, UHS (no RTF_GATEWAY)')
elif kind=='darwin6':
    darwin_msg(14,0x1010803,7,[(sin6(v6('::'),0,30),'RTAX_DST sockaddr_in6 ::'),(sin6(v6('fe80:e::1'),0,30),'RTAX_GATEWAY sockaddr_in6 fe80::1 with the interface index 14 embedded in the 2nd word (KAME)'),(b'','RTAX_NETMASK, length 0')],'default via fe80::1%en7 (index 14), UGcI: scoped')
    darwin_msg(6,0x10803,7,[(sin6(v6('::'),0,30),'RTAX_DST sockaddr_in6 ::'),(sin6(v6('fe80:6::1'),0,30),'RTAX_GATEWAY sockaddr_in6 fe80::1 with index 6 embedded (KAME)'),(b'','RTAX_NETMASK, length 0')],'default via fe80::1%en0 (index 6), UGc: primary')
    darwin_msg(1,0x805,3,[(sin6(v6('::1'),0,30),'RTAX_DST sockaddr_in6 ::1'),(sin6(v6('::1'),0,30),'RTAX_GATEWAY sockaddr_in6 ::1')],'::1 host route on lo0, UHS')
elif kind=='freebsd4':
    fbsd_msg(1,0x803,7,[(sin(v4('0.0.0.0')),'RTAX_DST sockaddr_in 0.0.0.0'),(sin(v4('192.168.0.1')),'RTAX_GATEWAY sockaddr_in 192.168.0.1'),(sin(v4('0.0.0.0')),'RTAX_NETMASK sockaddr_in 0.0.0.0, full length 16')],'default via 192.168.0.1 on em0 (index 1), UGS')
    fbsd_msg(1,0x1,7,[(sin(v4('192.168.0.0')),'RTAX_DST sockaddr_in 192.168.0.0'),(sdl(1),'RTAX_GATEWAY sockaddr_dl link#1, length 20 padded to 24'),(sin(v4('255.255.255.0')),'RTAX_NETMASK sockaddr_in 255.255.255.0')],'192.168.0.0/24 link#1, U')
    fbsd_msg(2,0x805,3,[(sin(v4('127.0.0.1')),'RTAX_DST sockaddr_in 127.0.0.1'),(sdl(2),'RTAX_GATEWAY sockaddr_dl link#2')],'127.0.0.1 on lo0, UHS')
elif kind=='freebsd6':
    fbsd_msg(1,0x803,7,[(sin6(v6('::'),0,28),'RTAX_DST sockaddr_in6 ::, length 28 padded to 32'),(sin6(v6('fe80::1'),1,28),'RTAX_GATEWAY sockaddr_in6 fe80::1, sin6_scope_id 1 (not embedded)'),(b'','RTAX_NETMASK, length 0, padded to 8')],'default via fe80::1%em0 (index 1), UGS')
    fbsd_msg(2,0x805,3,[(sin6(v6('::1'),0,28),'RTAX_DST sockaddr_in6 ::1'),(sdl(2),'RTAX_GATEWAY sockaddr_dl link#2')],'::1 on lo0, UHS')
elif kind=='windows':
    def sinet4(ip): return struct.pack('<HH',2,0)+v4(ip)+b'\0'*20
    def sinet6(ip,scope): return struct.pack('<HHI',23,0,0)+v6(ip)+struct.pack('<I',scope)
    rows=[(12,sinet4('0.0.0.0'),0,sinet4('192.168.1.1'),0,'0.0.0.0/0 via 192.168.1.1, Wi-Fi (index 12), route metric 0'),
          (7,sinet4('0.0.0.0'),0,sinet4('10.0.0.1'),0,'0.0.0.0/0 via 10.0.0.1, Ethernet (index 7), route metric 0'),
          (12,sinet4('192.168.1.0'),24,sinet4('0.0.0.0'),256,'192.168.1.0/24 on-link (next hop 0.0.0.0), index 12'),
          (12,sinet6('::',0),0,sinet6('fe80::1',12),256,'::/0 via fe80::1 (scope ID 12), index 12, route metric 256'),
          (1,sinet4('127.0.0.0'),8,sinet4('0.0.0.0'),256,'127.0.0.0/8 on-link, loopback (index 1)')]
    emit(struct.pack('<II',len(rows),0),f'MIB_IPFORWARD_TABLE2: NumEntries={len(rows)}, 4 bytes of padding (Table[0] is 8-aligned)')
    for idx,dst,plen,nh,metric,c in rows:
        luid=0x6000000+idx
        r=struct.pack('<QI',luid,idx)+dst+struct.pack('<B3x',plen)+nh+struct.pack('<B3xIIIIBBBBII',0,0xffffffff,0xffffffff,metric,3,0,0,1,0,0,0)
        assert len(r)==104, len(r)
        emit(r, f'MIB_IPFORWARD_ROW2 (104 bytes): {c}. InterfaceLuid, InterfaceIndex, DestinationPrefix (SOCKADDR_INET + PrefixLength + 3 pad), NextHop (SOCKADDR_INET), SitePrefixLength + 3 pad, ValidLifetime, PreferredLifetime, Metric, Protocol=3 (MIB_IPPROTO_NETMGMT), Loopback, AutoconfigureAddress, Publish, Immortal, Age, Origin')
print('\n'.join(out))

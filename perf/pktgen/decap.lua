-- vtepd decapsulation load with pktgen-dpdk's VXLAN support.
--
-- Cabling as in encap.lua. Port 1 sends VXLAN (UDP 4789, VNI 100) from a
-- remote VTEP's address to vtepd's underlay address; vtepd checks, strips
-- and delivers the inner frames on its access port, which pktgen counts on
-- port 0. vtepd accepts VXLAN only from known VTEPs: the source address
-- below must be in the VNI's flood list or an FDB entry (or set
-- accept_unknown_sources = true).
--
--   pktgen -l 0-4 -n 4 -a 0000:81:00.0 -a 0000:81:00.1 -- -P -m "[1:2].0,[3:4].1" -f perf/pktgen/decap.lua

local access    = "0"
local underlay  = "1"
local rate      = 100
local seconds   = 30
local vtep_mac  = "02:00:00:00:01:01"   -- vtepd's underlay MAC (vtepctl status)
local vtep_ip   = "192.0.2.1"           -- [underlay] address
local remote_ip = "192.0.2.10/24"       -- a remote VTEP in the VNI's flood list
local vni       = 100

pktgen.screen("off")
pktgen.stop("all")
pktgen.set(underlay, "count", 0)
pktgen.set(underlay, "rate", rate)
pktgen.set(underlay, "size", 110)       -- 50 bytes of outer headers + a 60-byte tenant frame
pktgen.set(underlay, "burst", 32)
pktgen.set_type(underlay, "ipv4")
pktgen.set_proto(underlay, "udp")
pktgen.set_mac(underlay, "dst", vtep_mac)
pktgen.set_ipaddr(underlay, "src", remote_ip)
pktgen.set_ipaddr(underlay, "dst", vtep_ip)
pktgen.set(underlay, "sport", 49152)
pktgen.set(underlay, "dport", 4789)
-- VXLAN header: flags 0x08 (I: VNI valid), group 0, VNI.
pktgen.vxlan_id(underlay, 8, 0, vni)
pktgen.vxlan(underlay, "on")
pktgen.set_range(underlay, "off")

pktgen.clr()
pktgen.start(underlay)
for s = 1, seconds do
    pktgen.delay(1000)
    local r = pktgen.portStats("all", "rate")
    printf("%3ds  VXLAN out %10d pps   tenant frames back %10d pps\n",
        s, r[tonumber(underlay)].pkts_tx, r[tonumber(access)].pkts_rx)
end
pktgen.stop(underlay)
pktgen.delay(500)
local t = pktgen.portStats("all", "port")
local sent, back = t[tonumber(underlay)].opackets, t[tonumber(access)].ipackets
printf("sent %d, delivered %d, lost %d (%.4f%%)\n", sent, back, sent - back,
    sent > 0 and 100 * (sent - back) / sent or 0)

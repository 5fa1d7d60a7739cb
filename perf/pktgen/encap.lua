-- vtepd encapsulation load with pktgen-dpdk.
--
-- Cabling: pktgen port 0 <-> vtepd's access port, pktgen port 1 <-> vtepd's
-- underlay port. Port 0 sends 64-byte tenant frames (60 + FCS) to a range of
-- destination MACs that vtepd's FDB places behind remote VTEPs, from 8
-- tenant MACs and 256 UDP flows; vtepd sends them out of its underlay port
-- as VXLAN, which pktgen counts on port 1.
--
--   pktgen -l 0-4 -n 4 -a 0000:81:00.0 -a 0000:81:00.1 -- -P -m "[1:2].0,[3:4].1" -f perf/pktgen/encap.lua
--
-- Edit the values below to match the vtepd config (docker/README.md and
-- perf/pktgen/README.md show one that fits them).

local access   = "0"      -- pktgen port cabled to vtepd's access port
local underlay = "1"      -- pktgen port cabled to vtepd's underlay port
local rate     = 100      -- percent of line rate
local seconds  = 30       -- measurement time
local macs     = 4096     -- destination MACs: 02:dd:00:00:00:00 .. + macs - 1

local function mac(n)
    return string.format("02:dd:00:%02x:%02x:%02x", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
end

pktgen.screen("off")
pktgen.stop("all")
pktgen.set(access, "count", 0)           -- send until stopped
pktgen.set(access, "rate", rate)
pktgen.set(access, "size", 64)
pktgen.set(access, "burst", 32)
pktgen.set_type(access, "ipv4")
pktgen.set_proto(access, "udp")

-- Ranges: destinations walk the FDB entries, sources and flows vary.
local function range(field, start, min, max, inc)
    pktgen.range[field](access, "start", start)
    pktgen.range[field](access, "min", min)
    pktgen.range[field](access, "max", max)
    pktgen.range[field](access, "inc", inc)
end
range("dst_mac", mac(0), mac(0), mac(macs - 1), "00:00:00:00:00:01")
range("src_mac", "02:aa:00:00:00:00", "02:aa:00:00:00:00", "02:aa:00:00:00:07", "00:00:00:00:00:01")
range("src_ip", "10.0.0.1", "10.0.0.1", "10.0.0.1", "0.0.0.0")
range("dst_ip", "10.0.1.0", "10.0.1.0", "10.0.1.249", "0.0.0.1")
range("src_port", 10000, 10000, 10255, 1)
range("dst_port", 80, 80, 80, 0)
range("pkt_size", 64, 64, 64, 0)
pktgen.set_range(access, "on")

pktgen.clr()
pktgen.start(access)
for s = 1, seconds do
    pktgen.delay(1000)
    local r = pktgen.portStats("all", "rate")
    printf("%3ds  tenant frames out %10d pps   VXLAN back %10d pps  (%d Mbit/s)\n",
        s, r[tonumber(access)].pkts_tx, r[tonumber(underlay)].pkts_rx, r[tonumber(underlay)].mbits_rx)
end
pktgen.stop(access)
pktgen.delay(500)                        -- let the last packets arrive
local t = pktgen.portStats("all", "port")
local sent, back = t[tonumber(access)].opackets, t[tonumber(underlay)].ipackets
printf("sent %d, VXLAN back %d, lost %d (%.4f%%), rx missed on port %s: %d\n",
    sent, back, sent - back, sent > 0 and 100 * (sent - back) / sent or 0, underlay,
    t[tonumber(underlay)].imissed or 0)

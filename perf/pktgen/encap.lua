-- vtepd encapsulation load with pktgen-dpdk.
--
-- Cabling: pktgen port 0 <-> vtepd's access port, pktgen port 1 <-> vtepd's
-- underlay port (README.md). Port 0 sends 64-byte tenant frames (60 + FCS)
-- from 8 tenant MACs to `macs` destination MACs that vtepd's FDB places
-- behind a remote VTEP, as 256 UDP flows; vtepd sends them out of its
-- underlay port as VXLAN, which pktgen counts on port 1.
--
--   pktgen -l 0-4 -n 4 -a 0000:81:00.0 -a 0000:81:00.1 -- -P -m "[1:2].0,[3:4].1" -f perf/pktgen/encap.lua
--
-- Settings: edit the defaults below or set VTEP_PG_<NAME> in the
-- environment (VTEP_PG_RATE=5 VTEP_PG_SECONDS=10 ...).

local vtep = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "vtep.lua")
local access   = vtep.param("access", "0")   -- pktgen port cabled to vtepd's access port
local underlay = vtep.param("underlay", "1") -- pktgen port cabled to vtepd's underlay port
local rate     = vtep.param("rate", 100)     -- percent of line rate
local seconds  = vtep.param("seconds", 30)   -- measurement time
local macs     = vtep.param("macs", 4096)    -- destination MACs: 02:dd:00:00:00:00 .. + macs - 1

local function mac(n)
    return string.format("02:dd:00:%02x:%02x:%02x", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
end

pktgen.screen("off")
pktgen.stop("all")
pktgen.set(access, "count", 0)           -- send until stopped
pktgen.set(access, "rate", rate)
pktgen.set(access, "burst", 32)

-- Range mode: destinations walk the FDB entries, sources and flows vary.
-- Range packets are TCP unless ip_proto says otherwise.
local function range(field, start, min, max, inc)
    pktgen.range[field](access, "start", start)
    pktgen.range[field](access, "min", min)
    pktgen.range[field](access, "max", max)
    pktgen.range[field](access, "inc", inc)
end
pktgen.range.set_type(access, "ipv4")
pktgen.range.ip_proto(access, "udp")
range("dst_mac", mac(0), mac(0), mac(macs - 1), "00:00:00:00:00:01")
range("src_mac", "02:aa:00:00:00:00", "02:aa:00:00:00:00", "02:aa:00:00:00:07", "00:00:00:00:00:01")
range("src_ip", "10.0.0.1", "10.0.0.1", "10.0.0.1", "0.0.0.0")
range("dst_ip", "10.0.1.0", "10.0.1.0", "10.0.1.249", "0.0.0.1")
range("src_port", 10000, 10000, 10255, 1)
range("dst_port", 80, 80, 80, 0)
range("pkt_size", 64, 64, 64, 0)         -- pktgen's sizes include the 4-byte FCS
pktgen.set_range(access, "on")

local t = vtep.run(access, underlay, seconds, "tenant frames out", "VXLAN back")
vtep.result("encap", t)
vtep.done()

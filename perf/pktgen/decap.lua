-- vtepd decapsulation load with pktgen-dpdk's VXLAN support.
--
-- Cabling as in encap.lua. Port 1 sends VXLAN (UDP 4789, I flag, VNI 100)
-- from a remote VTEP's address to vtepd's underlay address; vtepd checks,
-- strips and delivers the inner frames on its access port, which pktgen
-- counts on port 0. vtepd accepts VXLAN only from known VTEPs: the source
-- address below must be in the VNI's flood list or an FDB entry (or set
-- accept_unknown_sources = true).
--
--   pktgen -l 0-4 -n 4 -a 0000:81:00.0 -a 0000:81:00.1 -- -P -m "[1:2].0,[3:4].1" -f perf/pktgen/decap.lua
--
-- The inner frame: a 60-byte tenant frame to "tenant" (74:65:6e:61:6e:74)
-- from "remote" (72:65:6d:6f:74:65); vtep.lua's vxlan_stream says how.

local vtep = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "vtep.lua")
local access    = vtep.param("access", "0")
local underlay  = vtep.param("underlay", "1")
local rate      = vtep.param("rate", 100)
local seconds   = vtep.param("seconds", 30)
local vtep_mac  = vtep.param("vtep_mac", "02:00:00:00:01:01")  -- vtepd's underlay MAC (vtepctl status)
local vtep_ip   = vtep.param("vtep_ip", "192.0.2.1")           -- [underlay] address
local remote_ip = vtep.param("remote_ip", "192.0.2.10/24")     -- a remote VTEP of the VNI
local vni       = vtep.param("vni", 100)

pktgen.screen("off")
pktgen.stop("all")
pktgen.set(underlay, "count", 0)
pktgen.set(underlay, "rate", rate)
pktgen.set(underlay, "burst", 32)
vtep.vxlan_stream({ port = underlay, vtep_mac = vtep_mac, vtep_ip = vtep_ip,
    remote_ip = remote_ip, vni = vni })

local t = vtep.run(underlay, access, seconds, "VXLAN out", "tenant frames back")
vtep.result("decap", t)
vtep.done()

-- A MAC move (VM migration) through vtepd, driven by pktgen-dpdk.
--
-- Cabling and vtepd config as for encap.lua and decap.lua. Host M
-- ("remote", 72:65:6d:6f:74:65) first lives behind vtepd's access port,
-- then moves behind the remote VTEP; traffic to it must follow at once.
--   1. local:  port 0 sends `count` frames from M to 02:dd:00:00:00:00 (an
--              FDB entry behind the remote): vtepd learns M on its access
--              port, the frames come back as VXLAN on port 1.
--   2. move:   port 1 sends `count` VXLAN frames from the remote VTEP with
--              inner source M: vtepd sees M move behind the remote and
--              delivers the frames on port 0.
--   3. follow: port 0 sends `count` frames to M: before the move vtepd would
--              drop them (M was on the port they came in on); now they
--              must come back as VXLAN to the remote on port 1.
-- Each phase prints a RESULT line; `vtepctl fdb show` then lists M as
-- learned behind 192.0.2.10 and `vtepctl stats` counts the move.
--
--   pktgen -l 0-4 -n 4 -a 0000:81:00.0 -a 0000:81:00.1 -- -P -m "[1:2].0,[3:4].1" -f perf/pktgen/move.lua

local vtep = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "vtep.lua")
local access    = vtep.param("access", "0")
local underlay  = vtep.param("underlay", "1")
local rate      = vtep.param("rate", 1)
local count     = vtep.param("count", 10000)
local vtep_mac  = vtep.param("vtep_mac", "02:00:00:00:01:01")
local vtep_ip   = vtep.param("vtep_ip", "192.0.2.1")
local remote_ip = vtep.param("remote_ip", "192.0.2.10/24")
local vni       = vtep.param("vni", 100)
local moving    = "72:65:6d:6f:74:65"   -- "remote": the inner source of vxlan_stream's frames

pktgen.screen("off")
pktgen.stop("all")
for _, p in ipairs({ access, underlay }) do
    pktgen.set_range(p, "off")
    pktgen.set(p, "rate", rate)
    pktgen.set(p, "burst", 32)
end
pktgen.set(access, "size", 64)
pktgen.set_type(access, "ipv4")
pktgen.set_proto(access, "udp")
vtep.vxlan_stream({ port = underlay, vtep_mac = vtep_mac, vtep_ip = vtep_ip,
    remote_ip = remote_ip, vni = vni })

pktgen.set_mac(access, "src", moving)
pktgen.set_mac(access, "dst", "02:dd:00:00:00:00")
vtep.result("move-local", vtep.send(access, underlay, count))

vtep.result("move-move", vtep.send(underlay, access, count))

pktgen.set_mac(access, "src", "02:aa:00:00:00:01")
pktgen.set_mac(access, "dst", moving)
vtep.result("move-follow", vtep.send(access, underlay, count))
vtep.done()

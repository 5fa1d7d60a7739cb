-- No-drop rate of vtepd's encapsulation path with pktgen-dpdk, in the
-- spirit of RFC 2544: a binary search over pktgen's rate (percent of line
-- rate) for the highest rate at which every tenant frame comes back as
-- VXLAN. Run encap.lua's set-up first (it leaves the port configured), or
-- load this after it:  pktgen ... -f perf/pktgen/encap.lua -f perf/pktgen/ndr.lua
--
-- A trial: clear counters, send for `trial_ms`, stop, wait for stragglers,
-- compare what port 0 sent with what port 1 received.

local access    = "0"
local underlay  = "1"
local trial_ms  = 10000     -- RFC 2544 asks for 60 s trials for the final figure
local precision = 0.5       -- stop when the interval is below this many percent
local lo, hi    = 0, 100

local function trial(rate)
    pktgen.stop(access)
    pktgen.set(access, "rate", rate)
    pktgen.clr()
    pktgen.start(access)
    pktgen.delay(trial_ms)
    pktgen.stop(access)
    pktgen.delay(1000)
    local t = pktgen.portStats("all", "port")
    local sent, back = t[tonumber(access)].opackets, t[tonumber(underlay)].ipackets
    printf("rate %6.2f%%: sent %d, back %d, lost %d\n", rate, sent, back, sent - back)
    return sent > 0 and back >= sent
end

pktgen.screen("off")
if trial(hi) then
    lo = hi
else
    while hi - lo > precision do
        local mid = (lo + hi) / 2
        if trial(mid) then lo = mid else hi = mid end
    end
end
printf("NDR: %.2f%% of line rate (64-byte frames)\n", lo)

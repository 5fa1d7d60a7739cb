-- No-drop rate of vtepd's encapsulation path with pktgen-dpdk, in the
-- spirit of RFC 2544: a binary search over pktgen's rate (percent of line
-- rate) for the highest rate at which every tenant frame comes back as
-- VXLAN. Load it after encap.lua, whose set-up it reuses:
--
--   pktgen ... -f perf/pktgen/encap.lua -f perf/pktgen/ndr.lua
--
-- A trial: clear counters, send for `trial_ms`, stop, read the totals once
-- pktgen's counters have settled, compare what port 0 sent with what port
-- 1 received. The search stops when the interval is within `precision`
-- (relative: 0.05 = 5% of the upper bound) or below pktgen's 0.01% floor.
-- Each trial prints the rate pktgen reached: when it stays well below the
-- rate asked for, the generator is the limit, not vtepd.

local vtep = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "vtep.lua")
local access    = vtep.param("access", "0")
local underlay  = vtep.param("underlay", "1")
local trial_ms  = vtep.param("trial_ms", 10000)  -- RFC 2544 asks for 60 s trials for the final figure
local precision = vtep.param("precision", 0.05)
local lo, hi    = 0, vtep.param("max_rate", 100)
local best      = nil                            -- totals of the best lossless trial

local function trial(rate)
    pktgen.stop(access)
    pktgen.set(access, "count", 0)
    pktgen.set(access, "rate", rate)
    pktgen.clr()
    pktgen.start(access)
    pktgen.delay(trial_ms)
    pktgen.stop(access)
    local t = vtep.settled(access, underlay)
    t.rate, t.pps = rate, t.sent * 1000 / trial_ms
    local ok = t.sent > 0 and t.back >= t.sent
    vtep.printf("trial %8.4f%% of line rate: sent %d (%.0f pps), back %d, lost %d: %s\n",
        rate, t.sent, t.pps, t.back, t.sent - t.back, ok and "no loss" or "LOSS")
    if ok and (best == nil or rate > best.rate) then
        best = t
    end
    return ok
end

pktgen.screen("off")
if trial(hi) then
    lo = hi
else
    while hi - lo > precision * hi and hi > 0.01 do
        local mid = (lo + hi) / 2
        if trial(mid) then lo = mid else hi = mid end
    end
end
if best and best.rate >= hi then
    vtep.printf("NDR: no loss at %.4f%% of line rate, the highest rate asked for: %.0f pps (64-byte frames) is a lower bound\n",
        best.rate, best.pps)
elseif best then
    vtep.printf("NDR: %.4f%% of line rate, %.0f pps (%d-byte frames), within %.4f%% (search interval %.4f..%.4f)\n",
        best.rate, best.pps, 64, hi - lo, lo, hi)
else
    vtep.printf("NDR: none: loss at every rate down to %.4f%% of line rate\n", hi)
end
vtep.done()

-- Dry run of the pktgen scripts outside pktgen (CI has no pktgen-dpdk): a
-- stand-in `pktgen` table with the functions, argument counts and option
-- names of pktgen's Lua library (app/lpktgenlib.c); any other call, a wrong
-- argument count or an unknown option fails the run. Its port counters
-- model a device that forwards everything up to 73% of line rate.
--
--   lua5.4 perf/pktgen/check.lua perf/pktgen/encap.lua

local calls = {}
local state = { rate = {}, sending = {}, sent = {}, back = {} }
local LIMIT = 73

local function fail(msg) error("pktgen API misuse: " .. msg, 3) end

local function portlist(p)
    if type(p) ~= "string" or not (p == "all" or p:match("^[%d,%-]+$")) then
        fail("portlist must be a string like \"0\", \"0-1\" or \"all\", got " .. tostring(p))
    end
end

local function api(name, nargs, check)
    return function(...)
        local n = select("#", ...)
        if n ~= nargs then
            fail(string.format("%s takes %d arguments, got %d", name, nargs, n))
        end
        if check then check(...) end
        calls[#calls + 1] = name
    end
end

local function onoff(v)
    if not ({ on = 1, off = 1, enable = 1, disable = 1 })[v] then
        fail("state must be on/off/enable/disable, got " .. tostring(v))
    end
end

local set_options = { count = 1, size = 1, rate = 1, burst = 1, cycles = 1, sport = 1,
    dport = 1, seq_cnt = 1, seqCnt = 1, prime = 1, dump = 1, ttl = 1 }
local range_what = { start = 1, min = 1, max = 1, inc = 1 }

local function each(p, f)
    if p == "all" then f(0); f(1) else f(tonumber(p)) end
end

pktgen = {
    set = api("set", 3, function(p, what, v)
        portlist(p)
        if not set_options[what] then fail("set does not support " .. tostring(what)) end
        if what == "rate" then each(p, function(i) state.rate[i] = tonumber(v) end) end
    end),
    start = api("start", 1, function(p)
        portlist(p)
        each(p, function(i) state.sending[i] = true end)
    end),
    stop = api("stop", 1, function(p)
        portlist(p)
        each(p, function(i) state.sending[i] = false end)
    end),
    set_mac = api("set_mac", 3, function(p, which, _)
        portlist(p)
        if which ~= "src" and which ~= "dst" then fail("set_mac: src or dst") end
    end),
    set_ipaddr = api("set_ipaddr", 3, function(p, which, _)
        portlist(p)
        if which ~= "src" and which ~= "dst" then fail("set_ipaddr: src or dst") end
    end),
    set_proto = api("set_proto", 2, portlist),
    set_type = api("set_type", 2, portlist),
    screen = api("screen", 1, onoff),
    vxlan = api("vxlan", 2, function(p, s) portlist(p); onoff(s) end),
    vxlan_id = api("vxlan_id", 4, portlist),
    set_range = api("set_range", 2, function(p, s) portlist(p); onoff(s) end),
    clr = api("clr", 0, function()
        state.sent, state.back = {}, {}
    end),
    delay = api("delay", 1, function(ms)
        -- Traffic flows while the script waits: 1 Mpps at 100%.
        for i = 0, 1 do
            if state.sending[i] then
                local r = state.rate[i] or 100
                local n = math.floor(r * 10 * ms)
                state.sent[i] = (state.sent[i] or 0) + n
                local o = 1 - i
                local kept = r <= LIMIT and n or math.floor(n * LIMIT / r)
                state.back[o] = (state.back[o] or 0) + kept
            end
        end
    end),
    portStats = function(p, kind)
        if select("#", p, kind) ~= 2 then fail("portStats takes 2 arguments") end
        portlist(p)
        if kind ~= "port" and kind ~= "rate" then fail("portStats: port or rate") end
        calls[#calls + 1] = "portStats"
        local t = {}
        for i = 0, 1 do
            local o, b = state.sent[i] or 0, state.back[i] or 0
            t[i] = { opackets = o, ipackets = b, obytes = o * 64, ibytes = b * 64,
                ierrors = 0, oerrors = 0, rx_nombuf = 0, imissed = 0,
                pkts_tx = o, pkts_rx = b, mbits_tx = 0, mbits_rx = 0 }
        end
        return t
    end,
    range = {},
}
for _, f in ipairs({ "dst_mac", "src_mac", "src_ip", "dst_ip", "ip_proto", "src_port",
    "dst_port", "ttl", "vlan_id", "pkt_size", "cos", "tos" }) do
    pktgen.range[f] = api("range." .. f, 3, function(p, what, _)
        portlist(p)
        if not range_what[what] then fail("range." .. f .. ": start/min/max/inc, got " .. tostring(what)) end
    end)
end
setmetatable(pktgen, { __index = function(_, k) fail("pktgen." .. tostring(k) .. " does not exist") end })
setmetatable(pktgen.range, { __index = function(_, k) fail("pktgen.range." .. tostring(k) .. " does not exist") end })

function printf(fmt, ...) io.write(string.format(fmt, ...)) end

for _, script in ipairs(arg) do
    dofile(script)
end
io.write(string.format("check: %d pktgen calls, all known\n", #calls))

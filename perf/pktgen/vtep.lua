-- Helpers shared by the vtepd load scripts (encap.lua, decap.lua, ndr.lua,
-- move.lua); each script loads this file from its own directory.
--
-- pktgen's Lua state has the standard libraries but no `printf`, and
-- pktgen refreshes its port counters once a second: totals read right
-- after stopping can be a second old, so `settled` waits until two reads
-- agree.

local M = {}

-- Prints on pktgen's terminal (and so in a log when run under `script`).
function M.printf(fmt, ...)
    io.write(string.format(fmt, ...))
    io.flush()
end

-- A setting: the environment variable VTEP_PG_<NAME> if set, else `default`.
-- Numbers stay numbers.
function M.param(name, default)
    local v = os.getenv("VTEP_PG_" .. string.upper(name))
    if v == nil or v == "" then
        return default
    end
    if type(default) == "number" then
        local n = tonumber(v)
        if n == nil then
            error(string.format("VTEP_PG_%s=%q is not a number", string.upper(name), v))
        end
        return n
    end
    return v
end

-- Port totals {sent = opackets of `tx`, back = ipackets of `rx`, missed}
-- once pktgen's once-a-second refresh has caught up: read every 1.1 s until
-- two reads agree (at most `tries` reads).
function M.settled(tx, rx, tries)
    local function read()
        local t = pktgen.portStats("all", "port")
        return t[tonumber(tx)].opackets, t[tonumber(rx)].ipackets, t[tonumber(rx)].imissed or 0
    end
    local sent, back, missed = read()
    for _ = 1, tries or 10 do
        pktgen.delay(1100)
        local s, b, m = read()
        if s == sent and b == back and m == missed then
            break
        end
        sent, back, missed = s, b, m
    end
    return { sent = sent, back = back, missed = missed }
end

-- Sends from `tx` for `seconds`, printing the rates each second, then
-- returns the settled totals.
function M.run(tx, rx, seconds, what_tx, what_rx)
    pktgen.clr()
    pktgen.start(tx)
    for s = 1, seconds do
        pktgen.delay(1000)
        local r = pktgen.portStats("all", "rate")
        M.printf("%3ds  %s %10d pps   %s %10d pps\n", s, what_tx, r[tonumber(tx)].pkts_tx,
            what_rx, r[tonumber(rx)].pkts_rx)
    end
    pktgen.stop(tx)
    return M.settled(tx, rx)
end

-- The summary line the CI test reads (one line, key=value).
function M.result(name, t)
    local lost = t.sent - t.back
    M.printf("RESULT %s sent=%d back=%d lost=%d loss_pct=%.4f rx_missed=%d\n", name, t.sent,
        t.back, lost, t.sent > 0 and 100 * lost / t.sent or 0, t.missed)
end

-- Runs pktgen CLI commands (forms the Lua API lacks or gets wrong) from a
-- temporary command file.
function M.cli(lines)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    pktgen.run("cmd", path, "")
    os.remove(path)
end

-- Sends exactly `count` frames from `tx` (single-packet or range mode as
-- set up), then returns the settled totals.
function M.send(tx, rx, count)
    pktgen.clr()
    pktgen.set(tx, "count", count)
    pktgen.start(tx)
    for _ = 1, 600 do
        pktgen.delay(100)
        if pktgen.portStats("all", "port")[tonumber(tx)].opackets >= count then
            break
        end
    end
    pktgen.stop(tx)
    return M.settled(tx, rx)
end

-- Sets up port `p.port`'s single packet as VXLAN from `p.remote_ip` to
-- vtepd (`p.vtep_mac`, `p.vtep_ip`, VNI `p.vni`) carrying a 60-byte tenant
-- frame. pktgen builds the outer headers and fills the rest of the frame
-- from a 16-byte pattern that repeats from the frame's first byte, so the
-- inner frame (from byte 50) starts at pattern byte 2: inner destination
-- MAC "tenant" (74:65:6e:61:6e:74, on vtepd's access port in config.sh's
-- config), source MAC "remote" (72:65:6d:6f:74:65), EtherType 0x5800, then
-- the pattern as payload. (pktgen's default pattern would make the inner
-- source MAC multicast, which vtepd drops as inner_src_invalid.)
--
-- The VXLAN header is set with the CLI's `set PORT vxlan FLAGS GROUP VNI`:
-- pktgen 23.06's Lua vxlan_id() keeps 8 bits of the flags and so writes
-- the I flag into the wrong byte. The CLI shifts its VNI argument left by
-- 8 bits once too many, hence VNI << 16.
function M.vxlan_stream(p)
    pktgen.set_range(p.port, "off")
    pktgen.set(p.port, "size", 114)     -- 110 bytes on the wire (sizes count the FCS)
    pktgen.set_type(p.port, "ipv4")
    pktgen.set_proto(p.port, "udp")
    pktgen.set_mac(p.port, "dst", p.vtep_mac)
    pktgen.set_ipaddr(p.port, "src", p.remote_ip)
    pktgen.set_ipaddr(p.port, "dst", p.vtep_ip)
    pktgen.set(p.port, "sport", 49152)
    pktgen.set(p.port, "dport", 4789)
    pktgen.pattern(p.port, "user")
    pktgen.userPattern(p.port, "..tenantremoteX")
    M.cli({ string.format("set %s vxlan 0x0800 0 %d", p.port, p.vni << 16) })
    pktgen.vxlan(p.port, "on")
end

-- pktgen.quit() at the end of a script when VTEP_PG_QUIT=1 (CI runs the
-- scripts unattended; by hand one usually stays at pktgen's prompt).
function M.done()
    if M.param("quit", "0") == "1" then
        pktgen.quit()
    end
end

return M

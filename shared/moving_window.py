"""The moving-window limit as Lua: the gateway's rate limits and auth's login limiter count the same way, in one place.

The layout is the `limits` library's moving window (a list of timestamps per key, newest first), so its tools read
the same counters. Every limit of a call is tested and counted in ONE script run: all or nothing (a call refused by
one limit counts against none), on Redis' own clock.
"""

# KEYS: one list per limit. ARGV: (amount, expiry seconds) per key.
# Returns {0, stamp} when a slot was taken in every list (the stamp gives it back, RELEASE_LUA), else
# {index of the refusing key (1-based), seconds until that window frees a slot}.
RESERVE_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('time')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #KEYS do
    local expiry = tonumber(ARGV[2 * i])
    local entry = redis.call('lindex', KEYS[i], tonumber(ARGV[2 * i - 1]) - 1)
    if entry and tonumber(entry) >= now - expiry then
        return {i, math.max(1, math.ceil(tonumber(entry) + expiry - now))}
    end
end
local stamp = string.format('%.6f', now)
for i = 1, #KEYS do
    redis.call('lpush', KEYS[i], stamp)
    redis.call('ltrim', KEYS[i], 0, tonumber(ARGV[2 * i - 1]) - 1)
    redis.call('expire', KEYS[i], tonumber(ARGV[2 * i]))
end
return {0, stamp}
"""

# KEYS: the lists a reservation went into. ARGV: its stamp.
RELEASE_LUA = """
for i = 1, #KEYS do
    redis.call('lrem', KEYS[i], 1, ARGV[1])
end
return 0
"""

"""Lua scripts for the Redis store's outbox and audit operations.

Each runs atomically on the server, so concurrent dispatchers in several service processes can
claim, ack and fail without WATCH retries. Per-message state hashes are addressed from a prefix
passed in ARGV; they share the store's hash tag, so on Cluster they sit in the declared keys' slot.
"""
from __future__ import annotations

# An expired lease: a LEASED message (nothing sent) goes back to ready; a SENDING one becomes
# UNKNOWN and leaves every index, so nobody re-sends it blindly. Shared by CLAIM and RECLAIM.
_EXPIRE = """
local function expire(ready, leased, now, prefix)
  local n = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', leased, '-inf', now)) do
    local key = prefix .. id
    redis.call('ZREM', leased, id)
    redis.call('HDEL', key, 'lease_until')
    if redis.call('HGET', key, 'state') == 'sending' then
      redis.call('HSET', key, 'state', 'unknown', 'unknown_at', now)
    else
      redis.call('HSET', key, 'state', 'pending')
      redis.call('ZADD', ready, redis.call('HGET', key, 'rank'), id)
    end
    n = n + 1
  end
  return n
end
"""

# KEYS: ready, delayed, leased   ARGV: now_us, limit, lease_until_us, state_prefix, token1..tokenN
CLAIM = _EXPIRE + """
local now = ARGV[1]
local prefix = ARGV[4]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], redis.call('HGET', prefix .. id, 'rank'), id)
end
expire(KEYS[1], KEYS[3], now, prefix)
local out = {}
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
for i, id in ipairs(ids) do
  local key = prefix .. id
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[3], ARGV[3], id)
  local attempts = redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HSET', key, 'state', 'leased', 'token', ARGV[4 + i], 'lease_until', ARGV[3])
  table.insert(out, id)
  table.insert(out, attempts)
  table.insert(out, redis.call('HGET', key, 'last_error'))
  table.insert(out, redis.call('HGET', key, 'unknown_at'))
end
return out
"""

# KEYS: ready, leased   ARGV: now_us, state_prefix
RECLAIM = _EXPIRE + """
return expire(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
"""

# KEYS: state, ready, delayed, leased   ARGV: token, outcome ('done'|'dead'|'retry'), error, retry_us, receipt
# A token is live while the message is leased or sending, or pending / unknown after a reclaim
# nobody has re-claimed: a late answer from the old holder then still lands.
SETTLE = """
local st = redis.call('HMGET', KEYS[1], 'state', 'token')
if not st[1] or st[2] ~= ARGV[1] then return 0 end
if st[1] == 'done' then
  if ARGV[2] == 'done' then return 1 end
  return 0
end
if st[1] ~= 'leased' and st[1] ~= 'sending' and st[1] ~= 'pending' and st[1] ~= 'unknown' then return 0 end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[1], 'lease_until')
if ARGV[2] == 'done' then
  redis.call('HSET', KEYS[1], 'state', 'done')
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'receipt', ARGV[5]) end
elseif ARGV[2] == 'dead' then
  redis.call('HSET', KEYS[1], 'state', 'dead', 'last_error', ARGV[3])
  redis.call('HDEL', KEYS[1], 'token')
else
  redis.call('HSET', KEYS[1], 'state', 'pending', 'last_error', ARGV[3], 'not_before', ARGV[4])
  redis.call('HDEL', KEYS[1], 'token')
  redis.call('ZADD', KEYS[3], ARGV[4], id)
end
return 1
"""

# KEYS: state   ARGV: token
SENDING = """
local st = redis.call('HMGET', KEYS[1], 'state', 'token')
if st[1] ~= 'leased' or st[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'sending')
return 1
"""

# KEYS: audit_seq, audit, state1..stateN   ARGV: audit entry JSON, token1..tokenN
# All or nothing: every message must still be leased to its token, or nothing is written (0).
BEGIN_SEND = """
for i = 3, #KEYS do
  local st = redis.call('HMGET', KEYS[i], 'state', 'token')
  if st[1] ~= 'leased' or st[2] ~= ARGV[i - 1] then return 0 end
end
for i = 3, #KEYS do
  redis.call('HSET', KEYS[i], 'state', 'sending')
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], seq .. '-0', 'entry', ARGV[1])
return seq
"""

# KEYS: state, ready, delayed, leased   ARGV: target ('held'|'pending'|'done'), token or '', text
# Operator moves: hold (text = reason), release (queue again), mark sent (text = receipt JSON).
MOVE = """
local st = redis.call('HMGET', KEYS[1], 'state', 'token', 'id', 'rank')
local state, id = st[1], st[3]
if not state then return 0 end
local ok = false
if ARGV[1] == 'held' and ARGV[2] ~= '' then
  ok = st[2] == ARGV[2] and (state == 'leased' or state == 'sending' or state == 'pending')
elseif ARGV[1] == 'held' then
  ok = state == 'pending' or state == 'unknown' or state == 'dead'
elseif ARGV[1] == 'pending' then
  ok = state == 'held' or state == 'unknown' or state == 'dead'
else
  ok = state == 'unknown' or state == 'held'
end
if not ok then return 0 end
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[1], 'token', 'lease_until')
redis.call('HSET', KEYS[1], 'state', ARGV[1])
if ARGV[1] == 'held' then
  redis.call('HSET', KEYS[1], 'last_error', ARGV[3])
elseif ARGV[1] == 'pending' then
  redis.call('HDEL', KEYS[1], 'not_before')
  redis.call('ZADD', KEYS[2], st[4], id)
else
  redis.call('HSET', KEYS[1], 'receipt', ARGV[3])
end
return 1
"""

# KEYS: audit_seq, audit   ARGV: entry JSON
AUDIT_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], seq .. '-0', 'entry', ARGV[1])
return seq
"""

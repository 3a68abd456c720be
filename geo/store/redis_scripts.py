"""Lua scripts for the Redis store's outbox and audit operations.

Each runs atomically on the server, so concurrent dispatchers in several service processes can
claim, ack and fail without WATCH retries. Per-message state hashes are addressed from a prefix
passed in ARGV; they share the store's hash tag, so on Cluster they sit in the declared keys' slot.
"""
from __future__ import annotations

# KEYS: ready, delayed, leased   ARGV: now_us, limit, lease_until_us, state_prefix, token1..tokenN
CLAIM = """
local now = ARGV[1]
local prefix = ARGV[4]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], redis.call('HGET', prefix .. id, 'rank'), id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('HSET', prefix .. id, 'state', 'pending')
  redis.call('ZADD', KEYS[1], redis.call('HGET', prefix .. id, 'rank'), id)
end
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
end
return out
"""

# KEYS: state, ready, delayed, leased   ARGV: token, outcome ('done'|'dead'|'retry'), error, retry_us
# A token is live while the message is leased, or pending after a reclaim nobody has re-claimed:
# a late ack from the old holder then still lands instead of causing a second delivery.
SETTLE = """
local st = redis.call('HMGET', KEYS[1], 'state', 'token')
if not st[1] or st[2] ~= ARGV[1] then return 0 end
if st[1] == 'done' then
  if ARGV[2] == 'done' then return 1 end
  return 0
end
if st[1] ~= 'leased' and st[1] ~= 'pending' then return 0 end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[1], 'lease_until')
if ARGV[2] == 'done' then
  redis.call('HSET', KEYS[1], 'state', 'done')
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

# KEYS: ready, leased   ARGV: now_us, state_prefix
RECLAIM = """
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HSET', ARGV[2] .. id, 'state', 'pending')
  redis.call('HDEL', ARGV[2] .. id, 'lease_until')
  redis.call('ZADD', KEYS[1], redis.call('HGET', ARGV[2] .. id, 'rank'), id)
  n = n + 1
end
return n
"""

# KEYS: audit_seq, audit   ARGV: entry JSON
AUDIT_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], seq .. '-0', 'entry', ARGV[1])
return seq
"""

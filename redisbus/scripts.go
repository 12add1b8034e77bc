package redisbus

import "github.com/redis/go-redis/v9"

// The scripts run atomically inside Redis, so that taking registrations,
// publishing, retaining and re-offering never interleave. Every script
// starts with the same arguments (see conf in Go):
//
//	ARGV[1] prefix, [2] retention ms, [3] redelivery ms, [4] registration
//	lease ms, [5] max retained, [6] per scope, [7] max bytes, [8] per scope
//
// and its own arguments follow from ARGV[9]. Key names are built inside
// the scripts from the prefix, so the bus needs a standalone Redis (or one
// shard), not Redis Cluster. The layout is described in the package doc.
const prelude = `
local P = ARGV[1]
local C = {ttl = tonumber(ARGV[2]), redeliver = tonumber(ARGV[3]), lease = tonumber(ARGV[4]),
  maxN = tonumber(ARGV[5]), maxNS = tonumber(ARGV[6]), maxB = tonumber(ARGV[7]), maxBS = tonumber(ARGV[8])}
local A = 9 -- the script's own arguments start here

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- extend gives key at least ms to live, never less than it has.
local function extend(key, ms)
  local cur = redis.call('PTTL', key)
  if cur == -1 or (cur >= 0 and cur < ms) then
    redis.call('PEXPIRE', key, ms)
  end
end

local function stat(field) redis.call('HINCRBY', P .. ':stat', field, 1) end
-- The retention index outlives the events it lists by this much, so that
-- the janitors sweep (and count) every expiry before the index could go.
local function index_ms() return C.ttl + 600000 end
local function scope_of(K) local n = string.match(K, '^(%d+):') return string.sub(K, 1, #n + 1 + tonumber(n)) end
local function seq_of(rec) return tonumber(string.match(rec, '^(%d+)\n')) end
local function keep_ms() return C.ttl + 600000 + C.redeliver * 2 end

-- Retained events: P:r:K holds the record; the scope's index P:ri:S
-- (K -> expiry ms) and P:rz:S (K -> bytes) and the overall P:rsn / P:rsb
-- (S -> count / bytes) and P:rt (n, b) keep the bounds.
local function unindex(S, K)
  local size = redis.call('HGET', P .. ':rz:' .. S, K)
  if not size then return end
  size = tonumber(size)
  redis.call('HDEL', P .. ':rz:' .. S, K)
  redis.call('ZREM', P .. ':ri:' .. S, K)
  redis.call('ZREM', P .. ':rx', K)
  local n = tonumber(redis.call('ZINCRBY', P .. ':rsn', -1, S))
  redis.call('ZINCRBY', P .. ':rsb', -size, S)
  if n <= 0 then
    redis.call('ZREM', P .. ':rsn', S)
    redis.call('ZREM', P .. ':rsb', S)
  end
  redis.call('HINCRBY', P .. ':rt', 'n', -1)
  redis.call('HINCRBY', P .. ':rt', 'b', -size)
end

local function drop(S, K, why)
  redis.call('DEL', P .. ':r:' .. K)
  unindex(S, K)
  stat(why)
end

local function sweep(S, now)
  for _, K in ipairs(redis.call('ZRANGEBYSCORE', P .. ':ri:' .. S, '-inf', now)) do
    drop(S, K, 'expired')
  end
end

-- evict_oldest evicts the oldest retained event of S for cause why
-- (counted as evicted, and by cause). A scope whose index is empty but
-- whose counts are not (they outlived it) has its counts repaired.
local function evict_oldest(S, why)
  local old = redis.call('ZRANGE', P .. ':ri:' .. S, 0, 0)
  if #old == 0 then
    local n, b = redis.call('ZSCORE', P .. ':rsn', S), redis.call('ZSCORE', P .. ':rsb', S)
    if n or b then
      redis.call('HINCRBY', P .. ':rt', 'n', -tonumber(n or '0'))
      redis.call('HINCRBY', P .. ':rt', 'b', -tonumber(b or '0'))
      redis.call('ZREM', P .. ':rsn', S)
      redis.call('ZREM', P .. ':rsb', S)
      return true
    end
    return false
  end
  drop(S, old[1], 'evicted')
  stat('evicted_' .. why)
  return true
end

local function score(z, S) return tonumber(redis.call('ZSCORE', P .. z, S) or '0') end
local function total(f) return tonumber(redis.call('HGET', P .. ':rt', f) or '0') end

-- bound enforces the bounds after scope S retained an event. A scope's own
-- bound evicts its own oldest; an overall bound evicts the oldest event of
-- the scope holding the most, so no scope within its share pays for
-- another's flood (S10).
local function bound(S, now)
  for _, K in ipairs(redis.call('ZRANGEBYSCORE', P .. ':rx', '-inf', now, 'LIMIT', 0, 1000)) do
    drop(scope_of(K), K, 'expired') -- expired in any scope: they count against no bound
  end
  while C.maxNS > 0 and score(':rsn', S) > C.maxNS do
    if not evict_oldest(S, 'scope_count') then break end
  end
  while C.maxBS > 0 and score(':rsb', S) > C.maxBS do
    if not evict_oldest(S, 'scope_bytes') then break end
  end
  for _, b in ipairs({{C.maxN, 'n', ':rsn', 'count'}, {C.maxB, 'b', ':rsb', 'bytes'}}) do
    while b[1] > 0 and total(b[2]) > b[1] do
      local v = redis.call('ZREVRANGE', P .. b[3], 0, 0)[1]
      if not v then break end
      sweep(v, now)
      if total(b[2]) > b[1] and not evict_oldest(v, b[4]) then break end
    end
  end
end

-- retain keeps rec as the retained event of K, unless it is given back
-- (giveback) and a newer one is retained. Returns 1 if rec is retained.
local function retain(S, K, rec, seq, giveback, now)
  if C.ttl <= 0 then
    stat('expired')
    return 0
  end
  local rk = P .. ':r:' .. K
  local cur = redis.call('GET', rk)
  if cur then
    if giveback and seq_of(cur) > seq then
      stat('replaced')
      return 0
    end
    drop(S, K, 'replaced')
  elseif redis.call('ZSCORE', P .. ':ri:' .. S, K) then
    drop(S, K, 'expired') -- expired, not yet swept
  end
  redis.call('SET', rk, rec, 'PX', C.ttl)
  redis.call('ZADD', P .. ':ri:' .. S, now + C.ttl, K)
  redis.call('ZADD', P .. ':rx', now + C.ttl, K)
  redis.call('HSET', P .. ':rz:' .. S, K, #rec)
  redis.call('ZINCRBY', P .. ':rsn', 1, S)
  redis.call('ZINCRBY', P .. ':rsb', #rec, S)
  redis.call('HINCRBY', P .. ':rt', 'n', 1)
  redis.call('HINCRBY', P .. ':rt', 'b', #rec)
  for _, k in ipairs({':ri:' .. S, ':rz:' .. S, ':rsn', ':rsb', ':rt', ':rx'}) do
    extend(P .. k, index_ms())
  end
  bound(S, now)
  return redis.call('EXISTS', rk)
end

-- inflight records delivery d of rec to n processes until they answer.
-- A taken retained event also notes, for each of its waiters (wids), which
-- delivery it took, so that a waiter that left before it heard the answer
-- has it offered again at once.
local function inflight(d, rec, n, S, K, seq, now, wids)
  local fl = P .. ':fl:' .. d
  redis.call('HSET', fl, 'm', rec, 'n', n, 's', S, 'k', K, 'q', seq)
  redis.call('PEXPIRE', fl, keep_ms())
  redis.call('ZADD', P .. ':fld', now + C.redeliver, d)
  extend(P .. ':fld', keep_ms())
  if wids and #wids > 0 then
    redis.call('HSET', fl, 'w', table.concat(wids, ','))
    for _, wid in ipairs(wids) do
      redis.call('SET', P .. ':tk:' .. wid, d, 'PX', keep_ms())
    end
  end
end

-- finish removes delivery d's record; it returns the record's fields.
local function finish(d)
  local fl = P .. ':fl:' .. d
  local f = redis.call('HMGET', fl, 'm', 's', 'k', 'q', 'w')
  redis.call('DEL', fl)
  redis.call('ZREM', P .. ':fld', d)
  if f[5] then
    for wid in string.gmatch(f[5], '[^,]+') do
      redis.call('DEL', P .. ':tk:' .. wid)
    end
  end
  return f
end

-- offer takes every registration of K and publishes rec to their
-- processes, one message each naming its waiters; a PUBLISH that reached
-- no subscriber is no delivery. With no process reached, rec is retained.
-- Returns {seq, waiters reached, retained 0|1}.
local function offer(S, K, rec, seq, giveback)
  local now = now_ms()
  local wk = P .. ':w:' .. K
  local fields = redis.call('HGETALL', wk)
  local procs, order = {}, {}
  for i = 1, #fields, 2 do
    local wid, proc = fields[i], fields[i + 1]
    if not procs[proc] then
      procs[proc] = {}
      order[#order + 1] = proc
    end
    table.insert(procs[proc], wid)
  end
  if #fields > 0 then
    redis.call('DEL', wk)
  end
  local d, reached, woken = nil, 0, 0
  for _, proc in ipairs(order) do
    d = d or redis.call('HINCRBY', P .. ':ctr', 'd', 1)
    local wids = procs[proc]
    if redis.call('PUBLISH', P .. ':proc:' .. proc, d .. '\n' .. table.concat(wids, ',') .. '\n' .. rec) > 0 then
      reached = reached + 1
      woken = woken + #wids
    end
  end
  if reached > 0 then
    inflight(d, rec, reached, S, K, seq, now, nil)
    return {seq, woken, 0}
  end
  return {seq, 0, retain(S, K, rec, seq, giveback, now)}
end

-- reoffer ends delivery d (its record gone) and offers its event again.
local function reoffer(d)
  local f = finish(d)
  if not f[1] then
    stat('expired') -- the record outlived its keep time
    return
  end
  offer(f[2], f[3], f[1], tonumber(f[4]), true)
end
`

// signalScript: ARGV scope S, key K, body. Returns {seq, waiters reached,
// retained 0|1}.
var signalScript = redis.NewScript(prelude + `
local S, K, body = ARGV[A], ARGV[A + 1], ARGV[A + 2]
local seq = redis.call('HINCRBY', P .. ':ctr', 's', 1)
stat('signals')
return offer(S, K, seq .. '\n' .. body, seq, false)
`)

// registerScript: ARGV scope S, key K, process ID, mode, waiter IDs...
// Takes the retained event of K for the waiters (returns a delivery
// "d\n\nrecord", in flight until answered) or, unless mode is "poll",
// registers each waiter (returns nil).
var registerScript = redis.NewScript(prelude + `
local S, K, proc, mode = ARGV[A], ARGV[A + 1], ARGV[A + 2], ARGV[A + 3]
local wids = {}
for i = A + 4, #ARGV do
  if redis.call('EXISTS', P .. ':ab:' .. ARGV[i]) == 0 then
    wids[#wids + 1] = ARGV[i]
  end -- else its waiter left before this ran (Redis was slow): skip it
end
if #wids == 0 then
  return false
end
local rk = P .. ':r:' .. K
local rec = redis.call('GET', rk)
if rec then
  redis.call('DEL', rk)
  unindex(S, K)
  local d = redis.call('HINCRBY', P .. ':ctr', 'd', 1)
  inflight(d, rec, 1, S, K, seq_of(rec), now_ms(), wids)
  return d .. '\n\n' .. rec
end
if mode == 'poll' then
  return false
end
local wk = P .. ':w:' .. K
for _, wid in ipairs(wids) do
  redis.call('HSET', wk, wid, proc)
end
extend(wk, C.lease)
return false
`)

// ackScript: ARGV delivery d, waiters woken. A process answers a delivery:
// the first answer of woken > 0 counts it delivered; once every process
// reached has answered, it ends, or, if none woke a waiter, the event is
// offered again (given back: it never replaces a newer retained event).
// Returns -1 when the delivery is gone (ended at its deadline, offered
// again or expired): the process must not hand the event out.
var ackScript = redis.NewScript(prelude + `
local d, woken = ARGV[A], tonumber(ARGV[A + 1])
local fl = P .. ':fl:' .. d
if redis.call('EXISTS', fl) == 0 then
  return -1 -- offered again (or expired) already: the answer is too late
end
if woken > 0 and redis.call('HSETNX', fl, 'dv', 1) == 1 then
  stat('delivered')
end
if redis.call('HINCRBY', fl, 'n', -1) > 0 then
  return 1
end
if redis.call('HEXISTS', fl, 'dv') == 1 then
  finish(d)
  return 1
end
reoffer(d)
return 2
`)

// abandonScript: ARGV key K, waiter IDs... Removes the registrations of
// waiters that left. An ID marked "?" is of a waiter that left before it
// heard its register script's answer: a retained event it took is offered
// again, and a tombstone makes its register script, if Redis runs it
// later (queued behind a stall), do nothing, so the two commute. Returns
// how many events were offered again.
var abandonScript = redis.NewScript(prelude + `
local K = ARGV[A]
local n = 0
for i = A + 1, #ARGV do
  local wid = ARGV[i]
  local unsure = string.sub(wid, 1, 1) == '?'
  if unsure then
    wid = string.sub(wid, 2)
  end
  redis.call('HDEL', P .. ':w:' .. K, wid)
  if unsure then
    redis.call('SET', P .. ':ab:' .. wid, 1, 'PX', C.lease)
    local tk = P .. ':tk:' .. wid
    local d = redis.call('GET', tk)
    if d then
      redis.call('DEL', tk)
      if redis.call('EXISTS', P .. ':fl:' .. d) == 1 then
        reoffer(d)
        n = n + 1
      end
    end
  end
end
return n
`)

// sweepScript: no own arguments. Counts and unindexes the retained events
// that expired (at most 1,000 a call), in every scope: a scope nobody
// signals again is swept too. Returns how many.
var sweepScript = redis.NewScript(prelude + `
local gone = redis.call('ZRANGEBYSCORE', P .. ':rx', '-inf', now_ms(), 'LIMIT', 0, 1000)
for _, K in ipairs(gone) do
  drop(scope_of(K), K, 'expired')
end
return #gone
`)

// redeliverScript: ARGV grace ms. Offers again the deliveries no process
// answered by their deadline. A delivery first found late gets grace more,
// so that answers queued behind a Redis stall run before it is re-offered.
// Returns how many were offered again.
var redeliverScript = redis.NewScript(prelude + `
local grace = tonumber(ARGV[A])
local now = now_ms()
local n = 0
for _, d in ipairs(redis.call('ZRANGEBYSCORE', P .. ':fld', '-inf', now, 'LIMIT', 0, 100)) do
  local fl = P .. ':fl:' .. d
  if redis.call('EXISTS', fl) == 1 and redis.call('HSETNX', fl, 'late', 1) == 1 then
    redis.call('ZADD', P .. ':fld', now + grace, d)
  elseif redis.call('HEXISTS', fl, 'dv') == 1 then
    finish(d) -- delivered; a process that answers later gets -1 and its waiters wait again
  else
    reoffer(d)
    n = n + 1
  end
end
return n
`)

// statsScript returns the shared counters: signals, delivered, expired,
// replaced, evicted, evictions by cause (scope count, scope bytes, count,
// bytes), and the number and bytes of events retained now.
var statsScript = redis.NewScript(`
local s = redis.call('HMGET', KEYS[1], 'signals', 'delivered', 'expired', 'replaced', 'evicted',
  'evicted_scope_count', 'evicted_scope_bytes', 'evicted_count', 'evicted_bytes')
local r = redis.call('HMGET', KEYS[2], 'n', 'b')
s[10], s[11] = r[1], r[2]
for i = 1, 11 do s[i] = tonumber(s[i] or '0') end
return s
`)

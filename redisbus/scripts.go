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

-- extend gives key at least ms to live, never less than it has. It
-- reports whether the key had no expiry: the caller just made it.
local function extend(key, ms)
  local cur = redis.call('PTTL', key)
  if cur == -1 or (cur >= 0 and cur < ms) then
    redis.call('PEXPIRE', key, ms)
  end
  return cur == -1
end

local function stat(field) redis.call('HINCRBY', P .. ':stat', field, 1) end
-- The retention index outlives the events it lists by this much, so that
-- the janitors sweep (and count) every expiry before the index could go.
local function index_ms() return C.ttl + 600000 end
local function scope_of(K) local n = string.match(K, '^(%d+):') return string.sub(K, 1, #n + 1 + tonumber(n)) end
local function seq_of(rec) return tonumber(string.match(rec, '^(%d+)\n')) end
local function keep_ms() return C.ttl + 600000 + C.redeliver * 2 end
local function name_of(S, K) return string.sub(K, #S + 2) end
-- The scope's name index outlives what it lists: registrations (a lease)
-- and retained events (the retention index). Every script that adds to it
-- sets this, which is never less than what the renewals extend it to, so
-- it can be set without looking.
local function list_ms() return math.max(index_ms(), C.lease) end

-- P:n:S lists the names of scope S that hold state, for List.
local function names_add(S, K)
  local z = P .. ':n:' .. S
  redis.call('ZADD', z, 0, name_of(S, K))
  redis.call('PEXPIRE', z, list_ms()) -- never shortens: renew extends by less
end
local function names_check(S, K)
  if redis.call('EXISTS', P .. ':w:' .. K, P .. ':r:' .. K) == 0 then
    redis.call('ZREM', P .. ':n:' .. S, name_of(S, K))
  end
end

-- data_size is the length of a record's data: what follows "d": up to the
-- closing brace. The scope and name before it are JSON strings, inside
-- which '"t":' cannot occur unescaped.
local function data_size(rec)
  local _, e = string.find(rec, '"t":%-?%d+,"d":')
  return #rec - e - 1
end

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
  names_check(S, K)
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
  local size = data_size(rec)
  redis.call('SET', rk, rec, 'PX', C.ttl)
  redis.call('ZADD', P .. ':ri:' .. S, now + C.ttl, K)
  redis.call('ZADD', P .. ':rx', now + C.ttl, K)
  redis.call('HSET', P .. ':rz:' .. S, K, size)
  redis.call('ZINCRBY', P .. ':rsn', 1, S)
  redis.call('ZINCRBY', P .. ':rsb', size, S)
  redis.call('HINCRBY', P .. ':rt', 'n', 1)
  redis.call('HINCRBY', P .. ':rt', 'b', size)
  for _, k in ipairs({':ri:' .. S, ':rz:' .. S, ':rsn', ':rsb', ':rt', ':rx'}) do
    extend(P .. k, index_ms())
  end
  names_add(S, K)
  bound(S, now)
  return redis.call('EXISTS', rk)
end

-- inflight records delivery d of rec to n processes until they answer.
-- A taken retained event also notes, for each of its waiters (wids), which
-- delivery it took, so that a waiter that left before it heard the answer
-- has it offered again at once. claims are the any-of waits d claimed.
local function inflight(d, rec, n, S, K, seq, now, wids, claims)
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
  if claims and #claims > 0 then
    redis.call('HSET', fl, 'g', table.concat(claims, ','))
  end
end

-- release gives up the claims of delivery d (a list "W,W,..."): its waits
-- are not served by it.
local function release(d, claims)
  if not claims then return end
  for wid in string.gmatch(claims, '[^,]+') do
    local g = P .. ':g:' .. wid
    if redis.call('GET', g) == tostring(d) then
      redis.call('DEL', g)
    end
  end
end

-- finish removes delivery d's record; it returns the record's fields.
local function finish(d)
  local fl = P .. ':fl:' .. d
  local f = redis.call('HMGET', fl, 'm', 's', 'k', 'q', 'w', 'g')
  redis.call('DEL', fl)
  redis.call('ZREM', P .. ':fld', d)
  if f[5] then
    for wid in string.gmatch(f[5], '[^,]+') do
      redis.call('DEL', P .. ':tk:' .. wid)
    end
  end
  return f
end

-- offer takes the registrations of K and publishes rec to their
-- processes, one message each naming its waiters; a PUBLISH that reached
-- no subscriber is no delivery. It leaves registered the fresh waiters
-- that registered after rec was signaled (since >= seq), and drops the
-- registrations of any-of waits it cannot claim (served by another of
-- their names). With no process reached, rec is retained. Returns {seq,
-- waiters reached, retained 0|1}.
local function offer(S, K, rec, seq, giveback)
  local now = now_ms()
  local wk = P .. ':w:' .. K
  local fields = redis.call('HGETALL', wk)
  if #fields == 0 then
    return {seq, 0, retain(S, K, rec, seq, giveback, now)}
  end
  local procs, order, claims, keep = {}, {}, {}, nil
  local d = nil
  for i = 1, #fields, 2 do
    local wid, v = fields[i], fields[i + 1]
    local proc, opt = v, nil
    local sp = string.find(v, ' ', 1, true)
    if sp then
      proc, opt = string.sub(v, 1, sp - 1), string.sub(v, sp + 1)
    end
    local take = true
    if opt then
      local since = tonumber(string.match(opt, 'f(%d+)'))
      if since and since >= seq then
        take = false -- a fresh wait that registered after rec was signaled
        keep = keep or {}
        keep[#keep + 1] = wid
        keep[#keep + 1] = v
      elseif string.find(opt, 'g', 1, true) then
        d = d or redis.call('HINCRBY', P .. ':ctr', 'd', 1)
        if redis.call('SET', P .. ':g:' .. wid, d, 'NX', 'PX', keep_ms()) then
          claims[proc] = claims[proc] or {}
          table.insert(claims[proc], wid)
        else
          take = false -- claimed: served by another of its names
        end
      end
    end
    if take then
      if not procs[proc] then
        procs[proc] = {}
        order[#order + 1] = proc
      end
      table.insert(procs[proc], wid)
    end
  end
  redis.call('DEL', wk)
  if keep then
    redis.call('HSET', wk, unpack(keep))
    redis.call('PEXPIRE', wk, C.lease)
  end
  local reached, woken, kept = 0, 0, {}
  for _, proc in ipairs(order) do
    d = d or redis.call('HINCRBY', P .. ':ctr', 'd', 1)
    local wids = procs[proc]
    if redis.call('PUBLISH', P .. ':proc:' .. proc, d .. '\n' .. table.concat(wids, ',') .. '\n' .. rec) > 0 then
      reached = reached + 1
      woken = woken + #wids
      for _, wid in ipairs(claims[proc] or {}) do
        kept[#kept + 1] = wid
      end
    elseif claims[proc] then
      release(d, table.concat(claims[proc], ','))
    end
  end
  if reached > 0 then
    inflight(d, rec, reached, S, K, seq, now, nil, kept)
    names_check(S, K)
    return {seq, woken, 0}
  end
  local r = retain(S, K, rec, seq, giveback, now)
  names_check(S, K)
  return {seq, 0, r}
end

-- reoffer ends delivery d (its record gone), releases its claims and
-- offers its event again.
local function reoffer(d)
  local f = finish(d)
  if not f[1] then
    stat('expired') -- the record outlived its keep time
    return
  end
  release(d, f[6])
  offer(f[2], f[3], f[1], tonumber(f[4]), true)
end

-- conclude ends delivery d once every process reached has answered: done
-- if a waiter returned it; kept while Registrations hold it (no deadline,
-- their lease); else offered again, given back (delivered uncounted) if
-- every Registration that held it cancelled.
local function conclude(d)
  local fl = P .. ':fl:' .. d
  local f = redis.call('HMGET', fl, 'n', 'r', 'h', 'dv')
  if tonumber(f[1] or '0') > 0 then
    return
  end
  if f[2] then
    finish(d)
  elseif tonumber(f[3] or '0') > 0 then
    redis.call('ZREM', P .. ':fld', d)
    redis.call('PEXPIRE', fl, C.lease)
  else
    if f[4] then
      redis.call('HINCRBY', P .. ':stat', 'delivered', -1)
    end
    reoffer(d)
  end
end

-- count_regs sums the registrations of the next 1,000 names of scope S
-- after cursor ("" from the first), so that counting a large scope is
-- spread over several scripts. Returns the cursor to go on from ("" when
-- done) and the sum.
local function count_regs(S, cursor)
  local lo = '-'
  if cursor ~= '' then
    lo = '(' .. cursor
  end
  local batch = redis.call('ZRANGEBYLEX', P .. ':n:' .. S, lo, '+', 'LIMIT', 0, 1000)
  local n = 0
  for _, name in ipairs(batch) do
    n = n + redis.call('HLEN', P .. ':w:' .. S .. ':' .. name)
  end
  if #batch < 1000 then
    return '', n
  end
  return batch[#batch], n
end

-- reg_add registers waiter wid of scope S on K with value v.
local function reg_add(S, K, wid, v)
  local wk = P .. ':w:' .. K
  redis.call('HSET', wk, wid, v)
  if extend(wk, C.lease) then
    names_add(S, K) -- K's first registration: while P:w:K lives, P:n:S lists K
  end
end

-- reg_del removes waiter wid's registration on K, and reports whether
-- there was one.
local function reg_del(K, wid)
  if redis.call('HDEL', P .. ':w:' .. K, wid) == 1 then
    names_check(scope_of(K), K)
    return true
  end
  return false
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

// registerScript: ARGV process ID, mode ("wait", "poll" or "fresh"), since
// (a fresh waiter's, "" before its first registration), the number of
// keys, the keys K (an any-of wait's names, in order), waiter IDs (one for
// an any-of wait). Takes the first retained event of the keys for the
// waiters, unless the mode is fresh without since (a fresh waiter
// registering again takes only an event newer than since), or an any-of
// wait is claimed already: it returns a delivery "d\n\nrecord", in flight
// until answered. Else, unless the mode is poll, registers each waiter on
// every key; for fresh it returns "=since".
var registerScript = redis.NewScript(prelude + `
local proc, mode, since, nk = ARGV[A], ARGV[A + 1], tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3])
local keys = {}
for j = 1, nk do
  keys[j] = ARGV[A + 3 + j]
end
local wids = {}
for i = A + 4 + nk, #ARGV do
  if redis.call('EXISTS', P .. ':ab:' .. ARGV[i]) == 0 then
    wids[#wids + 1] = ARGV[i]
  end -- else its waiter left before this ran (Redis was slow): skip it
end
if #wids == 0 then
  return false
end
local group = nk > 1
if (mode ~= 'fresh' or since) and not (group and redis.call('EXISTS', P .. ':g:' .. wids[1]) == 1) then
  for _, K in ipairs(keys) do
    local rk = P .. ':r:' .. K
    local rec = redis.call('GET', rk)
    if rec and (mode ~= 'fresh' or seq_of(rec) > since) then
      local S = scope_of(K)
      redis.call('DEL', rk)
      unindex(S, K)
      names_check(S, K)
      local d = redis.call('HINCRBY', P .. ':ctr', 'd', 1)
      local claims = nil
      if group then
        redis.call('SET', P .. ':g:' .. wids[1], d, 'PX', keep_ms())
        claims = wids
      end
      inflight(d, rec, 1, S, K, seq_of(rec), now_ms(), wids, claims)
      return d .. '\n\n' .. rec
    end
  end
end
if mode == 'poll' then
  return false
end
local opt = ''
if group then
  opt = 'g'
end
if mode == 'fresh' then
  local last = tonumber(redis.call('HGET', P .. ':ctr', 's') or '0')
  if not since or last < since then
    since = last -- the first registration, or Redis lost its state
  end
  opt = opt .. 'f' .. since
end
local v = proc
if opt ~= '' then
  v = proc .. ' ' .. opt
end
for _, K in ipairs(keys) do
  local S = scope_of(K)
  for _, wid in ipairs(wids) do
    reg_add(S, K, wid, v)
  end
end
if mode == 'fresh' then
  return '=' .. since
end
return false
`)

// ackScript: ARGV delivery d, waiters woken, of them Registrations that
// hold it (held). A process answers a delivery: the first answer of woken
// > 0 counts it delivered, one with woken > held marks it returned; once
// every process reached has answered, it ends, or stays while
// Registrations hold it, or, if none woke a waiter, it is offered again
// (given back: it never replaces a newer retained event). Returns -1 when
// the delivery is gone (ended at its deadline, offered again or expired):
// the process must not hand the event out; 3 when Redis counts this
// answer's holders (each must consume or release it); else 1.
var ackScript = redis.NewScript(prelude + `
local d, woken, held = ARGV[A], tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2])
local fl = P .. ':fl:' .. d
local f = redis.call('HMGET', fl, 'n', 'c', 'r', 'dv', 'g', 'w')
if not f[1] or f[2] then
  return -1 -- offered again, closed or expired already: the answer is too late
end
local n = tonumber(f[1]) - 1
local returned = f[3] or woken > held
local first = woken > 0 and not f[4]
if first then
  stat('delivered')
  -- Its any-of waits are served: their claims need only outlive their
  -- processes' removing their other registrations, at once.
  for wid in string.gmatch(f[5] or '', '[^,]+') do
    if redis.call('GET', P .. ':g:' .. wid) == d then
      redis.call('PEXPIRE', P .. ':g:' .. wid, C.lease)
    end
  end
end
if n == 0 and returned then -- the common case: one process, a waiter returned it
  redis.call('DEL', fl)
  redis.call('ZREM', P .. ':fld', d)
  for wid in string.gmatch(f[6] or '', '[^,]+') do
    redis.call('DEL', P .. ':tk:' .. wid)
  end
  return 1
end
local upd = {'n', n}
if first then
  upd[#upd + 1], upd[#upd + 2] = 'dv', 1
end
if returned and not f[3] then
  upd[#upd + 1], upd[#upd + 2] = 'r', 1
end
redis.call('HSET', fl, unpack(upd))
local res = 1
if held > 0 and not returned then
  redis.call('HINCRBY', fl, 'h', held)
  res = 3
end
if n == 0 then
  conclude(d)
end
return res
`)

// holdScript: ARGV "c" (consume) or "r" (release), deliveries... The
// Registrations of this process that held them returned them (consume:
// the delivery ends) or cancelled (release: once no holder is left, the
// event is given back). A delivery gone already (returned elsewhere, its
// lease expired) is left alone. Returns how many were found.
var holdScript = redis.NewScript(prelude + `
local consume = ARGV[A] == 'c'
local n = 0
for i = A + 1, #ARGV do
  local d = ARGV[i]
  local fl = P .. ':fl:' .. d
  if redis.call('EXISTS', fl) == 1 then
    n = n + 1
    if consume then
      redis.call('HSET', fl, 'r', 1)
    end
    redis.call('HINCRBY', fl, 'h', -1)
    conclude(d)
  end
end
return n
`)

// abandonScript: ARGV groups of: waiter ID, the number of its keys, its
// keys K. Removes the registrations of waiters that left or were served
// by another of their names, and an any-of wait's claim. An ID marked "?"
// is of a waiter that left before it heard its register script's answer:
// a retained event it took is offered again, and a tombstone makes its
// register script, if Redis runs it later (queued behind a stall), do
// nothing, so the two commute. Returns how many events were offered again.
var abandonScript = redis.NewScript(prelude + `
local i, n = A, 0
while i <= #ARGV do
  local wid, nk = ARGV[i], tonumber(ARGV[i + 1])
  local unsure = string.sub(wid, 1, 1) == '?'
  if unsure then
    wid = string.sub(wid, 2)
  end
  for j = 1, nk do
    reg_del(ARGV[i + 1 + j], wid)
  end
  if nk > 1 then
    redis.call('DEL', P .. ':g:' .. wid)
  end
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
  i = i + 2 + nk
end
return n
`)

// withdrawScript: ARGV waiter ID, its keys. A Registration whose Wait's
// context ended withdraws its registrations, unless an offer took it (a
// delivery is on its way, and wins). A tombstone keeps a register script
// that runs later from registering it again. Returns 1 if it withdrew, 0
// if an offer took it.
var withdrawScript = redis.NewScript(prelude + `
local wid = ARGV[A]
local present = #ARGV - A == 1 or redis.call('EXISTS', P .. ':g:' .. wid) == 0
for i = A + 1, #ARGV do
  if not reg_del(ARGV[i], wid) then
    present = false
  end
end
redis.call('SET', P .. ':ab:' .. wid, 1, 'PX', C.lease)
if present then
  return 1
end
return 0
`)

// clearScript: ARGV scope S, key K. Removes the retained event of K and
// counts it cleared. Returns 1 if there was one.
var clearScript = redis.NewScript(prelude + `
local S, K = ARGV[A], ARGV[A + 1]
if redis.call('EXISTS', P .. ':r:' .. K) == 1 then
  drop(S, K, 'cleared')
  return 1
end
if redis.call('ZSCORE', P .. ':ri:' .. S, K) then
  drop(S, K, 'expired') -- expired, not yet swept
end
return 0
`)

// listScript: ARGV scope S, after ("" for the first page), limit. Returns
// {next, names, count cursor, registrations counted, retained, retained
// bytes} of the scope, then for each name on the page: name,
// registrations, Seq, signal time (Unix ns), data size (the last three 0
// without a retained event). Names found holding nothing are removed from
// P:n:S; a page looks at 2 * limit + 100 names at most, so it may come
// short, with next set. The scope's registrations are counted over its
// first countChunk names; the count cursor, unless "", is where
// countScript goes on.
var listScript = redis.NewScript(prelude + `
local S, after, limit = ARGV[A], ARGV[A + 1], tonumber(ARGV[A + 2])
local z = P .. ':n:' .. S
local out = {'', 0, '', 0, 0, 0}
local count, looked, budget = 0, 0, 2 * limit + 100
local lo, last, done = '-', nil, false
if after ~= '' then
  lo = '(' .. after
end
while count < limit and looked < budget do
  local batch = redis.call('ZRANGEBYLEX', z, lo, '+', 'LIMIT', 0, math.min(limit - count, budget - looked))
  if #batch == 0 then
    done = true
    break
  end
  for _, name in ipairs(batch) do
    looked = looked + 1
    last = name
    local K = S .. ':' .. name
    local nw = redis.call('HLEN', P .. ':w:' .. K)
    local rec = redis.call('GET', P .. ':r:' .. K)
    if nw == 0 and not rec then
      redis.call('ZREM', z, name) -- its registrations expired with their lease
    else
      count = count + 1
      local seq, t, size = 0, 0, 0
      if rec then
        seq, t, size = seq_of(rec), string.match(rec, '"t":(%-?%d+),"d":'), data_size(rec)
      end
      for _, x in ipairs({name, nw, seq, t, size}) do
        out[#out + 1] = x
      end
    end
  end
  lo = '(' .. last
end
if not done and last and #redis.call('ZRANGEBYLEX', z, '(' .. last, '+', 'LIMIT', 0, 1) > 0 then
  out[1] = last
end
out[2] = redis.call('ZCARD', z)
out[3], out[4] = count_regs(S, '')
out[5] = tonumber(redis.call('ZSCORE', P .. ':rsn', S) or '0')
out[6] = tonumber(redis.call('ZSCORE', P .. ':rsb', S) or '0')
return out
`)

// countScript: ARGV scope S, cursor. Counts the registrations of the next
// countChunk names of S after the cursor. Returns {cursor, count}: the
// cursor "" when the names are done.
var countScript = redis.NewScript(prelude + `
local c, n = count_regs(ARGV[A], ARGV[A + 1])
return {c, n}
`)

// renewScript: ARGV items "k" K (a key with local registrations), "s" S
// (a scope with local waits), "d" D (a delivery a local Registration
// holds), each type and its argument in turn.
// Extends their leases, never shortening one.
var renewScript = redis.NewScript(prelude + `
local i = A
while i <= #ARGV do
  local t = ARGV[i]
  if t == 'k' then
    redis.call('PEXPIRE', P .. ':w:' .. ARGV[i + 1], C.lease)
    i = i + 2
  elseif t == 's' then
    extend(P .. ':n:' .. ARGV[i + 1], C.lease)
    i = i + 2
  else
    extend(P .. ':fl:' .. ARGV[i + 1], C.lease)
    i = i + 2
  end
end
return 0
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

// redeliverScript: ARGV grace ms. Ends the deliveries not every process
// answered by their deadline, as if the silent ones had answered none: a
// delivery first found late gets grace more, so that answers queued behind
// a Redis stall run first. Returns how many were ended.
var redeliverScript = redis.NewScript(prelude + `
local grace = tonumber(ARGV[A])
local now = now_ms()
local n = 0
for _, d in ipairs(redis.call('ZRANGEBYSCORE', P .. ':fld', '-inf', now, 'LIMIT', 0, 100)) do
  local fl = P .. ':fl:' .. d
  if redis.call('EXISTS', fl) == 0 then
    reoffer(d) -- counts the record that outlived its keep time
  elseif redis.call('HSETNX', fl, 'late', 1) == 1 then
    redis.call('ZADD', P .. ':fld', now + grace, d)
  else
    -- Closed to answers: a process that answers later gets -1 and its
    -- waiters wait again. What the answers so far say decides.
    redis.call('HSET', fl, 'n', 0, 'c', 1)
    conclude(d)
    n = n + 1
  end
end
return n
`)

// statsScript returns the shared counters: signals, delivered, expired,
// replaced, evicted, evictions by cause (scope count, scope bytes, count,
// bytes), the number and bytes of events retained now, and cleared.
var statsScript = redis.NewScript(`
local s = redis.call('HMGET', KEYS[1], 'signals', 'delivered', 'expired', 'replaced', 'evicted',
  'evicted_scope_count', 'evicted_scope_bytes', 'evicted_count', 'evicted_bytes', 'cleared')
local r = redis.call('HMGET', KEYS[2], 'n', 'b')
s[10], s[11], s[12] = r[1], r[2], s[10]
for i = 1, 12 do s[i] = tonumber(s[i] or '0') end
return s
`)

package redisbus

import "github.com/redis/go-redis/v9"

// The scripts run atomically inside Redis, so that deciding whether a
// signal is delivered or retained, and whether a waiter takes a retained
// event or registers, never interleave.
//
// Key layout, with P the bus prefix and K a key of scope and name:
//
//	P:seq          INCR counter: the Seq of every signal
//	P:w:K          hash: process ID -> waiters of K in that process
//	P:r:K          the retained event of K (a message, see below), PX TTL
//	P:alive:ID     set while process ID runs, PX aliveTTL
//	P:pend:SEQ     processes yet to report on signal SEQ, PX pendingTTL
//	P:proc:ID      pub/sub channel of process ID
//
// A message is the JSON object {"q":SEQ,"s":scope,"n":name,"t":unixnano,"d":data}.

// offer is shared by signal and ack: it publishes msg (with seq) to every
// live process that has waiters of the key, or retains it. A given-back
// event (giveback true) never replaces a newer retained one.
const offer = `
local function offer(waiters, retained, prefix, seq, msg, ttl, giveback)
  local procs = {}
  local fields = redis.call('HGETALL', waiters)
  for i = 1, #fields, 2 do
    local proc, n = fields[i], tonumber(fields[i+1])
    if n > 0 and redis.call('EXISTS', prefix .. ':alive:' .. proc) == 1 then
      procs[#procs+1] = proc
    else
      redis.call('HDEL', waiters, proc)
    end
  end
  if #procs > 0 then
    redis.call('SET', prefix .. ':pend:' .. seq, #procs, 'PX', 60000)
    for _, proc in ipairs(procs) do
      redis.call('PUBLISH', prefix .. ':proc:' .. proc, msg)
    end
    return {seq, #procs, 0}
  end
  if ttl <= 0 then
    return {seq, 0, 0}
  end
  if giveback then
    local cur = redis.call('GET', retained)
    if cur then
      local q = tonumber(string.match(cur, '^{"q":(%d+),'))
      if q and q > seq then
        return {seq, 0, 0}
      end
    end
  end
  redis.call('SET', retained, msg, 'PX', ttl)
  return {seq, 0, 1}
end
`

// signalScript: KEYS waiters, retained, seq; ARGV prefix, message tail
// (the message without its leading {"q":SEQ,), ttl ms. Returns {seq,
// processes published to, retained 0|1}.
var signalScript = redis.NewScript(offer + `
local seq = redis.call('INCR', KEYS[3])
return offer(KEYS[1], KEYS[2], ARGV[1], seq, '{"q":' .. seq .. ',' .. ARGV[2], tonumber(ARGV[3]), false)
`)

// registerScript: KEYS waiters, retained; ARGV process ID. Takes the
// retained event (returns it) or counts one more waiter (returns nil).
var registerScript = redis.NewScript(`
local r = redis.call('GETDEL', KEYS[2])
if r then
  return r
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return false
`)

// unregisterScript: KEYS waiters; ARGV process ID, count. Counts n waiters
// fewer.
var unregisterScript = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return n
`)

// ackScript: KEYS waiters, retained, pend; ARGV prefix, process ID, woken,
// message, seq, ttl ms. A process reports how many of its waiters signal
// seq woke. Once some process woke one, nobody gives the event back; if
// every process reports none, the last one offers it again.
var ackScript = redis.NewScript(offer + `
local woken = tonumber(ARGV[3])
if woken > 0 then
  local n = redis.call('HINCRBY', KEYS[1], ARGV[2], -woken)
  if n <= 0 then
    redis.call('HDEL', KEYS[1], ARGV[2])
  end
  redis.call('DEL', KEYS[3])
  return {0, 0, 0}
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  return {0, 0, 0}
end
if redis.call('DECR', KEYS[3]) > 0 then
  return {0, 0, 0}
end
redis.call('DEL', KEYS[3])
return offer(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[5]), ARGV[4], tonumber(ARGV[6]), true)
`)

// syncScript: KEYS waiters; ARGV process ID, count. Sets this process's
// waiter count after a reconnect (Redis may have restarted empty).
var syncScript = redis.NewScript(`
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`)

"""A watch store on Redis, shared by a fleet of pollers on any number of hosts.

Every change that touches more than one key, or reads and then writes, is one
Lua script, so it is atomic on the server: two pollers never lease the same
watch, and an outcome is recorded at most once. Leases and the token bucket
run on the Redis server's clock (``TIME`` inside the scripts), so hosts whose
clocks disagree still agree on who holds what.

Key layout, under ``<namespace>:`` (``reqfin`` by default)::

    <ns>:due            sorted set: active watch key -> next-due time, or the lease's
                        end while a poller holds the watch (server clock, epoch s)
    <ns>:watch:<key>    hash per active watch: status, due_at, changed_at, created_at,
                        failures, confirm ("1" when a confirmation was requested),
                        owner and lease_until (only while leased)
    <ns>:result:<key>   string: the finished watch's outcome (``codec.encode_result``)
    <ns>:results        sorted set: finished key -> finish sequence number (oldest first)
    <ns>:results:seq    counter behind those sequence numbers
    <ns>:events         stream of fleet events (kind, origin, payload), capped
                        near ``events_maxlen`` entries
    <ns>:bucket         hash: the shared token bucket (tokens, at)

The claim script finds the watch hashes through the schedule, so the layout
needs one Redis server (a primary, with replicas or Sentinel if wanted), not
Redis Cluster. Redis 6.2 or newer. Namespaces must not nest (``a`` and
``a:watch``), as their keys could meet.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from ..._redact import REDACTED, is_secret_key
from ...models.invoice import InvoiceStatus
from ..codec import decode_result, encode_result
from ..events import WatchResult
from .base import Claim, FleetEvent, SharedWatchStore, WatchRecord

__all__ = ["RedisWatchStore"]

DEFAULT_URL: Final = "redis://127.0.0.1:6379/0"

# Watches per script call: each call is atomic and blocks the server while it
# runs, so a huge batch is split into calls that each stay short.
_BATCH: Final = 500
# The fleet's budget: calls kept back, the share of a window spent at once before
# pacing, one probe per this many seconds while no answer has told the budget yet,
# and how long the record outlives its window.
_BUDGET_RESERVE: Final = 1
_BUDGET_BURST_SHARE: Final = 0.1
_BUDGET_PROBE_S: Final = 0.5
_BUDGET_KEPT_S: Final = 3600.0
# Fleet events read per XREAD: a long backlog comes in several round trips.
_READ_COUNT: Final = 1_000
# A client we create waits this long to connect or for a reply (unless the URL
# sets socket_timeout / socket_connect_timeout): a store that vanished without
# closing the connection must surface as an error before the leases run out.
_SOCKET_TIMEOUT_S: Final = 5.0

# The scripts take and give a record's fields in one order, called FIELDS below:
# status, due_at, changed_at, created_at, failures ("" for none; see _fields()).

# -- Lua ---------------------------------------------------------------------------------
# Numbers are handed to Redis as strings formatted here: Lua's own conversion
# keeps 14 significant digits (100 µs on an epoch time), and a number returned
# from a script is truncated to an integer.
_PRELUDE = """
if redis.replicate_commands then
  -- Servers < 7 configured to replicate scripts verbatim must switch to effects:
  -- a script that read TIME could not be replayed on a replica.
  redis.replicate_commands()
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x)
  return string.format('%.6f', x)
end
"""

# KEYS[1] schedule. ARGV: watch-hash prefix, owner, lease seconds, limit.
# Leases the due watches (score <= now), oldest first: sets owner and lease end,
# moves their score to the lease end, clears the confirm flag (this claim
# carries it). Returns now, lease end, then per watch: key and the
# FIELDS, then confirm ("" for none).
_CLAIM = (
    _PRELUDE
    + """
local now = clock()
local lease_end = fmt(now + tonumber(ARGV[3]))
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now), 'LIMIT', 0, tonumber(ARGV[4]))
local out = {fmt(now), lease_end}
for _, key in ipairs(due) do
  local h = ARGV[1] .. key
  local f = redis.call('HMGET', h, 'status', 'due_at', 'changed_at', 'created_at', 'failures',
                       'confirm')
  redis.call('HSET', h, 'owner', ARGV[2], 'lease_until', lease_end)
  redis.call('HDEL', h, 'confirm')
  redis.call('ZADD', KEYS[1], lease_end, key)
  out[#out + 1] = key
  for i = 1, 6 do
    out[#out + 1] = f[i] or ''
  end
end
return out
"""
)

# KEYS[1] schedule, KEYS[1+i] watch hashes. ARGV: owner, lease seconds, then the keys.
# Extends the leases this owner still holds; returns now, the new end, then the
# keys it does not hold (another owner, or no longer active).
_RENEW = (
    _PRELUDE
    + """
local now = clock()
local lease_end = fmt(now + tonumber(ARGV[2]))
local out = {fmt(now), lease_end}
for i = 2, #KEYS do
  local key = ARGV[i + 1]
  if redis.call('HGET', KEYS[i], 'owner') == ARGV[1] then
    redis.call('HSET', KEYS[i], 'lease_until', lease_end)
    redis.call('ZADD', KEYS[1], lease_end, key)
  else
    out[#out + 1] = key
  end
end
return out
"""
)

# KEYS[1] schedule, KEYS[1+i] watch hashes. ARGV: owner, then per watch 7 values:
# key, the FIELDS, delay seconds.
# For the watches this owner holds: stores the fields, ends the lease, due in
# `delay` (at once if a confirmation was requested meanwhile). Returns the keys
# it did not hold.
_RESCHEDULE = (
    _PRELUDE
    + """
local now = clock()
local names = {'status', 'due_at', 'changed_at', 'created_at', 'failures'}
local lost = {}
for i = 2, #KEYS do
  local h = KEYS[i]
  local base = 1 + (i - 2) * 7
  local key = ARGV[base + 1]
  if redis.call('HGET', h, 'owner') == ARGV[1] then
    for j, name in ipairs(names) do
      local value = ARGV[base + 1 + j]
      if value == '' then
        redis.call('HDEL', h, name)
      else
        redis.call('HSET', h, name, value)
      end
    end
    redis.call('HDEL', h, 'owner', 'lease_until')
    local at = now + tonumber(ARGV[base + 7])
    if redis.call('HEXISTS', h, 'confirm') == 1 then
      at = now
    end
    redis.call('ZADD', KEYS[1], fmt(at), key)
  else
    lost[#lost + 1] = key
  end
end
return lost
"""
)

# KEYS[1] schedule, KEYS[1+i] watch hashes. ARGV: owner, then the keys.
# Ends the leases this owner holds; those watches are due now.
_RELEASE = (
    _PRELUDE
    + """
local now = fmt(clock())
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'owner') == ARGV[1] then
    redis.call('HDEL', KEYS[i], 'owner', 'lease_until')
    redis.call('ZADD', KEYS[1], now, ARGV[i])
  end
end
return 0
"""
)

# KEYS[1] schedule, KEYS[1+i] watch hashes. ARGV: the keys.
# Sets the confirm flag of each active watch; one that no live lease holds is
# also made due now (unless it is due already). Returns the active keys.
_REQUEST_CONFIRM = (
    _PRELUDE
    + """
local now = clock()
local watched = {}
for i = 2, #KEYS do
  local h = KEYS[i]
  local key = ARGV[i - 1]
  if redis.call('EXISTS', h) == 1 then
    redis.call('HSET', h, 'confirm', '1')
    local lease_end = tonumber(redis.call('HGET', h, 'lease_until'))
    if lease_end == nil or lease_end <= now then
      local score = tonumber(redis.call('ZSCORE', KEYS[1], key))
      if score == nil or score > now then
        redis.call('ZADD', KEYS[1], fmt(now), key)
      end
    end
    watched[#watched + 1] = key
  end
end
return watched
"""
)

# KEYS: result, schedule, results index, watch hash, sequence. ARGV: key, encoded result.
# Records the outcome if the key has none (SET NX); only then the watch leaves
# the active set and the key joins the index. Returns 1 if recorded, else 0.
_FINISH = """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX') then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[1])
return 1
"""

# KEYS[1] schedule, then per record its watch hash and its result key.
# ARGV: per record 6 values: key and the FIELDS.
# A key with a result is refused; an active one is left as it is; a new one is
# due now. Returns the keys accepted (active after the call).
_ADD = (
    _PRELUDE
    + """
local now = fmt(clock())
local names = {'status', 'due_at', 'changed_at', 'created_at', 'failures'}
local accepted = {}
for i = 1, (#KEYS - 1) / 2 do
  local h = KEYS[2 * i]
  local base = (i - 1) * 6
  local key = ARGV[base + 1]
  if redis.call('EXISTS', KEYS[2 * i + 1]) == 0 then
    if redis.call('EXISTS', h) == 0 then
      for j, name in ipairs(names) do
        local value = ARGV[base + 1 + j]
        if value ~= '' then
          redis.call('HSET', h, name, value)
        end
      end
      redis.call('ZADD', KEYS[1], now, key)
    else
      -- Already active: its schedule stands (NX only repairs a missing entry).
      redis.call('ZADD', KEYS[1], 'NX', now, key)
    end
    accepted[#accepted + 1] = key
  end
end
return accepted
"""
)

# KEYS: schedule, watch hash, result, results index. ARGV: key.
_FORGET = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
return 0
"""

# KEYS[1] schedule. Returns now and the earliest score (absent if none).
_NEXT_DUE = (
    _PRELUDE
    + """
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local out = {fmt(clock())}
if #first > 0 then
  out[2] = first[2]
end
return out
"""
)

# KEYS[1] bucket. ARGV: rate per second, capacity.
# Refills rate x elapsed up to capacity, then takes one token ("0") or answers
# the seconds until one is there. The key expires once the bucket would be full
# again anyway: a missing bucket is a full one.
# KEYS[1] budget. ARGV: limit ("" unknown), remaining, seconds to reset ("" unknown),
# expiry seconds. What one answer's X-Rate-Limit-* said. The fleet's remaining is
# the lower of its own count (reservations since) and the answer's; a reset more
# than a second later than the latest known starts a new window. Resets come in
# whole seconds: pace to the earliest estimate, presume renewal at the latest.
_OBSERVE_BUDGET = (
    _PRELUDE
    + """
local now = clock()
local limit = tonumber(ARGV[1])
local remaining = tonumber(ARGV[2])
local reset_s = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset_at', 'roll_at')
local current = tonumber(b[2])
local reset_at = tonumber(b[3])
local roll_at = tonumber(b[4])
limit = limit or tonumber(b[1]) or remaining
local new_reset = nil
if reset_s ~= nil then
  new_reset = now + reset_s
end
if current == nil or roll_at == nil or (new_reset ~= nil and new_reset > roll_at + 1.0) then
  redis.call('HSET', KEYS[1], 'limit', tostring(limit), 'remaining', tostring(remaining),
             'next_slot', fmt(now))
  if new_reset ~= nil then
    redis.call('HSET', KEYS[1], 'reset_at', fmt(new_reset), 'roll_at', fmt(new_reset))
  end
else
  redis.call('HSET', KEYS[1], 'limit', tostring(limit),
             'remaining', tostring(math.min(current, remaining)))
  if new_reset ~= nil then
    redis.call('HSET', KEYS[1], 'reset_at', fmt(math.min(reset_at, new_reset)),
               'roll_at', fmt(math.max(roll_at, new_reset)))
  end
end
redis.call('PEXPIRE', KEYS[1], string.format('%d', tonumber(ARGV[4]) * 1000))
return 1
"""
)

# KEYS[1] budget. ARGV: calls kept in reserve, burst share, probe seconds.
# Reserves one call of the fleet's budget: {"1", wait} to send it after `wait`
# seconds (spread evenly over what is left of the window once the burst share
# is spent), or {"0", wait} to ask again after `wait` (nothing left, or the
# budget not known yet: then one probe per `probe` seconds for the whole fleet).
_RESERVE_CALL = (
    _PRELUDE
    + """
local now = clock()
local reserve = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local probe_s = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset_at', 'roll_at',
                     'next_slot', 'probe_at')
local limit = tonumber(b[1])
local remaining = tonumber(b[2])
local reset_at = tonumber(b[3])
local roll_at = tonumber(b[4])
local next_slot = tonumber(b[5]) or 0
local function probe()
  local probe_at = tonumber(b[6]) or 0
  if now - probe_at >= probe_s then
    redis.call('HSET', KEYS[1], 'probe_at', fmt(now))
    return {'1', fmt(0)}
  end
  return {'0', fmt(probe_s - (now - probe_at))}
end
if remaining == nil or limit == nil then
  return probe()
end
if roll_at ~= nil and now >= roll_at then
  -- The window has presumably turned: the whole budget, until an answer tells more.
  remaining = limit
  reset_at = nil
  roll_at = nil
  next_slot = now
  redis.call('HDEL', KEYS[1], 'reset_at', 'roll_at')
end
local available = remaining - reserve
if available <= 0 then
  if roll_at == nil then
    return probe()
  end
  return {'0', fmt(roll_at - now + 0.001)}
end
local wait = 0
if reset_at ~= nil and available <= limit * (1 - burst) then
  local slot = math.max(now, next_slot)
  redis.call('HSET', KEYS[1], 'next_slot', fmt(slot + math.max(0, reset_at - now) / available))
  wait = slot - now
end
redis.call('HSET', KEYS[1], 'remaining', tostring(remaining - 1))
return {'1', fmt(wait)}
"""
)


class RedisWatchStore(SharedWatchStore):
    """A watch list, its leases, the outcomes, fleet events and the rate budget, on Redis.

    Every poller of the fleet opens its own store on the same URL and
    namespace::

        store = RedisWatchStore("redis://redis.internal:6379/0", namespace="billing")
        async with StatusPoller(client, store=store) as poller:
            ...

    The client is created inside the running loop by :meth:`open` (or pass
    ``client=``, a ``redis.asyncio.Redis`` with ``decode_responses=False``,
    which is used as it is and left open). A client created here does not
    retry commands: a script re-sent after a lost reply may have run already
    (``finish`` would then answer ``False`` for the outcome it just recorded),
    so a failure surfaces as ``ConnectionError`` and the caller decides. A
    given client is best configured the same way (``retry=Retry(NoBackoff(), 0)``,
    ``maint_notifications_config=MaintNotificationsConfig(enabled=False)``: see
    :meth:`open`).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        namespace: str = "reqfin",
        lease_s: float = 30.0,
        client: aioredis.Redis | None = None,
        owner: str | None = None,
        events_maxlen: int = 100_000,
    ) -> None:
        if not namespace:
            raise ValueError("the namespace must not be empty")
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        if events_maxlen < 1:
            raise ValueError("events_maxlen must be positive")
        if client is not None and client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the Redis client must not decode responses (payloads are bytes)")
        self._url = url
        self._namespace = namespace
        self.lease_s = lease_s
        self._given = client
        self._client: aioredis.Redis | None = client
        self._owner = owner if owner is not None else _default_owner()
        self._events_maxlen = events_maxlen
        # This process's clock minus the server's, measured on open and on each
        # claim and renewal: lease ends are converted with it.
        self._clock_offset = 0.0
        # The id of the last fleet event this instance saw.
        self._last_event_id = "0-0"
        prefix = f"{namespace}:"
        self._due_key = prefix + "due"
        self._watch_prefix = prefix + "watch:"
        self._result_prefix = prefix + "result:"
        self._index_key = prefix + "results"
        self._seq_key = prefix + "results:seq"
        self._events_key = prefix + "events"
        self._bucket_key = prefix + "bucket"
        self._scripts: dict[str, AsyncScript] = {}

    def __repr__(self) -> str:
        where = _safe_url(self._url) if self._given is None else "<given client>"
        return f"RedisWatchStore({where!r}, namespace={self._namespace!r}, owner={self._owner!r})"

    @property
    def owner(self) -> str:
        """This poller's identity in the fleet: ``host:pid:random`` unless given."""
        return self._owner

    @property
    def namespace(self) -> str:
        """The prefix of every key this store uses."""
        return self._namespace

    @property
    def clock_offset_s(self) -> float:
        """This host's clock minus the Redis server's, as last measured (seconds).

        Measured from the moment a request left, so it errs on the early side::

            log.info("clock skew", seconds=store.clock_offset_s)
        """
        return self._clock_offset

    # -- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, check the server answers, and start reading events from now on.

        ::

            await store.open()   # ConnectionError if Redis is unreachable
        """
        created = False
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self._url,
                socket_timeout=_SOCKET_TIMEOUT_S,
                socket_connect_timeout=_SOCKET_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),
                # With maintenance notifications on ("auto", redis-py's default under
                # RESP3) the pool skips its check that an idle connection is still
                # alive, so the first call after a Redis restart would fail on a
                # connection the old server closed. They only matter on Redis
                # Enterprise / Cloud, whose failovers surface as ConnectionError here.
                maint_notifications_config=MaintNotificationsConfig(enabled=False),
            )
            created = True
        client = self._client
        # register_script only hashes the text: EVALSHA falls back to loading it
        # when the server does not know it (a restart empties the script cache).
        self._scripts = {
            name: client.register_script(text)
            for name, text in (
                ("claim", _CLAIM),
                ("renew", _RENEW),
                ("reschedule", _RESCHEDULE),
                ("release", _RELEASE),
                ("request_confirm", _REQUEST_CONFIRM),
                ("finish", _FINISH),
                ("add", _ADD),
                ("forget", _FORGET),
                ("next_due", _NEXT_DUE),
                ("observe_budget", _OBSERVE_BUDGET),
                ("reserve_call", _RESERVE_CALL),
            )
        }
        try:
            with _unreachable():
                sent = time.time()
                seconds, micros = await client.time()
                self._clock_offset = _offset(sent, seconds + micros / 1e6)
                # Events are read from the stream's current end: what was published
                # before this poller started is not for it.
                last = await client.xrevrange(self._events_key, count=1)
                self._last_event_id = _text(last[0][0]) if last else "0-0"
        except BaseException:
            self._scripts = {}
            if created:
                await client.aclose()
                self._client = None
            raise

    async def close(self) -> None:
        """Close the client :meth:`open` created (a given client stays open)."""
        client, self._client = self._client, self._given
        self._scripts = {}
        if client is not None and client is not self._given:
            await client.aclose()

    # -- the watch list ----------------------------------------------------------------
    async def add(self, records: Sequence[WatchRecord]) -> list[str]:
        """Add watches, due at once; returns the keys accepted.

        A key already active is left as it is (and accepted); a finished key is
        refused until it is forgotten. ::

            accepted = await store.add([WatchRecord(key="inv_1", changed_at=time.time())])
        """
        first: dict[str, WatchRecord] = {}
        for record in records:
            first.setdefault(record.key, record)
        unique = list(first.values())
        accepted: list[str] = []
        for start in range(0, len(unique), _BATCH):
            chunk = unique[start : start + _BATCH]
            keys = [self._due_key]
            args: list[str] = []
            for record in chunk:
                keys += [self._watch_prefix + record.key, self._result_prefix + record.key]
                args += [record.key, *_fields(record)]
            reply = await self._run("add", keys, args)
            accepted += [_text(k) for k in reply]
        return accepted

    async def finish(self, result: WatchResult) -> bool:
        """Record a final outcome once for the fleet; ``False`` if the key had one.

        ::

            if await store.finish(result):
                await store.publish(FleetEvent("result", store.owner, encode_result(result)))
        """
        key = result.key
        reply = await self._run(
            "finish",
            [
                self._result_prefix + key,
                self._due_key,
                self._index_key,
                self._watch_prefix + key,
                self._seq_key,
            ],
            [key, encode_result(result)],
        )
        return int(reply) == 1

    async def result(self, key: str) -> WatchResult | None:
        """The recorded outcome of ``key``: ``await store.result("inv_1")``."""
        client = self._connected()
        with _unreachable():
            data = await client.get(self._result_prefix + key)
        return decode_result(_raw(data)) if data is not None else None

    async def results(self) -> list[WatchResult]:
        """Every recorded outcome, oldest first: ``for r in await store.results(): ...``."""
        client = self._connected()
        found: list[WatchResult] = []
        with _unreachable():
            keys = [_text(k) for k in await client.zrange(self._index_key, 0, -1)]
            for start in range(0, len(keys), _BATCH):
                chunk = keys[start : start + _BATCH]
                values = await client.mget([self._result_prefix + k for k in chunk])
                # A key forgotten between the two reads is skipped.
                found += [decode_result(_raw(v)) for v in values if v is not None]
        return found

    async def forget(self, key: str) -> None:
        """Drop the watch and the outcome of ``key``: ``await store.forget("inv_1")``."""
        await self._run(
            "forget",
            [
                self._due_key,
                self._watch_prefix + key,
                self._result_prefix + key,
                self._index_key,
            ],
            [key],
        )

    # -- leases ------------------------------------------------------------------------
    async def claim(self, limit: int) -> list[Claim]:
        """Lease up to ``limit`` due watches, oldest due first.

        ::

            for claim in await store.claim(100):
                ...   # poll claim.record.key before claim.lease_until
        """
        if limit <= 0:
            return []
        sent = time.time()
        reply = await self._run(
            "claim",
            [self._due_key],
            [self._watch_prefix, self._owner, repr(float(self.lease_s)), limit],
        )
        self._clock_offset = _offset(sent, float(reply[0]))
        lease_until = float(reply[1]) + self._clock_offset
        claims: list[Claim] = []
        for i in range(2, len(reply), 7):
            key, status, due_at, changed_at, created_at, failures, confirm = (
                _text(v) for v in reply[i : i + 7]
            )
            record = WatchRecord(
                key=key,
                status=InvoiceStatus(status) if status else None,
                due_at=float(due_at) if due_at else None,
                changed_at=float(changed_at) if changed_at else None,
                created_at=float(created_at) if created_at else None,
                failures=int(failures) if failures else 0,
            )
            claims.append(Claim(record=record, lease_until=lease_until, confirm=bool(confirm)))
        return claims

    async def next_due_in(self) -> float | None:
        """Seconds until a watch is due (0 if one is), ``None`` if none is active.

        A leased watch counts as due when its lease ends. ::

            wait = await store.next_due_in()
        """
        reply = await self._run("next_due", [self._due_key], [])
        if len(reply) < 2:
            return None
        return max(0.0, float(reply[1]) - float(reply[0]))

    async def renew(self, keys: Sequence[str]) -> tuple[list[str], float]:
        """Extend this poller's leases; returns the keys lost and the new end (local clock).

        ::

            lost, lease_until = await store.renew(held_keys)
        """
        lost: list[str] = []
        lease_until = 0.0
        unique = list(dict.fromkeys(keys))
        # Even with nothing to renew the call runs once: the answer needs a lease end.
        for start in range(0, max(len(unique), 1), _BATCH):
            chunk = unique[start : start + _BATCH]
            sent = time.time()
            reply = await self._run(
                "renew",
                [self._due_key, *(self._watch_prefix + k for k in chunk)],
                [self._owner, repr(float(self.lease_s)), *chunk],
            )
            self._clock_offset = _offset(sent, float(reply[0]))
            # The first batch's end is the earliest: every lease lasts at least that.
            if start == 0:
                lease_until = float(reply[1]) + self._clock_offset
            lost += [_text(k) for k in reply[2:]]
        return lost, lease_until

    async def reschedule(self, items: Sequence[tuple[WatchRecord, float]]) -> list[str]:
        """Store each watch's state, due again in ``delay`` s, ending this poller's lease.

        Returns the keys whose lease was lost (their new holder's schedule
        stands). A watch whose confirmation was requested meanwhile is due at
        once. ::

            lost = await store.reschedule([(record, 60.0)])
        """
        for _, delay in items:
            if not math.isfinite(delay):
                raise ValueError(f"the delay must be a finite number of seconds, not {delay}")
        lost: list[str] = []
        for start in range(0, len(items), _BATCH):
            chunk = items[start : start + _BATCH]
            keys = [self._due_key]
            args: list[str] = [self._owner]
            for record, delay in chunk:
                keys.append(self._watch_prefix + record.key)
                args += [record.key, *_fields(record), repr(float(delay))]
            reply = await self._run("reschedule", keys, args)
            lost += [_text(k) for k in reply]
        return lost

    async def release(self, keys: Sequence[str]) -> None:
        """Give back this poller's leases, due at once for the others.

        ::

            await store.release(held_keys)   # shutting down
        """
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH):
            chunk = unique[start : start + _BATCH]
            await self._run(
                "release",
                [self._due_key, *(self._watch_prefix + k for k in chunk)],
                [self._owner, *chunk],
            )

    async def request_confirm(self, keys: Sequence[str]) -> list[str]:
        """Make these watches due at once as confirmations; returns the keys active.

        A watch leased right now gets the flag only: its holder's
        :meth:`reschedule` makes it due at once. ::

            watched = await store.request_confirm([request_id])   # a webhook said it changed
        """
        watched: list[str] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH):
            chunk = unique[start : start + _BATCH]
            reply = await self._run(
                "request_confirm",
                [self._due_key, *(self._watch_prefix + k for k in chunk)],
                chunk,
            )
            watched += [_text(k) for k in reply]
        return watched

    async def is_active(self, key: str) -> bool:
        """Whether ``key`` is watched (added, not finished) in the fleet.

        ::

            if not await store.is_active(request_id): ...
        """
        client = self._connected()
        with _unreachable():
            return await client.zscore(self._due_key, key) is not None

    async def count_active(self) -> int:
        """How many watches the fleet has: ``await store.count_active()``."""
        client = self._connected()
        with _unreachable():
            return await client.zcard(self._due_key)

    # -- fleet events ------------------------------------------------------------------
    async def publish(self, event: FleetEvent) -> None:
        """Append an event to the fleet's stream (``XADD``, capped near ``events_maxlen``).

        ::

            await store.publish(FleetEvent("change", store.owner, encode_change(change)))
        """
        client = self._connected()
        with _unreachable():
            await client.xadd(
                self._events_key,
                {"kind": event.kind, "origin": event.origin, "payload": event.payload},
                maxlen=self._events_maxlen,
                approximate=True,
            )

    async def read_events(self, block_s: float) -> list[FleetEvent]:
        """Every event published since the last call (or since :meth:`open`), own ones too.

        Waits up to ``block_s`` for one (less if the client's socket timeout is
        shorter: an empty answer then). ::

            for event in await store.read_events(1.0):
                if event.origin != store.owner: ...
        """
        client = self._connected()
        block_ms: int | None = None
        if block_s > 0:
            limit = client.connection_pool.connection_kwargs.get("socket_timeout")
            if limit:
                # The server must answer before the socket gives up on it.
                block_s = min(block_s, float(limit) * 0.8)
            block_ms = max(1, round(block_s * 1000))
        events: list[FleetEvent] = []
        with _unreachable():
            while True:
                reply = await client.xread(
                    {self._events_key: self._last_event_id}, count=_READ_COUNT, block=block_ms
                )
                entries = _stream_entries(reply)
                for entry_id, fields in entries:
                    self._last_event_id = _text(entry_id)
                    events.append(
                        FleetEvent(
                            kind=_text(fields.get(b"kind", b"")),
                            origin=_text(fields.get(b"origin", b"")),
                            payload=bytes(fields.get(b"payload", b"")),
                        )
                    )
                if len(entries) < _READ_COUNT:
                    return events
                block_ms = None  # the rest of a backlog is there already

    # -- the shared rate budget ----------------------------------------------------------
    async def observe_budget(
        self, limit: int | None, remaining: int, reset_s: float | None
    ) -> None:
        """Share what an answer's ``X-Rate-Limit-*`` headers said with the fleet.

        ::

            await store.observe_budget(limit=5000, remaining=4210, reset_s=1800)
        """
        expiry_s = math.ceil((reset_s if reset_s is not None else 0.0) + _BUDGET_KEPT_S)
        await self._run(
            "observe_budget",
            [self._bucket_key],
            [
                str(limit) if limit is not None else "",
                str(max(0, remaining)),
                repr(float(reset_s)) if reset_s is not None else "",
                str(expiry_s),
            ],
        )

    async def reserve_call(self) -> tuple[bool, float]:
        """Reserve one call of the fleet's budget: ``(True, wait)`` or ``(False, retry_in)``.

        ::

            granted, wait = await store.reserve_call()
            await asyncio.sleep(wait)   # then send (granted) or ask again (not granted)
        """
        granted, wait = await self._run(
            "reserve_call",
            [self._bucket_key],
            [str(_BUDGET_RESERVE), repr(_BUDGET_BURST_SHARE), repr(_BUDGET_PROBE_S)],
        )
        return _text(granted) == "1", float(_text(wait))

    # -- plumbing ----------------------------------------------------------------------
    def _connected(self) -> aioredis.Redis:
        if self._client is None or not self._scripts:
            raise RuntimeError(f"{self!r} is not open")
        return self._client

    async def _run(self, script: str, keys: list[str], args: Sequence[str | bytes | int]) -> Any:
        self._connected()
        with _unreachable():
            return await self._scripts[script](keys=keys, args=args)


@contextmanager
def _unreachable() -> Iterator[None]:
    """Turn redis-py's connection failures into the builtin ``ConnectionError``.

    The poller reacts to ``ConnectionError`` without importing redis. Bad
    credentials stay as they are: retrying would not fix them.
    """
    try:
        yield
    except (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError):
        raise
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise ConnectionError(f"Redis is unreachable: {exc}") from exc


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _offset(sent: float, server_now: float) -> float:
    # This process's clock minus the server's. The server read its clock after
    # the request left, so `sent` errs early: lease ends translated with it come
    # out early too, and a poller never believes it holds a lease that ended.
    return sent - server_now


def _fields(record: WatchRecord) -> list[str]:
    """The record's fields in the scripts' order; "" for none."""
    return [
        record.status.value if record.status is not None else "",
        repr(record.due_at) if record.due_at is not None else "",
        repr(record.changed_at) if record.changed_at is not None else "",
        repr(record.created_at) if record.created_at is not None else "",
        str(record.failures),
    ]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _raw(value: bytes | str) -> bytes:
    # The client does not decode responses; a str only comes from a misconfigured one.
    return value if isinstance(value, bytes) else value.encode()


def _stream_entries(reply: Any) -> list[tuple[bytes | str, dict[bytes, bytes]]]:
    """The entries of the one stream an XREAD asked for, in RESP2 or RESP3 shape."""
    if not reply:
        return []
    # RESP2: [[stream, entries]]; RESP3: {stream: [entries]}.
    entries = next(iter(reply.values()))[0] if isinstance(reply, dict) else reply[0][1]
    return [(entry_id, fields) for entry_id, fields in entries]


def _safe_url(url: str) -> str:
    """The URL with its password (in the user info or the query) hidden."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{host}" if has_password else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if is_secret_key(k) else v) for k, v in pairs], safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

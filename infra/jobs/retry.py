"""Take a finished job's failed items back for another attempt, atomically and exactly once.

The items move from the job's failed list into a list of their own retry attempt, and the
job's `failed` counter drops by as many, so they count as pending again: the counters always
add up to the total, and two retries at once never send the same item twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from mmsearch.infra.errors import JobNotFound
from mmsearch.infra.jobs.store import JobStore

# KEYS: job hash, error list, failed-items list. ARGV: now, codes as a JSON list ([] = all).
# Returns {taken, attempt}; the taken items are kept under "<job>:retry:<attempt>".
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local codes = cjson.decode(ARGV[2])
local wanted = {}
for _, code in ipairs(codes) do wanted[code] = true end
local function matches(entry)
  if #codes == 0 then return true end
  return wanted[cjson.decode(entry)['code']] == true
end
local keep, take = {}, {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  if matches(entry) then table.insert(take, entry) else table.insert(keep, entry) end
end
if #take == 0 then return {0, 0} end
local attempt = redis.call('HINCRBY', KEYS[1], 'retries', 1)
local attempt_key = KEYS[1] .. ':retry:' .. attempt
local shown = {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if not matches(entry) then table.insert(shown, entry) end
end
redis.call('DEL', KEYS[2], KEYS[3])
for _, entry in ipairs(keep) do redis.call('RPUSH', KEYS[3], entry) end
for _, entry in ipairs(shown) do redis.call('RPUSH', KEYS[2], entry) end
for _, entry in ipairs(take) do redis.call('RPUSH', attempt_key, entry) end
redis.call('HINCRBY', KEYS[1], 'failed', -#take)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then
  for _, k in ipairs({KEYS[2], KEYS[3], attempt_key}) do redis.call('EXPIRE', k, ttl) end
end
return {#take, attempt}
"""


@dataclass
class RetryTaken:
    attempt: int
    items: list[dict[str, Any]]


def take_failed(store: JobStore, job_id: str, codes: list[str]) -> RetryTaken:
    """Move the job's failed items (those with one of `codes`, or all) into a new retry attempt.

    Returns the attempt number and the items as they were sent; no items when none matched.
    Raises JobNotFound.
    """
    key, _, errors_key, failed_key, _ = store.keys(job_id)
    script = store.redis.register_script(_TAKE)
    taken, attempt = script(
        keys=[key, errors_key, failed_key], args=[repr(time.time()), json.dumps(sorted(set(codes)))]
    )
    if int(taken) < 0:
        raise JobNotFound(f"job {job_id} not found")
    if int(taken) == 0:
        return RetryTaken(0, [])
    entries = store.redis.lrange(f"{key}:retry:{int(attempt)}", 0, -1)
    return RetryTaken(int(attempt), [json.loads(entry)["item"] for entry in entries])

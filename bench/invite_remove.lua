-- Invites a new address, then (a little later) removes it: POST and DELETE /organization/members/
-- alternate. A DELETE names an address invited BENCH_LAG requests earlier, so its POST has
-- finished even though this thread's connections run concurrently.
--
-- Its spec lines are `INVITE <tab> orgId <tab> key <tab>` (the organization where the path would be).
-- Extra environment: BENCH_LAG (default 64), BENCH_TAG (makes the addresses unique per run).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local common = require("common")

local targets = {}
local pending = {}
local head, tail = 1, 0
local n = 0
local lag = tonumber(os.getenv("BENCH_LAG") or "64")
local tag = os.getenv("BENCH_TAG") or "run"

setup = common.setup

function init(args)
  targets = common.my_share(common.load_spec(), id or 0)
end

local checked = false

function request()
  -- wrk calls request() once on the first thread before the run, to check what the script
  -- returns, and never sends that request: it must not enter the queue of addresses.
  if not checked and (id or 0) == 0 then
    checked = true
    return common.format("GET", "/healthz", "", nil)
  end
  if tail - head + 1 > lag then
    local item = pending[head]
    pending[head] = nil
    head = head + 1
    local path = "/organization/members/?orgId=" .. item.org .. "&email=" .. item.email
    return common.format("DELETE", path, item.key, nil)
  end
  n = n + 1
  local target = targets[(n - 1) % #targets + 1]
  local email = "inv-" .. tag .. "-" .. (id or 0) .. "-" .. n .. "@bench.test"
  tail = tail + 1
  pending[tail] = { key = target.key, org = target.path, email = email }
  local body = '{"orgId": "' .. target.path .. '", "email": "' .. email .. '", "role": "read"}'
  return common.format("POST", "/organization/members/", target.key, body)
end

done = common.done

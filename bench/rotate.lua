-- Sends a rotating list of requests (one key and organization per line), preformatted once.
-- Used for every endpoint whose requests can be written in advance, /healthz included, so each
-- endpoint pays the same wrk-side cost.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local common = require("common")

local requests = {}
local n = 0

setup = common.setup

function init(args)
  for _, line in ipairs(common.my_share(common.load_spec(), id or 0)) do
    table.insert(requests, common.format(line.method, line.path, line.key, line.body))
  end
end

function request()
  n = n % #requests + 1
  return requests[n]
end

done = common.done

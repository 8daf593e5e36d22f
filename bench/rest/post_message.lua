-- SPDX-License-Identifier: MIT
-- wrk script: visitors post messages, each with a unique client_id, spread over the
-- dialogs listed in $BENCH_DIALOGS ("id:visitor_token,id:visitor_token,...").
local dialogs = {}
for id, tok in string.gmatch(os.getenv("BENCH_DIALOGS") or "", "(%d+):([%w_%-]+)") do
  dialogs[#dialogs + 1] = { id = id, tok = tok }
end
local n = 0

function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end

request = function()
  n = n + 1
  local d = dialogs[(n % #dialogs) + 1]
  local body = string.format('{"sender":"user","text":"bench message %d","client_id":"b-%s-%d"}', n, tid, n)
  return wrk.format("POST", "/api/widget/dialogs/" .. d.id .. "/messages",
                    { ["Content-Type"] = "application/json", ["X-Visitor-Token"] = d.tok }, body)
end

local bad = 0
response = function(status, headers, body)
  if status ~= 201 then bad = bad + 1 end
end

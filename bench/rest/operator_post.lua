-- SPDX-License-Identifier: MIT
-- wrk script: an operator ($BENCH_TOKEN) replies in the dialogs of $BENCH_DIALOG_IDS
-- ("7,8,9,..."), each reply with a unique client_id as the operator panel sends it
-- ($BENCH_RUN makes the ids unique across wrk runs).
local ids = {}
for id in string.gmatch(os.getenv("BENCH_DIALOG_IDS") or "", "%d+") do ids[#ids + 1] = id end
local auth = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
local run = os.getenv("BENCH_RUN") or ""
local n = 0

function setup(thread)
  thread:set("tid", run .. "-" .. tostring(math.random(1, 1000000000)))
end

request = function()
  n = n + 1
  local body = string.format('{"sender":"manager","text":"bench reply %d","client_id":"o-%s-%d"}', n, tid, n)
  return wrk.format("POST", "/api/dialogs/" .. ids[(n % #ids) + 1] .. "/messages",
                    { ["Content-Type"] = "application/json", ["Authorization"] = auth }, body)
end

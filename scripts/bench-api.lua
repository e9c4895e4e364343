-- wrk script for scripts/bench-api: a mix of officer searches, user-scoped searches and
-- message views, each with its own bearer token. Environment: OFFICER, USER_TOKEN, IDS
-- (comma-separated message ids the user may read), WORDS (comma-separated query words).
local officer = os.getenv("OFFICER")
local user = os.getenv("USER_TOKEN")
local ids, words = {}, {}
for id in string.gmatch(os.getenv("IDS") or "", "[^,]+") do ids[#ids + 1] = id end
for w in string.gmatch(os.getenv("WORDS") or "the", "[^,]+") do words[#words + 1] = w end
local n = 0
request = function()
  n = n + 1
  local kind = n % 3
  local word = words[(n % #words) + 1]
  if kind == 0 then
    return wrk.format("GET", "/api/v1/search?q=" .. word .. "&limit=20", { ["Authorization"] = "Bearer " .. officer })
  elseif kind == 1 then
    return wrk.format("GET", "/api/v1/search?q=" .. word .. "&limit=20", { ["Authorization"] = "Bearer " .. user })
  else
    local id = ids[(n % #ids) + 1]
    return wrk.format("GET", "/api/v1/messages/" .. id, { ["Authorization"] = "Bearer " .. user })
  end
end
local errors = 0
response = function(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, non-2xx %d, socket errors %d\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in pairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("p%g %.1f ms\n", p, latency:percentile(p) / 1000))
  end
end

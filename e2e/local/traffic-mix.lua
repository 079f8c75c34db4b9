-- wrk script for the demo: a weighted mix of routes, paced (delay) so the demo leaves CPU for
-- the live summary on a small machine. Ids vary so http_route has something to collapse.
local counter = 0
local function pick()
  counter = counter + 1
  local r = math.random(100)
  if r <= 45 then return "/api/users/" .. math.random(1, 5000) end
  if r <= 65 then return "/" end
  if r <= 80 then
    return string.format("/api/orders/%08x-%04x-4%03x-a%03x-%012x/items", math.random(0, 0x7fffffff),
      math.random(0, 0xffff), math.random(0, 0xfff), math.random(0, 0xfff), counter)
  end
  if r <= 88 then return "/static/large.txt" end
  if r <= 94 then return "/api/fail" end
  return "/no/such/page?session=" .. counter
end

request = function() return wrk.format("GET", pick()) end
delay = function() return 3 end

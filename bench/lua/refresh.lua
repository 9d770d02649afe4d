-- Refresh-token rotation: each answer's new refresh token goes back into the queue (one
-- token per connection in flight; the seeds are independent grants).
local headers = {["Authorization"] = DATA.basic, ["Content-Type"] = FORM}
local queue = {}
for token in string.gmatch(DATA.tokens, "[^,]+") do
  table.insert(queue, token)
end

function request()
  local token = table.remove(queue, 1) or "queue-empty"
  return wrk.format("POST", "/token", headers,
                    "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  count(status, 200)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    table.insert(queue, token)
  end
end

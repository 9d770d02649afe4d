local headers = {["Authorization"] = DATA.basic, ["Content-Type"] = FORM}
local body = "token=" .. DATA.access_token

function request()
  return wrk.format("POST", "/introspect", headers, body)
end

function response(status, headers, body)
  if status == 200 and not body:find('"active"%s*:%s*true') then
    status = 0  -- an inactive answer would measure the cheap path
  end
  count(status, 200)
end

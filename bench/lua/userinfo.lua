local headers = {["Authorization"] = "Bearer " .. DATA.access_token}

function request()
  return wrk.format("GET", "/userinfo", headers)
end

function response(status, headers, body)
  count(status, 200)
end

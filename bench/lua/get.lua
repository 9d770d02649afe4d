-- A GET answered 200 (JWKS, discovery, the Flask floor).
function request()
  return wrk.format("GET", DATA.path)
end

function response(status, headers, body)
  count(status, 200)
end

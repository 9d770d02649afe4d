-- The « Entité » field's list: what people type, in turn (DATA.queries, comma-separated,
-- each already URL-encoded), as the request form's script asks for it.
local queries = {}
for q in string.gmatch(DATA.queries, "[^,]+") do
  table.insert(queries, q)
end
local next_query = 0

function request()
  next_query = next_query % #queries + 1
  return wrk.format("GET", "/demandes/entites?q=" .. queries[next_query])
end

function response(status, headers, body)
  count(status, 200)
end

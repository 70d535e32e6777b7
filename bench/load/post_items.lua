-- wrk script: POST /items (post-real) with a JSON body of the pydantic model ItemIn; the X-API-Key header
-- the auth dependency reads comes from run.py (wrk -H).
wrk.method = "POST"
wrk.body = '{"name":"Widget","price":2.5,"quantity":4,"tags":["blue","sale"],"internal_note":"restock on monday"}'
wrk.headers["Content-Type"] = "application/json"

-- wrk script: POST /users with a JSON body matching the pydantic model (name, age, email).
wrk.method = "POST"
wrk.body = '{"name":"Alice","age":30,"email":"alice@example.com"}'
wrk.headers["Content-Type"] = "application/json"
